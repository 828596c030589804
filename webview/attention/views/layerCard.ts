/**
 * The per-layer chart card: series switch, save menu, the chart (columns under the heatmap's). Redrawn when the
 * series, theme or width changes, in the task after the heatmap's so the heatmap paints first.
 */
import { LAYER_SERIES } from '../../shared/colorScale';
import { fileStem } from '../../shared/csv';
import { h } from '../../shared/dom';
import { hasSeries } from '../../shared/heatmapModel';
import type { LayerSeries } from '../../../src/shared/protocol';
import type { ReadyEntry, ReportState } from '../state/reportState';
import { Card } from '../widgets/card';
import { Segmented } from '../widgets/segmented';
import type { View, ViewContext } from './context';
import { geometryFor } from './heatmap';
import { drawLayerChart } from './layerChart';

export class LayerCard implements View {
  readonly root: HTMLElement;
  private readonly card: Card;
  private readonly seriesSwitch: Segmented<LayerSeries>;
  svg: SVGSVGElement | undefined;
  private drawToken = 0;
  private readonly off: (() => void)[] = [];

  constructor(
    private readonly ctx: ViewContext,
    private readonly ready: ReadyEntry[],
  ) {
    const { store } = ctx;
    const series = store.state.series;
    this.seriesSwitch = new Segmented<LayerSeries>(
      'Series',
      (Object.keys(LAYER_SERIES) as LayerSeries[]).map((s) => ({
        value: s,
        label: LAYER_SERIES[s].short,
        title: hasSeries(ready[0].report, s) ? LAYER_SERIES[s].description : `${LAYER_SERIES[s].label} was not computed in this report`,
        disabled: !ready.some((e) => hasSeries(e.report, s)),
      })),
      series,
      (s) => store.update({ series: s }),
    );
    const exportName = () => fileStem(`${ready.map((e) => e.label).join('-vs-')}-${store.state.series}-per-layer`);
    const saveMenu = ctx.menus.button(
      'Save layer chart',
      'download',
      [
        { label: 'Save as SVG…', run: () => void ctx.exportChart(this.svg, 'svg', exportName()) },
        { label: 'Save as PNG…', run: () => void ctx.exportChart(this.svg, 'png', exportName()) },
      ],
      true,
    );
    const body = h('div', { class: 'chart-body', id: 'layer-body' });
    this.card = new Card('layers-card', 'Per layer', [this.seriesSwitch.root, saveMenu], body, LAYER_SERIES[series].description);
    this.root = this.card.root;
    this.off.push(
      store.subscribe(['series'], (s) => {
        this.seriesSwitch.set(s.series);
        this.card.setNote(LAYER_SERIES[s.series].description);
      }),
      store.subscribe(['series', 'theme', 'widths'], (s) => this.draw(s)),
    );
  }

  /** Draw in the next task (a newer draw replaces a pending one). */
  draw(s: Readonly<ReportState>): void {
    const { ready, ctx } = this;
    const body = this.card.body;
    const series = ready.some((e) => hasSeries(e.report, s.series)) ? s.series : 'kStar';
    const geometry = geometryFor(ready, s.widths.chart);
    const token = ++this.drawToken;
    setTimeout(() => {
      if (token !== this.drawToken || !body.isConnected) return;
      body.replaceChildren();
      this.svg = drawLayerChart(body, { theme: s.theme, entries: ready, series, geometry, tooltip: ctx.tooltip });
    }, 0);
  }

  dispose(): void {
    this.drawToken++;
    for (const f of this.off.splice(0)) f();
  }
}

/** The heatmap card: metric switch, save menu, the heatmap; redrawn when the metric, theme or width changes. */
import { HEAD_METRIC_ORDER, HEAD_METRICS, metricDomain } from '../../shared/colorScale';
import { fileStem } from '../../shared/csv';
import { h } from '../../shared/dom';
import type { HeadMetric } from '../../../src/shared/protocol';
import type { ReadyEntry, ReportState } from '../state/reportState';
import { Card } from '../widgets/card';
import { Segmented } from '../widgets/segmented';
import type { View, ViewContext } from './context';
import { drawHeatmap, type HeatmapHandle } from './heatmap';

export class HeatmapCard implements View {
  readonly root: HTMLElement;
  private readonly card: Card;
  private readonly metricSwitch: Segmented<HeadMetric>;
  private handle: HeatmapHandle | undefined;
  private readonly off: (() => void)[] = [];

  constructor(
    private readonly ctx: ViewContext,
    private readonly ready: ReadyEntry[],
    compare: boolean,
  ) {
    const { store } = ctx;
    const metric = store.state.metric;
    this.metricSwitch = new Segmented<HeadMetric>(
      'Metric',
      HEAD_METRIC_ORDER.map((m) => ({ value: m, label: HEAD_METRICS[m].short, title: HEAD_METRICS[m].description })),
      metric,
      (m) => store.update({ metric: m }),
    );
    const exportName = () => fileStem(`${ready.map((e) => e.label).join('-vs-')}-${HEAD_METRICS[store.state.metric].short}-heatmap`);
    const saveMenu = ctx.menus.button(
      'Save heatmap',
      'download',
      [
        { label: 'Save as SVG…', run: () => void ctx.exportChart(this.svg, 'svg', exportName()) },
        { label: 'Save as PNG…', run: () => void ctx.exportChart(this.svg, 'png', exportName()) },
      ],
      true,
    );
    const body = h('div', { class: 'chart-body', id: 'heatmap-body' });
    this.card = new Card(
      'heatmap-card',
      compare ? 'Heads by layer — one colour scale' : 'Heads by layer',
      [this.metricSwitch.root, saveMenu],
      body,
      HEAD_METRICS[metric].description,
    );
    this.root = this.card.root;
    this.off.push(
      store.subscribe(['metric'], (s) => {
        this.metricSwitch.set(s.metric);
        this.card.setNote(HEAD_METRICS[s.metric].description);
      }),
      store.subscribe(['metric', 'theme', 'widths'], (s) => this.draw(s)),
      store.subscribe(['selected'], (s) => this.handle?.setSelected(s.selected)),
    );
  }

  get svg(): SVGSVGElement | undefined {
    return this.handle?.svg;
  }

  /** Draw (again) for the state: the old SVG goes, the tooltip closes. */
  draw(s: Readonly<ReportState>): void {
    const { ctx, ready } = this;
    ctx.tooltip.hide();
    this.card.body.replaceChildren();
    this.handle = drawHeatmap(this.card.body, {
      theme: s.theme,
      entries: ready,
      metric: s.metric,
      domain: metricDomain(
        ready.map((e) => e.report),
        s.metric,
      ),
      width: s.widths.chart,
      selected: s.selected,
      tooltip: ctx.tooltip,
      onSelect: (sel) => ctx.select(sel),
      announce: (t) => ctx.announce(t),
    });
  }

  dispose(): void {
    for (const f of this.off.splice(0)) f();
  }
}

/**
 * The page: which cards are shown (waiting, loading/error per side, or the report: header, verdicts, heatmap,
 * per-layer chart, head view) and their layout. The page is rebuilt only when its structure changes (a side's status
 * or report); everything else is a store change that the views it concerns follow (progress, metric, series,
 * selection, dock, theme, width).
 */
import type { AnalysisReport } from '../../src/shared/report';
import type { Side } from '../../src/shared/protocol';
import { h } from '../shared/dom';
import { headReportOf, isCompare, pageShape, pendingSides, readyEntries, type ReportState } from './state/reportState';
import type { HeadRequests } from './headRequests';
import type { View, ViewContext } from './views/context';
import { HeadCard } from './views/headCard';
import type { HeadView } from './views/headView';
import { reportHeader } from './views/header';
import { HeatmapCard } from './views/heatmapCard';
import { LayerCard } from './views/layerCard';
import { StatusCard } from './views/statusCard';
import { verdictCard } from './views/verdictCard';

/** From this window width the head view may sit beside the heatmap (attention.css). */
const BESIDE_MIN_WIDTH = 760;

export class ReportPage {
  private views: View[] = [];
  private statusCards = new Map<Side, StatusCard>();
  private heatmap: HeatmapCard | undefined;
  private layers: LayerCard | undefined;
  private layoutEl: HTMLElement | undefined;
  private shape = '';
  private reports: (AnalysisReport | undefined)[] = [];
  private resizeTimer: number | undefined;

  constructor(
    private readonly app: HTMLElement,
    private readonly ctx: ViewContext,
    private readonly headView: HeadView,
    private readonly heads: HeadRequests,
    /** Called after a report is drawn (the paint timing). */
    private readonly drawn: () => void,
  ) {
    const { store } = ctx;
    store.subscribe(['sides'], (s) => this.sidesChanged(s));
    store.subscribe(['headDock'], (s) => {
      if (!this.layoutEl) return;
      this.layoutEl.className = `layout ${s.headDock}`;
      store.update({ widths: this.estimateWidths() });
    });
    new ResizeObserver(() => {
      const body = this.heatmap?.root.querySelector<HTMLElement>('#heatmap-body');
      if (!body || Math.abs(contentWidth(body) - store.state.widths.chart) < 8) return;
      window.clearTimeout(this.resizeTimer);
      this.resizeTimer = window.setTimeout(() => this.measureWidths(), 80);
    }).observe(app);
  }

  /** Build the page for the current state. */
  render(): void {
    const { ctx, app } = this;
    const s = ctx.store.state;
    this.shape = pageShape(s);
    this.reports = reportsOf(s);
    ctx.tooltip.hide();
    ctx.menus.close();
    for (const v of this.views.splice(0)) v.dispose();
    this.statusCards.clear();
    this.heatmap = this.layers = this.layoutEl = undefined;
    const widths = this.estimateWidths();
    app.replaceChildren();
    if (!s.sides) {
      app.append(
        new StatusCard(
          undefined,
          'a',
          { request: { path: '', settings: {} }, status: 'loading', progress: { fraction: 0, message: 'Waiting for the extension…' } },
          ctx.post,
        ).root,
      );
      return;
    }
    const sides = s.sides;
    const compare = isCompare(s);
    const ready = readyEntries(s);
    const pending = pendingSides(s);
    const statusCard = (title: Side | undefined, side: Side) => {
      const card = new StatusCard(title, side, sides[side]!, ctx.post);
      this.statusCards.set(side, card);
      return card.root;
    };
    if (!ready.length) {
      app.append(...pending.map((side) => statusCard(side === 'b' || compare ? side : undefined, side)));
      return;
    }
    this.heatmap = new HeatmapCard(ctx, ready, compare);
    this.layers = new LayerCard(ctx, ready);
    const headCard = new HeadCard(ctx, this.headView);
    this.views.push(this.heatmap, this.layers, headCard);
    const charts = { heatmap: () => this.heatmap?.svg, layers: () => this.layers?.svg };
    app.append(reportHeader(ctx, ready, sides.a, compare, charts));
    for (const side of pending) app.append(statusCard(side, side));
    // In a comparison every verdict names its side, so B's verdict is never read as A's while A is still running.
    app.append(
      h(
        'div',
        { class: `verdicts${ready.length > 1 ? ' two' : ''}` },
        ...ready.map((e) => verdictCard(e.side, e.report, compare ? e.label : undefined, ctx.post)),
      ),
    );
    // The head card sits beside the heatmap (sticky while the page scrolls) or right under it; narrow panels stack
    // heatmap, head, per-layer chart in that order (attention.css), so the matrix is never below everything.
    this.layoutEl = h(
      'div',
      { class: `layout ${s.headDock}` },
      h('div', { class: 'col-main' }, this.heatmap.root, this.layers.root),
      h('div', { class: 'col-side' }, headCard.root),
    );
    app.append(this.layoutEl);
    // A new widths value draws the charts (heatmap now, per-layer chart in the next task) and sizes the head view.
    ctx.store.update({ widths });
    if (s.selected && !this.headView.root.querySelector('canvas, .spinner, .status-inline') && headReportOf(s, s.selected))
      this.heads.request(s.selected);
    this.drawn();
  }

  /** A change of `sides`: rebuild when the structure changed, else update the status cards in place. */
  private sidesChanged(s: Readonly<ReportState>): void {
    const reports = reportsOf(s);
    if (pageShape(s) !== this.shape || reports.some((r, i) => r !== this.reports[i])) return this.render();
    for (const [side, card] of this.statusCards) {
      const x = s.sides?.[side];
      if (x) card.update(x);
    }
  }

  /**
   * The widths of the chart area and the head card, worked out from the width of #app and the layout rules in
   * attention.css (head view beside the heatmap from 760 px: 1.3fr / minmax(320px, 1fr), 16 px gap; cards have
   * 16 px padding and a 1 px border). Reading #app before the DOM changes costs no layout; measuring the new cards
   * would force one. The ResizeObserver corrects any difference.
   */
  private estimateWidths(): { chart: number; side: number } {
    const appWidth = this.app.clientWidth || window.innerWidth - 48;
    const gap = 16;
    const inner = (w: number) => Math.max(200, Math.floor(w - 2 - 32));
    if (this.ctx.store.state.headDock !== 'beside' || window.innerWidth < BESIDE_MIN_WIDTH)
      return { chart: inner(appWidth), side: inner(appWidth) };
    const side = Math.max(320, (appWidth - gap) / 2.3);
    return { chart: inner(appWidth - gap - side), side: inner(side) };
  }

  /** After a resize: the widths as laid out. */
  private measureWidths(): void {
    const body = this.heatmap?.root.querySelector<HTMLElement>('#heatmap-body');
    if (!body || !body.isConnected) return;
    const headCard = document.getElementById('head-card');
    const side = headCard?.clientWidth ? headCard.clientWidth - 32 : this.ctx.store.state.widths.side;
    this.ctx.store.update({ widths: { chart: contentWidth(body), side } });
  }
}

function reportsOf(s: Readonly<ReportState>): (AnalysisReport | undefined)[] {
  return [s.sides?.a.report, s.sides?.b?.report];
}

/** Width inside a chart body's horizontal padding (6 px each side). */
function contentWidth(el: HTMLElement): number {
  return Math.max(200, (el.clientWidth || 812) - 12);
}

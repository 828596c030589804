/**
 * The report panel's state, one flat object so views subscribe to the keys they draw: what the host sent (sides),
 * the user's choices (persisted with getState/setState, so the panel survives hide/show and a reload) and what the
 * page measured (theme, widths; not persisted). Pure: no DOM, no messages.
 */
import type { AnalysisReport } from '../../../src/shared/report';
import type { HeadMetric, HeadSelection, LayerSeries, ReportViewState, Side } from '../../../src/shared/protocol';
import { baseName } from '../../../src/shared/format';
import type { Theme } from '../../shared/theme';
import { Store } from './store';

export type HeadDock = 'beside' | 'below';

export interface ReportState {
  /** Each side's request, progress, error or report; undefined until the host's first init (or a restored state). */
  sides: ReportViewState['sides'] | undefined;
  metric: HeadMetric;
  series: LayerSeries;
  selected: HeadSelection | undefined;
  headDock: HeadDock;
  theme: Theme;
  /** Widths the charts and the head view are drawn for (estimated from #app, measured after a resize). */
  widths: { chart: number; side: number };
}

export type ReportStore = Store<ReportState>;

/** Keys that go into getState/setState. */
export const PERSISTED_KEYS = ['sides', 'metric', 'series', 'selected', 'headDock'] as const satisfies readonly (keyof ReportState)[];

export function initialState(saved: ReportViewState | undefined, theme: Theme): ReportState {
  return {
    sides: saved?.sides,
    metric: saved?.ui.metric ?? 'kStar',
    series: saved?.ui.series ?? 'kStar',
    selected: saved?.ui.selected,
    headDock: saved?.ui.headDock ?? 'beside',
    theme,
    widths: { chart: 0, side: 0 },
  };
}

/** The persisted form (undefined before the first init: nothing worth saving). */
export function toViewState(s: ReportState): ReportViewState | undefined {
  if (!s.sides) return undefined;
  return { version: 1, sides: s.sides, ui: { metric: s.metric, series: s.series, selected: s.selected, headDock: s.headDock } };
}

export interface ReadyEntry {
  side: Side;
  label: string;
  report: AnalysisReport;
}

const SIDES: Side[] = ['a', 'b'];

/** The sides with a report, A first. */
export function readyEntries(s: ReportState): ReadyEntry[] {
  const out: ReadyEntry[] = [];
  for (const side of SIDES) {
    const x = s.sides?.[side];
    if (x?.status === 'ready' && x.report) out.push({ side, label: baseName(x.report.model.path || x.request.path), report: x.report });
  }
  return out;
}

/** The sides still loading or failed. */
export function pendingSides(s: ReportState): Side[] {
  return SIDES.filter((side) => s.sides?.[side] && s.sides[side]!.status !== 'ready');
}

export function isCompare(s: ReportState): boolean {
  return !!s.sides?.b;
}

export function headReportOf(s: ReportState, sel: HeadSelection) {
  return s.sides?.[sel.side]?.report?.layers.find((l) => l.index === sel.layer)?.heads[sel.head];
}

/**
 * What the page's structure depends on: which sides exist, their status and their reports. When it is the same,
 * a change of `sides` is progress on a card that is already there.
 */
export function pageShape(s: ReportState): string {
  if (!s.sides) return 'none';
  return SIDES.map((side) => (s.sides![side] ? `${side}:${s.sides![side]!.status}` : '')).join('|');
}

/** A new side state (the store compares by identity, so a change is a copy). */
export function withSide(s: ReportState, side: Side, patch: Partial<NonNullable<ReportState['sides']>['a']>): ReportState['sides'] {
  const cur = s.sides?.[side];
  if (!s.sides || !cur) return s.sides;
  return { ...s.sides, [side]: { ...cur, ...patch } };
}

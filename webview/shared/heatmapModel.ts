/** View models of the report charts (pure; unit-tested): heatmap cells, lazy layers, keyboard moves, per-layer series. */
import { isDegenerate, type AnalysisReport } from '../../src/shared/report';
import type { HeadMetric, LayerSeries } from '../../src/shared/protocol';
import { headValue } from './colorScale';
import { kStarInterval, layerKStarBounds } from './kStarBounds';

export interface HeatCell {
  layer: number;
  head: number;
  value: number;
  /** The layer is lazy (every head degenerate). */
  lazy: boolean;
  /** This head alone is degenerate (k* = 1 or m* = 1 per the report's rule). */
  degenerate: boolean;
  /** Metric k* only, and only for a head certified to lie above the exact rank: [lo, hi] (value is lo). */
  bounds?: [number, number];
}

export interface HeatmapModel {
  numLayers: number;
  numHeads: number;
  /** Layer indices in display order (a `layers` range in the settings may start after 0). */
  layers: number[];
  cells: HeatCell[];
  lazyLayers: number[];
}

export function heatmapModel(report: AnalysisReport, metric: HeadMetric): HeatmapModel {
  const cells: HeatCell[] = [];
  let numHeads = 0;
  for (const l of report.layers) {
    numHeads = Math.max(numHeads, l.heads.length);
    l.heads.forEach((h, head) => {
      const cell: HeatCell = {
        layer: l.index,
        head,
        value: headValue(h, metric),
        lazy: l.lazy,
        degenerate: isDegenerate(h, report.settings.degenerateWhen),
      };
      const bounds = metric === 'kStar' ? kStarInterval(h) : undefined;
      if (bounds) cell.bounds = bounds;
      cells.push(cell);
    });
  }
  return {
    numLayers: report.layers.length,
    numHeads,
    layers: report.layers.map((l) => l.index),
    cells,
    lazyLayers: report.layers.filter((l) => l.lazy).map((l) => l.index),
  };
}

/** The contiguous runs of lazy layers, e.g. [[5, 7]], for outlining them on the heatmap. */
export function lazyRuns(lazy: number[]): [number, number][] {
  const s = [...lazy].sort((a, b) => a - b);
  const runs: [number, number][] = [];
  for (const i of s) {
    const last = runs[runs.length - 1];
    if (last && last[1] === i - 1) last[1] = i;
    else runs.push([i, i]);
  }
  return runs;
}

export interface Cursor {
  layer: number;
  head: number;
}

/**
 * Keyboard navigation over the heatmap (layers on x, heads on y): arrows move one cell, Home/End jump to the first/last
 * layer, PageUp/PageDown to the first/last head. Returns null for keys it does not handle.
 */
export function moveCursor(c: Cursor, key: string, layers: number[], numHeads: number): Cursor | null {
  const i = Math.max(0, layers.indexOf(c.layer));
  const clampL = (j: number) => layers[Math.min(layers.length - 1, Math.max(0, j))];
  const clampH = (h: number) => Math.min(numHeads - 1, Math.max(0, h));
  switch (key) {
    case 'ArrowLeft':
      return { layer: clampL(i - 1), head: c.head };
    case 'ArrowRight':
      return { layer: clampL(i + 1), head: c.head };
    case 'ArrowUp':
      return { layer: c.layer, head: clampH(c.head - 1) };
    case 'ArrowDown':
      return { layer: c.layer, head: clampH(c.head + 1) };
    case 'Home':
      return { layer: layers[0], head: c.head };
    case 'End':
      return { layer: layers[layers.length - 1], head: c.head };
    case 'PageUp':
      return { layer: c.layer, head: 0 };
    case 'PageDown':
      return { layer: c.layer, head: numHeads - 1 };
    default:
      return null;
  }
}

export interface SeriesPoint {
  layer: number;
  value: number;
  /**
   * k* series, in a layer with heads shown as bounds: the value is a lower bound and this the upper bound (absent
   * when the value is exact).
   */
  upper?: number;
}

export interface SeriesLine {
  key: string;
  label: string;
  dashed: boolean;
  points: SeriesPoint[];
}

/** The lines of the per-layer chart for one report; values that were not computed (null) are left out. */
export function layerLines(report: AnalysisReport, series: LayerSeries): SeriesLine[] {
  const pts = (f: (l: AnalysisReport['layers'][number]) => number | null) =>
    report.layers.flatMap((l) => {
      const v = f(l);
      return v === null || v === undefined || !Number.isFinite(v) ? [] : [{ layer: l.index, value: v }];
    });
  switch (series) {
    case 'kStar': {
      const withUpper = (points: SeriesPoint[], which: 'max' | 'mean') =>
        points.map((p) => {
          const b = layerKStarBounds(report.layers.find((l) => l.index === p.layer)!);
          return b ? { ...p, upper: b[which][1] } : p;
        });
      return [
        {
          key: 'maxKStar',
          label: 'max k*',
          dashed: false,
          points: withUpper(
            pts((l) => l.maxKStar),
            'max',
          ),
        },
        {
          key: 'meanKStar',
          label: 'mean k*',
          dashed: true,
          points: withUpper(
            pts((l) => l.meanKStar),
            'mean',
          ),
        },
      ];
    }
    case 'blockInfluence':
      return [{ key: 'blockInfluence', label: 'Block Influence', dashed: false, points: pts((l) => l.blockInfluence) }];
    case 'angularDistance':
      return [{ key: 'angularDistance', label: 'Angular distance', dashed: false, points: pts((l) => l.angularDistance) }];
  }
}

/** Whether the report has any value for a series (Block Influence and angular distance are optional). */
export function hasSeries(report: AnalysisReport, series: LayerSeries): boolean {
  return layerLines(report, series).some((l) => l.points.length > 0);
}

/** A one-line verdict for the header. */
export function verdict(report: AnalysisReport): { lazyLayers: number[]; firstLazyTail: number | null; text: string } {
  const lazy = report.layers.filter((l) => l.lazy).map((l) => l.index);
  const k = report.model.numLayers;
  if (!lazy.length) return { lazyLayers: lazy, firstLazyTail: null, text: `No lazy layers: every layer has a head with k* > 1.` };
  const last = report.layers[report.layers.length - 1];
  let first: number | null = null;
  if (last?.lazy && last.index === k - 1) {
    let j = report.layers.length - 1;
    while (j > 0 && report.layers[j - 1].lazy && report.layers[j - 1].index === report.layers[j].index - 1) j--;
    first = report.layers[j].index;
  }
  return { lazyLayers: lazy, firstLazyTail: first, text: '' };
}

export interface HeatmapGeometry {
  /** Left margin (head axis) and right margin (colour legend). */
  left: number;
  right: number;
  cellW: number;
  cellH: number;
  /** Width of the cell area for `numLayers` columns. */
  plotW: number;
  width: number;
}

/**
 * Cell sizes for an available width: columns share the width (8..56 px), rows are a little flatter (8..28 px).
 * The per-layer chart uses the same `left` and `cellW`, so layer i sits under layer i.
 */
export function heatmapGeometry(width: number, numLayers: number, numHeads: number): HeatmapGeometry {
  const left = 64;
  const right = 96;
  const avail = Math.max(0, width - left - right);
  const cellW = Math.max(8, Math.min(56, Math.floor(avail / Math.max(1, numLayers))));
  const rowsBudget = numHeads > 16 ? 14 : 28;
  const cellH = Math.max(8, Math.min(rowsBudget, Math.round(cellW * 0.75)));
  const plotW = cellW * numLayers;
  return { left, right, cellW, cellH, plotW, width: left + plotW + right };
}

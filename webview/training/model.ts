/**
 * The training panel's data model (pure; unit-tested): a run's points → the series the charts draw (train / val loss,
 * LR, tokens/s) against steps or tokens, EMA smoothing, the target line, growth markers, decimation, and CSV.
 */
import type { MetricPoint, XAxis } from '../../src/shared/trainingProtocol';
import { csvField } from '../shared/csv';

export interface XY {
  x: number;
  y: number;
}

/** A growth event: the run went from `fromLayers` to `layers` at x. */
export interface GrowthMarker {
  x: number;
  layers: number;
  fromLayers?: number;
  step: number;
  /** How the new model was made (`reinherit` | `extend`), when the source says. */
  mode?: string;
}

/** Where a round starts: the val loss of its model before any step (the trainer's `round_start` eval). */
export interface RoundStart {
  x: number;
  y: number;
  round?: number;
  layers?: number;
}

/** What a grow mode means, for labels. */
export function growModeText(mode: string | undefined): string | undefined {
  if (mode === 'reinherit') return 'reinherit: a fresh model from the reference';
  if (mode === 'extend') return 'extend: trained blocks + reference blocks';
  return mode;
}

export interface RunSeries {
  /** Training loss as logged (every step event), and smoothed. */
  trainRaw: XY[];
  train: XY[];
  /** Validation loss at each evaluation (not smoothed: evaluations are few, and each is already an average). */
  val: XY[];
  lr: XY[];
  tokensPerS: XY[];
  target: number | undefined;
  growth: GrowthMarker[];
  roundStarts: RoundStart[];
  /** False when the source has no token counts (text logs): the run cannot be drawn against tokens. */
  hasTokens: boolean;
}

export function xOf(p: MetricPoint, axis: XAxis): number | undefined {
  const v = axis === 'step' ? p.step : p.tokens;
  return v !== undefined && Number.isFinite(v) ? v : undefined;
}

/**
 * Exponential moving average with TensorBoard's debiasing: s_i = w s_{i-1} + (1 - w) y_i from s = 0, divided by
 * 1 - w^(i+1), so the start is not pulled towards 0. weight 0 = no smoothing. Non-finite values are passed through.
 */
export function ema(ys: readonly number[], weight: number): number[] {
  const w = Math.min(Math.max(weight, 0), 0.999);
  if (w === 0) return ys.slice();
  const out = new Array<number>(ys.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (!Number.isFinite(y)) {
      out[i] = y;
      continue;
    }
    last = last * w + (1 - w) * y;
    n++;
    out[i] = last / (1 - Math.pow(w, n));
  }
  return out;
}

function collect(
  points: readonly MetricPoint[],
  axis: XAxis,
  pick: (p: MetricPoint) => number | undefined,
  event: MetricPoint['event'],
): XY[] {
  const out: XY[] = [];
  for (const p of points) {
    if (p.event !== event) continue;
    const x = xOf(p, axis);
    const y = pick(p);
    if (x === undefined || y === undefined || !Number.isFinite(y)) continue;
    out.push({ x, y });
  }
  return out;
}

/** The run's target validation loss: the last one any event states. */
export function targetOf(points: readonly MetricPoint[]): number | undefined {
  for (let i = points.length - 1; i >= 0; i--) {
    const t = points[i].target;
    if (t !== undefined && Number.isFinite(t)) return t;
  }
  return undefined;
}

/**
 * Growth markers: `grow` events when the source has them; otherwise (logs without them) wherever the layer count of
 * consecutive points changes.
 */
export function growthMarkers(points: readonly MetricPoint[], axis: XAxis): GrowthMarker[] {
  const out: GrowthMarker[] = [];
  const grows = points.filter((p) => p.event === 'grow');
  if (grows.length) {
    for (const g of grows) {
      const x = xOf(g, axis);
      const layers = g.toLayers ?? g.layers;
      if (x === undefined || layers === undefined) continue;
      out.push({
        x,
        layers,
        fromLayers: g.fromLayers ?? (g.toLayers !== undefined ? g.layers : undefined),
        step: g.step,
        ...(g.mode ? { mode: g.mode } : {}),
      });
    }
    return out;
  }
  let prev: number | undefined;
  let prevX: number | undefined;
  for (const p of points) {
    if (p.layers === undefined) continue;
    const x = xOf(p, axis);
    if (prev !== undefined && p.layers !== prev && prevX !== undefined) {
      // The model changed between the last point of the old depth and this one; place the marker at the boundary.
      out.push({ x: prevX, layers: p.layers, fromLayers: prev, step: p.step });
    }
    prev = p.layers;
    if (x !== undefined) prevX = x;
  }
  return out;
}

export function buildSeries(points: readonly MetricPoint[], axis: XAxis, smoothing: number): RunSeries {
  let trainRaw = collect(points, axis, (p) => p.trainLoss, 'step');
  // Logs with evaluations only: the train loss measured at each evaluation.
  if (!trainRaw.length) trainRaw = collect(points, axis, (p) => p.trainLoss, 'eval');
  const smooth = ema(
    trainRaw.map((d) => d.y),
    smoothing,
  );
  const tps = collect(points, axis, (p) => p.tokensPerS, 'step');
  const tpsSmooth = ema(
    tps.map((d) => d.y),
    smoothing,
  );
  return {
    trainRaw,
    train: trainRaw.map((d, i) => ({ x: d.x, y: smooth[i] })),
    val: collect(points, axis, (p) => p.valLoss, 'eval'),
    lr: collect(points, axis, (p) => p.lr, 'step'),
    tokensPerS: tps.map((d, i) => ({ x: d.x, y: tpsSmooth[i] })),
    target: targetOf(points),
    growth: growthMarkers(points, axis),
    roundStarts: points.flatMap((p) => {
      const x = xOf(p, axis);
      return p.event === 'eval' && p.roundStart && x !== undefined && p.valLoss !== undefined && Number.isFinite(p.valLoss)
        ? [{ x, y: p.valLoss, round: p.round, layers: p.layers }]
        : [];
    }),
    hasTokens: points.some((p) => (p.event === 'step' || p.event === 'eval') && p.tokens !== undefined),
  };
}

/**
 * At most about `buckets * 2` points for drawing: per bucket of x, the first, min, max and last points (in x order),
 * so spikes survive and the line keeps its shape. Sorted input in, sorted output out.
 */
export function decimate(xy: readonly XY[], buckets: number): XY[] {
  if (xy.length <= buckets * 2 || buckets < 1) return xy.slice();
  const x0 = xy[0].x;
  const span = xy[xy.length - 1].x - x0 || 1;
  const out: XY[] = [];
  let i = 0;
  for (let b = 0; b < buckets && i < xy.length; b++) {
    const hi = x0 + (span * (b + 1)) / buckets;
    const start = i;
    let lo = i;
    let hiIdx = i;
    while (i < xy.length && (xy[i].x <= hi || b === buckets - 1)) {
      if (xy[i].y < xy[lo].y) lo = i;
      if (xy[i].y > xy[hiIdx].y) hiIdx = i;
      i++;
    }
    if (i === start) continue;
    const keep = [...new Set([start, lo, hiIdx, i - 1])].sort((a, b2) => a - b2);
    for (const k of keep) out.push(xy[k]);
  }
  return out;
}

/** [min, max] over several series, or undefined when they are all empty. */
export function extentOf(series: readonly (readonly XY[])[], key: 'x' | 'y', positiveOnly = false): [number, number] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of series) {
    for (const d of s) {
      const v = d[key];
      if (!Number.isFinite(v) || (positiveOnly && v <= 0)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo <= hi ? [lo, hi] : undefined;
}

/** The point of a sorted series nearest to x (binary search), or undefined. */
export function nearest(xy: readonly XY[], x: number): XY | undefined {
  if (!xy.length) return undefined;
  let lo = 0;
  let hi = xy.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xy[mid].x < x) lo = mid + 1;
    else hi = mid;
  }
  const a = xy[Math.max(0, lo - 1)];
  const b = xy[lo];
  return Math.abs(a.x - x) <= Math.abs(b.x - x) ? a : b;
}

export interface RunSummary {
  step: number | undefined;
  tokens: number | undefined;
  layers: number | undefined;
  round: number | undefined;
  lastVal: number | undefined;
  bestVal: number | undefined;
  lastTrain: number | undefined;
  target: number | undefined;
  done?: { reached: boolean | undefined; stopReason?: string; valLoss?: number };
  error?: string;
}

/** Where a run stands: for the run list. */
export function summarize(points: readonly MetricPoint[]): RunSummary {
  const s: RunSummary = {
    step: undefined,
    tokens: undefined,
    layers: undefined,
    round: undefined,
    lastVal: undefined,
    bestVal: undefined,
    lastTrain: undefined,
    target: targetOf(points),
  };
  for (const p of points) {
    if (p.step !== undefined) s.step = Math.max(s.step ?? 0, p.step);
    if (p.tokens !== undefined) s.tokens = Math.max(s.tokens ?? 0, p.tokens);
    if (p.event === 'grow' && p.toLayers !== undefined) s.layers = p.toLayers;
    else if (p.layers !== undefined) s.layers = p.layers;
    if (p.round !== undefined) s.round = p.round;
    if (p.event === 'eval' && p.valLoss !== undefined) {
      s.lastVal = p.valLoss;
      s.bestVal = s.bestVal === undefined ? p.valLoss : Math.min(s.bestVal, p.valLoss);
    }
    if (p.event === 'step' && p.trainLoss !== undefined) s.lastTrain = p.trainLoss;
    if (p.event === 'done') s.done = { reached: p.reached, stopReason: p.stopReason, valLoss: p.valLoss };
    if (p.event === 'error') s.error = p.message ?? 'the trainer reported an error';
  }
  return s;
}

export const CSV_COLUMNS = [
  'run',
  'path',
  'event',
  'step',
  'tokens',
  'round',
  'layers',
  'train_loss',
  'val_loss',
  'lr',
  'tokens_per_s',
  'grad_norm',
  'target',
  'from_layers',
  'to_layers',
  'time',
] as const;

/** Every point of every run, one row each (tidy: filter by run and event in any tool). */
export function pointsToCsv(runs: readonly { label: string; path: string; points: readonly MetricPoint[] }[]): string {
  const lines: string[] = [CSV_COLUMNS.join(',')];
  for (const r of runs) {
    for (const p of r.points) {
      if (p.event === 'checkpoint') continue;
      lines.push(
        [
          r.label,
          r.path,
          p.event,
          p.step,
          p.tokens,
          p.round,
          p.layers,
          p.trainLoss,
          p.valLoss,
          p.lr,
          p.tokensPerS,
          p.gradNorm,
          p.target,
          p.fromLayers,
          p.toLayers,
          p.time,
        ]
          .map(csvField)
          .join(','),
      );
    }
  }
  return lines.join('\n') + '\n';
}

/** "1.23M" style numbers for axes (tokens), plain for steps. */
export function formatAxisNumber(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e12) return `${trim(v / 1e12)}T`;
  if (a >= 1e9) return `${trim(v / 1e9)}B`;
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e4) return `${trim(v / 1e3)}K`;
  return String(Math.round(v * 1e6) / 1e6);
}

function trim(v: number): string {
  return String(Number(v.toFixed(2)));
}

/**
 * Metrics of a head and their colour scales. One ramp for every theme: from a tint of the editor background (low) through
 * the theme's chart blue to a blend of that blue with the foreground (high), so contrast with the background grows
 * monotonically in light, dark and high-contrast themes alike. Lazy layers are marked in the theme's orange, apart.
 */
import { hcl, interpolateLab, piecewise, rgb, scaleSequentialSqrt } from 'd3';
import { isRankOne, type AnalysisReport, type HeadReport } from '../../src/shared/report';
import type { HeadMetric, LayerSeries } from '../../src/shared/protocol';
import { isLightKind, mix, Theme } from './theme';

export interface MetricInfo {
  label: string;
  /** Short form for axes and buttons. */
  short: string;
  description: string;
  scale: 'log' | 'linear';
  /** Which end means "lazy" (degenerate attention). */
  lazyEnd: 'low' | 'high';
}

export const HEAD_METRICS: Record<HeadMetric, MetricInfo> = {
  kStar: {
    label: 'k* (rank for τ energy)',
    short: 'k*',
    description: 'Fewest singular values of the batch-mean attention matrix holding τ of its energy. 1 = rank-1 (lazy).',
    scale: 'log',
    lazyEnd: 'low',
  },
  mStar: {
    label: 'm* (columns for τ mass)',
    short: 'm*',
    description: 'Fewest key columns holding τ of the attention mass. 1 = every query looks at one key (lazy).',
    scale: 'log',
    lazyEnd: 'low',
  },
  entropy: {
    label: 'Entropy (normalised)',
    short: 'entropy',
    description: 'Mean row entropy divided by log(i+1): 0 = one key per query, 1 = uniform attention.',
    scale: 'linear',
    lazyEnd: 'low',
  },
  sinkMass: {
    label: 'Sink mass (position 0)',
    short: 'sink mass',
    description: 'Mean attention on the first position (the attention sink). Near 1 in lazy layers.',
    scale: 'linear',
    lazyEnd: 'high',
  },
};

export const HEAD_METRIC_ORDER: HeadMetric[] = ['kStar', 'mStar', 'entropy', 'sinkMass'];

export const LAYER_SERIES: Record<LayerSeries, { label: string; short: string; description: string }> = {
  kStar: {
    label: 'k* per layer (max and mean over heads)',
    short: 'k* max / mean',
    description: "The paper's figure: rank collapses to 1 in lazy layers.",
  },
  blockInfluence: {
    label: 'Block Influence',
    short: 'Block Influence',
    description: '1 − mean cos(h_l, h_l+1): how much the block changes the residual stream.',
  },
  angularDistance: { label: 'Angular distance', short: 'Angular distance', description: 'arccos(cos(h_l, h_l+1))/π on the last token.' },
};

export function headValue(h: HeadReport, metric: HeadMetric): number {
  return h[metric];
}

/** The colour domain of a metric over one or more reports (compare: one scale for both). */
export function metricDomain(reports: AnalysisReport[], metric: HeadMetric): [number, number] {
  if (HEAD_METRICS[metric].scale === 'linear') return [0, 1];
  let max = 1;
  for (const r of reports)
    for (const l of r.layers) for (const h of l.heads) if (Number.isFinite(h[metric])) max = Math.max(max, h[metric]);
  return [1, Math.max(2, Math.ceil(max))];
}

/**
 * Three stops of the sequential ramp for a theme: low (the background tinted with the chart blue), middle (the chart
 * blue), high (the chart blue moved away from the background in lightness, chroma kept, so it stays vivid).
 */
export function rampStops(theme: Theme): [string, string, string] {
  const hc = theme.kind === 'high-contrast' || theme.kind === 'high-contrast-light';
  const light = isLightKind(theme.kind);
  const low = hc ? mix(theme.background, theme.foreground, 0.16) : mix(theme.background, theme.accent, light ? 0.07 : 0.1);
  const a = hcl(theme.accent);
  const high = hcl(a.h, a.c * (light ? 0.9 : 0.75), light ? Math.max(18, a.l - 34) : Math.min(94, a.l + 32));
  return [low, rgb(theme.accent).formatHex(), rgb(high).formatHex()];
}

export function rampInterpolator(theme: Theme): (t: number) => string {
  return piecewise(interpolateLab, rampStops(theme));
}

/** Metrics whose value 1 is the degenerate case the paper is about, drawn in their own colour. */
export function hasRankOneColor(metric: HeadMetric): boolean {
  return metric === 'kStar' || metric === 'mStar';
}

/**
 * The colour of k* = 1 / m* = 1: the theme's orange (the lazy-layer colour), kept vivid against the background, so
 * rank 1 reads apart from k* = 2 (a pale tint of the blue ramp) at a glance in light and dark themes alike.
 */
export function rankOneColor(theme: Theme): string {
  const w = hcl(theme.warning);
  const light = isLightKind(theme.kind);
  return rgb(hcl(w.h, Math.max(w.c, 60), light ? Math.min(w.l, 62) : Math.max(w.l, 62))).formatHex();
}

/**
 * Value → colour for a head metric. Values outside the domain are clamped. k* and m* of 1 get rankOneColor. The ramp is sampled once into 256 colours
 * (indistinguishable from the continuous ramp, and a thousand cells cost a lookup each instead of a Lab interpolation).
 */
export function metricColor(theme: Theme, metric: HeadMetric, domain: [number, number]): (v: number) => string {
  const interp = rampInterpolator(theme);
  const lut = Array.from({ length: 256 }, (_, i) => rgb(interp(i / 255)).formatHex());
  const log = HEAD_METRICS[metric].scale === 'log';
  const [d0, d1] = log ? [Math.log(domain[0]), Math.log(domain[1])] : domain;
  const span = d1 - d0 || 1;
  const rankOne = hasRankOneColor(metric) ? rankOneColor(theme) : undefined;
  return (v: number) => {
    if (!Number.isFinite(v)) return theme.background;
    if (rankOne && isRankOne(v)) return rankOne;
    const t = ((log ? Math.log(Math.max(v, 1e-12)) : v) - d0) / span;
    return lut[Math.max(0, Math.min(255, Math.round(t * 255)))];
  };
}

/**
 * A 256-entry RGBA lookup table for attention maps (square-root scale: small weights stay visible).
 * Index i stands for the value (i / 255)² · max.
 */
export function attentionLut(theme: Theme): Uint8ClampedArray {
  const interp = rampInterpolator(theme);
  const s = scaleSequentialSqrt(interp).domain([0, 1]);
  const lut = new Uint8ClampedArray(256 * 4);
  for (let i = 0; i < 256; i++) {
    const c = parseHex(s((i / 255) ** 2));
    lut.set([c[0], c[1], c[2], 255], i * 4);
  }
  return lut;
}

function parseHex(c: string): [number, number, number] {
  const m = /^#?([0-9a-f]{6})$/i.exec(c);
  if (m) {
    const n = parseInt(m[1], 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }
  const r = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(c);
  return r ? [Number(r[1]), Number(r[2]), Number(r[3])] : [128, 128, 128];
}

/**
 * Fill `out` (T×T RGBA) from a row-major attention matrix through the LUT; returns the maximum used for scaling.
 * The hot loop of drawing a head: one multiply, one sqrt and a 4-byte copy per entry.
 */
export function attentionToRgba(data: Float32Array, lut: Uint8ClampedArray, out: Uint8ClampedArray, max?: number): number {
  let m = max ?? 0;
  if (max === undefined) for (let i = 0; i < data.length; i++) if (data[i] > m) m = data[i];
  const inv = m > 0 ? 1 / m : 0;
  const lut32 = new Uint32Array(lut.buffer, lut.byteOffset, 256);
  const out32 = new Uint32Array(out.buffer, out.byteOffset, data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i] * inv;
    const idx = v <= 0 ? 0 : v >= 1 ? 255 : (Math.sqrt(v) * 255 + 0.5) | 0;
    out32[i] = lut32[idx];
  }
  return m;
}

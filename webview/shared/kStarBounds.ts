/**
 * k* bounds in the report views (schema 3; pure, unit-tested). A head whose k* was certified to lie above
 * settings.kStarExactUpTo carries kStarBounds [lo, hi] and kStar = lo: the views must never show lo as if it were
 * exact. Reports without bounds (schema 2) give undefined / 0 / null everywhere here, so they draw as before.
 */
import type { AnalysisReport, HeadReport, LayerReport } from '../../src/shared/report';

/** A head's certified [lo, hi], or undefined when its k* is exact (a malformed pair, not lo ≤ hi, counts as absent). */
export function kStarInterval(h: HeadReport): [number, number] | undefined {
  const b = h.kStarBounds;
  if (!Array.isArray(b) || b.length !== 2) return undefined;
  const [lo, hi] = b;
  return Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi ? [lo, hi] : undefined;
}

/** [lo, hi] for every head: [kStar, kStar] when it is exact (the CSV's k_star_lo / k_star_hi). */
export function kStarRange(h: HeadReport): [number, number] {
  return kStarInterval(h) ?? [h.kStar, h.kStar];
}

/**
 * Heads of a layer shown as bounds. Counted from the heads (what the heatmap hatches); a larger boundedHeads in the
 * report still counts, so a layer it says has bounds never reads as exact.
 */
export function layerBoundedHeads(l: LayerReport): number {
  let n = 0;
  for (const h of l.heads) if (kStarInterval(h)) n++;
  return Math.max(n, Number.isFinite(l.boundedHeads) ? l.boundedHeads! : 0);
}

export function reportBoundedHeads(r: AnalysisReport): number {
  return r.layers.reduce((a, l) => a + layerBoundedHeads(l), 0);
}

/** settings.kStarExactUpTo when set (a finite number), else null: every k* exact. */
export function exactUpTo(r: AnalysisReport): number | null {
  const v = r.settings.kStarExactUpTo;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/**
 * What the layer's max and mean k* can be when some heads are bounds: lo is the report's value (over the heads' lower
 * ends), hi the same over their upper ends. undefined when the layer has no bounded head (the values are exact).
 */
export function layerKStarBounds(l: LayerReport): { max: [number, number]; mean: [number, number] } | undefined {
  if (!layerBoundedHeads(l) || !l.heads.length) return undefined;
  let hiMax = -Infinity;
  let hiSum = 0;
  for (const h of l.heads) {
    const hi = kStarRange(h)[1];
    hiMax = Math.max(hiMax, hi);
    hiSum += hi;
  }
  const hiMean = hiSum / l.heads.length;
  return { max: [l.maxKStar, Math.max(l.maxKStar, hiMax)], mean: [l.meanKStar, Math.max(l.meanKStar, hiMean)] };
}

/** "k* > 128" for a rank, or the words when the report does not say which rank (bounds without the setting). */
export function aboveRank(r: number | null): string {
  return r === null ? 'k* above the exact rank' : `k* > ${r}`;
}

/** "(bounded: above the exact rank 128)": why a head shows an interval. */
export function boundedReason(r: number | null): string {
  return r === null ? '(bounded: above the exact rank)' : `(bounded: above the exact rank ${r})`;
}

/** The heatmap's legend entry for the hatched cells, e.g. "k* > 128: certified bounds" (compare: each side's rank). */
export function boundsLegendLabel(entries: { side: string; report: AnalysisReport }[]): string {
  const bounded = entries.filter((e) => reportBoundedHeads(e.report) > 0);
  const ranks = [...new Set(bounded.map((e) => exactUpTo(e.report)))];
  if (ranks.length <= 1) return `${aboveRank(ranks[0] ?? null)}: certified bounds`;
  return `k* > ${bounded.map((e) => `${exactUpTo(e.report) ?? '?'} (${e.side.toUpperCase()})`).join(', ')}: certified bounds`;
}

/** The header's line when the report was run with kStarExactUpTo, e.g. "k* exact up to 128; 5 heads above it shown as bounds". */
export function boundsNote(r: AnalysisReport): string | undefined {
  const rank = exactUpTo(r);
  const n = reportBoundedHeads(r);
  if (rank === null) return n ? `${n} head${n === 1 ? '' : 's'} shown as bounds (k* not resolved exactly)` : undefined;
  if (!n) return `k* exact up to ${rank}; no head above it: every k* is exact`;
  return `k* exact up to ${rank}; ${n} head${n === 1 ? '' : 's'} above it shown as bounds`;
}

/**
 * Per-head statistics of a post-softmax attention pattern: k* (from rank/), m* and m*² (column mass), normalised row
 * entropy, sink mass, dominant column; and the lazy-layer rule over them (the degenerate-head rule itself is shared
 * with the webview: src/shared/report.ts). Imports rank/, kernels/, src/shared and this folder.
 */
import { isDegenerate, type DegenerateWhen, type HeadReport, type KStarMode } from '../../shared/report';
import { heapCopyRowsF32, kernels, withHeap } from '../kernels/heap';
import { checkSquare, checkTau, kStarDetailed, kStarOnHeap, type KStarResult } from '../rank/kStar';
import { rowStats, rowStatsOnHeap } from './rowStats';

export interface MetricOptions {
  tau: number;
  mode: KStarMode;
  degenerateWhen?: DegenerateWhen;
  /** k* exact up to this rank; above it certified bounds (rank/kStar.ts). Undefined or null: exact everywhere. */
  kStarExactUpTo?: number | null;
}

/** The kStar / kStarBounds fields of a head from one k* result per sequence (their mean in per-seq mode). */
function kStarFields(results: readonly KStarResult[]): Pick<HeadReport, 'kStar' | 'kStarBounds'> {
  let k = 0;
  let hi = 0;
  let bounded = false;
  for (const r of results) {
    k += r.kStar;
    hi += r.bounds ? r.bounds[1] : r.kStar;
    bounded ||= r.bounds !== undefined;
  }
  const n = results.length;
  return bounded ? { kStar: k / n, kStarBounds: [k / n, hi / n] } : { kStar: k / n };
}

function kStarOptions(opts: MetricOptions): { exactUpTo?: number } {
  return opts.kStarExactUpTo ? { exactUpTo: opts.kStarExactUpTo } : {};
}

/** One head's metrics: exactly the report's per-head record (src/shared/report.ts documents each field). */
export type HeadMetrics = HeadReport;

/**
 * m*: fewest key columns whose summed attention mass reaches τ of the total mass (column sums
 * sorted descending, counted until the cumulative sum ≥ τ·total). `squared`: column sums of A∘A.
 * Assumes non-negative entries (attention). Returns 0 when the total mass is 0.
 */
export function mStarOf(a: Float64Array | Float32Array, T: number, tau: number, squared = false): number {
  checkTau(tau);
  checkSquare(a, T);
  const col = new Float64Array(T);
  const col2 = new Float64Array(T);
  columnSums(a, 0, T, col, col2);
  return mStarFromColumnSums(squared ? col2 : col, tau);
}

/** col[j] += Σ_i a_ij and col2[j] += Σ_i a_ij² over the T×T block of `a` starting at `o`. */
function columnSums(a: ArrayLike<number>, o: number, T: number, col: Float64Array, col2: Float64Array): void {
  for (let i = 0; i < T; i++) {
    const r = o + i * T;
    for (let j = 0; j < T; j++) {
      const v = a[r + j];
      col[j] += v;
      col2[j] += v * v;
    }
  }
}

function mStarFromColumnSums(col: Float64Array, tau: number): number {
  let total = 0;
  for (let j = 0; j < col.length; j++) total += col[j];
  if (!(total > 0)) return 0;
  const s = Float64Array.from(col).sort();
  const n = s.length;
  const target = tau * total;
  let c = 0;
  for (let k = 1; k <= n; k++) {
    c += s[n - k];
    if (c >= target) return k;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Per-head metrics
// ---------------------------------------------------------------------------------------------

function checkPattern(pattern: Float32Array, batch: number, numHeads: number, T: number): void {
  for (const [name, v] of [
    ['batch', batch],
    ['numHeads', numHeads],
    ['T', T],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  }
  if (pattern.length !== batch * numHeads * T * T) {
    throw new RangeError(`pattern has ${pattern.length} entries, expected batch*numHeads*T*T = ${batch * numHeads * T * T}`);
  }
}

let meanScratch = new Float64Array(0);

/**
 * Mean over the batch of head `head` of a [batch, head, query, key] pattern, in float64 ([T, T]),
 * into `out` (T·T entries, overwritten) when given.
 */
export function batchMeanHead(
  pattern: Float32Array,
  batch: number,
  numHeads: number,
  head: number,
  T: number,
  out?: Float64Array,
): Float64Array {
  checkPattern(pattern, batch, numHeads, T);
  if (!Number.isInteger(head) || head < 0 || head >= numHeads) throw new RangeError(`head ${head} out of range [0, ${numHeads})`);
  const TT = T * T;
  if (out === undefined) out = new Float64Array(TT);
  else out.fill(0, 0, TT);
  for (let b = 0; b < batch; b++) {
    const o = (b * numHeads + head) * TT;
    for (let i = 0; i < TT; i++) out[i] += pattern[o + i];
  }
  const inv = 1 / batch;
  for (let i = 0; i < TT; i++) out[i] *= inv;
  return out;
}

let invLogCache = new Float64Array(0);

/** 1 / ln(i + 1) for i = 1..T−1 (the normalisation of row i's entropy), cached. */
function inverseLogs(T: number): Float64Array {
  if (invLogCache.length !== T) {
    invLogCache = new Float64Array(T);
    for (let i = 1; i < T; i++) invLogCache[i] = 1 / Math.log(i + 1);
  }
  return invLogCache;
}

/** Metrics of one head of a [batch, head, query, key] post-softmax pattern. */
export function headMetrics(
  pattern: Float32Array,
  batch: number,
  numHeads: number,
  head: number,
  T: number,
  opts: MetricOptions,
): HeadMetrics {
  checkTau(opts.tau);
  const TT = T * T;
  // batch mean: the sequence itself when batch = 1 (no copy; on the WASM kernels the one-sequence path below), else in
  // a reused scratch buffer (a fresh 8 MB array per head at T = 1024 costs more than its sum, in page faults and GC)
  let mean: Float32Array | Float64Array;
  if (batch === 1) {
    checkPattern(pattern, batch, numHeads, T);
    if (!Number.isInteger(head) || head < 0 || head >= numHeads) throw new RangeError(`head ${head} out of range [0, ${numHeads})`);
    const o = head * TT;
    if (oneSeqOnHeap(T)) return headMetricsOneSeq((i) => pattern.subarray(o + i * T, o + (i + 1) * T), T, opts);
    mean = pattern.subarray(o, o + TT);
  } else {
    if (meanScratch.length < TT) meanScratch = new Float64Array(TT);
    mean = batchMeanHead(pattern, batch, numHeads, head, T, meanScratch.subarray(0, TT));
  }
  const tau = opts.tau;
  const perSeq = opts.mode === 'per-seq';
  if (!perSeq && opts.mode !== 'mean') throw new RangeError(`unknown k* mode: ${String(opts.mode)}`);

  // One pass per sequence (rowStats): row entropies, and the column sums (plain and squared) where they are of this
  // sequence's own matrix: per-seq mode, or the batch mean when batch = 1.
  const invLog = inverseLogs(T);
  const col = new Float64Array(T);
  const col2 = new Float64Array(T);
  const seqCols = perSeq || batch === 1;
  let entSum = 0;
  let sinkSum = 0;
  const ks: KStarResult[] = [];
  let ms = 0;
  let ms2 = 0;
  for (let b = 0; b < batch; b++) {
    const o = (b * numHeads + head) * TT;
    for (let i = 0; i < T; i++) sinkSum += pattern[o + i * T];
    if (perSeq) {
      col.fill(0);
      col2.fill(0);
    }
    const plogp = seqCols ? rowStats(pattern, o, T, col, col2) : rowStats(pattern, o, T);
    for (let i = 1; i < T; i++) entSum -= plogp[i] * invLog[i];
    if (perSeq) {
      ks.push(kStarDetailed(pattern.subarray(o, o + TT), T, tau, kStarOptions(opts)));
      ms += mStarFromColumnSums(col, tau);
      ms2 += mStarFromColumnSums(col2, tau);
    }
  }
  const entropy = T > 1 ? entSum / (batch * (T - 1)) : 0;
  const sinkMass = sinkSum / (batch * T);

  // column sums of the batch mean: dominant column, and m* in mode 'mean'
  if (batch > 1) {
    col.fill(0);
    col2.fill(0);
    columnSums(mean, 0, T, col, col2);
  }
  let dominantColumn = 0;
  for (let j = 1; j < T; j++) if (col[j] > col[dominantColumn]) dominantColumn = j;

  const k = kStarFields(perSeq ? ks : [kStarDetailed(mean, T, tau, kStarOptions(opts))]);
  const mStar = perSeq ? ms / batch : mStarFromColumnSums(col, tau);
  const mStarSquared = perSeq ? ms2 / batch : mStarFromColumnSums(col2, tau);
  return { ...k, mStar, mStarSquared, entropy, sinkMass, dominantColumn };
}

/** Can headMetricsOneSeq keep the head on the kernel heap (WASM kernels, T ≥ 4)? */
function oneSeqOnHeap(T: number): boolean {
  return T >= 4 && kernels().kind === 'wasm';
}

/**
 * headMetrics of one head of one sequence given by its rows: row i is rowOf(i) (keys 0..length-1; the keys after it
 * are 0), e.g. a row of a query block of the pattern (pattern.ts), so a blocked pattern needs no dense copy. The head
 * is copied onto the kernel heap once, and the row statistics and k* both read that copy (headMetrics with batch = 1
 * made two). The results are those of headMetrics on the dense matrix, bit for bit.
 */
export function headMetricsOneSeq(rowOf: (i: number) => Float32Array, T: number, opts: MetricOptions): HeadMetrics {
  checkTau(opts.tau);
  if (opts.mode !== 'mean' && opts.mode !== 'per-seq') throw new RangeError(`unknown k* mode: ${String(opts.mode)}`);
  if (!oneSeqOnHeap(T)) {
    const dense = new Float32Array(T * T);
    for (let i = 0; i < T; i++) dense.set(rowOf(i), i * T);
    return headMetrics(dense, 1, 1, 0, T, opts);
  }
  const invLog = inverseLogs(T);
  const col = new Float64Array(T);
  const col2 = new Float64Array(T);
  let sinkSum = 0;
  for (let i = 0; i < T; i++) sinkSum += rowOf(i)[0];
  const { plogp, k } = withHeap(() => {
    const src = heapCopyRowsF32(T, rowOf);
    const plogp = rowStatsOnHeap(src, T, col, col2);
    return { plogp, k: kStarFields([kStarOnHeap(EMPTY, T, opts.tau, kStarOptions(opts), src)]) };
  });
  let entSum = 0;
  for (let i = 1; i < T; i++) entSum -= plogp[i] * invLog[i];
  let dominantColumn = 0;
  for (let j = 1; j < T; j++) if (col[j] > col[dominantColumn]) dominantColumn = j;
  return {
    ...k,
    mStar: mStarFromColumnSums(col, opts.tau),
    mStarSquared: mStarFromColumnSums(col2, opts.tau),
    entropy: T > 1 ? entSum / (T - 1) : 0,
    sinkMass: sinkSum / T,
    dominantColumn,
  };
}

const EMPTY = new Float32Array(0);

/** headMetrics for every head of a layer's [batch, head, query, key] pattern. */
export function layerHeadMetrics(pattern: Float32Array, batch: number, numHeads: number, T: number, opts: MetricOptions): HeadMetrics[] {
  checkPattern(pattern, batch, numHeads, T);
  const out: HeadMetrics[] = [];
  for (let h = 0; h < numHeads; h++) out.push(headMetrics(pattern, batch, numHeads, h, T, opts));
  return out;
}

/** A layer is lazy when all its heads are degenerate. */
export function isLazyLayer(heads: readonly HeadMetrics[], when: DegenerateWhen = 'either'): boolean {
  return heads.length > 0 && heads.every((h) => isDegenerate(h, when));
}

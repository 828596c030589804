/**
 * The matrix the rank code works on: an n×n matrix packed row by row on the kernel heap without the zero runs at the
 * ends of each row (the zero upper triangle of a causal pattern), exactly rescaled when extreme, and the Gram matvec
 * z = AᵀA·q over it. Imports kernels/ only.
 */
import { heapAlloc, heapCopyF32, heapMark, heapRelease, kernels } from '../kernels/heap';
import type { WasmKernels } from '../kernels/wasmKernels';

/**
 * A square n×n matrix on the kernel heap, row by row: row i holds columns [lo[i], hi[i]) at
 * f[data + off[i] ...]. Valid until the heap is released below its allocation.
 */
export interface RowMatrix {
  readonly n: number;
  readonly lo: Int32Array;
  readonly hi: Int32Array;
  readonly off: Int32Array;
  /** Heap offset of the packed entries. */
  readonly data: number;
  /** Number of stored entries (sum of hi − lo). */
  readonly nnz: number;
  /** The power of two the entries were multiplied by (1 unless they were huge or tiny). */
  readonly scale: number;
  /** Largest |entry| after scaling. */
  readonly maxAbs: number;
  /** No entry is negative (e.g. attention). */
  readonly nonNegative: boolean;
}

/**
 * A power of two s with s·maxAbs in [0.5, 1) (clamped to s in [2^-1000, 2^1000], which still brings
 * any finite non-zero maxAbs into [2^-30, 2^24]); multiplying by it is exact.
 */
function powerOfTwoScale(maxAbsValue: number): number {
  if (!(maxAbsValue > 0) || !Number.isFinite(maxAbsValue)) return 1;
  let e = Math.floor(Math.log2(maxAbsValue)) + 1;
  if (2 ** (e - 1) > maxAbsValue) e -= 1; // log2 rounding at exact powers of two
  if (2 ** e <= maxAbsValue) e += 1;
  return 2 ** -Math.max(-1000, Math.min(1000, e));
}

/**
 * Packs the n×n row-major matrix `a` onto the kernel heap, dropping leading/trailing zeros of each
 * row. Entries are rescaled by an exact power of two only if max|a| is outside [2^-100, 2^100]
 * (squares and Gram entries then neither overflow nor underflow); k* is scale invariant.
 * Throws on NaN/Infinity.
 */
export function packRows(a: ArrayLike<number>, n: number, heapSrc32?: number): RowMatrix {
  const lo = new Int32Array(n);
  const hi = new Int32Array(n);
  const off = new Int32Array(n + 1);
  const k = kernels();
  // float32 input on the WASM backend: a float32 copy on the heap (left there below the packed rows; or the one at
  // heapSrc32, from heapCopyF32/heapCopyRowsF32, when given: `a` is then not read), row extents to the group of 4 (a
  // few stored zeros at the ends are harmless) and the float64 conversion in SIMD passes.
  if (heapSrc32 !== undefined && (k.kind !== 'wasm' || n < 4))
    throw new RangeError('packRows: a float32 heap copy needs the WASM kernels and n ≥ 4');
  const f32in = k.kind === 'wasm' && (heapSrc32 !== undefined || (a instanceof Float32Array && n >= 4)) ? (k as WasmKernels) : null;
  const ld = (n + 3) & ~3;
  const src = f32in ? (heapSrc32 ?? heapCopyF32(a as Float32Array, 0, n)) : 0;
  if (f32in) {
    const ext = heapAlloc(n + 2);
    f32in.rowExtents32(src * 8, ld, n, ext * 8);
    const e = new Int32Array(k.f.buffer, k.f.byteOffset + ext * 8, 2 * n);
    for (let i = 0; i < n; i++) {
      if (e[2 * i + 1] <= e[2 * i]) continue; // zero row: [0, 0)
      lo[i] = 4 * e[2 * i];
      hi[i] = Math.min(n, 4 * e[2 * i + 1]);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const r = i * n;
      let l = 0;
      while (l < n && a[r + l] === 0) l++;
      let h = n;
      while (h > l && a[r + h - 1] === 0) h--;
      lo[i] = l;
      hi[i] = h;
    }
  }
  // Rows 4g..4g+3 share one stored range when that costs little (e.g. consecutive causal rows:
  // ≤ 3 stored zeros each): gramMatvec then takes the four rows in one kernel call.
  for (let i = 0; i + 3 < n; i += 4) {
    let l = n;
    let h = 0;
    let len = 0;
    for (let t = i; t < i + 4; t++) {
      if (hi[t] <= lo[t]) {
        len = -1;
        break;
      }
      l = Math.min(l, lo[t]);
      h = Math.max(h, hi[t]);
      len += hi[t] - lo[t];
    }
    if (len >= 0 && 4 * (h - l) <= 1.25 * len + 32) for (let t = i; t < i + 4; t++) [lo[t], hi[t]] = [l, h];
  }
  let nnz = 0;
  for (let i = 0; i < n; i++) {
    off[i] = nnz;
    nnz += hi[i] - lo[i];
  }
  off[n] = nnz;
  const data = heapAlloc(nnz);
  const f = k.f;
  let mx = 0;
  let neg = false;
  const typed = a as unknown as Float64Array;
  if (f32in || (k.kind === 'wasm' && nnz >= 2 && ArrayBuffer.isView(a) && typeof typed.subarray === 'function')) {
    // copies (float32 input: converted from the heap copy), then one SIMD pass for max |a|, min a and NaN
    if (f32in) {
      for (let i = 0; i < n; i++) if (hi[i] > lo[i]) f32in.promote32(src * 8 + 4 * (i * ld + lo[i]), (data + off[i]) * 8, hi[i] - lo[i]);
    } else {
      for (let i = 0; i < n; i++) if (hi[i] > lo[i]) f.set(typed.subarray(i * n + lo[i], i * n + hi[i]), data + off[i]);
    }
    const mark = heapMark();
    const [m, mn] = (k as WasmKernels).absMaxMin(data, nnz, heapAlloc(3));
    heapRelease(mark);
    if (!(m <= Infinity)) throw new RangeError('matrix contains NaN or Infinity');
    mx = m;
    neg = mn < 0;
  } else {
    for (let i = 0; i < n; i++) {
      const r = i * n;
      const o = data + off[i] - lo[i];
      for (let j = lo[i], h = hi[i]; j < h; j++) {
        const v = a[r + j];
        f[o + j] = v;
        let x = v;
        if (v < 0) {
          x = -v;
          neg = true;
        }
        if (x > mx) mx = x;
        else if (!(x <= mx)) throw new RangeError('matrix contains NaN or Infinity');
      }
    }
  }
  if (!Number.isFinite(mx)) throw new RangeError('matrix contains NaN or Infinity');
  let scale = 1;
  if (mx > 0 && (mx > 2 ** 100 || mx < 2 ** -100)) {
    scale = powerOfTwoScale(mx);
    kernels().scale(scale, data, nnz);
  }
  return { n, lo, hi, off, data, nnz, scale, maxAbs: mx * scale, nonNegative: !neg };
}

/** Σ a_ij² (= ‖A‖_F² = tr(AᵀA)) of the packed (scaled) matrix. */
export function sumSquares(m: RowMatrix): number {
  return kernels().sumsq(m.data, m.nnz);
}

/**
 * z = AᵀA q in a single pass over A: z = Σ_i (a_i·q) a_i. Rows go four at a time through one
 * kernel call over their common column range (four dots sharing the loads of q, then one
 * four-row update of z; the rows stay in L1 between the two). packRows gives groups of four
 * consecutive causal rows one stored range; other ragged ends are done in JS first for the dots
 * and last for the updates. `d`: 4 doubles of heap scratch (allocated here if omitted).
 */
export function gramMatvec(m: RowMatrix, q: number, z: number, d = -1): void {
  const k = kernels();
  if (d < 0) d = heapAlloc(4);
  const { n, lo, hi, off, data } = m;
  let f = k.f;
  f.fill(0, z, z + n);
  const one = (i: number): void => {
    const l = lo[i];
    const len = hi[i] - l;
    if (len <= 0) return;
    const row = data + off[i];
    const s = k.dot(row, q + l, len);
    if (s !== 0) k.axpy(s, row, z + l, len);
  };
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const l0 = lo[i];
    const h0 = hi[i];
    if (l0 === lo[i + 1] && l0 === lo[i + 2] && l0 === lo[i + 3] && h0 === hi[i + 1] && h0 === hi[i + 2] && h0 === hi[i + 3]) {
      if (h0 - l0 >= 4) {
        const o = data + off[i];
        const len = h0 - l0;
        f[d] = f[d + 1] = f[d + 2] = f[d + 3] = 0;
        k.rows4(o, o + len, o + 2 * len, o + 3 * len, q + l0, z + l0, len, d);
        continue;
      }
    }
    const cl = Math.max(l0, lo[i + 1], lo[i + 2], lo[i + 3]);
    const ch = Math.min(h0, hi[i + 1], hi[i + 2], hi[i + 3]);
    const common = ch - cl;
    let ragged = 0;
    for (let t = 0; t < 4; t++) ragged += hi[i + t] - lo[i + t] - common;
    if (common < 8 || ragged > 32) {
      for (let t = 0; t < 4; t++) one(i + t);
      continue;
    }
    f = k.f;
    // dots of the ragged ends
    for (let t = 0; t < 4; t++) {
      const r = i + t;
      const o = data + off[r] - lo[r]; // f[o + j] = A_rj
      let s = 0;
      for (let j = lo[r]; j < cl; j++) s += f[o + j] * f[q + j];
      for (let j = ch; j < hi[r]; j++) s += f[o + j] * f[q + j];
      f[d + t] = s;
    }
    const o0 = data + off[i] - lo[i];
    const o1 = data + off[i + 1] - lo[i + 1];
    const o2 = data + off[i + 2] - lo[i + 2];
    const o3 = data + off[i + 3] - lo[i + 3];
    k.rows4(o0 + cl, o1 + cl, o2 + cl, o3 + cl, q + cl, z + cl, common, d);
    for (let t = 0; t < 4; t++) {
      const r = i + t;
      const o = data + off[r] - lo[r];
      const s = f[d + t];
      for (let j = lo[r]; j < cl; j++) f[z + j] += s * f[o + j];
      for (let j = ch; j < hi[r]; j++) f[z + j] += s * f[o + j];
    }
  }
  for (; i < n; i++) one(i);
}

/**
 * The Gram matrix G = AᵀA of a packed matrix: formed in float64 (packed lower storage, for the dense solve and an
 * exact ‖G‖_F²), or only bounded: a rigorous upper bound on ‖G‖_F² from float32 SIMD tiles for a non-negative A
 * (docs/design/rank-certificate.md has the error analysis). Imports kernels/ and rowMatrix.ts.
 */
import { heapAlloc, heapMark, heapRelease, kernels, paddedStride, withHeap } from '../kernels/heap';
import type { WasmKernels } from '../kernels/wasmKernels';
import type { RowMatrix } from './rowMatrix';

const EPS = Number.EPSILON;

/** Offset of row i in packed lower storage (row i holds columns 0..i). */
export function packedRow(i: number): number {
  return (i * (i + 1)) / 2;
}

/**
 * G = AᵀA in packed lower storage, allocated on the heap (returns its offset). Uses a zero-padded
 * column-major copy of A so that every G_jk is a contiguous dot product over the rows where both
 * columns can be non-zero; four k's at a time share the loads of column j.
 * ~Σ_i len_i²/2 multiply-adds (T³/6 for a causal pattern).
 */
export function gramPacked(m: RowMatrix): number {
  const k = kernels();
  const { n, lo, hi, off, data } = m;
  const g = heapAlloc((n * (n + 1)) / 2);
  const out = heapAlloc(4);
  const mark = heapMark();
  const ld = paddedStride(n);
  const at = heapAlloc(n * ld); // at + j*ld + i = A_ij
  const f = k.f;
  f.fill(0, at, at + n * ld);
  const clo = new Int32Array(n).fill(n);
  const chi = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const o = data + off[i] - lo[i];
    for (let j = lo[i], h = hi[i]; j < h; j++) {
      const v = f[o + j];
      if (v !== 0) {
        f[at + j * ld + i] = v;
        if (i < clo[j]) clo[j] = i;
        if (i + 1 > chi[j]) chi[j] = i + 1;
      }
    }
  }
  const rng = (a: number, b: number, l: number, h: number): number => (h > l ? k.dot(a + l, b + l, h - l) : 0);
  for (let j = 0; j < n; j++) {
    const cj = at + j * ld;
    const jl = clo[j];
    const jh = chi[j];
    const gr = g + packedRow(j);
    if (jh <= jl) {
      f.fill(0, gr, gr + j + 1);
      continue;
    }
    let c = 0;
    for (; c + 3 <= j; c += 4) {
      const l0 = Math.max(jl, clo[c]),
        h0 = Math.min(jh, chi[c]);
      const l1 = Math.max(jl, clo[c + 1]),
        h1 = Math.min(jh, chi[c + 1]);
      const l2 = Math.max(jl, clo[c + 2]),
        h2 = Math.min(jh, chi[c + 2]);
      const l3 = Math.max(jl, clo[c + 3]),
        h3 = Math.min(jh, chi[c + 3]);
      const cl = Math.max(l0, l1, l2, l3);
      const ch = Math.min(h0, h1, h2, h3);
      const c0 = at + c * ld,
        c1 = c0 + ld,
        c2 = c1 + ld,
        c3 = c2 + ld;
      if (cl < ch) {
        k.dot4(cj + cl, c0 + cl, c1 + cl, c2 + cl, c3 + cl, ch - cl, out);
        f[gr + c] = f[out] + rng(cj, c0, l0, cl) + rng(cj, c0, ch, h0);
        f[gr + c + 1] = f[out + 1] + rng(cj, c1, l1, cl) + rng(cj, c1, ch, h1);
        f[gr + c + 2] = f[out + 2] + rng(cj, c2, l2, cl) + rng(cj, c2, ch, h2);
        f[gr + c + 3] = f[out + 3] + rng(cj, c3, l3, cl) + rng(cj, c3, ch, h3);
      } else {
        f[gr + c] = rng(cj, c0, l0, h0);
        f[gr + c + 1] = rng(cj, c1, l1, h1);
        f[gr + c + 2] = rng(cj, c2, l2, h2);
        f[gr + c + 3] = rng(cj, c3, l3, h3);
      }
    }
    for (; c <= j; c++) f[gr + c] = rng(cj, at + c * ld, Math.max(jl, clo[c]), Math.min(jh, chi[c]));
  }
  heapRelease(mark);
  return g;
}

/** ‖G‖_F² of a symmetric matrix in packed lower storage at heap offset g. */
export function frobeniusSquaredPacked(g: number, n: number): number {
  const k = kernels();
  let diag = 0;
  let off = 0;
  const f = k.f;
  for (let i = 0; i < n; i++) {
    const r = g + packedRow(i);
    off += k.sumsq(r, i);
    diag += f[r + i] * f[r + i];
  }
  return diag + 2 * off;
}

/**
 * Rows per float32 partial sum in gramFrobeniusUpper (2^F32_SHIFT): its error bound grows ~linearly
 * with it (ε ≈ (B+2)·2^-24), its flushes to float64 cost less the longer it is.
 */
let F32_SHIFT = 5;
/** J blocks (of 4 columns) per pass in gramFrobeniusUpper. */
const JP = 4;
/** Tests/benchmarks: sets log2 of the float32 block length (returns the previous one). */
export function setF32BlockShift(s: number): number {
  const p = F32_SHIFT;
  F32_SHIFT = s;
  return p;
}
const U32 = 2 ** -24;

/** γ_k = k·u/(1 − k·u) (Higham), the relative error bound of a k-term recursive sum of non-negative terms. */
function gamma(k: number, u: number): number {
  return (k * u) / (1 - k * u);
}

/**
 * For each column j: first row with a stored entry (clo, n if none) and last such row + 1 (chi, 0
 * if none), from the row supports [lo_i, hi_i), in O(n·α(n)) ("next unassigned column" links).
 */
function columnSupports(m: RowMatrix): { clo: Int32Array; chi: Int32Array } {
  const { n, lo, hi } = m;
  const clo = new Int32Array(n).fill(n);
  const chi = new Int32Array(n);
  const next = new Int32Array(n + 1);
  const find = (j: number): number => {
    let r = j;
    while (next[r] !== r) r = next[r];
    while (next[j] !== r) {
      const t = next[j];
      next[j] = r;
      j = t;
    }
    return r;
  };
  for (const [dst, first, last, step] of [
    [clo, 0, n, 1],
    [chi, n - 1, -1, -1],
  ] as const) {
    for (let j = 0; j <= n; j++) next[j] = j;
    for (let i = first; i !== last; i += step) {
      for (let j = find(lo[i]); j < hi[i]; j = find(j)) {
        dst[j] = step > 0 ? i : i + 1;
        next[j] = j + 1;
      }
    }
  }
  return { clo, chi };
}

/**
 * A rigorous upper bound on ‖AᵀA‖_F² (same units as sumSquares(m)) for a matrix with no negative
 * entry, or null when not applicable (a negative entry, max entry outside [2^-40, 2^40], or no
 * WebAssembly backend). Cost ~Σ_i len_i²/2 float32 multiply-adds (T³/6 for a causal pattern) on
 * f32x4 SIMD, ~5× less time than gramPacked; AᵀA itself is never stored.
 *
 * The bound allows for float32 rounding of the entries and products, the float32 partial sums over blocks of
 * 2^F32_SHIFT rows, their float64 accumulation and underflow: ε and η below; the derivation is in
 * docs/design/rank-certificate.md ("Error bound of the float32 ‖G‖_F²").
 */
export function gramFrobeniusUpper(m: RowMatrix): number | null {
  const k = kernels();
  if (k.kind !== 'wasm') return null;
  const wk = k as WasmKernels;
  const { n, lo, hi, off, data } = m;
  let f = k.f;
  if (!m.nonNegative) return null;
  const mx = m.maxAbs;
  if (mx === 0) return 0;
  // float32 range: products ≤ 2^80 and sums ≤ n·2^80 stay finite; underflow only adds to η
  if (mx > 2 ** 40 || mx < 2 ** -40) return null;
  const SH = F32_SHIFT;
  const CH = 1 << SH;
  const NB = (n + 7) >> 3; // column blocks of 8
  const nch = (n + CH - 1) >> SH;
  const tileBytes = CH * 32;
  return withHeap(() => {
    // Panel layout: chunk c (rows 16c..16c+15) × column block b (columns 8b..8b+7) is a 16×8
    // row-major float32 tile at floats ((c·NB + b)·16 + r)·8 + col: a Gram tile over one chunk
    // reads 512 contiguous bytes.
    const base = heapAlloc((nch * NB * CH * 8) / 2 + 2); // 16-byte aligned
    const acc = heapAlloc(JP * (32 * NB + 2));
    f = k.f;
    const a32 = new Float32Array(f.buffer, f.byteOffset + base * 8, nch * NB * CH * 8);
    a32.fill(0);
    const ab = f.byteOffset + base * 8; // byte address of the layout (heap offsets are byte offsets × 8)
    const at = (i: number, j: number): number => (((i >> SH) * NB + (j >> 3)) * CH + (i & (CH - 1))) * 8 + (j & 7);
    for (let i = 0; i < n; i++) {
      const l = lo[i];
      const h = hi[i];
      if (h <= l) continue;
      const o = data + off[i] - l; // f[o + j] = A_ij
      const b0 = (l + 7) >> 3;
      const b1 = h >> 3;
      if (b1 > b0) {
        for (let j = l; j < 8 * b0; j++) a32[at(i, j)] = f[o + j];
        wk.cvt8((o + 8 * b0) * 8, ab + at(i, 8 * b0) * 4, b1 - b0, tileBytes);
        for (let j = 8 * b1; j < h; j++) a32[at(i, j)] = f[o + j];
      } else {
        for (let j = l; j < h; j++) a32[at(i, j)] = f[o + j];
      }
    }
    const { clo, chi } = columnSupports(m);
    // column range of the rows of each chunk
    const cLo = new Int32Array(nch).fill(n);
    const cHi = new Int32Array(nch);
    for (let i = 0; i < n; i++) {
      if (hi[i] <= lo[i]) continue;
      const c = i >> SH;
      if (lo[i] < cLo[c]) cLo[c] = lo[i];
      if (hi[i] > cHi[c]) cHi[c] = hi[i];
    }
    // J panels of JP blocks of 4 columns: each K tile of a chunk is read from memory once per panel
    // (the kernel's JP passes over it hit L1)
    const accStride = 32 * NB + 2;
    let sum = 0;
    for (let jb = 0; jb < n; jb += 4 * JP) {
      const jn = Math.min(n, jb + 4 * JP);
      let jl = n;
      let jh = 0;
      for (let t = jb; t < jn; t++) {
        if (clo[t] < jl) jl = clo[t];
        if (chi[t] > jh) jh = chi[t];
      }
      if (jh <= jl) continue;
      const p = (jn - jb + 3) >> 2;
      const bMax = Math.min(NB - 1, (jn - 1) >> 3); // K tiles 0..bMax hold the columns k ≤ j
      for (let s = 0; s < p; s++) f.fill(0, acc + s * accStride, acc + s * accStride + 32 * (bMax + 1));
      for (let c = jl >> SH; c <= (jh - 1) >> SH; c++) {
        const r0 = Math.max(jl, c * CH);
        const r1 = Math.min(jh, c * CH + CH);
        const bs = cLo[c] >> 3;
        const be = Math.min(bMax, (cHi[c] - 1) >> 3);
        if (r1 <= r0 || be < bs) continue;
        wk.gramPanel32(
          ab + at(r0, jb) * 4,
          ab + at(r0, 8 * bs) * 4,
          r1 - r0,
          be - bs + 1,
          (acc + 32 * bs) * 8,
          tileBytes,
          p,
          accStride * 8,
        );
      }
      f = k.f;
      for (let s = 0; s < p; s++) {
        const j0 = jb + 4 * s;
        const a = acc + s * accStride;
        // tiles entirely left of the diagonal count twice; the diagonal tile(s) entry by entry
        const full = j0 >> 3;
        sum += 2 * wk.sumsq(a, 32 * full);
        for (let b = full; b <= (j0 + 3) >> 3 && b < NB; b++) {
          for (let t = 0; t < 4 && j0 + t < n; t++) {
            const j = j0 + t;
            for (let cc = 0; cc < 8; cc++) {
              const kk = 8 * b + cc;
              if (kk > j) break;
              const v = f[a + 32 * b + t * 8 + cc];
              sum += (kk < j ? 2 : 1) * v * v;
            }
          }
        }
      }
    }
    const eps = (1 + U32) ** 2 * (1 + gamma(CH, U32)) * (1 + gamma(nch + 1, EPS / 2)) - 1;
    const eta = n * (2 * mx + 2) * 2 ** -149;
    const frob = Math.sqrt(sum * (1 + gamma(n * n + 64, EPS / 2)));
    const bound = (frob + n * eta) / (1 - eps);
    return bound * bound * (1 + 4 * EPS); // rounding of these few operations
  });
}

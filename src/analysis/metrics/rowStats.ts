/**
 * Row entropies and column sums of a float32 attention matrix in one pass: WebAssembly SIMD when available, else
 * scalar JS with Math.log (they agree to ~1e-10 relative, the column sums exactly). Imports kernels/ only.
 */
import { heapAlloc, heapCopyF32, kernels, withHeap } from '../kernels/heap';
import type { WasmKernels } from '../kernels/wasmKernels';

/**
 * For the T×T row-major float32 matrix at a[o ...]: out[i] = Σ_j p_ij·ln p_ij over the positive entries
 * (≤ 0 for attention) and, when `col` and `col2` are given, col[j] += Σ_i p_ij and
 * col2[j] += Σ_i p_ij² (float64, row by row). WebAssembly SIMD when available (rowStats32), else scalar JS
 * with Math.log; both agree to ~1e-10 relative (the column sums exactly).
 */
export function rowStats(a: Float32Array, o: number, T: number, col?: Float64Array, col2?: Float64Array): Float64Array {
  const out = new Float64Array(T);
  const k = kernels();
  if (k.kind !== 'wasm') {
    for (let i = 0; i < T; i++) {
      const r = o + i * T;
      let h = 0;
      for (let j = 0; j < T; j++) {
        const p = a[r + j];
        if (p > 0) h += p * Math.log(p);
        if (col && col2) {
          col[j] += p;
          col2[j] += p * p;
        }
      }
      out[i] = h;
    }
    return out;
  }
  withHeap(() => rowStatsOnHeap(heapCopyF32(a, o, T), T, col, col2, out));
  return out;
}

/**
 * rowStats of the T×T float32 matrix already on the heap at `src` (heapCopyF32/heapCopyRowsF32 layout; WASM kernels):
 * Σ_j p·ln p per row into `out` (returned), column sums added to col/col2 when given.
 */
export function rowStatsOnHeap(src: number, T: number, col?: Float64Array, col2?: Float64Array, out = new Float64Array(T)): Float64Array {
  const k = kernels();
  if (k.kind !== 'wasm') throw new RangeError('rowStatsOnHeap needs the WASM kernels');
  const wk = k as WasmKernels;
  const ld = (T + 3) & ~3;
  withHeap(() => {
    const c1 = heapAlloc(ld);
    const c2 = heapAlloc(ld);
    const ent = heapAlloc(T);
    const f = k.f; // after the allocations (the heap may have grown)
    const cols = !!(col && col2);
    if (cols) {
      f.set(col!.subarray(0, T), c1);
      f.set(col2!.subarray(0, T), c2);
      f.fill(0, c1 + T, c1 + ld);
      f.fill(0, c2 + T, c2 + ld);
    }
    wk.rowStats32(src * 8, ld, T, c1 * 8, c2 * 8, ent * 8, cols);
    out.set(f.subarray(ent, ent + T));
    if (cols) {
      col!.set(f.subarray(c1, c1 + T));
      col2!.set(f.subarray(c2, c2 + T));
    }
  });
  return out;
}

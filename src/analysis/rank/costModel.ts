/**
 * The fixed cost model that chooses the k* path (kStar.ts): nanoseconds per kernel operation, per backend. Fixed so
 * that the choice, and so the steps taken, are deterministic; only the speed depends on it, never the result.
 * Imports this folder only.
 */
import type { RowMatrix } from './rowMatrix';

/**
 * Rough per-operation costs (ns) of the kernels, per backend (kernels/): matvec per stored entry of A,
 * reorthogonalisation per (vector, component), QL per M², Gram per multiply-add, tridiagonalisation per T³/6. Their
 * ratios are what matter; where they came from is in docs/design/performance-notes.md.
 */
export const COSTS = {
  wasm: { matvec: 0.6, reorth: 1.0, ql: 25, gram: 0.35, frob32: 0.1, tridiag: 1.0 },
  js: { matvec: 3.5, reorth: 6.0, ql: 25, gram: 1.0, frob32: Infinity, tridiag: 4.0 },
} as const;

/** Multiply-adds of the Gram matrix computation (overlap of the row supports, lower triangle). */
export function gramFmas(m: RowMatrix): number {
  // Σ_i (row length)²/2: each row contributes to the pairs of its own support.
  let s = 0;
  for (let i = 0; i < m.n; i++) {
    const l = m.hi[i] - m.lo[i];
    s += (l * (l + 1)) / 2;
  }
  return s;
}

/**
 * The exact dense fallback: all eigenvalues of a symmetric matrix by Householder tridiagonalisation (packed lower
 * storage, fused rank-2 update + matvec) and implicit QL; the QL step alone also serves the small Lanczos
 * projections. Classic algorithms, written here because the analysis ships no numeric library. Imports kernels/ and
 * this folder.
 */
import { heapAlloc, kernels, paddedStride, withHeap } from '../kernels/heap';
import { gramPacked, packedRow } from './gram';
import { packRows } from './rowMatrix';

const EPS = Number.EPSILON;

// =============================================================================================
// Symmetric tridiagonal eigenvalues: implicit QL (EISPACK tql1 / Numerical Recipes tqli scheme)
// =============================================================================================

/**
 * All eigenvalues of the symmetric tridiagonal matrix with diagonal d[0..n) and off-diagonal
 * e[0..n-1) (e[i] couples i and i+1). On return d holds the eigenvalues (unordered); e is destroyed
 * (e must have length >= n). Absolute accuracy ~ eps·‖T‖.
 */
export function tridiagonalEigenvalues(d: Float64Array, e: Float64Array, n: number): void {
  if (n <= 1) return;
  e[n - 1] = 0;
  let anorm = 0;
  for (let i = 0; i < n; i++) {
    const t = Math.abs(d[i]) + Math.abs(e[i]) + (i > 0 ? Math.abs(e[i - 1]) : 0);
    if (t > anorm) anorm = t;
  }
  const tolAbs = EPS * anorm;
  for (let l = 0; l < n; l++) {
    let iter = 0;
    for (;;) {
      let m = l;
      for (; m < n - 1; m++) {
        const em = Math.abs(e[m]);
        if (em <= tolAbs || em <= EPS * (Math.abs(d[m]) + Math.abs(d[m + 1]))) break;
      }
      if (m === l) break;
      if (++iter > 100) throw new Error('tridiagonalEigenvalues: QL iteration did not converge');
      let g = (d[l + 1] - d[l]) / (2 * e[l]);
      let r = Math.sqrt(g * g + 1);
      g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
      let s = 1;
      let c = 1;
      let p = 0;
      let deflated = false;
      for (let i = m - 1; i >= l; i--) {
        const f = s * e[i];
        const b = c * e[i];
        r = Math.sqrt(f * f + g * g);
        e[i + 1] = r;
        if (r === 0) {
          d[i + 1] -= p;
          e[m] = 0;
          deflated = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
      }
      if (deflated) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
}

// =============================================================================================
// Dense symmetric eigenvalues: Householder tridiagonalisation (packed lower) + implicit QL
// =============================================================================================

/**
 * Reduces the symmetric matrix at heap offset g (packed lower storage, destroyed) to tridiagonal
 * form with diagonal d[0..n) and off-diagonal e[0..n-1). Unblocked Householder (as LAPACK
 * dsytd2), but the rank-2 update of step k is fused with the symmetric matvec of step k+1, so the
 * trailing matrix is streamed once per step instead of twice (column k+1, which defines the next
 * reflector, is updated first). ~(2/3)n³ multiply-adds.
 */
export function tridiagonalizePacked(g: number, n: number, d: Float64Array, e: Float64Array): void {
  const k = kernels();
  let f = k.f;
  if (n === 0) return;
  if (n === 1) {
    d[0] = f[g];
    return;
  }
  if (n === 2) {
    d[0] = f[g];
    d[1] = f[g + 2];
    e[0] = f[g + 1];
    return;
  }
  withHeap(() => {
    // five work vectors (absolute indices 0..n-1) at staggered offsets
    const ld = paddedStride(n);
    const base = heapAlloc(5 * ld);
    f = k.f;
    f.fill(0, base, base + 5 * ld);
    let ov = base; // reflector of the current step
    let op = base + ld; // tau·B·v for the current step
    let ov2 = base + 2 * ld; // next reflector
    let op2 = base + 3 * ld; // tau'·B'·v'
    const ow = base + 4 * ld; // w = p − (tau/2)(vᵀp)v

    // reflector for column c (rows c+1..n-1) into f[o..]; returns tau (0 = identity), sets e[c]
    const house = (c: number, o: number): number => {
      const x0 = f[g + packedRow(c + 1) + c];
      let sigma = 0;
      for (let i = c + 2; i < n; i++) {
        const x = f[g + packedRow(i) + c];
        sigma += x * x;
      }
      if (sigma === 0) {
        e[c] = x0;
        f.fill(0, o + c + 1, o + n);
        return 0;
      }
      const norm = Math.sqrt(x0 * x0 + sigma);
      const alpha = x0 >= 0 ? -norm : norm;
      const v0 = x0 - alpha;
      f[o + c + 1] = v0;
      for (let i = c + 2; i < n; i++) f[o + i] = f[g + packedRow(i) + c];
      e[c] = alpha;
      return 2 / (v0 * v0 + sigma);
    };

    // step 0: reflector and p = tau·B₀·v over the trailing block 1..n-1 (plain symmetric matvec)
    d[0] = f[g];
    let tau = house(0, ov);
    if (tau !== 0) {
      f.fill(0, op, op + n);
      for (let i = 1; i < n; i++) {
        const r = g + packedRow(i);
        const ui = f[ov + i];
        const s = k.matvecRow(r + 1, ov + 1, op + 1, i - 1, ui);
        f[op + i] += s + f[r + i] * ui;
      }
      k.scale(tau, op + 1, n - 1);
    }

    for (let step = 0; step <= n - 3; step++) {
      const c = step + 1;
      // w = p − (tau/2)(vᵀp) v; the update is B ← B − v wᵀ − w vᵀ
      if (tau !== 0) {
        const kk = 0.5 * tau * k.dot(ov + c, op + c, n - c);
        for (let i = c; i < n; i++) f[ow + i] = f[op + i] - kk * f[ov + i];
        const vc = f[ov + c];
        const wc = f[ow + c];
        for (let i = c; i < n; i++) f[g + packedRow(i) + c] -= f[ov + i] * wc + f[ow + i] * vc;
      }
      d[c] = f[g + packedRow(c) + c];
      const tau2 = house(c, ov2);
      // fused pass over rows c+1..n-1, columns c+1..i: apply the update of step k, accumulate B'·v'
      f.fill(0, op2 + c + 1, op2 + n);
      const doUpd = tau !== 0;
      const doMv = tau2 !== 0;
      const j0 = c + 1;
      for (let i = c + 1; i < n; i++) {
        const r = g + packedRow(i);
        const vi = f[ov + i];
        const wi = doUpd ? f[ow + i] : 0;
        const ui = f[ov2 + i];
        const len = i - j0;
        let s = 0;
        if (doUpd && doMv) s = k.fusedRow(r + j0, ow + j0, ov + j0, ov2 + j0, op2 + j0, len, vi, wi, ui);
        else if (doUpd) k.updateRow(r + j0, ow + j0, ov + j0, len, vi, wi);
        else if (doMv) s = k.matvecRow(r + j0, ov2 + j0, op2 + j0, len, ui);
        const xd = doUpd ? f[r + i] - 2 * vi * wi : f[r + i];
        f[r + i] = xd;
        f[op2 + i] += s + xd * ui;
      }
      if (doMv) k.scale(tau2, op2 + c + 1, n - c - 1);
      let t = ov;
      ov = ov2;
      ov2 = t;
      t = op;
      op = op2;
      op2 = t;
      tau = tau2;
    }
    d[n - 1] = f[g + packedRow(n - 1) + n - 1];
    // e[n-2] was set by house(n-2) (a single sub-diagonal entry, no reflection needed)
  });
}

/** All eigenvalues (unordered) of the symmetric matrix at heap offset g (packed lower, destroyed). */
export function symmetricEigenvaluesPacked(g: number, n: number): Float64Array {
  const d = new Float64Array(n);
  const e = new Float64Array(Math.max(n, 1));
  tridiagonalizePacked(g, n, d, e);
  tridiagonalEigenvalues(d, e, n);
  return d;
}

/** All eigenvalues (descending) of a symmetric n×n row-major matrix (only the lower triangle is read). */
export function symmetricEigenvalues(a: ArrayLike<number>, n: number): Float64Array {
  return withHeap(() => {
    const g = heapAlloc((n * (n + 1)) / 2);
    const f = kernels().f;
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) f[g + packedRow(i) + j] = a[i * n + j];
    const d = symmetricEigenvaluesPacked(g, n);
    d.sort();
    return d.reverse();
  });
}

/**
 * Squared singular values of the n×n row-major matrix a (descending), via eig(AᵀA) in float64.
 * (Computed on the exactly rescaled matrix and scaled back.)
 */
export function squaredSingularValues(a: ArrayLike<number>, n: number): Float64Array {
  return withHeap(() => {
    const m = packRows(a, n);
    const d = symmetricEigenvaluesPacked(gramPacked(m), n);
    d.sort();
    d.reverse();
    if (m.scale !== 1) for (let i = 0; i < n; i++) d[i] = d[i] / m.scale / m.scale;
    return d;
  });
}

/** AᵀA of an n×n row-major matrix as a JS array in packed lower storage (tests/diagnostics). */
export function gramPackedOf(a: ArrayLike<number>, n: number): Float64Array {
  return withHeap(() => {
    const m = packRows(a, n);
    if (m.scale !== 1) throw new RangeError('gramPackedOf: entries out of the unscaled range');
    const g = gramPacked(m);
    return kernels().f.slice(g, g + (n * (n + 1)) / 2);
  });
}

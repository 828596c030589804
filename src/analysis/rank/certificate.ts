/**
 * The k* certificate: from a Lanczos run, a lower bound on every cumulative energy S_k (Ritz values) and an upper
 * bound (the tridiagonal projection plus a bound on the unseen complement from its trace and Frobenius norm). When
 * the two bracket τ·tr at one k, that k is k*. docs/design/rank-certificate.md has the proof. Imports this folder
 * only.
 */
import { tridiagonalEigenvalues } from './dense';
import type { GramLanczos } from './lanczos';

const EPS = Number.EPSILON;

/**
 * out[k] = sum of the k largest eigenvalues of T_M with alpha[M-1] += rho (k = 0..M), i.e. of
 * Y1 in docs/design/rank-certificate.md; d, e: scratch of length >= M.
 */
function ritzPrefix(lz: GramLanczos, M: number, rho: number, d: Float64Array, e: Float64Array, out: Float64Array): void {
  for (let i = 0; i < M; i++) {
    d[i] = lz.alpha[i];
    e[i] = i + 1 < M ? lz.beta[i] : 0;
  }
  d[M - 1] += rho;
  tridiagonalEigenvalues(d, e, M);
  const s = d.subarray(0, M);
  s.sort();
  out[0] = 0;
  for (let k = 1; k <= M; k++) out[k] = out[k - 1] + s[M - k];
}

/**
 * Upper bound on S_r(C) for a PSD C of order d with tr(C) ∈ [R − rErr, R + rErr] and ‖C‖_F ≤ cF
 * (docs/design/rank-certificate.md): min(R + rErr, √r·cF, the energy bound with the trace constraint).
 */
function complementTop(r: number, R: number, rErr: number, cF: number, d: number): number {
  let b = Math.min(R + rErr, cF * Math.sqrt(r));
  const m = d - r;
  if (m > 0 && cF < Infinity) {
    const a = 1 / r + 1 / m;
    const rLo = Math.max(0, R - rErr);
    const disc = a * cF * cF - (rLo * rLo) / (r * m);
    if (disc >= 0) b = Math.min(b, ((R + rErr) / m + Math.sqrt(disc)) / a);
  }
  return b;
}

/**
 * Upper bound on S_j(G) from the prefix sums `pref` of eig(Y1): max_r pref[j−r] + S_r(Y2) with
 * S_r(Y2) ≤ complementTop(r) + ε for 1 ≤ r ≤ dim C (docs/design/rank-certificate.md). eps = 0 with pref of T_M is the ε → 0
 * limit without the corner term: a necessary condition, not a bound.
 */
function upperFromPrefix(pref: Float64Array, M: number, j: number, R: number, rErr: number, cF: number, dimC: number, eps: number): number {
  // S_{j−r}(Y1) exists for 0 ≤ j − r ≤ M: j > M needs r ≥ j − M directions from the complement.
  let u = j <= M ? pref[j] : -Infinity;
  const rMax = Math.min(j, dimC);
  for (let r = Math.max(1, j - M); r <= rMax; r++) {
    const v = pref[j - r] + complementTop(r, R, rErr, cF, dimC) + eps;
    if (v > u) u = v;
  }
  return u;
}

/**
 * Diagnostics/tests: the certificate's bounds after the Lanczos steps taken so far, for one ε > 0:
 * lower[k] ≤ S_k(AᵀA) ≤ upper[k] for k = 0..M (up to rounding). tr = ‖A‖_F² of the matrix the
 * Lanczos run was built on; cF an upper bound on ‖C‖_F (Infinity if unknown).
 */
export function lanczosEnergyBounds(lz: GramLanczos, tr: number, eps: number, cF = Infinity): { lower: Float64Array; upper: Float64Array } {
  const M = lz.size;
  const d = new Float64Array(M);
  const e = new Float64Array(M);
  const lower = new Float64Array(M + 1);
  const upper = new Float64Array(M + 1);
  ritzPrefix(lz, M, 0, d, e, lower);
  let sumAlpha = 0;
  for (let i = 0; i < M; i++) sumAlpha += lz.alpha[i];
  const R = Math.max(0, tr - sumAlpha);
  const dimC = lz.n - M;
  const beta = lz.beta[M - 1];
  const pt = new Float64Array(M + 1);
  if (dimC === 0 || beta === 0) pt.set(lower);
  else ritzPrefix(lz, M, (beta * beta) / eps, d, e, pt);
  const epsUsed = dimC === 0 ? 0 : eps;
  const rErr = (4 * lz.n + 4 * M) * EPS * tr;
  for (let j = 0; j <= M; j++) upper[j] = upperFromPrefix(pt, M, j, R, rErr, cF, dimC, epsUsed);
  return { lower, upper };
}

/** Certificate evaluation (docs/design/rank-certificate.md); keeps its scratch buffers between calls. */
export class Certifier {
  private d: Float64Array;
  private e: Float64Array;
  private p: Float64Array;
  private pt: Float64Array;
  /** Model cost (ns) of the last tryCertify. */
  lastCost = 0;
  /** After a failed tryCertify whose lower bound found k: the R below which the R bound alone would pass (−1 if unknown). */
  rNeeded = -1;
  /** After a tryCertify whose lower bound found k: (ε → 0 upper bound − (τ+δ)·tr)/tr (NaN if not reached). */
  excess = NaN;
  /** The k found by the lower bound in the last tryCertify (0 if none). */
  kLower = 0;

  constructor(
    n: number,
    private readonly qlCost: number,
  ) {
    const c = Math.min(n, 64);
    this.d = new Float64Array(c);
    this.e = new Float64Array(c);
    this.p = new Float64Array(c + 1);
    this.pt = new Float64Array(c + 1);
  }

  private ensure(M: number): void {
    if (this.d.length >= M) return;
    const c = Math.max(M, this.d.length * 2);
    this.d = new Float64Array(c);
    this.e = new Float64Array(c);
    this.p = new Float64Array(c + 1);
    this.pt = new Float64Array(c + 1);
  }

  /** Returns the certified k*, or 0 when the current Krylov space does not yet suffice. */
  tryCertify(lz: GramLanczos, tr: number, lowTarget: number, highTarget: number, cF: number, complete: boolean): number {
    const M = lz.size;
    this.ensure(M);
    this.lastCost = this.qlCost * M * M;
    this.rNeeded = -1;
    this.excess = NaN;
    this.kLower = 0;
    const P = this.p;
    ritzPrefix(lz, M, 0, this.d, this.e, P);
    let kL = 0;
    for (let k = 1; k <= M; k++) {
      if (P[k] >= lowTarget) {
        kL = k;
        break;
      }
    }
    if (kL === 0) return 0;
    if (kL === 1 || complete) return kL; // S_0 = 0 < τ·tr; complete: Ritz values = eigenvalues
    const j = kL - 1;
    this.rNeeded = highTarget - P[j - 1];
    let sumAlpha = 0;
    for (let i = 0; i < M; i++) sumAlpha += lz.alpha[i];
    const R = Math.max(0, tr - sumAlpha);
    const dimC = lz.n - M;
    const rErr = (4 * lz.n + 4 * M) * EPS * tr; // rounding of tr and of the α's
    const u0 = upperFromPrefix(P, M, j, R, rErr, cF, dimC, 0);
    this.excess = (u0 - highTarget) / tr;
    this.kLower = kL;
    if (u0 >= highTarget) return 0;
    const beta = lz.beta[M - 1];
    if (beta === 0) return kL; // exact invariant subspace: no coupling, Y1 = T_M, Y2 = C
    const slack = highTarget - u0;
    for (const f of EPS_FRACTIONS) {
      const eps = f * slack;
      this.lastCost += this.qlCost * M * M;
      ritzPrefix(lz, M, (beta * beta) / eps, this.d, this.e, this.pt);
      if (upperFromPrefix(this.pt, M, j, R, rErr, cF, dimC, eps) < highTarget) return kL;
    }
    return 0;
  }

  /**
   * Certified bounds lo ≤ k* ≤ hi with lo > r from the current Krylov space, or null when it cannot show k* > r.
   * lo: S_j ≤ U_j < (τ−δ)·tr for j = lo − 1 (U_j as in tryCertify, extended past M by directions of C), and the
   * S_j are non-decreasing. hi: S_j ≥ L_j ≥ (τ+δ)·tr, where past M, L_j = tr(T_M) + (j − M)/(n − M)·R (the Ritz
   * frame plus the best j − M directions of C, whose energy is at least their share of tr(C) = R).
   */
  boundsAbove(lz: GramLanczos, tr: number, lowTarget: number, highTarget: number, cF: number, r: number): [number, number] | null {
    const M = lz.size;
    const n = lz.n;
    this.ensure(M);
    const P = this.p;
    ritzPrefix(lz, M, 0, this.d, this.e, P);
    let sumAlpha = 0;
    for (let i = 0; i < M; i++) sumAlpha += lz.alpha[i];
    const R = Math.max(0, tr - sumAlpha);
    const dimC = n - M;
    const rErr = (4 * n + 4 * M) * EPS * tr;
    this.lastCost = this.qlCost * M * M;
    if (r >= n || (r <= M && P[r] >= lowTarget)) return null; // k* ≤ r by the lower bound: exact is wanted
    // ε → 0 limit first: a necessary condition for every ε.
    if (upperFromPrefix(P, M, r, R, rErr, cF, dimC, 0) >= lowTarget) return null;
    const beta = lz.beta[M - 1];
    let pt = P;
    let eps = 0;
    if (dimC > 0 && beta !== 0) {
      const slack = lowTarget - upperFromPrefix(P, M, r, R, rErr, cF, dimC, 0);
      let found = false;
      for (const f of EPS_FRACTIONS) {
        eps = f * slack;
        this.lastCost += this.qlCost * M * M;
        ritzPrefix(lz, M, (beta * beta) / eps, this.d, this.e, this.pt);
        if (upperFromPrefix(this.pt, M, r, R, rErr, cF, dimC, eps) < lowTarget) {
          found = true;
          break;
        }
      }
      if (!found) return null;
      pt = this.pt;
    } else if (dimC === 0) return null; // complete Krylov space: tryCertify gives k* itself
    // lo − 1 = the largest j found with U_j < (τ−δ)·tr, by bisection over [r, n] (each tested j is certified on its own).
    let good = r;
    let bad = n;
    while (bad - good > 1) {
      const mid = (good + bad) >> 1;
      if (upperFromPrefix(pt, M, mid, R, rErr, cF, dimC, eps) < lowTarget) good = mid;
      else bad = mid;
    }
    this.lastCost += this.qlCost * n * Math.log2(n);
    const lo = good + 1;
    let hi = n;
    for (let k = 1; k <= M; k++) {
      if (P[k] >= highTarget) {
        hi = k;
        break;
      }
    }
    if (hi === n && dimC > 0) {
      const share = Math.max(0, R - rErr) / dimC;
      if (share > 0) hi = Math.min(n, M + Math.max(0, Math.ceil((highTarget - P[M]) / share)));
    }
    return [lo, Math.max(lo, hi)];
  }
}

/** Trial values of ε as fractions of the slack left by the ε → 0 limit. */
const EPS_FRACTIONS = [0.5, 0.2, 0.05, 0.01, 1e-3, 1e-5];

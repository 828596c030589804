/**
 * Attention rank metrics (Inheritune, Sanyal et al. 2024): k*, m*, entropy, sink mass, Block
 * Influence. Pure math: no vscode, no node:* imports (runs in the extension host, workers, browser).
 *
 * ── k*: certified count from a partial Lanczos run ───────────────────────────────────────────
 * k* = min{k : S_k ≥ τ·tr} with λ_1 ≥ … ≥ λ_T the eigenvalues of G = AᵀA (= σ_i²),
 * S_k = λ_1 + … + λ_k and tr = tr(G) = ‖A‖_F² (summed exactly from the entries).
 *
 * Lanczos on G (G never formed: Gx = Σ_i (a_i·x) a_i over the non-zero part of each row of A),
 * full reorthogonalisation, M steps: orthonormal Q (T×M), T_M = QᵀGQ tridiagonal with Ritz
 * values θ_1 ≥ … ≥ θ_M, and G·Q = Q·T_M + β·q_{M+1}·e_Mᵀ with q_{M+1} ⟂ Q, β = beta[M-1].
 *
 * Lower bound. By Ky Fan, S_k = max{tr(VᵀGV) : VᵀV = I_k}; taking V = Q·(top-k eigenvectors of
 * T_M) gives S_k ≥ L_k := θ_1 + … + θ_k (Cauchy interlacing).
 *
 * Upper bound. Complete Q to an orthonormal basis W = [Q, Q⊥]. Then
 *     WᵀGW = [[T_M, β·e_M·wᵀ], [β·w·e_Mᵀ, C]],  w = Q⊥ᵀq_{M+1} (unit),  C = Q⊥ᵀGQ⊥ ⪰ 0,
 *     tr(C) = tr − tr(T_M) =: R   (the energy the Krylov space has not seen).
 * For every ε > 0, [[ (β²/ε)·e eᵀ, −β·e wᵀ], [−β·w eᵀ, ε·w wᵀ]] ⪰ 0 (its 2×2 core [[β²/ε, −β],
 * [−β, ε]] has determinant 0), so
 *     G ≅ WᵀGW ⪯ Y := diag(Y1, Y2),  Y1 = T_M + (β²/ε)·e_M e_Mᵀ,  Y2 = C + ε·w wᵀ.
 * Loewner order gives λ_i(G) ≤ λ_i(Y) for all i, hence S_j(G) ≤ S_j(Y)
 *     = max_{r} [ S_{j−r}(Y1) + S_r(Y2) ],   S_r(Y2) ≤ S_r(C) + ε   (r ≥ 1).
 * S_r(C) from two global quantities, with μ_1 ≥ … ≥ μ_d ≥ 0 the eigenvalues of C, d = T − M:
 *   • Σμ = R, so S_r(C) ≤ R;
 *   • Σμ² = ‖C‖_F² =: F², so S_r(C) ≤ √r·F (Cauchy–Schwarz);
 *   • both: with S = S_r(C), S²/r + (R−S)²/(d−r) ≤ F² (Cauchy–Schwarz on the top r and on the
 *     other d − r), so S ≤ [R/m + √(F²(1/r + 1/m) − R²/(r·m))] / (1/r + 1/m), m = d − r
 *     (evaluated with R ± its rounding bound where that is the safe side).
 * F comes from ‖G‖_F: ‖C‖_F² = ‖G‖_F² − ‖T_M‖_F² − 2β² (block Frobenius norms of WᵀGW), so any
 * upper bound on ‖G‖_F² gives one on F. For attention (A ≥ 0 entrywise) linalg.ts bounds ‖G‖_F²
 * from float32 SIMD tiles without storing G (gramFrobeniusUpper: every G_jk is a sum of
 * non-negative products, so float32 partial sums over ≤ 32 rows, accumulated in float64, are
 * within a relative ε ≈ 34·2⁻²⁴ of it; ‖G‖_F ≤ ‖G̃‖_F/(1 − ε) (+ an underflow term)); this costs
 * ~T³/6 float32 multiply-adds, ~5× less than forming G in float64, and its slack (≈ 2ε‖G‖_F² in
 * F², ~1% of F at the point of certification) costs at most a step. Otherwise G itself is formed
 * (the dense fallback reuses it). U_j := that bound; Y1 is an M×M tridiagonal, so S(Y1) costs
 * one small QL solve per trial ε; converged Ritz values (tiny last eigenvector component) barely
 * move under the corner perturbation β²/ε, so a good ε costs only a sliver of the slack.
 * R alone certifies rank-1-like (sink) and smooth (uniform) heads after a few steps; noisy
 * near-uniform heads (row entropy ~0.98, k* ~15) keep ~5–10% of tr in a slowly decaying
 * power-law tail, so only F (which the tail dominates far less) can certify them, after the
 * Krylov space has absorbed the top ~2k* directions.
 *
 * Certificate. With k = min{k : L_k ≥ (τ−δ)·tr}: if k = 1 or U_{k−1} < (τ+δ)·tr for some ε, then
 * S_k ≥ (τ−δ)tr and S_{k−1} < (τ+δ)tr, so k = k* unless a cumulative energy lies within δ·tr of
 * τ·tr (δ = 1e-9, far inside the 1e-6 tie band of the spec; Lanczos rounding is ~1e-13·tr).
 * Else take more steps. Phase 1 uses R only; it ends when the projected cost of shrinking R to
 * what the R bound needs (R ∝ M^−s fitted to the recent steps) exceeds the cost of ‖G‖_F², or a
 * budget runs out. Phase 2 adds F (float32 bound when A ≥ 0 and L already found k, else G
 * formed) and runs to a second budget, extended up to half the cost of the dense solve while the
 * certificate's shortfall is projected to close within it; then all eigenvalues of G are
 * computed exactly (Householder tridiagonalisation + implicit QL, linalg.ts). The dense path is
 * exact to rounding. The budgets use a fixed cost model (deterministic: never wall-clock based).
 * All bounds hold for any starting vector, so a missed eigenvector can only delay, never falsify.
 * A Lanczos breakdown (coupling below n·eps·tr, i.e. rounding noise) restarts with a random
 * vector orthogonal to Q and coupling 0; the dropped coupling is far below δ·tr.
 * The O(T²)/O(T³) kernels run on WebAssembly SIMD (f64x2; f32x4 for the ‖G‖_F² tiles) when
 * available, else in plain JS (there G is formed whenever F is needed).
 */

import type { HeadReport } from '../shared/report';
import {
  GramLanczos,
  RowMatrix,
  frobeniusSquaredPacked,
  gramFrobeniusUpper,
  gramPacked,
  heapCopyRowsF32,
  kernels,
  packRows,
  rowStats,
  rowStatsOnHeap,
  sumSquares,
  symmetricEigenvaluesPacked,
  tridiagonalEigenvalues,
  withHeap,
} from './linalg';

export type KStarMode = 'mean' | 'per-seq';
export type DegenerateWhen = 'kStar' | 'mStar' | 'either';

export interface MetricOptions {
  tau: number;
  mode: KStarMode;
  degenerateWhen?: DegenerateWhen;
}

/** One head's metrics: exactly the report's per-head record (src/shared/report.ts documents each field). */
export type HeadMetrics = HeadReport;

export const DEFAULT_METRIC_OPTIONS: Readonly<MetricOptions> = { tau: 0.9, mode: 'mean', degenerateWhen: 'either' };

// ---------------------------------------------------------------------------------------------
// k*
// ---------------------------------------------------------------------------------------------

/** How k* was obtained (diagnostics, tests, benchmarks). */
export type KStarMethod = 'zero' | 'dense' | 'lanczos' | 'lanczos+gram' | 'gram-dense';

export interface KStarResult {
  kStar: number;
  method: KStarMethod;
  /** Lanczos steps taken (0 on the pure dense path). */
  steps: number;
}

export interface KStarSolverOptions {
  /** Use the dense solver directly for T <= this (default 48). */
  denseBelow?: number;
  /** Tie tolerance δ relative to tr (default 1e-9). */
  tieTolerance?: number;
  /** Multiplies the Lanczos step budgets before the Gram / dense phases (default 1). */
  budgetScale?: number;
  /** Never use the dense fallback while the Krylov space is incomplete (tests only). */
  noDense?: boolean;
  /** Lanczos start-vector seed. */
  seed?: number;
}

const DEFAULT_TIE = 1e-9;
const EPS = 2.220446049250313e-16;

function checkTau(tau: number): void {
  if (!(tau > 0 && tau <= 1)) throw new RangeError(`tau must be in (0, 1], got ${tau}`);
}

function checkSquare(a: ArrayLike<number>, T: number): void {
  if (!Number.isInteger(T) || T < 0) throw new RangeError(`T must be a non-negative integer, got ${T}`);
  if (a.length < T * T) throw new RangeError(`matrix has ${a.length} entries, need T*T = ${T * T}`);
}

/** Row-packed copy on the kernel heap (exactly rescaled if extreme) and its energy tr = ‖A‖_F². */
function prepare(a: ArrayLike<number>, T: number, heapSrc32?: number): { m: RowMatrix; tr: number } {
  const m = packRows(a, T, heapSrc32);
  return { m, tr: sumSquares(m) };
}

/** Smallest k with cumulative sum of the descending values ≥ target (n if never reached). */
function countToTarget(desc: Float64Array, n: number, target: number): number {
  let c = 0;
  for (let k = 0; k < n; k++) {
    c += desc[k];
    if (c >= target) return k + 1;
  }
  return n;
}

/**
 * k from all eigenvalues of AᵀA. The target allows for the rounding of the dense solve
 * (4·n·eps·tr, ≤ 1e-9·tr for n ≤ 10⁶), so e.g. τ = 1 counts the numerically non-zero spectrum.
 */
function kFromEigenvalues(ev: Float64Array, n: number, tau: number, tr: number): number {
  ev.sort();
  ev.reverse();
  return countToTarget(ev, n, tau * tr - 4 * n * EPS * tr);
}

/**
 * k* of one T×T row-major matrix (any real matrix; attention need not be stochastic here):
 * the smallest k whose top-k squared singular values reach τ of ‖A‖_F². Exact (certified, see the
 * header). Returns 0 for the zero matrix.
 */
export function kStarOf(a: Float64Array | Float32Array, T: number, tau: number): number {
  return kStarDetailed(a, T, tau).kStar;
}

/** k* by the exact dense float64 path only (Gram matrix + Householder + QL). Reference for tests. */
export function kStarDense(a: Float64Array | Float32Array, T: number, tau: number): number {
  checkTau(tau);
  checkSquare(a, T);
  return withHeap(() => {
    const { m, tr } = prepare(a, T);
    if (tr === 0) return 0;
    return kFromEigenvalues(symmetricEigenvaluesPacked(gramPacked(m), T), T, tau, tr);
  });
}

/**
 * Rough per-operation costs (ns) of the kernels, per backend (linalg.ts), used only to choose
 * between the paths; they make the choice deterministic (never wall-clock based). Measured on a
 * 2-core Xeon (Node 20): matvec per stored entry of A, reorthogonalisation per (vector, component),
 * QL per M², Gram per multiply-add, tridiagonalisation per T³/6.
 */
const COSTS = {
  wasm: { matvec: 0.6, reorth: 1.0, ql: 25, gram: 0.35, frob32: 0.1, tridiag: 1.0 },
  js: { matvec: 3.5, reorth: 6.0, ql: 25, gram: 1.0, frob32: Infinity, tridiag: 4.0 },
} as const;

/** k* with diagnostics. See kStarOf. */
export function kStarDetailed(
  a: Float64Array | Float32Array,
  T: number,
  tau: number,
  opts: KStarSolverOptions = {},
): KStarResult {
  checkTau(tau);
  checkSquare(a, T);
  return withHeap(() => kStarOnHeap(a, T, tau, opts));
}

/** `heapSrc32`: A is the float32 heap copy there (heapCopyRowsF32), and `a` is not read. */
function kStarOnHeap(a: ArrayLike<number>, T: number, tau: number, opts: KStarSolverOptions, heapSrc32?: number): KStarResult {
  const { m, tr } = prepare(a, T, heapSrc32);
  if (tr === 0) return { kStar: 0, method: 'zero', steps: 0 };
  const n = T;
  const denseBelow = opts.denseBelow ?? 48;
  if (n === 1 || (n <= denseBelow && !opts.noDense)) {
    return { kStar: kFromEigenvalues(symmetricEigenvaluesPacked(gramPacked(m), n), n, tau, tr), method: 'dense', steps: 0 };
  }
  const delta = (opts.tieTolerance ?? DEFAULT_TIE) * tr;
  const lowTarget = tau * tr - delta;
  const highTarget = tau * tr + delta;
  const budgetScale = opts.budgetScale ?? 1;

  // Deterministic cost model (ns). Phase 1: Lanczos with the R bound. Phase 2: ‖G‖_F² known (from
  // float32 tiles with a rigorous error bound for a non-negative A, else by forming G = AᵀA, which
  // the dense solve reuses), Lanczos with the ‖C‖_F bound. Phase 3: dense solve.
  const cost = COSTS[kernels().kind];
  const fmas = gramFmas(m);
  const gramCost = cost.gram * fmas;
  const f32Frob = m.nonNegative && cost.frob32 < Infinity;
  const frobCost = f32Frob ? cost.frob32 * fmas : gramCost;
  const tridiagCost = (cost.tridiag * n * n * n) / 6;
  const budget1 = 0.12 * (gramCost + tridiagCost) * budgetScale;
  let budget2 = 0.15 * tridiagCost * budgetScale; // phase 2, plus what phase 1 left of budget1
  // Phase 2 goes on past budget2, up to half the cost of the dense solve, while the certificate's
  // shortfall (ε → 0 upper bound − (τ+δ)·tr, which falls as the Krylov space soaks up the top of
  // C) is projected to close within what is left of that.
  const budget2Max = 0.5 * (gramCost + tridiagCost) * budgetScale;
  const excessTrend: number[] = []; // (M, shortfall/tr) at the checks of phase 2 with the same k
  let trendK = 0;
  const stepsToClose = (): number => {
    const c = excessTrend.length >> 1;
    if (c < 3) return Infinity;
    const w = Math.max(2, c >> 2);
    const m1 = excessTrend[2 * (c - 1)];
    const e1 = excessTrend[2 * (c - 1) + 1];
    const m0 = excessTrend[2 * (c - 1 - w)];
    const e0 = excessTrend[2 * (c - 1 - w) + 1];
    const rate = (e0 - e1) / (m1 - m0);
    return e1 <= 0 ? 0 : rate > 0 ? e1 / rate : Infinity;
  };

  const lz = new GramLanczos(m, Math.min(n, 64), opts.seed ?? 12345);
  const cert = new Certifier(n, cost.ql);
  let spent = 0; // Lanczos + check cost of the current phase
  let sinceCheck = 0;
  let gram: number | null = null; // heap offset of G = AᵀA once formed
  let frobG2 = -1; // upper bound on ‖G‖_F² once known (phase 2)
  const captured: number[] = []; // Σα after each step (energy seen by the Krylov space)
  let lastRNeeded = -1;

  /** Runs the certificate on the current Krylov space; returns k* or 0. */
  const check = (M: number, complete: boolean): number => {
    let cF = Infinity;
    if (frobG2 >= 0) {
      let t2 = 0;
      for (let i = 0; i < M; i++) t2 += lz.alpha[i] * lz.alpha[i];
      for (let i = 0; i + 1 < M; i++) t2 += 2 * lz.beta[i] * lz.beta[i];
      const bM = lz.beta[M - 1];
      const slack = (4 * n + 4 * M) * EPS * tr * tr; // rounding of ‖G‖_F² (when formed), ‖T_M‖_F², the Lanczos relation
      cF = Math.sqrt(Math.max(0, frobG2 - t2 - 2 * bM * bM) + slack);
    }
    const k = cert.tryCertify(lz, tr, lowTarget, highTarget, cF, complete);
    spent += cert.lastCost;
    sinceCheck = 0;
    lastRNeeded = cert.rNeeded;
    if (frobG2 >= 0 && cert.kLower > 0) {
      if (cert.kLower !== trendK) excessTrend.length = 0;
      trendK = cert.kLower;
      excessTrend.push(M, cert.excess);
    }
    return k;
  };
  const done = (k: number): KStarResult => ({ kStar: k, method: frobG2 < 0 ? 'lanczos' : 'lanczos+gram', steps: lz.size });

  for (;;) {
    lz.step();
    const M = lz.size;
    const stepCost = cost.matvec * m.nnz + cost.reorth * M * n;
    spent += stepCost;
    sinceCheck += stepCost;
    let sumAlpha = 0;
    for (let i = 0; i < M; i++) sumAlpha += lz.alpha[i];
    captured.push(sumAlpha);

    const complete = M === n;
    if (complete || (sumAlpha >= lowTarget && (M <= 24 || cost.ql * M * M <= 0.25 * sinceCheck))) {
      const k = check(M, complete);
      if (k > 0) return done(k);
    }
    if (complete) break; // only reachable through rounding at τ ≈ 1: use the dense solve
    if (opts.noDense) {
      // tests: the ‖C‖_F bound as soon as the R bound alone is hopeless (no dense fallback)
      if (frobG2 < 0 && lastRNeeded >= 0 && M >= 8) frobG2 = frobeniusOf(m);
      continue;
    }

    // Projected steps to a target of the captured energy Σα (linear in the recent rate, which
    // is optimistic since the energy captured per step tends to decrease).
    const stepsTo = (target: number): number => {
      if (sumAlpha >= target) return 0;
      if (M < 8) return 0;
      const w = Math.max(4, M >> 2);
      const rate = (sumAlpha - captured[M - 1 - w]) / w;
      return rate > 0 ? (target - sumAlpha) / rate : Infinity;
    };
    // Projected steps until the unseen energy R = tr − Σα is down to `r`, fitting R ∝ M^−s to
    // the recent steps (the tail of an attention spectrum decays like a power law, so this is
    // far less optimistic than stepsTo when R has to shrink by a large factor).
    const stepsToR = (r: number): number => {
      const rNow = tr - sumAlpha;
      if (rNow <= r) return 0;
      if (M < 8 || !(r > 0)) return r > 0 ? 0 : Infinity;
      const w = Math.max(4, M >> 2);
      const rThen = tr - captured[M - 1 - w];
      const s = Math.log(rThen / rNow) / Math.log(M / (M - w));
      return s > 0 ? M * (Math.pow(rNow / r, 1 / s) - 1) : Infinity;
    };
    if (frobG2 < 0) {
      const left = budget1 - spent;
      let leave = left < 0 || stepsTo(lowTarget) * stepCost > left;
      // Ritz values good enough, but the unseen energy R is still too large for the R bound
      if (!leave && lastRNeeded >= 0) leave = stepsToR(lastRNeeded) * stepCost > Math.min(left, frobCost);
      if (!leave) continue;
      if (stepsTo(lowTarget) * stepCost > budget2) break; // even the lower bound is far: dense
      // Lower bound already at k: only the upper bound is missing, so the float32 ‖G‖_F² (a
      // fraction of the cost of G) usually settles it, and phase 2 may also use what phase 1
      // left. Otherwise a dense solve is likely: form G, which it reuses.
      if (f32Frob && sumAlpha >= lowTarget) {
        const b = gramFrobeniusUpper(m);
        if (b !== null) {
          frobG2 = b;
          budget2 += Math.max(0, left);
        }
      }
      if (frobG2 < 0) {
        gram = gramPacked(m);
        frobG2 = frobeniusSquaredPacked(gram, n);
      }
      spent = 0;
      if (sumAlpha >= lowTarget) {
        const k = check(M, false);
        if (k > 0) return done(k);
      }
      if (stepsTo(lowTarget) * stepCost <= budget2) continue;
    } else if (spent <= budget2 && stepsTo(lowTarget) * stepCost <= budget2 - spent) {
      continue;
    } else if (spent <= budget2Max && sumAlpha >= lowTarget && stepsToClose() * stepCost <= budget2Max - spent) {
      continue;
    }
    break;
  }
  const g = gram ?? gramPacked(m);
  const method: KStarMethod = frobG2 < 0 ? 'dense' : 'gram-dense';
  return { kStar: kFromEigenvalues(symmetricEigenvaluesPacked(g, n), n, tau, tr), method, steps: lz.size };
}

/** Upper bound on ‖AᵀA‖_F²: float32 tiles with a rigorous error bound when possible, else exact via G. */
function frobeniusOf(m: RowMatrix): number {
  const b = m.nonNegative ? gramFrobeniusUpper(m) : null;
  return b ?? withHeap(() => frobeniusSquaredPacked(gramPacked(m), m.n));
}

/** Multiply-adds of the Gram matrix computation (overlap of the row supports, lower triangle). */
function gramFmas(m: RowMatrix): number {
  // Σ_i (row length)²/2: each row contributes to the pairs of its own support.
  let s = 0;
  for (let i = 0; i < m.n; i++) {
    const l = m.hi[i] - m.lo[i];
    s += (l * (l + 1)) / 2;
  }
  return s;
}

/**
 * out[k] = sum of the k largest eigenvalues of T_M with alpha[M-1] += rho (k = 0..M), i.e. of
 * Y1 in the header; d, e: scratch of length >= M.
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
 * (header): min(R + rErr, √r·cF, the energy bound with the trace constraint).
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
 * S_r(Y2) ≤ complementTop(r) + ε for 1 ≤ r ≤ dim C (header). eps = 0 with pref of T_M is the ε → 0
 * limit without the corner term: a necessary condition, not a bound.
 */
function upperFromPrefix(pref: Float64Array, j: number, R: number, rErr: number, cF: number, dimC: number, eps: number): number {
  let u = pref[j];
  const rMax = Math.min(j, dimC);
  for (let r = 1; r <= rMax; r++) {
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
  for (let j = 0; j <= M; j++) upper[j] = upperFromPrefix(pt, j, R, rErr, cF, dimC, epsUsed);
  return { lower, upper };
}

/** Certificate evaluation (see the header); keeps its scratch buffers between calls. */
class Certifier {
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
    const u0 = upperFromPrefix(P, j, R, rErr, cF, dimC, 0);
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
      if (upperFromPrefix(this.pt, j, R, rErr, cF, dimC, eps) < highTarget) return kL;
    }
    return 0;
  }
}

/** Trial values of ε as fractions of the slack left by the ε → 0 limit. */
const EPS_FRACTIONS = [0.5, 0.2, 0.05, 0.01, 1e-3, 1e-5];

// ---------------------------------------------------------------------------------------------
// m*
// ---------------------------------------------------------------------------------------------

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
  for (const [name, v] of [['batch', batch], ['numHeads', numHeads], ['T', T]] as const) {
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
export function batchMeanHead(pattern: Float32Array, batch: number, numHeads: number, head: number, T: number, out?: Float64Array): Float64Array {
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
  let ks = 0;
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
      ks += kStarOf(pattern.subarray(o, o + TT), T, tau);
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

  const kStar = perSeq ? ks / batch : kStarOf(mean, T, tau);
  const mStar = perSeq ? ms / batch : mStarFromColumnSums(col, tau);
  const mStarSquared = perSeq ? ms2 / batch : mStarFromColumnSums(col2, tau);
  return { kStar, mStar, mStarSquared, entropy, sinkMass, dominantColumn };
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
  const { plogp, kStar } = withHeap(() => {
    const src = heapCopyRowsF32(T, rowOf);
    const plogp = rowStatsOnHeap(src, T, col, col2);
    return { plogp, kStar: kStarOnHeap(EMPTY, T, opts.tau, {}, src).kStar };
  });
  let entSum = 0;
  for (let i = 1; i < T; i++) entSum -= plogp[i] * invLog[i];
  let dominantColumn = 0;
  for (let j = 1; j < T; j++) if (col[j] > col[dominantColumn]) dominantColumn = j;
  return {
    kStar,
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

/**
 * A head is degenerate when k* = 1 or m* = 1 (per `when`, default 'either'). Per-seq means are
 * ≥ 1 unless a matrix is all zero, so `≤ 1` means "1 for every sequence" (a zero head counts too).
 */
export function isDegenerate(h: HeadMetrics, when: DegenerateWhen = 'either'): boolean {
  const k = h.kStar <= 1;
  const m = h.mStar <= 1;
  if (when === 'kStar') return k;
  if (when === 'mStar') return m;
  return k || m;
}

/** A layer is lazy when all its heads are degenerate. */
export function isLazyLayer(heads: readonly HeadMetrics[], when: DegenerateWhen = 'either'): boolean {
  return heads.length > 0 && heads.every((h) => isDegenerate(h, when));
}

// ---------------------------------------------------------------------------------------------
// Block Influence and angular distance
// ---------------------------------------------------------------------------------------------

function checkHidden(hIn: Float32Array, hOut: Float32Array, batch: number, T: number, d: number): void {
  const n = batch * T * d;
  if (hIn.length !== n || hOut.length !== n) {
    throw new RangeError(`hidden states must have batch*T*d = ${n} entries (got ${hIn.length} and ${hOut.length})`);
  }
  if (!(batch >= 1 && T >= 1 && d >= 1)) throw new RangeError('batch, T and d must be positive');
}

/** cos(x, y) of two length-d slices; 1 when both are zero, 0 when exactly one is. */
function cosine(x: Float32Array, y: Float32Array, o: number, d: number): number {
  let xy = 0;
  let xx = 0;
  let yy = 0;
  for (let k = 0; k < d; k++) {
    const a = x[o + k];
    const b = y[o + k];
    xy += a * b;
    xx += a * a;
    yy += b * b;
  }
  if (xx === 0 && yy === 0) return 1;
  if (xx === 0 || yy === 0) return 0;
  const c = xy / Math.sqrt(xx * yy);
  return c > 1 ? 1 : c < -1 ? -1 : c;
}

/** Block Influence: 1 − mean over (batch, positions) of cos(h_l, h_{l+1}); inputs are [batch, T, d]. */
export function blockInfluence(hIn: Float32Array, hOut: Float32Array, batch: number, T: number, d: number): number {
  checkHidden(hIn, hOut, batch, T, d);
  let s = 0;
  for (let b = 0; b < batch; b++) for (let t = 0; t < T; t++) s += cosine(hIn, hOut, (b * T + t) * d, d);
  return 1 - s / (batch * T);
}

/** Angular distance arccos(cos(h_l, h_{l+1}))/π of the last token, mean over the batch. */
export function angularDistance(hIn: Float32Array, hOut: Float32Array, batch: number, T: number, d: number): number {
  checkHidden(hIn, hOut, batch, T, d);
  let s = 0;
  for (let b = 0; b < batch; b++) s += Math.acos(cosine(hIn, hOut, (b * T + T - 1) * d, d)) / Math.PI;
  return s / batch;
}

// ---------------------------------------------------------------------------------------------
// JIT warm-up
// ---------------------------------------------------------------------------------------------

/**
 * Runs the k* kernels on a small synthetic attention matrix (once per process), so that V8 has
 * compiled them with its optimising tiers before the first real heads arrive (cold, the first
 * heads at T = 1024 take ~2–3× their steady-state time). It costs ~50–70 ms of cold-code time
 * itself, so it only pays off where the thread would otherwise wait, e.g. while onnxruntime runs
 * the first layer; it is not run at module load (measured: no net gain there).
 */
export function warmUpKStar(): void {
  if (warmedUp) return;
  warmedUp = true;
  const T = 256;
  const a = new Float64Array(T * T);
  let s = 12345;
  for (let i = 0; i < T; i++) {
    let z = 0;
    for (let j = 0; j <= i; j++) {
      s = (Math.imul(s, 1103515245) + 12345) | 0;
      const v = Math.exp(0.4 * ((s >>> 8) / 8388608 - 1));
      a[i * T + j] = v;
      z += v;
    }
    for (let j = 0; j <= i; j++) a[i * T + j] /= z;
  }
  for (let r = 0; r < 3; r++) kStarDetailed(a, T, 0.9, { noDense: true });
}
let warmedUp = false;

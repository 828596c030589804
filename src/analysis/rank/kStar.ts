/**
 * k* of one attention matrix: the fewest squared singular values holding τ of ‖A‖_F², certified exactly. Lanczos on
 * AᵀA with the certificate's bounds (certificate.ts) while they are cheaper, the dense solve (dense.ts) otherwise;
 * the path is chosen by a fixed cost model (costModel.ts), never by the clock. The derivation and the proof are in
 * docs/design/rank-certificate.md. Imports kernels/ and this folder.
 */
import { withHeap, kernels } from '../kernels/heap';
import { Certifier } from './certificate';
import { COSTS, gramFmas } from './costModel';
import { symmetricEigenvaluesPacked } from './dense';
import { frobeniusSquaredPacked, gramFrobeniusUpper, gramPacked } from './gram';
import { GramLanczos } from './lanczos';
import { packRows, RowMatrix, sumSquares } from './rowMatrix';

/** How k* was obtained (diagnostics, tests, benchmarks). */
export type KStarMethod = 'zero' | 'dense' | 'lanczos' | 'lanczos+gram' | 'gram-dense' | 'bounds';

export interface KStarResult {
  /** k* when exact; the lower end of `bounds` otherwise. */
  kStar: number;
  /** Certified lo ≤ k* ≤ hi with lo > exactUpTo, when k* was not resolved exactly (method 'bounds'). */
  bounds?: [number, number];
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
  /**
   * k* exact when it is at most this rank; a matrix certified to have k* above it gets bounds instead of the
   * full spectrum (undefined: always exact).
   */
  exactUpTo?: number;
}

const DEFAULT_TIE = 1e-9;
const EPS = Number.EPSILON;

export function checkTau(tau: number): void {
  if (!(tau > 0 && tau <= 1)) throw new RangeError(`tau must be in (0, 1], got ${tau}`);
}

export function checkSquare(a: ArrayLike<number>, T: number): void {
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
 * the smallest k whose top-k squared singular values reach τ of ‖A‖_F². Exact (certified:
 * docs/design/rank-certificate.md). Returns 0 for the zero matrix.
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

/** k* with diagnostics. See kStarOf. */
export function kStarDetailed(a: Float64Array | Float32Array, T: number, tau: number, opts: KStarSolverOptions = {}): KStarResult {
  checkTau(tau);
  checkSquare(a, T);
  return withHeap(() => kStarOnHeap(a, T, tau, opts));
}

/** `heapSrc32`: A is the float32 heap copy there (heapCopyRowsF32), and `a` is not read. */
export function kStarOnHeap(a: ArrayLike<number>, T: number, tau: number, opts: KStarSolverOptions, heapSrc32?: number): KStarResult {
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

  // Projected steps to a target of the captured energy Σα (linear in the recent rate, which
  // is optimistic since the energy captured per step tends to decrease).
  const projectedSteps = (target: number, sumAlpha: number, M: number): number => {
    if (sumAlpha >= target) return 0;
    if (M < 8) return 0;
    const w = Math.max(4, M >> 2);
    const rate = (sumAlpha - captured[M - 1 - w]) / w;
    return rate > 0 ? (target - sumAlpha) / rate : Infinity;
  };

  const lz = new GramLanczos(m, Math.min(n, 64), opts.seed ?? 12345);
  const cert = new Certifier(n, cost.ql);
  let spent = 0; // Lanczos + check cost of the current phase
  let sinceCheck = 0;
  let gram: number | null = null; // heap offset of G = AᵀA once formed
  let frobG2 = -1; // upper bound on ‖G‖_F² once known (phase 2)
  const captured: number[] = []; // Σα after each step (energy seen by the Krylov space)
  let lastRNeeded = -1;

  /** Upper bound on ‖C‖_F from an upper bound F2 on ‖G‖_F² (Infinity when F2 < 0: unknown). */
  const complementF = (F2: number, M: number): number => {
    if (F2 < 0) return Infinity;
    let t2 = 0;
    for (let i = 0; i < M; i++) t2 += lz.alpha[i] * lz.alpha[i];
    for (let i = 0; i + 1 < M; i++) t2 += 2 * lz.beta[i] * lz.beta[i];
    const bM = lz.beta[M - 1];
    const slack = (4 * n + 4 * M) * EPS * tr * tr; // rounding of ‖G‖_F² (when formed), ‖T_M‖_F², the Lanczos relation
    return Math.sqrt(Math.max(0, F2 - t2 - 2 * bM * bM) + slack);
  };

  /** Runs the certificate on the current Krylov space; returns k* or 0. */
  const check = (M: number, complete: boolean): number => {
    const cF = complementF(frobG2 >= 0 ? frobG2 : boundF2, M); // boundF2: bounds mode only
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

  // Bounds mode (opts.exactUpTo = r < n): a matrix whose k* is certified above r stops with lo ≤ k* ≤ hi. Tried when
  // the Krylov space doubles while its energy is projected to reach τ·tr only past r, and before any dense solve.
  const exactUpTo = opts.exactUpTo;
  const boundsWanted = exactUpTo !== undefined && exactUpTo >= 1 && exactUpTo < n;
  let boundF2 = -1; // upper bound on ‖G‖_F² for the bounds (the float32 one, or ‖G‖_F² once G is formed)
  let nextBoundsAt = 16;
  // Instead of forming G or a dense solve, the Lanczos run goes on (bounds tried at each doubling and at the end, the
  // certificate as usual) up to 2r + 32 steps or half the dense cost; then the dense solve. Measured on the real
  // model (bench/kstar_bounds.ts): heads with k* just above r are bounded this way, not by dense solves.
  let extending = false;
  let extendSpent = 0;
  const extendBudget = 0.5 * (gramCost + tridiagCost);
  const extendCap = Math.min(n - 1, 2 * (exactUpTo ?? 0) + 32);
  const likelyAbove = (M: number, sumAlpha: number): boolean => M + projectedSteps(lowTarget, sumAlpha, M) > exactUpTo!;
  const extend = (M: number): boolean => {
    if (!boundsWanted || extending || M >= extendCap) return false;
    extending = true;
    return true;
  };
  let triedAt = -1; // Krylov size and ‖G‖_F² bound of the last bounds that failed: the same inputs fail again
  let triedF2 = -1;
  const tryBounds = (): KStarResult | null => {
    if (frobG2 >= 0) boundF2 = frobG2;
    else if (boundF2 < 0) {
      const b = f32Frob ? gramFrobeniusUpper(m) : null;
      if (b === null) return null; // only with A ≥ 0 before G is formed (the dense break forms it)
      boundF2 = b;
      spent += frobCost;
    }
    if (lz.size === triedAt && boundF2 === triedF2) return null;
    triedAt = lz.size;
    triedF2 = boundF2;
    const b = cert.boundsAbove(lz, tr, lowTarget, highTarget, complementF(boundF2, lz.size), exactUpTo!);
    spent += cert.lastCost;
    if (!b) return null;
    if (b[0] === b[1]) return { kStar: b[0], method: frobG2 < 0 ? 'lanczos' : 'lanczos+gram', steps: lz.size };
    return { kStar: b[0], bounds: b, method: 'bounds', steps: lz.size };
  };

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
    if (extending) extendSpent += stepCost;
    const lastExtension = extending && (M >= extendCap || extendSpent >= extendBudget);
    if (boundsWanted && (M === nextBoundsAt || lastExtension) && !complete) {
      if (M === nextBoundsAt) nextBoundsAt *= 2;
      if (extending || likelyAbove(M, sumAlpha)) {
        const b = tryBounds();
        if (b) return b;
      }
    }
    if (complete) break; // only reachable through rounding at τ ≈ 1: use the dense solve
    if (extending) {
      if (lastExtension) break;
      continue;
    }
    if (opts.noDense) {
      // tests: the ‖C‖_F bound as soon as the R bound alone is hopeless (no dense fallback)
      if (frobG2 < 0 && lastRNeeded >= 0 && M >= 8) frobG2 = frobeniusOf(m);
      continue;
    }

    const stepsTo = (target: number): number => projectedSteps(target, sumAlpha, M);
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
      if (stepsTo(lowTarget) * stepCost > budget2) {
        if (extend(M)) continue;
        break; // even the lower bound is far: dense
      }
      // Lower bound already at k: only the upper bound is missing, so the float32 ‖G‖_F² (a
      // fraction of the cost of G) usually settles it, and phase 2 may also use what phase 1
      // left. Otherwise a dense solve is likely: form G, which it reuses.
      if (f32Frob && sumAlpha >= lowTarget) {
        const b = boundF2 >= 0 ? boundF2 : gramFrobeniusUpper(m);
        if (b !== null) {
          frobG2 = b;
          budget2 += Math.max(0, left);
        }
      }
      if (frobG2 < 0 && extend(M)) continue;
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
    if (extend(M)) continue;
    break;
  }
  if (boundsWanted) {
    const b = tryBounds();
    if (b) return b;
  }
  const g = gram ?? gramPacked(m);
  if (boundsWanted && !m.nonNegative && frobG2 < 0) {
    // G is formed for the dense solve anyway: its exact ‖G‖_F² may still spare the tridiagonalisation.
    gram = g;
    frobG2 = frobeniusSquaredPacked(g, n);
    const b = tryBounds();
    if (b) return b;
  }
  const method: KStarMethod = frobG2 < 0 ? 'dense' : 'gram-dense';
  return { kStar: kFromEigenvalues(symmetricEigenvaluesPacked(g, n), n, tau, tr), method, steps: lz.size };
}

/** Upper bound on ‖AᵀA‖_F²: float32 tiles with a rigorous error bound when possible, else exact via G. */
function frobeniusOf(m: RowMatrix): number {
  const b = m.nonNegative ? gramFrobeniusUpper(m) : null;
  return b ?? withHeap(() => frobeniusSquaredPacked(gramPacked(m), m.n));
}

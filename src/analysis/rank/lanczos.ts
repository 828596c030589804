/**
 * Lanczos on G = AᵀA (G never formed) with full reorthogonalisation: the Krylov basis and the tridiagonal projection
 * the k* certificate (certificate.ts) bounds the spectrum with. Imports kernels/, src/util and this folder.
 */
import { heapAlloc, kernels, paddedStride } from '../kernels/heap';
import { Xorshift } from '../../util/random';
import { gramMatvec, RowMatrix, sumSquares } from './rowMatrix';

const EPS = Number.EPSILON;

// =============================================================================================
// Lanczos on G = AᵀA with full (classical Gram–Schmidt, twice) reorthogonalisation
// =============================================================================================

/**
 * Lanczos tridiagonalisation of G = AᵀA (A a RowMatrix on the heap; G is never formed).
 * After `size` = M steps: Q = [q_0..q_{M-1}] orthonormal, T_M = tridiag(beta, alpha, beta) = QᵀGQ
 * and G·Q = Q·T_M + beta[M-1]·q_M·e_Mᵀ (q_M orthogonal to Q). A breakdown (invariant subspace)
 * is continued with a fresh random vector orthogonal to Q and a zero coupling. All quantities up
 * to float64 rounding. Heap memory: allocated at construction and when growing; it is released
 * with the heap mark of the caller.
 */
export class GramLanczos {
  readonly n: number;
  alpha: Float64Array;
  beta: Float64Array;
  size = 0;
  private capacity: number;
  private readonly ld: number;
  /** Heap offset of the Lanczos vectors: q_i at q + i·ld (rows 0..size valid). */
  private q: number;
  private readonly z: number;
  private readonly scratch: number;
  private h: Float64Array;
  private readonly rng: Xorshift;
  /** Couplings below this are rounding noise (n·eps·tr(G), tr(G) ≥ ‖G‖₂): treated as breakdowns. */
  private readonly breakdownTol: number;

  constructor(
    private readonly a: RowMatrix,
    capacityHint: number,
    seed = 12345,
  ) {
    const n = a.n;
    this.n = n;
    this.breakdownTol = n * EPS * sumSquares(a);
    this.ld = paddedStride(n);
    this.capacity = Math.max(1, Math.min(n, capacityHint));
    this.q = heapAlloc((this.capacity + 1) * this.ld);
    this.z = heapAlloc(n);
    this.scratch = heapAlloc(4);
    this.alpha = new Float64Array(this.capacity);
    this.beta = new Float64Array(this.capacity);
    this.h = new Float64Array(this.capacity + 1);
    this.rng = new Xorshift(seed);
    const f = kernels().f;
    for (let i = 0; i < n; i++) f[this.q + i] = this.rng.nextSigned();
    this.normalize(this.q);
  }

  /** Heap offset of q_i. */
  vector(i: number): number {
    return this.q + i * this.ld;
  }

  private grow(): void {
    const cap = Math.min(this.n, this.capacity * 2);
    const q = heapAlloc((cap + 1) * this.ld);
    const f = kernels().f;
    f.copyWithin(q, this.q, this.q + (this.capacity + 1) * this.ld);
    this.q = q;
    const al = new Float64Array(cap);
    al.set(this.alpha);
    this.alpha = al;
    const be = new Float64Array(cap);
    be.set(this.beta);
    this.beta = be;
    this.h = new Float64Array(cap + 1);
    this.capacity = cap;
  }

  /** One Lanczos step (requires size < n). */
  step(): void {
    const n = this.n;
    const k = this.size;
    if (k >= n) throw new Error('GramLanczos: Krylov space already complete');
    if (k >= this.capacity) this.grow();
    const K = kernels();
    const z = this.z;
    const qk = this.vector(k);
    gramMatvec(this.a, qk, z, this.scratch);
    const a = K.dot(qk, z, n);
    this.alpha[k] = a;
    if (k > 0) K.sub2(a, qk, this.beta[k - 1], qk - this.ld, z, n);
    else K.axpy(-a, qk, z, n);
    this.reorthogonalize(z, k + 1);
    this.reorthogonalize(z, k + 1);
    this.size = k + 1;
    if (k + 1 === n) {
      this.beta[k] = 0; // Krylov space is the whole space: no coupling left
      return;
    }
    const b = Math.sqrt(K.sumsq(z, n));
    const next = this.vector(k + 1);
    const f = K.f;
    if (!(b > this.breakdownTol)) {
      // breakdown: (numerically) invariant subspace. z is at the rounding level of G·q_k, so it
      // carries no direction: drop the coupling (an error ≤ n·eps·tr, far below the certificate's
      // tie tolerance) and continue with a random vector orthogonal to Q; T_M stays a valid
      // projection with a zero coupling. Normalising such a z instead destroys orthogonality.
      this.beta[k] = 0;
      for (let i = 0; i < n; i++) f[next + i] = this.rng.nextSigned();
      for (let pass = 0; pass < 3; pass++) {
        this.reorthogonalize(next, k + 1);
        this.normalize(next);
      }
      return;
    }
    this.beta[k] = b;
    f.copyWithin(next, z, z + n);
    K.scale(1 / b, next, n);
    if (b < 1e-6 * (Math.abs(a) + (k > 0 ? this.beta[k - 1] : 0)) || b < 1e6 * this.breakdownTol) {
      // heavy cancellation: one more pass keeps q_{k+1} orthogonal to working precision
      this.reorthogonalize(next, k + 1);
      this.normalize(next);
    }
  }

  /** Classical Gram–Schmidt pass: z −= Q_{[0,to)} (Q_{[0,to)}ᵀ z). */
  private reorthogonalize(z: number, to: number): void {
    const K = kernels();
    const n = this.n;
    const h = this.h;
    const d = this.scratch;
    let r = 0;
    for (; r + 3 < to; r += 4) {
      // four dots sharing the loads of z (the vectors are ld apart)
      const v = this.vector(r);
      K.dot4(z, v, v + this.ld, v + 2 * this.ld, v + 3 * this.ld, n, d);
      const f = K.f;
      h[r] = f[d];
      h[r + 1] = f[d + 1];
      h[r + 2] = f[d + 2];
      h[r + 3] = f[d + 3];
    }
    for (; r < to; r++) h[r] = K.dot(this.vector(r), z, n);
    r = 0;
    for (; r + 1 < to; r += 2) K.sub2(h[r], this.vector(r), h[r + 1], this.vector(r + 1), z, n);
    if (r < to) K.axpy(-h[r], this.vector(r), z, n);
  }

  private normalize(x: number): void {
    const K = kernels();
    const s = K.sumsq(x, this.n);
    K.scale(s > 0 ? 1 / Math.sqrt(s) : 0, x, this.n);
  }
}

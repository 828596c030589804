/**
 * Small float64 linear-algebra kernels for the attention rank metrics (see metrics.ts).
 *
 * Why hand-written: the extension must run in the extension host, in a worker thread and in the
 * browser (webview) with no native addon and no numeric npm dependency (none is installed), and
 * the only eigen problems we need are (a) eigenvalues of small symmetric tridiagonal matrices
 * (Lanczos projections) and (b) all eigenvalues of a dense symmetric PSD Gram matrix as the exact
 * fallback. Both are classic, short algorithms: Householder tridiagonalisation and implicit QL.
 *
 * Conventions: square matrices are row-major Float64Array; "lower storage" means only entries
 * (i, j) with j <= i of an n×n row-major array are read or written.
 */

const EPS = 2.220446049250313e-16;

// ---------------------------------------------------------------------------------------------
// Row-packed matrix (skips zero runs at the start/end of each row, e.g. the zero upper triangle)
// ---------------------------------------------------------------------------------------------

/** A square n×n matrix stored row by row; row i holds columns [lo[i], hi[i]) at data[off[i]...]. */
export interface RowMatrix {
  readonly n: number;
  readonly lo: Int32Array;
  readonly hi: Int32Array;
  readonly off: Int32Array;
  readonly data: Float64Array;
  /** Number of stored entries (sum of hi - lo). */
  readonly nnz: number;
}

/** Largest |a_ij| (NaN propagates as NaN). */
export function maxAbs(a: ArrayLike<number>, len: number): number {
  let m = 0;
  for (let i = 0; i < len; i++) {
    const v = a[i];
    const x = v < 0 ? -v : v;
    if (x > m) m = x;
    else if (x !== x) return NaN;
  }
  return m;
}

/** A power of two s such that s·maxAbs is in [0.5, 1); scaling by it is exact (no rounding). */
export function powerOfTwoScale(maxAbsValue: number): number {
  if (!(maxAbsValue > 0) || !Number.isFinite(maxAbsValue)) return 1;
  let e = Math.floor(Math.log2(maxAbsValue)) + 1;
  // guard log2 rounding at exact powers of two
  if (2 ** (e - 1) > maxAbsValue) e -= 1;
  if (e > 1000) return 2 ** -1000 * 2 ** -(e - 1000);
  if (e < -1000) return 2 ** 1000 * 2 ** (-e - 1000);
  return 2 ** -e;
}

/** Packs the n×n row-major matrix `a`, multiplied by `scale`, dropping leading/trailing zeros of each row. */
export function packRows(a: ArrayLike<number>, n: number, scale = 1): RowMatrix {
  const lo = new Int32Array(n);
  const hi = new Int32Array(n);
  const off = new Int32Array(n + 1);
  let nnz = 0;
  for (let i = 0; i < n; i++) {
    const r = i * n;
    let l = 0;
    while (l < n && a[r + l] === 0) l++;
    let h = n;
    while (h > l && a[r + h - 1] === 0) h--;
    lo[i] = l;
    hi[i] = h;
    off[i] = nnz;
    nnz += h - l;
  }
  off[n] = nnz;
  const data = new Float64Array(nnz);
  for (let i = 0; i < n; i++) {
    const r = i * n;
    const o = off[i] - lo[i];
    for (let j = lo[i], h = hi[i]; j < h; j++) data[o + j] = a[r + j] * scale;
  }
  return { n, lo, hi, off, data, nnz };
}

/** Σ a_ij² (= ‖A‖_F² = tr(AᵀA)). */
export function sumSquares(m: RowMatrix): number {
  const d = m.data;
  let s0 = 0;
  let s1 = 0;
  const len = d.length;
  let i = 0;
  for (; i + 1 < len; i += 2) {
    s0 += d[i] * d[i];
    s1 += d[i + 1] * d[i + 1];
  }
  if (i < len) s0 += d[i] * d[i];
  return s0 + s1;
}

/** z = AᵀA q in a single pass over A: z = Σ_i (a_i·q) a_i (row a_i stays in L1 between dot and axpy). */
export function gramMatvec(m: RowMatrix, q: Float64Array, z: Float64Array): void {
  const { n, lo, hi, off, data } = m;
  z.fill(0, 0, n);
  for (let i = 0; i < n; i++) {
    const l = lo[i];
    const h = hi[i];
    if (h <= l) continue;
    const o = off[i] - l;
    let s0 = 0;
    let s1 = 0;
    let j = l;
    for (; j + 1 < h; j += 2) {
      s0 += data[o + j] * q[j];
      s1 += data[o + j + 1] * q[j + 1];
    }
    if (j < h) s0 += data[o + j] * q[j];
    const s = s0 + s1;
    if (s === 0) continue;
    for (j = l; j < h; j++) z[j] += s * data[o + j];
  }
}

// ---------------------------------------------------------------------------------------------
// Gram matrix G = AᵀA (lower storage)
// ---------------------------------------------------------------------------------------------

/**
 * G = AᵀA in lower storage (n×n row-major, entries j <= i). Uses a zero-padded column-major copy
 * of A so that every G_jk is a contiguous dot product over the rows where both columns can be
 * non-zero; four k's at a time share the loads of column j.
 */
export function gramLower(m: RowMatrix): Float64Array {
  const { n, lo, hi, off, data } = m;
  const at = new Float64Array(n * n); // at[j*n + i] = A_ij
  const clo = new Int32Array(n).fill(n);
  const chi = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const o = off[i] - lo[i];
    for (let j = lo[i], h = hi[i]; j < h; j++) {
      const v = data[o + j];
      if (v !== 0) {
        at[j * n + i] = v;
        if (i < clo[j]) clo[j] = i;
        if (i + 1 > chi[j]) chi[j] = i + 1;
      }
    }
  }
  const g = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const cj = j * n;
    const jl = clo[j];
    const jh = chi[j];
    const gr = j * n;
    if (jh <= jl) continue;
    let k = 0;
    for (; k + 3 <= j; k += 4) {
      // common overlap of column j with columns k..k+3
      const l0 = Math.max(jl, clo[k]), h0 = Math.min(jh, chi[k]);
      const l1 = Math.max(jl, clo[k + 1]), h1 = Math.min(jh, chi[k + 1]);
      const l2 = Math.max(jl, clo[k + 2]), h2 = Math.min(jh, chi[k + 2]);
      const l3 = Math.max(jl, clo[k + 3]), h3 = Math.min(jh, chi[k + 3]);
      const cl = Math.max(l0, l1, l2, l3);
      const ch = Math.min(h0, h1, h2, h3);
      const c0 = k * n, c1 = c0 + n, c2 = c1 + n, c3 = c2 + n;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let i = cl; i < ch; i++) {
        const x = at[cj + i];
        s0 += x * at[c0 + i];
        s1 += x * at[c1 + i];
        s2 += x * at[c2 + i];
        s3 += x * at[c3 + i];
      }
      if (cl >= ch) {
        s0 = dotRange(at, cj, c0, l0, h0);
        s1 = dotRange(at, cj, c1, l1, h1);
        s2 = dotRange(at, cj, c2, l2, h2);
        s3 = dotRange(at, cj, c3, l3, h3);
      } else {
        s0 += dotRange(at, cj, c0, l0, cl) + dotRange(at, cj, c0, ch, h0);
        s1 += dotRange(at, cj, c1, l1, cl) + dotRange(at, cj, c1, ch, h1);
        s2 += dotRange(at, cj, c2, l2, cl) + dotRange(at, cj, c2, ch, h2);
        s3 += dotRange(at, cj, c3, l3, cl) + dotRange(at, cj, c3, ch, h3);
      }
      g[gr + k] = s0;
      g[gr + k + 1] = s1;
      g[gr + k + 2] = s2;
      g[gr + k + 3] = s3;
    }
    for (; k <= j; k++) {
      g[gr + k] = dotRange(at, cj, k * n, Math.max(jl, clo[k]), Math.min(jh, chi[k]));
    }
  }
  return g;
}

function dotRange(a: Float64Array, ra: number, rb: number, l: number, h: number): number {
  let s = 0;
  for (let i = l; i < h; i++) s += a[ra + i] * a[rb + i];
  return s;
}

/** ‖G‖_F² of a symmetric matrix in lower storage. */
export function frobeniusSquaredLower(g: Float64Array, n: number): number {
  let diag = 0;
  let off = 0;
  for (let i = 0; i < n; i++) {
    const r = i * n;
    let s = 0;
    for (let j = 0; j < i; j++) s += g[r + j] * g[r + j];
    off += s;
    diag += g[r + i] * g[r + i];
  }
  return diag + 2 * off;
}

// ---------------------------------------------------------------------------------------------
// Symmetric tridiagonal eigenvalues: implicit QL (EISPACK tql1 / Numerical Recipes tqli scheme)
// ---------------------------------------------------------------------------------------------

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
      let i = m - 1;
      let deflated = false;
      for (; i >= l; i--) {
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

// ---------------------------------------------------------------------------------------------
// Dense symmetric eigenvalues: Householder tridiagonalisation (lower storage) + implicit QL
// ---------------------------------------------------------------------------------------------

/**
 * Reduces the symmetric matrix g (lower storage, destroyed) to tridiagonal form Qᵀ g Q with
 * diagonal d[0..n) and off-diagonal e[0..n-1). Unblocked Householder (as LAPACK dsytd2), but the
 * rank-2 update of step k is fused with the symmetric matvec of step k+1 so the trailing matrix
 * is streamed once per step instead of twice (after first updating column k+1, which determines
 * the next reflector). ~(2/3)n³ multiply-adds.
 */
export function tridiagonalizeLower(g: Float64Array, n: number, d: Float64Array, e: Float64Array): void {
  if (n === 0) return;
  if (n === 1) {
    d[0] = g[0];
    return;
  }
  if (n === 2) {
    d[0] = g[0];
    d[1] = g[3];
    e[0] = g[2];
    return;
  }
  let v = new Float64Array(n); // reflector of the current step (absolute indices)
  let p = new Float64Array(n); // tau·B·v for the current step
  let v2 = new Float64Array(n);
  let p2 = new Float64Array(n);
  const w = new Float64Array(n);

  // reflector for column c (entries rows c+1..n-1); writes vOut, returns tau (0 = identity), sets e[c]
  const house = (c: number, vOut: Float64Array): number => {
    const x0 = g[(c + 1) * n + c];
    let sigma = 0;
    for (let i = c + 2; i < n; i++) {
      const x = g[i * n + c];
      sigma += x * x;
    }
    if (sigma === 0) {
      e[c] = x0;
      for (let i = c + 1; i < n; i++) vOut[i] = 0;
      return 0;
    }
    const norm = Math.sqrt(x0 * x0 + sigma);
    const alpha = x0 >= 0 ? -norm : norm;
    const v0 = x0 - alpha;
    vOut[c + 1] = v0;
    for (let i = c + 2; i < n; i++) vOut[i] = g[i * n + c];
    e[c] = alpha;
    return 2 / (v0 * v0 + sigma);
  };

  // step 0: reflector and p = tau·B₀·v over the trailing block 1..n-1 (plain symmetric matvec)
  d[0] = g[0];
  let tau = house(0, v);
  p.fill(0);
  if (tau !== 0) {
    for (let i = 1; i < n; i++) {
      const r = i * n;
      const ui = v[i];
      let s = 0;
      for (let j = 1; j < i; j++) {
        const x = g[r + j];
        s += x * v[j];
        p[j] += x * ui;
      }
      p[i] += s + g[r + i] * ui;
    }
    for (let i = 1; i < n; i++) p[i] *= tau;
  }

  for (let k = 0; k <= n - 3; k++) {
    const c = k + 1;
    // w = p - (tau/2)(vᵀp) v  (the rank-2 update is B ← B - v wᵀ - w vᵀ)
    if (tau !== 0) {
      let vp = 0;
      for (let i = c; i < n; i++) vp += v[i] * p[i];
      const kk = 0.5 * tau * vp;
      for (let i = c; i < n; i++) w[i] = p[i] - kk * v[i];
      // update column c (rows c..n-1) first: it defines the next reflector
      const vc = v[c];
      const wc = w[c];
      for (let i = c; i < n; i++) g[i * n + c] -= v[i] * wc + w[i] * vc;
    } else {
      for (let i = c; i < n; i++) w[i] = 0;
    }
    d[c] = g[c * n + c];
    const tau2 = house(c, v2);
    // fused pass over rows c+1..n-1, columns c+1..i: apply update of step k, accumulate B'·v2
    for (let i = c + 1; i < n; i++) p2[i] = 0;
    const doUpd = tau !== 0;
    const doMv = tau2 !== 0;
    for (let i = c + 1; i < n; i++) {
      const r = i * n;
      const vi = v[i];
      const wi = w[i];
      const ui = v2[i];
      let s = 0;
      if (doUpd && doMv) {
        for (let j = c + 1; j < i; j++) {
          const x = g[r + j] - vi * w[j] - wi * v[j];
          g[r + j] = x;
          s += x * v2[j];
          p2[j] += x * ui;
        }
      } else if (doUpd) {
        for (let j = c + 1; j < i; j++) g[r + j] -= vi * w[j] + wi * v[j];
      } else if (doMv) {
        for (let j = c + 1; j < i; j++) {
          const x = g[r + j];
          s += x * v2[j];
          p2[j] += x * ui;
        }
      }
      const xd = doUpd ? g[r + i] - 2 * vi * wi : g[r + i];
      g[r + i] = xd;
      p2[i] += s + xd * ui;
    }
    if (doMv) for (let i = c + 1; i < n; i++) p2[i] *= tau2;
    // rotate buffers
    let t = v;
    v = v2;
    v2 = t;
    t = p;
    p = p2;
    p2 = t;
    tau = tau2;
  }
  d[n - 1] = g[(n - 1) * n + n - 1];
  // e[n-2] was set by house(n-2) (a single sub-diagonal entry, no reflection needed)
}

/** All eigenvalues (unordered) of the symmetric matrix g in lower storage; g is destroyed. */
export function symmetricEigenvaluesLower(g: Float64Array, n: number): Float64Array {
  const d = new Float64Array(n);
  const e = new Float64Array(Math.max(n, 1));
  tridiagonalizeLower(g, n, d, e);
  tridiagonalEigenvalues(d, e, n);
  return d;
}

/** All eigenvalues (descending) of a symmetric n×n row-major matrix (only the lower triangle is read). */
export function symmetricEigenvalues(a: ArrayLike<number>, n: number): Float64Array {
  const g = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) g[i * n + j] = a[i * n + j];
  const d = symmetricEigenvaluesLower(g, n);
  d.sort();
  d.reverse();
  return d;
}

/** Squared singular values of the n×n row-major matrix a (descending), via eig(AᵀA) in float64. */
export function squaredSingularValues(a: ArrayLike<number>, n: number): Float64Array {
  const d = symmetricEigenvaluesLower(gramLower(packRows(a, n)), n);
  d.sort();
  d.reverse();
  return d;
}

// ---------------------------------------------------------------------------------------------
// Deterministic PRNG (xorshift128+, as doubles in [-1, 1))
// ---------------------------------------------------------------------------------------------

export class Xorshift {
  private s0: number;
  private s1: number;
  constructor(seed: number) {
    this.s0 = (seed ^ 0x9e3779b9) | 0 || 1;
    this.s1 = (Math.imul(seed, 0x85ebca6b) ^ 0xc2b2ae35) | 0 || 2;
    for (let i = 0; i < 8; i++) this.nextU32();
  }
  nextU32(): number {
    let x = this.s0;
    const y = this.s1;
    this.s0 = y;
    x ^= x << 23;
    x ^= x >>> 17;
    x ^= y ^ (y >>> 26);
    this.s1 = x;
    return (this.s0 + this.s1) >>> 0;
  }
  /** Uniform in [-1, 1). */
  nextSigned(): number {
    return this.nextU32() / 2147483648 - 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Lanczos on G = AᵀA with full (classical Gram–Schmidt, twice) reorthogonalisation
// ---------------------------------------------------------------------------------------------

/**
 * Lanczos tridiagonalisation of G = AᵀA (A given as a RowMatrix; G is never formed).
 * After `size` = M steps: Q = [q_0..q_{M-1}] orthonormal, T_M = tridiag(beta, alpha, beta) = QᵀGQ
 * and G·Q = Q·T_M + beta[M-1]·q_M·e_Mᵀ (q_M is row M of `q`, orthogonal to Q). A breakdown
 * (invariant subspace) is continued with a fresh random vector orthogonal to Q and a zero coupling.
 * All quantities up to float64 rounding.
 */
export class GramLanczos {
  readonly n: number;
  /** Row-major Lanczos vectors; row i = q_i (rows 0..size are valid, row `size` is the next one). */
  q: Float64Array;
  alpha: Float64Array;
  beta: Float64Array;
  size = 0;
  private capacity: number;
  private readonly z: Float64Array;
  private h: Float64Array;
  private readonly rng: Xorshift;

  constructor(
    private readonly a: RowMatrix,
    capacityHint: number,
    seed = 12345,
  ) {
    const n = a.n;
    this.n = n;
    this.capacity = Math.max(1, Math.min(n, capacityHint));
    this.q = new Float64Array((this.capacity + 1) * n);
    this.alpha = new Float64Array(this.capacity);
    this.beta = new Float64Array(this.capacity);
    this.h = new Float64Array(this.capacity + 1);
    this.z = new Float64Array(n);
    this.rng = new Xorshift(seed);
    // deterministic pseudo-random start vector
    const q0 = this.q;
    for (let i = 0; i < n; i++) q0[i] = this.rng.nextSigned();
    normalize(q0, 0, n);
  }

  private grow(): void {
    const n = this.n;
    const cap = Math.min(n, this.capacity * 2);
    const q = new Float64Array((cap + 1) * n);
    q.set(this.q);
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
    const q = this.q;
    const z = this.z;
    const qk = k * n;
    gramMatvec(this.a, q.subarray(qk, qk + n), z);
    let a = 0;
    for (let i = 0; i < n; i++) a += q[qk + i] * z[i];
    this.alpha[k] = a;
    if (k > 0) {
      const b = this.beta[k - 1];
      const qp = qk - n;
      for (let i = 0; i < n; i++) z[i] -= a * q[qk + i] + b * q[qp + i];
    } else {
      for (let i = 0; i < n; i++) z[i] -= a * q[qk + i];
    }
    this.reorthogonalize(z, 0, k + 1);
    this.reorthogonalize(z, 0, k + 1);
    this.size = k + 1;
    if (k + 1 === n) {
      this.beta[k] = 0; // Krylov space is the whole space: no coupling left
      return;
    }
    let b = 0;
    for (let i = 0; i < n; i++) b += z[i] * z[i];
    b = Math.sqrt(b);
    const next = (k + 1) * n;
    const scaleRef = Math.abs(a) + (k > 0 ? this.beta[k - 1] : 0);
    if (!(b > 1e-13 * scaleRef) || !(b > 1e-300)) {
      // breakdown: (numerically) invariant subspace. Drop the sub-rounding coupling and continue
      // with a random vector orthogonal to Q; T_M stays a valid projection, the coupling is 0.
      this.beta[k] = 0;
      for (let i = 0; i < n; i++) q[next + i] = this.rng.nextSigned();
      for (let pass = 0; pass < 3; pass++) {
        this.reorthogonalize(q.subarray(next, next + n), 0, k + 1);
        normalize(q, next, n);
      }
      return;
    }
    this.beta[k] = b;
    const inv = 1 / b;
    for (let i = 0; i < n; i++) q[next + i] = z[i] * inv;
    if (b < 1e-8 * scaleRef) {
      // heavy cancellation: one more pass keeps q_{k+1} orthogonal to working precision
      this.reorthogonalize(q.subarray(next, next + n), 0, k + 1);
      normalize(q, next, n);
    }
  }

  /** Classical Gram–Schmidt pass: z -= Q_{[from,to)} (Q_{[from,to)}ᵀ z). */
  private reorthogonalize(z: Float64Array, from: number, to: number): void {
    const n = this.n;
    const q = this.q;
    const h = this.h;
    for (let r = from; r < to; r++) {
      const o = r * n;
      let s0 = 0;
      let s1 = 0;
      let i = 0;
      for (; i + 1 < n; i += 2) {
        s0 += q[o + i] * z[i];
        s1 += q[o + i + 1] * z[i + 1];
      }
      if (i < n) s0 += q[o + i] * z[i];
      h[r] = s0 + s1;
    }
    // two vectors at a time to halve the passes over z
    let r = from;
    for (; r + 1 < to; r += 2) {
      const o0 = r * n;
      const o1 = o0 + n;
      const h0 = h[r];
      const h1 = h[r + 1];
      for (let i = 0; i < n; i++) z[i] -= h0 * q[o0 + i] + h1 * q[o1 + i];
    }
    if (r < to) {
      const o0 = r * n;
      const h0 = h[r];
      for (let i = 0; i < n; i++) z[i] -= h0 * q[o0 + i];
    }
  }
}

function normalize(x: Float64Array, o: number, n: number): void {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[o + i] * x[o + i];
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  for (let i = 0; i < n; i++) x[o + i] *= inv;
}

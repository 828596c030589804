/**
 * The kernel interface (BLAS-1-like row operations over one float64 heap, addressed by offsets in doubles) and its
 * plain-JS implementation: the fallback where WebAssembly SIMD is unavailable, and the twin the WASM kernels are
 * checked against at load (wasmKernels.ts). Imports nothing.
 */

/** Row kernels over a shared float64 heap; all x, y, … are offsets (in doubles) into `f`. */
export interface Kernels {
  readonly kind: 'js' | 'wasm';
  /** Current heap view. Re-read it after `ensure` (the underlying buffer may be replaced). */
  readonly f: Float64Array;
  /** Grows the heap to at least `doubles` entries (preserving content). */
  ensure(doubles: number): void;
  dot(x: number, y: number, n: number): number;
  sumsq(x: number, n: number): number;
  /** y += a·x */
  axpy(a: number, x: number, y: number, n: number): void;
  /** z −= a·x + b·y */
  sub2(a: number, x: number, b: number, y: number, z: number, n: number): void;
  /** x *= a */
  scale(a: number, x: number, n: number): void;
  /** f[out + t] = x · y_t (t = 0..3) */
  dot4(x: number, y0: number, y1: number, y2: number, y3: number, n: number, out: number): void;
  /** g_j ← g_j − vi·w_j − wi·v_j; p_j += g_j·ui; returns Σ g_j·u_j (new g). */
  fusedRow(g: number, w: number, v: number, u: number, p: number, n: number, vi: number, wi: number, ui: number): number;
  /** p_j += g_j·ui; returns Σ g_j·u_j. */
  matvecRow(g: number, u: number, p: number, n: number, ui: number): number;
  /** g_j ← g_j − (vi·w_j + wi·v_j) */
  updateRow(g: number, w: number, v: number, n: number, vi: number, wi: number): void;
  /** f[d + t] += a_t·q over [0, n) (t = 0..3), then z += Σ_t f[d + t]·a_t over [0, n). */
  rows4(a0: number, a1: number, a2: number, a3: number, q: number, z: number, n: number, d: number): void;
}

export class JsKernels implements Kernels {
  readonly kind = 'js' as const;
  f = new Float64Array(1 << 16);

  ensure(doubles: number): void {
    if (doubles <= this.f.length) return;
    const g = new Float64Array(Math.max(doubles, Math.floor(this.f.length * 1.5)));
    g.set(this.f);
    this.f = g;
  }

  dot(x: number, y: number, n: number): number {
    const f = this.f;
    let s0 = 0;
    let s1 = 0;
    let i = 0;
    for (; i + 1 < n; i += 2) {
      s0 += f[x + i] * f[y + i];
      s1 += f[x + i + 1] * f[y + i + 1];
    }
    if (i < n) s0 += f[x + i] * f[y + i];
    return s0 + s1;
  }

  sumsq(x: number, n: number): number {
    return this.dot(x, x, n);
  }

  axpy(a: number, x: number, y: number, n: number): void {
    const f = this.f;
    for (let i = 0; i < n; i++) f[y + i] += a * f[x + i];
  }

  sub2(a: number, x: number, b: number, y: number, z: number, n: number): void {
    const f = this.f;
    for (let i = 0; i < n; i++) f[z + i] -= a * f[x + i] + b * f[y + i];
  }

  scale(a: number, x: number, n: number): void {
    const f = this.f;
    for (let i = 0; i < n; i++) f[x + i] *= a;
  }

  dot4(x: number, y0: number, y1: number, y2: number, y3: number, n: number, out: number): void {
    const f = this.f;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let i = 0; i < n; i++) {
      const v = f[x + i];
      s0 += v * f[y0 + i];
      s1 += v * f[y1 + i];
      s2 += v * f[y2 + i];
      s3 += v * f[y3 + i];
    }
    f[out] = s0;
    f[out + 1] = s1;
    f[out + 2] = s2;
    f[out + 3] = s3;
  }

  fusedRow(g: number, w: number, v: number, u: number, p: number, n: number, vi: number, wi: number, ui: number): number {
    const f = this.f;
    let s = 0;
    for (let j = 0; j < n; j++) {
      const x = f[g + j] - vi * f[w + j] - wi * f[v + j];
      f[g + j] = x;
      s += x * f[u + j];
      f[p + j] += x * ui;
    }
    return s;
  }

  matvecRow(g: number, u: number, p: number, n: number, ui: number): number {
    const f = this.f;
    let s = 0;
    for (let j = 0; j < n; j++) {
      const x = f[g + j];
      s += x * f[u + j];
      f[p + j] += x * ui;
    }
    return s;
  }

  updateRow(g: number, w: number, v: number, n: number, vi: number, wi: number): void {
    const f = this.f;
    for (let j = 0; j < n; j++) f[g + j] -= vi * f[w + j] + wi * f[v + j];
  }

  rows4(a0: number, a1: number, a2: number, a3: number, q: number, z: number, n: number, d: number): void {
    const f = this.f;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let j = 0; j < n; j++) {
      const x = f[q + j];
      s0 += f[a0 + j] * x;
      s1 += f[a1 + j] * x;
      s2 += f[a2 + j] * x;
      s3 += f[a3 + j] * x;
    }
    const d0 = (f[d] += s0);
    const d1 = (f[d + 1] += s1);
    const d2 = (f[d + 2] += s2);
    const d3 = (f[d + 3] += s3);
    for (let j = 0; j < n; j++) f[z + j] += d0 * f[a0 + j] + d1 * f[a1 + j] + (d2 * f[a2 + j] + d3 * f[a3 + j]);
  }
}

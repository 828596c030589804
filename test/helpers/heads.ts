/** Seeded synthetic attention heads shared by the metrics tests and the timing script. */
import { Xorshift } from '../../src/util/random';

export function gauss(r: Xorshift): number {
  // Box–Muller
  const u = (r.nextSigned() + 1) / 2 || 1e-12;
  const v = (r.nextSigned() + 1) / 2;
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Causal softmax of logits s·(u_i·v_j)/√r, u, v ~ N(0, I_r): an untrained attention head's q·k/√d. */
export function lowRankHead(T: number, s: number, r: number, seed: number): Float32Array {
  const g = new Xorshift(seed);
  const u = Float64Array.from({ length: T * r }, () => gauss(g));
  const v = Float64Array.from({ length: T * r }, () => gauss(g));
  const a = new Float32Array(T * T);
  const row = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    let mx = -Infinity;
    for (let j = 0; j <= i; j++) {
      let d = 0;
      for (let t = 0; t < r; t++) d += u[i * r + t] * v[j * r + t];
      row[j] = (s * d) / Math.sqrt(r);
      if (row[j] > mx) mx = row[j];
    }
    let z = 0;
    for (let j = 0; j <= i; j++) z += row[j] = Math.exp(row[j] - mx);
    for (let j = 0; j <= i; j++) a[i * T + j] = row[j] / z;
  }
  return a;
}

/** Causal softmax head with logits std s (+ optional sink / diagonal / previous-token bias). */
export function softmaxHead(T: number, s: number, seed: number, bias: { sink?: number; diag?: number; prev?: number } = {}): Float32Array {
  const r = new Xorshift(seed);
  const a = new Float32Array(T * T);
  const row = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    let mx = -Infinity;
    for (let j = 0; j <= i; j++) {
      let l = s * gauss(r);
      if (j === 0) l += bias.sink ?? 0;
      if (j === i) l += bias.diag ?? 0;
      if (j === i - 1) l += bias.prev ?? 0;
      row[j] = l;
      if (l > mx) mx = l;
    }
    let z = 0;
    for (let j = 0; j <= i; j++) {
      row[j] = Math.exp(row[j] - mx);
      z += row[j];
    }
    for (let j = 0; j <= i; j++) a[i * T + j] = row[j] / z;
  }
  return a;
}

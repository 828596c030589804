/**
 * How much a block changes the residual stream: Block Influence (1 − mean cosine of its input and output) and the
 * angular distance of the last token. Imports nothing.
 */

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

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lowRankHead, softmaxHead } from '../helpers/heads';
import { kStarDense, kStarDetailed } from '../../src/analysis/rank/kStar';
import { Xorshift } from '../../src/util/random';

/**
 * Bounds mode (exactUpTo = r): every matrix with k* ≤ r gets its exact k*; every bounded one has r < lo ≤ k* ≤ hi
 * and kStar = lo. Checked against the dense float64 solve on random attention-like heads of every kind the
 * exact-mode tests use (sink, diagonal, previous-token, low-rank, near-uniform) and both kernel-path sizes.
 */
test('k* bounds: exact up to r, certified [lo, hi] above it, on random attention heads', () => {
  const r = new Xorshift(77);
  let bounded = 0;
  let exactAbove = 0;
  let n = 0;
  for (let it = 0; it < 72; it++) {
    const T = [64, 96, 128, 192, 256, 320][it % 6];
    const s = [0.2, 1, 2, 4][Math.floor(it / 6) % 4];
    const kind = Math.floor(it / 24);
    const bias = kind === 0 ? { prev: 3 + 3 * Math.abs(r.nextSigned()) } : kind === 1 ? { diag: 4, sink: 2 } : {};
    const a = it % 5 === 4 ? lowRankHead(T, s, 8, 500 + it) : softmaxHead(T, s, 900 + it, bias);
    const tau = 0.9;
    const exact = kStarDense(a, T, tau);
    for (const rank of [4, 16, 48]) {
      const got = kStarDetailed(a, T, tau, { exactUpTo: rank });
      const where = `it=${it} T=${T} s=${s} kind=${kind} r=${rank}: k* = ${exact}, got ${JSON.stringify(got)}`;
      if (got.bounds) {
        const [lo, hi] = got.bounds;
        assert.ok(lo > rank && lo <= exact && exact <= hi && lo < hi, where);
        assert.equal(got.kStar, lo, where);
        assert.equal(got.method, 'bounds', where);
        bounded++;
      } else {
        assert.equal(got.kStar, exact, where);
        if (exact > rank) exactAbove++;
      }
      n++;
    }
  }
  assert.equal(n, 216);
  // The point of the mode: most heads above r stop without their full spectrum.
  assert.ok(bounded >= 60, `only ${bounded} bounded (${exactAbove} resolved exactly above r)`);
});

test('k* bounds: a previous-token head (nearly flat spectrum) at T = 512 is bounded after a few Lanczos steps', () => {
  const T = 512;
  const a = softmaxHead(T, 0.3, 4242, { prev: 9 });
  const exact = kStarDense(a, T, 0.9);
  const got = kStarDetailed(a, T, 0.9, { exactUpTo: 64 });
  assert.ok(got.bounds, JSON.stringify(got));
  const [lo, hi] = got.bounds!;
  assert.ok(lo > 64 && lo <= exact && exact <= hi, `${lo} ≤ ${exact} ≤ ${hi}`);
  // hi from the Ritz energies plus the complement's average share, which a nearly flat spectrum makes close; lo only
  // from the trace and Frobenius norm of the unseen part, which leave room for a spread spectrum
  assert.ok(hi - exact <= T / 32 && hi - lo < T / 2, `[${lo}, ${hi}] for k* = ${exact}`);
  assert.ok(got.steps < 200, `${got.steps} Lanczos steps`);
});

test('k* bounds: r ≥ T or r undefined leave k* exact; exactUpTo never changes a head with k* ≤ r', () => {
  const T = 128;
  const a = softmaxHead(T, 1, 31, { sink: 4 });
  const exact = kStarDense(a, T, 0.9);
  assert.deepEqual(kStarDetailed(a, T, 0.9, { exactUpTo: T }).bounds, undefined);
  assert.equal(kStarDetailed(a, T, 0.9, { exactUpTo: T }).kStar, exact);
  assert.equal(kStarDetailed(a, T, 0.9, { exactUpTo: exact }).kStar, exact);
  assert.equal(kStarDetailed(a, T, 0.9, { exactUpTo: exact }).bounds, undefined);
});

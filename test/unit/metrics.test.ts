import { test } from 'node:test';
import * as v8 from 'node:v8';
import { gauss, lowRankHead, softmaxHead } from '../helpers/heads';
import { blockRowOf, PatternBlock } from '../../src/analysis/graph/pattern';
import assert from 'node:assert/strict';
import { kernels, setKernelBackend, setRelaxedSimd, withHeap } from '../../src/analysis/kernels/heap';
import { angularDistance, blockInfluence } from '../../src/analysis/metrics/blockInfluence';
import {
  batchMeanHead,
  headMetrics,
  headMetricsOneSeq,
  isLazyLayer,
  layerHeadMetrics,
  mStarOf,
  type HeadMetrics,
} from '../../src/analysis/metrics/headMetrics';
import { rowStats } from '../../src/analysis/metrics/rowStats';
import { lanczosEnergyBounds } from '../../src/analysis/rank/certificate';
import { gramPackedOf, squaredSingularValues, symmetricEigenvalues, tridiagonalEigenvalues } from '../../src/analysis/rank/dense';
import { gramFrobeniusUpper, setF32BlockShift } from '../../src/analysis/rank/gram';
import { kStarDense, kStarDetailed, kStarOf } from '../../src/analysis/rank/kStar';
import { GramLanczos } from '../../src/analysis/rank/lanczos';
import { packRows, sumSquares as sumSquaresOf } from '../../src/analysis/rank/rowMatrix';
import { isDegenerate } from '../../src/shared/report';
import { Xorshift } from '../../src/util/random';

// ------------------------------------------------------------------------------------------
// helpers
// ------------------------------------------------------------------------------------------

function uniformCausal(T: number): Float64Array {
  const a = new Float64Array(T * T);
  for (let i = 0; i < T; i++) for (let j = 0; j <= i; j++) a[i * T + j] = 1 / (i + 1);
  return a;
}

/** Random orthogonal n×n (modified Gram–Schmidt on a Gaussian matrix, twice), row-major. */
function randomOrthogonal(n: number, r: Xorshift): Float64Array {
  const q = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) q[i] = gauss(r);
  for (let c = 0; c < n; c++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < c; p++) {
        let d = 0;
        for (let i = 0; i < n; i++) d += q[i * n + c] * q[i * n + p];
        for (let i = 0; i < n; i++) q[i * n + c] -= d * q[i * n + p];
      }
      let s = 0;
      for (let i = 0; i < n; i++) s += q[i * n + c] ** 2;
      s = Math.sqrt(s);
      for (let i = 0; i < n; i++) q[i * n + c] /= s;
    }
  }
  return q;
}

/** A = U diag(sigma) Vᵀ (general dense n×n). */
function planted(sigma: number[], seed: number): Float64Array {
  const n = sigma.length;
  const r = new Xorshift(seed);
  const u = randomOrthogonal(n, r);
  const v = randomOrthogonal(n, r);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const x = u[i * n + k] * sigma[k];
      if (x === 0) continue;
      for (let j = 0; j < n; j++) a[i * n + j] += x * v[j * n + k];
    }
  }
  return a;
}

/** Reference k* from a descending spectrum of squared singular values. */
function kFromEnergies(e: ArrayLike<number>, tau: number): number {
  let tot = 0;
  for (let i = 0; i < e.length; i++) tot += e[i];
  let c = 0;
  for (let i = 0; i < e.length; i++) {
    c += e[i];
    if (c >= tau * tot) return i + 1;
  }
  return e.length;
}

/** Minimum over k of |cumulative energy fraction − τ| (to recognise ties). */
function tieDistance(e: ArrayLike<number>, tau: number): number {
  let tot = 0;
  for (let i = 0; i < e.length; i++) tot += e[i];
  let c = 0;
  let best = Infinity;
  for (let i = 0; i < e.length; i++) {
    c += e[i];
    best = Math.min(best, Math.abs(c / tot - tau));
  }
  return best;
}

const FORCE_LANCZOS = { denseBelow: 0, noDense: true } as const;

function frobSquaredOfPacked(g: Float64Array, n: number): number {
  let s = 0;
  let p = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++, p++) s += (i === j ? 1 : 2) * g[p] * g[p];
  return s;
}

function sumSq(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return s;
}

// ------------------------------------------------------------------------------------------
// linear algebra kernels
// ------------------------------------------------------------------------------------------

test('tridiagonal QL: eigenvalues of the 1-D Laplacian', () => {
  for (const n of [1, 2, 3, 10, 57]) {
    const d = new Float64Array(n).fill(2);
    const e = new Float64Array(n).fill(-1);
    tridiagonalEigenvalues(d, e, n);
    const got = Array.from(d).sort((x, y) => x - y);
    for (let k = 1; k <= n; k++) {
      const want = 2 - 2 * Math.cos((k * Math.PI) / (n + 1));
      assert.ok(Math.abs(got[k - 1] - want) < 1e-13, `n=${n} k=${k}: ${got[k - 1]} vs ${want}`);
    }
  }
});

test('dense symmetric eigenvalues recover a planted spectrum', () => {
  const r = new Xorshift(7);
  for (const n of [1, 2, 3, 8, 33, 100]) {
    const lam = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : Math.exp(-i / 7) * (i % 2 ? 1 : -1)));
    const q = randomOrthogonal(n, r);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += q[i * n + k] * lam[k] * q[j * n + k];
        a[i * n + j] = s;
      }
    const got = symmetricEigenvalues(a, n);
    const want = [...lam].sort((x, y) => y - x);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-12, `n=${n} i=${i}: ${got[i]} vs ${want[i]}`);
  }
});

test('squared singular values of planted general and triangular matrices', () => {
  const sigma = [5, 3, 3, 1, 0.5, 0.25, 1e-3, 0];
  const e = squaredSingularValues(planted(sigma, 11), sigma.length);
  sigma.forEach((s, i) => assert.ok(Math.abs(e[i] - s * s) < 1e-12, `${e[i]} vs ${s * s}`));
  // Gram of a lower-triangular matrix with ragged zero runs equals the naive product
  const n = 37;
  const r = new Xorshift(5);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = (i * 7) % 5; j <= i; j++) a[i * n + j] = r.nextSigned();
  const g = gramPackedOf(a, n);
  let p = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[k * n + i] * a[k * n + j];
      assert.ok(Math.abs(g[p++] - s) < 1e-13, `G[${i},${j}]`);
    }
  const tr = sumSq(a);
  const ev = squaredSingularValues(a, n);
  let sum = 0;
  let sum2 = 0;
  for (const x of ev) {
    sum += x;
    sum2 += x * x;
  }
  assert.ok(Math.abs(sum - tr) < 1e-12 * tr);
  assert.ok(Math.abs(sum2 - frobSquaredOfPacked(g, n)) < 1e-11 * sum2);
});

test('Lanczos bounds bracket the true top-k energies at every step (the certificate is sound)', () =>
  withHeap(() => {
    let checked = 0;
    for (const [T, s, seed] of [
      [40, 0.5, 1],
      [64, 2, 2],
      [90, 0.1, 3],
      [120, 1, 4],
    ] as const) {
      const a = softmaxHead(T, s, seed, seed === 4 ? { sink: 3 } : {});
      const tr = sumSq(a);
      const ev = squaredSingularValues(a, T);
      const S = new Float64Array(T + 1);
      for (let i = 0; i < T; i++) S[i + 1] = S[i] + ev[i];
      const frob = frobSquaredOfPacked(gramPackedOf(a, T), T);
      const m = packRows(a, T);
      const lz = new GramLanczos(m, 8, seed);
      for (let M = 1; M <= T; M++) {
        lz.step();
        if (M % 3 !== 0 && M !== T) continue;
        let t2 = 0;
        for (let i = 0; i < M; i++) t2 += lz.alpha[i] ** 2;
        for (let i = 0; i + 1 < M; i++) t2 += 2 * lz.beta[i] ** 2;
        const cF = Math.sqrt(Math.max(0, frob - t2 - 2 * lz.beta[M - 1] ** 2));
        for (const eps of [1e-6 * tr, 1e-3 * tr, 0.1 * tr]) {
          for (const useCF of [false, true]) {
            const { lower, upper } = lanczosEnergyBounds(lz, tr, eps, useCF ? cF : Infinity);
            const tol = 1e-12 * tr;
            for (let k = 0; k <= M; k++) {
              assert.ok(lower[k] <= S[k] + tol, `T=${T} M=${M} k=${k}: lower ${lower[k]} > S ${S[k]}`);
              assert.ok(upper[k] >= S[k] - tol, `T=${T} M=${M} k=${k} eps=${eps} cF=${useCF}: upper ${upper[k]} < S ${S[k]}`);
              checked++;
            }
          }
        }
      }
    }
    assert.ok(checked > 10000);
    // rank-deficient matrix: the Krylov space (5 range directions + the start vector's null-space
    // component) becomes invariant after 6 steps (breakdown, restart)
    const sigma = [3, 2, 1, 0.5, 0.25, ...new Array<number>(25).fill(0)];
    const a = planted(sigma, 5);
    const m = packRows(a, 30);
    const tr = sigma.reduce((x, y) => x + y * y, 0);
    const lz = new GramLanczos(m, 4, 3);
    const S = [0];
    for (const x of sigma) S.push(S[S.length - 1] + x * x);
    for (let M = 1; M <= 30; M++) {
      lz.step();
      if (M === 6) assert.equal(lz.beta[5], 0, 'breakdown after the 6-dimensional invariant subspace');
      const { lower, upper } = lanczosEnergyBounds(lz, tr, 1e-4 * tr);
      for (let k = 0; k <= M; k++) {
        assert.ok(lower[k] <= S[k] + 1e-12 * tr && upper[k] >= S[k] - 1e-12 * tr, `rank-deficient M=${M} k=${k}`);
      }
    }
    assert.equal(
      kStarDetailed(a, 30, 0.99, FORCE_LANCZOS).kStar,
      kFromEnergies(
        sigma.map((x) => x * x),
        0.99,
      ),
    );
  }));

// ------------------------------------------------------------------------------------------
// k*
// ------------------------------------------------------------------------------------------

test('rank-1 attention (all mass on key 0): k* = 1, m* = 1', () => {
  for (const T of [1, 2, 16, 100, 300]) {
    const a = new Float32Array(T * T);
    for (let i = 0; i < T; i++) a[i * T] = 1;
    assert.equal(kStarOf(a, T, 0.9), 1);
    assert.equal(kStarDetailed(a, T, 0.9, FORCE_LANCZOS).kStar, 1);
    assert.equal(mStarOf(a, T, 0.9), 1);
    assert.equal(mStarOf(a, T, 0.9, true), 1);
  }
});

test('identity attention: k* = m* = ceil(τ·T)', () => {
  for (const T of [10, 64, 200]) {
    const a = new Float64Array(T * T);
    for (let i = 0; i < T; i++) a[i * T + i] = 1;
    for (const tau of [0.5, 0.9, 0.95]) {
      // cumulative energy k/T: exact ties when τ·T is an integer, so use a τ just below
      const t = tau - 1e-4;
      assert.equal(kStarOf(a, T, t), Math.ceil(t * T), `T=${T} tau=${t}`);
      assert.equal(kStarDetailed(a, T, t, FORCE_LANCZOS).kStar, Math.ceil(t * T));
      assert.equal(mStarOf(a, T, t), Math.ceil(t * T));
    }
  }
});

test('identity-like causal attention (strong diagonal) has a large k*', () => {
  const T = 128;
  const a = softmaxHead(T, 0.5, 3, { diag: 6 });
  const k = kStarOf(a, T, 0.9);
  assert.ok(k > 80, `k* = ${k}`);
  assert.equal(k, kStarDense(a, T, 0.9));
});

test('uniform causal attention: k* = 5, 6, 7 at T = 64, 256, 1024 (τ = 0.9)', () => {
  assert.equal(kStarOf(uniformCausal(64), 64, 0.9), 5);
  const r256 = kStarDetailed(uniformCausal(256), 256, 0.9);
  assert.deepEqual([r256.kStar, r256.method], [6, 'lanczos']);
  const r1024 = kStarDetailed(uniformCausal(1024), 1024, 0.9);
  assert.deepEqual([r1024.kStar, r1024.method], [7, 'lanczos']);
  // m*: column sums of uniform causal attention are H_T − H_j (harmonic numbers)
  assert.equal(
    mStarOf(uniformCausal(64), 64, 0.9),
    kFromEnergies(
      columnSums(uniformCausal(64), 64).sort((x, y) => y - x),
      0.9,
    ),
  );
});

function columnSums(a: ArrayLike<number>, T: number, squared = false): number[] {
  const c = new Array<number>(T).fill(0);
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) c[j] += squared ? a[i * T + j] ** 2 : a[i * T + j];
  return c;
}

test('planted spectra on general (non-triangular) matrices', () => {
  const cases: { sigma: number[]; tau: number; k: number }[] = [];
  // energies chosen so the crossing is at a known k with a clear margin
  const n = 60;
  const base = Array.from({ length: n }, (_, i) => 1 / (1 + i));
  for (const tau of [0.5, 0.8, 0.9, 0.99]) {
    const e = base.map((x) => x * x);
    cases.push({ sigma: base, tau, k: kFromEnergies(e, tau) });
  }
  // one dominant singular value: k* = 1
  cases.push({ sigma: [10, ...Array.from({ length: 49 }, () => 0.1)], tau: 0.9, k: 1 });
  // flat top block of 5 then tiny tail: k* = 5 at τ = 0.9 (top-4 = 80%)
  cases.push({ sigma: [1, 1, 1, 1, 1, ...Array.from({ length: 45 }, () => 1e-3)], tau: 0.9, k: 5 });
  let i = 0;
  for (const c of cases) {
    const T = c.sigma.length;
    const a = planted(c.sigma, 100 + i++);
    assert.equal(kStarOf(a, T, c.tau), c.k, `planted case ${i}: default`);
    assert.equal(kStarDetailed(a, T, c.tau, FORCE_LANCZOS).kStar, c.k, `planted case ${i}: Lanczos`);
    assert.equal(kStarDense(a, T, c.tau), c.k, `planted case ${i}: dense`);
  }
});

test('cumulative energy close to τ (1e-7 relative) is resolved exactly by the certificate', () => {
  // energies e = [0.5, 0.2, 0.1, 0.1 ± x, rest] normalised so that S_4 / tr = 0.9 ± 1e-7
  const n = 80;
  for (const sign of [1, -1]) {
    const tail = Array.from({ length: n - 4 }, (_, i) => 1 + 0.5 * Math.sin(i));
    const tailSum = tail.reduce((x, y) => x + y, 0);
    const top = [0.5, 0.2, 0.1, 0.1 + sign * 1e-7];
    const topSum = top.reduce((x, y) => x + y, 0);
    const scale = (1 - topSum) / tailSum;
    const energies = [...top, ...tail.map((x) => x * scale)];
    const sigma = energies.map(Math.sqrt);
    const a = planted(sigma, 77 + sign);
    const want = sign > 0 ? 4 : 5;
    assert.equal(kStarOf(a, n, 0.9), want);
    assert.equal(kStarDetailed(a, n, 0.9, FORCE_LANCZOS).kStar, want);
    assert.equal(kStarDense(a, n, 0.9), want);
  }
});

test('k* on many random softmax-causal heads equals the dense float64 eigen solve', () => {
  const r = new Xorshift(2024);
  let n = 0;
  let viaLanczos = 0;
  let ties = 0;
  for (let it = 0; it < 140; it++) {
    const T = [16, 24, 32, 48, 64, 96, 128, 160, 200, 256][it % 10];
    const s = [0.05, 0.2, 0.5, 1, 2, 4][Math.floor(it / 10) % 6];
    const bias = it % 7 === 0 ? { sink: 2 + 4 * Math.abs(r.nextSigned()) } : it % 7 === 3 ? { diag: 3 } : it % 7 === 5 ? { prev: 4 } : {};
    const a = softmaxHead(T, s, 1000 + it, bias);
    const tau = it % 3 === 0 ? 0.9 : it % 3 === 1 ? 0.8 : 0.95;
    const ev = squaredSingularValues(a, T);
    if (tieDistance(ev, tau) < 1e-9) {
      ties++;
      continue;
    }
    const want = kFromEnergies(ev, tau);
    assert.equal(kStarDense(a, T, tau), want);
    const forced = kStarDetailed(a, T, tau, FORCE_LANCZOS);
    assert.equal(forced.kStar, want, `it=${it} T=${T} s=${s} tau=${tau} forced Lanczos (${forced.steps} steps)`);
    assert.notEqual(forced.method, 'dense');
    const def = kStarDetailed(a, T, tau);
    assert.equal(def.kStar, want, `it=${it} T=${T} s=${s} tau=${tau} default (${def.method})`);
    if (def.method === 'lanczos' || def.method === 'lanczos+gram') viaLanczos++;
    n++;
  }
  assert.ok(ties <= 2, `${ties} ties`);
  assert.ok(n >= 138);
  assert.ok(viaLanczos >= 20, `only ${viaLanczos} heads certified by Lanczos on the default path`);
});

test('k*: float32 and float64 input agree; scale invariance; zero matrix; τ validation', () => {
  const T = 70;
  const a32 = softmaxHead(T, 1, 9, { sink: 2 });
  const a64 = Float64Array.from(a32);
  const k = kStarOf(a32, T, 0.9);
  assert.equal(kStarOf(a64, T, 0.9), k);
  for (const f of [1e-300, 1e-30, 3, 1e30, 1e300]) {
    assert.equal(
      kStarOf(
        a64.map((x) => x * f),
        T,
        0.9,
      ),
      k,
      `scale ${f}`,
    );
  }
  assert.equal(kStarOf(new Float32Array(T * T), T, 0.9), 0);
  assert.equal(mStarOf(new Float32Array(T * T), T, 0.9), 0);
  assert.throws(() => kStarOf(a32, T, 0));
  assert.throws(() => kStarOf(a32, T, 1.5));
  assert.throws(() => kStarOf(a32, T, Number.NaN));
  assert.throws(() => kStarOf(a32, T + 1, 0.9));
  const bad = Float64Array.from(a64);
  bad[5] = Number.NaN;
  assert.throws(() => kStarOf(bad, T, 0.9));
  // τ = 1 counts every non-zero singular value (a rank-3 planted matrix)
  const r3 = planted([3, 2, 1, 0, 0, 0, 0, 0, 0, 0], 4);
  assert.equal(kStarOf(r3, 10, 1), 3);
});

test('k* on banded (sliding-window) and upper-triangular matrices', () => {
  const T = 150;
  const r = new Xorshift(31);
  const band = new Float64Array(T * T);
  for (let i = 0; i < T; i++) for (let j = Math.max(0, i - 8); j <= i; j++) band[i * T + j] = Math.exp(r.nextSigned());
  const up = new Float64Array(T * T);
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) up[i * T + j] = band[j * T + i];
  for (const [name, a] of [
    ['band', band],
    ['upper', up],
  ] as const) {
    for (const tau of [0.5, 0.9]) {
      const want = kFromEnergies(squaredSingularValues(a, T), tau);
      assert.equal(kStarOf(a, T, tau), want, name);
      assert.equal(kStarDetailed(a, T, tau, FORCE_LANCZOS).kStar, want, name);
    }
  }
});

/** Mean normalised row entropy (rows 1..T−1). */
function meanEntropy(a: ArrayLike<number>, T: number): number {
  let e = 0;
  for (let i = 1; i < T; i++) {
    let h = 0;
    for (let j = 0; j <= i; j++) if (a[i * T + j] > 0) h -= a[i * T + j] * Math.log(a[i * T + j]);
    e += h / Math.log(i + 1);
  }
  return e / (T - 1);
}

// The CLI turns relaxed SIMD on this way on Node < 22 (src/cli.ts); the kernels are built both ways below.
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

test('float32 bound on ‖AᵀA‖_F² is an upper bound within its stated error (causal, ragged, banded), with and without relaxed SIMD', () => {
  try {
    assert.equal(setRelaxedSimd('off'), false);
    floatBoundCases();
    assert.equal(setRelaxedSimd('auto'), true, 'relaxed SIMD should compile once the V8 flag is on');
    floatBoundCases();
  } finally {
    setRelaxedSimd('auto');
  }
});

const floatBoundCases = () =>
  withHeap(() => {
    const r = new Xorshift(17);
    const mats: [string, number, ArrayLike<number>][] = [];
    for (const T of [1, 5, 31, 64, 97, 200]) mats.push([`softmax T=${T}`, T, softmaxHead(T, 0.7, T, { sink: 1 })]);
    for (const T of [9, 40, 133]) {
      const a = new Float64Array(T * T); // ragged rows and a band, some zero rows, values over 2^±30
      for (let i = 0; i < T; i++) {
        if (i % 11 === 5) continue;
        for (let j = Math.max(0, i - 3 - (i % 7)); j < Math.min(T, i + (i % 4)); j++)
          a[i * T + j] = Math.abs(r.nextSigned()) * 2 ** (30 * r.nextSigned());
      }
      mats.push([`ragged T=${T}`, T, a]);
    }
    for (const shift of [4, 5, 6]) {
      const prev = setF32BlockShift(shift);
      try {
        for (const [name, T, a] of mats) {
          const m = packRows(a, T);
          const exact = frobSquaredOfPacked(gramPackedOf(a, T), T);
          const up = gramFrobeniusUpper(m);
          assert.ok(up !== null, name);
          // ε ≈ (2^shift + 2)·2^-24 per entry, so the bound exceeds ‖G‖_F² by about 2ε
          assert.ok(up >= exact && up <= exact * (1 + 2.2 * ((1 << shift) + 3) * 2 ** -24), `${name} shift ${shift}: ${up} vs ${exact}`);
        }
      } finally {
        setF32BlockShift(prev);
      }
    }
    // not applicable: a negative entry
    const neg = Float64Array.from(softmaxHead(20, 1, 3));
    neg[45] = -1e-3;
    assert.equal(gramFrobeniusUpper(packRows(neg, 20)), null);
  });

test('packRows: float32 input packed by the SIMD path holds exactly the matrix (zero rows, ragged, T mod 4 ≠ 0, NaN refused)', () => {
  const r = new Xorshift(77);
  for (const T of [4, 5, 7, 64, 130]) {
    const a = new Float32Array(T * T);
    for (let i = 0; i < T; i++) {
      if (i % 6 === 2) continue; // zero rows
      const from = i % 3 === 0 ? 0 : Math.floor(i / 2);
      for (let j = from; j <= Math.min(T - 1, i + (i % 5)); j++) a[i * T + j] = r.nextSigned() < -0.3 ? 0 : r.nextSigned();
    }
    if (T > 5) a[T + 3] = -0; // a negative zero counts as stored, never as negative
    withHeap(() => {
      const m = packRows(a, T);
      const f = kernels().f;
      let nnz = 0;
      for (let i = 0; i < T; i++) {
        assert.ok(m.lo[i] <= m.hi[i] && m.hi[i] <= T, `T=${T} row ${i}`);
        for (let j = 0; j < T; j++) {
          const inside = j >= m.lo[i] && j < m.hi[i];
          if (inside) assert.equal(f[m.data + m.off[i] + j - m.lo[i]], a[i * T + j], `T=${T} (${i}, ${j})`);
          else assert.equal(a[i * T + j], 0, `T=${T} (${i}, ${j}) dropped`);
        }
        nnz += m.hi[i] - m.lo[i];
      }
      assert.equal(m.nnz, nnz);
      assert.equal(m.nonNegative, false);
      const ss = a.reduce((s, v) => s + v * v, 0);
      assert.ok(Math.abs(sumSquaresOf(m) - ss) <= 1e-14 * ss, `T=${T}: Σa² ${sumSquaresOf(m)} vs ${ss}`);
    });
  }
  const bad = new Float32Array(64).fill(0.1);
  bad[37] = NaN;
  assert.throws(() => withHeap(() => packRows(bad, 8)), /NaN or Infinity/);
});

test('row entropies and column sums: WebAssembly kernel equals the scalar reference (Σ p·ln p to 1e-10, sums exactly)', () => {
  const r = new Xorshift(31);
  const cases: [string, number, Float32Array][] = [];
  for (const T of [1, 3, 5, 8, 64, 130, 257]) cases.push([`softmax T=${T}`, T, softmaxHead(T, 1.2, 900 + T, { sink: 2 })]);
  for (const T of [6, 37]) {
    // negative and zero entries, zero rows, subnormal and tiny values, values at 1, a dense (non-causal) row
    const a = new Float32Array(T * T);
    for (let i = 0; i < T; i++) {
      if (i % 5 === 3) continue;
      for (let j = 0; j < T; j++) {
        const u = r.nextSigned();
        a[i * T + j] =
          i === 1
            ? Math.abs(u)
            : j > i + 2
              ? 0
              : u < -0.8
                ? -u / 4
                : u < -0.6
                  ? -0.25
                  : u < -0.5
                    ? 1e-40
                    : u < -0.4
                      ? 1
                      : Math.abs(u) * 2 ** (-30 * Math.abs(r.nextSigned()));
      }
    }
    cases.push([`mixed T=${T}`, T, a]);
  }
  for (const [name, T, a] of cases) {
    const run = (backend: 'wasm' | 'js') => {
      assert.equal(setKernelBackend(backend), backend);
      const col = Float64Array.from({ length: T }, (_, j) => j / 7); // accumulates onto what is there
      const col2 = Float64Array.from({ length: T }, (_, j) => j / 3);
      return { ent: rowStats(a, 0, T, col, col2), col, col2, entOnly: rowStats(a, 0, T) };
    };
    try {
      const w = run('wasm');
      const j = run('js');
      for (let i = 0; i < T; i++) {
        let want = 0;
        for (let k = 0; k < T; k++) if (a[i * T + k] > 0) want += a[i * T + k] * Math.log(a[i * T + k]);
        assert.equal(j.ent[i], want, `${name} row ${i} (js)`);
        assert.ok(Math.abs(w.ent[i] - want) <= 1e-10 * Math.abs(want) + 1e-300, `${name} row ${i}: ${w.ent[i]} vs ${want}`);
        assert.equal(w.entOnly[i], w.ent[i], `${name} row ${i}: without column sums`);
      }
      assert.deepEqual(w.col, j.col, name);
      assert.deepEqual(w.col2, j.col2, name);
    } finally {
      setKernelBackend('auto');
    }
  }
  // an offset into a larger array (a head of a [head, query, key] pattern)
  const T = 12;
  const two = new Float32Array(2 * T * T);
  two.set(softmaxHead(T, 0.8, 5), T * T);
  assert.deepEqual(rowStats(two, T * T, T), rowStats(two.slice(T * T), 0, T));
});

test('one sequence: headMetrics from query-block rows (one heap copy) equals the batch path on the same matrix', () => {
  // The batch-1 path (headMetricsOneSeq, also behind headMetrics with batch = 1) against its parts computed one by one
  // (exactly), and against the batch path with the sequence twice, whose float64 mean is the matrix itself, whose
  // column sums are JS loops and whose k* starts from float64 (exactly, but for the entropy's summation order).
  const cases: [string, number, Float32Array][] = [];
  for (const T of [3, 5, 37, 64, 130]) cases.push([`softmax T=${T}`, T, softmaxHead(T, 1.1, 40 + T, { sink: 1 })]);
  cases.push(['rank-8 T=96', 96, lowRankHead(96, 0.6, 8, 77)]);
  const lazy = new Float32Array(50 * 50);
  for (let i = 0; i < 50; i++) lazy[i * 50] = 1;
  cases.push(['lazy T=50', 50, lazy]);
  for (const [name, T, a] of cases) {
    const two = new Float32Array(2 * T * T);
    two.set(a, 0);
    two.set(a, T * T);
    const rows: PatternBlock[] = [];
    for (let s0 = 0; s0 < T; s0 += 16) {
      const e = Math.min(T, s0 + 16);
      const data = new Float32Array((e - s0) * e);
      for (let i = s0; i < e; i++) data.set(a.subarray(i * T, i * T + e), (i - s0) * e);
      rows.push({ start: s0, end: e, data });
    }
    // the parts, each by its own public function, in headMetrics' order
    const col = new Float64Array(T);
    const plogp = rowStats(a, 0, T, col, new Float64Array(T));
    let ent = 0;
    for (let i = 1; i < T; i++) ent -= plogp[i] * (1 / Math.log(i + 1));
    let sink = 0;
    for (let i = 0; i < T; i++) sink += a[i * T];
    const parts = {
      kStar: kStarOf(a, T, 0.9),
      mStar: mStarOf(a, T, 0.9),
      mStarSquared: mStarOf(a, T, 0.9, true),
      entropy: T > 1 ? ent / (T - 1) : 0,
      sinkMass: sink / T,
      dominantColumn: col.indexOf(Math.max(...col)),
    };
    for (const mode of ['mean', 'per-seq'] as const) {
      const opts = { tau: 0.9, mode, degenerateWhen: 'either' as const };
      assert.deepEqual(headMetrics(a, 1, 1, 0, T, opts), parts, `${name} ${mode}: headMetrics, batch 1`);
      assert.deepEqual(headMetricsOneSeq(blockRowOf(rows, 1, 0, T), T, opts), parts, `${name} ${mode}: from query blocks`);
      const { entropy, ...rest } = headMetrics(two, 2, 1, 0, T, opts);
      const { entropy: e1, ...rest1 } = parts;
      assert.deepEqual(rest, rest1, `${name} ${mode}: batch path`);
      assert.ok(Math.abs(entropy - e1) <= 1e-14 * e1, `${name} ${mode}: entropy ${entropy} vs ${e1}`);
    }
  }
});

test('noisy near-uniform heads (T = 512, 1024): exact k* from the float32 ‖G‖_F² bound', () => {
  // softmax of causal logits with small noise: row entropy ≈ 0.97–0.99 and k* ≈ 10–30 (like the
  // heads of a randomly initialised GPT-2), where the R bound alone never certifies and the
  // ‖C‖_F bound (‖G‖_F² from float32 tiles) must; the reference is the dense float64 solve.
  let viaFrob = 0;
  const heads: [string, number, Float32Array][] = [];
  for (const [s, seed] of [
    [0.3, 1],
    [0.4, 2],
    [0.5, 3],
  ] as const)
    heads.push([`iid ${s}`, 512, softmaxHead(512, s, 7000 + seed)]);
  heads.push(['rank-64 0.4', 512, lowRankHead(512, 0.4, 64, 7010)]);
  heads.push(['iid 0.4', 1024, softmaxHead(1024, 0.4, 7020)]);
  heads.push(['rank-64 0.4', 1024, lowRankHead(1024, 0.4, 64, 7021)]);
  for (const [name, T, a] of heads) {
    const ent = meanEntropy(a, T);
    assert.ok(ent > 0.96 && ent < 0.995, `${name} T=${T}: entropy ${ent}`);
    const ev = squaredSingularValues(a, T);
    assert.ok(tieDistance(ev, 0.9) > 1e-6, `${name} T=${T}: tie`);
    const want = kFromEnergies(ev, 0.9); // dense float64 reference (Gram + Householder + QL)
    const res = kStarDetailed(a, T, 0.9);
    assert.equal(res.kStar, want, `${name} T=${T}: ${res.method} after ${res.steps} steps`);
    if (res.method === 'lanczos+gram') viaFrob++;
    assert.equal(kStarDetailed(a, T, 0.9, FORCE_LANCZOS).kStar, want, `${name} T=${T}: forced Lanczos`);
    assert.equal(kStarOf(Float64Array.from(a), T, 0.9), want, `${name} T=${T}: float64 input`);
    for (const tau of [0.8, 0.95]) {
      if (tieDistance(ev, tau) > 1e-6) assert.equal(kStarOf(a, T, tau), kFromEnergies(ev, tau), `${name} T=${T} τ=${tau}`);
    }
  }
  assert.ok(viaFrob >= heads.length - 1, `only ${viaFrob} of ${heads.length} certified with the ‖C‖_F bound`);
});

// ------------------------------------------------------------------------------------------
// m*, head metrics, modes
// ------------------------------------------------------------------------------------------

test('m* and m*² count columns by (squared) mass', () => {
  // 3×3 causal: column sums [1.5, 1.0, 0.5] of total 3 → τ=0.5 needs 1, τ=0.8 needs 2 (2.5/3), τ=0.9 needs 3
  const a = new Float64Array([1, 0, 0, 0.5, 0.5, 0, 0, 0.5, 0.5]);
  assert.equal(mStarOf(a, 3, 0.5), 1);
  assert.equal(mStarOf(a, 3, 0.8), 2);
  assert.equal(mStarOf(a, 3, 0.9), 3);
  // squared: column sums [1.25, 0.5, 0.25] of 2 → τ=0.6 needs 1 (0.625), τ=0.8 needs 2 (0.875)
  assert.equal(mStarOf(a, 3, 0.6, true), 1);
  assert.equal(mStarOf(a, 3, 0.8, true), 2);
  assert.equal(mStarOf(a, 3, 0.9, true), 3);
});

/** [batch, head, T, T] pattern from per-(b, h) matrices. */
function pattern(mats: Float32Array[][], T: number): Float32Array {
  const batch = mats.length;
  const H = mats[0].length;
  const p = new Float32Array(batch * H * T * T);
  for (let b = 0; b < batch; b++) for (let h = 0; h < H; h++) p.set(mats[b][h], (b * H + h) * T * T);
  return p;
}

test('per-seq vs mean mode', () => {
  const T = 20;
  const sink = new Float32Array(T * T);
  const eye = new Float32Array(T * T);
  for (let i = 0; i < T; i++) {
    sink[i * T] = 1;
    eye[i * T + i] = 1;
  }
  const p = pattern(
    [
      [sink, eye],
      [eye, eye],
    ],
    T,
  ); // batch 2, 2 heads
  const tau = 0.9 - 1e-4; // identity ties exactly at integers otherwise
  const kEye = Math.ceil(tau * T); // 18
  const perSeq = headMetrics(p, 2, 2, 0, T, { tau, mode: 'per-seq' });
  assert.equal(perSeq.kStar, (1 + kEye) / 2);
  assert.equal(perSeq.mStar, (1 + kEye) / 2);
  assert.equal(perSeq.mStarSquared, (1 + kEye) / 2);
  const mean = headMetrics(p, 2, 2, 0, T, { tau, mode: 'mean' });
  const meanMat = batchMeanHead(p, 2, 2, 0, T);
  assert.equal(meanMat[0], 1); // (1 + 1) / 2 at (0, 0)
  assert.equal(meanMat[1 * T + 0], 0.5);
  assert.equal(meanMat[1 * T + 1], 0.5);
  assert.equal(mean.kStar, kFromEnergies(squaredSingularValues(meanMat, T), tau));
  assert.equal(
    mean.mStar,
    kFromEnergies(
      columnSums(meanMat, T).sort((x, y) => y - x),
      tau,
    ),
  );
  assert.equal(
    mean.mStarSquared,
    kFromEnergies(
      columnSums(meanMat, T, true).sort((x, y) => y - x),
      tau,
    ),
  );
  assert.notEqual(mean.kStar, perSeq.kStar);
  // head 1 is the identity in both sequences: both modes agree
  const h1 = layerHeadMetrics(p, 2, 2, T, { tau, mode: 'per-seq' })[1];
  assert.equal(h1.kStar, kEye);
  assert.deepEqual(layerHeadMetrics(p, 2, 2, T, { tau, mode: 'mean' })[1], h1);
  // sink mass, entropy, dominant column
  assert.equal(perSeq.sinkMass, (1 + 1 / T) / 2);
  assert.equal(h1.sinkMass, 1 / T);
  assert.equal(perSeq.entropy, 0);
  assert.equal(perSeq.dominantColumn, 0);
  assert.throws(() => headMetrics(p, 2, 2, 2, T, { tau, mode: 'mean' }));
  assert.throws(() => headMetrics(p, 3, 2, 0, T, { tau, mode: 'mean' }));
  assert.throws(() => headMetrics(p, 2, 2, 0, T, { tau, mode: 'nope' as never }));
});

test('entropy and sink mass of uniform causal attention', () => {
  const T = 50;
  const u = Float32Array.from(uniformCausal(T));
  const h = headMetrics(pattern([[u], [u], [u]], T), 3, 1, 0, T, { tau: 0.9, mode: 'mean' });
  assert.ok(Math.abs(h.entropy - 1) < 1e-6, `entropy ${h.entropy}`);
  let sink = 0;
  for (let i = 0; i < T; i++) sink += 1 / (i + 1);
  assert.ok(Math.abs(h.sinkMass - sink / T) < 1e-7);
  assert.equal(h.dominantColumn, 0);
  // a hand-made 3×3 row: row 1 = [0.5, 0.5] → entropy 1; row 2 = [1, 0, 0] → 0; mean 0.5
  const a = new Float32Array([1, 0, 0, 0.5, 0.5, 0, 0, 0, 1]);
  const g = headMetrics(a, 1, 1, 0, 3, { tau: 0.9, mode: 'per-seq' });
  assert.ok(Math.abs(g.entropy - 0.5) < 1e-7);
  assert.ok(Math.abs(g.sinkMass - 0.5) < 1e-7);
  assert.equal(g.dominantColumn, 0);
  const b = new Float32Array([1, 0, 0, 0, 1, 0, 0, 1, 0]);
  assert.equal(headMetrics(b, 1, 1, 0, 3, { tau: 0.9, mode: 'mean' }).dominantColumn, 1);
});

test('degenerate heads and lazy layers', () => {
  const h = (kStar: number, mStar: number): HeadMetrics => ({
    kStar,
    mStar,
    mStarSquared: mStar,
    entropy: 0,
    sinkMass: 0,
    dominantColumn: 0,
  });
  assert.equal(isDegenerate(h(1, 5)), true);
  assert.equal(isDegenerate(h(3, 1)), true);
  assert.equal(isDegenerate(h(3, 5)), false);
  assert.equal(isDegenerate(h(1, 5), 'mStar'), false);
  assert.equal(isDegenerate(h(3, 1), 'kStar'), false);
  assert.equal(isDegenerate(h(1, 1), 'kStar'), true);
  assert.equal(isDegenerate(h(1.5, 1), 'kStar'), false); // per-seq mean: not every sequence is rank 1
  assert.equal(isLazyLayer([h(1, 3), h(2, 1)]), true);
  assert.equal(isLazyLayer([h(1, 3), h(2, 2)]), false);
  assert.equal(isLazyLayer([h(1, 3), h(2, 1)], 'kStar'), false);
  assert.equal(isLazyLayer([]), false);
});

// ------------------------------------------------------------------------------------------
// Block Influence / angular distance
// ------------------------------------------------------------------------------------------

test('Block Influence and angular distance on hand-computed cases', () => {
  // batch 2, T 2, d 2
  const hIn = new Float32Array([1, 0, 1, 0, /* b1 */ 0, 2, 3, 4]);
  const hOut = new Float32Array([0, 1, 1, 1, /* b1 */ 0, -5, 3, 4]);
  // cosines: (b0,t0) 0; (b0,t1) 1/√2; (b1,t0) −1; (b1,t1) 1
  const cosMean = (0 + Math.SQRT1_2 - 1 + 1) / 4;
  assert.ok(Math.abs(blockInfluence(hIn, hOut, 2, 2, 2) - (1 - cosMean)) < 1e-12);
  // last tokens: (b0) 45° → 0.25; (b1) 0° → 0
  assert.ok(Math.abs(angularDistance(hIn, hOut, 2, 2, 2) - 0.125) < 1e-12);
  assert.equal(blockInfluence(hIn, hIn, 2, 2, 2), 0);
  assert.equal(angularDistance(hIn, hIn, 2, 2, 2), 0);
  const neg = hIn.map((x) => -x);
  assert.ok(Math.abs(blockInfluence(hIn, neg, 2, 2, 2) - 2) < 1e-12);
  assert.ok(Math.abs(angularDistance(hIn, neg, 2, 2, 2) - 1) < 1e-12);
  // zero vectors: both zero → identical (cos 1); one zero → cos 0
  assert.equal(blockInfluence(new Float32Array(2), new Float32Array(2), 1, 1, 2), 0);
  assert.equal(blockInfluence(new Float32Array([1, 0]), new Float32Array(2), 1, 1, 2), 1);
  assert.throws(() => blockInfluence(hIn, hOut, 2, 2, 3));
});

// ------------------------------------------------------------------------------------------
// kernel backends
// ------------------------------------------------------------------------------------------

test('WebAssembly SIMD backend is available in Node and agrees with the JS kernels', () => {
  assert.equal(setKernelBackend('auto'), 'wasm');
  const r = new Xorshift(99);
  const cases: [number, Float32Array][] = [];
  for (const T of [17, 64, 129]) cases.push([T, softmaxHead(T, 1.5, T, { sink: 1 })]);
  const run = (): number[][] =>
    cases.map(([T, a]) => [
      ...squaredSingularValues(a, T).slice(0, 5),
      kStarDetailed(a, T, 0.9, FORCE_LANCZOS).kStar,
      kStarDense(a, T, 0.9),
    ]);
  const wasm = run();
  assert.equal(setKernelBackend('js'), 'js');
  try {
    assert.equal(kernels().kind, 'js');
    const js = run();
    for (let c = 0; c < cases.length; c++) {
      for (let i = 0; i < 5; i++) assert.ok(Math.abs(wasm[c][i] - js[c][i]) <= 1e-12 * js[c][0]);
      assert.deepEqual(wasm[c].slice(5), js[c].slice(5));
    }
    // the JS backend alone on random heads, both paths, against its own dense solve
    for (let it = 0; it < 30; it++) {
      const T = 40 + Math.floor(60 * Math.abs(r.nextSigned()));
      const a = softmaxHead(T, [0.1, 0.5, 2][it % 3], 500 + it, it % 4 === 0 ? { sink: 4 } : {});
      const ev = squaredSingularValues(a, T);
      if (tieDistance(ev, 0.9) < 1e-9) continue;
      const want = kFromEnergies(ev, 0.9);
      assert.equal(kStarDetailed(a, T, 0.9, FORCE_LANCZOS).kStar, want);
      assert.equal(kStarOf(a, T, 0.9), want);
    }
  } finally {
    setKernelBackend('auto');
  }
});

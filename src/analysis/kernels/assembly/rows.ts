// The float64 row kernels of the rank code (rank/lanczos.ts, rank/dense.ts, rank/gram.ts): dot products, axpy-like
// updates, the fused Householder row and the four-row Gram matvec, plus a max/min scan. AssemblyScript, compiled by
// scripts/buildKernels.mjs; the JS twins (jsKernels.ts) define the same operations and the load-time self-test
// compares them. Pointers are byte addresses into the module's memory, n counts doubles.
//
// Summation order is part of each kernel's contract: a sum runs in one f64x2 accumulator (lane 0 the even elements,
// lane 1 the odd ones; dot and rows4 use two, over four elements per iteration, added together after the loop), the
// odd last element is added after the lanes are summed as lane 0 + lane 1. The JS twins group their sums differently,
// so the two agree to rounding (the self-test allows 1e-12 relative), not bit for bit. Binaryen does not reassociate
// floating-point operations, so the order written here is the order executed.

/** Σ x_i·y_i: four doubles per iteration into two accumulators (a0: even pairs, a1: odd pairs), then a pair, then the
 * odd element. */
export function dot(x: usize, y: usize, n: i32): f64 {
  let a0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  const end = x + ((<usize>(n & -4)) << 3);
  while (x < end) {
    a0 = f64x2.add(a0, f64x2.mul(v128.load(x), v128.load(y)));
    a1 = f64x2.add(a1, f64x2.mul(v128.load(x, 16), v128.load(y, 16)));
    x += 32;
    y += 32;
  }
  if (n & 2) {
    a0 = f64x2.add(a0, f64x2.mul(v128.load(x), v128.load(y)));
    x += 16;
    y += 16;
  }
  a0 = f64x2.add(a0, a1);
  let s = f64x2.extract_lane(a0, 0) + f64x2.extract_lane(a0, 1);
  if (n & 1) s += load<f64>(x) * load<f64>(y);
  return s;
}

/** y += a·x */
export function axpy(a: f64, x: usize, y: usize, n: i32): void {
  const av = f64x2.splat(a);
  const end = y + ((<usize>(n & -2)) << 3);
  while (y < end) {
    v128.store(y, f64x2.add(v128.load(y), f64x2.mul(av, v128.load(x))));
    y += 16;
    x += 16;
  }
  if (n & 1) store<f64>(y, load<f64>(y) + a * load<f64>(x));
}

/** z −= a·x + b·y */
export function sub2(a: f64, x: usize, b: f64, y: usize, z: usize, n: i32): void {
  const av = f64x2.splat(a);
  const bv = f64x2.splat(b);
  const end = z + ((<usize>(n & -2)) << 3);
  while (z < end) {
    v128.store(z, f64x2.sub(v128.load(z), f64x2.add(f64x2.mul(av, v128.load(x)), f64x2.mul(bv, v128.load(y)))));
    z += 16;
    x += 16;
    y += 16;
  }
  if (n & 1) store<f64>(z, load<f64>(z) - (a * load<f64>(x) + b * load<f64>(y)));
}

/** x *= a */
export function scale(a: f64, x: usize, n: i32): void {
  const av = f64x2.splat(a);
  const end = x + ((<usize>(n & -2)) << 3);
  while (x < end) {
    v128.store(x, f64x2.mul(v128.load(x), av));
    x += 16;
  }
  if (n & 1) store<f64>(x, load<f64>(x) * a);
}

/** out[t] = x·y_t for t = 0..3 (out: 4 doubles): one pass over x for four dot products. */
export function dot4(x: usize, y0: usize, y1: usize, y2: usize, y3: usize, n: i32, out: usize): void {
  let a0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  let a2 = f64x2.splat(0);
  let a3 = f64x2.splat(0);
  const end = x + ((<usize>(n & -2)) << 3);
  while (x < end) {
    const xv = v128.load(x);
    a0 = f64x2.add(a0, f64x2.mul(xv, v128.load(y0)));
    a1 = f64x2.add(a1, f64x2.mul(xv, v128.load(y1)));
    a2 = f64x2.add(a2, f64x2.mul(xv, v128.load(y2)));
    a3 = f64x2.add(a3, f64x2.mul(xv, v128.load(y3)));
    x += 16;
    y0 += 16;
    y1 += 16;
    y2 += 16;
    y3 += 16;
  }
  store<f64>(out, f64x2.extract_lane(a0, 0) + f64x2.extract_lane(a0, 1));
  store<f64>(out, f64x2.extract_lane(a1, 0) + f64x2.extract_lane(a1, 1), 8);
  store<f64>(out, f64x2.extract_lane(a2, 0) + f64x2.extract_lane(a2, 1), 16);
  store<f64>(out, f64x2.extract_lane(a3, 0) + f64x2.extract_lane(a3, 1), 24);
  if (n & 1) {
    // the pointers are at the last element after the pair loop
    const xs = load<f64>(x);
    store<f64>(out, load<f64>(out) + xs * load<f64>(y0));
    store<f64>(out, load<f64>(out, 8) + xs * load<f64>(y1), 8);
    store<f64>(out, load<f64>(out, 16) + xs * load<f64>(y2), 16);
    store<f64>(out, load<f64>(out, 24) + xs * load<f64>(y3), 24);
  }
}

/**
 * One row of the Householder tridiagonalisation's symmetric rank-2 update fused with the next matvec:
 * g ← g − vi·w − wi·v (stored), returns g·u and p += ui·g, all with the updated g.
 */
export function fusedRow(g: usize, w: usize, v: usize, u: usize, p: usize, n: i32, vi: f64, wi: f64, ui: f64): f64 {
  const viv = f64x2.splat(vi);
  const wiv = f64x2.splat(wi);
  const uiv = f64x2.splat(ui);
  let acc = f64x2.splat(0);
  const end = g + ((<usize>(n & -2)) << 3);
  while (g < end) {
    const x = f64x2.sub(f64x2.sub(v128.load(g), f64x2.mul(viv, v128.load(w))), f64x2.mul(wiv, v128.load(v)));
    v128.store(g, x);
    acc = f64x2.add(acc, f64x2.mul(x, v128.load(u)));
    v128.store(p, f64x2.add(v128.load(p), f64x2.mul(x, uiv)));
    g += 16;
    w += 16;
    v += 16;
    u += 16;
    p += 16;
  }
  let s = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  if (n & 1) {
    const xs = load<f64>(g) - vi * load<f64>(w) - wi * load<f64>(v);
    store<f64>(g, xs);
    s += xs * load<f64>(u);
    store<f64>(p, load<f64>(p) + xs * ui);
  }
  return s;
}

/** Returns g·u and does p += ui·g (one row of a symmetric matvec that uses each stored row twice). */
export function matvecRow(g: usize, u: usize, p: usize, n: i32, ui: f64): f64 {
  const uiv = f64x2.splat(ui);
  let acc = f64x2.splat(0);
  const end = g + ((<usize>(n & -2)) << 3);
  while (g < end) {
    const x = v128.load(g);
    acc = f64x2.add(acc, f64x2.mul(x, v128.load(u)));
    v128.store(p, f64x2.add(v128.load(p), f64x2.mul(x, uiv)));
    g += 16;
    u += 16;
    p += 16;
  }
  let s = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  if (n & 1) {
    const xs = load<f64>(g);
    s += xs * load<f64>(u);
    store<f64>(p, load<f64>(p) + xs * ui);
  }
  return s;
}

/** g −= vi·w + wi·v (the rank-2 update alone, for the last rows). */
export function updateRow(g: usize, w: usize, v: usize, n: i32, vi: f64, wi: f64): void {
  const viv = f64x2.splat(vi);
  const wiv = f64x2.splat(wi);
  const end = g + ((<usize>(n & -2)) << 3);
  while (g < end) {
    v128.store(g, f64x2.sub(v128.load(g), f64x2.add(f64x2.mul(viv, v128.load(w)), f64x2.mul(wiv, v128.load(v)))));
    g += 16;
    w += 16;
    v += 16;
  }
  if (n & 1) store<f64>(g, load<f64>(g) - (vi * load<f64>(w) + wi * load<f64>(v)));
}

/**
 * Four rows a_t of a Gram matvec at once: d[t] += a_t·q over [0, n) (d holds, on entry, the dots of the parts of the
 * rows outside the common range), then z += Σ_t d[t]·a_t over [0, n), summed as (d0·a0 + d1·a1) + (d2·a2 + d3·a3)
 * before z is added. The dots run four doubles per iteration into two sets of accumulators, like dot.
 */
export function rows4(a0: usize, a1: usize, a2: usize, a3: usize, q: usize, z: usize, n: i32, d: usize): void {
  let c0 = f64x2.splat(0);
  let c1 = f64x2.splat(0);
  let c2 = f64x2.splat(0);
  let c3 = f64x2.splat(0);
  let e0 = f64x2.splat(0);
  let e1 = f64x2.splat(0);
  let e2 = f64x2.splat(0);
  let e3 = f64x2.splat(0);
  const s0 = a0;
  const s1 = a1;
  const s2 = a2;
  const s3 = a3;
  let end = q + ((<usize>(n & -4)) << 3);
  while (q < end) {
    const x = v128.load(q);
    const xh = v128.load(q, 16);
    c0 = f64x2.add(c0, f64x2.mul(v128.load(a0), x));
    e0 = f64x2.add(e0, f64x2.mul(v128.load(a0, 16), xh));
    c1 = f64x2.add(c1, f64x2.mul(v128.load(a1), x));
    e1 = f64x2.add(e1, f64x2.mul(v128.load(a1, 16), xh));
    c2 = f64x2.add(c2, f64x2.mul(v128.load(a2), x));
    e2 = f64x2.add(e2, f64x2.mul(v128.load(a2, 16), xh));
    c3 = f64x2.add(c3, f64x2.mul(v128.load(a3), x));
    e3 = f64x2.add(e3, f64x2.mul(v128.load(a3, 16), xh));
    q += 32;
    a0 += 32;
    a1 += 32;
    a2 += 32;
    a3 += 32;
  }
  if (n & 2) {
    const x = v128.load(q);
    c0 = f64x2.add(c0, f64x2.mul(v128.load(a0), x));
    c1 = f64x2.add(c1, f64x2.mul(v128.load(a1), x));
    c2 = f64x2.add(c2, f64x2.mul(v128.load(a2), x));
    c3 = f64x2.add(c3, f64x2.mul(v128.load(a3), x));
    q += 16;
    a0 += 16;
    a1 += 16;
    a2 += 16;
    a3 += 16;
  }
  c0 = f64x2.add(c0, e0);
  c1 = f64x2.add(c1, e1);
  c2 = f64x2.add(c2, e2);
  c3 = f64x2.add(c3, e3);
  let d0 = load<f64>(d) + (f64x2.extract_lane(c0, 0) + f64x2.extract_lane(c0, 1));
  let d1 = load<f64>(d, 8) + (f64x2.extract_lane(c1, 0) + f64x2.extract_lane(c1, 1));
  let d2 = load<f64>(d, 16) + (f64x2.extract_lane(c2, 0) + f64x2.extract_lane(c2, 1));
  let d3 = load<f64>(d, 24) + (f64x2.extract_lane(c3, 0) + f64x2.extract_lane(c3, 1));
  if (n & 1) {
    d0 += load<f64>(a0) * load<f64>(q);
    d1 += load<f64>(a1) * load<f64>(q);
    d2 += load<f64>(a2) * load<f64>(q);
    d3 += load<f64>(a3) * load<f64>(q);
  }
  store<f64>(d, d0);
  store<f64>(d, d1, 8);
  store<f64>(d, d2, 16);
  store<f64>(d, d3, 24);
  const v0 = f64x2.splat(d0);
  const v1 = f64x2.splat(d1);
  const v2 = f64x2.splat(d2);
  const v3 = f64x2.splat(d3);
  a0 = s0;
  a1 = s1;
  a2 = s2;
  a3 = s3;
  end = z + ((<usize>(n & -2)) << 3);
  while (z < end) {
    const t01 = f64x2.add(f64x2.mul(v0, v128.load(a0)), f64x2.mul(v1, v128.load(a1)));
    const t23 = f64x2.add(f64x2.mul(v2, v128.load(a2)), f64x2.mul(v3, v128.load(a3)));
    v128.store(z, f64x2.add(f64x2.add(t01, t23), v128.load(z)));
    z += 16;
    a0 += 16;
    a1 += 16;
    a2 += 16;
    a3 += 16;
  }
  if (n & 1) {
    const t01 = d0 * load<f64>(a0) + d1 * load<f64>(a1);
    const t23 = d2 * load<f64>(a2) + d3 * load<f64>(a3);
    store<f64>(z, t01 + t23 + load<f64>(z));
  }
}

/**
 * out[0] = max |x_i|, out[1] = min x_i, out[2] = 1 if some x_i is NaN else 0, over n doubles (n a multiple of 4, ≥ 4;
 * WasmKernels.absMaxMin does the rest in JS). pmax/pmin are single instructions but do not propagate NaN, so NaN is
 * tracked separately (x ≠ x).
 */
export function absMaxMin(x: usize, n: i32, out: usize): void {
  let mn0 = v128.load(x);
  let mn1 = mn0;
  let mx0 = f64x2.abs(mn0);
  let mx1 = mx0;
  let nan = f64x2.splat(0);
  const end = x + ((<usize>n) << 3);
  while (x < end) {
    const v = v128.load(x);
    const w = v128.load(x, 16);
    mx0 = f64x2.pmax(mx0, f64x2.abs(v));
    mn0 = f64x2.pmin(mn0, v);
    nan = v128.or(nan, f64x2.ne(v, v));
    mx1 = f64x2.pmax(mx1, f64x2.abs(w));
    mn1 = f64x2.pmin(mn1, w);
    nan = v128.or(nan, f64x2.ne(w, w));
    x += 32;
  }
  mx0 = f64x2.pmax(mx0, mx1);
  mn0 = f64x2.pmin(mn0, mn1);
  store<f64>(out, max<f64>(f64x2.extract_lane(mx0, 0), f64x2.extract_lane(mx0, 1)));
  store<f64>(out, min<f64>(f64x2.extract_lane(mn0, 0), f64x2.extract_lane(mn0, 1)), 8);
  store<f64>(out, <f64>v128.any_true(nan), 16);
}

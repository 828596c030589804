/**
 * Small float64 linear-algebra kernels for the attention rank metrics (see metrics.ts).
 *
 * Why hand-written: this code must run in the extension host, in worker threads and in the
 * browser (webview) with no native addon and no numeric npm dependency (none is installed). The
 * only eigen problems needed are (a) eigenvalues of small symmetric tridiagonal matrices (Lanczos
 * projections) and (b) all eigenvalues of a dense symmetric PSD Gram matrix (exact fallback). Both
 * are short classic algorithms: Householder tridiagonalisation and implicit QL.
 *
 * Speed: the O(T²) and O(T³) inner loops are BLAS-1-like row kernels (dot, axpy, a fused
 * "rank-2 update + symmetric matvec" row). They run either as plain JS over a Float64Array, or as
 * a tiny WebAssembly module using f64x2 SIMD (assembled below from opcodes, ~1.8 KB), which is
 * 2–3× faster than V8's scalar code. All big arrays live in one heap (the WASM memory, or a
 * growable Float64Array for the JS backend) and are addressed by offsets in doubles. The WASM
 * backend is used when WebAssembly with SIMD compiles and passes a self-test (it will not under a
 * CSP without 'wasm-unsafe-eval'); otherwise the JS kernels are used. Results agree to rounding.
 */

const EPS = 2.220446049250313e-16;

// =============================================================================================
// Kernel backends
// =============================================================================================

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

class JsKernels implements Kernels {
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

// ---------------------------------------------------------------------------------------------
// A minimal WebAssembly assembler and the SIMD kernels
// ---------------------------------------------------------------------------------------------

type Code = number[];
const I32 = 0x7f;
const F64 = 0x7c;
const V128 = 0x7b;

function uleb(n: number): Code {
  const o: Code = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    o.push(b);
  } while (n);
  return o;
}

function sleb(n: number): Code {
  const o: Code = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) {
      o.push(b);
      return o;
    }
    o.push(b | 0x80);
  }
}

const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  if: [0x04, 0x40],
  end: [0x0b],
  br: (l: number): Code => [0x0c, ...uleb(l)],
  brIf: (l: number): Code => [0x0d, ...uleb(l)],
  get: (i: number): Code => [0x20, ...uleb(i)],
  set: (i: number): Code => [0x21, ...uleb(i)],
  tee: (i: number): Code => [0x22, ...uleb(i)],
  i32: (v: number): Code => [0x41, ...sleb(v)],
  f64load: (off = 0): Code => [0x2b, 3, ...uleb(off)],
  f32load: (off = 0): Code => [0x2a, 2, ...uleb(off)],
  f64promoteF32: [0xbb],
  i32store: (off = 0): Code => [0x36, 2, ...uleb(off)],
  f64store: (off = 0): Code => [0x39, 3, ...uleb(off)],
  i32add: [0x6a],
  i32sub: [0x6b],
  i32mul: [0x6c],
  i32shru: [0x76],
  i32eqz: [0x45],
  i32ltu: [0x49],
  select: [0x1b],
  i32and: [0x71],
  i32shl: [0x74],
  i32geu: [0x4f],
  f64add: [0xa0],
  f64sub: [0xa1],
  f64mul: [0xa2],
  vload: (off = 0): Code => [0xfd, 0x00, 4, ...uleb(off)],
  vstore: (off = 0): Code => [0xfd, 0x0b, 4, ...uleb(off)],
  splat: [0xfd, 0x14],
  lane: (l: number): Code => [0xfd, 0x21, l],
  vadd: [0xfd, 0xf0, 0x01],
  vsub: [0xfd, 0xf1, 0x01],
  vmul: [0xfd, 0xf2, 0x01],
  vzero: [0xfd, 0x0c, ...new Array<number>(16).fill(0)],
  load32splat: (off = 0): Code => [0xfd, 0x09, 2, ...uleb(off)],
  f32x4add: [0xfd, 0xe4, 0x01],
  f32x4mul: [0xfd, 0xe6, 0x01],
  promoteLow: [0xfd, 0x5f],
  /** swaps the two 64-bit halves of the v128 on the stack (consumes one operand twice: pass it via get twice) */
  swapHalves: [0xfd, 0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7],
  /** low 64 bits of the first operand, then the low 64 bits of the second */
  lowHalves: [0xfd, 0x0d, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23],
  demoteZero: [0xfd, 0x5e],
  f64x2eq: [0xfd, 0x47],
  vand: [0xfd, 0x4e],
  i64x2allTrue: [0xfd, 0xc3, 0x01],
  /** v128.store64_lane 0: stores the low 64 bits */
  vstore64lane0: [0xfd, 0x5b, 3, 0, 0],
  drop: [0x1a],
  load64zero: (off = 0): Code => [0xfd, 0x5d, 3, ...uleb(off)],
  vabs: [0xfd, 0xec, 0x01],
  vmin: [0xfd, 0xf4, 0x01],
  vmax: [0xfd, 0xf5, 0x01],
  f64min: [0xa4],
  vpmin: [0xfd, 0xf6, 0x01],
  vpmax: [0xfd, 0xf7, 0x01],
  vne: [0xfd, 0x48],
  vor: [0xfd, 0x50],
  vanyTrue: [0xfd, 0x53],
  f64convertI32u: [0xb8],
  f64max: [0xa5],
  vdiv: [0xfd, 0xf3, 0x01],
  f32x4gt: [0xfd, 0x44],
  f32x4pmax: [0xfd, 0xeb, 0x01],
  i32x4shrU: [0xfd, 0xad, 0x01],
  i32x4sub: [0xfd, 0xb1, 0x01],
  bitselect: [0xfd, 0x52],
  /** f64x2.convert_low_i32x4_s */
  convertLowI32: [0xfd, 0xfe, 0x01],
  /** relaxed SIMD f32x4.relaxed_madd(a, b, c) = a·b + c, fused or not (one rounding or two) */
  f32x4madd: [0xfd, 0x85, 0x02],
  /** the high 64 bits of the operand in both halves (pass the operand twice) */
  highHalves: [0xfd, 0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15],
};

/** v128.const of four equal 32-bit lanes (Int32Array or Float32Array bits) or two float64 lanes. */
const vconst = (lanes: Int32Array | Float32Array | Float64Array): Code => [0xfd, 0x0c, ...new Uint8Array(lanes.buffer)];
const f64x2 = (x: number): Code => vconst(Float64Array.of(x, x));
const f32x4 = (x: number): Code => vconst(Float32Array.of(x, x, x, x));
const i32x4 = (x: number): Code => vconst(Int32Array.of(x, x, x, x));

interface FnDef {
  name: string;
  params: number[];
  result: number | null;
  locals: number[];
  code: Code[];
}

function assemble(fns: FnDef[]): Uint8Array {
  const vec = (items: Code[]): Code => [...uleb(items.length), ...items.flat()];
  const section = (id: number, body: Code): Code => [id, ...uleb(body.length), ...body];
  const str = (s: string): Code => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
  const out: Code = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  out.push(...section(1, vec(fns.map((f) => [0x60, ...vec(f.params.map((t) => [t])), ...(f.result === null ? [0] : [1, f.result])]))));
  out.push(...section(3, vec(fns.map((_, i) => uleb(i)))));
  out.push(...section(5, vec([[0x00, ...uleb(16)]]))); // memory: 16 pages (1 MiB) initially, grows
  out.push(...section(7, vec([[...str('mem'), 0x02, 0], ...fns.map((f, i) => [...str(f.name), 0x00, ...uleb(i)])])));
  const bodies = fns.map((f) => {
    const b = [...vec(f.locals.map((t) => [1, t])), ...f.code.flat(), 0x0b];
    return [...uleb(b.length), ...b];
  });
  out.push(...section(10, vec(bodies)));
  return new Uint8Array(out);
}

/**
 * Loop over pairs: while ptrs[0] < end { body; ptrs += 16 }. `end` = ptrs[0] + (n & ~1)·8 must be
 * set by the caller.
 */
function pairLoop(ptrs: number[], end: number, body: Code[]): Code[] {
  const adv: Code[] = [];
  for (const p of ptrs) adv.push(op.get(p), op.i32(16), op.i32add, op.set(p));
  return [op.block, op.loop, op.get(ptrs[0]), op.get(end), op.i32geu, op.brIf(1), ...body, ...adv, op.br(0), op.end, op.end];
}

/** end = base + ((n & mask) << 3) */
function setEnd(end: number, base: number, n: number, mask: number): Code[] {
  return [op.get(base), op.get(n), op.i32(mask), op.i32and, op.i32(3), op.i32shl, op.i32add, op.set(end)];
}

const ifOdd = (n: number, body: Code[]): Code[] => [op.get(n), op.i32(1), op.i32and, op.if, ...body, op.end];
const hsum = (v: number): Code[] => [op.get(v), op.lane(0), op.get(v), op.lane(1), op.f64add];

/** `relaxed`: the float32 Gram tiles use relaxed SIMD multiply-add (an FMA where the CPU has one). */
function wasmKernelDefs(relaxed: boolean): FnDef[] {
  // dot(x, y, n) -> f64 ; locals: 3 end(i32) 4 a0 5 a1 (v128) 6 s (f64)
  const dot: FnDef = {
    name: 'dot',
    params: [I32, I32, I32],
    result: F64,
    locals: [I32, V128, V128, F64],
    code: [
      op.vzero, op.set(4), op.vzero, op.set(5),
      ...setEnd(3, 0, 2, -4),
      op.block, op.loop, op.get(0), op.get(3), op.i32geu, op.brIf(1),
      op.get(4), op.get(0), op.vload(), op.get(1), op.vload(), op.vmul, op.vadd, op.set(4),
      op.get(5), op.get(0), op.vload(16), op.get(1), op.vload(16), op.vmul, op.vadd, op.set(5),
      op.get(0), op.i32(32), op.i32add, op.set(0), op.get(1), op.i32(32), op.i32add, op.set(1),
      op.br(0), op.end, op.end,
      op.get(2), op.i32(2), op.i32and, op.if,
      op.get(4), op.get(0), op.vload(), op.get(1), op.vload(), op.vmul, op.vadd, op.set(4),
      op.get(0), op.i32(16), op.i32add, op.set(0), op.get(1), op.i32(16), op.i32add, op.set(1),
      op.end,
      op.get(4), op.get(5), op.vadd, op.set(4),
      ...hsum(4), op.set(6),
      ...ifOdd(2, [op.get(6), op.get(0), op.f64load(), op.get(1), op.f64load(), op.f64mul, op.f64add, op.set(6)]),
      op.get(6),
    ],
  };
  // axpy(a, x, y, n): y += a x ; locals: 4 end 5 av
  const axpy: FnDef = {
    name: 'axpy',
    params: [F64, I32, I32, I32],
    result: null,
    locals: [I32, V128],
    code: [
      op.get(0), op.splat, op.set(5),
      ...setEnd(4, 2, 3, -2),
      ...pairLoop([2, 1], 4, [op.get(2), op.get(2), op.vload(), op.get(5), op.get(1), op.vload(), op.vmul, op.vadd, op.vstore()]),
      ...ifOdd(3, [op.get(2), op.get(2), op.f64load(), op.get(0), op.get(1), op.f64load(), op.f64mul, op.f64add, op.f64store()]),
    ],
  };
  // sub2(a, x, b, y, z, n): z -= a x + b y ; locals: 6 end 7 av 8 bv
  const sub2: FnDef = {
    name: 'sub2',
    params: [F64, I32, F64, I32, I32, I32],
    result: null,
    locals: [I32, V128, V128],
    code: [
      op.get(0), op.splat, op.set(7), op.get(2), op.splat, op.set(8),
      ...setEnd(6, 4, 5, -2),
      ...pairLoop([4, 1, 3], 6, [
        op.get(4), op.get(4), op.vload(), op.get(7), op.get(1), op.vload(), op.vmul, op.get(8), op.get(3), op.vload(), op.vmul, op.vadd, op.vsub, op.vstore(),
      ]),
      ...ifOdd(5, [
        op.get(4), op.get(4), op.f64load(), op.get(0), op.get(1), op.f64load(), op.f64mul, op.get(2), op.get(3), op.f64load(), op.f64mul, op.f64add, op.f64sub, op.f64store(),
      ]),
    ],
  };
  // scale(a, x, n) ; locals: 3 end 4 av
  const scale: FnDef = {
    name: 'scale',
    params: [F64, I32, I32],
    result: null,
    locals: [I32, V128],
    code: [
      op.get(0), op.splat, op.set(4),
      ...setEnd(3, 1, 2, -2),
      ...pairLoop([1], 3, [op.get(1), op.get(1), op.vload(), op.get(4), op.vmul, op.vstore()]),
      ...ifOdd(2, [op.get(1), op.get(1), op.f64load(), op.get(0), op.f64mul, op.f64store()]),
    ],
  };
  // dot4(x, y0, y1, y2, y3, n, out) ; locals: 7 end 8..11 acc 12 xv (v128) 13 xs (f64)
  const accum = (acc: number, y: number): Code[] => [op.get(acc), op.get(12), op.get(y), op.vload(), op.vmul, op.vadd, op.set(acc)];
  const put = (acc: number, off: number): Code[] => [op.get(6), ...hsum(acc), op.f64store(off)];
  // odd tail: out[t] += x[last]·y_t[last] (pointers are at the last element after the pair loop)
  const tail = (y: number, off: number): Code[] => [
    op.get(6), op.get(6), op.f64load(off), op.get(13), op.get(y), op.f64load(), op.f64mul, op.f64add, op.f64store(off),
  ];
  const dot4: FnDef = {
    name: 'dot4',
    params: [I32, I32, I32, I32, I32, I32, I32],
    result: null,
    locals: [I32, V128, V128, V128, V128, V128, F64],
    code: [
      op.vzero, op.set(8), op.vzero, op.set(9), op.vzero, op.set(10), op.vzero, op.set(11),
      ...setEnd(7, 0, 5, -2),
      ...pairLoop([0, 1, 2, 3, 4], 7, [op.get(0), op.vload(), op.set(12), ...accum(8, 1), ...accum(9, 2), ...accum(10, 3), ...accum(11, 4)]),
      ...put(8, 0), ...put(9, 8), ...put(10, 16), ...put(11, 24),
      ...ifOdd(5, [op.get(0), op.f64load(), op.set(13), ...tail(1, 0), ...tail(2, 8), ...tail(3, 16), ...tail(4, 24)]),
    ],
  };
  // fusedRow(g, w, v, u, p, n, vi, wi, ui) -> f64 ; locals: 9 end 10 viv 11 wiv 12 uiv 13 acc 14 x (v128) 15 xs 16 s (f64)
  const fusedRow: FnDef = {
    name: 'fusedRow',
    params: [I32, I32, I32, I32, I32, I32, F64, F64, F64],
    result: F64,
    locals: [I32, V128, V128, V128, V128, V128, F64, F64],
    code: [
      op.get(6), op.splat, op.set(10), op.get(7), op.splat, op.set(11), op.get(8), op.splat, op.set(12), op.vzero, op.set(13),
      ...setEnd(9, 0, 5, -2),
      ...pairLoop([0, 1, 2, 3, 4], 9, [
        op.get(0), op.vload(), op.get(10), op.get(1), op.vload(), op.vmul, op.vsub, op.get(11), op.get(2), op.vload(), op.vmul, op.vsub, op.set(14),
        op.get(0), op.get(14), op.vstore(),
        op.get(13), op.get(14), op.get(3), op.vload(), op.vmul, op.vadd, op.set(13),
        op.get(4), op.get(4), op.vload(), op.get(14), op.get(12), op.vmul, op.vadd, op.vstore(),
      ]),
      ...hsum(13), op.set(16),
      ...ifOdd(5, [
        op.get(0), op.f64load(), op.get(6), op.get(1), op.f64load(), op.f64mul, op.f64sub, op.get(7), op.get(2), op.f64load(), op.f64mul, op.f64sub, op.set(15),
        op.get(0), op.get(15), op.f64store(),
        op.get(16), op.get(15), op.get(3), op.f64load(), op.f64mul, op.f64add, op.set(16),
        op.get(4), op.get(4), op.f64load(), op.get(15), op.get(8), op.f64mul, op.f64add, op.f64store(),
      ]),
      op.get(16),
    ],
  };
  // matvecRow(g, u, p, n, ui) -> f64 ; locals: 5 end 6 uiv 7 acc 8 x (v128) 9 xs 10 s
  const matvecRow: FnDef = {
    name: 'matvecRow',
    params: [I32, I32, I32, I32, F64],
    result: F64,
    locals: [I32, V128, V128, V128, F64, F64],
    code: [
      op.get(4), op.splat, op.set(6), op.vzero, op.set(7),
      ...setEnd(5, 0, 3, -2),
      ...pairLoop([0, 1, 2], 5, [
        op.get(0), op.vload(), op.set(8),
        op.get(7), op.get(8), op.get(1), op.vload(), op.vmul, op.vadd, op.set(7),
        op.get(2), op.get(2), op.vload(), op.get(8), op.get(6), op.vmul, op.vadd, op.vstore(),
      ]),
      ...hsum(7), op.set(10),
      ...ifOdd(3, [
        op.get(0), op.f64load(), op.set(9),
        op.get(10), op.get(9), op.get(1), op.f64load(), op.f64mul, op.f64add, op.set(10),
        op.get(2), op.get(2), op.f64load(), op.get(9), op.get(4), op.f64mul, op.f64add, op.f64store(),
      ]),
      op.get(10),
    ],
  };
  // updateRow(g, w, v, n, vi, wi) ; locals: 6 end 7 viv 8 wiv
  const updateRow: FnDef = {
    name: 'updateRow',
    params: [I32, I32, I32, I32, F64, F64],
    result: null,
    locals: [I32, V128, V128],
    code: [
      op.get(4), op.splat, op.set(7), op.get(5), op.splat, op.set(8),
      ...setEnd(6, 0, 3, -2),
      ...pairLoop([0, 1, 2], 6, [
        op.get(0), op.get(0), op.vload(), op.get(7), op.get(1), op.vload(), op.vmul, op.get(8), op.get(2), op.vload(), op.vmul, op.vadd, op.vsub, op.vstore(),
      ]),
      ...ifOdd(3, [
        op.get(0), op.get(0), op.f64load(), op.get(4), op.get(1), op.f64load(), op.f64mul, op.get(5), op.get(2), op.f64load(), op.f64mul, op.f64add, op.f64sub, op.f64store(),
      ]),
    ],
  };
  // rows4(a0, a1, a2, a3, q, z, n, d): d[t] += a_t·q over [0, n) (d holds the dots of the parts
  // of the rows outside the common range on entry), then z += Σ_t d[t]·a_t over [0, n).
  // locals: 8 end 9..12 acc 13 xv 14..17 saved a_t (i32) 18..21 dt (f64) 22..25 dv 26..29 acc' 30 xv' (v128)
  const acc4 = (t: number): Code[] => [op.get(9 + t), op.get(t), op.vload(), op.get(13), op.vmul, op.vadd, op.set(9 + t)];
  const fin = (t: number): Code[] => [op.get(7), op.f64load(8 * t), ...hsum(9 + t), op.f64add, op.set(18 + t)];
  const oddDot = (t: number): Code[] => [op.get(18 + t), op.get(t), op.f64load(), op.get(4), op.f64load(), op.f64mul, op.f64add, op.set(18 + t)];
  const acc4b = (t: number): Code[] => [op.get(26 + t), op.get(t), op.vload(16), op.get(30), op.vmul, op.vadd, op.set(26 + t)];
  const adv = (ptrs: number[], by: number): Code[] => ptrs.flatMap((p) => [op.get(p), op.i32(by), op.i32add, op.set(p)]);
  const term = (dv: number, a: number): Code[] => [op.get(dv), op.get(a), op.vload(), op.vmul];
  const rows4: FnDef = {
    name: 'rows4',
    params: [I32, I32, I32, I32, I32, I32, I32, I32],
    result: null,
    locals: [I32, V128, V128, V128, V128, V128, I32, I32, I32, I32, F64, F64, F64, F64, V128, V128, V128, V128, V128, V128, V128, V128, V128],
    code: [
      op.vzero, op.set(9), op.vzero, op.set(10), op.vzero, op.set(11), op.vzero, op.set(12),
      op.vzero, op.set(26), op.vzero, op.set(27), op.vzero, op.set(28), op.vzero, op.set(29),
      op.get(0), op.set(14), op.get(1), op.set(15), op.get(2), op.set(16), op.get(3), op.set(17),
      // dots, four doubles per iteration into two sets of accumulators
      ...setEnd(8, 4, 6, -4),
      op.block, op.loop, op.get(4), op.get(8), op.i32geu, op.brIf(1),
      op.get(4), op.vload(), op.set(13), op.get(4), op.vload(16), op.set(30),
      ...acc4(0), ...acc4b(0), ...acc4(1), ...acc4b(1), ...acc4(2), ...acc4b(2), ...acc4(3), ...acc4b(3),
      ...adv([4, 0, 1, 2, 3], 32),
      op.br(0), op.end, op.end,
      op.get(6), op.i32(2), op.i32and, op.if,
      op.get(4), op.vload(), op.set(13), ...acc4(0), ...acc4(1), ...acc4(2), ...acc4(3),
      ...adv([4, 0, 1, 2, 3], 16),
      op.end,
      ...[0, 1, 2, 3].flatMap((t) => [op.get(9 + t), op.get(26 + t), op.vadd, op.set(9 + t)]),
      ...fin(0), ...fin(1), ...fin(2), ...fin(3),
      ...ifOdd(6, [...oddDot(0), ...oddDot(1), ...oddDot(2), ...oddDot(3)]),
      op.get(7), op.get(18), op.f64store(0), op.get(7), op.get(19), op.f64store(8),
      op.get(7), op.get(20), op.f64store(16), op.get(7), op.get(21), op.f64store(24),
      op.get(18), op.splat, op.set(22), op.get(19), op.splat, op.set(23), op.get(20), op.splat, op.set(24), op.get(21), op.splat, op.set(25),
      op.get(14), op.set(0), op.get(15), op.set(1), op.get(16), op.set(2), op.get(17), op.set(3),
      // z += (d0·a0 + d1·a1) + (d2·a2 + d3·a3)
      ...setEnd(8, 5, 6, -2),
      ...pairLoop([5, 0, 1, 2, 3], 8, [
        op.get(5),
        ...term(22, 0), ...term(23, 1), op.vadd, ...term(24, 2), ...term(25, 3), op.vadd, op.vadd,
        op.get(5), op.vload(), op.vadd,
        op.vstore(),
      ]),
      ...ifOdd(6, [
        op.get(5),
        op.get(18), op.get(0), op.f64load(), op.f64mul, op.get(19), op.get(1), op.f64load(), op.f64mul, op.f64add,
        op.get(20), op.get(2), op.f64load(), op.f64mul, op.get(21), op.get(3), op.f64load(), op.f64mul, op.f64add, op.f64add,
        op.get(5), op.f64load(), op.f64add,
        op.f64store(),
      ]),
    ],
  };
  // gramPanel32(pj, pk, nrows, ntiles, acc, tileBytes, p, accStride): float32 Gram tiles over one
  // chunk of rows of the panel layout of gramFrobeniusUpper (per tile: nrows rows of 8 floats, 32
  // bytes apart; tiles tileBytes apart). For tile t = 0..ntiles-1 and each of the p J blocks
  // (4 columns each, starting at pj; block b at pj + (b>>1)·tileBytes + (b&1)·16): the 4×8
  // products Σ_r A[r, j0+s]·A[r, k0_t+c] (s = 0..3 at 32r + 4s) are summed in float32 over the
  // nrows rows, promoted exactly and added to the float64 sums at byte address
  // acc + b·accStride + 8·(t·32 + s·8 + c). The p passes over a tile hit L1.
  // locals: 8 cnt 9 jp 10 kp 11 b (i32) 12..19 acc 20 x0 21 x1 22 s (v128) 23 accp (i32)
  // a += s·x: one fused multiply-add with relaxed SIMD (the whole bound 1.26× faster at T = 1024), else mul + add.
  // Either way a dot product of non-negative terms stays within γ_B (gramFrobeniusUpper's bound).
  const accT = (a: number, x: number): Code[] =>
    relaxed ? [op.get(22), op.get(x), op.get(a), op.f32x4madd, op.set(a)] : [op.get(a), op.get(22), op.get(x), op.f32x4mul, op.f32x4add, op.set(a)];
  const flush = (t: number, h: number): Code[] => {
    const a = 12 + 2 * t + h;
    const o = (t * 8 + 4 * h) * 8;
    return [
      op.get(23), op.get(23), op.vload(o), op.get(a), op.promoteLow, op.vadd, op.vstore(o),
      op.get(23), op.get(23), op.vload(o + 16), op.get(a), op.get(a), op.swapHalves, op.promoteLow, op.vadd, op.vstore(o + 16),
    ];
  };
  const gramPanel32: FnDef = {
    name: 'gramPanel32',
    params: [I32, I32, I32, I32, I32, I32, I32, I32],
    result: null,
    locals: [I32, I32, I32, I32, V128, V128, V128, V128, V128, V128, V128, V128, V128, V128, V128, I32],
    code: [
      op.block, op.loop,
      op.get(3), op.i32eqz, op.brIf(1),
      op.i32(0), op.set(11),
      op.block, op.loop,
      op.get(11), op.get(6), op.i32geu, op.brIf(1),
      ...[12, 13, 14, 15, 16, 17, 18, 19].flatMap((l) => [op.vzero, op.set(l)]),
      op.get(2), op.set(8), op.get(1), op.set(10),
      // J block s of the panel: column block s >> 1, half s & 1
      op.get(0), op.get(11), op.i32(1), op.i32shru, op.get(5), op.i32mul, op.i32add,
      op.get(11), op.i32(1), op.i32and, op.i32(4), op.i32shl, op.i32add, op.set(9),
      op.get(4), op.get(11), op.get(7), op.i32mul, op.i32add, op.set(23),
      op.block, op.loop,
      op.get(8), op.i32eqz, op.brIf(1),
      op.get(10), op.vload(0), op.set(20), op.get(10), op.vload(16), op.set(21),
      op.get(9), op.load32splat(0), op.set(22), ...accT(12, 20), ...accT(13, 21),
      op.get(9), op.load32splat(4), op.set(22), ...accT(14, 20), ...accT(15, 21),
      op.get(9), op.load32splat(8), op.set(22), ...accT(16, 20), ...accT(17, 21),
      op.get(9), op.load32splat(12), op.set(22), ...accT(18, 20), ...accT(19, 21),
      op.get(10), op.i32(32), op.i32add, op.set(10), op.get(9), op.i32(32), op.i32add, op.set(9),
      op.get(8), op.i32(1), op.i32sub, op.set(8),
      op.br(0), op.end, op.end,
      ...flush(0, 0), ...flush(0, 1), ...flush(1, 0), ...flush(1, 1), ...flush(2, 0), ...flush(2, 1), ...flush(3, 0), ...flush(3, 1),
      op.get(11), op.i32(1), op.i32add, op.set(11),
      op.br(0), op.end, op.end,
      op.get(1), op.get(5), op.i32add, op.set(1),
      op.get(4), op.i32(256), op.i32add, op.set(4),
      op.get(3), op.i32(1), op.i32sub, op.set(3),
      op.br(0), op.end, op.end,
    ],
  };
  // cvt8(src, dst, nblocks, stride): float64 → float32 (round to nearest) in blocks of 8: block b
  // reads src + 64b, writes dst + stride·b (the panel layout's column blocks).
  const cvtHalf = (o: number): Code[] => [
    op.get(1),
    op.get(0), op.vload(o), op.demoteZero, op.get(0), op.vload(o + 16), op.demoteZero, op.lowHalves,
    op.vstore(o / 2),
  ];
  const cvt8: FnDef = {
    name: 'cvt8',
    params: [I32, I32, I32, I32],
    result: null,
    locals: [],
    code: [
      op.block, op.loop,
      op.get(2), op.i32eqz, op.brIf(1),
      ...cvtHalf(0), ...cvtHalf(32),
      op.get(0), op.i32(64), op.i32add, op.set(0), op.get(1), op.get(3), op.i32add, op.set(1),
      op.get(2), op.i32(1), op.i32sub, op.set(2),
      op.br(0), op.end, op.end,
    ],
  };
  // absMaxMin(x, n, out): out[0] = max |x_i|, out[1] = min x_i, out[2] = 1 if some x_i is NaN else
  // 0 (n a multiple of 4, ≥ 4). Two sets of accumulators (pmax/pmin are single instructions; NaN
  // is detected separately). locals: 3 end (i32) 4 mx0 5 mx1 6 mn0 7 mn1 8 nan 9 v 10 w (v128)
  const mm = (v: number, mx: number, mn: number): Code[] => [
    op.get(mx), op.get(v), op.vabs, op.vpmax, op.set(mx),
    op.get(mn), op.get(v), op.vpmin, op.set(mn),
    op.get(8), op.get(v), op.get(v), op.vne, op.vor, op.set(8),
  ];
  const absMaxMin: FnDef = {
    name: 'absMaxMin',
    params: [I32, I32, I32],
    result: null,
    locals: [I32, V128, V128, V128, V128, V128, V128, V128],
    code: [
      op.get(0), op.vload(), op.set(6), op.get(6), op.set(7), op.get(6), op.vabs, op.set(4), op.get(4), op.set(5),
      op.vzero, op.set(8),
      op.get(0), op.get(1), op.i32(3), op.i32shl, op.i32add, op.set(3),
      op.block, op.loop, op.get(0), op.get(3), op.i32geu, op.brIf(1),
      op.get(0), op.vload(), op.set(9), op.get(0), op.vload(16), op.set(10),
      ...mm(9, 4, 6), ...mm(10, 5, 7),
      op.get(0), op.i32(32), op.i32add, op.set(0),
      op.br(0), op.end, op.end,
      op.get(4), op.get(5), op.vpmax, op.set(4), op.get(6), op.get(7), op.vpmin, op.set(6),
      op.get(2), op.get(4), op.lane(0), op.get(4), op.lane(1), op.f64max, op.f64store(0),
      op.get(2), op.get(6), op.lane(0), op.get(6), op.lane(1), op.f64min, op.f64store(8),
      op.get(2), op.get(8), op.vanyTrue, op.f64convertI32u, op.f64store(16),
    ],
  };
  return [dot, axpy, sub2, scale, dot4, fusedRow, matvecRow, updateRow, rows4, gramPanel32, cvt8, absMaxMin, rowStats32Def(), ...packDefs()];
}

/**
 * rowExtents32(src, ld, nrows, out): for each of `nrows` float32 rows of `ld` entries (a multiple of 4) at src + 4·ld·i,
 * the index of the first group of 4 holding a non-zero bit pattern and one past the last, as two i32 at out + 8·i
 * (both ld/4 for a zero row). promote32(src, dst, n): n float32 at src → float64 at dst. With these, packRows reads a
 * float32 matrix in two SIMD passes instead of a scalar zero scan and a float32 → float64 TypedArray.set: at T = 1024,
 * 1.8 → 0.6 ms (lazy head), 2.0 → 1.2 ms (noisy head).
 */
function packDefs(): FnDef[] {
  // params 0 src 1 ld 2 nrows 3 out; locals 4 i 5 r 6 g 7 end (i32)
  const rowExtents32: FnDef = {
    name: 'rowExtents32',
    params: [I32, I32, I32, I32],
    result: null,
    locals: [I32, I32, I32, I32],
    code: [
      op.block, op.loop, op.get(4), op.get(2), op.i32geu, op.brIf(1),
      op.get(0), op.get(4), op.get(1), op.i32mul, op.i32(2), op.i32shl, op.i32add, op.set(5),
      op.get(5), op.get(1), op.i32(2), op.i32shl, op.i32add, op.set(7),
      // first non-zero group
      op.get(5), op.set(6),
      op.block, op.loop, op.get(6), op.get(7), op.i32geu, op.brIf(1),
      op.get(6), op.vload(), op.vanyTrue, op.brIf(1),
      op.get(6), op.i32(16), op.i32add, op.set(6), op.br(0), op.end, op.end,
      op.get(3), op.get(4), op.i32(3), op.i32shl, op.i32add, op.get(6), op.get(5), op.i32sub, op.i32(4), op.i32shru, op.i32store(0),
      // one past the last non-zero group (stops at the first one when the row is zero: then end = first = ld/4)
      op.block, op.loop, op.get(6), op.get(7), op.i32geu, op.brIf(1),
      op.get(7), op.i32(16), op.i32sub, op.vload(), op.vanyTrue, op.brIf(1),
      op.get(7), op.i32(16), op.i32sub, op.set(7), op.br(0), op.end, op.end,
      op.get(3), op.get(4), op.i32(3), op.i32shl, op.i32add, op.get(7), op.get(5), op.i32sub, op.i32(4), op.i32shru, op.i32store(4),
      op.get(4), op.i32(1), op.i32add, op.set(4), op.br(0), op.end, op.end,
    ],
  };
  // params 0 src 1 dst 2 n; locals 3 end4 (i32)
  const promote32: FnDef = {
    name: 'promote32',
    params: [I32, I32, I32],
    result: null,
    locals: [I32],
    code: [
      op.get(0), op.get(2), op.i32(-4), op.i32and, op.i32(2), op.i32shl, op.i32add, op.set(3),
      op.block, op.loop, op.get(0), op.get(3), op.i32geu, op.brIf(1),
      op.get(1), op.get(0), op.vload(), op.promoteLow, op.vstore(0),
      op.get(1), op.get(0), op.vload(), op.get(0), op.vload(), op.highHalves, op.promoteLow, op.vstore(16),
      op.get(0), op.i32(16), op.i32add, op.set(0), op.get(1), op.i32(32), op.i32add, op.set(1),
      op.br(0), op.end, op.end,
      op.get(2), op.i32(3), op.i32and, op.set(2),
      op.block, op.loop, op.get(2), op.i32eqz, op.brIf(1),
      op.get(1), op.get(0), op.f32load(), op.f64promoteF32, op.f64store(),
      op.get(0), op.i32(4), op.i32add, op.set(0), op.get(1), op.i32(8), op.i32add, op.set(1),
      op.get(2), op.i32(1), op.i32sub, op.set(2),
      op.br(0), op.end, op.end,
    ],
  };
  return [rowExtents32, promote32];
}

/**
 * rowStats32(src, ld, nrows, col, col2, ent, doCols): for each of `nrows` float32 rows of `ld` entries (a multiple
 * of 4) at byte address src + i·4·ld: ent[i] = Σ_j p_ij·ln p_ij over the positive entries (float64) and, when
 * doCols ≠ 0, col[j] += p_ij and col2[j] += p_ij² (float64, row by row: the same order and rounding as a scalar
 * float64 loop). Trailing all-zero groups of 4 are skipped (the zero upper triangle of a causal
 * pattern). ln: p = 2^e·m with m in [√½, √2), ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172, by its series to
 * s¹¹ in float64 (truncation ≤ s¹²/13 < 1e-10 relative): Σ p·ln p to ~1e-10 relative, against ~1e-7 needed for the
 * report.
 * Replaces two scalar JS passes (Math.log per entry, column sums): 10.4 → 3.2 ms per noisy 1024×1024 causal head.
 */
function rowStats32Def(): FnDef {
  // params 0 src 1 ld 2 nrows 3 col 4 col2 5 ent 6 doCols; locals 7 i 8 r 9 end 10 p 11 j8 12 addr (i32)
  // 13 x 14 m 15 e 16 big 17 acc 18 s 19 z 20 lo 21 hi (v128)
  const [SRC, LD, NROWS, COL, COL2, ENT, DOCOLS, I, R, END, P, J8, ADDR] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const [X, M, E, BIG, ACC, S, Z, LO, HI] = [13, 14, 15, 16, 17, 18, 19, 20, 21];
  /** Σ over the two float64 lanes of ph·ln(2^eh·mh), added to acc. */
  const halfLog = (mh: Code[], eh: Code[], ph: Code[]): Code[] => [
    op.get(ACC),
    ...mh, f64x2(1), op.vsub, ...mh, f64x2(1), op.vadd, op.vdiv, op.set(S),
    op.get(S), op.get(S), op.vmul, op.set(Z),
    f64x2(2 / 11), op.get(Z), op.vmul, f64x2(2 / 9), op.vadd, op.get(Z), op.vmul, f64x2(2 / 7), op.vadd,
    op.get(Z), op.vmul, f64x2(2 / 5), op.vadd, op.get(Z), op.vmul, f64x2(2 / 3), op.vadd,
    op.get(Z), op.vmul, f64x2(2), op.vadd, op.get(S), op.vmul, // ln m
    ...eh, f64x2(Math.LN2), op.vmul, op.vadd, // + e·ln 2
    ...ph, op.vmul, op.vadd, op.set(ACC),
  ];
  /** dst[j8 .. j8 + 32) += (lo, hi) or their squares */
  const accumulate = (dst: number, squared: boolean): Code[] => {
    const sq = (v: number): Code[] => (squared ? [op.get(v), op.get(v), op.vmul] : [op.get(v)]);
    return [
      op.get(dst), op.get(J8), op.i32add, op.set(ADDR),
      op.get(ADDR), op.get(ADDR), op.vload(0), ...sq(LO), op.vadd, op.vstore(0),
      op.get(ADDR), op.get(ADDR), op.vload(16), ...sq(HI), op.vadd, op.vstore(16),
    ];
  };
  const body: Code[] = [
    op.get(P), op.vload(), op.set(X),
    op.get(DOCOLS), op.if,
    op.get(X), op.promoteLow, op.set(LO), op.get(X), op.get(X), op.highHalves, op.promoteLow, op.set(HI),
    op.get(P), op.get(R), op.i32sub, op.i32(1), op.i32shl, op.set(J8),
    ...accumulate(COL, false), ...accumulate(COL2, true),
    op.end,
    op.get(X), op.vzero, op.f32x4pmax, op.set(X), // negatives → 0 for the entropy
    op.get(X), op.promoteLow, op.set(LO), op.get(X), op.get(X), op.highHalves, op.promoteLow, op.set(HI),
    op.get(X), op.i32(23), op.i32x4shrU, i32x4(127), op.i32x4sub, op.set(E),
    op.get(X), i32x4(0x7fffff), op.vand, i32x4(0x3f800000), op.vor, op.set(M), // m in [1, 2)
    op.get(M), f32x4(Math.SQRT2), op.f32x4gt, op.set(BIG),
    op.get(M), f32x4(0.5), op.f32x4mul, op.get(M), op.get(BIG), op.bitselect, op.set(M),
    op.get(E), op.get(BIG), op.i32x4sub, op.set(E), // mask lanes are −1: e + 1 where m was halved
    ...halfLog([op.get(M), op.promoteLow], [op.get(E), op.convertLowI32], [op.get(LO)]),
    ...halfLog([op.get(M), op.get(M), op.highHalves, op.promoteLow], [op.get(E), op.get(E), op.highHalves, op.convertLowI32], [op.get(HI)]),
  ];
  return {
    name: 'rowStats32',
    params: [I32, I32, I32, I32, I32, I32, I32],
    result: null,
    locals: [I32, I32, I32, I32, I32, I32, V128, V128, V128, V128, V128, V128, V128, V128, V128],
    code: [
      op.block, op.loop, op.get(I), op.get(NROWS), op.i32geu, op.brIf(1),
      op.get(SRC), op.get(I), op.get(LD), op.i32mul, op.i32(2), op.i32shl, op.i32add, op.set(R),
      op.get(R), op.get(LD), op.i32(2), op.i32shl, op.i32add, op.set(END),
      // trim trailing all-zero groups
      op.block, op.loop, op.get(R), op.get(END), op.i32geu, op.brIf(1),
      op.get(END), op.i32(16), op.i32sub, op.vload(), op.vanyTrue, op.brIf(1),
      op.get(END), op.i32(16), op.i32sub, op.set(END), op.br(0), op.end, op.end,
      op.vzero, op.set(ACC), op.get(R), op.set(P),
      op.block, op.loop, op.get(P), op.get(END), op.i32geu, op.brIf(1),
      ...body,
      op.get(P), op.i32(16), op.i32add, op.set(P), op.br(0), op.end, op.end,
      op.get(ENT), op.get(I), op.i32(3), op.i32shl, op.i32add, ...hsum(ACC), op.f64store(),
      op.get(I), op.i32(1), op.i32add, op.set(I), op.br(0), op.end, op.end,
    ],
  };
}

interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

type WasmExports = {
  mem: WasmMemory;
  dot(x: number, y: number, n: number): number;
  axpy(a: number, x: number, y: number, n: number): void;
  sub2(a: number, x: number, b: number, y: number, z: number, n: number): void;
  scale(a: number, x: number, n: number): void;
  dot4(x: number, y0: number, y1: number, y2: number, y3: number, n: number, out: number): void;
  fusedRow(g: number, w: number, v: number, u: number, p: number, n: number, vi: number, wi: number, ui: number): number;
  matvecRow(g: number, u: number, p: number, n: number, ui: number): number;
  updateRow(g: number, w: number, v: number, n: number, vi: number, wi: number): void;
  rows4(a0: number, a1: number, a2: number, a3: number, q: number, z: number, n: number, d: number): void;
  gramPanel32(pj: number, pk: number, nrows: number, ntiles: number, acc: number, tileBytes: number, p: number, accStride: number): void;
  cvt8(src: number, dst: number, nblocks: number, stride: number): void;
  absMaxMin(x: number, n: number, out: number): void;
  rowStats32(src: number, ld: number, nrows: number, col: number, col2: number, ent: number, doCols: number): void;
  rowExtents32(src: number, ld: number, nrows: number, out: number): void;
  promote32(src: number, dst: number, n: number): void;
};

export class WasmKernels implements Kernels {
  readonly kind = 'wasm' as const;
  f: Float64Array;
  private readonly x: WasmExports;

  constructor(
    exports: WasmExports,
    /** The float32 Gram tiles use relaxed SIMD multiply-add. */
    readonly relaxed: boolean,
  ) {
    this.x = exports;
    this.f = new Float64Array(exports.mem.buffer);
  }

  ensure(doubles: number): void {
    const bytes = doubles * 8;
    const have = this.x.mem.buffer.byteLength;
    if (bytes > have) {
      if (bytes > 2 ** 32 - 65536) throw new RangeError('linalg: problem too large for the WebAssembly heap (4 GiB)');
      const want = Math.max(bytes, Math.min(2 ** 32 - 65536, Math.floor(have * 1.5)));
      this.x.mem.grow(Math.ceil((want - have) / 65536));
    }
    if (this.f.buffer !== this.x.mem.buffer) this.f = new Float64Array(this.x.mem.buffer);
  }

  // offsets (doubles) → byte addresses
  dot(x: number, y: number, n: number): number {
    return this.x.dot(x * 8, y * 8, n);
  }
  sumsq(x: number, n: number): number {
    return this.x.dot(x * 8, x * 8, n);
  }
  axpy(a: number, x: number, y: number, n: number): void {
    this.x.axpy(a, x * 8, y * 8, n);
  }
  sub2(a: number, x: number, b: number, y: number, z: number, n: number): void {
    this.x.sub2(a, x * 8, b, y * 8, z * 8, n);
  }
  scale(a: number, x: number, n: number): void {
    this.x.scale(a, x * 8, n);
  }
  dot4(x: number, y0: number, y1: number, y2: number, y3: number, n: number, out: number): void {
    this.x.dot4(x * 8, y0 * 8, y1 * 8, y2 * 8, y3 * 8, n, out * 8);
  }
  fusedRow(g: number, w: number, v: number, u: number, p: number, n: number, vi: number, wi: number, ui: number): number {
    return this.x.fusedRow(g * 8, w * 8, v * 8, u * 8, p * 8, n, vi, wi, ui);
  }
  matvecRow(g: number, u: number, p: number, n: number, ui: number): number {
    return this.x.matvecRow(g * 8, u * 8, p * 8, n, ui);
  }
  updateRow(g: number, w: number, v: number, n: number, vi: number, wi: number): void {
    this.x.updateRow(g * 8, w * 8, v * 8, n, vi, wi);
  }
  rows4(a0: number, a1: number, a2: number, a3: number, q: number, z: number, n: number, d: number): void {
    this.x.rows4(a0 * 8, a1 * 8, a2 * 8, a3 * 8, q * 8, z * 8, n, d * 8);
  }
  /** See gramPanel32 in wasmKernelDefs; addresses in bytes. */
  gramPanel32(pj: number, pk: number, nrows: number, ntiles: number, acc: number, tileBytes: number, p: number, accStride: number): void {
    this.x.gramPanel32(pj, pk, nrows, ntiles, acc, tileBytes, p, accStride);
  }
  /** See cvt8 in wasmKernelDefs; addresses in bytes. */
  cvt8(src: number, dst: number, nblocks: number, stride: number): void {
    this.x.cvt8(src, dst, nblocks, stride);
  }
  /** See packDefs; addresses in bytes. */
  rowExtents32(src: number, ld: number, nrows: number, out: number): void {
    this.x.rowExtents32(src, ld, nrows, out);
  }
  /** See packDefs; addresses in bytes. */
  promote32(src: number, dst: number, n: number): void {
    this.x.promote32(src, dst, n);
  }
  /** See rowStats32Def; addresses in bytes. */
  rowStats32(src: number, ld: number, nrows: number, col: number, col2: number, ent: number, doCols: boolean): void {
    this.x.rowStats32(src, ld, nrows, col, col2, ent, doCols ? 1 : 0);
  }
  /** [max |x_i| (NaN if any is NaN), min x_i] of n ≥ 2 doubles at heap offset x (out: 2 doubles of scratch). */
  absMaxMin(x: number, n: number, out: number): [number, number] {
    const n4 = n & ~3;
    let mx = 0;
    let mn = Infinity;
    let nan = false;
    if (n4 > 0) {
      this.x.absMaxMin(x * 8, n4, out * 8);
      mx = this.f[out];
      mn = this.f[out + 1];
      nan = this.f[out + 2] !== 0;
    }
    for (let i = n4; i < n; i++) {
      const v = this.f[x + i];
      if (v !== v) nan = true;
      mx = Math.max(mx, Math.abs(v));
      mn = Math.min(mn, v);
    }
    return [nan ? NaN : mx, mn];
  }
}

/** Exercises every kernel on odd and even lengths against the JS kernels. */
function selfTest(k: Kernels): boolean {
  const js = new JsKernels();
  const N = 64;
  k.ensure(16 * N);
  js.ensure(16 * N);
  const fill = (): void => {
    for (let i = 0; i < 16 * N; i++) {
      const v = Math.sin(i * 1.7) * 3 + (i % 7) * 0.25;
      k.f[i] = v;
      js.f[i] = v;
    }
  };
  const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-12 * (1 + Math.abs(b));
  for (const n of [0, 1, 2, 3, 4, 5, 6, 7, 9, 33]) {
    fill();
    const r: [number, number][] = [
      [k.dot(1, 3 * N + 2, n), js.dot(1, 3 * N + 2, n)],
      [k.sumsq(5, n), js.sumsq(5, n)],
      [k.fusedRow(0, N, 2 * N + 1, 3 * N, 4 * N + 3, n, 0.5, -1.25, 2), js.fusedRow(0, N, 2 * N + 1, 3 * N, 4 * N + 3, n, 0.5, -1.25, 2)],
      [k.matvecRow(5 * N, 6 * N + 1, 7 * N, n, -0.75), js.matvecRow(5 * N, 6 * N + 1, 7 * N, n, -0.75)],
    ];
    k.axpy(1.5, 8 * N, 9 * N + 1, n);
    js.axpy(1.5, 8 * N, 9 * N + 1, n);
    k.sub2(0.3, 10 * N, -2, 11 * N + 1, 12 * N, n);
    js.sub2(0.3, 10 * N, -2, 11 * N + 1, 12 * N, n);
    k.scale(-3, 13 * N + 1, n);
    js.scale(-3, 13 * N + 1, n);
    k.updateRow(14 * N, 8 * N + 3, 9 * N + 5, n, 0.25, 4);
    js.updateRow(14 * N, 8 * N + 3, 9 * N + 5, n, 0.25, 4);
    k.dot4(1, 2 * N, 3 * N + 1, 4 * N, 5 * N + 3, n, 15 * N);
    js.dot4(1, 2 * N, 3 * N + 1, 4 * N, 5 * N + 3, n, 15 * N);
    k.rows4(2 * N + 1, 3 * N, 4 * N + 1, 5 * N, 6 * N + 3, 7 * N + 1, n, 15 * N + 8);
    js.rows4(2 * N + 1, 3 * N, 4 * N + 1, 5 * N, 6 * N + 3, 7 * N + 1, n, 15 * N + 8);
    for (const [a, b] of r) if (!close(a, b)) return false;
    for (let i = 0; i < 16 * N; i++) if (!close(k.f[i], js.f[i])) return false;
  }
  return k instanceof WasmKernels ? selfTestWasmOnly(k) : true;
}

/** The kernels without a JS twin (float32 Gram tiles, conversion, max/min scan), on exact data. */
function selfTestWasmOnly(k: WasmKernels): boolean {
  const f = k.f;
  f.fill(0, 0, 1024);
  // absMaxMin over 13 doubles at offset 2 (max |x| = 6.5 at an odd index, min = −5.5); then a NaN
  for (let i = 0; i < 13; i++) f[2 + i] = (i % 5) - 2 + (i === 7 ? -5.5 : 0) + (i === 9 ? 4.5 : 0);
  let [mx, mn] = k.absMaxMin(2, 13, 40);
  if (mx !== 6.5 || mn !== -5.5) return false;
  f[2 + 5] = NaN;
  [mx] = k.absMaxMin(2, 12, 40);
  if (mx === mx) return false;
  // cvt8: 2 blocks of 8 doubles → floats 96 bytes apart
  for (let i = 0; i < 16; i++) f[64 + i] = 1 / (i + 3);
  f.fill(0, 128, 192);
  k.cvt8(64 * 8, 128 * 8, 2, 96);
  const g = new Float32Array(f.buffer, 128 * 8, 48);
  for (let i = 0; i < 16; i++) if (g[(i >> 3) * 24 + (i & 7)] !== Math.fround(1 / (i + 3))) return false;
  // gramPanel32: a 3-row chunk of a layout with 2 column blocks (tiles 96 bytes apart) of small
  // integers (exact sums); J blocks p = 2 (columns 0..3 and 4..7), K tiles 2
  const base = 256; // doubles; layout floats at byte 2048
  const L = new Float32Array(f.buffer, base * 8, 48);
  for (let t = 0; t < 48; t++) L[t] = ((t * 7) % 11) - 3;
  const acc = 320;
  f.fill(0, acc, acc + 2 * 70);
  k.gramPanel32(base * 8, base * 8, 3, 2, acc * 8, 96, 2, 70 * 8);
  const A = (r: number, c: number): number => L[(c >> 3) * 24 + r * 8 + (c & 7)];
  for (let b = 0; b < 2; b++) {
    for (let t = 0; t < 2; t++) {
      for (let sj = 0; sj < 4; sj++) {
        for (let c = 0; c < 8; c++) {
          let want = 0;
          for (let r = 0; r < 3; r++) want += A(r, 4 * b + sj) * A(r, 8 * t + c);
          if (f[acc + b * 70 + t * 32 + sj * 8 + c] !== want) return false;
        }
      }
    }
  }
  return true;
}

/** The module with relaxed SIMD where the engine has it (Node ≥ 22, Electron, browsers), else without. */
function createWasmKernels(): Kernels | null {
  const WA = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
  if (!WA) return null;
  for (const relaxed of relaxedSimdChoice === 'off' ? [false] : [true, false]) {
    try {
      const inst = new WA.Instance(new WA.Module(assemble(wasmKernelDefs(relaxed))), {});
      const k = new WasmKernels(inst.exports as unknown as WasmExports, relaxed);
      if (selfTest(k)) return k;
    } catch {
      // relaxed SIMD not enabled; no SIMD support; a CSP forbids compilation; …
    }
  }
  return null;
}

let relaxedSimdChoice: 'auto' | 'off' = 'auto';

let kernelsCache: Kernels | null = null;
let wasmCache: Kernels | null | undefined;
let backendChoice: 'auto' | 'js' | 'wasm' = 'auto';

/** The kernels in use (created lazily). */
export function kernels(): Kernels {
  if (kernelsCache) return kernelsCache;
  if (backendChoice !== 'js') {
    if (wasmCache === undefined) wasmCache = createWasmKernels();
    if (wasmCache) return (kernelsCache = wasmCache);
    if (backendChoice === 'wasm') throw new Error('linalg: the WebAssembly SIMD backend is not available');
  }
  return (kernelsCache = new JsKernels());
}

/** Selects the kernel backend ('auto': WASM SIMD when available). Returns the backend in use. */
export function setLinalgBackend(choice: 'auto' | 'js' | 'wasm'): 'js' | 'wasm' {
  backendChoice = choice;
  kernelsCache = null;
  heapTop = 0;
  return kernels().kind;
}

/**
 * Tests/benchmarks: 'off' builds the kernels without relaxed SIMD. Returns whether the kernels in use now have it
 * (false on the JS backend).
 */
export function setRelaxedSimd(choice: 'auto' | 'off'): boolean {
  relaxedSimdChoice = choice;
  wasmCache = undefined;
  kernelsCache = null;
  heapTop = 0;
  const k = kernels();
  return k instanceof WasmKernels && k.relaxed;
}

// ---------------------------------------------------------------------------------------------
// Heap allocation (stack discipline: callers release to a mark when done)
// ---------------------------------------------------------------------------------------------

let heapTop = 0;

/** Allocates `n` doubles on the kernel heap (16-byte aligned, staggered against 4K aliasing). */
export function heapAlloc(n: number): number {
  const k = kernels();
  const o = ((heapTop + 1) & ~1) + 6;
  heapTop = o + n;
  k.ensure(heapTop + 8);
  return o;
}

export function heapMark(): number {
  return heapTop;
}

export function heapRelease(mark: number): void {
  heapTop = mark;
}

/** Runs fn and releases everything it allocated on the heap. */
export function withHeap<R>(fn: () => R): R {
  const mark = heapTop;
  try {
    return fn();
  } finally {
    heapTop = mark;
  }
}

/**
 * Leading dimension for n-vectors stored side by side: n rounded up to even plus 10 doubles, so
 * consecutive rows never sit at the same address modulo 4 KiB when n is a power of two (4K
 * aliasing between stores to one row and loads of another).
 */
export function paddedStride(n: number): number {
  return ((n + 1) & ~1) + 10;
}

// =============================================================================================
// Row-packed matrix (skips zero runs at the start/end of each row, e.g. the zero upper triangle)
// =============================================================================================

/**
 * A square n×n matrix on the kernel heap, row by row: row i holds columns [lo[i], hi[i]) at
 * f[data + off[i] ...]. Valid until the heap is released below its allocation.
 */
export interface RowMatrix {
  readonly n: number;
  readonly lo: Int32Array;
  readonly hi: Int32Array;
  readonly off: Int32Array;
  /** Heap offset of the packed entries. */
  readonly data: number;
  /** Number of stored entries (sum of hi − lo). */
  readonly nnz: number;
  /** The power of two the entries were multiplied by (1 unless they were huge or tiny). */
  readonly scale: number;
  /** Largest |entry| after scaling. */
  readonly maxAbs: number;
  /** No entry is negative (e.g. attention). */
  readonly nonNegative: boolean;
}

/** Largest |a_ij| (NaN if any entry is NaN). */
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

/**
 * A power of two s with s·maxAbs in [0.5, 1) (clamped to s in [2^-1000, 2^1000], which still brings
 * any finite non-zero maxAbs into [2^-30, 2^24]); multiplying by it is exact.
 */
export function powerOfTwoScale(maxAbsValue: number): number {
  if (!(maxAbsValue > 0) || !Number.isFinite(maxAbsValue)) return 1;
  let e = Math.floor(Math.log2(maxAbsValue)) + 1;
  if (2 ** (e - 1) > maxAbsValue) e -= 1; // log2 rounding at exact powers of two
  if (2 ** e <= maxAbsValue) e += 1;
  return 2 ** -Math.max(-1000, Math.min(1000, e));
}

/**
 * The n×n row-major float32 matrix at a[o ...] copied onto the (WASM) kernel heap as float32 rows of ld = n rounded up
 * to a multiple of 4 (zero padded), for the f32x4 kernels; returns its heap offset (in doubles).
 */
function heapCopyF32(a: Float32Array, o: number, n: number): number {
  if ((n & 3) !== 0) return heapCopyRowsF32(n, (i) => a.subarray(o + i * n, o + (i + 1) * n));
  const src = heapAlloc((n * n) / 2 + 2);
  const k = kernels();
  new Float32Array(k.f.buffer, k.f.byteOffset + src * 8, n * n).set(a.subarray(o, o + n * n)); // ld = n: one copy
  return src;
}

/**
 * heapCopyF32 of an n×n matrix given by rows: row i is rowOf(i) (at most n entries; the rest of the row is zero), e.g.
 * a row of a query block of a pattern, which stops at the block's last key.
 */
export function heapCopyRowsF32(n: number, rowOf: (i: number) => Float32Array): number {
  const ld = (n + 3) & ~3;
  const src = heapAlloc((ld * n) / 2 + 2);
  const k = kernels();
  const view = new Float32Array(k.f.buffer, k.f.byteOffset + src * 8, ld * n);
  for (let i = 0; i < n; i++) {
    const row = rowOf(i);
    if (row.length > n) throw new RangeError(`row ${i} has ${row.length} entries, more than n = ${n}`);
    view.set(row, i * ld);
    view.fill(0, i * ld + row.length, (i + 1) * ld);
  }
  return src;
}

/**
 * Packs the n×n row-major matrix `a` onto the kernel heap, dropping leading/trailing zeros of each
 * row. Entries are rescaled by an exact power of two only if max|a| is outside [2^-100, 2^100]
 * (squares and Gram entries then neither overflow nor underflow); k* is scale invariant.
 * Throws on NaN/Infinity.
 */
export function packRows(a: ArrayLike<number>, n: number, heapSrc32?: number): RowMatrix {
  const lo = new Int32Array(n);
  const hi = new Int32Array(n);
  const off = new Int32Array(n + 1);
  const k = kernels();
  // float32 input on the WASM backend: a float32 copy on the heap (left there below the packed rows; or the one at
  // heapSrc32, from heapCopyF32/heapCopyRowsF32, when given: `a` is then not read), row extents to the group of 4 (a
  // few stored zeros at the ends are harmless) and the float64 conversion in SIMD passes.
  if (heapSrc32 !== undefined && (k.kind !== 'wasm' || n < 4)) throw new RangeError('packRows: a float32 heap copy needs the WASM kernels and n ≥ 4');
  const f32in = k.kind === 'wasm' && (heapSrc32 !== undefined || (a instanceof Float32Array && n >= 4)) ? (k as WasmKernels) : null;
  const ld = (n + 3) & ~3;
  const src = f32in ? (heapSrc32 ?? heapCopyF32(a as Float32Array, 0, n)) : 0;
  if (f32in) {
    const ext = heapAlloc(n + 2);
    f32in.rowExtents32(src * 8, ld, n, ext * 8);
    const e = new Int32Array(k.f.buffer, k.f.byteOffset + ext * 8, 2 * n);
    for (let i = 0; i < n; i++) {
      if (e[2 * i + 1] <= e[2 * i]) continue; // zero row: [0, 0)
      lo[i] = 4 * e[2 * i];
      hi[i] = Math.min(n, 4 * e[2 * i + 1]);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const r = i * n;
      let l = 0;
      while (l < n && a[r + l] === 0) l++;
      let h = n;
      while (h > l && a[r + h - 1] === 0) h--;
      lo[i] = l;
      hi[i] = h;
    }
  }
  // Rows 4g..4g+3 share one stored range when that costs little (e.g. consecutive causal rows:
  // ≤ 3 stored zeros each): gramMatvec then takes the four rows in one kernel call.
  for (let i = 0; i + 3 < n; i += 4) {
    let l = n;
    let h = 0;
    let len = 0;
    for (let t = i; t < i + 4; t++) {
      if (hi[t] <= lo[t]) {
        len = -1;
        break;
      }
      l = Math.min(l, lo[t]);
      h = Math.max(h, hi[t]);
      len += hi[t] - lo[t];
    }
    if (len >= 0 && 4 * (h - l) <= 1.25 * len + 32) for (let t = i; t < i + 4; t++) [lo[t], hi[t]] = [l, h];
  }
  let nnz = 0;
  for (let i = 0; i < n; i++) {
    off[i] = nnz;
    nnz += hi[i] - lo[i];
  }
  off[n] = nnz;
  const data = heapAlloc(nnz);
  const f = k.f;
  let mx = 0;
  let neg = false;
  const typed = a as unknown as Float64Array;
  if (f32in || (k.kind === 'wasm' && nnz >= 2 && ArrayBuffer.isView(a) && typeof typed.subarray === 'function')) {
    // copies (float32 input: converted from the heap copy), then one SIMD pass for max |a|, min a and NaN
    if (f32in) {
      for (let i = 0; i < n; i++) if (hi[i] > lo[i]) f32in.promote32(src * 8 + 4 * (i * ld + lo[i]), (data + off[i]) * 8, hi[i] - lo[i]);
    } else {
      for (let i = 0; i < n; i++) if (hi[i] > lo[i]) f.set(typed.subarray(i * n + lo[i], i * n + hi[i]), data + off[i]);
    }
    const mark = heapMark();
    const [m, mn] = (k as WasmKernels).absMaxMin(data, nnz, heapAlloc(3));
    heapRelease(mark);
    if (!(m <= Infinity)) throw new RangeError('matrix contains NaN or Infinity');
    mx = m;
    neg = mn < 0;
  } else {
    for (let i = 0; i < n; i++) {
      const r = i * n;
      const o = data + off[i] - lo[i];
      for (let j = lo[i], h = hi[i]; j < h; j++) {
        const v = a[r + j];
        f[o + j] = v;
        let x = v;
        if (v < 0) {
          x = -v;
          neg = true;
        }
        if (x > mx) mx = x;
        else if (!(x <= mx)) throw new RangeError('matrix contains NaN or Infinity');
      }
    }
  }
  if (!Number.isFinite(mx)) throw new RangeError('matrix contains NaN or Infinity');
  let scale = 1;
  if (mx > 0 && (mx > 2 ** 100 || mx < 2 ** -100)) {
    scale = powerOfTwoScale(mx);
    kernels().scale(scale, data, nnz);
  }
  return { n, lo, hi, off, data, nnz, scale, maxAbs: mx * scale, nonNegative: !neg };
}

/** Σ a_ij² (= ‖A‖_F² = tr(AᵀA)) of the packed (scaled) matrix. */
export function sumSquares(m: RowMatrix): number {
  return kernels().sumsq(m.data, m.nnz);
}

/**
 * z = AᵀA q in a single pass over A: z = Σ_i (a_i·q) a_i. Rows go four at a time through one
 * kernel call over their common column range (four dots sharing the loads of q, then one
 * four-row update of z; the rows stay in L1 between the two). packRows gives groups of four
 * consecutive causal rows one stored range; other ragged ends are done in JS first for the dots
 * and last for the updates. `d`: 4 doubles of heap scratch (allocated here if omitted).
 */
export function gramMatvec(m: RowMatrix, q: number, z: number, d = -1): void {
  const k = kernels();
  if (d < 0) d = heapAlloc(4);
  const { n, lo, hi, off, data } = m;
  let f = k.f;
  f.fill(0, z, z + n);
  const one = (i: number): void => {
    const l = lo[i];
    const len = hi[i] - l;
    if (len <= 0) return;
    const row = data + off[i];
    const s = k.dot(row, q + l, len);
    if (s !== 0) k.axpy(s, row, z + l, len);
  };
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const l0 = lo[i];
    const h0 = hi[i];
    if (l0 === lo[i + 1] && l0 === lo[i + 2] && l0 === lo[i + 3] && h0 === hi[i + 1] && h0 === hi[i + 2] && h0 === hi[i + 3]) {
      if (h0 - l0 >= 4) {
        const o = data + off[i];
        const len = h0 - l0;
        f[d] = f[d + 1] = f[d + 2] = f[d + 3] = 0;
        k.rows4(o, o + len, o + 2 * len, o + 3 * len, q + l0, z + l0, len, d);
        continue;
      }
    }
    const cl = Math.max(l0, lo[i + 1], lo[i + 2], lo[i + 3]);
    const ch = Math.min(h0, hi[i + 1], hi[i + 2], hi[i + 3]);
    const common = ch - cl;
    let ragged = 0;
    for (let t = 0; t < 4; t++) ragged += hi[i + t] - lo[i + t] - common;
    if (common < 8 || ragged > 32) {
      for (let t = 0; t < 4; t++) one(i + t);
      continue;
    }
    f = k.f;
    // dots of the ragged ends
    for (let t = 0; t < 4; t++) {
      const r = i + t;
      const o = data + off[r] - lo[r]; // f[o + j] = A_rj
      let s = 0;
      for (let j = lo[r]; j < cl; j++) s += f[o + j] * f[q + j];
      for (let j = ch; j < hi[r]; j++) s += f[o + j] * f[q + j];
      f[d + t] = s;
    }
    const o0 = data + off[i] - lo[i];
    const o1 = data + off[i + 1] - lo[i + 1];
    const o2 = data + off[i + 2] - lo[i + 2];
    const o3 = data + off[i + 3] - lo[i + 3];
    k.rows4(o0 + cl, o1 + cl, o2 + cl, o3 + cl, q + cl, z + cl, common, d);
    for (let t = 0; t < 4; t++) {
      const r = i + t;
      const o = data + off[r] - lo[r];
      const s = f[d + t];
      for (let j = lo[r]; j < cl; j++) f[z + j] += s * f[o + j];
      for (let j = ch; j < hi[r]; j++) f[z + j] += s * f[o + j];
    }
  }
  for (; i < n; i++) one(i);
}

// =============================================================================================
// Gram matrix G = AᵀA (packed lower storage)
// =============================================================================================

/** Offset of row i in packed lower storage (row i holds columns 0..i). */
export function packedRow(i: number): number {
  return (i * (i + 1)) / 2;
}

/**
 * G = AᵀA in packed lower storage, allocated on the heap (returns its offset). Uses a zero-padded
 * column-major copy of A so that every G_jk is a contiguous dot product over the rows where both
 * columns can be non-zero; four k's at a time share the loads of column j.
 * ~Σ_i len_i²/2 multiply-adds (T³/6 for a causal pattern).
 */
export function gramPacked(m: RowMatrix): number {
  const k = kernels();
  const { n, lo, hi, off, data } = m;
  const g = heapAlloc((n * (n + 1)) / 2);
  const out = heapAlloc(4);
  const mark = heapMark();
  const ld = paddedStride(n);
  const at = heapAlloc(n * ld); // at + j*ld + i = A_ij
  const f = k.f;
  f.fill(0, at, at + n * ld);
  const clo = new Int32Array(n).fill(n);
  const chi = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const o = data + off[i] - lo[i];
    for (let j = lo[i], h = hi[i]; j < h; j++) {
      const v = f[o + j];
      if (v !== 0) {
        f[at + j * ld + i] = v;
        if (i < clo[j]) clo[j] = i;
        if (i + 1 > chi[j]) chi[j] = i + 1;
      }
    }
  }
  const rng = (a: number, b: number, l: number, h: number): number => (h > l ? k.dot(a + l, b + l, h - l) : 0);
  for (let j = 0; j < n; j++) {
    const cj = at + j * ld;
    const jl = clo[j];
    const jh = chi[j];
    const gr = g + packedRow(j);
    if (jh <= jl) {
      f.fill(0, gr, gr + j + 1);
      continue;
    }
    let c = 0;
    for (; c + 3 <= j; c += 4) {
      const l0 = Math.max(jl, clo[c]), h0 = Math.min(jh, chi[c]);
      const l1 = Math.max(jl, clo[c + 1]), h1 = Math.min(jh, chi[c + 1]);
      const l2 = Math.max(jl, clo[c + 2]), h2 = Math.min(jh, chi[c + 2]);
      const l3 = Math.max(jl, clo[c + 3]), h3 = Math.min(jh, chi[c + 3]);
      const cl = Math.max(l0, l1, l2, l3);
      const ch = Math.min(h0, h1, h2, h3);
      const c0 = at + c * ld, c1 = c0 + ld, c2 = c1 + ld, c3 = c2 + ld;
      if (cl < ch) {
        k.dot4(cj + cl, c0 + cl, c1 + cl, c2 + cl, c3 + cl, ch - cl, out);
        f[gr + c] = f[out] + rng(cj, c0, l0, cl) + rng(cj, c0, ch, h0);
        f[gr + c + 1] = f[out + 1] + rng(cj, c1, l1, cl) + rng(cj, c1, ch, h1);
        f[gr + c + 2] = f[out + 2] + rng(cj, c2, l2, cl) + rng(cj, c2, ch, h2);
        f[gr + c + 3] = f[out + 3] + rng(cj, c3, l3, cl) + rng(cj, c3, ch, h3);
      } else {
        f[gr + c] = rng(cj, c0, l0, h0);
        f[gr + c + 1] = rng(cj, c1, l1, h1);
        f[gr + c + 2] = rng(cj, c2, l2, h2);
        f[gr + c + 3] = rng(cj, c3, l3, h3);
      }
    }
    for (; c <= j; c++) f[gr + c] = rng(cj, at + c * ld, Math.max(jl, clo[c]), Math.min(jh, chi[c]));
  }
  heapRelease(mark);
  return g;
}

/** ‖G‖_F² of a symmetric matrix in packed lower storage at heap offset g. */
export function frobeniusSquaredPacked(g: number, n: number): number {
  const k = kernels();
  let diag = 0;
  let off = 0;
  const f = k.f;
  for (let i = 0; i < n; i++) {
    const r = g + packedRow(i);
    off += k.sumsq(r, i);
    diag += f[r + i] * f[r + i];
  }
  return diag + 2 * off;
}

// =============================================================================================
// ‖AᵀA‖_F² of a non-negative A without forming AᵀA in float64: float32 SIMD tiles, bounded error
// =============================================================================================

/**
 * Rows per float32 partial sum in gramFrobeniusUpper (2^F32_SHIFT): its error bound grows ~linearly
 * with it (ε ≈ (B+2)·2^-24), its flushes to float64 cost less the longer it is.
 */
let F32_SHIFT = 5;
/** J blocks (of 4 columns) per pass in gramFrobeniusUpper. */
const JP = 4;
/** Tests/benchmarks: sets log2 of the float32 block length (returns the previous one). */
export function setF32BlockShift(s: number): number {
  const p = F32_SHIFT;
  F32_SHIFT = s;
  return p;
}
const U32 = 2 ** -24;

/** γ_k = k·u/(1 − k·u) (Higham), the relative error bound of a k-term recursive sum of non-negative terms. */
function gamma(k: number, u: number): number {
  return (k * u) / (1 - k * u);
}

/**
 * For each column j: first row with a stored entry (clo, n if none) and last such row + 1 (chi, 0
 * if none), from the row supports [lo_i, hi_i), in O(n·α(n)) ("next unassigned column" links).
 */
function columnSupports(m: RowMatrix): { clo: Int32Array; chi: Int32Array } {
  const { n, lo, hi } = m;
  const clo = new Int32Array(n).fill(n);
  const chi = new Int32Array(n);
  const next = new Int32Array(n + 1);
  const find = (j: number): number => {
    let r = j;
    while (next[r] !== r) r = next[r];
    while (next[j] !== r) {
      const t = next[j];
      next[j] = r;
      j = t;
    }
    return r;
  };
  for (const [dst, first, last, step] of [[clo, 0, n, 1], [chi, n - 1, -1, -1]] as const) {
    for (let j = 0; j <= n; j++) next[j] = j;
    for (let i = first; i !== last; i += step) {
      for (let j = find(lo[i]); j < hi[i]; j = find(j)) {
        dst[j] = step > 0 ? i : i + 1;
        next[j] = j + 1;
      }
    }
  }
  return { clo, chi };
}

/**
 * A rigorous upper bound on ‖AᵀA‖_F² (same units as sumSquares(m)) for a matrix with no negative
 * entry, or null when not applicable (a negative entry, max entry outside [2^-40, 2^40], or no
 * WebAssembly backend). Cost ~Σ_i len_i²/2 float32 multiply-adds (T³/6 for a causal pattern) on
 * f32x4 SIMD, ~5× less time than gramPacked; AᵀA itself is never stored.
 *
 * Error bound (u = 2^-24, γ_k = k·u/(1 − k·u), γ'_k the same with the double rounding unit, all
 * arithmetic round-to-nearest as WebAssembly requires; a ≤ mx entrywise). Let G_jk = Σ_i a_ij·a_ik ≥ 0.
 *  • ã = fl32(a) ≥ 0 with |ã − a| ≤ u·a + 2^-150 (the 2^-150: underflow), so the products ã_j·ã_k
 *    are within (1 ± u)²·a_j·a_k ± (2·mx + 1)·2^-149.
 *  • A float32 dot product of ≤ B = 2^F32_SHIFT terms (each block of rows in a panel) is within
 *    γ_B of its exact value for non-negative terms, plus ≤ 2^-150 per product for underflow
 *    (additions of subnormals are exact).
 *  • The ≤ ⌈n/B⌉ + 1 block sums are promoted exactly and added in float64: relative γ'_{n/B+1}.
 * Hence (1 − ε)·G_jk − η ≤ G̃_jk ≤ (1 + ε)·G_jk + η with ε = (1+u)²(1+γ_B)(1+γ'_{n/B+1}) − 1 and
 * η = n·(2·mx + 2)·2^-149, so G ≤ (G̃ + η)/(1 − ε) entrywise and ‖G‖_F ≤ (‖G̃‖_F + n·η)/(1 − ε).
 * ‖G̃‖_F² itself is summed in float64 (< n² + 64 non-negative terms: relative γ'_{n²+64}).
 */
export function gramFrobeniusUpper(m: RowMatrix): number | null {
  const k = kernels();
  if (k.kind !== 'wasm') return null;
  const wk = k as WasmKernels;
  const { n, lo, hi, off, data } = m;
  let f = k.f;
  if (!m.nonNegative) return null;
  const mx = m.maxAbs;
  if (mx === 0) return 0;
  // float32 range: products ≤ 2^80 and sums ≤ n·2^80 stay finite; underflow only adds to η
  if (mx > 2 ** 40 || mx < 2 ** -40) return null;
  const SH = F32_SHIFT;
  const CH = 1 << SH;
  const NB = (n + 7) >> 3; // column blocks of 8
  const nch = (n + CH - 1) >> SH;
  const tileBytes = CH * 32;
  return withHeap(() => {
    // Panel layout: chunk c (rows 16c..16c+15) × column block b (columns 8b..8b+7) is a 16×8
    // row-major float32 tile at floats ((c·NB + b)·16 + r)·8 + col: a Gram tile over one chunk
    // reads 512 contiguous bytes.
    const base = heapAlloc((nch * NB * CH * 8) / 2 + 2); // 16-byte aligned
    const acc = heapAlloc(JP * (32 * NB + 2));
    f = k.f;
    const a32 = new Float32Array(f.buffer, f.byteOffset + base * 8, nch * NB * CH * 8);
    a32.fill(0);
    const ab = f.byteOffset + base * 8; // byte address of the layout (heap offsets are byte offsets × 8)
    const at = (i: number, j: number): number => (((i >> SH) * NB + (j >> 3)) * CH + (i & (CH - 1))) * 8 + (j & 7);
    for (let i = 0; i < n; i++) {
      const l = lo[i];
      const h = hi[i];
      if (h <= l) continue;
      const o = data + off[i] - l; // f[o + j] = A_ij
      const b0 = (l + 7) >> 3;
      const b1 = h >> 3;
      if (b1 > b0) {
        for (let j = l; j < 8 * b0; j++) a32[at(i, j)] = f[o + j];
        wk.cvt8((o + 8 * b0) * 8, ab + at(i, 8 * b0) * 4, b1 - b0, tileBytes);
        for (let j = 8 * b1; j < h; j++) a32[at(i, j)] = f[o + j];
      } else {
        for (let j = l; j < h; j++) a32[at(i, j)] = f[o + j];
      }
    }
    const { clo, chi } = columnSupports(m);
    // column range of the rows of each chunk
    const cLo = new Int32Array(nch).fill(n);
    const cHi = new Int32Array(nch);
    for (let i = 0; i < n; i++) {
      if (hi[i] <= lo[i]) continue;
      const c = i >> SH;
      if (lo[i] < cLo[c]) cLo[c] = lo[i];
      if (hi[i] > cHi[c]) cHi[c] = hi[i];
    }
    // J panels of JP blocks of 4 columns: each K tile of a chunk is read from memory once per panel
    // (the kernel's JP passes over it hit L1)
    const accStride = 32 * NB + 2;
    let sum = 0;
    for (let jb = 0; jb < n; jb += 4 * JP) {
      const jn = Math.min(n, jb + 4 * JP);
      let jl = n;
      let jh = 0;
      for (let t = jb; t < jn; t++) {
        if (clo[t] < jl) jl = clo[t];
        if (chi[t] > jh) jh = chi[t];
      }
      if (jh <= jl) continue;
      const p = (jn - jb + 3) >> 2;
      const bMax = Math.min(NB - 1, (jn - 1) >> 3); // K tiles 0..bMax hold the columns k ≤ j
      for (let s = 0; s < p; s++) f.fill(0, acc + s * accStride, acc + s * accStride + 32 * (bMax + 1));
      for (let c = jl >> SH; c <= (jh - 1) >> SH; c++) {
        const r0 = Math.max(jl, c * CH);
        const r1 = Math.min(jh, c * CH + CH);
        const bs = cLo[c] >> 3;
        const be = Math.min(bMax, (cHi[c] - 1) >> 3);
        if (r1 <= r0 || be < bs) continue;
        wk.gramPanel32(ab + at(r0, jb) * 4, ab + at(r0, 8 * bs) * 4, r1 - r0, be - bs + 1, (acc + 32 * bs) * 8, tileBytes, p, accStride * 8);
      }
      f = k.f;
      for (let s = 0; s < p; s++) {
        const j0 = jb + 4 * s;
        const a = acc + s * accStride;
        // tiles entirely left of the diagonal count twice; the diagonal tile(s) entry by entry
        const full = j0 >> 3;
        sum += 2 * wk.sumsq(a, 32 * full);
        for (let b = full; b <= (j0 + 3) >> 3 && b < NB; b++) {
          for (let t = 0; t < 4 && j0 + t < n; t++) {
            const j = j0 + t;
            for (let cc = 0; cc < 8; cc++) {
              const kk = 8 * b + cc;
              if (kk > j) break;
              const v = f[a + 32 * b + t * 8 + cc];
              sum += (kk < j ? 2 : 1) * v * v;
            }
          }
        }
      }
    }
    const eps = (1 + U32) ** 2 * (1 + gamma(CH, U32)) * (1 + gamma(nch + 1, EPS / 2)) - 1;
    const eta = n * (2 * mx + 2) * 2 ** -149;
    const frob = Math.sqrt(sum * (1 + gamma(n * n + 64, EPS / 2)));
    const bound = (frob + n * eta) / (1 - eps);
    return bound * bound * (1 + 4 * EPS); // rounding of these few operations
  });
}

// =============================================================================================
// Symmetric tridiagonal eigenvalues: implicit QL (EISPACK tql1 / Numerical Recipes tqli scheme)
// =============================================================================================

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
      let deflated = false;
      for (let i = m - 1; i >= l; i--) {
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

// =============================================================================================
// Dense symmetric eigenvalues: Householder tridiagonalisation (packed lower) + implicit QL
// =============================================================================================

/**
 * Reduces the symmetric matrix at heap offset g (packed lower storage, destroyed) to tridiagonal
 * form with diagonal d[0..n) and off-diagonal e[0..n-1). Unblocked Householder (as LAPACK
 * dsytd2), but the rank-2 update of step k is fused with the symmetric matvec of step k+1, so the
 * trailing matrix is streamed once per step instead of twice (column k+1, which defines the next
 * reflector, is updated first). ~(2/3)n³ multiply-adds.
 */
export function tridiagonalizePacked(g: number, n: number, d: Float64Array, e: Float64Array): void {
  const k = kernels();
  let f = k.f;
  if (n === 0) return;
  if (n === 1) {
    d[0] = f[g];
    return;
  }
  if (n === 2) {
    d[0] = f[g];
    d[1] = f[g + 2];
    e[0] = f[g + 1];
    return;
  }
  withHeap(() => {
    // five work vectors (absolute indices 0..n-1) at staggered offsets
    const ld = paddedStride(n);
    const base = heapAlloc(5 * ld);
    f = k.f;
    f.fill(0, base, base + 5 * ld);
    let ov = base; // reflector of the current step
    let op = base + ld; // tau·B·v for the current step
    let ov2 = base + 2 * ld; // next reflector
    let op2 = base + 3 * ld; // tau'·B'·v'
    const ow = base + 4 * ld; // w = p − (tau/2)(vᵀp)v

    // reflector for column c (rows c+1..n-1) into f[o..]; returns tau (0 = identity), sets e[c]
    const house = (c: number, o: number): number => {
      const x0 = f[g + packedRow(c + 1) + c];
      let sigma = 0;
      for (let i = c + 2; i < n; i++) {
        const x = f[g + packedRow(i) + c];
        sigma += x * x;
      }
      if (sigma === 0) {
        e[c] = x0;
        f.fill(0, o + c + 1, o + n);
        return 0;
      }
      const norm = Math.sqrt(x0 * x0 + sigma);
      const alpha = x0 >= 0 ? -norm : norm;
      const v0 = x0 - alpha;
      f[o + c + 1] = v0;
      for (let i = c + 2; i < n; i++) f[o + i] = f[g + packedRow(i) + c];
      e[c] = alpha;
      return 2 / (v0 * v0 + sigma);
    };

    // step 0: reflector and p = tau·B₀·v over the trailing block 1..n-1 (plain symmetric matvec)
    d[0] = f[g];
    let tau = house(0, ov);
    if (tau !== 0) {
      f.fill(0, op, op + n);
      for (let i = 1; i < n; i++) {
        const r = g + packedRow(i);
        const ui = f[ov + i];
        const s = k.matvecRow(r + 1, ov + 1, op + 1, i - 1, ui);
        f[op + i] += s + f[r + i] * ui;
      }
      k.scale(tau, op + 1, n - 1);
    }

    for (let step = 0; step <= n - 3; step++) {
      const c = step + 1;
      // w = p − (tau/2)(vᵀp) v; the update is B ← B − v wᵀ − w vᵀ
      if (tau !== 0) {
        const kk = 0.5 * tau * k.dot(ov + c, op + c, n - c);
        for (let i = c; i < n; i++) f[ow + i] = f[op + i] - kk * f[ov + i];
        const vc = f[ov + c];
        const wc = f[ow + c];
        for (let i = c; i < n; i++) f[g + packedRow(i) + c] -= f[ov + i] * wc + f[ow + i] * vc;
      }
      d[c] = f[g + packedRow(c) + c];
      const tau2 = house(c, ov2);
      // fused pass over rows c+1..n-1, columns c+1..i: apply the update of step k, accumulate B'·v'
      f.fill(0, op2 + c + 1, op2 + n);
      const doUpd = tau !== 0;
      const doMv = tau2 !== 0;
      const j0 = c + 1;
      for (let i = c + 1; i < n; i++) {
        const r = g + packedRow(i);
        const vi = f[ov + i];
        const wi = doUpd ? f[ow + i] : 0;
        const ui = f[ov2 + i];
        const len = i - j0;
        let s = 0;
        if (doUpd && doMv) s = k.fusedRow(r + j0, ow + j0, ov + j0, ov2 + j0, op2 + j0, len, vi, wi, ui);
        else if (doUpd) k.updateRow(r + j0, ow + j0, ov + j0, len, vi, wi);
        else if (doMv) s = k.matvecRow(r + j0, ov2 + j0, op2 + j0, len, ui);
        const xd = doUpd ? f[r + i] - 2 * vi * wi : f[r + i];
        f[r + i] = xd;
        f[op2 + i] += s + xd * ui;
      }
      if (doMv) k.scale(tau2, op2 + c + 1, n - c - 1);
      let t = ov;
      ov = ov2;
      ov2 = t;
      t = op;
      op = op2;
      op2 = t;
      tau = tau2;
    }
    d[n - 1] = f[g + packedRow(n - 1) + n - 1];
    // e[n-2] was set by house(n-2) (a single sub-diagonal entry, no reflection needed)
  });
}

/** All eigenvalues (unordered) of the symmetric matrix at heap offset g (packed lower, destroyed). */
export function symmetricEigenvaluesPacked(g: number, n: number): Float64Array {
  const d = new Float64Array(n);
  const e = new Float64Array(Math.max(n, 1));
  tridiagonalizePacked(g, n, d, e);
  tridiagonalEigenvalues(d, e, n);
  return d;
}

/** All eigenvalues (descending) of a symmetric n×n row-major matrix (only the lower triangle is read). */
export function symmetricEigenvalues(a: ArrayLike<number>, n: number): Float64Array {
  return withHeap(() => {
    const g = heapAlloc((n * (n + 1)) / 2);
    const f = kernels().f;
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) f[g + packedRow(i) + j] = a[i * n + j];
    const d = symmetricEigenvaluesPacked(g, n);
    d.sort();
    return d.reverse();
  });
}

/**
 * Squared singular values of the n×n row-major matrix a (descending), via eig(AᵀA) in float64.
 * (Computed on the exactly rescaled matrix and scaled back.)
 */
export function squaredSingularValues(a: ArrayLike<number>, n: number): Float64Array {
  return withHeap(() => {
    const m = packRows(a, n);
    const d = symmetricEigenvaluesPacked(gramPacked(m), n);
    d.sort();
    d.reverse();
    if (m.scale !== 1) for (let i = 0; i < n; i++) d[i] = d[i] / m.scale / m.scale;
    return d;
  });
}

/** AᵀA of an n×n row-major matrix as a JS array in packed lower storage (tests/diagnostics). */
export function gramPackedOf(a: ArrayLike<number>, n: number): Float64Array {
  return withHeap(() => {
    const m = packRows(a, n);
    if (m.scale !== 1) throw new RangeError('gramPackedOf: entries out of the unscaled range');
    const g = gramPacked(m);
    return kernels().f.slice(g, g + (n * (n + 1)) / 2);
  });
}

// =============================================================================================
// Row entropy and column sums of a float32 matrix (attention statistics)
// =============================================================================================

/**
 * For the T×T row-major float32 matrix at a[o ...]: out[i] = Σ_j p_ij·ln p_ij over the positive entries
 * (≤ 0 for attention) and, when `col` and `col2` are given, col[j] += Σ_i p_ij and
 * col2[j] += Σ_i p_ij² (float64, row by row). WebAssembly SIMD when available (rowStats32), else scalar JS
 * with Math.log; both agree to ~1e-10 relative (the column sums exactly).
 */
export function rowStats(a: Float32Array, o: number, T: number, col?: Float64Array, col2?: Float64Array): Float64Array {
  const out = new Float64Array(T);
  const k = kernels();
  if (k.kind !== 'wasm') {
    for (let i = 0; i < T; i++) {
      const r = o + i * T;
      let h = 0;
      for (let j = 0; j < T; j++) {
        const p = a[r + j];
        if (p > 0) h += p * Math.log(p);
        if (col && col2) {
          col[j] += p;
          col2[j] += p * p;
        }
      }
      out[i] = h;
    }
    return out;
  }
  withHeap(() => rowStatsOnHeap(heapCopyF32(a, o, T), T, col, col2, out));
  return out;
}

/**
 * rowStats of the T×T float32 matrix already on the heap at `src` (heapCopyF32/heapCopyRowsF32 layout; WASM kernels):
 * Σ_j p·ln p per row into `out` (returned), column sums added to col/col2 when given.
 */
export function rowStatsOnHeap(src: number, T: number, col?: Float64Array, col2?: Float64Array, out = new Float64Array(T)): Float64Array {
  const k = kernels();
  if (k.kind !== 'wasm') throw new RangeError('rowStatsOnHeap needs the WASM kernels');
  const wk = k as WasmKernels;
  const ld = (T + 3) & ~3;
  withHeap(() => {
    const c1 = heapAlloc(ld);
    const c2 = heapAlloc(ld);
    const ent = heapAlloc(T);
    const f = k.f; // after the allocations (the heap may have grown)
    const cols = !!(col && col2);
    if (cols) {
      f.set(col!.subarray(0, T), c1);
      f.set(col2!.subarray(0, T), c2);
      f.fill(0, c1 + T, c1 + ld);
      f.fill(0, c2 + T, c2 + ld);
    }
    wk.rowStats32(src * 8, ld, T, c1 * 8, c2 * 8, ent * 8, cols);
    out.set(f.subarray(ent, ent + T));
    if (cols) {
      col!.set(f.subarray(c1, c1 + T));
      col2!.set(f.subarray(c2, c2 + T));
    }
  });
  return out;
}

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

// =============================================================================================
// Deterministic PRNG (xorshift128+, as doubles in [-1, 1))
// =============================================================================================

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

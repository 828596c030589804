/**
 * The float64 row kernels (dot, axpy, the fused Householder row, four-row Gram matvec) and the float32 Gram tiles of
 * gramFrobeniusUpper (rank/gram.ts), as WebAssembly function definitions for assembler.ts. Each is described beside
 * its code; the JS twins of the float64 ones are in jsKernels.ts. Imports only the assembler.
 */
import { Code, F64, FnDef, hsum, I32, ifOdd, op, pairLoop, setEnd, V128 } from './assembler';
import { packDefs, rowStats32Def } from './f32Defs';

/** `relaxed`: the float32 Gram tiles use relaxed SIMD multiply-add (an FMA where the CPU has one). */
export function wasmKernelDefs(relaxed: boolean): FnDef[] {
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

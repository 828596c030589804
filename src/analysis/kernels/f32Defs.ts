/**
 * Kernels that read float32 attention rows: row extents and float32 → float64 conversion (packRows in
 * rank/rowMatrix.ts) and the row entropy + column sums of metrics/rowStats.ts. Imports only the assembler.
 */
import { Code, f32x4, f64x2, FnDef, hsum, I32, i32x4, op, V128 } from './assembler';

/**
 * rowExtents32(src, ld, nrows, out): for each of `nrows` float32 rows of `ld` entries (a multiple of 4) at src + 4·ld·i,
 * the index of the first group of 4 holding a non-zero bit pattern and one past the last, as two i32 at out + 8·i
 * (both ld/4 for a zero row). promote32(src, dst, n): n float32 at src → float64 at dst. With these, packRows reads a
 * float32 matrix in two SIMD passes instead of a scalar zero scan and a float32 → float64 TypedArray.set.
 */
export function packDefs(): FnDef[] {
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
 * report. One pass instead of two scalar JS passes (Math.log per entry, then column sums).
 */
export function rowStats32Def(): FnDef {
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

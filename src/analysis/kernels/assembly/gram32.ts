// The float32 Gram tiles of gramFrobeniusUpper (rank/gram.ts) and the float64 → float32 conversion into its panel
// layout. Compiled twice (scripts/buildKernels.mjs): with relaxed SIMD, where the multiply-add is one
// f32x4.relaxed_madd (an FMA where the CPU has one), and without, where it is a multiply then an add. The loader
// (wasmKernels.ts) picks the relaxed build where the engine has relaxed SIMD.

/**
 * a + s·x in float32: fused (one rounding) or not (two) in the relaxed build, as the CPU does it; a multiply then an
 * add otherwise. Either way a dot product of non-negative terms stays within γ_B (gramFrobeniusUpper's bound). The
 * relaxed build makes the whole bound 1.26× faster at T = 1024.
 */
function madd(a: v128, s: v128, x: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(s, x, a);
  return f32x4.add(a, f32x4.mul(s, x));
}

/** The float64 sums at p += the four float32 lanes of a, promoted exactly. */
function flush(p: usize, a: v128): void {
  v128.store(p, f64x2.add(v128.load(p), f64x2.promote_low_f32x4(a)));
  v128.store(p, f64x2.add(v128.load(p, 16), f64x2.promote_low_f32x4(i64x2.shuffle(a, a, 1, 0))), 16);
}

/**
 * Float32 Gram tiles over one chunk of rows of the panel layout (per tile: nrows rows of 8 floats, 32 bytes apart;
 * tiles tileBytes apart). For tile t = 0..ntiles−1 and each of the p J blocks (4 columns each, starting at pj; block
 * b at pj + (b >> 1)·tileBytes + (b & 1)·16), the 4×8 products Σ_r A[r, j0+s]·A[r, k0_t+c] (s = 0..3 at 32r + 4s) are
 * summed in float32 over the nrows rows, in row order, then promoted exactly and added to the float64 sums at byte
 * address acc + b·accStride + 8·(t·32 + s·8 + c). The p passes over a tile hit L1.
 */
export function gramPanel32(pj: usize, pk: usize, nrows: u32, ntiles: u32, acc: usize, tileBytes: usize, p: u32, accStride: usize): void {
  while (ntiles != 0) {
    for (let b: u32 = 0; b < p; b++) {
      // 4 J columns × 8 K columns: a<s><h> holds J column s against K columns 4h..4h+3
      let a00 = f32x4.splat(0);
      let a01 = f32x4.splat(0);
      let a10 = f32x4.splat(0);
      let a11 = f32x4.splat(0);
      let a20 = f32x4.splat(0);
      let a21 = f32x4.splat(0);
      let a30 = f32x4.splat(0);
      let a31 = f32x4.splat(0);
      let cnt = nrows;
      let kp = pk;
      let jp = pj + <usize>(b >>> 1) * tileBytes + ((<usize>(b & 1)) << 4);
      const accp = acc + <usize>b * accStride;
      while (cnt != 0) {
        const x0 = v128.load(kp);
        const x1 = v128.load(kp, 16);
        let s = v128.load32_splat(jp);
        a00 = madd(a00, s, x0);
        a01 = madd(a01, s, x1);
        s = v128.load32_splat(jp, 4);
        a10 = madd(a10, s, x0);
        a11 = madd(a11, s, x1);
        s = v128.load32_splat(jp, 8);
        a20 = madd(a20, s, x0);
        a21 = madd(a21, s, x1);
        s = v128.load32_splat(jp, 12);
        a30 = madd(a30, s, x0);
        a31 = madd(a31, s, x1);
        kp += 32;
        jp += 32;
        cnt--;
      }
      flush(accp, a00);
      flush(accp + 32, a01);
      flush(accp + 64, a10);
      flush(accp + 96, a11);
      flush(accp + 128, a20);
      flush(accp + 160, a21);
      flush(accp + 192, a30);
      flush(accp + 224, a31);
    }
    pk += tileBytes;
    acc += 256;
    ntiles--;
  }
}

/**
 * float64 → float32 (round to nearest) in blocks of 8: block b reads src + 64b and writes dst + stride·b (the panel
 * layout's column blocks).
 */
export function cvt8(src: usize, dst: usize, nblocks: u32, stride: usize): void {
  while (nblocks != 0) {
    const lo = i64x2.shuffle(f32x4.demote_f64x2_zero(v128.load(src)), f32x4.demote_f64x2_zero(v128.load(src, 16)), 0, 2);
    v128.store(dst, lo);
    const hi = i64x2.shuffle(f32x4.demote_f64x2_zero(v128.load(src, 32)), f32x4.demote_f64x2_zero(v128.load(src, 48)), 0, 2);
    v128.store(dst, hi, 16);
    src += 64;
    dst += stride;
    nblocks--;
  }
}

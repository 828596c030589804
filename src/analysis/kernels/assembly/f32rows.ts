// Kernels that read float32 attention rows: row extents and float32 → float64 conversion (packRows in
// rank/rowMatrix.ts) and the row entropy + column sums of metrics/rowStats.ts. Rows are `ld` floats (a multiple of 4)
// at src + 4·ld·i; pointers are byte addresses.

/** The high two float32 lanes of v moved to the low half (for promote_low / convert_low). */
function high(v: v128): v128 {
  return i64x2.shuffle(v, v, 1, 1);
}

/**
 * For each of `nrows` rows: the index of the first group of 4 floats holding a non-zero bit pattern and one past the
 * last, as two i32 at out + 8·i (both ld/4 for a zero row). With promote32, packRows reads a float32 matrix in two
 * SIMD passes instead of a scalar zero scan and a float32 → float64 TypedArray.set.
 */
export function rowExtents32(src: usize, ld: usize, nrows: u32, out: usize): void {
  for (let i: u32 = 0; i < nrows; i++) {
    const r = src + ((<usize>i * ld) << 2);
    let end = r + (ld << 2);
    let g = r;
    while (g < end) {
      if (v128.any_true(v128.load(g))) break;
      g += 16;
    }
    store<u32>(out + ((<usize>i) << 3), (g - r) >>> 4);
    // one past the last non-zero group (stops at the first one when the row is zero: then end = first = ld/4)
    while (g < end) {
      if (v128.any_true(v128.load(end - 16))) break;
      end -= 16;
    }
    store<u32>(out + ((<usize>i) << 3), (end - r) >>> 4, 4);
  }
}

/** n float32 at src → float64 at dst. */
export function promote32(src: usize, dst: usize, n: u32): void {
  const end = src + ((<usize>(n & -4)) << 2);
  while (src < end) {
    const v = v128.load(src);
    v128.store(dst, f64x2.promote_low_f32x4(v));
    v128.store(dst, f64x2.promote_low_f32x4(high(v)), 16);
    src += 16;
    dst += 32;
  }
  n &= 3;
  while (n != 0) {
    store<f64>(dst, <f64>load<f32>(src));
    src += 4;
    dst += 8;
    n--;
  }
}

/**
 * acc + p·ln(2^e·m) over two float64 lanes, for m in [√½, √2): ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172, by
 * its series to s¹¹ in float64 (Horner in z = s², from the s¹¹ term down): truncation ≤ s¹²/13 < 1e-10 relative.
 * Then + e·ln 2, times p. Σ p·ln p comes out to ~1e-10 relative, against ~1e-7 needed for the report, without a call
 * to a log per entry.
 */
function plnp(acc: v128, m: v128, e: v128, p: v128): v128 {
  const s = f64x2.div(f64x2.sub(m, f64x2.splat(1)), f64x2.add(m, f64x2.splat(1)));
  const z = f64x2.mul(s, s);
  let q = f64x2.add(f64x2.mul(f64x2.splat(2.0 / 11.0), z), f64x2.splat(2.0 / 9.0));
  q = f64x2.add(f64x2.mul(q, z), f64x2.splat(2.0 / 7.0));
  q = f64x2.add(f64x2.mul(q, z), f64x2.splat(2.0 / 5.0));
  q = f64x2.add(f64x2.mul(q, z), f64x2.splat(2.0 / 3.0));
  q = f64x2.add(f64x2.mul(q, z), f64x2.splat(2.0));
  const lnm = f64x2.mul(q, s);
  const ln = f64x2.add(lnm, f64x2.mul(e, f64x2.splat(Math.LN2)));
  return f64x2.add(acc, f64x2.mul(ln, p));
}

/** dst[j .. j + 4) += the four float32 lanes of x promoted (squared in float64 when `squared`). */
function addColumns(dst: usize, x: v128, squared: bool): void {
  let lo = f64x2.promote_low_f32x4(x);
  let hi = f64x2.promote_low_f32x4(high(x));
  if (squared) {
    lo = f64x2.mul(lo, lo);
    hi = f64x2.mul(hi, hi);
  }
  v128.store(dst, f64x2.add(v128.load(dst), lo));
  v128.store(dst, f64x2.add(v128.load(dst, 16), hi), 16);
}

/**
 * For each of `nrows` rows: ent[i] = Σ_j p_ij·ln p_ij over the positive entries (float64) and, when doCols ≠ 0,
 * col[j] += p_ij and col2[j] += p_ij² (float64, row by row: the same order and rounding as a scalar float64 loop).
 * Trailing all-zero groups of 4 are skipped (the zero upper triangle of a causal pattern). The entropy sums run in two
 * f64x2 accumulator lanes (even and odd entries of each group of 4 pair up as lanes 0/1), added lane 0 + lane 1 at
 * the end of the row. One pass instead of two scalar JS passes (Math.log per entry, then column sums).
 */
export function rowStats32(src: usize, ld: usize, nrows: u32, col: usize, col2: usize, ent: usize, doCols: i32): void {
  for (let i: u32 = 0; i < nrows; i++) {
    const r = src + ((<usize>i * ld) << 2);
    let end = r + (ld << 2);
    while (r < end) {
      if (v128.any_true(v128.load(end - 16))) break;
      end -= 16;
    }
    let acc = f64x2.splat(0);
    for (let p = r; p < end; p += 16) {
      let x = v128.load(p);
      if (doCols) {
        const j8 = (p - r) << 1; // byte offset of column j in float64
        addColumns(col + j8, x, false);
        addColumns(col2 + j8, x, true);
      }
      x = f32x4.pmax(x, f32x4.splat(0)); // negatives → 0 (0·ln 0 counts as 0 below: m = 1, e = −127, p = 0)
      // x = 2^e·m with m in [1, 2) from the bits, then m in [√½, √2): halve m and add 1 to e where m > √2
      let e = i32x4.sub(i32x4.shr_u(x, 23), i32x4.splat(127));
      let m = v128.or(v128.and(x, i32x4.splat(0x7fffff)), i32x4.splat(0x3f800000));
      const big = f32x4.gt(m, f32x4.splat(<f32>Math.SQRT2));
      m = v128.bitselect(f32x4.mul(m, f32x4.splat(0.5)), m, big);
      e = i32x4.sub(e, big); // mask lanes are −1
      acc = plnp(acc, f64x2.promote_low_f32x4(m), f64x2.convert_low_i32x4_s(e), f64x2.promote_low_f32x4(x));
      acc = plnp(acc, f64x2.promote_low_f32x4(high(m)), f64x2.convert_low_i32x4_s(high(e)), f64x2.promote_low_f32x4(high(x)));
    }
    store<f64>(ent + ((<usize>i) << 3), f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1));
  }
}

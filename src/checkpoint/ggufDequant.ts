/**
 * Dequantization of ggml blocks to float32, bit for bit as gguf-py's `gguf.quants.dequantize` (numpy, float32
 * arithmetic): every product and difference is rounded to float32 (Math.fround) in the same order numpy does it.
 * Block layouts follow ggml-quants.c; the value order inside a block is spelled out per type.
 * Supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (what llama.cpp's common
 * presets produce); anything else is refused by the caller with the tensor's name (see DEQUANT_TYPES).
 */
import { bf16ToFloat, halfToFloat } from './dtypes';
import { GgmlType } from './ggufTypes';

const fr = Math.fround;
const QK_K = 256;

/** f16 → f32 through a lookup table (65536 entries), as the hot loops read one or two per block. */
const HALF = (() => {
  const t = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) t[i] = halfToFloat(i);
  return t;
})();

const h16 = (b: Uint8Array, o: number) => HALF[b[o] | (b[o + 1] << 8)];
const i8 = (v: number) => (v << 24) >> 24;

type Kernel = (src: Uint8Array, nBlocks: number, out: Float32Array) => void;

function q8_0(s: Uint8Array, nb: number, out: Float32Array): void {
  for (let b = 0, o = 0; b < nb; b++, o += 34) {
    const d = h16(s, o);
    for (let j = 0; j < 32; j++) out[b * 32 + j] = fr(d * i8(s[o + 2 + j]));
  }
}

function q4_0(s: Uint8Array, nb: number, out: Float32Array): void {
  for (let b = 0, o = 0; b < nb; b++, o += 18) {
    const d = h16(s, o);
    const y = b * 32;
    for (let j = 0; j < 16; j++) {
      const q = s[o + 2 + j];
      out[y + j] = fr(d * ((q & 0xf) - 8));
      out[y + j + 16] = fr(d * ((q >> 4) - 8));
    }
  }
}

function q4_1(s: Uint8Array, nb: number, out: Float32Array): void {
  for (let b = 0, o = 0; b < nb; b++, o += 20) {
    const d = h16(s, o);
    const m = h16(s, o + 2);
    const y = b * 32;
    for (let j = 0; j < 16; j++) {
      const q = s[o + 4 + j];
      out[y + j] = fr(fr(d * (q & 0xf)) + m);
      out[y + j + 16] = fr(fr(d * (q >> 4)) + m);
    }
  }
}

function q5(s: Uint8Array, nb: number, out: Float32Array, withMin: boolean): void {
  const size = withMin ? 24 : 22;
  for (let b = 0, o = 0; b < nb; b++, o += size) {
    const d = h16(s, o);
    const m = withMin ? h16(s, o + 2) : 0;
    const h = o + (withMin ? 4 : 2);
    const qh = (s[h] | (s[h + 1] << 8) | (s[h + 2] << 16) | (s[h + 3] << 24)) >>> 0;
    const qs = h + 4;
    const y = b * 32;
    for (let j = 0; j < 32; j++) {
      const lo = j < 16 ? s[qs + j] & 0xf : s[qs + j - 16] >> 4;
      const q = lo | (((qh >>> j) & 1) << 4);
      out[y + j] = withMin ? fr(fr(d * q) + m) : fr(d * (q - 16));
    }
  }
}

function q2_K(s: Uint8Array, nb: number, out: Float32Array): void {
  // scales[16] (low nibble: scale, high: min), qs[64], d, dmin. Value i = h*128 + s*32 + l: (qs[h*32+l] >> 2s) & 3.
  for (let b = 0, o = 0; b < nb; b++, o += 84) {
    const d = h16(s, o + 80);
    const dmin = h16(s, o + 82);
    const y = b * QK_K;
    for (let i = 0; i < QK_K; i++) {
      const h = i >> 7;
      const sh = (i >> 5) & 3;
      const l = i & 31;
      const sc = s[o + (i >> 4)];
      const q = (s[o + 16 + h * 32 + l] >> (2 * sh)) & 3;
      out[y + i] = fr(fr(fr(d * (sc & 0xf)) * q) - fr(dmin * (sc >> 4)));
    }
  }
}

function q3_K(s: Uint8Array, nb: number, out: Float32Array): void {
  // hmask[32], qs[64], scales[12] (16 six-bit scales), d.
  const scales = new Float32Array(16);
  for (let b = 0, o = 0; b < nb; b++, o += 110) {
    const d = h16(s, o + 108);
    const sp = o + 96;
    for (let j = 0; j < 16; j++) {
      const lo = j < 8 ? s[sp + j] & 0xf : s[sp + j - 8] >> 4;
      const hi = (s[sp + 8 + (j & 3)] >> (2 * (j >> 2))) & 3;
      scales[j] = fr(d * ((lo | (hi << 4)) - 32));
    }
    const y = b * QK_K;
    for (let i = 0; i < QK_K; i++) {
      const h = i >> 7;
      const sh = (i >> 5) & 3;
      const l = i & 31;
      const ql = (s[o + 32 + h * 32 + l] >> (2 * sh)) & 3;
      const hm = ((s[o + l] >> (i >> 5)) & 1) ^ 1;
      out[y + i] = fr(scales[i >> 4] * (ql - (hm << 2)));
    }
  }
}

/** The 8 six-bit scales and mins of Q4_K/Q5_K packed in 12 bytes at p (ggml's get_scale_min_k4). */
function scaleMin(s: Uint8Array, p: number, sc: Uint8Array, mn: Uint8Array): void {
  for (let j = 0; j < 4; j++) {
    sc[j] = s[p + j] & 63;
    mn[j] = s[p + 4 + j] & 63;
    sc[j + 4] = (s[p + 8 + j] & 0xf) | ((s[p + j] >> 2) & 0x30);
    mn[j + 4] = (s[p + 8 + j] >> 4) | ((s[p + 4 + j] >> 2) & 0x30);
  }
}

function q45_K(s: Uint8Array, nb: number, out: Float32Array, five: boolean): void {
  // d, dmin, scales[12], (Q5_K: qh[32]), qs[128]. Value i = c*64 + s*32 + l: (qs[c*32+l] >> 4s) & 15 (+16 × bit i>>5 of qh[l]).
  const size = five ? 176 : 144;
  const sc = new Uint8Array(8);
  const mn = new Uint8Array(8);
  const ds = new Float32Array(8);
  const ms = new Float32Array(8);
  for (let b = 0, o = 0; b < nb; b++, o += size) {
    const d = h16(s, o);
    const dmin = h16(s, o + 2);
    scaleMin(s, o + 4, sc, mn);
    for (let j = 0; j < 8; j++) {
      ds[j] = fr(d * sc[j]);
      ms[j] = fr(dmin * mn[j]);
    }
    const qh = o + 16;
    const qs = five ? o + 48 : o + 16;
    const y = b * QK_K;
    for (let i = 0; i < QK_K; i++) {
      const g = i >> 5;
      const l = i & 31;
      let q = (s[qs + (g >> 1) * 32 + l] >> (4 * (g & 1))) & 0xf;
      if (five) q |= ((s[qh + l] >> g) & 1) << 4;
      out[y + i] = fr(fr(ds[g] * q) - ms[g]);
    }
  }
}

function q6_K(s: Uint8Array, nb: number, out: Float32Array): void {
  // ql[128], qh[64], scales[16] (int8), d. Value i = h*128 + r: low 4 bits (ql[h*64 + r%64] >> 4*(r>=64)),
  // high 2 bits (qh[h*32 + r%32] >> 2*(r>>5)).
  const ds = new Float32Array(16);
  for (let b = 0, o = 0; b < nb; b++, o += 210) {
    const d = h16(s, o + 208);
    for (let j = 0; j < 16; j++) ds[j] = fr(d * i8(s[o + 192 + j]));
    const y = b * QK_K;
    for (let i = 0; i < QK_K; i++) {
      const h = i >> 7;
      const r = i & 127;
      const lo = (s[o + h * 64 + (r & 63)] >> (4 * (r >> 6))) & 0xf;
      const hi = (s[o + 128 + h * 32 + (r & 31)] >> (2 * (r >> 5))) & 3;
      out[y + i] = fr(ds[i >> 4] * ((lo | (hi << 4)) - 32));
    }
  }
}

const KERNELS: Record<string, Kernel> = {
  F32: (s, n, out) => out.set(new Float32Array(s.buffer.slice(s.byteOffset, s.byteOffset + n * 4))),
  F16: (s, n, out) => {
    for (let i = 0; i < n; i++) out[i] = HALF[s[2 * i] | (s[2 * i + 1] << 8)];
  },
  BF16: (s, n, out) => {
    for (let i = 0; i < n; i++) out[i] = bf16ToFloat(s[2 * i] | (s[2 * i + 1] << 8));
  },
  Q8_0: q8_0,
  Q4_0: q4_0,
  Q4_1: q4_1,
  Q5_0: (s, n, out) => q5(s, n, out, false),
  Q5_1: (s, n, out) => q5(s, n, out, true),
  Q2_K: q2_K,
  Q3_K: q3_K,
  Q4_K: (s, n, out) => q45_K(s, n, out, false),
  Q5_K: (s, n, out) => q45_K(s, n, out, true),
  Q6_K: q6_K,
};

export const DEQUANT_TYPES: readonly string[] = Object.keys(KERNELS);

export function canDequantize(type: GgmlType): boolean {
  return Object.prototype.hasOwnProperty.call(KERNELS, type.name);
}

/**
 * Dequantize whole blocks: `src` holds k blocks of `type` (k × typeSize bytes); returns k × blockSize floats.
 * The caller checks canDequantize first (and names the tensor when it cannot).
 */
export function dequantize(type: GgmlType, src: Uint8Array, out?: Float32Array): Float32Array {
  const nBlocks = src.byteLength / type.typeSize;
  if (!Number.isInteger(nBlocks)) throw new RangeError(`internal: ${src.byteLength} bytes is not a whole number of ${type.name} blocks`);
  const n = nBlocks * type.blockSize;
  const dst = out && out.length === n ? out : new Float32Array(n);
  const k = KERNELS[type.name];
  if (!k) throw new RangeError(`internal: no dequantizer for ${type.name}`);
  k(src, type.blockSize === 1 ? n : nBlocks, dst);
  return dst;
}

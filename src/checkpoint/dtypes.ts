/** safetensors dtypes we read and write, with their sizes and conversion to float32/float64. */
export const DTYPE_BYTES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
} as const;

export type DType = keyof typeof DTYPE_BYTES;
export const SUPPORTED_DTYPES = Object.keys(DTYPE_BYTES) as DType[];

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function byteLength(dtype: DType, shape: readonly number[]): number {
  return DTYPE_BYTES[dtype] * numel(shape);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half → float (exact, handles subnormals, inf and NaN). */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** float → IEEE half, round to nearest even. */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function bf16ToFloat(b: number): number {
  u32[0] = b << 16;
  return f32[0];
}

export function floatToBf16(v: number): number {
  f32[0] = v;
  const x = u32[0];
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40; // NaN stays NaN
  return (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}

/** Decode raw little-endian tensor bytes to float32 (integers and bools are converted by value). */
export function toFloat32(dtype: DType, bytes: Uint8Array): Float32Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F32') {
    // Copy so the result is aligned and independent of the source buffer.
    const out = new Float32Array(n);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true));
      break;
    case 'BF16':
      for (let i = 0; i < n; i++) out[i] = bf16ToFloat(dv.getUint16(i * 2, true));
      break;
    case 'I64':
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(i * 8, true));
      break;
    case 'I32':
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
      break;
    case 'I16':
      for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true);
      break;
    case 'I8':
      for (let i = 0; i < n; i++) out[i] = dv.getInt8(i);
      break;
    case 'U8':
    case 'BOOL':
      for (let i = 0; i < n; i++) out[i] = bytes[i];
      break;
  }
  return out;
}

/** Encode float values to raw little-endian bytes of a floating dtype (used for re-initialised tensors). */
export function fromFloat32(dtype: DType, values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * DTYPE_BYTES[dtype]);
  const dv = new DataView(out.buffer);
  switch (dtype) {
    case 'F32':
      out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      break;
    case 'F64':
      for (let i = 0; i < values.length; i++) dv.setFloat64(i * 8, values[i], true);
      break;
    case 'F16':
      for (let i = 0; i < values.length; i++) dv.setUint16(i * 2, floatToHalf(values[i]), true);
      break;
    case 'BF16':
      for (let i = 0; i < values.length; i++) dv.setUint16(i * 2, floatToBf16(values[i]), true);
      break;
    default:
      throw new Error(`cannot encode floating values as ${dtype}`);
  }
  return out;
}

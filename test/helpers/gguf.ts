/**
 * A small GGUF writer for tests: builds valid files from metadata and tensors, and lets a test override any field
 * (counts, lengths, offsets, version) to make malformed ones. Little-endian, as llama.cpp writes.
 */
import { GgufValueType as V } from '../../src/checkpoint/ggufTypes';

export type Meta = [key: string, type: V, value: unknown, itemType?: V];
export interface TensorSpec {
  name: string;
  /** ggml order (innermost first). */
  dims: number[];
  type: number;
  data: Uint8Array;
  /** Data offset override (default: packed, aligned). */
  offset?: number;
  /** Offset written in the header when it should differ from where the data is (malformed files). */
  headerOffset?: number;
}
export interface GgufSpec {
  version?: number;
  meta?: Meta[];
  tensors?: TensorSpec[];
  alignment?: number;
  tensorCount?: bigint;
  kvCount?: bigint;
}

class Bytes {
  private chunks: number[] = [];
  u8(v: number) {
    this.chunks.push(v & 0xff);
  }
  raw(b: Uint8Array) {
    for (const x of b) this.chunks.push(x);
  }
  num(v: number | bigint, type: V) {
    const b = new Uint8Array(8);
    const dv = new DataView(b.buffer);
    const n = {
      [V.UINT8]: 1,
      [V.INT8]: 1,
      [V.BOOL]: 1,
      [V.UINT16]: 2,
      [V.INT16]: 2,
      [V.UINT32]: 4,
      [V.INT32]: 4,
      [V.FLOAT32]: 4,
      [V.UINT64]: 8,
      [V.INT64]: 8,
      [V.FLOAT64]: 8,
    }[type as number]!;
    switch (type) {
      case V.UINT8:
      case V.BOOL:
        dv.setUint8(0, Number(v));
        break;
      case V.INT8:
        dv.setInt8(0, Number(v));
        break;
      case V.UINT16:
        dv.setUint16(0, Number(v), true);
        break;
      case V.INT16:
        dv.setInt16(0, Number(v), true);
        break;
      case V.UINT32:
        dv.setUint32(0, Number(v), true);
        break;
      case V.INT32:
        dv.setInt32(0, Number(v), true);
        break;
      case V.FLOAT32:
        dv.setFloat32(0, Number(v), true);
        break;
      case V.FLOAT64:
        dv.setFloat64(0, Number(v), true);
        break;
      case V.UINT64:
        dv.setBigUint64(0, BigInt(v), true);
        break;
      case V.INT64:
        dv.setBigInt64(0, BigInt(v), true);
        break;
      case V.STRING:
      case V.ARRAY:
        throw new Error(`num() writes numbers, not ${V[type]}`);
    }
    this.raw(b.subarray(0, n));
  }
  u32(v: number) {
    this.num(v, V.UINT32);
  }
  u64(v: number | bigint) {
    this.num(v, V.UINT64);
  }
  str(s: string) {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.raw(b);
  }
  value(type: V, v: unknown, itemType?: V) {
    if (type === V.STRING) this.str(v as string);
    else if (type === V.BOOL) this.u8(v ? 1 : 0);
    else if (type === V.ARRAY) {
      const items = v as unknown[];
      this.u32(itemType!);
      this.u64(items.length);
      for (const x of items) {
        if (itemType === V.ARRAY) {
          const [t, inner] = x as [V, unknown[]];
          this.value(V.ARRAY, inner, t);
        } else this.value(itemType!, x);
      }
    } else this.num(v as number | bigint, type);
  }
  get length() {
    return this.chunks.length;
  }
  bytes() {
    return Uint8Array.from(this.chunks);
  }
}

export function ggufBytes(spec: GgufSpec): Uint8Array {
  const meta = spec.meta ?? [];
  const tensors = spec.tensors ?? [];
  const alignment = spec.alignment ?? 32;
  const b = new Bytes();
  b.raw(new TextEncoder().encode('GGUF'));
  b.u32(spec.version ?? 3);
  b.u64(spec.tensorCount ?? BigInt(tensors.length));
  b.u64(spec.kvCount ?? BigInt(meta.length));
  for (const [k, t, v, it] of meta) {
    b.str(k);
    b.u32(t);
    b.value(t, v, it);
  }
  let off = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    const o = t.offset ?? off;
    offsets.push(o);
    off = Math.ceil((o + t.data.length) / alignment) * alignment;
    b.str(t.name);
    b.u32(t.dims.length);
    for (const d of t.dims) b.u64(d);
    b.u32(t.type);
    b.u64(t.headerOffset ?? o);
  }
  while (b.length % alignment) b.u8(0);
  const start = b.length;
  const out = new Uint8Array(start + Math.max(0, ...tensors.map((t, i) => offsets[i] + t.data.length)));
  out.set(b.bytes());
  tensors.forEach((t, i) => out.set(t.data, start + offsets[i]));
  return out;
}

export const f32Bytes = (x: ArrayLike<number>) => new Uint8Array(Float32Array.from(x).buffer);

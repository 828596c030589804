/**
 * GGUF reader (versions 2 and 3, little-endian): header, metadata key/values, tensor infos and the aligned data
 * offset. Only the header is read, through a small window that moves over the file; tensors are read later by byte
 * range. Files are untrusted: every count, length, dimension and offset is checked against the file size before it
 * is used or allocated for, and errors name the file, the key or tensor, and the fix.
 * Written here rather than taken from @huggingface/gguf, which fetches whole ranges into memory through its own
 * fetch layer and does not check offsets against the file.
 * Layout: magic "GGUF", u32 version, u64 tensor count, u64 kv count, kvs, tensor infos, padding to alignment, data.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { InherituneError } from '../errors';
import { GGML_TYPES, GgmlType, GgufValueType, VALUE_SIZE, VALUE_TYPE_NAMES } from './ggufTypes';

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_DIMS. */
export const MAX_DIMS = 4;
/** Header (metadata + tensor infos) larger than this is refused: real files stay well under it (tokenizers ~10 MB). */
export const MAX_HEADER_BYTES = 512 * 1024 * 1024;
/** Items in one metadata array (vocabularies are < 1M; a cap keeps millions of tiny strings from being built). */
export const MAX_ARRAY_ITEMS = 1 << 24;
/** Arrays nested deeper than this are refused (the format allows nesting; real files use none). */
const MAX_NESTING = 3;

export type GgufScalar = number | bigint | boolean | string;
export interface GgufArray {
  itemType: GgufValueType;
  /** Numbers as a typed array for numeric item types; strings/booleans/nested arrays as JS arrays. */
  values: ArrayLike<number> | bigint[] | string[] | boolean[] | GgufArray[];
}
export type GgufValue = GgufScalar | GgufArray;

export interface GgufKV {
  key: string;
  type: GgufValueType;
  value: GgufValue;
}

export interface GgufTensorInfo {
  name: string;
  /** ggml order: dims[0] is the innermost (contiguous) dimension; the PyTorch shape is dims reversed. */
  dims: number[];
  type: GgmlType;
  /** Absolute byte range in the file: [begin, end). */
  begin: number;
  end: number;
  numel: number;
}

export interface GgufFile {
  file: string;
  fileSize: number;
  version: number;
  alignment: number;
  /** Where the tensor data starts (absolute, aligned). */
  dataStart: number;
  metadata: Map<string, GgufKV>;
  tensors: GgufTensorInfo[];
}

/** Random access to the file's bytes; a function so that tests can parse in-memory buffers. */
export type ReadAt = (dst: Uint8Array, position: number) => number;

const FIX = 'the file is truncated or corrupt: download or convert it again';

class Cursor {
  private buf = new Uint8Array(0);
  private bufPos = 0; // file position of buf[0]
  private dv = new DataView(this.buf.buffer);
  pos = 0;
  constructor(
    private readonly readAt: ReadAt,
    readonly file: string,
    readonly size: number,
  ) {}

  fail(msg: string, details: Record<string, unknown> = {}): never {
    throw new InherituneError('E_HEADER', `${this.file}: ${msg}`, { file: this.file, ...details });
  }

  get remaining(): number {
    return this.size - this.pos;
  }

  /** Make n bytes at pos available in the window (n is checked against the file size first). */
  private need(n: number, what: string): number {
    if (n > this.remaining) this.fail(`${what} at byte ${this.pos} needs ${n} bytes but the file ends at ${this.size}; ${FIX}`);
    if (this.pos + n > MAX_HEADER_BYTES)
      this.fail(`the header goes past ${MAX_HEADER_BYTES} bytes while reading ${what}; this is not a GGUF file we can read`);
    const off = this.pos - this.bufPos;
    if (off >= 0 && off + n <= this.buf.length) return off;
    const len = Math.min(Math.max(n, 1 << 20), this.size - this.pos);
    const b = new Uint8Array(len);
    for (let got = 0; got < len;) {
      const r = this.readAt(b.subarray(got), this.pos + got);
      if (r <= 0) this.fail(`unexpected end of file at byte ${this.pos + got} while reading ${what}; ${FIX}`);
      got += r;
    }
    this.buf = b;
    this.bufPos = this.pos;
    this.dv = new DataView(b.buffer);
    return 0;
  }

  u8(what: string): number {
    const o = this.need(1, what);
    this.pos += 1;
    return this.buf[o];
  }
  u32(what: string): number {
    const o = this.need(4, what);
    this.pos += 4;
    return this.dv.getUint32(o, true);
  }
  /** A u64 that must fit a JS safe integer (counts, lengths, offsets). */
  u64(what: string): number {
    const o = this.need(8, what);
    this.pos += 8;
    const v = this.dv.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} is ${v}, far beyond the file size (${this.size} bytes); ${FIX}`);
    return Number(v);
  }
  bytes(n: number, what: string): Uint8Array {
    const o = this.need(n, what);
    this.pos += n;
    return this.buf.subarray(o, o + n);
  }
  string(what: string): string {
    const n = this.u64(`length of ${what}`);
    if (n > this.remaining) this.fail(`${what} claims ${n} bytes but only ${this.remaining} remain in the file; ${FIX}`);
    try {
      return utf8.decode(this.bytes(n, what));
    } catch {
      this.fail(`${what} is not valid UTF-8; ${FIX}`);
    }
  }

  scalar(type: GgufValueType, what: string): GgufScalar {
    switch (type) {
      case GgufValueType.STRING:
        return this.string(what);
      case GgufValueType.BOOL: {
        const b = this.u8(what);
        if (b > 1) this.fail(`${what} is a bool with byte value ${b} (must be 0 or 1); ${FIX}`);
        return b === 1;
      }
      case GgufValueType.UINT64:
      case GgufValueType.INT64: {
        const o = this.need(8, what);
        this.pos += 8;
        const v = type === GgufValueType.UINT64 ? this.dv.getBigUint64(o, true) : this.dv.getBigInt64(o, true);
        return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      default: {
        const size = VALUE_SIZE[type];
        if (size === undefined) this.fail(`${what} has unknown value type ${type}; ${FIX}`);
        const o = this.need(size, what);
        this.pos += size;
        return readNumber(this.dv, o, type);
      }
    }
  }

  value(type: GgufValueType, what: string, depth: number): GgufValue {
    if (type !== GgufValueType.ARRAY) return this.scalar(type, what);
    if (depth >= MAX_NESTING) this.fail(`${what} nests arrays deeper than ${MAX_NESTING} levels; ${FIX}`);
    const itemType = this.u32(`item type of ${what}`);
    if (itemType !== GgufValueType.ARRAY && itemType !== GgufValueType.STRING && VALUE_SIZE[itemType] === undefined) {
      this.fail(`${what} is an array of unknown value type ${itemType}; ${FIX}`);
    }
    const count = this.u64(`item count of ${what}`);
    if (count > MAX_ARRAY_ITEMS) this.fail(`${what} claims ${count} items, more than the ${MAX_ARRAY_ITEMS} a GGUF reader accepts; ${FIX}`);
    // The smallest item (a 1-byte scalar; 8-byte length prefix for strings and arrays) bounds the count by the file.
    const minItem = VALUE_SIZE[itemType] ?? (itemType === GgufValueType.ARRAY ? 12 : 8);
    if (count * minItem > this.remaining) {
      this.fail(
        `${what} claims ${count} items of ${VALUE_TYPE_NAMES[itemType]} (at least ${count * minItem} bytes) but only ${this.remaining} bytes remain; ${FIX}`,
      );
    }
    const size = VALUE_SIZE[itemType];
    if (size !== undefined && itemType !== GgufValueType.BOOL && itemType !== GgufValueType.UINT64 && itemType !== GgufValueType.INT64) {
      const raw = this.bytes(count * size, what);
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      const out = itemType === GgufValueType.FLOAT32 ? new Float32Array(count) : new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = readNumber(dv, i * size, itemType);
      return { itemType, values: out };
    }
    const values: GgufValue[] = [];
    for (let i = 0; i < count; i++) values.push(this.value(itemType, `${what}[${i}]`, depth + 1));
    return { itemType, values: values as GgufArray['values'] };
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function readNumber(dv: DataView, o: number, type: GgufValueType): number {
  switch (type) {
    case GgufValueType.UINT8:
      return dv.getUint8(o);
    case GgufValueType.INT8:
      return dv.getInt8(o);
    case GgufValueType.UINT16:
      return dv.getUint16(o, true);
    case GgufValueType.INT16:
      return dv.getInt16(o, true);
    case GgufValueType.UINT32:
      return dv.getUint32(o, true);
    case GgufValueType.INT32:
      return dv.getInt32(o, true);
    case GgufValueType.FLOAT32:
      return dv.getFloat32(o, true);
    case GgufValueType.FLOAT64:
      return dv.getFloat64(o, true);
    default:
      throw new Error(`internal: readNumber(${type})`);
  }
}

/** Parse a GGUF header from any random-access source of `size` bytes. */
export function parseGguf(file: string, size: number, readAt: ReadAt): GgufFile {
  const c = new Cursor(readAt, file, size);
  if (size < 24) c.fail(`file is ${size} bytes, too short for a GGUF header (24 bytes at least); ${FIX}`);
  const magic = c.u32('magic');
  if (magic !== GGUF_MAGIC) c.fail(`not a GGUF file (magic bytes ${magic.toString(16).padStart(8, '0')}, expected "GGUF")`);
  const version = c.u32('version');
  if (version === 1) c.fail('GGUF version 1 (2023) is not supported; convert the model again with a current llama.cpp');
  if (version !== 2 && version !== 3) {
    const swapped = ((version & 0xff) << 24) | ((version & 0xff00) << 8) | ((version >>> 8) & 0xff00) | (version >>> 24);
    if (swapped === 2 || swapped === 3) c.fail('this is a big-endian GGUF file; only little-endian files are supported');
    c.fail(`GGUF version ${version} is not supported (versions 2 and 3 are)`);
  }
  const nTensors = c.u64('tensor count');
  const nKV = c.u64('metadata count');
  // Each tensor info takes ≥ 24 bytes (name length, dim count, type, offset); each key/value ≥ 13.
  if (nTensors * 24 > c.remaining) c.fail(`header claims ${nTensors} tensors, more than the ${size}-byte file can describe; ${FIX}`);
  if (nKV * 13 > c.remaining) c.fail(`header claims ${nKV} metadata entries, more than the ${size}-byte file can hold; ${FIX}`);

  const metadata = new Map<string, GgufKV>();
  for (let i = 0; i < nKV; i++) {
    const key = c.string(`metadata key #${i}`);
    const type = c.u32(`value type of metadata "${key}"`);
    if (type !== GgufValueType.ARRAY && type !== GgufValueType.STRING && VALUE_SIZE[type] === undefined) {
      c.fail(`metadata "${key}" has unknown value type ${type}; ${FIX}`, { key });
    }
    const value = c.value(type, `metadata "${key}"`, 0);
    if (metadata.has(key)) c.fail(`metadata key "${key}" appears twice; ${FIX}`, { key });
    metadata.set(key, { key, type, value });
  }

  let alignment = DEFAULT_ALIGNMENT;
  const al = metadata.get('general.alignment');
  if (al) {
    const v = al.value;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1 << 20 || (v & (v - 1)) !== 0) {
      c.fail(`general.alignment is ${String(v)}; it must be a power of two (32 by default)`, { key: 'general.alignment' });
    }
    alignment = v as number;
  }

  const infos: { name: string; dims: number[]; type: GgmlType; offset: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = c.string(`name of tensor #${i}`);
    const where = `tensor ${name}`;
    const nDims = c.u32(`dimension count of ${where}`);
    if (nDims < 1 || nDims > MAX_DIMS) c.fail(`${where} has ${nDims} dimensions (1 to ${MAX_DIMS} allowed); ${FIX}`, { tensor: name });
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(c.u64(`dimension ${d} of ${where}`));
    const typeId = c.u32(`type of ${where}`);
    const type = GGML_TYPES.get(typeId);
    if (type === undefined)
      return c.fail(`${where} has unknown ggml type ${typeId}; a newer llama.cpp may have written it`, { tensor: name });
    const offset = c.u64(`data offset of ${where}`);
    if (names.has(name)) c.fail(`tensor ${name} appears twice; ${FIX}`, { tensor: name });
    names.add(name);
    infos.push({ name, dims, type, offset });
  }
  const dataStart = Math.ceil(c.pos / alignment) * alignment;
  if (dataStart > size) c.fail(`tensor data would start at byte ${dataStart}, past the end of the file (${size} bytes); ${FIX}`);
  const dataSize = size - dataStart;

  const tensors: GgufTensorInfo[] = [];
  for (const { name, dims, type, offset } of infos) {
    let numel = 1;
    for (const d of dims) {
      numel *= d;
      if (numel > dataSize * type.blockSize)
        c.fail(
          `tensor ${name} has dimensions [${dims.join(', ')}], more values than the data section (${dataSize} bytes) can hold; ${FIX}`,
          { tensor: name },
        );
    }
    if (dims[0] % type.blockSize !== 0) {
      c.fail(`tensor ${name}: its rows have ${dims[0]} values, not a multiple of the ${type.name} block size ${type.blockSize}; ${FIX}`, {
        tensor: name,
      });
    }
    if (offset % alignment !== 0)
      c.fail(`tensor ${name}: data offset ${offset} is not a multiple of the alignment ${alignment}; ${FIX}`, { tensor: name });
    const bytes = (numel / type.blockSize) * type.typeSize;
    if (offset + bytes > dataSize) {
      c.fail(`tensor ${name}: its ${bytes} bytes at data offset ${offset} go beyond the data section (${dataSize} bytes); ${FIX}`, {
        tensor: name,
      });
    }
    tensors.push({ name, dims, type, begin: dataStart + offset, end: dataStart + offset + bytes, numel });
  }
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (cur.begin < prev.end && cur.end > cur.begin) {
      c.fail(`tensors ${prev.name} and ${cur.name} overlap in the data (bytes ${cur.begin - dataStart}..${prev.end - dataStart}); ${FIX}`, {
        tensor: cur.name,
      });
    }
  }
  return { file, fileSize: size, version, alignment, dataStart, metadata, tensors };
}

/** Read and validate the header of a .gguf file (reads the header only, never the tensor data). */
export function readGgufHeader(file: string): GgufFile {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new InherituneError('E_NOT_FOUND', `${file}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, {
      file,
    });
  }
  try {
    const { size } = fstatSync(fd);
    return parseGguf(file, size, (dst, position) => readSync(fd, dst, 0, dst.byteLength, position));
  } finally {
    closeSync(fd);
  }
}

/** A metadata value as a plain number (integers of any width, floats), or undefined. */
export function metaNumber(g: GgufFile, key: string): number | undefined {
  const v = g.metadata.get(key)?.value;
  return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;
}

export function metaString(g: GgufFile, key: string): string | undefined {
  const v = g.metadata.get(key)?.value;
  return typeof v === 'string' ? v : undefined;
}

export function metaBool(g: GgufFile, key: string): boolean | undefined {
  const v = g.metadata.get(key)?.value;
  return typeof v === 'boolean' ? v : undefined;
}

export function metaArray(g: GgufFile, key: string): GgufArray | undefined {
  const v = g.metadata.get(key)?.value;
  return typeof v === 'object' && v !== null && 'itemType' in v ? v : undefined;
}

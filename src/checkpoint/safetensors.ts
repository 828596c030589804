/**
 * safetensors reader: parses and validates the header only, then reads tensors by byte range on demand.
 * Files are untrusted: every length and offset is bounds-checked before use, and the whole file is never loaded.
 * Format: u64 little-endian header length N, N bytes of JSON header, then the data buffer.
 */
import { promises as fsp } from 'node:fs';
import { byteLength, DType, DTYPE_BYTES, isDType, SUPPORTED_DTYPES } from './dtypes';
import { InherituneError } from '../errors';
import type { StoredTensor } from './ggufStored';

/** Largest header we accept (the reference implementation uses 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute byte range in `file`: [begin, end). */
  begin: number;
  end: number;
  file: string;
  /**
   * Set when [begin, end) are not the tensor's bytes as they stand (PyTorch checkpoints mapped onto a family):
   * 'transpose': they hold the 2-D tensor's transpose, row-major [shape[1], shape[0]] (a torch Linear weight
   * [out, in] under a Conv1D [in, out] name); 'zeros': nothing is stored (begin = end), the tensor is all zeros
   * (the biases of a bias-free nanoGPT). Readers go through readTensorBytes, or take the range only when unset.
   */
  transform?: 'transpose' | 'zeros';
  /** Set when [begin, end) holds something else than `dtype` × `shape` (GGUF blocks): decode with decodeStored. */
  stored?: StoredTensor;
}

export interface SafetensorsHeader {
  file: string;
  fileSize: number;
  headerLength: number;
  dataStart: number;
  metadata: Record<string, string>;
  /** Tensors in header order. */
  tensors: TensorInfo[];
}

function fail(code: 'E_HEADER' | 'E_JSON' | 'E_TENSOR' | 'E_OFFSETS' | 'E_DTYPE', file: string, msg: string, tensor?: string): never {
  throw new InherituneError(code, `${file}: ${msg}`, { file, tensor });
}

const FIX_REDOWNLOAD = 'the file is truncated or corrupt: download or save it again';

/** Validate the u64 header length against the file size and return it. */
export function checkHeaderLength(file: string, fileSize: number, lenBytes: Uint8Array): number {
  if (fileSize < 8) fail('E_HEADER', file, `file is ${fileSize} bytes, shorter than the 8-byte header length; ${FIX_REDOWNLOAD}`);
  const dv = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(fileSize - 8)) {
    fail('E_HEADER', file, `header length ${n64} goes beyond the end of the file (${fileSize} bytes); ${FIX_REDOWNLOAD}`);
  }
  const headerLength = Number(n64);
  if (headerLength > MAX_HEADER_BYTES)
    fail('E_HEADER', file, `header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit; this is not a safetensors file`);
  if (headerLength < 2) fail('E_HEADER', file, `header length ${headerLength} is too small to hold a JSON object; ${FIX_REDOWNLOAD}`);
  return headerLength;
}

/** Parse a header from its raw bytes (exported for tests and for the viewer). */
export function parseHeader(file: string, fileSize: number, lenBytes: Uint8Array, headerBytes: Uint8Array): SafetensorsHeader {
  const headerLength = checkHeaderLength(file, fileSize, lenBytes);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    fail('E_JSON', file, `header is not valid JSON (${(e as Error).message}); ${FIX_REDOWNLOAD}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('E_JSON', file, 'header JSON is not an object');
  const dataStart = 8 + headerLength;
  const dataSize = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('E_JSON', file, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail('E_JSON', file, `__metadata__["${k}"] must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (typeof raw !== 'object' || raw === null) fail('E_TENSOR', file, `tensor ${name}: entry is not an object`, name);
    const { dtype, shape, data_offsets: offs } = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isDType(dtype))
      fail('E_DTYPE', file, `tensor ${name}: unsupported dtype ${JSON.stringify(dtype)} (supported: ${SUPPORTED_DTYPES.join(', ')})`, name);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      fail('E_TENSOR', file, `tensor ${name}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`, name);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0))
      fail('E_OFFSETS', file, `tensor ${name}: data_offsets ${JSON.stringify(offs)} must be two non-negative integers`, name);
    const [b, e] = offs as [number, number];
    if (e < b) fail('E_OFFSETS', file, `tensor ${name}: data_offsets [${b}, ${e}] end before they begin`, name);
    if (e > dataSize)
      fail('E_OFFSETS', file, `tensor ${name}: data_offsets [${b}, ${e}] go beyond the data (${dataSize} bytes); ${FIX_REDOWNLOAD}`, name);
    const expected = byteLength(dtype, shape as number[]);
    if (e - b !== expected)
      fail(
        'E_OFFSETS',
        file,
        `tensor ${name}: ${e - b} bytes in data_offsets but shape ${JSON.stringify(shape)} × ${dtype} needs ${expected}`,
        name,
      );
    tensors.push({ name, dtype, shape: shape as number[], begin: dataStart + b, end: dataStart + e, file });
  }
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (cur.begin < prev.end && cur.end > cur.begin) {
      fail(
        'E_OFFSETS',
        file,
        `tensors ${prev.name} and ${cur.name} overlap in the data (bytes ${cur.begin - dataStart}..${prev.end - dataStart}); the file is corrupt`,
        cur.name,
      );
    }
  }
  return { file, fileSize, headerLength, dataStart, metadata, tensors };
}

/** Read and validate the header of one .safetensors file (reads 8 + N bytes, nothing else). */
export async function readHeader(file: string): Promise<SafetensorsHeader> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (e) {
    throw new InherituneError('E_NOT_FOUND', `${file}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, {
      file,
    });
  }
  try {
    const { size } = await fh.stat();
    const len = new Uint8Array(8);
    if (size >= 8) await readExactly(fh, len, 0, file);
    const n = checkHeaderLength(file, size, len); // validated before allocating for it
    const hdr = new Uint8Array(n);
    await readExactly(fh, hdr, 8, file);
    return parseHeader(file, size, len, hdr);
  } finally {
    await fh.close();
  }
}

async function readExactly(fh: fsp.FileHandle, buf: Uint8Array, position: number, file: string): Promise<void> {
  let off = 0;
  while (off < buf.byteLength) {
    const { bytesRead } = await fh.read(buf, off, buf.byteLength - off, position + off);
    if (bytesRead === 0)
      throw new InherituneError('E_HEADER', `${file}: unexpected end of file at byte ${position + off}; ${FIX_REDOWNLOAD}`, { file });
    off += bytesRead;
  }
}

/** Read the raw bytes of one tensor (its transform applied). The caller owns the returned buffer. */
export async function readTensorBytes(t: TensorInfo): Promise<Uint8Array> {
  if (t.transform === 'zeros') return new Uint8Array(byteLength(t.dtype, t.shape));
  const fh = await fsp.open(t.file, 'r');
  try {
    const buf = new Uint8Array(t.end - t.begin);
    await readExactly(fh, buf, t.begin, t.file);
    return t.transform === 'transpose' ? transposeBytes(buf, t.shape, DTYPE_BYTES[t.dtype]) : buf;
  } finally {
    await fh.close();
  }
}

/** Row-major [cols, rows] bytes → [rows, cols] (shape = [rows, cols]), elements of `esz` bytes (1, 2, 4 or 8). */
export function transposeBytes(src: Uint8Array, shape: readonly number[], esz: number): Uint8Array {
  const [rows, cols] = shape;
  const n = rows * cols;
  const aligned = src.byteOffset % 8 === 0 ? src : src.slice();
  const out = new Uint8Array(n * esz);
  const view = (b: Uint8Array) =>
    esz === 8
      ? new BigUint64Array(b.buffer, b.byteOffset, n)
      : esz === 4
        ? new Uint32Array(b.buffer, b.byteOffset, n)
        : esz === 2
          ? new Uint16Array(b.buffer, b.byteOffset, n)
          : b;
  const a = view(aligned);
  const o = view(out);
  for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) o[r * cols + c] = a[c * rows + r];
  return out;
}

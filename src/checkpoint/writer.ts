/**
 * Streaming safetensors writer: one file or HF-style shards (model-00001-of-0000N.safetensors + index).
 * Tensor bytes come from a source range of another file (copied in fixed-size chunks, so memory stays flat
 * whatever the model size) or from a generator (re-initialised tensors).
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { DType, DTYPE_BYTES } from './dtypes';
import { InherituneError, ProgressFn, throwIfAborted } from '../errors';
import { INDEX_FILE, SINGLE_FILE } from './checkpoint';

export const DEFAULT_SHARD_BYTES = 5_000_000_000;
const CHUNK = 8 << 20;

export type TensorSource =
  | { kind: 'range'; file: string; begin: number; end: number }
  | { kind: 'bytes'; produce: () => Uint8Array | Promise<Uint8Array> }
  /** Pieces in order (large converted tensors, so that memory holds one piece, not the tensor). */
  | { kind: 'chunks'; produce: () => AsyncIterable<Uint8Array> };

export interface WriteEntry {
  name: string;
  dtype: DType;
  shape: number[];
  byteLength: number;
  source: TensorSource;
}

export interface WriteOptions {
  shardBytes?: number;
  metadata?: Record<string, string>;
  signal?: AbortSignal;
  onProgress?: ProgressFn;
}

export function shardName(i: number, n: number): string {
  return `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
}

/** Greedy shards in entry order, as transformers does: a new shard starts when the next tensor would overflow. */
export function planShards(entries: WriteEntry[], shardBytes: number): WriteEntry[][] {
  const shards: WriteEntry[][] = [];
  let cur: WriteEntry[] = [];
  let size = 0;
  for (const e of entries) {
    if (cur.length && size + e.byteLength > shardBytes) {
      shards.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(e);
    size += e.byteLength;
  }
  if (cur.length || !shards.length) shards.push(cur);
  return shards;
}

export function encodeHeader(entries: WriteEntry[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  for (const e of entries) {
    if (e.byteLength !== DTYPE_BYTES[e.dtype] * e.shape.reduce((a, b) => a * b, 1)) {
      throw new InherituneError('E_TENSOR', `internal: tensor ${e.name} has ${e.byteLength} bytes for shape [${e.shape}] ${e.dtype}`, {
        tensor: e.name,
      });
    }
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + e.byteLength] };
    off += e.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces so the data starts 8-byte aligned (as the reference implementation does).
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}

class SourceFiles {
  private fds = new Map<string, fsp.FileHandle>();
  async get(file: string): Promise<fsp.FileHandle> {
    let fh = this.fds.get(file);
    if (!fh) {
      fh = await fsp.open(file, 'r');
      this.fds.set(file, fh);
    }
    return fh;
  }
  async close(): Promise<void> {
    await Promise.all([...this.fds.values()].map((f) => f.close()));
    this.fds.clear();
  }
}

/**
 * Write `entries` into `dir` (which must exist): model.safetensors, or shards + index when they exceed shardBytes.
 * Returns the file names written.
 */
export async function writeSafetensors(dir: string, entries: WriteEntry[], opts: WriteOptions = {}): Promise<string[]> {
  const shards = planShards(entries, opts.shardBytes ?? DEFAULT_SHARD_BYTES);
  const total = entries.reduce((a, e) => a + e.byteLength, 0);
  const names = shards.length === 1 ? [SINGLE_FILE] : shards.map((_, i) => shardName(i, shards.length));
  const sources = new SourceFiles();
  const buf = Buffer.allocUnsafe(CHUNK);
  let done = 0;
  try {
    for (let s = 0; s < shards.length; s++) {
      const out = await fsp.open(path.join(dir, names[s]), 'w');
      try {
        const header = encodeHeader(shards[s], opts.metadata);
        await out.write(header, 0, header.length);
        for (const e of shards[s]) {
          throwIfAborted(opts.signal);
          if (e.source.kind === 'range') {
            const src = await sources.get(e.source.file);
            for (let pos = e.source.begin; pos < e.source.end;) {
              const want = Math.min(CHUNK, e.source.end - pos);
              const { bytesRead } = await src.read(buf, 0, want, pos);
              if (bytesRead === 0)
                throw new InherituneError('E_IO', `${e.source.file}: ended early while copying tensor ${e.name}`, {
                  file: e.source.file,
                  tensor: e.name,
                });
              await writeAll(out, buf, bytesRead);
              pos += bytesRead;
            }
          } else if (e.source.kind === 'chunks') {
            let n = 0;
            for await (const piece of e.source.produce()) {
              throwIfAborted(opts.signal);
              n += piece.byteLength;
              if (n > e.byteLength) break;
              await writeAll(out, piece, piece.byteLength);
            }
            if (n !== e.byteLength)
              throw new InherituneError('E_TENSOR', `internal: tensor ${e.name} produced ${n} bytes, expected ${e.byteLength}`);
          } else {
            const bytes = await e.source.produce();
            if (bytes.byteLength !== e.byteLength)
              throw new InherituneError(
                'E_TENSOR',
                `internal: tensor ${e.name} produced ${bytes.byteLength} bytes, expected ${e.byteLength}`,
              );
            await writeAll(out, bytes, bytes.byteLength);
          }
          done += e.byteLength;
          opts.onProgress?.(total ? done / total : 1, e.name);
        }
        await out.sync();
      } finally {
        await out.close();
      }
    }
  } finally {
    await sources.close();
  }
  if (shards.length > 1) {
    const weightMap: Record<string, string> = {};
    shards.forEach((sh, i) => sh.forEach((e) => (weightMap[e.name] = names[i])));
    await fsp.writeFile(
      path.join(dir, INDEX_FILE),
      JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n',
    );
    names.push(INDEX_FILE);
  }
  return names;
}

async function writeAll(fh: fsp.FileHandle, data: Uint8Array, len: number): Promise<void> {
  let off = 0;
  while (off < len) {
    const { bytesWritten } = await fh.write(data, off, len - off);
    off += bytesWritten;
  }
}

/**
 * Build a folder atomically: `build(tmp)` fills a temporary sibling folder, which is renamed to `target` only when
 * complete. On failure or cancellation the temporary folder is removed; an existing target is refused unless force.
 */
export async function writeFolderAtomically(target: string, force: boolean, build: (tmpDir: string) => Promise<void>): Promise<void> {
  const abs = path.resolve(target);
  const exists = await fsp.stat(abs).then(
    () => true,
    () => false,
  );
  if (exists && !force) {
    throw new InherituneError('E_EXISTS', `${abs} already exists; choose another output folder or pass --force to replace it`, {
      file: abs,
    });
  }
  const parent = path.dirname(abs);
  await fsp.mkdir(parent, { recursive: true });
  const tmp = await makeTempSibling(parent, `.${path.basename(abs)}.inheritune-tmp-`);
  activeTemps.add(tmp);
  try {
    await build(tmp);
    if (exists) {
      const trash = `${tmp}-old`;
      await fsp.rename(abs, trash);
      await fsp.rename(tmp, abs);
      await fsp.rm(trash, { recursive: true, force: true });
    } else {
      await fsp.rename(tmp, abs);
    }
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    activeTemps.delete(tmp);
  }
}

/**
 * A new, uniquely named folder made by a plain mkdir, so it has the mode any folder the user makes has (0777 less the
 * umask, e.g. 0755), which the finished output keeps after the rename. (mkdtemp would make it 0700, unreadable to
 * colleagues on a shared machine.)
 */
async function makeTempSibling(parent: string, prefix: string): Promise<string> {
  for (;;) {
    const dir = path.join(parent, prefix + randomBytes(4).toString('hex'));
    try {
      await fsp.mkdir(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/** Temporary folders being written now: removed synchronously if the process is told to exit mid-write. */
export const activeTemps = new Set<string>();

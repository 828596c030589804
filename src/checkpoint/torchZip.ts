/**
 * PyTorch's zip checkpoint layout (torch.save since 1.6; pytorch_model.bin, nanoGPT's ckpt.pt):
 *   <archive>/data.pkl        the pickled object; tensors in it name storages by key (see pickle.ts)
 *   <archive>/data/<key>      one storage's raw little-endian bytes, stored uncompressed
 *   <archive>/byteorder       'little' or 'big' (absent before torch 2.1: little)
 *   <archive>/version         the format version
 * yauzl reads the central directory (zip64 included) without loading the file; a storage is then an absolute byte
 * range of the zip (after its local header), so a contiguous tensor is a TensorInfo like a safetensors one.
 * The legacy format (before 1.6: pickles back to back, then the storages) is read too (readLegacy below).
 * The file is untrusted: entry counts, sizes and offsets are checked against the file before use.
 */
import { promises as fsp } from 'node:fs';
import * as yauzl from 'yauzl';
import { DTYPE_BYTES } from './dtypes';
import { InherituneError } from '../errors';
import type { TensorInfo } from './safetensors';
import { describe, PickleError, PyDict, PyValue, readPickle, readPickleAt, TorchStorage, TorchTensor } from './pickle';

/** Most entries in a checkpoint zip (one per storage: far above any real model). */
const MAX_ENTRIES = 200_000;
/** Largest data.pkl read into memory (tensor data is not in it; real ones are kilobytes to a few megabytes). */
export const MAX_PICKLE_BYTES = 256 * 1024 * 1024;

const FIX = 'the file is truncated or corrupt: save or download it again';

export interface TorchZip {
  file: string;
  fileSize: number;
  /** The archive folder inside the zip, with its slash (`archive/`, or the file's stem for older torch). */
  prefix: string;
  root: PyValue;
  /** Find these storages' data in the zip (one local-header read each); other storages are never looked at. */
  locate(storages: Iterable<TorchStorage>): Promise<void>;
  /** Absolute byte range of a located storage's data, checked against its entry. */
  storageRange(s: TorchStorage, tensor: string): { begin: number; end: number };
}

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeader: number;
  encrypted: boolean;
}

function zipError(file: string, msg: string, tensor?: string): InherituneError {
  return new InherituneError('E_HEADER', `${file}: ${msg}`, { file, tensor });
}

const isZip = (b: Uint8Array) => b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04;

async function listEntries(file: string): Promise<ZipEntry[]> {
  const zf = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(
      file,
      { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: false, decodeStrings: true },
      (err, z) => (err || !z ? reject(zipError(file, `not a readable zip (${err?.message}); ${FIX}`)) : resolve(z)),
    ),
  );
  try {
    if (zf.entryCount > MAX_ENTRIES)
      throw zipError(file, `the zip directory lists ${zf.entryCount} entries (at most ${MAX_ENTRIES}); this is not a PyTorch checkpoint`);
    return await new Promise<ZipEntry[]>((resolve, reject) => {
      const out: ZipEntry[] = [];
      zf.on('entry', (e: yauzl.Entry) => {
        out.push({
          name: e.fileName,
          method: e.compressionMethod,
          compressedSize: e.compressedSize,
          uncompressedSize: e.uncompressedSize,
          localHeader: e.relativeOffsetOfLocalHeader,
          encrypted: (e.generalPurposeBitFlag & 1) !== 0,
        });
        zf.readEntry();
      });
      zf.on('end', () => resolve(out));
      zf.on('error', (e: Error) => reject(zipError(file, `zip directory is damaged (${e.message}); ${FIX}`)));
      zf.readEntry();
    });
  } finally {
    zf.close();
  }
}

async function readAt(fh: fsp.FileHandle, file: string, begin: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  for (let off = 0; off < length;) {
    const { bytesRead } = await fh.read(buf, off, length - off, begin + off);
    if (bytesRead === 0) throw zipError(file, `unexpected end of file at byte ${begin + off}; ${FIX}`);
    off += bytesRead;
  }
  return buf;
}

/** Where an entry's bytes start: after its local header, whose name and extra lengths may differ from the directory's. */
async function dataStart(fh: fsp.FileHandle, file: string, fileSize: number, e: ZipEntry): Promise<number> {
  if (e.encrypted) throw zipError(file, `entry ${e.name} is encrypted`);
  if (e.method !== 0)
    throw zipError(
      file,
      `entry ${e.name} is compressed (zip method ${e.method}); torch.save stores entries uncompressed: save the checkpoint again with torch.save`,
    );
  if (e.compressedSize !== e.uncompressedSize)
    throw zipError(file, `entry ${e.name} is stored but its sizes differ (${e.compressedSize} vs ${e.uncompressedSize}); ${FIX}`);
  if (e.localHeader + 30 > fileSize)
    throw zipError(file, `entry ${e.name}: local header at ${e.localHeader} is beyond the end of the file; ${FIX}`);
  const h = await readAt(fh, file, e.localHeader, 30);
  const dv = new DataView(h.buffer);
  if (dv.getUint32(0, true) !== 0x04034b50) throw zipError(file, `entry ${e.name}: no local header at byte ${e.localHeader}; ${FIX}`);
  const begin = e.localHeader + 30 + dv.getUint16(26, true) + dv.getUint16(28, true);
  if (begin + e.uncompressedSize > fileSize)
    throw zipError(
      file,
      `entry ${e.name}: bytes ${begin}..${begin + e.uncompressedSize} go beyond the end of the file (${fileSize} bytes); ${FIX}`,
    );
  return begin;
}

/** Open a torch.save zip: read its directory and data.pkl (with the restricted reader), nothing else. */
export async function readTorchZip(file: string): Promise<TorchZip> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (e) {
    throw new InherituneError('E_NOT_FOUND', `${file}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, {
      file,
    });
  }
  try {
    const fileSize = (await fh.stat()).size;
    const magic = fileSize >= 4 ? await readAt(fh, file, 0, 4) : new Uint8Array(4);
    if (!isZip(magic)) {
      if (magic[0] === 0x80) return await readLegacy(fh, file, fileSize);
      throw zipError(file, 'neither a zip nor a pickle, so not a PyTorch checkpoint saved by torch.save');
    }
    const entries = await listEntries(file);
    const pkls = entries.filter((e) => /^[^/]+\/data\.pkl$/.test(e.name));
    if (pkls.length !== 1)
      throw zipError(file, `${pkls.length ? 'several' : 'no'} <archive>/data.pkl entries: this zip is not a torch.save checkpoint`);
    const prefix = pkls[0].name.slice(0, -'data.pkl'.length);
    const byName = new Map(entries.filter((e) => e.name.startsWith(prefix)).map((e) => [e.name.slice(prefix.length), e]));

    const order = byName.get('byteorder');
    if (order) {
      const text = new TextDecoder()
        .decode(await readAt(fh, file, await dataStart(fh, file, fileSize, order), Math.min(order.uncompressedSize, 16)))
        .trim();
      if (text !== 'little')
        throw zipError(
          file,
          `byteorder is "${text}"; only little-endian checkpoints are read (load and save it again on a little-endian machine)`,
        );
    }

    const pkl = pkls[0];
    if (pkl.uncompressedSize > MAX_PICKLE_BYTES)
      throw zipError(
        file,
        `${pkl.name} is ${pkl.uncompressedSize} bytes (at most ${MAX_PICKLE_BYTES}); this is not a checkpoint the reader accepts`,
      );
    const pklBytes = await readAt(fh, file, await dataStart(fh, file, fileSize, pkl), pkl.uncompressedSize);
    let root: PyValue;
    try {
      root = readPickle(pklBytes);
    } catch (e) {
      if (e instanceof PickleError)
        throw new InherituneError('E_HEADER', `${file}: ${pkl.name} at byte ${e.offset}: ${e.message}`, { file });
      throw e;
    }

    const ranges = new Map<string, { begin: number; end: number }>();
    return {
      file,
      fileSize,
      prefix,
      root,
      async locate(storages) {
        const want = [...new Set([...storages].map((s) => s.key))].filter((k) => !ranges.has(k));
        if (!want.length) return;
        const h = await fsp.open(file, 'r');
        try {
          for (const key of want) {
            const e = byName.get(`data/${key}`);
            if (!e) continue; // storageRange names the missing entry with the tensor that needs it
            const begin = await dataStart(h, file, fileSize, e);
            ranges.set(key, { begin, end: begin + e.uncompressedSize });
          }
        } finally {
          await h.close();
        }
      },
      storageRange(s, tensor) {
        const r = ranges.get(s.key);
        if (!r) throw zipError(file, `tensor ${tensor}: storage ${prefix}data/${s.key} is missing from the zip; ${FIX}`, tensor);
        const want = s.numel * DTYPE_BYTES[s.dtype];
        if (r.end - r.begin < want)
          throw zipError(
            file,
            `tensor ${tensor}: storage ${s.key} holds ${r.end - r.begin} bytes but ${s.numel} × ${s.dtype} needs ${want}; ${FIX}`,
            tensor,
          );
        return { begin: r.begin, end: r.begin + want };
      },
    };
  } finally {
    await fh.close();
  }
}

/** The first pickle of the legacy format (torch.serialization.MAGIC_NUMBER), then PROTOCOL_VERSION. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;
/** How much of a legacy file is read for its pickles: a small window first, the full limit if they run past it. */
const LEGACY_WINDOWS = [4 * 1024 * 1024, MAX_PICKLE_BYTES];

/**
 * The legacy torch.save format (before PyTorch 1.6; many older pytorch_model.bin): five pickles back to back (magic
 * number, protocol, sys_info, the object, the sorted storage keys), then each storage as an int64 element count and
 * its raw bytes, in key order. The same restricted reader reads every pickle, so a bare pickle's refused global is
 * named; storage offsets follow from the element counts the object's pickle gives, each checked against its header.
 */
async function readLegacy(fh: fsp.FileHandle, file: string, fileSize: number): Promise<TorchZip> {
  for (const window of LEGACY_WINDOWS) {
    const bytes = await readAt(fh, file, 0, Math.min(fileSize, window));
    const pickles: ReturnType<typeof readPickleAt>[] = [];
    try {
      let at = 0;
      for (let i = 0; i < 5; i++) {
        const p = readPickleAt(bytes, at);
        pickles.push(p);
        at = p.end;
        if (i === 0 && p.value !== LEGACY_MAGIC) {
          throw zipError(
            file,
            'a pickle that is not a PyTorch checkpoint (torch.save writes a zip, or before PyTorch 1.6 a pickle starting with its magic number); nothing in it was run',
          );
        }
      }
    } catch (e) {
      if (!(e instanceof PickleError)) throw e;
      if (fileSize > window && /truncated/.test(e.message) && window !== LEGACY_WINDOWS[LEGACY_WINDOWS.length - 1]) continue;
      throw new InherituneError(
        'E_HEADER',
        `${file}: ${pickles.length ? `legacy torch.save format, pickle ${pickles.length + 1}` : 'a pickle, not a torch.save zip;'} at byte ${e.offset}: ${e.message}`,
        { file },
      );
    }
    const [, proto, sysInfo, obj, keys] = pickles;
    if (proto.value !== LEGACY_PROTOCOL)
      throw zipError(file, `legacy torch.save protocol ${describe(proto.value)} (expected ${LEGACY_PROTOCOL})`);
    if (!(sysInfo.value instanceof PyDict) || sysInfo.value.get('little_endian') !== true)
      throw zipError(file, 'legacy torch.save file from a big-endian machine; only little-endian checkpoints are read');
    if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string'))
      throw zipError(file, `legacy torch.save storage keys are a ${describe(keys.value)}, not a list of strings`);
    // Offsets from the element counts in the object's persistent ids; each storage's own count is checked when used.
    const ranges = new Map<string, { begin: number; end: number }>();
    let off = keys.end;
    for (const key of keys.value as string[]) {
      const s = obj.storages.get(key);
      if (!s) throw zipError(file, `legacy storage ${key} is listed but no tensor describes it; ${FIX}`);
      const begin = off + 8;
      off = begin + s.numel * DTYPE_BYTES[s.dtype];
      if (off > fileSize)
        throw zipError(
          file,
          `legacy storage ${key} (${s.numel} × ${s.dtype}) ends at byte ${off}, beyond the end of the file (${fileSize} bytes); ${FIX}`,
        );
      ranges.set(key, { begin, end: off });
    }
    const checked = new Set<string>();
    return {
      file,
      fileSize,
      prefix: '',
      root: obj.value,
      async locate(storages) {
        const h = await fsp.open(file, 'r');
        try {
          for (const s of storages) {
            const r = ranges.get(s.key);
            if (!r || checked.has(s.key)) continue;
            const n = new DataView((await readAt(h, file, r.begin - 8, 8)).buffer).getBigInt64(0, true);
            if (n !== BigInt(s.numel))
              throw zipError(file, `legacy storage ${s.key}: its header says ${n} elements, the pickle ${s.numel}; ${FIX}`);
            checked.add(s.key);
          }
        } finally {
          await h.close();
        }
      },
      storageRange(s, tensor) {
        const r = ranges.get(s.key);
        if (!r || !checked.has(s.key))
          throw zipError(file, `tensor ${tensor}: storage ${s.key} is not among the file's storages; ${FIX}`, tensor);
        return r;
      },
    };
  }
  throw zipError(file, `its pickles are larger than ${MAX_PICKLE_BYTES} bytes`);
}

/**
 * The tensor as a byte range of the zip. Only contiguous row-major views are ranges; anything else (a transposed or
 * sliced view saved as is) is refused with the fix.
 */
export function tensorRange(z: TorchZip, name: string, t: TorchTensor): TensorInfo {
  const { shape, stride, storage } = t;
  let expect = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expect) {
      throw new InherituneError(
        'E_TENSOR',
        `${z.file}: tensor ${name} is a non-contiguous view (size [${shape.join(', ')}], stride [${stride.join(', ')}]); save tensor.contiguous() (or the state dict after .contiguous() on each tensor) instead`,
        { file: z.file, tensor: name },
      );
    }
    expect *= shape[d];
  }
  const esz = DTYPE_BYTES[storage.dtype];
  const numel = expect;
  if (t.offset + numel > storage.numel) {
    throw new InherituneError(
      'E_OFFSETS',
      `${z.file}: tensor ${name} reads elements ${t.offset}..${t.offset + numel} of storage ${storage.key}, which has ${storage.numel}; ${FIX}`,
      { file: z.file, tensor: name },
    );
  }
  const r = z.storageRange(storage, name);
  const begin = r.begin + t.offset * esz;
  return { name, dtype: storage.dtype, shape: [...shape], begin, end: begin + numel * esz, file: z.file };
}

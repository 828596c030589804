/**
 * Reading the .nupkg (a zip) with yauzl: it streams entries from the central directory without loading the package
 * into memory (adm-zip, which onnxruntime-node's own script uses, reads the whole file: hundreds of MB here).
 * yauzl checks each entry's uncompressed size but not its CRC-32, so `extractEntry` computes the CRC-32 (Node's
 * zlib.crc32) and a SHA-256 for the manifest while writing, and rejects a mismatch with the central directory.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import * as yauzl from 'yauzl';
import { cancelled, InherituneError } from '../errors';

export interface ZipEntryInfo {
  fileName: string;
  compressedSize: number;
  uncompressedSize: number;
  crc32: number;
  compressionMethod: number;
  encrypted: boolean;
}

export interface OpenZip {
  entries: Map<string, ZipEntryInfo>;
  /** Stream one entry's uncompressed bytes. */
  open(name: string): Promise<Readable>;
  close(): void;
}

function badZip(file: string, e: unknown): InherituneError {
  return new InherituneError('E_INPUT', `${file} is not a readable .nupkg (zip): ${(e as Error).message}; download it again`, {
    kind: 'integrity',
    file,
  });
}

/** Open a zip and read its central directory. */
export async function openZip(file: string): Promise<OpenZip> {
  const zf = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: false, validateEntrySizes: true }, (err, z) =>
      err ? reject(badZip(file, err)) : resolve(z),
    ),
  );
  const raw = new Map<string, yauzl.Entry>();
  try {
    await new Promise<void>((resolve, reject) => {
      zf.on('entry', (e) => {
        raw.set(e.fileName, e);
        zf.readEntry();
      });
      zf.on('end', resolve);
      zf.on('error', (e) => reject(badZip(file, e)));
      zf.readEntry();
    });
  } catch (e) {
    zf.close();
    throw e;
  }
  zf.removeAllListeners('entry');
  zf.removeAllListeners('end');
  let closed = false;
  const entries = new Map<string, ZipEntryInfo>();
  for (const [k, e] of raw) {
    entries.set(k, {
      fileName: e.fileName,
      compressedSize: e.compressedSize,
      uncompressedSize: e.uncompressedSize,
      crc32: e.crc32 >>> 0,
      compressionMethod: e.compressionMethod,
      encrypted: (e.generalPurposeBitFlag & 1) !== 0,
    });
  }
  return {
    entries,
    open: (name) =>
      new Promise((resolve, reject) => {
        const e = raw.get(name);
        if (!e) return reject(new InherituneError('E_INPUT', `${file} has no entry ${name}`));
        zf.openReadStream(e, (err, s) => (err ? reject(badZip(file, err)) : resolve(s)));
      }),
    close: () => {
      if (!closed) zf.close();
      closed = true;
    },
  };
}

/** Find an entry by its path in the package: exact, else case-insensitively (NuGet paths are case-preserving). */
export function findEntry(zip: OpenZip, pathInPackage: string): ZipEntryInfo | undefined {
  const exact = zip.entries.get(pathInPackage);
  if (exact) return exact;
  const lower = pathInPackage.toLowerCase();
  for (const e of zip.entries.values()) if (e.fileName.toLowerCase() === lower) return e;
  return undefined;
}

/** CRC-32 (IEEE, as in zip), continuing from `prev`. */
export function crc32(buf: Uint8Array, prev = 0): number {
  return zlib.crc32(buf, prev) >>> 0;
}

export interface ExtractedFile {
  size: number;
  crc32: number;
  sha256: string;
}

/**
 * Stream one entry to `dest` (created exclusively), checking size and CRC-32 against the central directory, and
 * fsync it. On any failure `dest` is removed.
 */
export async function extractEntry(
  zip: OpenZip,
  entry: ZipEntryInfo,
  dest: string,
  o: { signal?: AbortSignal; onBytes?: (n: number) => void } = {},
): Promise<ExtractedFile> {
  if (entry.encrypted)
    throw new InherituneError('E_INPUT', `${entry.fileName} in the package is encrypted; this is not an official package`, {
      kind: 'integrity',
    });
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8)
    throw new InherituneError(
      'E_INPUT',
      `${entry.fileName} uses zip compression method ${entry.compressionMethod} (only stored and deflate are supported)`,
      { kind: 'integrity' },
    );
  let crc = 0;
  let size = 0;
  const sha = createHash('sha256');
  const hasher = new Transform({
    transform(chunk: Buffer, _e, cb) {
      crc = crc32(chunk, crc);
      size += chunk.length;
      sha.update(chunk);
      o.onBytes?.(chunk.length);
      cb(null, chunk);
    },
  });
  const out = fs.createWriteStream(dest, { flags: 'wx', mode: 0o755 });
  try {
    const src = await zip.open(entry.fileName);
    await pipeline(src, hasher, out, { signal: o.signal });
    const fd = fs.openSync(dest, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    fs.rmSync(dest, { force: true });
    if (o.signal?.aborted) throw cancelled();
    if (e instanceof InherituneError) throw e;
    throw new InherituneError(
      'E_INPUT',
      `cannot extract ${entry.fileName}: ${(e as Error).message}; the package is damaged, download it again`,
      { kind: 'integrity' },
    );
  }
  if (size !== entry.uncompressedSize || crc !== entry.crc32) {
    fs.rmSync(dest, { force: true });
    throw new InherituneError(
      'E_INPUT',
      `${entry.fileName} in the package does not match its zip directory (${size} bytes, CRC-32 ${crc.toString(16).padStart(8, '0')}; expected ${entry.uncompressedSize} bytes, ${entry.crc32.toString(16).padStart(8, '0')}); the package is damaged, download it again`,
      { kind: 'integrity', entry: entry.fileName },
    );
  }
  return { size, crc32: crc, sha256: sha.digest('hex') };
}

/** Read a small entry (the .nuspec) as text. */
export async function readEntryText(zip: OpenZip, name: string, limit = 1 << 20): Promise<string> {
  const s = await zip.open(name);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of s) {
    n += (c as Buffer).length;
    if (n > limit) throw new InherituneError('E_INPUT', `${name} in the package is larger than ${limit} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

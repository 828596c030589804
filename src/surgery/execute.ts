/** Execute a validated surgery plan: stream bytes into a temporary folder, rename it into place when complete. */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { configText, passthroughFiles } from '../checkpoint/config';
import { DType, fromFloat32 } from '../checkpoint/dtypes';
import { readGgufHeader } from '../checkpoint/ggufReader';
import { decodeStored, StoredTensor, storedRowBytes } from '../checkpoint/ggufStored';
import { ggufTokenizer } from '../checkpoint/ggufTokenizer';
import { readTensorBytes } from '../checkpoint/safetensors';
import { InherituneError, ProgressFn } from '../errors';
import { writeFolderAtomically, writeSafetensors, WriteEntry } from '../checkpoint/writer';
import { initValues } from './init';
import { SurgeryPlan } from './plan';

export interface ExecuteOptions {
  force?: boolean;
  shardBytes?: number;
  signal?: AbortSignal;
  onProgress?: ProgressFn;
}

export interface ExecuteResult {
  out: string;
  files: string[];
  bytes: number;
}

export function provenanceMetadata(plan: SurgeryPlan): Record<string, string> {
  return { format: 'pt', inheritune: JSON.stringify(plan.provenance) };
}

export function writeEntries(plan: SurgeryPlan): WriteEntry[] {
  return plan.entries.map((e) => {
    const src = e.source;
    return {
      name: e.name,
      dtype: e.dtype,
      shape: e.shape,
      byteLength: e.byteLength,
      source:
        src.kind === 'copy' && src.transform
          ? { kind: 'bytes', produce: () => readTensorBytes({ name: src.tensor, dtype: e.dtype, shape: e.shape, file: src.file, begin: src.begin, end: src.end, transform: src.transform }) }
          : src.kind === 'copy' && src.stored
          ? { kind: 'chunks', produce: () => decodedPieces(src.stored!, src.file, src.begin, src.end, e.dtype) }
          : src.kind === 'copy'
          ? { kind: 'range', file: src.file, begin: src.begin, end: src.end }
          : {
              kind: 'bytes',
              produce: () => fromFloat32(e.dtype, initValues(src.init, e.shape.reduce((a, b) => a * b, 1), src.std, plan.numLayers, plan.seed, e.name)),
            },
    };
  });
}

/** Stored bytes read per piece when decoding a GGUF tensor in row order (a 128k-vocabulary embedding is ~60 pieces). */
const PIECE_BYTES = 8 << 20;

/**
 * A GGUF tensor decoded and encoded as `dtype`, in pieces of whole rows when its layout needs no change (rows are
 * whole blocks), so memory holds one piece; tensors whose rows move (q/k un-permuted, transposed) decode whole.
 */
async function* decodedPieces(stored: StoredTensor, file: string, begin: number, end: number, dtype: DType): AsyncGenerator<Uint8Array> {
  const fh = await fsp.open(file, 'r');
  try {
    const rowBytes = storedRowBytes(stored);
    const step = stored.transform ? end - begin : Math.max(1, Math.floor(PIECE_BYTES / rowBytes)) * rowBytes;
    for (let pos = begin; pos < end; pos += step) {
      const raw = new Uint8Array(Math.min(step, end - pos));
      for (let off = 0; off < raw.byteLength; ) {
        const { bytesRead } = await fh.read(raw, off, raw.byteLength - off, pos + off);
        if (bytesRead === 0) throw new InherituneError('E_IO', `${file}: ended early while reading tensor ${stored.ggufName}; the file is truncated`, { file, tensor: stored.ggufName });
        off += bytesRead;
      }
      yield fromFloat32(dtype, decodeStored(stored.transform ? stored : { ...stored, dims: [stored.dims[0], raw.byteLength / rowBytes] }, raw, file));
    }
  } finally {
    await fh.close();
  }
}

export async function executePlan(plan: SurgeryPlan, out: string, o: ExecuteOptions = {}): Promise<ExecuteResult> {
  const abs = path.resolve(out);
  let files: string[] = [];
  await writeFolderAtomically(abs, !!o.force, async (tmp) => {
    files = await writeSafetensors(tmp, writeEntries(plan), {
      shardBytes: o.shardBytes,
      metadata: provenanceMetadata(plan),
      signal: o.signal,
      onProgress: o.onProgress,
    });
    await fsp.writeFile(path.join(tmp, 'config.json'), configText(plan.config));
    for (const f of await passthroughFiles(plan.passthroughFrom)) {
      await fsp.copyFile(f, path.join(tmp, path.basename(f)));
      files.push(path.basename(f));
    }
    if (plan.ggufTokenizerFrom && !files.includes('tokenizer.json')) {
      const built = ggufTokenizer(readGgufHeader(plan.ggufTokenizerFrom));
      if (!('unsupported' in built)) {
        await fsp.writeFile(path.join(tmp, 'tokenizer.json'), JSON.stringify(built.tokenizer));
        await fsp.writeFile(path.join(tmp, 'tokenizer_config.json'), JSON.stringify(built.config, null, 2) + '\n');
        files.push('tokenizer.json', 'tokenizer_config.json');
      }
    }
    files.push('config.json');
  });
  return { out: abs, files, bytes: plan.entries.reduce((a, e) => a + e.byteLength, 0) };
}

/** Execute a validated surgery plan: stream bytes into a temporary folder, rename it into place when complete. */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { configText, passthroughFiles } from '../checkpoint/config';
import { DType, DTYPE_BYTES, fromFloat32 } from '../checkpoint/dtypes';
import { readGgufHeader } from '../checkpoint/ggufReader';
import { decodeStored, StoredTensor, storedRowBytes } from '../checkpoint/ggufStored';
import { ggufTokenizer } from '../checkpoint/ggufTokenizer';
import { readTensorBytes } from '../checkpoint/safetensors';
import { InherituneError, ProgressFn } from '../errors';
import { writeFolderAtomically, writeSafetensors, WriteEntry } from '../checkpoint/writer';
import { initValues } from './init';
import { AxisRanges, SurgeryPlan } from './plan';

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

/**
 * The bytes of a row-major slice of a stored tensor: `ranges[a]` are the [start, length) runs kept on axis a. Reads
 * one run of the last axis at a time (a row of a weight matrix at most), so memory is the output tensor only.
 */
export async function readSlice(
  file: string,
  begin: number,
  end: number,
  shape: number[],
  ranges: AxisRanges,
  elemBytes: number,
  tensor: string,
): Promise<Uint8Array> {
  const numel = shape.reduce((a, b) => a * b, 1);
  if (end - begin !== numel * elemBytes)
    throw new InherituneError(
      'E_TENSOR',
      `${file}: tensor ${tensor} has ${end - begin} bytes, its shape [${shape}] needs ${numel * elemBytes}`,
      { file, tensor },
    );
  ranges.forEach((rs, a) => {
    for (const [s, n] of rs) {
      if (!(Number.isInteger(s) && Number.isInteger(n) && s >= 0 && n >= 0 && s + n <= shape[a])) {
        throw new InherituneError('E_TENSOR', `internal: slice ${s}:${s + n} of axis ${a} is outside tensor ${tensor} [${shape}]`, {
          tensor,
        });
      }
    }
  });
  const strides = shape.map((_, a) => shape.slice(a + 1).reduce((x, y) => x * y, 1));
  const out = new Uint8Array(ranges.reduce((a, rs) => a * rs.reduce((x, [, n]) => x + n, 0), 1) * elemBytes);
  const fh = await fsp.open(file, 'r');
  let pos = 0;
  const last = shape.length - 1;
  const visit = async (axis: number, base: number): Promise<void> => {
    for (const [s, n] of ranges[axis]) {
      if (axis === last) {
        const len = n * elemBytes;
        const { bytesRead } = await fh.read(out, pos, len, begin + (base + s) * elemBytes);
        if (bytesRead !== len) throw new InherituneError('E_IO', `${file}: ended early while reading tensor ${tensor}`, { file, tensor });
        pos += len;
      } else {
        for (let i = s; i < s + n; i++) await visit(axis + 1, base + i * strides[axis]);
      }
    }
  };
  try {
    await visit(0, 0);
  } finally {
    await fh.close();
  }
  return out;
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
          ? {
              kind: 'bytes',
              produce: () =>
                readTensorBytes({
                  name: src.tensor,
                  dtype: e.dtype,
                  shape: e.shape,
                  file: src.file,
                  begin: src.begin,
                  end: src.end,
                  transform: src.transform,
                }),
            }
          : src.kind === 'copy' && src.stored
            ? { kind: 'chunks', produce: () => decodedPieces(src.stored!, src.file, src.begin, src.end, e.dtype) }
            : src.kind === 'copy'
              ? { kind: 'range', file: src.file, begin: src.begin, end: src.end }
              : src.kind === 'slice'
                ? {
                    kind: 'bytes',
                    produce: () => readSlice(src.file, src.begin, src.end, src.shape, src.ranges, DTYPE_BYTES[e.dtype], src.tensor),
                  }
                : {
                    kind: 'bytes',
                    produce: () =>
                      fromFloat32(
                        e.dtype,
                        initValues(
                          src.init,
                          e.shape.reduce((a, b) => a * b, 1),
                          src.std,
                          plan.numLayers,
                          plan.seed,
                          e.name,
                        ),
                      ),
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
      for (let off = 0; off < raw.byteLength;) {
        const { bytesRead } = await fh.read(raw, off, raw.byteLength - off, pos + off);
        if (bytesRead === 0)
          throw new InherituneError('E_IO', `${file}: ended early while reading tensor ${stored.ggufName}; the file is truncated`, {
            file,
            tensor: stored.ggufName,
          });
        off += bytesRead;
      }
      yield fromFloat32(
        dtype,
        decodeStored(stored.transform ? stored : { ...stored, dims: [stored.dims[0], raw.byteLength / rowBytes] }, raw, file),
      );
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

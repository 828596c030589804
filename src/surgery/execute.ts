/** Execute a validated surgery plan: stream bytes into a temporary folder, rename it into place when complete. */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { configText, passthroughFiles } from '../checkpoint/config';
import { fromFloat32 } from '../checkpoint/dtypes';
import { readGgufHeader } from '../checkpoint/gguf/reader';
import { decodeStored } from '../checkpoint/gguf/stored';
import { ggufTokenizer } from '../checkpoint/gguf/tokenizer';
import { readTensorBytes } from '../checkpoint/safetensors';
import { ProgressFn } from '../checkpoint/errors';
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
        src.kind === 'copy' && src.stored
          ? { kind: 'bytes', produce: async () => fromFloat32(e.dtype, decodeStored(src.stored!, await readRange(src.file, src.begin, src.end), src.file)) }
          : src.kind === 'copy'
          ? { kind: 'range', file: src.file, begin: src.begin, end: src.end }
          : {
              kind: 'bytes',
              produce: () => fromFloat32(e.dtype, initValues(src.init, e.shape.reduce((a, b) => a * b, 1), src.std, plan.numLayers, plan.seed, e.name)),
            },
    };
  });
}

/** GGUF blocks are decoded one tensor at a time, so memory holds one tensor (as float32), never the file. */
function readRange(file: string, begin: number, end: number): Promise<Uint8Array> {
  return readTensorBytes({ name: '', dtype: 'U8', shape: [end - begin], begin, end, file });
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

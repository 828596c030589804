/**
 * Synthetic models as GGUF files, laid out the way llama.cpp's converter writes them (F32 tensors, the inverse of each
 * transform in src/arch/gguf/*.json), for tests that need a .gguf of a known model (readers, surgery, the CLI).
 */
import { writeFileSync } from 'node:fs';
import { GGUF_ARCHS, GgufArchMap } from '../../src/arch/ggufMap';
import { Checkpoint, openCheckpoint, readTensorF32 } from '../../src/checkpoint/checkpoint';
import { GgufValueType as V } from '../../src/checkpoint/ggufTypes';
import { SynthOptions, writeSynthCheckpoint } from '../../src/fixtures/synth';
import { f32Bytes, ggufBytes, Meta, TensorSpec } from './gguf';

/** The stored (GGUF) layout of a Hugging Face tensor: the inverse of each transform in src/arch/gguf/*.json. */
function toStored(x: Float32Array, shape: number[], transform: string | undefined, groups: number): Float32Array {
  const cols = shape.length > 1 ? shape[1] : 1;
  const rows = shape[0];
  const out = new Float32Array(x.length);
  if (transform === 'transpose') {
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c];
  } else if (transform === 'unpermuteRope') {
    // llama.cpp: w.reshape(n_head, 2, d, ...).swapaxes(1, 2)
    const d = rows / groups / 2;
    for (let h = 0; h < groups; h++)
      for (let a = 0; a < 2; a++)
        for (let j = 0; j < d; j++)
          out.set(x.subarray((h * 2 * d + a * d + j) * cols, (h * 2 * d + a * d + j + 1) * cols), (h * 2 * d + 2 * j + a) * cols);
  } else if (transform === 'interleaveQkv') {
    const d = rows / groups / 3;
    for (let h = 0; h < groups; h++)
      for (let p = 0; p < 3; p++) out.set(x.subarray((h * 3 + p) * d * cols, (h * 3 + p + 1) * d * cols), (p * groups + h) * d * cols);
  } else out.set(x);
  return out;
}

export async function synthToGguf(src: Checkpoint, m: GgufArchMap, file: string): Promise<void> {
  const meta: Meta[] = [['general.architecture', V.STRING, m.ggufArch]];
  for (const [key, metaKey] of Object.entries(m.config.keys)) {
    const v = src.config[key] ?? (key === 'n_inner' ? 4 * (src.config.n_embd as number) : undefined);
    if (typeof v === 'number') meta.push([`${m.ggufArch}.${metaKey}`, Number.isInteger(v) ? V.UINT32 : V.FLOAT64, v]);
    if (typeof v === 'boolean') meta.push([`${m.ggufArch}.${metaKey}`, V.BOOL, v]);
  }
  if (m.config.rotaryPctFrom)
    meta.push([`${m.ggufArch}.${m.config.rotaryPctFrom}`, V.UINT32, (src.config.rotary_pct as number) * src.dims.headDim]);
  const tensors: TensorSpec[] = [];
  const strip = (n: string) => (n.startsWith(src.prefix) ? n.slice(src.prefix.length) : n);
  const byCanon = new Map([...src.tensors.keys()].map((n) => [strip(n), n]));
  for (const rule of m.tensors) {
    for (let i = 0; i < (rule.gguf.includes('{i}') ? src.dims.numLayers : 1); i++) {
      const hf = byCanon.get(strip(rule.hf.replace('{i}', String(i))).replace(/^transformer\./, ''));
      if (!hf) continue;
      const t = await readTensorF32(src, hf);
      const groups = rule.heads ? src.dims[rule.heads] : 1;
      const stored = toStored(t.data, t.shape, rule.transform, groups);
      const shape = rule.transform === 'transpose' ? [t.shape[1], t.shape[0]] : t.shape;
      tensors.push({ name: rule.gguf.replace('{i}', String(i)), dims: [...shape].reverse(), type: 0, data: f32Bytes(stored) });
    }
  }
  writeFileSync(file, ggufBytes({ meta, tensors }));
}

/**
 * Write the synthetic checkpoint `opts` as a safetensors folder `folder` and as the GGUF file `file` (architecture
 * `ggufArch`, e.g. llama); returns the opened folder checkpoint.
 */
export async function writeSynthGguf(folder: string, file: string, ggufArch: string, opts: SynthOptions): Promise<Checkpoint> {
  const m = GGUF_ARCHS.find((a) => a.ggufArch === ggufArch);
  if (!m) throw new Error(`no GGUF mapping for ${ggufArch}`);
  await writeSynthCheckpoint(folder, opts);
  const src = await openCheckpoint(folder);
  await synthToGguf(src, m, file);
  return src;
}

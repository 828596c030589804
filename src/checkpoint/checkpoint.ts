/**
 * A checkpoint: config.json + one or more .safetensors files (sharded through model.safetensors.index.json), or a
 * PyTorch zip checkpoint (pytorch_model.bin[.index.json], nanoGPT ckpt.pt: src/checkpoint/torchCheckpoint.ts).
 * Opening reads config and headers only; tensors are read on demand by byte range.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import {
  ArchSpec,
  detectPrefix,
  detectSpec,
  fullName,
  isTied,
  layerName,
  ModelDims,
  readDims,
  shapeOf,
  templateApplies,
  TensorTemplate,
} from '../arch/spec';
import { readConfig, ModelConfig } from './config';
import { DType, toFloat32 } from './dtypes';
import { InherituneError } from '../errors';
import { openGgufCheckpoint } from './ggufOpen';
import type { GgufFile } from './ggufReader';
import { decodeStored } from './ggufStored';
import { readHeader, readTensorBytes, SafetensorsHeader, TensorInfo } from './safetensors';
import { openTorchCheckpoint } from './torchCheckpoint';

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';
/** PyTorch zip checkpoints (read by torchCheckpoint.ts without unpickling). */
export const TORCH_INDEX_FILE = 'pytorch_model.bin.index.json';
export const TORCH_SINGLE_FILES = ['pytorch_model.bin', 'ckpt.pt'];
const isTorchFile = (f: string) => /\.(bin|pt|pth)$/.test(f);

export interface Checkpoint {
  dir: string;
  configPath: string;
  config: ModelConfig;
  spec: ArchSpec;
  dims: ModelDims;
  /** `transformer.` for gpt2 saved by transformers, '' for hub-style names. */
  prefix: string;
  tied: boolean;
  files: SafetensorsHeader[];
  indexPath?: string;
  tensors: Map<string, TensorInfo>;
  /** __metadata__ of the first file (our provenance lives there). */
  metadata: Record<string, string>;
  totalBytes: number;
  numParams: number;
  /** The parsed header when the checkpoint is one .gguf file (tensors then carry `stored` decoding). */
  gguf?: GgufFile;
}

async function statOrNull(p: string) {
  try {
    return await fsp.stat(p);
  } catch {
    return null;
  }
}

/**
 * Where the pieces are for a user-given path: a folder, its config.json, a .safetensors, .bin, .pt, .pth or .gguf file
 * or an index.json. A folder's safetensors or PyTorch weights come first; a folder without them that holds one .gguf
 * file (as GGUF downloads do, often without config.json) is that file, and one with several is refused, listing them.
 */
export async function locate(
  input: string,
): Promise<{ dir: string; indexPath?: string; files?: string[]; torch?: boolean; gguf?: string }> {
  const abs = path.resolve(input);
  if (abs.toLowerCase().endsWith('.gguf')) return { dir: path.dirname(abs), gguf: abs };
  const st = await statOrNull(abs);
  if (!st) throw new InherituneError('E_NOT_FOUND', `${abs}: no such file or folder`, { file: abs });
  if (st.isDirectory()) {
    if (await statOrNull(path.join(abs, INDEX_FILE))) return { dir: abs, indexPath: path.join(abs, INDEX_FILE) };
    if (await statOrNull(path.join(abs, SINGLE_FILE))) return { dir: abs, files: [path.join(abs, SINGLE_FILE)] };
    const any = (await fsp.readdir(abs)).filter((f) => f.endsWith('.safetensors')).sort();
    if (any.length === 1) return { dir: abs, files: [path.join(abs, any[0])] };
    if (any.length > 1) {
      throw new InherituneError(
        'E_INDEX',
        `${abs}: ${any.length} .safetensors files but no ${INDEX_FILE} to say which tensor is where; add the index or open one file`,
        { file: abs },
      );
    }
    if (await statOrNull(path.join(abs, TORCH_INDEX_FILE))) return { dir: abs, indexPath: path.join(abs, TORCH_INDEX_FILE), torch: true };
    for (const f of TORCH_SINGLE_FILES)
      if (await statOrNull(path.join(abs, f))) return { dir: abs, files: [path.join(abs, f)], torch: true };
    const names = (await fsp.readdir(abs)).sort();
    const ggufs = names.filter((f) => f.toLowerCase().endsWith('.gguf'));
    if (ggufs.length === 1) return { dir: abs, gguf: path.join(abs, ggufs[0]) };
    if (ggufs.length > 1) {
      throw new InherituneError(
        'E_ARGS',
        `${abs}: ${ggufs.length} .gguf files (${ggufs.join(', ')}) and no .safetensors weights; give one of the files instead of the folder (e.g. ${path.join(abs, ggufs[0])})`,
        { file: abs },
      );
    }
    const bins = names.filter(isTorchFile);
    throw new InherituneError(
      'E_NOT_FOUND',
      `${abs}: no .safetensors weights, ${TORCH_SINGLE_FILES.join(', ')} or .gguf file found` +
        (bins.length ? ` (found ${bins.join(', ')}: open one of them directly)` : ''),
      { file: abs },
    );
  }
  const base = path.basename(abs);
  const dir = path.dirname(abs);
  if (base.endsWith('.index.json')) return { dir, indexPath: abs, torch: base === TORCH_INDEX_FILE };
  if (base === 'config.json') return locate(dir);
  if (base.endsWith('.safetensors')) {
    if (await statOrNull(path.join(dir, INDEX_FILE))) return { dir, indexPath: path.join(dir, INDEX_FILE) };
    return { dir, files: [abs] };
  }
  if (isTorchFile(base)) {
    if ((await statOrNull(path.join(dir, TORCH_INDEX_FILE))) && /^pytorch_model-\d+-of-\d+\.bin$/.test(base))
      return { dir, indexPath: path.join(dir, TORCH_INDEX_FILE), torch: true };
    return { dir, files: [abs], torch: true };
  }
  throw new InherituneError(
    'E_ARGS',
    `${abs}: not a checkpoint; give a folder, its config.json, a .safetensors, .bin or .pt file or a ${INDEX_FILE}`,
    { file: abs },
  );
}

export interface IndexFile {
  metadata: Record<string, unknown>;
  weightMap: Map<string, string>;
}

export async function readIndex(indexPath: string): Promise<IndexFile> {
  let json: unknown;
  try {
    json = JSON.parse(await fsp.readFile(indexPath, 'utf8'));
  } catch (e) {
    throw new InherituneError('E_INDEX', `${indexPath}: cannot read the shard index (${(e as Error).message})`, { file: indexPath });
  }
  const wm = (json as { weight_map?: unknown })?.weight_map;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) {
    throw new InherituneError('E_INDEX', `${indexPath}: "weight_map" must be an object of tensor name → shard file`, { file: indexPath });
  }
  const dir = path.dirname(indexPath);
  const weightMap = new Map<string, string>();
  for (const [name, file] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof file !== 'string' || file.length === 0) {
      throw new InherituneError('E_INDEX', `${indexPath}: weight_map["${name}"] must be a file name`, { file: indexPath, tensor: name });
    }
    const resolved = path.resolve(dir, file);
    const rel = path.relative(dir, resolved);
    if (path.isAbsolute(file) || rel.startsWith('..') || path.isAbsolute(rel) || rel.includes(path.sep)) {
      throw new InherituneError(
        'E_INDEX',
        `${indexPath}: weight_map["${name}"] = "${file}" points outside the checkpoint folder; shard files must sit beside the index`,
        { file: indexPath, tensor: name },
      );
    }
    weightMap.set(name, resolved);
  }
  const metadata = (json as { metadata?: unknown }).metadata;
  return { metadata: typeof metadata === 'object' && metadata ? (metadata as Record<string, unknown>) : {}, weightMap };
}

export interface OpenOptions {
  /** Check tensors against the architecture spec (default true). */
  validate?: boolean;
  /** GGUF only: the dtype tensors are read as (default: float types keep theirs, quantized become F16). */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** GGUF only: refuse a file with tensor types we cannot dequantize (default true; inspect shows them instead). */
  requireDecodable?: boolean;
}

export async function openCheckpoint(input: string, opts: OpenOptions = {}): Promise<Checkpoint> {
  const loc = await locate(input);
  if (loc.gguf) {
    const ckpt = openGgufCheckpoint(loc.gguf, { dtype: opts.dtype, validate: opts.requireDecodable });
    if (opts.validate !== false) validateCheckpoint(ckpt);
    return ckpt;
  }
  const torch = loc.torch
    ? await openTorchCheckpoint(
        loc.dir,
        loc.files,
        loc.indexPath ? { path: loc.indexPath, ...(await readIndex(loc.indexPath)) } : undefined,
      )
    : undefined;
  const configPath = torch?.configPath ?? path.join(loc.dir, 'config.json');
  const config = torch?.config ?? (await readConfig(configPath));
  const spec = detectSpec(config, configPath);
  const dims = readDims(spec, config, configPath);

  const tensors = new Map<string, TensorInfo>();
  const files: SafetensorsHeader[] = [];
  let indexPath: string | undefined;
  if (torch) {
    indexPath = loc.indexPath;
    files.push(...torch.files);
    for (const [name, t] of torch.tensors) tensors.set(name, t);
  } else if (loc.indexPath) {
    indexPath = loc.indexPath;
    const index = await readIndex(loc.indexPath);
    const shardFiles = [...new Set(index.weightMap.values())].sort();
    for (const f of shardFiles) {
      if (!(await statOrNull(f)))
        throw new InherituneError(
          'E_INDEX',
          `${loc.indexPath}: shard ${path.basename(f)} is listed in weight_map but missing from ${loc.dir}`,
          { file: f },
        );
      files.push(await readHeader(f));
    }
    const byFile = new Map(files.map((h) => [h.file, new Map(h.tensors.map((t) => [t.name, t]))]));
    for (const [name, f] of index.weightMap) {
      const t = byFile.get(f)!.get(name);
      if (!t)
        throw new InherituneError(
          'E_INDEX',
          `${f}: tensor ${name} is listed for this shard in ${path.basename(loc.indexPath)} but the shard does not contain it`,
          { file: f, tensor: name },
        );
      tensors.set(name, t);
    }
  } else {
    for (const f of loc.files!) {
      const h = await readHeader(f);
      files.push(h);
      for (const t of h.tensors) tensors.set(t.name, t);
    }
  }

  const names = new Set(tensors.keys());
  const prefix = detectPrefix(spec, names);
  let totalBytes = 0;
  let numParams = 0;
  for (const t of tensors.values()) {
    totalBytes += t.end - t.begin;
    numParams += t.shape.reduce((a, b) => a * b, 1);
  }
  const ckpt: Checkpoint = {
    dir: loc.dir,
    configPath,
    config,
    spec,
    dims,
    prefix,
    tied: isTied(spec, config),
    files,
    indexPath,
    tensors,
    metadata: files[0]?.metadata ?? {},
    totalBytes,
    numParams,
  };
  if (opts.validate !== false) validateCheckpoint(ckpt);
  return ckpt;
}

export interface ExpectedTensor {
  name: string;
  template: TensorTemplate;
  /** Layer index, or -1 for pre/post tensors. */
  layer: number;
  shape?: number[];
  optional: boolean;
}

/** All tensor names the spec expects for this config, in model order: pre, layers, post. */
export function expectedTensors(spec: ArchSpec, config: ModelConfig, prefix: string, numLayers: number, dims: ModelDims): ExpectedTensor[] {
  const tied = isTied(spec, config);
  const out: ExpectedTensor[] = [];
  const ctx = `config.json (${spec.family})`;
  for (const t of spec.pre)
    out.push({ name: fullName(t, t.name, prefix), template: t, layer: -1, shape: shapeOf(t, dims, ctx), optional: !!t.buffer });
  for (let i = 0; i < numLayers; i++) {
    for (const t of spec.layer) {
      if (!templateApplies(t, config)) continue;
      out.push({ name: fullName(t, layerName(t, i), prefix), template: t, layer: i, shape: shapeOf(t, dims, ctx), optional: !!t.buffer });
    }
  }
  for (const t of spec.post) {
    out.push({
      name: fullName(t, t.name, prefix),
      template: t,
      layer: -1,
      shape: shapeOf(t, dims, ctx),
      optional: !!t.buffer || (!!t.tiedTo && tied),
    });
  }
  return out;
}

function fileOf(ckpt: Checkpoint, name: string): string {
  const t = ckpt.tensors.get(name);
  return t
    ? path.basename(t.file)
    : ckpt.indexPath
      ? path.basename(ckpt.indexPath)
      : ckpt.files[0]
        ? path.basename(ckpt.files[0].file)
        : ckpt.dir;
}

/** Missing, extra and wrongly shaped tensors against the spec, each named with its file and the fix. */
export function validateCheckpoint(ckpt: Checkpoint): void {
  const expected = expectedTensors(ckpt.spec, ckpt.config, ckpt.prefix, ckpt.dims.numLayers, ckpt.dims);
  const expectedNames = new Set(expected.map((e) => e.name));
  const where = ckpt.indexPath ?? ckpt.files[0]?.file ?? ckpt.dir;
  for (const e of expected) {
    const t = ckpt.tensors.get(e.name);
    if (!t) {
      if (e.optional) continue;
      throw new InherituneError(
        'E_TENSOR',
        `${where}: tensor ${e.name} is missing (expected by ${ckpt.spec.family} with ${ckpt.spec.numLayersKey} = ${ckpt.dims.numLayers} in config.json); ` +
          `the weights are incomplete or config.json belongs to another model`,
        { file: where, tensor: e.name },
      );
    }
    if (e.shape && (e.shape.length !== t.shape.length || e.shape.some((d, i) => d !== t.shape[i]))) {
      throw new InherituneError(
        'E_CONFIG',
        `${t.file}: tensor ${e.name} has shape [${t.shape.join(', ')}] but config.json implies [${e.shape.join(', ')}]; config.json does not match these weights`,
        { file: t.file, tensor: e.name },
      );
    }
  }
  const extra = [...ckpt.tensors.keys()].filter((n) => !expectedNames.has(n));
  if (extra.length) {
    const layerRe = /\.(\d+)\./;
    const beyond = extra.filter((n) => {
      const m = layerRe.exec(n);
      return m && Number(m[1]) >= ckpt.dims.numLayers;
    });
    const hint = beyond.length
      ? `the weights have more layers than ${ckpt.spec.numLayersKey} = ${ckpt.dims.numLayers} in config.json`
      : `they are not part of ${ckpt.spec.family}; is config.json for this model?`;
    throw new InherituneError(
      'E_TENSOR',
      `${path.join(ckpt.dir, fileOf(ckpt, extra[0]))}: unexpected tensor${extra.length > 1 ? `s ${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ` (+${extra.length - 3} more)` : ''}` : ` ${extra[0]}`}: ${hint}`,
      { file: ckpt.dir, tensor: extra[0] },
    );
  }
}

export function tensorOrThrow(ckpt: Checkpoint, name: string): TensorInfo {
  const t = ckpt.tensors.get(name);
  if (!t) throw new InherituneError('E_TENSOR', `${ckpt.dir}: tensor ${name} is missing`, { file: ckpt.dir, tensor: name });
  return t;
}

/** Read one tensor as float32 (converting F16/BF16/F64, dequantizing GGUF blocks). */
export async function readTensorF32(ckpt: Checkpoint, name: string): Promise<{ data: Float32Array; shape: number[]; dtype: DType }> {
  const t = tensorOrThrow(ckpt, name);
  const bytes = await readTensorBytes(t);
  return { data: t.stored ? decodeStored(t.stored, bytes, t.file) : toFloat32(t.dtype, bytes), shape: t.shape, dtype: t.dtype };
}

/** What the user opened, for reports and names: the .gguf file, or the checkpoint folder. */
export function sourcePath(ckpt: Checkpoint): string {
  return ckpt.gguf?.file ?? ckpt.dir;
}

/** The name of a per-layer tensor template in this checkpoint. */
export function nameIn(ckpt: Checkpoint, t: TensorTemplate, layer: number): string {
  return fullName(t, layerName(t, layer), ckpt.prefix);
}

/**
 * PyTorch zip checkpoints as checkpoint parts (config + tensors by byte range), without unpickling:
 * - a state dict (pytorch_model.bin, sharded with pytorch_model.bin.index.json, or any .pt/.pth/.bin holding one)
 *   with the Hugging Face config.json beside it;
 * - a training checkpoint of a format in src/arch/imports (nanoGPT's ckpt.pt): the state dict and the config are
 *   entries of the pickled dict, mapped onto a family by that format's data (renames, transposes, tied head, absent
 *   biases). Only the state dict's tensors become TensorInfos; other entries (optimizer state) are never read.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import nanogpt from '../arch/imports/nanogpt.json';
import { fullName, layerName, readDims, shapeOf, specByFamily } from '../arch/spec';
import { ModelConfig, readConfig } from './config';
import { InherituneError } from '../errors';
import type { SafetensorsHeader, TensorInfo } from './safetensors';
import { describe, PyDict, PyValue, TorchTensor } from './pickle';
import { readTorchZip, tensorRange, TorchZip } from './torchZip';

/** A training-checkpoint format mapped onto a family (src/arch/imports/*.json). */
export interface ImportFormat {
  format: string;
  description: string;
  family: string;
  /** Top-level keys that identify the format. */
  detect: string[];
  stateDict: string;
  configFrom: string;
  stripPrefixes: string[];
  argDefaults: Record<string, unknown>;
  /** config.json key → key of the format's config entry. */
  config: Record<string, string>;
  constants: Record<string, unknown>;
  /** Tensors (after prefix stripping; `{i}` = layer) stored as the transpose of the family's layout. */
  transpose: string[];
  /** Tensors that are not parameters of the family (causal-mask buffers). */
  drop: string[];
  /** When this config entry is false the model has no biases: the family's biases are all-zero tensors. */
  zeroBiasesUnless?: string;
  /** The head is tied when it is the embedding's storage; otherwise kept, and `key` says which. */
  tie?: { head: string; embedding: string; key: string };
}

export const IMPORT_FORMATS: readonly ImportFormat[] = [nanogpt as ImportFormat];

export interface TorchParts {
  config: ModelConfig;
  configPath: string;
  tensors: Map<string, TensorInfo>;
  files: SafetensorsHeader[];
  /** The training-checkpoint format, when it is one. */
  format?: string;
}

const template = (pattern: string) => new RegExp('^' + pattern.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace('{i}', '\\d+') + '$');

function header(z: TorchZip, tensors: TensorInfo[]): SafetensorsHeader {
  // The zip's storages are addressed absolutely, so the safetensors-only fields are zero.
  return { file: z.file, fileSize: z.fileSize, headerLength: 0, dataStart: 0, metadata: {}, tensors };
}

/** name → tensor of a pickled state dict; non-tensor entries are refused by name. Only its storages are located. */
async function stateDictTensors(z: TorchZip, sd: PyValue, where: string, strip: readonly string[] = []): Promise<TensorInfo[]> {
  if (!(sd instanceof PyDict))
    throw new InherituneError(
      'E_TENSOR',
      `${z.file}: ${where} is a ${describe(sd)}, not a state dict (a dict of tensor names to tensors)`,
      { file: z.file },
    );
  await z.locate([...sd.map.values()].filter((v): v is TorchTensor => v instanceof TorchTensor).map((t) => t.storage));
  const out: TensorInfo[] = [];
  for (const [k, v] of sd.map) {
    if (typeof k !== 'string')
      throw new InherituneError('E_TENSOR', `${z.file}: ${where} has a key that is a ${describe(k)}, not a tensor name`, { file: z.file });
    let name = k;
    for (const p of strip) if (name.startsWith(p)) name = name.slice(p.length);
    if (!(v instanceof TorchTensor))
      throw new InherituneError('E_TENSOR', `${z.file}: ${where}["${k}"] is a ${describe(v)}, not a tensor`, { file: z.file, tensor: k });
    out.push(tensorRange(z, name, v));
  }
  return out;
}

function configValue(v: PyValue | undefined): unknown {
  return v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' ? v : undefined;
}

async function mapFormat(z: TorchZip, root: PyDict, f: ImportFormat): Promise<TorchParts> {
  const where = `${path.basename(z.file)} (${f.format})`;
  const argsRaw = root.get(f.configFrom);
  if (!(argsRaw instanceof PyDict))
    throw new InherituneError('E_CONFIG', `${z.file}: "${f.configFrom}" is a ${describe(argsRaw)}, not a dict`, { file: z.file });
  const args: Record<string, unknown> = Object.assign(Object.create(null), f.argDefaults); // keys come from the file
  for (const [k, v] of argsRaw.map) if (typeof k === 'string' && configValue(v) !== undefined) args[k] = configValue(v);
  const config: ModelConfig = { ...f.constants };
  for (const [key, from] of Object.entries(f.config)) {
    if (args[from] === undefined || args[from] === null)
      throw new InherituneError('E_CONFIG', `${z.file}: "${f.configFrom}" has no "${from}", which ${where} needs for ${key}`, {
        file: z.file,
      });
    config[key] = args[from];
  }

  const transpose = f.transpose.map(template);
  const drop = f.drop.map(template);
  const tensors = new Map<string, TensorInfo>();
  for (const t of await stateDictTensors(z, root.get(f.stateDict) ?? null, `"${f.stateDict}"`, f.stripPrefixes)) {
    if (drop.some((re) => re.test(t.name))) continue;
    if (transpose.some((re) => re.test(t.name))) {
      if (t.shape.length !== 2)
        throw new InherituneError(
          'E_TENSOR',
          `${z.file}: tensor ${t.name} has shape [${t.shape.join(', ')}]; ${f.format} stores it as a 2-D Linear weight`,
          { file: z.file, tensor: t.name },
        );
      t.shape = [t.shape[1], t.shape[0]];
      t.transform = 'transpose';
    }
    tensors.set(t.name, t);
  }

  if (f.tie) {
    const head = tensors.get(f.tie.head);
    const emb = tensors.get(f.tie.embedding);
    const same =
      !!head &&
      !!emb &&
      head.begin === emb.begin &&
      head.end === emb.end &&
      head.dtype === emb.dtype &&
      head.shape.join() === emb.shape.join();
    if (same || !head) tensors.delete(f.tie.head);
    config[f.tie.key] = same || !head;
  }

  if (f.zeroBiasesUnless && args[f.zeroBiasesUnless] === false) {
    // A bias-free model equals the family's model with all-zero biases (LayerNorm and Linear alike).
    const spec = specByFamily(f.family);
    const dims = readDims(spec, config, where);
    const prefix = spec.namePrefixes[0];
    const like = tensors.get(fullName(spec.pre[0], spec.pre[0].name, prefix));
    const dtype = like?.dtype ?? 'F32';
    const add = (name: string, shape: number[] | undefined) => {
      if (!tensors.has(name) && shape) tensors.set(name, { name, dtype, shape, begin: 0, end: 0, file: z.file, transform: 'zeros' });
    };
    for (const t of [...spec.pre, ...spec.post])
      if (t.init === 'zeros' && !t.buffer) add(fullName(t, t.name, prefix), shapeOf(t, dims, where));
    for (let i = 0; i < dims.numLayers; i++)
      for (const t of spec.layer) if (t.init === 'zeros' && !t.buffer) add(fullName(t, layerName(t, i), prefix), shapeOf(t, dims, where));
  }
  return { config, configPath: z.file, tensors, files: [header(z, [...tensors.values()])], format: f.format };
}

/** Wrappers whose state dicts prefix every name: DistributedDataParallel (`module.`) and torch.compile. */
const WRAPPER_PREFIXES = ['module.', '_orig_mod.'];

/** The wrapper prefixes shared by every key of a state dict, outermost first (`module._orig_mod.` gives both). */
function wrapperPrefixes(sd: PyValue): string[] {
  if (!(sd instanceof PyDict) || sd.map.size === 0) return [];
  const keys = [...sd.map.keys()].map(String);
  const out: string[] = [];
  let at = 0;
  for (let found = true; found;) {
    found = false;
    for (const p of WRAPPER_PREFIXES) {
      if (keys.every((k) => k.startsWith(p, at))) {
        out.push(p);
        at += p.length;
        found = true;
      }
    }
  }
  return out;
}

/** Open one PyTorch zip file: a training-checkpoint format, or a state dict with config.json in `dir`. */
async function openFile(file: string, dir: string): Promise<TorchParts> {
  const z = await readTorchZip(file);
  const root = z.root;
  if (root instanceof PyDict) {
    for (const f of IMPORT_FORMATS) if (f.detect.every((k) => root.map.has(k))) return mapFormat(z, root, f);
  }
  const configPath = path.join(dir, 'config.json');
  if (root instanceof PyDict && ![...root.map.values()].every((v) => v instanceof TorchTensor)) {
    const keys = [...root.map.keys()].filter((k): k is string => typeof k === 'string').slice(0, 6);
    throw new InherituneError(
      'E_TENSOR',
      `${file}: neither a state dict nor a known training checkpoint (top-level keys: ${keys.join(', ')}); known formats: ${IMPORT_FORMATS.map((f) => `${f.format} (keys ${f.detect.join(', ')})`).join('; ')}`,
      { file },
    );
  }
  const tensors = await stateDictTensors(z, root, 'the pickled object', wrapperPrefixes(root));
  const config = await readConfig(configPath);
  return { config, configPath, tensors: new Map(tensors.map((t) => [t.name, t])), files: [header(z, tensors)] };
}

/** Open a PyTorch checkpoint: one zip file, or shards listed by a pytorch_model.bin.index.json (weight_map). */
export async function openTorchCheckpoint(
  dir: string,
  files: string[] | undefined,
  index?: { path: string; weightMap: Map<string, string> },
): Promise<TorchParts> {
  if (!index) return openFile(files![0], dir);
  const configPath = path.join(dir, 'config.json');
  const config = await readConfig(configPath);
  const tensors = new Map<string, TensorInfo>();
  const headers: SafetensorsHeader[] = [];
  for (const f of [...new Set(index.weightMap.values())].sort()) {
    try {
      await fsp.stat(f);
    } catch {
      throw new InherituneError('E_INDEX', `${index.path}: shard ${path.basename(f)} is listed in weight_map but missing from ${dir}`, {
        file: f,
      });
    }
    const z = await readTorchZip(f);
    const shard = new Map((await stateDictTensors(z, z.root, 'the pickled object')).map((t) => [t.name, t]));
    headers.push(header(z, [...shard.values()]));
    for (const [name, file] of index.weightMap) {
      if (file !== f) continue;
      const t = shard.get(name);
      if (!t)
        throw new InherituneError(
          'E_INDEX',
          `${f}: tensor ${name} is listed for this shard in ${path.basename(index.path)} but the shard does not contain it`,
          { file: f, tensor: name },
        );
      tensors.set(name, t);
    }
  }
  return { config, configPath, tensors, files: headers };
}

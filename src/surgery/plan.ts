/**
 * Surgery as a plan: for every output tensor, where its bytes come from (file + byte range of a source tensor, or a
 * seeded re-initialisation) and under which name. Plans are pure (no I/O besides the headers already read),
 * validated before anything is written, and printable for review and snapshot tests.
 */
import * as path from 'node:path';
import { ALL_MODULES, ArchSpec, InitKind, layerName, fullName, Module, Role, TensorTemplate, templateApplies, readDims } from '../arch/spec';
import { Checkpoint, expectedTensors, nameIn } from '../checkpoint/checkpoint';
import type { StoredTensor } from '../checkpoint/ggufStored';
import { ModelConfig } from '../checkpoint/config';
import { byteLength, DType } from '../checkpoint/dtypes';
import type { TensorInfo } from '../checkpoint/safetensors';
import { InherituneError } from '../errors';
import { TOOL_NAME, TOOL_VERSION } from '../version';
import { initStd } from './init';

export type Preset = 'paper' | 'code';
export const PRESETS: readonly Preset[] = ['paper', 'code'];
export type SurgeryOp = 'inherit' | 'grow' | 'stack' | 'init-random';

export type EntrySource =
  | { kind: 'copy'; from: 'ref' | 'small'; tensor: string; file: string; begin: number; end: number; transform?: TensorInfo['transform']; stored?: StoredTensor }
  | { kind: 'init'; init: InitKind; std: number };

export interface PlanEntry {
  name: string;
  dtype: DType;
  shape: number[];
  byteLength: number;
  /** Output layer index, -1 for embeddings/final norm/head. */
  layer: number;
  source: EntrySource;
}

export interface LayerMapItem {
  out: number;
  from: 'ref' | 'small';
  layer: number;
  /** Sub-modules copied from the source block; the rest re-initialised. */
  modules: Module[];
}

export interface SurgeryPlan {
  op: SurgeryOp;
  family: string;
  numLayers: number;
  config: ModelConfig;
  entries: PlanEntry[];
  layerMap: LayerMapItem[];
  /** Tokenizer and generation files copied through, from this folder. */
  passthroughFrom: string;
  /** A .gguf source: tokenizer files are built from its metadata when none sit beside it. */
  ggufTokenizerFrom?: string;
  seed: number;
  provenance: Record<string, unknown>;
}

interface LayerSource {
  ckpt: Checkpoint;
  from: 'ref' | 'small';
  layer: number;
  modules: ReadonlySet<Module>;
}

interface AssembleOptions {
  op: SurgeryOp;
  /** Checkpoint whose embeddings, final norm, head and config the output takes. */
  base: Checkpoint;
  baseTag: 'ref' | 'small';
  layers: LayerSource[];
  /** Pre/post roles re-initialised instead of copied. */
  reinitRoles: ReadonlySet<Role>;
  seed: number;
  extraProvenance: Record<string, unknown>;
}

function copySource(ckpt: Checkpoint, from: 'ref' | 'small', name: string): { t: TensorInfo; source: EntrySource } {
  const t = ckpt.tensors.get(name)!;
  // A tensor the checkpoint does not store (a bias-free nanoGPT's biases) is all zeros: written as such.
  if (t.transform === 'zeros') return { t, source: { kind: 'init', init: 'zeros', std: 0 } };
  return { t, source: { kind: 'copy' as const, from, tensor: name, file: t.file, begin: t.begin, end: t.end, ...(t.transform ? { transform: t.transform } : {}), ...(t.stored ? { stored: t.stored } : {}) } };
}

/** Rewrite the config for the output depth: the depth key and every depth-dependent field. */
export function rewriteConfig(spec: ArchSpec, base: ModelConfig, layerMap: { ckptConfig: ModelConfig; layer: number }[]): ModelConfig {
  const n = layerMap.length;
  const out: ModelConfig = { ...base, [spec.numLayersKey]: n };
  for (const f of spec.depthFields) {
    const v = base[f.key];
    if (v === undefined || v === null) continue;
    if (f.rule === 'clamp' && typeof v === 'number') out[f.key] = Math.min(v, n);
    if (f.rule === 'select' && Array.isArray(v)) {
      out[f.key] = layerMap.map(({ ckptConfig, layer }) => {
        const src = ckptConfig[f.key];
        return Array.isArray(src) && layer < src.length ? src[layer] : v[Math.min(layer, v.length - 1)];
      });
    }
  }
  return out;
}

function assemble(o: AssembleOptions): SurgeryPlan {
  const { base, seed } = o;
  const spec = base.spec;
  const n = o.layers.length;
  const config = rewriteConfig(
    spec,
    base.config,
    o.layers.map((l) => ({ ckptConfig: l.ckpt.config, layer: l.layer })),
  );
  const std = initStd(spec, config);
  const entries: PlanEntry[] = [];

  const prePost = (t: TensorTemplate) => {
    const name = fullName(t, t.name, base.prefix);
    if (!base.tensors.has(name)) return; // tied head not stored, or a buffer this checkpoint lacks
    const { t: info, source } = copySource(base, o.baseTag, name);
    const reinit = t.role !== undefined && o.reinitRoles.has(t.role) && !t.buffer;
    entries.push({
      name,
      dtype: info.dtype,
      shape: info.shape,
      byteLength: byteLength(info.dtype, info.shape),
      layer: -1,
      source: reinit ? { kind: 'init', init: t.init ?? 'normal', std } : source,
    });
  };

  spec.pre.forEach(prePost);
  o.layers.forEach((src, j) => {
    for (const t of spec.layer) {
      if (!templateApplies(t, src.ckpt.config)) continue;
      const srcName = nameIn(src.ckpt, t, src.layer);
      if (!src.ckpt.tensors.has(srcName)) {
        if (t.buffer) continue;
        throw new InherituneError('E_TENSOR', `${src.ckpt.dir}: tensor ${srcName} is missing; the ${src.from} checkpoint is incomplete`, { tensor: srcName });
      }
      const { t: info, source } = copySource(src.ckpt, src.from, srcName);
      const copy = t.buffer || (t.module !== undefined && src.modules.has(t.module));
      entries.push({
        name: fullName(t, layerName(t, j), base.prefix),
        dtype: info.dtype,
        shape: info.shape,
        byteLength: byteLength(info.dtype, info.shape),
        layer: j,
        source: copy ? source : { kind: 'init', init: t.init ?? 'normal', std },
      });
    }
  });
  spec.post.forEach(prePost);

  const layerMap: LayerMapItem[] = o.layers.map((l, j) => ({ out: j, from: l.from, layer: l.layer, modules: ALL_MODULES.filter((m) => l.modules.has(m)) }));
  const plan: SurgeryPlan = {
    op: o.op,
    family: spec.family,
    numLayers: n,
    config,
    entries,
    layerMap,
    passthroughFrom: base.dir,
    ...(base.gguf ? { ggufTokenizerFrom: base.gguf.file } : {}),
    seed,
    provenance: {
      tool: `${TOOL_NAME} ${TOOL_VERSION}`,
      op: o.op,
      family: spec.family,
      [o.baseTag]: base.gguf?.file ?? base.dir,
      layerMap: layerMap.map((l) => `${l.out}<-${l.from}:${l.layer}${l.modules.length === ALL_MODULES.length ? '' : `[${l.modules.join('+') || 'init'}]`}`),
      seed,
      ...o.extraProvenance,
    },
  };
  validatePlan(plan, spec);
  return plan;
}

/** The plan's output must be a complete checkpoint of its config: every expected tensor once, with the right shape. */
export function validatePlan(plan: SurgeryPlan, spec: ArchSpec): void {
  const seen = new Set<string>();
  for (const e of plan.entries) {
    if (seen.has(e.name)) throw new InherituneError('E_SPEC', `plan: tensor ${e.name} would be written twice`, { tensor: e.name });
    seen.add(e.name);
  }
  const prefix = plan.entries.length ? detectOutPrefix(spec, seen) : '';
  const dims = readDims(spec, plan.config, 'output config.json');
  const byName = new Map(plan.entries.map((e) => [e.name, e]));
  for (const x of expectedTensors(spec, plan.config, prefix, plan.numLayers, dims)) {
    const e = byName.get(x.name);
    if (!e) {
      if (x.optional) continue;
      throw new InherituneError('E_SPEC', `plan: output tensor ${x.name} would be missing`, { tensor: x.name });
    }
    if (x.shape && x.shape.join(',') !== e.shape.join(',')) {
      throw new InherituneError('E_CONFIG', `plan: output tensor ${x.name} would have shape [${e.shape}] but the output config implies [${x.shape}]`, { tensor: x.name });
    }
  }
}

function detectOutPrefix(spec: ArchSpec, names: Set<string>): string {
  for (const p of spec.namePrefixes) if (names.has(p + spec.pre[0].name)) return p;
  return spec.namePrefixes[0];
}

export function parseModules(s: string | undefined): Set<Module> {
  if (s === undefined || s.trim() === '' || s === 'all') return new Set(ALL_MODULES);
  if (s === 'none') return new Set();
  const out = new Set<Module>();
  for (const part of s.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!(ALL_MODULES as readonly string[]).includes(part)) {
      throw new InherituneError('E_ARGS', `--modules: unknown sub-module "${part}"; use a comma list of ${ALL_MODULES.join(', ')} (or all / none)`);
    }
    out.add(part as Module);
  }
  return out;
}

function checkLayers(n: number, k: number, what: string, dir: string): void {
  if (!Number.isInteger(n) || n < 1) throw new InherituneError('E_ARGS', `${what} must be a whole number ≥ 1 (got ${n})`);
  if (n > k) throw new InherituneError('E_ARGS', `${what} = ${n} is larger than the model: ${dir} has ${k} layers; choose 1..${k}`);
}

export interface InheritOptions {
  layers?: number;
  preset?: Preset;
  modules?: ReadonlySet<Module>;
  seed?: number;
}

/** Inheritune: the first n blocks of the reference (default n = floor(k/2)). */
export function planInherit(ref: Checkpoint, o: InheritOptions = {}): SurgeryPlan {
  const k = ref.dims.numLayers;
  const n = o.layers ?? Math.max(1, Math.floor(k / 2));
  checkLayers(n, k, '--layers', ref.dir);
  const preset = o.preset ?? 'paper';
  const presetSpec = ref.spec.presets[preset];
  if (!presetSpec) throw new InherituneError('E_ARGS', `--preset: unknown preset "${preset}"; use ${PRESETS.join(' or ')}`);
  const modules = o.modules ?? new Set(ALL_MODULES);
  const seed = o.seed ?? 0;
  return assemble({
    op: 'inherit',
    base: ref,
    baseTag: 'ref',
    layers: Array.from({ length: n }, (_, i) => ({ ckpt: ref, from: 'ref' as const, layer: i, modules })),
    reinitRoles: new Set(presetSpec.reinit),
    seed,
    extraProvenance: { preset, modules: [...modules].join(',') || 'none', referenceLayers: k },
  });
}

/** Random init of the same shape as inheriting n layers (the paper's main baseline). */
export function planInitRandom(ref: Checkpoint, o: { layers?: number; seed?: number } = {}): SurgeryPlan {
  const k = ref.dims.numLayers;
  const n = o.layers ?? Math.max(1, Math.floor(k / 2));
  checkLayers(n, k, '--layers', ref.dir);
  const seed = o.seed ?? 0;
  return assemble({
    op: 'init-random',
    base: ref,
    baseTag: 'ref',
    layers: Array.from({ length: n }, (_, i) => ({ ckpt: ref, from: 'ref' as const, layer: i, modules: new Set<Module>() })),
    reinitRoles: new Set<Role>(['embedding', 'position', 'finalNorm', 'lmHead']),
    seed,
    extraProvenance: { referenceLayers: k },
  });
}

function checkCompatible(small: Checkpoint, ref: Checkpoint): void {
  if (small.spec.family !== ref.spec.family) {
    throw new InherituneError('E_ARGS', `${small.dir} is ${small.spec.family} but the reference ${ref.dir} is ${ref.spec.family}; grow needs the same architecture`);
  }
  for (const k of Object.keys(small.dims)) {
    if (k === 'numLayers') continue;
    if (small.dims[k] !== ref.dims[k]) {
      throw new InherituneError('E_CONFIG', `${small.configPath}: ${k} = ${small.dims[k]} but the reference has ${ref.dims[k]}; grow needs the same widths`);
    }
  }
}

/** Grow: the trained n-layer model plus reference blocks n..n+g-1 (embeddings and head from the trained model). */
export function planGrow(small: Checkpoint, ref: Checkpoint, add: number): SurgeryPlan {
  checkCompatible(small, ref);
  const n = small.dims.numLayers;
  const k = ref.dims.numLayers;
  if (!Number.isInteger(add) || add < 1) throw new InherituneError('E_ARGS', `--add must be a whole number ≥ 1 (got ${add})`);
  if (n + add > k) throw new InherituneError('E_ARGS', `--add ${add}: ${n} + ${add} layers is larger than the reference (${ref.dir} has ${k} layers); use --add ${k - n} at most`);
  const all = new Set(ALL_MODULES);
  return assemble({
    op: 'grow',
    base: small,
    baseTag: 'small',
    layers: [
      ...Array.from({ length: n }, (_, i) => ({ ckpt: small, from: 'small' as const, layer: i, modules: all })),
      ...Array.from({ length: add }, (_, i) => ({ ckpt: ref, from: 'ref' as const, layer: n + i, modules: all })),
    ],
    reinitRoles: new Set(),
    seed: 0,
    extraProvenance: { ref: ref.dir, add },
  });
}

/** Stacking baseline: the trained blocks duplicated to double depth (layer j ← j mod n). */
export function planStack(small: Checkpoint): SurgeryPlan {
  const n = small.dims.numLayers;
  const all = new Set(ALL_MODULES);
  return assemble({
    op: 'stack',
    base: small,
    baseTag: 'small',
    layers: Array.from({ length: 2 * n }, (_, j) => ({ ckpt: small, from: 'small' as const, layer: j % n, modules: all })),
    reinitRoles: new Set(),
    seed: 0,
    extraProvenance: {},
  });
}

/** One line per output tensor: stable text for review (`--dry-run`) and snapshot tests. */
export function describePlan(plan: SurgeryPlan): string {
  const lines = [`${plan.op} ${plan.family}: ${plan.numLayers} layers`];
  for (const e of plan.entries) {
    const src =
      e.source.kind === 'copy'
        ? `copy ${e.source.from}:${e.source.tensor} @${path.basename(e.source.file)}[${e.source.begin}, ${e.source.end})${e.source.transform ? ` ${e.source.transform}` : ''}${e.source.stored ? ` (${e.source.stored.ggufName} ${e.source.stored.type.name} → ${e.dtype})` : ''}`
        : `init ${e.source.init}${e.source.init.startsWith('normal') ? `(std=${e.source.std})` : ''}`;
    lines.push(`${e.name} ${e.dtype}[${e.shape.join(',')}] <- ${src}`);
  }
  return lines.join('\n');
}

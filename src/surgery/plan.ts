/**
 * Surgery as a plan: for every output tensor, where its bytes come from (file + byte range of a source tensor, or a
 * seeded re-initialisation) and under which name. Plans are pure (no I/O besides the headers already read),
 * validated before anything is written, and printable for review and snapshot tests.
 */
import * as path from 'node:path';
import {
  ALL_MODULES,
  ArchSpec,
  InitKind,
  layerName,
  fullName,
  Module,
  ModelDims,
  Role,
  TensorTemplate,
  templateApplies,
  readDims,
  shapeOf,
} from '../arch/spec';
import { Checkpoint, expectedTensors, nameIn } from '../checkpoint/checkpoint';
import type { StoredTensor } from '../checkpoint/ggufStored';
import { ModelConfig } from '../checkpoint/config';
import { byteLength, DType, DTYPE_BYTES } from '../checkpoint/dtypes';
import type { TensorInfo } from '../checkpoint/safetensors';
import { InherituneError } from '../errors';
import { TOOL_NAME, TOOL_VERSION } from '../version';
import { initStd } from './init';

export type Preset = 'paper' | 'code';
export const PRESETS: readonly Preset[] = ['paper', 'code'];
export type SurgeryOp = 'inherit' | 'grow' | 'stack' | 'init-random' | 'half-width';

/** Per axis of the source tensor, the [start, length) runs kept, in order (row-major slicing). */
export type AxisRanges = [number, number][][];

export type EntrySource =
  | {
      kind: 'copy';
      from: 'ref' | 'small';
      tensor: string;
      file: string;
      begin: number;
      end: number;
      transform?: TensorInfo['transform'];
      stored?: StoredTensor;
    }
  | { kind: 'slice'; from: 'ref'; tensor: string; file: string; begin: number; end: number; shape: number[]; ranges: AxisRanges }
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
  return {
    t,
    source: {
      kind: 'copy' as const,
      from,
      tensor: name,
      file: t.file,
      begin: t.begin,
      end: t.end,
      ...(t.transform ? { transform: t.transform } : {}),
      ...(t.stored ? { stored: t.stored } : {}),
    },
  };
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
        throw new InherituneError('E_TENSOR', `${src.ckpt.dir}: tensor ${srcName} is missing; the ${src.from} checkpoint is incomplete`, {
          tensor: srcName,
        });
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

  const layerMap: LayerMapItem[] = o.layers.map((l, j) => ({
    out: j,
    from: l.from,
    layer: l.layer,
    modules: ALL_MODULES.filter((m) => l.modules.has(m)),
  }));
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
      layerMap: layerMap.map(
        (l) => `${l.out}<-${l.from}:${l.layer}${l.modules.length === ALL_MODULES.length ? '' : `[${l.modules.join('+') || 'init'}]`}`,
      ),
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
      throw new InherituneError(
        'E_CONFIG',
        `plan: output tensor ${x.name} would have shape [${e.shape}] but the output config implies [${x.shape}]`,
        { tensor: x.name },
      );
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
  for (const part of s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    if (!(ALL_MODULES as readonly string[]).includes(part)) {
      throw new InherituneError(
        'E_ARGS',
        `--modules: unknown sub-module "${part}"; use a comma list of ${ALL_MODULES.join(', ')} (or all / none)`,
      );
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
  /** Take reference blocks 0, s, 2s, ... (s = 2: DistilBERT's every-other-layer student); default 1. */
  stride?: number;
}

/** Inheritune: the first n blocks of the reference (default n = floor(k/2)); with a stride s, blocks 0, s, ..., (n-1)s. */
export function planInherit(ref: Checkpoint, o: InheritOptions = {}): SurgeryPlan {
  const k = ref.dims.numLayers;
  const stride = o.stride ?? 1;
  if (!Number.isInteger(stride) || stride < 1) throw new InherituneError('E_ARGS', `--stride must be a whole number ≥ 1 (got ${stride})`);
  const n = o.layers ?? Math.max(1, Math.floor(k / 2));
  checkLayers(n, k, '--layers', ref.dir);
  if ((n - 1) * stride >= k) {
    throw new InherituneError(
      'E_ARGS',
      `--layers ${n} --stride ${stride} needs block ${(n - 1) * stride}, but ${ref.dir} has ${k} layers (0..${k - 1}); use --layers ${Math.floor((k - 1) / stride) + 1} at most`,
    );
  }
  const preset = o.preset ?? 'paper';
  const presetSpec = ref.spec.presets[preset];
  if (!presetSpec) throw new InherituneError('E_ARGS', `--preset: unknown preset "${preset}"; use ${PRESETS.join(' or ')}`);
  const modules = o.modules ?? new Set(ALL_MODULES);
  const seed = o.seed ?? 0;
  return assemble({
    op: 'inherit',
    base: ref,
    baseTag: 'ref',
    layers: Array.from({ length: n }, (_, i) => ({ ckpt: ref, from: 'ref' as const, layer: i * stride, modules })),
    reinitRoles: new Set(presetSpec.reinit),
    seed,
    extraProvenance: { preset, modules: [...modules].join(',') || 'none', referenceLayers: k, ...(stride > 1 ? { stride } : {}) },
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
    throw new InherituneError(
      'E_ARGS',
      `${small.dir} is ${small.spec.family} but the reference ${ref.dir} is ${ref.spec.family}; grow needs the same architecture`,
    );
  }
  for (const k of Object.keys(small.dims)) {
    if (k === 'numLayers') continue;
    if (small.dims[k] !== ref.dims[k]) {
      throw new InherituneError(
        'E_CONFIG',
        `${small.configPath}: ${k} = ${small.dims[k]} but the reference has ${ref.dims[k]}; grow needs the same widths`,
      );
    }
  }
}

/** Grow: the trained n-layer model plus reference blocks n..n+g-1 (embeddings and head from the trained model). */
export function planGrow(small: Checkpoint, ref: Checkpoint, add: number): SurgeryPlan {
  checkCompatible(small, ref);
  const n = small.dims.numLayers;
  const k = ref.dims.numLayers;
  if (!Number.isInteger(add) || add < 1) throw new InherituneError('E_ARGS', `--add must be a whole number ≥ 1 (got ${add})`);
  if (n + add > k)
    throw new InherituneError(
      'E_ARGS',
      `--add ${add}: ${n} + ${add} layers is larger than the reference (${ref.dir} has ${k} layers); use --add ${k - n} at most`,
    );
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

/** The sizes `half-width` halves (config keys through the spec's dims); head_dim, vocab, context and depth stay. */
export const HALVED_DIMS = ['hidden', 'heads', 'kvHeads', 'inter'] as const;

/**
 * Per axis, the runs kept when an axis of `from` entries becomes `to` entries: the leading to/parts entries of each
 * of its `parts` equal parts (gpt2's fused q|k|v is 3 parts). Heads are the outer index of every projection here
 * (q/k/v rows, o_proj columns, gpt_neox's per-head q,k,v rows), so a leading run is "the first heads/2 heads, whole".
 */
export function leadingRuns(from: number, to: number, parts = 1): [number, number][] {
  if (to === from) return [[0, from]];
  if (from % parts || to % parts) throw new InherituneError('E_SPEC', `internal: ${from} → ${to} does not split into ${parts} equal parts`);
  const a = from / parts;
  const b = to / parts;
  return Array.from({ length: parts }, (_, p) => [p * a, b] as [number, number]);
}

/**
 * Half-width baseline (the paper's "half width"): the reference's depth at half the hidden size, heads, key/value heads
 * and MLP width (head_dim unchanged), every tensor the reference's leading slice: embeddings and norms their first
 * hidden/2 columns/entries; attention the first heads/2 query heads and kvHeads/2 key/value heads (whole heads: their
 * head_dim rows) and the first hidden/2 input columns; the MLP its first inter/2 units; vocab and positions whole.
 */
export function planHalfWidth(ref: Checkpoint): SurgeryPlan {
  const spec = ref.spec;
  const d = ref.dims;
  const odd = HALVED_DIMS.filter((k) => d[k] % 2 !== 0);
  if (odd.length) {
    throw new InherituneError(
      'E_ARGS',
      `half-width needs even sizes, but ${ref.configPath} has ${odd.map((k) => `${k} = ${d[k]}`).join(', ')}; halving would cut a head (or unit) in two`,
    );
  }
  const config: ModelConfig = { ...ref.config };
  for (const k of HALVED_DIMS) {
    const key = spec.dims[k]?.key;
    if (key && typeof config[key] === 'number') config[key] = (config[key] as number) / 2;
  }
  const nd: ModelDims = readDims(spec, config, 'output config.json');
  for (const k of HALVED_DIMS) {
    if (nd[k] * 2 !== d[k])
      throw new InherituneError(
        'E_CONFIG',
        `half-width: ${k} would be ${nd[k]}, not ${d[k] / 2}, from ${ref.configPath}; its size is derived from a key this tool does not halve`,
      );
  }
  if (nd.headDim !== d.headDim)
    throw new InherituneError('E_CONFIG', `half-width: head_dim would change from ${d.headDim} to ${nd.headDim} (${ref.configPath})`);
  const ctx = `half-width (${spec.family})`;
  const entries: PlanEntry[] = [];
  const add = (t: TensorTemplate, srcName: string, outName: string, layer: number) => {
    const info = ref.tensors.get(srcName);
    if (!info) {
      if (t.buffer || t.tiedTo) return; // optional buffers; a tied head not stored
      throw new InherituneError('E_TENSOR', `${ref.dir}: tensor ${srcName} is missing; the reference is incomplete`, { tensor: srcName });
    }
    const whole = {
      kind: 'copy' as const,
      from: 'ref' as const,
      tensor: srcName,
      file: info.file,
      begin: info.begin,
      end: info.end,
      ...(info.transform ? { transform: info.transform } : {}),
      ...(info.stored ? { stored: info.stored } : {}),
    };
    const oldShape = shapeOf(t, d, ctx);
    if (!oldShape) {
      entries.push({ name: outName, dtype: info.dtype, shape: info.shape, byteLength: info.end - info.begin, layer, source: whole }); // buffers
      return;
    }
    if (oldShape.join(',') !== info.shape.join(',')) {
      throw new InherituneError(
        'E_CONFIG',
        `${ref.dir}: tensor ${srcName} has shape [${info.shape}] but its config implies [${oldShape}]`,
        { tensor: srcName },
      );
    }
    const newShape = shapeOf(t, nd, ctx)!;
    const ranges: AxisRanges = oldShape.map((n, a) => leadingRuns(n, newShape[a], t.blocks?.[a] ?? 1));
    const numel = newShape.reduce((x, y) => x * y, 1);
    const same = newShape.every((n, a) => n === oldShape[a]);
    if (!same && (info.transform || info.stored)) {
      // Slices are byte ranges of the stored tensor: a GGUF block or a transposed PyTorch weight has other bytes.
      throw new InherituneError(
        'E_ARGS',
        `${info.file}: tensor ${srcName} is not stored as plain ${info.dtype} rows, so half-width cannot slice it; ` +
          `write the reference as safetensors first (inheritune inherit ${ref.gguf?.file ?? ref.dir} --layers ${d.numLayers} --out DIR) and cut that`,
        { file: info.file, tensor: srcName },
      );
    }
    entries.push({
      name: outName,
      dtype: info.dtype,
      shape: newShape,
      byteLength: numel * DTYPE_BYTES[info.dtype],
      layer,
      source: same
        ? whole
        : { kind: 'slice', from: 'ref', tensor: srcName, file: info.file, begin: info.begin, end: info.end, shape: oldShape, ranges },
    });
  };
  for (const t of spec.pre) add(t, fullName(t, t.name, ref.prefix), fullName(t, t.name, ref.prefix), -1);
  for (let i = 0; i < d.numLayers; i++) {
    for (const t of spec.layer) {
      if (!templateApplies(t, ref.config)) continue;
      const name = fullName(t, layerName(t, i), ref.prefix);
      add(t, name, name, i);
    }
  }
  for (const t of spec.post) add(t, fullName(t, t.name, ref.prefix), fullName(t, t.name, ref.prefix), -1);
  const layerMap: LayerMapItem[] = Array.from({ length: d.numLayers }, (_, i) => ({
    out: i,
    from: 'ref' as const,
    layer: i,
    modules: [...ALL_MODULES],
  }));
  const plan: SurgeryPlan = {
    op: 'half-width',
    family: spec.family,
    numLayers: d.numLayers,
    config,
    entries,
    layerMap,
    passthroughFrom: ref.dir,
    seed: 0,
    provenance: {
      tool: `${TOOL_NAME} ${TOOL_VERSION}`,
      op: 'half-width',
      family: spec.family,
      ref: ref.dir,
      layerMap: layerMap.map((l) => `${l.out}<-ref:${l.layer}`),
      slice: 'leading: hidden/2 columns, heads/2 and kvHeads/2 whole heads, inter/2 units',
      from: { hidden: d.hidden, heads: d.heads, kvHeads: d.kvHeads, inter: d.inter },
      to: { hidden: nd.hidden, heads: nd.heads, kvHeads: nd.kvHeads, inter: nd.inter },
    },
  };
  validatePlan(plan, spec);
  return plan;
}

/** One line per output tensor: stable text for review (`--dry-run`) and snapshot tests. */
export function describePlan(plan: SurgeryPlan): string {
  const lines = [`${plan.op} ${plan.family}: ${plan.numLayers} layers`];
  for (const e of plan.entries) {
    const src =
      e.source.kind === 'copy'
        ? `copy ${e.source.from}:${e.source.tensor} @${path.basename(e.source.file)}[${e.source.begin}, ${e.source.end})${e.source.transform ? ` ${e.source.transform}` : ''}${e.source.stored ? ` (${e.source.stored.ggufName} ${e.source.stored.type.name} → ${e.dtype})` : ''}`
        : e.source.kind === 'slice'
          ? `slice ${e.source.from}:${e.source.tensor}[${e.source.ranges.map((r) => r.map(([a, n]) => `${a}:${a + n}`).join('+')).join(', ')}] @${path.basename(e.source.file)}`
          : `init ${e.source.init}${e.source.init.startsWith('normal') ? `(std=${e.source.std})` : ''}`;
    lines.push(`${e.name} ${e.dtype}[${e.shape.join(',')}] <- ${src}`);
  }
  return lines.join('\n');
}

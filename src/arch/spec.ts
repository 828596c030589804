/**
 * Architecture specs are data (specs/*.json): tensor-name templates, config keys and init rules per family.
 * This module resolves `extends`, evaluates dimension expressions and expands templates; no per-family code.
 */
import gpt2 from './specs/gpt2.json';
import llama from './specs/llama.json';
import mistral from './specs/mistral.json';
import qwen2 from './specs/qwen2.json';
import qwen3 from './specs/qwen3.json';
import gptNeox from './specs/gpt_neox.json';
import { InherituneError } from '../errors';

export type Module = 'attn' | 'mlp' | 'norm';
export const ALL_MODULES: readonly Module[] = ['attn', 'mlp', 'norm'];
export type Role = 'embedding' | 'position' | 'finalNorm' | 'lmHead';
export type InitKind = 'normal' | 'normalResidual' | 'zeros' | 'ones';

export interface TensorTemplate {
  name: string;
  shape?: string[];
  init?: InitKind;
  /** Per-layer tensors: the sub-module it belongs to (the paper's ablation). */
  module?: Module;
  /** Pre/post tensors: what it is. */
  role?: Role;
  /** Only present when this boolean config key is true. */
  when?: string;
  /** The value assumed for `when` when config.json does not have the key (old Pythia configs have no attention_bias). */
  whenDefault?: boolean;
  /** Non-parameter buffers that some checkpoints carry (causal masks, rotary caches): copied when present. */
  buffer?: boolean;
  /** Never carries the checkpoint's name prefix (gpt2's lm_head). */
  unprefixed?: boolean;
  /** May be absent when the config ties it to this tensor. */
  tiedTo?: string;
  /**
   * Per axis, how many equal parts are stacked along it (gpt2's fused q|k|v columns: [1, 3]); default 1 each.
   * Width surgery (`half-width`) keeps the leading entries of every part, not of the whole axis.
   */
  blocks?: number[];
}

export interface DimRule {
  key?: string;
  default?: string;
}

export interface ArchSpec {
  family: string;
  description: string;
  architectures: string[];
  modelTypes: string[];
  numLayersKey: string;
  dims: Record<string, DimRule>;
  initStdKey: string;
  defaultInitStd: number;
  namePrefixes: string[];
  pre: TensorTemplate[];
  layer: TensorTemplate[];
  post: TensorTemplate[];
  tieKey: string;
  tieDefault: boolean;
  depthFields: { key: string; rule: 'select' | 'clamp' }[];
  presets: Record<string, { reinit: Role[] }>;
}

interface RawSpec extends Partial<ArchSpec> {
  extends?: string;
  layerOverrides?: (TensorTemplate & { remove?: boolean })[];
}

const RAW: RawSpec[] = [gpt2, llama, mistral, qwen2, qwen3, gptNeox] as RawSpec[];

function resolve(raw: RawSpec, byFamily: Map<string, RawSpec>): ArchSpec {
  if (!raw.extends) return raw as ArchSpec;
  const base = byFamily.get(raw.extends);
  if (!base) throw new Error(`spec ${raw.family} extends unknown family ${raw.extends}`);
  const parent = resolve(base, byFamily);
  const { extends: _e, layerOverrides, ...own } = raw;
  const layer = parent.layer.map((t) => ({ ...t }));
  for (const o of layerOverrides ?? []) {
    const i = layer.findIndex((t) => t.name === o.name);
    if (o.remove) {
      if (i >= 0) layer.splice(i, 1);
      continue;
    }
    if (i >= 0) layer[i] = o;
    else layer.push(o);
  }
  return { ...parent, ...own, layer } as ArchSpec;
}

export const SPECS: readonly ArchSpec[] = (() => {
  const byFamily = new Map(RAW.map((r) => [r.family!, r]));
  return RAW.map((r) => resolve(r, byFamily));
})();

export const SUPPORTED_FAMILIES = SPECS.map((s) => s.family);

export function specByFamily(family: string): ArchSpec {
  const s = SPECS.find((x) => x.family === family);
  if (!s) throw unknownArch(family);
  return s;
}

function unknownArch(what: string, where?: string): InherituneError {
  return new InherituneError(
    'E_ARCH',
    `${where ? where + ': ' : ''}unknown architecture ${what}; supported families: ${SUPPORTED_FAMILIES.join(', ')} ` +
      `(architectures ${SPECS.flatMap((s) => s.architectures.filter((a) => a.endsWith('ForCausalLM') || a.endsWith('LMHeadModel'))).join(', ')})`,
    { file: where },
  );
}

/** Detect the family from config.json: `architectures` first, then `model_type`. */
export function detectSpec(config: Record<string, unknown>, configPath?: string): ArchSpec {
  const archs = Array.isArray(config.architectures)
    ? (config.architectures as unknown[]).filter((a): a is string => typeof a === 'string')
    : [];
  for (const a of archs) {
    const s = SPECS.find((x) => x.architectures.includes(a));
    if (s) return s;
  }
  const mt = config.model_type;
  if (typeof mt === 'string') {
    const s = SPECS.find((x) => x.modelTypes.includes(mt));
    if (s) return s;
  }
  const what = archs.length
    ? archs.join(', ')
    : typeof mt === 'string'
      ? `model_type "${mt}"`
      : '(config.json names no architectures and no model_type)';
  throw unknownArch(what, configPath);
}

/** Evaluate a dimension expression such as `3*hidden` or `hidden/heads` (integers, names, * and / only; never eval). */
export function evalDim(expr: string, env: Record<string, number>, ctx: string): number {
  const tokens = expr.split(/([*/])/).map((t) => t.trim());
  let value = NaN;
  let op = '*';
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (i % 2 === 1) {
      op = t;
      continue;
    }
    const v = /^\d+$/.test(t) ? Number(t) : env[t];
    if (v === undefined || !Number.isFinite(v)) throw new InherituneError('E_SPEC', `${ctx}: dimension "${t}" in "${expr}" is not known`);
    value = i === 0 ? v : op === '*' ? value * v : value / v;
  }
  if (!Number.isInteger(value))
    throw new InherituneError('E_CONFIG', `${ctx}: "${expr}" = ${value} is not a whole number; check the config's sizes`);
  return value;
}

export interface ModelDims {
  numLayers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  inter: number;
  vocab: number;
  ctx: number;
  [k: string]: number;
}

/** Read the model's sizes from config.json through the spec's keys; a missing or invalid key names the fix. */
export function readDims(spec: ArchSpec, config: Record<string, unknown>, configPath = 'config.json'): ModelDims {
  const env: Record<string, number> = {};
  const numLayers = config[spec.numLayersKey];
  if (!Number.isInteger(numLayers) || (numLayers as number) < 1) {
    throw new InherituneError(
      'E_CONFIG',
      `${configPath}: "${spec.numLayersKey}" must be a positive integer for ${spec.family} (found ${JSON.stringify(numLayers)})`,
      { file: configPath },
    );
  }
  env.numLayers = numLayers as number;
  for (const [dim, rule] of Object.entries(spec.dims)) {
    const v = rule.key !== undefined ? config[rule.key] : undefined;
    if (v !== undefined && v !== null) {
      if (!Number.isInteger(v) || (v as number) < 1)
        throw new InherituneError('E_CONFIG', `${configPath}: "${rule.key}" must be a positive integer (found ${JSON.stringify(v)})`, {
          file: configPath,
        });
      env[dim] = v as number;
    } else if (rule.default !== undefined) {
      env[dim] = evalDim(rule.default, env, configPath);
    } else {
      throw new InherituneError('E_CONFIG', `${configPath}: "${rule.key}" is missing; ${spec.family} needs it`, { file: configPath });
    }
  }
  return env as ModelDims;
}

export function isTied(spec: ArchSpec, config: Record<string, unknown>): boolean {
  const v = config[spec.tieKey];
  return typeof v === 'boolean' ? v : spec.tieDefault;
}

export function layerName(t: TensorTemplate, i: number): string {
  return t.name.replace('{i}', String(i));
}

/** Is this template part of a model with this config? (`when` keys such as attention_bias) */
export function templateApplies(t: TensorTemplate, config: Record<string, unknown>): boolean {
  if (!t.when) return true;
  const v = config[t.when];
  return typeof v === 'boolean' ? v : t.whenDefault === true;
}

export function shapeOf(t: TensorTemplate, dims: ModelDims, ctx: string): number[] | undefined {
  return t.shape?.map((e) => evalDim(e, dims, ctx));
}

/** The prefix a checkpoint uses (gpt2 hub checkpoints have none, save_pretrained adds `transformer.`). */
export function detectPrefix(spec: ArchSpec, names: Set<string>): string {
  const probe = spec.pre[0].name;
  for (const p of spec.namePrefixes) if (names.has(p + probe)) return p;
  return spec.namePrefixes[0];
}

export function fullName(t: TensorTemplate, name: string, prefix: string): string {
  return t.unprefixed ? name : prefix + name;
}

/**
 * Rotary position embeddings: the inverse frequencies of every rope_scaling type transformers implements
 * (float32-faithful to its modeling_rope_utils) and the cos/sin tables the block graph takes as inputs. Imports arch/,
 * checkpoint/ and this folder.
 */
import type { ModelDims } from '../../arch/spec';
import type { ModelConfig } from '../../checkpoint/config';
import { InherituneError } from '../../errors';
import { num } from './configValues';

export interface RopeParams {
  /** `default`, `linear`, `dynamic`, `llama3`, `yarn` or `longrope`. */
  type: string;
  /** Leading dimensions of each head that rotate (head_dim × partial rotary factor). */
  rotaryDim: number;
  /** [rotaryDim / 2], float32-rounded the way transformers computes it. */
  invFreq: Float32Array;
  /** Multiplies cos and sin (yarn, longrope); 1 otherwise. */
  attentionFactor: number;
}

export const ROPE_TYPES = ['default', 'linear', 'dynamic', 'llama3', 'yarn', 'longrope'];
const f = Math.fround;

/** The rope parameters dict: `rope_scaling` (transformers 4.x) or `rope_parameters` (5.x). */
function ropeDict(config: ModelConfig): Record<string, unknown> | undefined {
  const d = (config.rope_scaling ?? config.rope_parameters) as unknown;
  return d && typeof d === 'object' && !Array.isArray(d) ? (d as Record<string, unknown>) : undefined;
}

function dictNum(d: Record<string, unknown>, key: string, type: string, fallback?: number): number {
  const v = d[key];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (fallback !== undefined && (v === undefined || v === null)) return fallback;
  throw new InherituneError('E_CONFIG', `config.json: rope_scaling type "${type}" needs a numeric "${key}" (found ${JSON.stringify(v)})`);
}

/** base ** (arange(0, dim, 2).float() / dim) in float32, as transformers computes it. */
function posFreqs(base: number, dim: number): Float32Array {
  const out = new Float32Array(dim / 2);
  for (let j = 0; j < dim / 2; j++) out[j] = f(Math.pow(base, f((2 * j) / dim)));
  return out;
}

export function ropeParams(config: ModelConfig, family: string, dims: ModelDims, T: number): RopeParams {
  const d = ropeDict(config);
  const type = d ? String(d.rope_type ?? d.type ?? 'default') : 'default';
  const theta = num(
    config,
    'rope_theta',
    typeof d?.rope_theta === 'number' ? (d.rope_theta as number) : num(config, 'rotary_emb_base', 10000),
  );
  const partial =
    family === 'gpt_neox' && config.rotary_pct !== undefined
      ? num(config, 'rotary_pct', 0.25)
      : num(
          config,
          'partial_rotary_factor',
          typeof d?.partial_rotary_factor === 'number' ? (d.partial_rotary_factor as number) : family === 'gpt_neox' ? 0.25 : 1,
        );
  const dim = Math.trunc(dims.headDim * partial);
  if (dim < 2 || dim % 2 !== 0 || dim > dims.headDim) {
    throw new InherituneError(
      'E_CONFIG',
      `config.json: rotary dimension head_dim × partial rotary factor = ${dims.headDim} × ${partial} = ${dim} must be an even number in [2, ${dims.headDim}]`,
    );
  }
  const maxPos = dims.ctx;
  const defaultInv = (base: number) => {
    const p = posFreqs(base, dim);
    return p.map((x) => f(1 / x));
  };
  switch (type) {
    case 'default':
      return { type, rotaryDim: dim, invFreq: defaultInv(theta), attentionFactor: 1 };
    case 'linear': {
      const factor = dictNum(d!, 'factor', type);
      return { type, rotaryDim: dim, invFreq: defaultInv(theta).map((x) => f(x / factor)), attentionFactor: 1 };
    }
    case 'dynamic': {
      // NTK-aware: the base grows only once the sequence is longer than max_position_embeddings.
      const factor = dictNum(d!, 'factor', type);
      const seq = T > maxPos ? T : maxPos;
      const base = theta * Math.pow((factor * seq) / maxPos - (factor - 1), dim / (dim - 2));
      return { type, rotaryDim: dim, invFreq: defaultInv(base), attentionFactor: 1 };
    }
    case 'llama3': {
      const factor = dictNum(d!, 'factor', type);
      const low = dictNum(d!, 'low_freq_factor', type);
      const high = dictNum(d!, 'high_freq_factor', type);
      const old = dictNum(d!, 'original_max_position_embeddings', type);
      const lowWavelen = old / low;
      const highWavelen = old / high;
      const inv = defaultInv(theta).map((x) => {
        const wavelen = f((2 * Math.PI) / x);
        let y = wavelen > lowWavelen ? f(x / factor) : x;
        if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
          const smooth = f((f(old / wavelen) - low) / (high - low));
          y = f(f(f(1 - smooth) * f(y / factor)) + f(smooth * y));
        }
        return y;
      });
      return { type, rotaryDim: dim, invFreq: inv, attentionFactor: 1 };
    }
    case 'yarn': {
      const factor = dictNum(d!, 'factor', type);
      const orig = typeof d!.original_max_position_embeddings === 'number' ? (d!.original_max_position_embeddings as number) : maxPos;
      const attentionFactor = typeof d!.attention_factor === 'number' ? (d!.attention_factor as number) : 0.1 * Math.log(factor) + 1;
      const betaFast = (d!.beta_fast as number) || 32;
      const betaSlow = (d!.beta_slow as number) || 1;
      const corrDim = (rot: number) => (dim * Math.log(orig / (rot * 2 * Math.PI))) / (2 * Math.log(theta));
      const lo = Math.max(Math.floor(corrDim(betaFast)), 0);
      let hi = Math.min(Math.ceil(corrDim(betaSlow)), dim - 1);
      if (lo === hi) hi += 0.001;
      const p = posFreqs(theta, dim);
      const inv = new Float32Array(dim / 2);
      for (let j = 0; j < dim / 2; j++) {
        const ramp = Math.min(1, Math.max(0, f(f(j - lo) / f(hi - lo))));
        const extrap = f(1 - ramp);
        const ext = f(1 / p[j]);
        const interp = f(1 / f(factor * p[j]));
        inv[j] = f(f(interp * f(1 - extrap)) + f(ext * extrap));
      }
      return { type, rotaryDim: dim, invFreq: inv, attentionFactor };
    }
    case 'longrope': {
      const long = d!.long_factor;
      const short = d!.short_factor;
      if (!Array.isArray(long) || !Array.isArray(short) || long.length !== dim / 2 || short.length !== dim / 2) {
        throw new InherituneError(
          'E_CONFIG',
          `config.json: rope_scaling type "longrope" needs "long_factor" and "short_factor" lists of ${dim / 2} numbers`,
        );
      }
      const origKey = config.original_max_position_embeddings;
      let factor: number;
      let origMax: number;
      let expanded: number;
      if (typeof origKey === 'number') {
        expanded = T < origKey ? origKey : maxPos;
        origMax = origKey;
        factor = expanded / origMax;
      } else {
        factor = dictNum(d!, 'factor', type);
        origMax = maxPos;
        expanded = maxPos * factor;
      }
      const attentionFactor =
        typeof d!.attention_factor === 'number'
          ? (d!.attention_factor as number)
          : factor <= 1
            ? 1
            : Math.sqrt(1 + Math.log(factor) / Math.log(origMax));
      const ext = (expanded > origMax ? long : short) as number[];
      const p = posFreqs(theta, dim);
      return { type, rotaryDim: dim, invFreq: p.map((x, j) => f(1 / f(f(ext[j]) * x))), attentionFactor };
    }
    default:
      throw new InherituneError(
        'E_CONFIG',
        `config.json: rope_scaling type "${type}" is not supported by the attention forward pass; supported: ${ROPE_TYPES.join(', ')}`,
        { ropeType: type },
      );
  }
}

/**
 * cos and sin tables [T, rotaryDim] for positions 0..T-1. `sin` carries rotate_half's sign: its first half is
 * negated, so the graph computes x·cos + concat(x2, x1)·sin, which equals transformers' x·cos + rotate_half(x)·sin.
 */
export function ropeTables(p: RopeParams, T: number): { cos: Float32Array; sin: Float32Array } {
  const dim = p.rotaryDim;
  const half = dim / 2;
  const cos = new Float32Array(T * dim);
  const sin = new Float32Array(T * dim);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < half; j++) {
      const angle = f(p.invFreq[j] * t); // float32 product, as transformers' inv_freq @ position_ids
      const c = p.attentionFactor === 1 ? f(Math.cos(angle)) : f(f(Math.cos(angle)) * p.attentionFactor);
      const s = p.attentionFactor === 1 ? f(Math.sin(angle)) : f(f(Math.sin(angle)) * p.attentionFactor);
      cos[t * dim + j] = c;
      cos[t * dim + half + j] = c;
      sin[t * dim + j] = -s;
      sin[t * dim + half + j] = s;
    }
  }
  return { cos, sin };
}

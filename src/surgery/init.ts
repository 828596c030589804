/**
 * Deterministic initialisation for re-initialised tensors: the family's standard init (normal(0, std), zeros, ones)
 * from a seed. Each tensor gets its own stream derived from (seed, tensor name), so results do not depend on order.
 */
import { ArchSpec, InitKind } from '../arch/spec';
import { ModelConfig } from '../checkpoint/config';

/** FNV-1a over the name, mixed with the seed. */
function hashSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** xoshiro128** (public-domain reference algorithm): fast and well distributed, seeded through splitmix32. */
export class Rng {
  private s = new Uint32Array(4);
  constructor(seed: number) {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }
  /** Uniform in (0, 1). */
  uniform(): number {
    return (this.nextU32() + 0.5) / 4294967296;
  }
  /** Fill with normal(0, std) by Box–Muller. */
  fillNormal(out: Float32Array, std: number): void {
    for (let i = 0; i < out.length; i += 2) {
      const r = Math.sqrt(-2 * Math.log(this.uniform())) * std;
      const th = 2 * Math.PI * this.uniform();
      out[i] = r * Math.cos(th);
      if (i + 1 < out.length) out[i + 1] = r * Math.sin(th);
    }
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export function initStd(spec: ArchSpec, config: ModelConfig): number {
  const v = config[spec.initStdKey];
  return typeof v === 'number' && v > 0 ? v : spec.defaultInitStd;
}

/** Values of a re-initialised tensor. `numLayers` is the output model's depth (GPT-2 scales residual projections by it). */
export function initValues(kind: InitKind, numel: number, std: number, numLayers: number, seed: number, name: string): Float32Array {
  const out = new Float32Array(numel);
  switch (kind) {
    case 'zeros':
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'normal':
      new Rng(hashSeed(seed, name)).fillNormal(out, std);
      break;
    case 'normalResidual':
      new Rng(hashSeed(seed, name)).fillNormal(out, std / Math.sqrt(2 * numLayers));
      break;
  }
  return out;
}

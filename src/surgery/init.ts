/**
 * Deterministic initialisation for re-initialised tensors: the family's standard init (normal(0, std), zeros, ones)
 * from a seed. Each tensor gets its own stream derived from (seed, tensor name), so results do not depend on order.
 */
import { ArchSpec, InitKind } from '../arch/spec';
import { ModelConfig } from '../checkpoint/config';
import { Rng } from '../util/random';

/** FNV-1a over the name, mixed with the seed. */
function hashSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
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

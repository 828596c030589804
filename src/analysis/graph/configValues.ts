/**
 * Reading config.json values with a message that names the key: the only place the graph code reads config keys
 * (beside the family specs). Imports checkpoint/ only.
 */
import type { ModelConfig } from '../../checkpoint/config';
import { InherituneError } from '../../errors';

export function num(config: ModelConfig, key: string, fallback: number): number {
  const v = config[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new InherituneError('E_CONFIG', `config.json: "${key}" must be a number (found ${JSON.stringify(v)})`);
  return v;
}

export function bool(config: ModelConfig, key: string, fallback: boolean): boolean {
  const v = config[key];
  return typeof v === 'boolean' ? v : fallback;
}

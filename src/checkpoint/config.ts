/** config.json read/write, and the tokenizer/generation files that travel with a checkpoint. */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { InherituneError } from '../errors';

export type ModelConfig = Record<string, unknown>;

export async function readConfig(configPath: string): Promise<ModelConfig> {
  let text: string;
  try {
    text = await fsp.readFile(configPath, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InherituneError(
      'E_NOT_FOUND',
      `${configPath}: cannot read config.json (${code ?? (e as Error).message}); a checkpoint folder needs the config.json saved with the model`,
      { file: configPath },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InherituneError('E_JSON', `${configPath}: invalid JSON (${(e as Error).message})`, { file: configPath });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InherituneError('E_JSON', `${configPath}: config.json must hold a JSON object`, { file: configPath });
  }
  return json as ModelConfig;
}

export function configText(config: ModelConfig): string {
  return JSON.stringify(config, null, 2) + '\n';
}

/** Files copied through unchanged by every surgery (when the source has them). */
export const PASSTHROUGH_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'vocab.json',
  'vocab.txt',
  'merges.txt',
  'tokenizer.model',
  'generation_config.json',
  'chat_template.jinja',
];

export async function passthroughFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const f of PASSTHROUGH_FILES) {
    const p = path.join(dir, f);
    try {
      if ((await fsp.stat(p)).isFile()) out.push(p);
    } catch {
      /* not present */
    }
  }
  return out;
}

/**
 * Reports kept for reuse within a session: Compare (and Analyze) take a finished report instead of running the
 * analysis again when the checkpoint's files, the input file and the settings are the same. The key holds every file
 * of the checkpoint folder by name, size and mtime, so a changed or rewritten checkpoint misses.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { AnalysisSettings } from '../shared/protocol';
import type { AnalysisReport } from '../shared/report';
import { checkpointKey } from './settingsModel';

const MAX_ENTRIES = 8;
const cache = new Map<string, AnalysisReport>();

/** Settings with the engine's defaults filled in, so `{}` and `{ batch: 4 }` are the same request. */
export function normalizedSettings(s: AnalysisSettings): Record<string, unknown> {
  return {
    seqLen: s.seqLen ?? null,
    batch: s.batch ?? 4,
    tau: s.tau ?? 0.9,
    mode: s.mode ?? 'mean',
    ep: s.ep ?? 'auto',
    textFile: s.textFile ? path.resolve(s.textFile) : null,
    tokensFile: s.tokensFile ? path.resolve(s.tokensFile) : null,
    specialTokens: s.specialTokens ?? true,
    seed: s.seed ?? 0,
    layers: s.layers ?? null,
    kStarExactUpTo: s.kStarExactUpTo || null,
  };
}

async function stamp(file: string): Promise<string> {
  const st = await fsp.stat(file).catch(() => undefined);
  return st ? `${st.size}:${Math.round(st.mtimeMs)}` : 'missing';
}

/** The cache key of an analysis request: folder, its files (name, size, mtime), the input file's, the settings. */
export async function requestKey(ckptPath: string, s: AnalysisSettings): Promise<string> {
  const dir = checkpointKey(ckptPath);
  const names = (await fsp.readdir(dir).catch(() => [] as string[])).sort();
  const files: string[] = [];
  for (const n of names) files.push(`${n}=${await stamp(path.join(dir, n))}`);
  const input = s.textFile ?? s.tokensFile;
  return JSON.stringify({ dir, files, input: input ? await stamp(input) : null, settings: normalizedSettings(s) });
}

export function cachedReport(key: string): AnalysisReport | undefined {
  const r = cache.get(key);
  if (r) {
    cache.delete(key);
    cache.set(key, r); // most recently used last
  }
  return r;
}

export function rememberReport(key: string, report: AnalysisReport): void {
  cache.delete(key);
  cache.set(key, report);
  while (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value as string);
}

export function clearReportCache(): void {
  cache.clear();
}

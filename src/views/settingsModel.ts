/** Analysis settings: from VS Code configuration values to the engine's settings, and back to words (pure). */
import * as path from 'node:path';
import type { AnalysisRequest, AnalysisSettings } from '../shared/protocol';
import { EP_NAMES, K_STAR_MODES, type AnalysisReport, type EpName, type KStarMode } from '../shared/report';

/** Raw values of `inheritune.analysis.*` (as read from the configuration; anything may be wrong). */
export interface RawAnalysisConfig {
  seqLen?: unknown;
  batch?: unknown;
  tau?: unknown;
  mode?: unknown;
  executionProvider?: unknown;
  inputFile?: unknown;
  specialTokens?: unknown;
  kStarExactUpTo?: unknown;
}

/** Token files the engine reads as ids (nanoGPT uint16 .bin, .npy); anything else is text for the tokenizer. */
export function inputSettings(file: string | undefined, baseDir?: string): Pick<AnalysisSettings, 'textFile' | 'tokensFile'> {
  const f = (file ?? '').trim();
  if (!f) return {};
  const abs = path.isAbsolute(f) || !baseDir ? f : path.resolve(baseDir, f);
  return /\.(bin|npy)$/i.test(abs) ? { tokensFile: abs } : { textFile: abs };
}

export function settingsFromConfig(c: RawAnalysisConfig, baseDir?: string): AnalysisSettings {
  const s: AnalysisSettings = {};
  if (typeof c.seqLen === 'number' && Number.isInteger(c.seqLen) && c.seqLen >= 2) s.seqLen = c.seqLen;
  if (typeof c.batch === 'number' && Number.isInteger(c.batch) && c.batch >= 1) s.batch = c.batch;
  if (typeof c.tau === 'number' && c.tau > 0 && c.tau < 1) s.tau = c.tau;
  if (typeof c.mode === 'string' && (K_STAR_MODES as readonly string[]).includes(c.mode)) s.mode = c.mode as KStarMode;
  if (typeof c.executionProvider === 'string' && (EP_NAMES as readonly string[]).includes(c.executionProvider))
    s.ep = c.executionProvider as EpName;
  if (c.specialTokens === false) s.specialTokens = false;
  // 0 (the setting's default) means exact for every head
  if (typeof c.kStarExactUpTo === 'number' && Number.isInteger(c.kStarExactUpTo) && c.kStarExactUpTo >= 1)
    s.kStarExactUpTo = c.kStarExactUpTo;
  return { ...s, ...inputSettings(typeof c.inputFile === 'string' ? c.inputFile : undefined, baseDir) };
}

export function describeSettings(s: AnalysisSettings): string {
  const input = s.textFile
    ? `text ${path.basename(s.textFile)}`
    : s.tokensFile
      ? `tokens ${path.basename(s.tokensFile)}`
      : 'default input (built-in text, or seeded ids without a tokenizer)';
  return [
    `T ${s.seqLen ?? 'auto'}`,
    `batch ${s.batch ?? 4}`,
    `τ ${s.tau ?? 0.9}`,
    s.mode ?? 'mean',
    `EP ${s.ep ?? 'auto'}`,
    input,
    ...(s.specialTokens === false ? ['no special tokens'] : []),
    ...(s.kStarExactUpTo ? [`k* exact up to ${s.kStarExactUpTo}`] : []),
  ].join(' · ');
}

/**
 * Settings for a head's attention matrix: the request's, pinned to what the report resolved (T, batch, seed) and to the
 * execution provider it used, so the matrix is the one behind the report's numbers.
 */
export function headSettings(req: AnalysisRequest, report: AnalysisReport): AnalysisSettings {
  const used = report.executionProvider.used as EpName;
  return {
    ...req.settings,
    seqLen: report.settings.seqLen,
    batch: report.settings.batch,
    seed: report.settings.seed,
    tau: report.settings.tau,
    mode: report.settings.mode,
    ep: EP_NAMES.includes(used) ? used : req.settings.ep,
    layers: undefined,
  };
}

/**
 * One report panel per checkpoint: the folder for any path inside it (config.json, a shard, the index,
 * pytorch_model*.bin). Other .pt/.bin files stay themselves: a folder may hold several of them.
 */
export function checkpointKey(p: string): string {
  const abs = path.resolve(p);
  return /\.(json|safetensors)$/i.test(abs) || /^pytorch_model.*\.bin$/i.test(path.basename(abs)) ? path.dirname(abs) : abs;
}

/** Validation for the "Adjust…" input boxes (undefined = valid). */
export function validateInt(v: string, min: number, allowEmpty: boolean): string | undefined {
  const t = v.trim();
  if (!t && allowEmpty) return undefined;
  if (!/^\d+$/.test(t) || Number(t) < min) return `Enter a whole number ≥ ${min}${allowEmpty ? ' (or leave empty for the default)' : ''}`;
  return undefined;
}

export function validateTau(v: string): string | undefined {
  const n = Number(v.trim());
  return v.trim() && n > 0 && n < 1 ? undefined : 'τ must be between 0 and 1, e.g. 0.9';
}

/**
 * Messages between the host and the Start Training form (viewType inheritune.startTrainingForm), and the form's pure
 * rules (field validation, estimates) that the webview runs as the user types and the host runs again on submit.
 * Imported by both bundles: no vscode, no node:*.
 */
import {
  launcherProblems,
  LauncherSpec,
  parseOption,
  runDefaults,
  RunDefaults,
  TRAINER_OPTIONS,
  TrainerOptionKey,
  tokensPerStep,
} from './trainingOptions';

export const START_TRAINING_VIEW_TYPE = 'inheritune.startTrainingForm';

export interface RefInfo {
  path: string;
  numLayers: number;
  /** Context length (max positions) of the reference. */
  context: number;
  arch?: string;
  error?: string;
}

export interface DataInfo {
  paths: string[];
  /** bin: a train.bin/val.bin folder; text: files the trainer tokenizes; missing / empty: not usable. */
  kind: 'bin' | 'text' | 'missing' | 'empty';
  /** Text bytes (text), or token-file bytes (bin). */
  bytes: number;
  files: number;
  /** Tokens of a bin folder (train + val). */
  tokens?: number;
  error?: string;
}

export interface FormInit {
  python: string;
  torch: string;
  device: 'cpu' | 'cuda';
  gpus: number;
  ref?: RefInfo;
  data?: DataInfo;
  /** Suggested run folder (host-side: it must not exist yet). */
  out?: string;
  initModes: readonly string[];
}

/** What the user typed: every field as text (blank: the trainer's default). */
export type FormFields = { ref: string; data: string; out: string; devices: string } & Partial<
  Record<TrainerOptionKey | MultiNodeKey, string>
>;
/** The fields of a run over several machines (blank: one machine). */
export const MULTI_NODE_KEYS = ['nnodes', 'nodeRank', 'rdzvEndpoint', 'rdzvId'] as const;
export type MultiNodeKey = (typeof MULTI_NODE_KEYS)[number];

export type StartFormHostMessage =
  | { type: 'init'; init: FormInit }
  | { type: 'ref'; ref: RefInfo; out?: string }
  | { type: 'data'; data: DataInfo }
  | { type: 'out'; out: string }
  | { type: 'submitError'; message: string };

export type StartFormWebviewMessage =
  | { type: 'ready' }
  | { type: 'pickRef' }
  | { type: 'pickData'; as: 'folder' | 'files' }
  | { type: 'pickOut' }
  | { type: 'refChanged'; path: string }
  | { type: 'dataChanged'; paths: string[] }
  | { type: 'submit'; fields: FormFields }
  | { type: 'cancel' };

/** Data paths as typed: one per line, or separated by `;`. */
export function splitPaths(s: string): string[] {
  return s
    .split(/[\n;]/)
    .map((p) => p.trim())
    .filter(Boolean);
}

/** Approximate tokens of the data: exact for a bin folder, ~4 bytes per token of text. */
export function dataTokens(d: DataInfo | undefined): number | undefined {
  if (!d || (d.kind !== 'bin' && d.kind !== 'text')) return undefined;
  return d.kind === 'bin' ? d.tokens : Math.floor(d.bytes / 4);
}

export function defaultsFor(init: Pick<FormInit, 'device'>, ref: RefInfo | undefined, data: DataInfo | undefined): RunDefaults | undefined {
  if (!ref || ref.error) return undefined;
  const tokens = dataTokens(data);
  return runDefaults({
    device: init.device,
    numLayers: ref.numLayers,
    context: ref.context,
    dataBytes: tokens !== undefined ? tokens * 4 : undefined,
  });
}

export interface FormCheck {
  /** Field → message, for the fields that are wrong. */
  errors: Partial<Record<keyof FormFields, string>>;
  /** Field → note (allowed, but worth a look). */
  notes: Partial<Record<keyof FormFields, string>>;
  /** The values to run with (only when there are no errors). */
  values?: Partial<Record<TrainerOptionKey, string | number>> & { devices: number } & Omit<LauncherSpec, 'devices'>;
  estimate?: string;
}

const fmt = (n: number) =>
  n >= 1e9
    ? `${(n / 1e9).toFixed(1)} B`
    : n >= 1e6
      ? `${(n / 1e6).toFixed(1)} M`
      : n >= 1e4
        ? `${Math.round(n / 1e3)} K`
        : String(Math.round(n));

/**
 * Validate every field (the same rules as tasks.json and `inheritune train`, plus what the reference and the data
 * allow) and estimate the work: tokens per step and per round, and how a round compares with the data.
 */
export function checkForm(
  f: FormFields,
  ref: RefInfo | undefined,
  data: DataInfo | undefined,
  defaults: RunDefaults | undefined,
): FormCheck {
  const errors: FormCheck['errors'] = {};
  const notes: FormCheck['notes'] = {};
  if (!f.ref.trim()) errors.ref = 'Choose the reference checkpoint folder';
  else if (ref?.error) errors.ref = ref.error;
  if (!splitPaths(f.data).length) errors.data = 'Choose a train.bin/val.bin folder, or text files or a folder of them';
  else if (data?.error) errors.data = data.error;
  if (!f.out.trim()) errors.out = 'Enter the run folder';
  const values: Record<string, string | number> = {};
  for (const o of TRAINER_OPTIONS) {
    const raw = f[o.key] ?? '';
    const p = parseOption(o, raw);
    if (p.problem) errors[o.key] = p.problem;
    else if (p.value !== undefined) values[o.key] = p.value;
  }
  const devicesRaw = f.devices.trim() || '1';
  const devices = /^\d+$/.test(devicesRaw) ? Number(devicesRaw) : NaN;
  if (!(devices >= 1 && devices <= 1024)) errors.devices = 'devices must be a whole number from 1 to 1024';
  // Several machines: the same rules as `inheritune train` and the task (launcherProblems).
  const multi: Omit<LauncherSpec, 'devices'> = {};
  const wholeField = (k: 'nnodes' | 'nodeRank') => {
    const raw = (f[k] ?? '').trim();
    if (raw) multi[k] = /^\d+$/.test(raw) ? Number(raw) : NaN;
  };
  wholeField('nnodes');
  wholeField('nodeRank');
  for (const k of ['rdzvEndpoint', 'rdzvId'] as const) {
    const raw = (f[k] ?? '').trim();
    if (raw) multi[k] = raw;
  }
  Object.assign(errors, launcherProblems(multi));
  const num = (k: TrainerOptionKey, d: number | undefined) => (typeof values[k] === 'number' ? (values[k] as number) : d);
  const k = ref && !ref.error ? ref.numLayers : undefined;
  const layers = num('layers', defaults?.layers);
  if (k !== undefined && layers !== undefined && layers > k && !errors.layers)
    errors.layers = `n must be at most the reference's ${k} layers`;
  const seqLen = num('seqLen', defaults?.seqLen);
  if (ref && !ref.error && seqLen !== undefined && seqLen > ref.context && !errors.seqLen)
    errors.seqLen = `sequence length must be at most the reference's context (${ref.context})`;
  const tokens = dataTokens(data);
  const valFraction = num('valFraction', 0.1)!;
  if (tokens !== undefined && seqLen !== undefined && !errors.seqLen) {
    const val = data?.kind === 'text' ? Math.floor(tokens * valFraction) : undefined;
    if (val !== undefined && val < seqLen + 1) {
      const fit = Math.max(0, val - 1);
      errors.seqLen = `the text has ~${fmt(tokens)} tokens; its validation share (~${fmt(val)}) holds no ${seqLen + 1}-token window: use a sequence length of at most ~${fit}, more text, or a larger validation share`;
    }
  }
  const batch = num('batchSize', defaults?.batchSize ?? 12)!;
  const accum = num('gradAccum', defaults?.gradAccum ?? 1)!;
  const steps = num('stepsPerRound', defaults?.stepsPerRound ?? 1000)!;
  const warm = num('warmupSteps', undefined);
  if (warm !== undefined && steps > 0 && warm > steps && !errors.warmupSteps)
    notes.warmupSteps = `longer than a round: the trainer uses ${Math.floor(steps / 10)} (a tenth of it)`;
  let estimate: string | undefined;
  if (seqLen !== undefined && Number.isFinite(devices)) {
    const perStep = tokensPerStep({ batchSize: batch, gradAccum: accum, seqLen, devices });
    const perRound = perStep * steps;
    estimate = `≈ ${fmt(perStep)} tokens per step (${batch} × ${accum} × ${seqLen}${devices > 1 ? ` × ${devices} devices` : ''}); ${steps} steps per round = ${fmt(perRound)} tokens per round`;
    if (tokens !== undefined && tokens > 0) {
      const train = data?.kind === 'text' ? tokens * (1 - valFraction) : tokens;
      estimate += `; the training text (~${fmt(train)} tokens) is seen ${(perRound / train).toFixed(perRound / train < 10 ? 1 : 0)}× per round, one pass every ~${Math.max(1, Math.round(train / perStep))} steps`;
    }
  }
  const ok = Object.keys(errors).length === 0;
  return { errors, notes, values: ok ? { ...values, devices, ...multi } : undefined, estimate };
}

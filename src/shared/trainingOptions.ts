/**
 * The options of a training run, once: their names in a TrainingSpec / tasks.json definition, the trainer flag each
 * becomes, and the rule a value must satisfy. `inheritune train`, the task type, tasks.json and the Start Training form
 * all read this table (host and webview), so a rule cannot differ between them. No vscode, no node:*.
 */

export const GROW_MODES = ['reinherit', 'extend'] as const;
/** The trainer's `--init` values (trainer/inheritune_trainer/cli.py). */
export const INIT_MODES = ['inherit', 'random', 'scratch-full', 'hybrid-stack', 'half-width', 'kd', 'kd-distilbert'] as const;
/** How several processes share the model (trainer/inheritune_trainer/strategy.py); fsdp needs torch 2.x. */
export const STRATEGIES = ['ddp', 'fsdp'] as const;

export type OptionKind =
  | { kind: 'whole'; min: number; max?: number }
  | { kind: 'number'; min: number; exclusiveMin?: boolean; max?: number; exclusiveMax?: boolean }
  | { kind: 'choice'; choices: readonly string[] }
  | { kind: 'text' };

export interface TrainerOption {
  /** The name in a TrainingSpec and in a tasks.json definition. */
  key: TrainerOptionKey;
  /** The trainer's (and `inheritune train`'s) flag. */
  flag: string;
  rule: OptionKind;
  /** What it means, for help texts and the form. */
  help: string;
}

export type TrainerOptionKey =
  | 'layers'
  | 'growBy'
  | 'growMode'
  | 'init'
  | 'stepsPerRound'
  | 'maxRounds'
  | 'targetValLoss'
  | 'seqLen'
  | 'batchSize'
  | 'gradAccum'
  | 'lr'
  | 'warmupSteps'
  | 'evalInterval'
  | 'evalIters'
  | 'valFraction'
  | 'preset'
  | 'strategy'
  | 'kdTemperature'
  | 'kdAlpha';

export const TRAINER_OPTIONS: readonly TrainerOption[] = [
  { key: 'layers', flag: '--layers', rule: { kind: 'whole', min: 1 }, help: 'n: layers of the first round (default floor(k/2))' },
  { key: 'growBy', flag: '--grow-by', rule: { kind: 'whole', min: 1 }, help: 'G: layers added per growth (default 1)' },
  {
    key: 'growMode',
    flag: '--grow-mode',
    rule: { kind: 'choice', choices: GROW_MODES },
    help: 'reinherit: a fresh model from the reference each round; extend: keep the trained blocks, append reference blocks',
  },
  {
    key: 'init',
    flag: '--init',
    rule: { kind: 'choice', choices: INIT_MODES },
    help: 'inherit (Inheritune), or a baseline: random (same size, from scratch), scratch-full (full depth, from scratch), hybrid-stack (reference blocks 0..n/2-1 stacked to n), half-width (full depth at half the width, from the reference), kd (logit distillation), kd-distilbert (DistilBERT-style distillation, every other reference layer)',
  },
  { key: 'stepsPerRound', flag: '--steps-per-round', rule: { kind: 'whole', min: 0 }, help: 'T: optimizer steps per round (default 1000)' },
  { key: 'maxRounds', flag: '--max-rounds', rule: { kind: 'whole', min: 1 }, help: 'at most this many rounds (default 5)' },
  {
    key: 'targetValLoss',
    flag: '--target-val-loss',
    rule: { kind: 'number', min: 0, exclusiveMin: true },
    help: "stop growing at this val loss (default: the reference's own)",
  },
  { key: 'seqLen', flag: '--seq-len', rule: { kind: 'whole', min: 1 }, help: 'tokens per sequence (default min(1024, context))' },
  { key: 'batchSize', flag: '--batch-size', rule: { kind: 'whole', min: 1 }, help: 'sequences per micro-batch per device (default 12)' },
  { key: 'gradAccum', flag: '--grad-accum', rule: { kind: 'whole', min: 1 }, help: 'micro-batches per optimizer step (default 1)' },
  { key: 'lr', flag: '--lr', rule: { kind: 'number', min: 0, exclusiveMin: true, max: 1 }, help: 'peak learning rate (default 6e-4)' },
  {
    key: 'warmupSteps',
    flag: '--warmup-steps',
    rule: { kind: 'whole', min: 0 },
    help: 'warmup steps, restarted every round (default a tenth of the round, at most 100)',
  },
  {
    key: 'evalInterval',
    flag: '--eval-interval',
    rule: { kind: 'whole', min: 0 },
    help: 'evaluate every this many steps of a round, 0: only at round start and end (default 250)',
  },
  { key: 'evalIters', flag: '--eval-iters', rule: { kind: 'whole', min: 1 }, help: 'eval batches per split (default 50)' },
  {
    key: 'valFraction',
    flag: '--val-fraction',
    rule: { kind: 'number', min: 0, exclusiveMin: true, max: 1, exclusiveMax: true },
    help: "text data: each file's share of tokens kept for validation (default 0.1)",
  },
  { key: 'preset', flag: '--preset', rule: { kind: 'text' }, help: 'surgery preset of `inheritune inherit` (default paper)' },
  {
    key: 'strategy',
    flag: '--strategy',
    rule: { kind: 'choice', choices: STRATEGIES },
    help: 'several processes: ddp replicates the model, fsdp shards it (torch 2.x; default ddp)',
  },
  {
    key: 'kdTemperature',
    flag: '--kd-temperature',
    rule: { kind: 'number', min: 0, exclusiveMin: true },
    help: 'kd, kd-distilbert: softmax temperature of the soft targets (default 2)',
  },
  {
    key: 'kdAlpha',
    flag: '--kd-alpha',
    rule: { kind: 'number', min: 0, max: 1 },
    help: 'kd, kd-distilbert: weight of the soft-target loss against the LM loss (default 0.5)',
  },
];

/** How the trainer is launched (torchrun's side of a run): processes on this machine and, for several machines, the rendezvous. */
export interface LauncherSpec {
  devices?: number;
  nnodes?: number;
  nodeRank?: number;
  rdzvEndpoint?: string;
  rdzvId?: string;
}
export type LauncherKey = keyof LauncherSpec;
/** The flag of each launcher option in `inheritune train` (and the form's field names). */
export const LAUNCHER_FLAGS: Record<LauncherKey, string> = {
  devices: '--devices',
  nnodes: '--nnodes',
  nodeRank: '--node-rank',
  rdzvEndpoint: '--rdzv-endpoint',
  rdzvId: '--rdzv-id',
};

/** What is wrong with the launcher options, by option (empty when they are fine): the CLI, the task and the form use this. */
export function launcherProblems(s: LauncherSpec): Partial<Record<LauncherKey, string>> {
  const p: Partial<Record<LauncherKey, string>> = {};
  const whole = (k: 'devices' | 'nnodes' | 'nodeRank', min: number) => {
    const v = s[k];
    if (v !== undefined && !(Number.isInteger(v) && v >= min))
      p[k] = `${LAUNCHER_FLAGS[k]} must be a whole number ≥ ${min} (got ${String(v)})`;
  };
  whole('devices', 1);
  whole('nnodes', 1);
  whole('nodeRank', 0);
  const nnodes = s.nnodes ?? 1;
  if (!p.nodeRank && s.nodeRank !== undefined && s.nodeRank >= nnodes) {
    p.nodeRank = `--node-rank ${s.nodeRank} must be below --nnodes ${nnodes} (ranks are 0..${nnodes - 1})`;
  }
  if (s.rdzvEndpoint !== undefined && !/^\[?[A-Za-z0-9_.:-]+\]?:\d{1,5}$/.test(s.rdzvEndpoint)) {
    p.rdzvEndpoint = `--rdzv-endpoint must be host:port, e.g. 10.0.0.1:29400 (got ${JSON.stringify(s.rdzvEndpoint)})`;
  } else if (nnodes > 1 && !s.rdzvEndpoint) {
    p.rdzvEndpoint = `--nnodes ${nnodes} needs --rdzv-endpoint host:port (a node every node can reach, e.g. the first one's address and a free port)`;
  }
  if (s.rdzvId !== undefined && !/^[A-Za-z0-9_.-]+$/.test(s.rdzvId)) {
    p.rdzvId = `--rdzv-id must be letters, digits, '.', '_' or '-' (got ${JSON.stringify(s.rdzvId)})`;
  }
  return p;
}

export function optionByKey(key: TrainerOptionKey): TrainerOption {
  return TRAINER_OPTIONS.find((o) => o.key === key)!;
}

/** Why `value` is not valid for the option, or undefined when it is. */
export function optionProblem(o: TrainerOption, value: unknown): string | undefined {
  const r = o.rule;
  switch (r.kind) {
    case 'whole': {
      const ok = typeof value === 'number' && Number.isInteger(value) && value >= r.min && (r.max === undefined || value <= r.max);
      if (ok) return undefined;
      return r.max === undefined
        ? `${o.flag} must be a whole number ≥ ${r.min} (got ${String(value)})`
        : `${o.flag} must be a whole number from ${r.min} to ${r.max} (got ${String(value)})`;
    }
    case 'number': {
      const n = value as number;
      const ok =
        typeof value === 'number' &&
        Number.isFinite(n) &&
        (r.exclusiveMin ? n > r.min : n >= r.min) &&
        (r.max === undefined || (r.exclusiveMax ? n < r.max : n <= r.max));
      if (ok) return undefined;
      const lo = `${r.exclusiveMin ? '>' : '≥'} ${r.min}`;
      const hi = r.max === undefined ? '' : ` and ${r.exclusiveMax ? '<' : '≤'} ${r.max}`;
      return `${o.flag} must be a number ${lo}${hi} (got ${String(value)})`;
    }
    case 'choice':
      return typeof value === 'string' && r.choices.includes(value)
        ? undefined
        : `${o.flag} must be one of ${r.choices.join(', ')} (got ${String(value)})`;
    case 'text':
      return typeof value === 'string' && value.trim() && !value.startsWith('-')
        ? undefined
        : `${o.flag} must be a non-empty word (got ${String(value)})`;
  }
}

/** Parse what was typed in a form field (blank: not set). Returns the value or the problem. */
export function parseOption(o: TrainerOption, raw: string): { value?: string | number; problem?: string } {
  const v = raw.trim();
  if (!v) return {};
  const value =
    o.rule.kind === 'whole' || o.rule.kind === 'number' ? (/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(v) ? Number(v) : NaN) : v;
  const problem = optionProblem(o, value);
  return problem ? { problem } : { value };
}

/** Global tokens per optimizer step, and per round. */
export function tokensPerStep(o: { batchSize: number; gradAccum: number; seqLen: number; devices: number }): number {
  return o.batchSize * o.gradAccum * o.seqLen * o.devices;
}

export interface DefaultsInput {
  /** 'cuda' when torch sees a GPU. */
  device: 'cpu' | 'cuda';
  /** Reference layers (k) and context length. */
  numLayers: number;
  context: number;
  /** Bytes of text (or 2 × tokens of a bin folder); undefined when unknown. */
  dataBytes?: number;
  /** Parameters of the reference, for the CPU budget. */
  params?: number;
}

export interface RunDefaults {
  layers: number;
  growBy: number;
  stepsPerRound: number;
  maxRounds: number;
  seqLen: number;
  batchSize: number;
  gradAccum: number;
  lr: number;
  warmupSteps: number;
  evalInterval: number;
  evalIters: number;
}

/**
 * Defaults for a first run. On a GPU: the paper-like setting (1024 tokens × 12, 1000 steps). On a CPU: small enough
 * that a run on a few hundred KB of text shows the loss falling within minutes: 128-token windows (shorter when the
 * text is small, so that a tenth of it still holds a window), batch 8, 100 steps per round, a few eval batches, and a
 * higher learning rate than the paper's (short rounds).
 */
export function runDefaults(i: DefaultsInput): RunDefaults {
  const k = Math.max(1, i.numLayers);
  const layers = Math.max(1, Math.floor(k / 2));
  const tokens = i.dataBytes !== undefined ? Math.floor(i.dataBytes / 4) : undefined; // ~4 bytes per token of English
  const fit = (want: number) => {
    let s = Math.min(want, i.context || want);
    // a tenth of the tokens is the val split; it must hold a few windows
    if (tokens !== undefined) while (s > 16 && tokens * 0.1 < 4 * (s + 1)) s = Math.floor(s / 2);
    return s;
  };
  if (i.device === 'cuda') {
    return {
      layers,
      growBy: 1,
      stepsPerRound: 1000,
      maxRounds: 5,
      seqLen: fit(1024),
      batchSize: 12,
      gradAccum: 1,
      lr: 6e-4,
      warmupSteps: 100,
      evalInterval: 250,
      evalIters: 50,
    };
  }
  return {
    layers,
    growBy: 1,
    stepsPerRound: 100,
    maxRounds: 3,
    seqLen: fit(128),
    batchSize: 8,
    gradAccum: 1,
    lr: 1e-3,
    warmupSteps: 10,
    evalInterval: 50,
    evalIters: 4,
  };
}

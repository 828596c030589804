/**
 * The trainer's command line, built once for the CLI (`inheritune train`) and the VS Code task alike:
 *
 *   K = 1:        <python> -m inheritune_trainer train --ref R --data D --out O [options] [extra]
 *   K > 1:        <python> -m inheritune_trainer.launch --standalone --nproc_per_node K -m inheritune_trainer train ...
 *   N > 1 nodes:  <python> -m inheritune_trainer.launch --nnodes N --nproc_per_node K --rdzv_endpoint H:P --rdzv_id ID
 *                   (--rdzv_backend c10d, or static with --node_rank R when the node rank is given) -m ... train ...
 *
 * `inheritune_trainer.launch` is torch.distributed.run with the repairs every supported torch needs (launch.py).
 *
 * with PYTHONPATH starting at the bundled trainer folder (`<extension>/trainer`, or `<dist>/../trainer` for the CLI).
 * Also the task definition → `inheritune train ...` arguments, and the Python environment check.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { InherituneError } from '../errors';
import { GROW_MODES, launcherProblems, TRAINER_OPTIONS, TrainerOptionKey, optionProblem } from '../shared/trainingOptions';

/**
 * What a training run is: the options of `inheritune train` and of the `inheritune` task type. Every trainer option
 * of TRAINER_OPTIONS (src/shared/trainingOptions.ts) is a property by its name.
 */
export interface TrainingSpec extends Partial<Record<Exclude<TrainerOptionKey, 'growMode' | 'init' | 'preset' | 'strategy'>, number>> {
  ref: string;
  /** A folder with train.bin/val.bin, or text: files or folders of .txt, .md, .jsonl, .parquet (one or several). */
  data: string | string[];
  out: string;
  growMode?: (typeof GROW_MODES)[number];
  init?: string;
  preset?: string;
  strategy?: string;
  /** Processes (GPUs) on this machine; > 1 launches torch.distributed.run. */
  devices?: number;
  /** Machines in the run (torchrun --nnodes); > 1 needs rdzvEndpoint, and the same command on every node. */
  nnodes?: number;
  /** This machine's rank, 0..nnodes-1 (torchrun --node_rank, static rendezvous); default: assigned by c10d. */
  nodeRank?: number;
  /** host:port of the rendezvous (torchrun --rdzv_endpoint): one of the nodes, reachable from all. */
  rdzvEndpoint?: string;
  /** Run id shared by the nodes (torchrun --rdzv_id); default `inheritune`. */
  rdzvId?: string;
  /** Passed to the trainer unchanged, after ours (so they win: argparse keeps the last value). */
  extraArgs?: string[];
}

export interface InvocationOptions extends TrainingSpec {
  python: string;
  /** Folder holding the `inheritune_trainer` package. */
  trainerDir: string;
  /** Node (or Electron as node) the trainer uses for surgery (`--node-bin`); the trainer's default is `node`. */
  nodePath?: string;
  /** The project CLI (dist/cli.js) the trainer runs for surgery; passed as INHERITUNE_CLI. */
  cliPath?: string;
  /** Working directory (default: the current one). */
  cwd?: string;
  /** PYTHONPATH already in the environment, kept after the trainer folder. */
  basePythonPath?: string;
  /** For the PYTHONPATH separator; default the current platform. */
  platform?: string;
}

export interface TrainerInvocation {
  command: string;
  args: string[];
  /** Variables to set on top of the inherited environment. */
  env: Record<string, string>;
  cwd: string;
}

export const TRAINER_MODULE = 'inheritune_trainer';

export const LAUNCH_MODULE = `${TRAINER_MODULE}.launch`;

/** The launcher's options (torchrun's, underscore spellings: both torch 1.13 and 2.x accept them); [] for 1 process. */
export function launcherArgs(o: TrainingSpec): string[] {
  const devices = o.devices ?? 1;
  const nnodes = o.nnodes ?? 1;
  if (nnodes > 1) {
    const a = ['-m', LAUNCH_MODULE, '--nnodes', String(nnodes), '--nproc_per_node', String(devices), '--rdzv_endpoint', o.rdzvEndpoint!];
    // A given node rank fixes the global ranks (static rendezvous, e.g. SLURM_NODEID); otherwise c10d assigns them.
    if (o.nodeRank !== undefined) a.push('--rdzv_backend', 'static', '--node_rank', String(o.nodeRank));
    else a.push('--rdzv_backend', 'c10d');
    a.push('--rdzv_id', o.rdzvId ?? 'inheritune');
    return a;
  }
  return devices > 1 ? ['-m', LAUNCH_MODULE, '--standalone', '--nproc_per_node', String(devices)] : [];
}

export function buildTrainerInvocation(o: InvocationOptions): TrainerInvocation {
  validateSpec(o);
  const args = [
    ...launcherArgs(o),
    '-m',
    TRAINER_MODULE,
    'train',
    '--ref',
    o.ref,
    '--data',
    ...dataPaths(o.data),
    '--out',
    o.out,
    ...optionArgs(o),
  ];
  if (o.nodePath) args.push('--node-bin', o.nodePath);
  args.push(...(o.extraArgs ?? []));
  const sep = (o.platform ?? process.platform) === 'win32' ? ';' : ':';
  const pythonPath = [o.trainerDir, ...(o.basePythonPath ?? '').split(sep).filter((p) => p && p !== o.trainerDir)].join(sep);
  return {
    command: o.python,
    args,
    // Unbuffered, so the terminal shows each line as the trainer prints it.
    env: { PYTHONPATH: pythonPath, PYTHONUNBUFFERED: '1', ...(o.cliPath ? { INHERITUNE_CLI: o.cliPath } : {}) },
    cwd: o.cwd ?? process.cwd(),
  };
}

/** The data paths of a spec (one path or several). */
export function dataPaths(data: string | string[]): string[] {
  return Array.isArray(data) ? data : [data];
}

/** The trainer flags of the options a spec sets, in TRAINER_OPTIONS order. */
export function optionArgs(s: TrainingSpec): string[] {
  const a: string[] = [];
  for (const o of TRAINER_OPTIONS) {
    const v = (s as unknown as Record<string, unknown>)[o.key];
    if (v !== undefined && v !== null) a.push(o.flag, String(v));
  }
  return a;
}

/** Fail fast, naming the option, before anything starts. */
export function validateSpec(s: TrainingSpec): void {
  for (const k of ['ref', 'out'] as const) {
    if (typeof s[k] !== 'string' || !s[k].trim()) throw new InherituneError('E_ARGS', `--${k} is required (a folder path)`);
  }
  const data = s.data as unknown;
  const okData =
    typeof data === 'string'
      ? !!data.trim()
      : Array.isArray(data) && data.length > 0 && data.every((d) => typeof d === 'string' && d.trim());
  if (!okData)
    throw new InherituneError(
      'E_ARGS',
      '--data is required: a folder with train.bin and val.bin, or text files / folders (.txt, .md, .jsonl, .parquet)',
    );
  for (const o of TRAINER_OPTIONS) {
    const v = (s as unknown as Record<string, unknown>)[o.key];
    const problem = v === undefined || v === null ? undefined : optionProblem(o, v);
    if (problem) throw new InherituneError('E_ARGS', problem);
  }
  const launcher = Object.values(launcherProblems(s));
  if (launcher.length) throw new InherituneError('E_ARGS', launcher[0]);
  if (s.extraArgs !== undefined && !(Array.isArray(s.extraArgs) && s.extraArgs.every((a) => typeof a === 'string'))) {
    throw new InherituneError('E_ARGS', 'extraArgs must be a list of strings');
  }
}

/** `inheritune train ...` arguments for a spec (what the VS Code task runs, after `node <dist>/cli.js`). */
export function trainCliArgs(s: TrainingSpec & { python?: string }): string[] {
  validateSpec(s);
  const a = ['train', '--ref', s.ref, '--data', ...dataPaths(s.data), '--out', s.out, ...optionArgs(s)];
  if (s.devices !== undefined) a.push('--devices', String(s.devices));
  if (s.nnodes !== undefined) a.push('--nnodes', String(s.nnodes));
  if (s.nodeRank !== undefined) a.push('--node-rank', String(s.nodeRank));
  if (s.rdzvEndpoint !== undefined) a.push('--rdzv-endpoint', s.rdzvEndpoint);
  if (s.rdzvId !== undefined) a.push('--rdzv-id', s.rdzvId);
  if (s.python) a.push('--python', s.python);
  if (s.extraArgs?.length) a.push('--', ...s.extraArgs);
  return a;
}

/**
 * The folder holding `inheritune_trainer`: `<dir>/trainer` for dir = the given one and its parents (the bundle runs
 * from dist/, the sources from src/training/). Undefined when there is none.
 */
export function findTrainerDir(from: string, exists: (p: string) => boolean = existsSync): string | undefined {
  let dir = path.resolve(from);
  for (let i = 0; i < 4; i++) {
    const cand = path.join(dir, 'trainer');
    if (exists(path.join(cand, TRAINER_MODULE, '__init__.py'))) return cand;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/** Quote one argument for display in a POSIX shell (or cmd.exe on Windows). */
export function quoteArg(a: string, platform: string = process.platform): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a)) return a;
  if (platform === 'win32') return `"${a.replace(/"/g, '""')}"`;
  return `'${a.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(command: string, args: string[], platform?: string): string {
  return [command, ...args].map((a) => quoteArg(a, platform)).join(' ');
}

export function installCommand(python: string, trainerDir: string, platform?: string): string {
  return commandLine(python, ['-m', 'pip', 'install', '-r', path.join(trainerDir, 'requirements.txt')], platform);
}

export type PythonCheck =
  | { ok: true; python: string; torch: string; transformers: string; /** GPUs torch sees (0: CPU only). */ gpus: number }
  | { ok: false; reason: 'no-python' | 'missing-packages' | 'failed'; message: string; installCommand?: string };

/**
 * Run `python -c "import torch, transformers"`. A failure says what is wrong and, for missing packages, the exact
 * install command.
 */
export function checkPythonEnv(
  python: string,
  trainerDir: string,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<PythonCheck> {
  // `import torch, transformers`, but reporting every missing package at once, not just the first.
  const code = [
    'import importlib, sys',
    'miss = []',
    'for m in ("torch", "transformers"):',
    '    try:',
    '        print(m, getattr(importlib.import_module(m), "__version__", "?"))',
    '    except ImportError as e:',
    '        miss.append(m); print("missing", m, e)',
    'print("exe", sys.executable)',
    'if not miss:',
    '    import torch',
    '    print("gpus", torch.cuda.device_count() if torch.cuda.is_available() else 0)',
    'sys.exit(3 if miss else 0)',
  ].join('\n');
  return new Promise((resolve) => {
    execFile(
      python,
      ['-c', code],
      { timeout: opts.timeoutMs ?? 120_000, signal: opts.signal, windowsHide: true },
      (err, stdout, stderr) => {
        const lines = String(stdout).split(/\r?\n/);
        const field = (k: string) =>
          lines
            .find((l) => l.startsWith(`${k} `))
            ?.slice(k.length + 1)
            .trim();
        if (!err) {
          resolve({
            ok: true,
            python: field('exe') ?? python,
            torch: field('torch') ?? '?',
            transformers: field('transformers') ?? '?',
            gpus: Number(field('gpus') ?? 0) || 0,
          });
          return;
        }
        const e = err as NodeJS.ErrnoException & { killed?: boolean };
        if (e.code === 'ENOENT' || e.code === 'EACCES') {
          resolve({
            ok: false,
            reason: 'no-python',
            message: `cannot run Python at ${quoteArg(python)} (${e.code}); give the interpreter that has torch and transformers`,
          });
          return;
        }
        const missing = lines.filter((l) => l.startsWith('missing ')).map((l) => l.split(' ')[1]);
        if (missing.length) {
          const cmd = installCommand(python, trainerDir);
          resolve({
            ok: false,
            reason: 'missing-packages',
            message: `Python ${quoteArg(python)} lacks ${missing.join(' and ')}, which the trainer needs. Install with: ${cmd}`,
            installCommand: cmd,
          });
          return;
        }
        const last = String(stderr).trim().split(/\r?\n/).slice(-1)[0] || e.message;
        resolve({
          ok: false,
          reason: 'failed',
          message: `${quoteArg(python)} could not import torch and transformers${e.killed ? ' (timed out)' : ''}: ${last}`,
        });
      },
    );
  });
}

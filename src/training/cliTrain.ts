/**
 * `inheritune train`: run the Inheritune trainer (inherit n layers → train T steps → grow by G until the validation
 * loss reaches the target). The VS Code task runs exactly this command.
 *
 * The trainer runs in its own process group, so a Ctrl-C in the terminal reaches it once, through us: it saves its
 * state at the next step boundary and exits 130; a second Ctrl-C aborts it. We exit with its exit code.
 */
import { spawn } from 'node:child_process';
import { Command, InvalidArgumentError, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { trainingTasksIn } from './tasksJson';
import * as path from 'node:path';
import { parseOption, TRAINER_OPTIONS, TrainerOption } from '../shared/trainingOptions';
import { InherituneError } from '../errors';
import { buildTrainerInvocation, checkPythonEnv, commandLine, findTrainerDir, TrainerInvocation, TrainingSpec } from './command';

export function defaultPython(): string {
  return process.env.INHERITUNE_PYTHON || (process.platform === 'win32' ? 'python' : 'python3');
}

function whole(name: string, min: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number ≥ ${min}`);
    return n;
  };
}

interface TrainCliOptions extends Omit<TrainingSpec, 'devices' | 'extraArgs'> {
  devices: number;
  python: string;
  check: boolean;
  dryRun?: boolean;
  task?: string;
  tasksJson?: string;
}

export function registerTrainCommand(program: Command, signal: AbortSignal): void {
  const cmd = program
    .command('train')
    .description('train with Inheritune: inherit n layers of --ref, train T steps, grow by G until val loss reaches the target')
    .usage('--ref DIR --data PATH... --out DIR [options] [-- trainer options]')
    .requiredOption('--ref <dir>', 'reference checkpoint folder (Hugging Face, safetensors)')
    .requiredOption(
      '--data <paths...>',
      'a folder with train.bin and val.bin, or text: files or folders of .txt, .md, .jsonl ("text" field), .parquet (text column), tokenized with the reference\'s tokenizer into <out>/data',
    )
    .requiredOption('--out <dir>', 'run folder: round checkpoints, metrics.jsonl, summary.json');
  for (const o of TRAINER_OPTIONS) cmd.addOption(trainerOption(o));
  cmd
    .option('--devices <k>', 'processes on this machine (GPUs); > 1 launches torch.distributed.run', whole('--devices', 1), 1)
    .option('--nnodes <n>', 'machines in the run (torchrun --nnodes); run the same command on each', whole('--nnodes', 1))
    .option('--node-rank <r>', "this machine's rank 0..n-1 (static rendezvous; default: c10d assigns ranks)", whole('--node-rank', 0))
    .option('--rdzv-endpoint <host:port>', 'rendezvous address every node can reach (needed with --nnodes > 1)')
    .option('--rdzv-id <id>', 'run id shared by the nodes (default inheritune)')
    .option('--python <path>', 'Python with torch and transformers (default $INHERITUNE_PYTHON or python3)', defaultPython())
    .option('--no-check', 'skip the torch/transformers check before starting')
    .option('--dry-run', 'print the trainer command and exit')
    .option(
      '--task <label>',
      'with --tasks-json: run the `inheritune` task of this label as the file has it now (its options replace the ones given here)',
    )
    .option(
      '--tasks-json <file>',
      'the .vscode/tasks.json that --task is read from (relative paths in it resolve against its workspace folder)',
    )
    .argument('[trainerArgs...]', 'after --: passed to the trainer as they are (python -m inheritune_trainer train --help)')
    .addHelpText(
      'after',
      '\nExamples:\n  inheritune train --ref models/smollm2 --data notes/ --out runs/first --seq-len 128 --batch-size 8 --steps-per-round 100\n  inheritune train --ref gpt2-medium --data data/owt --out runs/inheritune --layers 12 --steps-per-round 2000 --lr 3e-4 --batch-size 8' +
        '\n  # two machines with 8 GPUs each (run on both; node-rank 0 on the first):' +
        '\n  inheritune train --ref R --data D --out O --devices 8 --nnodes 2 --node-rank 0 --rdzv-endpoint 10.0.0.1:29400',
    )
    .action(async (trainerArgs: string[], o: TrainCliOptions) => {
      const spec =
        o.task && o.tasksJson ? fromTasksJson(o.tasksJson, o.task, { ...o, extraArgs: trainerArgs }) : { ...o, extraArgs: trainerArgs };
      process.exit(await runTrainCli(spec, signal));
    });
}

/**
 * The spec of the task labelled `label` in a tasks.json as the file is NOW (the VS Code task passes its label, so a
 * rerun from a stale "recently used" entry still runs the edited definition). Without such an entry: `given`.
 */
export function fromTasksJson<T extends TrainingSpec & { python: string }>(file: string, label: string, given: T): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return given;
  }
  // VS Code may name a tasks.json task `<type>: <label>`.
  const entries = trainingTasksIn(text);
  const entry = entries.find((t) => t.label === label) ?? entries.find((t) => t.label === label.replace(/^inheritune: /, ''));
  if (!entry) return given;
  const folder = path.dirname(path.dirname(path.resolve(file)));
  const abs = (p: unknown) => (typeof p === 'string' ? path.resolve(folder, p.replace(/\$\{workspaceFolder\}/g, folder)) : p);
  const d = entry.definition as Record<string, unknown>;
  const next: Record<string, unknown> = {
    python: given.python,
    check: (given as { check?: boolean }).check,
    dryRun: (given as { dryRun?: boolean }).dryRun,
  };
  for (const [k, v] of Object.entries(d)) if (k !== 'type') next[k] = v;
  next.ref = abs(d.ref);
  next.out = abs(d.out);
  next.data = Array.isArray(d.data) ? d.data.map(abs) : abs(d.data);
  if (typeof d.python !== 'string') next.python = given.python;
  process.stderr.write(`inheritune: task "${label}" as ${file} has it now\n`);
  return next as unknown as T;
}

/** A commander option for a trainer option, with the same rule as tasks.json and the form. */
function trainerOption(o: TrainerOption): Option {
  const r = o.rule;
  const arg = r.kind === 'choice' ? '<mode>' : r.kind === 'text' ? '<name>' : '<x>';
  const opt = new Option(`${o.flag} ${arg}`, o.help);
  if (r.kind === 'choice') return opt.choices([...r.choices]);
  if (r.kind === 'text') return opt;
  return opt.argParser((v: string) => {
    const p = parseOption(o, v);
    if (p.problem || p.value === undefined) throw new InvalidArgumentError(p.problem ?? 'a value is required');
    return p.value;
  });
}

/** The trainer folder next to this bundle (dist/../trainer), or next to the sources when run from them. */
export function bundledTrainerDir(): string {
  const dir = findTrainerDir(__dirname);
  if (!dir)
    throw new InherituneError(
      'E_NOT_FOUND',
      `the trainer folder (trainer/inheritune_trainer) is not next to ${__dirname}; reinstall, or run from the repository`,
    );
  return dir;
}

export async function runTrainCli(
  o: TrainingSpec & { python: string; check?: boolean; dryRun?: boolean },
  signal: AbortSignal,
): Promise<number> {
  const trainerDir = bundledTrainerDir();
  const inv = buildTrainerInvocation({
    ...o,
    python: o.python,
    trainerDir,
    // Surgery (`cli.js inherit/grow`) runs with this same runtime, which may be VS Code's (ELECTRON_RUN_AS_NODE).
    nodePath: process.execPath,
    // ... and this very CLI, so that a pip-installed trainer (no dist/ next to it) finds it too.
    cliPath: existsSync(path.join(__dirname, 'cli.js')) ? path.join(__dirname, 'cli.js') : undefined,
    basePythonPath: process.env.PYTHONPATH,
  });
  if (o.dryRun) {
    console.log(`PYTHONPATH=${inv.env.PYTHONPATH} ${commandLine(inv.command, inv.args)}`);
    return 0;
  }
  if (o.check !== false) {
    const r = await checkPythonEnv(o.python, trainerDir, { signal });
    if (!r.ok) {
      process.stderr.write(`inheritune: ${r.message}\n`);
      if (r.reason === 'no-python') process.stderr.write('  pass --python PATH or set INHERITUNE_PYTHON\n');
      return r.reason === 'missing-packages' ? 3 : 1;
    }
    process.stderr.write(`inheritune: python ${r.python} (torch ${r.torch}, transformers ${r.transformers})\n`);
  }
  process.stderr.write(`inheritune: ${commandLine(inv.command, inv.args)}\n`);
  return runTrainer(inv, signal);
}

/**
 * Run the trainer with inherited stdio; resolve with its exit code (128 + n when a signal ended it). SIGINT, SIGTERM
 * and SIGHUP sent to us are forwarded to it (SIGHUP as SIGTERM: the terminal closed, save and stop). The CLI's own
 * handlers (abort + exit after 2 s) are replaced while it runs: saving state may take longer than that.
 */
export function runTrainer(inv: TrainerInvocation, signal?: AbortSignal): Promise<number> {
  const posix = process.platform !== 'win32';
  const child = spawn(inv.command, inv.args, {
    cwd: inv.cwd,
    env: { ...process.env, ...inv.env },
    stdio: 'inherit',
    // Own process group: the terminal's Ctrl-C reaches us only, and we pass it on exactly once.
    detached: posix,
  });
  const forward = (sig: NodeJS.Signals) => () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig === 'SIGHUP' ? 'SIGTERM' : sig);
  };
  const sigs: NodeJS.Signals[] = posix ? ['SIGINT', 'SIGTERM', 'SIGHUP'] : ['SIGINT', 'SIGTERM'];
  const saved = new Map<NodeJS.Signals, NodeJS.SignalsListener[]>();
  const handlers = new Map<NodeJS.Signals, () => void>();
  for (const s of sigs) {
    saved.set(s, process.listeners(s) as NodeJS.SignalsListener[]);
    process.removeAllListeners(s);
    const h = forward(s);
    handlers.set(s, h);
    process.on(s, h);
  }
  const onAbort = forward('SIGTERM');
  signal?.addEventListener('abort', onAbort);
  const restore = () => {
    signal?.removeEventListener('abort', onAbort);
    for (const s of sigs) {
      process.removeListener(s, handlers.get(s)!);
      for (const l of saved.get(s) ?? []) process.on(s, l);
    }
  };
  return new Promise((resolve) => {
    child.on('error', (e: NodeJS.ErrnoException) => {
      restore();
      process.stderr.write(`inheritune: cannot start ${inv.command}: ${e.message}\n`);
      resolve(e.code === 'ENOENT' ? 127 : 1);
    });
    child.on('exit', (code, sig) => {
      restore();
      if (code !== null) resolve(code);
      else resolve(128 + (sig ? (signalNumbers[sig] ?? 15) : 15));
    });
  });
}

const signalNumbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15 };

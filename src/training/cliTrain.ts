/**
 * `inheritune train`: run the Inheritune trainer (inherit n layers → train T steps → grow by G until the validation
 * loss reaches the target). The VS Code task runs exactly this command.
 *
 * The trainer runs in its own process group, so a Ctrl-C in the terminal reaches it once, through us: it saves its
 * state at the next step boundary and exits 130; a second Ctrl-C aborts it. We exit with its exit code.
 */
import { spawn } from 'node:child_process';
import { Command, InvalidArgumentError } from 'commander';
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

function positive(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

interface TrainCliOptions extends Omit<TrainingSpec, 'devices' | 'extraArgs'> {
  devices: number;
  python: string;
  check: boolean;
  dryRun?: boolean;
}

export function registerTrainCommand(program: Command, signal: AbortSignal): void {
  program
    .command('train')
    .description('train with Inheritune: inherit n layers of --ref, train T steps, grow by G until val loss reaches the target')
    .usage('--ref DIR --data DIR --out DIR [options] [-- trainer options]')
    .requiredOption('--ref <dir>', 'reference checkpoint folder (Hugging Face, safetensors)')
    .requiredOption('--data <dir>', 'folder with train.bin and val.bin (uint16 token ids)')
    .requiredOption('--out <dir>', 'run folder: round checkpoints, metrics.jsonl, summary.json')
    .option('--layers <n>', 'n, layers of the first round (default floor(k/2))', whole('--layers', 1))
    .option('--grow-by <g>', 'G, layers added per growth (default 1)', whole('--grow-by', 1))
    .option('--steps-per-round <t>', 'T, optimizer steps per round (default 1000)', whole('--steps-per-round', 0))
    .option('--max-rounds <r>', 'at most this many rounds (default 5)', whole('--max-rounds', 1))
    .option('--target-val-loss <x>', "stop growing at this val loss (default: the reference's own)", positive)
    .option('--devices <k>', 'processes on this machine (GPUs); > 1 launches torch.distributed.run', whole('--devices', 1), 1)
    .option('--nnodes <n>', 'machines in the run (torchrun --nnodes); run the same command on each', whole('--nnodes', 1))
    .option('--node-rank <r>', "this machine's rank 0..n-1 (static rendezvous; default: c10d assigns ranks)", whole('--node-rank', 0))
    .option('--rdzv-endpoint <host:port>', 'rendezvous address every node can reach (needed with --nnodes > 1)')
    .option('--rdzv-id <id>', 'run id shared by the nodes (default inheritune)')
    .option('--python <path>', 'Python with torch and transformers (default $INHERITUNE_PYTHON or python3)', defaultPython())
    .option('--no-check', 'skip the torch/transformers check before starting')
    .option('--dry-run', 'print the trainer command and exit')
    .argument('[trainerArgs...]', 'after --: passed to the trainer as they are (python -m inheritune_trainer train --help)')
    .addHelpText(
      'after',
      '\nExamples:\n  inheritune train --ref gpt2-medium --data data/owt --out runs/inheritune --layers 12 --steps-per-round 2000 -- --lr 3e-4 --batch-size 8' +
        '\n  # two machines with 8 GPUs each (run on both; node-rank 0 on the first):' +
        '\n  inheritune train --ref R --data D --out O --devices 8 --nnodes 2 --node-rank 0 --rdzv-endpoint 10.0.0.1:29400',
    )
    .action(async (trainerArgs: string[], o: TrainCliOptions) => {
      process.exit(await runTrainCli({ ...o, extraArgs: trainerArgs }, signal));
    });
}

/** The trainer folder next to this bundle (dist/../trainer), or next to the sources when run from them. */
export function bundledTrainerDir(): string {
  const dir = findTrainerDir(__dirname);
  if (!dir) throw new InherituneError('E_NOT_FOUND', `the trainer folder (trainer/inheritune_trainer) is not next to ${__dirname}; reinstall, or run from the repository`);
  return dir;
}

export async function runTrainCli(o: TrainingSpec & { python: string; check?: boolean; dryRun?: boolean }, signal: AbortSignal): Promise<number> {
  const trainerDir = bundledTrainerDir();
  const inv = buildTrainerInvocation({
    ...o,
    python: o.python,
    trainerDir,
    // Surgery (`cli.js inherit/grow`) runs with this same runtime, which may be VS Code's (ELECTRON_RUN_AS_NODE).
    nodePath: process.execPath,
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

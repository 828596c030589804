#!/usr/bin/env node
/**
 * `inheritune`: the same core as the extension, from a terminal. Bad input exits 1 with one clear line on stderr
 * (the stack trace only with --verbose).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { Checkpoint, openCheckpoint } from './checkpoint/checkpoint';
import { activeTemps } from './checkpoint/writer';
import { InherituneError, isInherituneError } from './errors';
import { summarize, summaryText, formatBytes } from './inspect';
import { executePlan } from './surgery/execute';
import {
  describePlan,
  parseModules,
  planGrow,
  planInherit,
  planInitRandom,
  planHalfWidth,
  planStack,
  Preset,
  PRESETS,
  SurgeryPlan,
} from './surgery/plan';
import { SYNTH_FAMILIES, writeSynthCheckpoint } from './fixtures/synth';
import { DEGENERATE_WHEN, EP_NAMES, K_STAR_MODES, type DegenerateWhen, type EpName, type KStarMode } from './shared/report';
import { TOOL_VERSION } from './version';
import { registerGpuCommands } from './gpu/cliGpu';
import { registerTrainCommand } from './training/cliTrain';

// WebAssembly relaxed SIMD (an FMA in the float32 Gram tiles of the k* certificate, 1.26× faster there) ships
// enabled from Node 22 and in Electron; Node 20 has it behind this V8 flag. The CLI is its own process, so it turns
// the flag on before any module is compiled (analysis/kernels/wasmKernels.ts falls back to plain SIMD without it).
if (Number(process.versions.node.split('.')[0]) < 22) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

const controller = new AbortController();
let verbose = false;

function int(name: string, min = 0) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number ≥ ${min}`);
    return n;
  };
}

function bytesArg(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError('use a size such as 5GB, 500MB or 1000000');
  const unit = (m[2] ?? '').toLowerCase().replace(/i?b$/, '');
  const mult = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12 }[unit] ?? NaN;
  const n = Math.floor(Number(m[1]) * mult);
  if (!Number.isFinite(n) || n < 1) throw new InvalidArgumentError('use a size such as 5GB, 500MB or 1000000');
  return n;
}

function layerList(v: string): number[] {
  const out: number[] = [];
  for (const part of v.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new InvalidArgumentError('use layer indices such as 4,5 or 4-7');
    const a = Number(m[1]);
    const b = m[2] !== undefined ? Number(m[2]) : a;
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

type DtypeOpt = { dtype?: 'f32' | 'f16' | 'bf16' };
/**
 * Open the sources of a surgery. --dtype says how GGUF tensors are written; safetensors and PyTorch tensors are copied
 * in their own dtype, so --dtype is refused (naming each source) when no source is a .gguf, instead of being ignored.
 * With one .gguf among several sources (grow from a trained folder and a .gguf reference) it applies to that one.
 */
async function openSources(paths: string[], o: DtypeOpt): Promise<Checkpoint[]> {
  const dtype = o.dtype && (o.dtype.toUpperCase() as 'F32' | 'F16' | 'BF16');
  const ckpts: Checkpoint[] = [];
  for (const p of paths) ckpts.push(await openCheckpoint(p, { dtype }));
  if (o.dtype && !ckpts.some((c) => c.gguf)) {
    const kinds = ckpts.map(
      (c, i) => `${path.resolve(paths[i])} is ${/\.(bin|pt|pth)$/.test(c.files[0]?.file ?? '') ? 'a PyTorch checkpoint' : 'safetensors'}`,
    );
    throw new InherituneError('E_ARGS', `--dtype applies to .gguf sources only; ${kinds.join(' and ')}: drop --dtype`);
  }
  return ckpts;
}
const openSource = async (p: string, o: DtypeOpt) => (await openSources([p], o))[0];

async function runPlan(plan: SurgeryPlan, out: string, o: { force?: boolean; shardSize?: number; dryRun?: boolean; quiet?: boolean }) {
  if (o.dryRun) {
    console.log(describePlan(plan));
    return;
  }
  const t0 = Date.now();
  let last = -1;
  const res = await executePlan(plan, out, {
    force: o.force,
    shardBytes: o.shardSize,
    signal: controller.signal,
    onProgress: (f) => {
      const pct = Math.floor(f * 100);
      if (!o.quiet && process.stderr.isTTY && pct !== last) {
        last = pct;
        process.stderr.write(`\r  writing ${pct}%`);
      }
    },
  });
  if (!o.quiet && process.stderr.isTTY) process.stderr.write('\r');
  const copied = plan.entries.filter((e) => e.source.kind === 'copy').length;
  const sliced = plan.entries.filter((e) => e.source.kind === 'slice').length;
  const init = plan.entries.length - copied - sliced;
  console.log(
    `${plan.op}: wrote ${res.out} (${plan.numLayers} layers, ${plan.entries.length} tensors: ${copied} copied, ${sliced ? `${sliced} sliced, ` : ''}${init} initialised; ${formatBytes(res.bytes)} in ${((Date.now() - t0) / 1000).toFixed(2)} s)`,
  );
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('inheritune')
    .description('Model surgery and attention diagnostics for decoder language models (Inheritune).')
    .version(TOOL_VERSION)
    .option('--verbose', 'show stack traces on errors')
    .hook('preAction', (cmd) => {
      verbose = !!cmd.opts().verbose;
    });

  program
    .command('inspect')
    .description('summarise a checkpoint (folder, config.json, .safetensors, index.json or .gguf)')
    .argument('<ckpt>')
    .option('--json', 'print JSON')
    .action(async (ckpt: string, o: { json?: boolean }) => {
      const s = summarize(await openCheckpoint(ckpt, { requireDecodable: false }));
      console.log(o.json ? JSON.stringify(s, null, 2) : summaryText(s));
    });

  const out = () => new Option('--out <dir>', 'output folder (written atomically)').makeOptionMandatory();
  const common = (c: Command) =>
    c
      .option('--force', 'replace the output folder if it exists')
      .option('--shard-size <bytes>', 'maximum shard size (e.g. 5GB, 500MB)', bytesArg)
      .option('--dry-run', 'print the plan (every tensor, its source and byte range) and write nothing')
      .addOption(
        new Option(
          '--dtype <t>',
          'from a .gguf: dtype of the written tensors (default: float tensors keep theirs, quantized become f16)',
        ).choices(['f32', 'f16', 'bf16']),
      );

  common(
    program
      .command('inherit')
      .description('a smaller model from the first n blocks of a reference (Inheritune)')
      .argument('<ref>', 'reference checkpoint')
      .option('--layers <n>', 'blocks to inherit (default: half the reference, floor(k/2))', int('--layers', 1))
      .addOption(out())
      .addOption(
        new Option('--preset <preset>', "paper: copy embeddings, positions, final norm and head; code: as the authors' released code")
          .choices(PRESETS as string[])
          .default('paper'),
      )
      .option('--modules <list>', 'sub-modules copied per block: attn,mlp,norm (the rest re-initialised)', 'attn,mlp,norm')
      .option('--seed <s>', 'seed for re-initialised tensors', int('--seed'), 0)
      .option('--stride <s>', 'take blocks 0, s, 2s, ... (2: the DistilBERT student, every other layer)', int('--stride', 1), 1),
  ).action(
    async (
      ref: string,
      o: DtypeOpt & {
        layers?: number;
        out: string;
        preset: Preset;
        modules: string;
        seed: number;
        stride: number;
        force?: boolean;
        shardSize?: number;
        dryRun?: boolean;
      },
    ) => {
      const plan = planInherit(await openSource(ref, o), {
        layers: o.layers,
        preset: o.preset,
        modules: parseModules(o.modules),
        seed: o.seed,
        stride: o.stride,
      });
      await runPlan(plan, o.out, o);
    },
  );

  common(
    program
      .command('grow')
      .description('an (n+g)-layer model: a trained n-layer model plus reference blocks n..n+g-1')
      .argument('<small>', 'trained smaller checkpoint')
      .requiredOption('--ref <dir>', 'reference checkpoint it was inherited from')
      .requiredOption('--add <g>', 'blocks to add', int('--add', 1))
      .addOption(out()),
  ).action(
    async (
      small: string,
      o: DtypeOpt & { ref: string; add: number; out: string; force?: boolean; shardSize?: number; dryRun?: boolean },
    ) => {
      const [s, r] = await openSources([small, o.ref], o);
      const plan = planGrow(s, r, o.add);
      await runPlan(plan, o.out, o);
    },
  );

  common(
    program
      .command('stack')
      .description('stacking baseline: the blocks of a trained model duplicated to double depth')
      .argument('<small>')
      .addOption(out()),
  ).action(async (small: string, o: DtypeOpt & { out: string; force?: boolean; shardSize?: number; dryRun?: boolean }) => {
    await runPlan(planStack(await openSource(small, o)), o.out, o);
  });

  common(
    program
      .command('half-width')
      .description("half-width baseline: the reference's depth at half the hidden size, heads and MLP width, from its leading rows/columns")
      .argument('<ref>')
      .addOption(out()),
  ).action(async (ref: string, o: DtypeOpt & { out: string; force?: boolean; shardSize?: number; dryRun?: boolean }) => {
    await runPlan(planHalfWidth(await openSource(ref, o)), o.out, o);
  });

  common(
    program
      .command('init-random')
      .description('random-init baseline with the shape of inheriting n layers')
      .argument('<ref>')
      .option('--layers <n>', 'depth (default floor(k/2))', int('--layers', 1))
      .option('--seed <s>', 'seed', int('--seed'), 0)
      .addOption(out()),
  ).action(
    async (
      ref: string,
      o: DtypeOpt & { layers?: number; seed: number; out: string; force?: boolean; shardSize?: number; dryRun?: boolean },
    ) => {
      await runPlan(planInitRandom(await openSource(ref, o), { layers: o.layers, seed: o.seed }), o.out, o);
    },
  );

  program
    .command('synth')
    .description('write a synthetic checkpoint from a seed (tests, demos, benchmarks); can plant lazy layers (gpt2)')
    .addOption(new Option('--family <f>', 'architecture family').choices(SYNTH_FAMILIES).default('gpt2'))
    .option('--layers <n>', 'depth', int('--layers', 1), 4)
    .option('--hidden <d>', 'width', int('--hidden', 1), 64)
    .option('--heads <h>', 'attention heads', int('--heads', 1), 4)
    .option('--kv-heads <h>', 'key/value heads (llama family)', int('--kv-heads', 1))
    .option('--vocab <v>', 'vocabulary size', int('--vocab', 2), 1024)
    .option('--context <t>', 'context length', int('--context', 1), 256)
    .option('--lazy <layers>', 'gpt2: plant these layers lazy (every query attends to position 0), e.g. 4-7', layerList)
    .option('--std <x>', 'init std', parseFloat)
    .addOption(new Option('--dtype <t>', 'tensor dtype').choices(['F32', 'F16', 'BF16']).default('F32'))
    .option('--seed <s>', 'seed', int('--seed'), 0)
    .option('--shard-size <bytes>', 'maximum shard size', bytesArg)
    .option('--force', 'replace the output folder if it exists')
    .addOption(out())
    .action(
      async (o: {
        family: string;
        layers: number;
        hidden: number;
        heads: number;
        kvHeads?: number;
        vocab: number;
        context: number;
        lazy?: number[];
        std?: number;
        dtype: 'F32' | 'F16' | 'BF16';
        seed: number;
        shardSize?: number;
        force?: boolean;
        out: string;
      }) => {
        const dir = await writeSynthCheckpoint(o.out, {
          family: o.family,
          numLayers: o.layers,
          hidden: o.hidden,
          heads: o.heads,
          kvHeads: o.kvHeads,
          vocab: o.vocab,
          context: o.context,
          lazyLayers: o.lazy,
          std: o.std,
          dtype: o.dtype,
          seed: o.seed,
          shardBytes: o.shardSize,
          force: o.force,
          signal: controller.signal,
        });
        console.log(`synth: wrote ${dir}`);
      },
    );

  program
    .command('analyze')
    .description('attention diagnostics: per-head k*, m*, entropy, sink mass; lazy layers; suggested n')
    .argument('<ckpt>')
    .option('--text <file>', "text to tokenize with the checkpoint's tokenizer")
    .option('--tokens <file>', 'token ids: nanoGPT uint16 .bin or .npy')
    .option(
      '--no-special-tokens',
      "encode --text without the tokenizer's special tokens (default: as transformers' tokenizer(text), e.g. with BOS)",
    )
    .option('--seq-len <T>', 'sequence length (default min(512, context))', int('--seq-len', 2))
    .option('--batch <B>', 'sequences', int('--batch', 1), 4)
    .option('--tau <x>', 'energy / mass threshold τ', parseFloat, 0.9)
    .addOption(
      new Option('--mode <m>', "k*: SVD of the batch-mean matrix (the authors' code) or per sequence then mean")
        .choices([...K_STAR_MODES])
        .default('mean'),
    )
    .addOption(
      new Option('--ep <ep>', 'execution provider (auto: CUDA, DirectML on Windows, WebGPU, CPU)').choices([...EP_NAMES]).default('auto'),
    )
    .option('--layers <a-b>', 'layer range to report, e.g. 0-11', layerRange)
    .addOption(new Option('--degenerate-when <c>', 'a head is degenerate when').choices([...DEGENERATE_WHEN]).default('either'))
    .option('--seed <s>', 'seed for window sampling', int('--seed'), 0)
    .option(
      '--kstar-exact-up-to <r>',
      'k* exact for heads with k* ≤ r; heads certified above r get bounds [lo, hi] (skips their full spectrum at long T)',
      int('--kstar-exact-up-to', 1),
    )
    .option('--json <out>', 'write the report (schema in README)')
    .option('--save-patterns <dir>', 'write batch-mean attention matrices (float16 safetensors)')
    .option('--quiet', 'no summary on stdout')
    .action(
      async (
        ckpt: string,
        o: {
          text?: string;
          tokens?: string;
          specialTokens: boolean;
          seqLen?: number;
          batch: number;
          tau: number;
          mode: KStarMode;
          ep: EpName;
          layers?: [number, number];
          degenerateWhen: DegenerateWhen;
          seed: number;
          kstarExactUpTo?: number;
          json?: string;
          savePatterns?: string;
          quiet?: boolean;
        },
      ) => {
        if (o.text && o.tokens) throw new InherituneError('E_ARGS', 'give --text or --tokens, not both');
        const { analyzeCheckpoint, reportText } = await import('./analysis/analyze');
        let last = -1;
        const report = await analyzeCheckpoint(
          ckpt,
          {
            seqLen: o.seqLen,
            batch: o.batch,
            tau: o.tau,
            mode: o.mode,
            ep: o.ep,
            textFile: o.text,
            tokensFile: o.tokens,
            specialTokens: o.specialTokens,
            seed: o.seed,
            layers: o.layers,
            degenerateWhen: o.degenerateWhen,
            kStarExactUpTo: o.kstarExactUpTo,
            savePatterns: o.savePatterns,
          },
          {
            signal: controller.signal,
            onProgress: (f, msg) => {
              const pct = Math.floor(f * 100);
              if (!o.quiet && process.stderr.isTTY && pct !== last) {
                last = pct;
                process.stderr.write(`\r  ${msg} ${pct}%   `);
              }
            },
          },
        );
        if (!o.quiet && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
        if (o.json) await writeJsonAtomically(o.json, report);
        if (!o.quiet) console.log(reportText(report));
      },
    );

  registerGpuCommands(program, controller.signal);
  registerTrainCommand(program, controller.signal);
  return program;
}

async function writeJsonAtomically(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.promises.writeFile(tmp, JSON.stringify(value, null, 2) + '\n');
  await fs.promises.rename(tmp, file);
}

function layerRange(v: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError('use a range such as 0-11 or a single layer');
  const a = Number(m[1]);
  const b = m[2] !== undefined ? Number(m[2]) : a;
  if (b < a) throw new InvalidArgumentError('the range must be ascending, e.g. 4-11');
  return [a, b];
}

function installSignalHandlers() {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (controller.signal.aborted) process.exit(130);
      controller.abort();
      // If the work does not stop promptly, remove half-written output ourselves.
      setTimeout(() => {
        for (const t of activeTemps) fs.rmSync(t, { recursive: true, force: true });
        process.exit(sig === 'SIGINT' ? 130 : 143);
      }, 2000).unref();
    });
  }
}

export async function main(argv: string[]): Promise<number> {
  installSignalHandlers();
  const program = buildProgram();
  program.exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('commander.')) {
      return code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help' ? 0 : 1;
    }
    if (isInherituneError(e)) {
      if (e.code === 'E_CANCELLED') {
        process.stderr.write('inheritune: cancelled; nothing was written\n');
        return 130;
      }
      process.stderr.write(`inheritune: ${e.message}\n`);
    } else {
      process.stderr.write(`inheritune: ${(e as Error)?.message ?? String(e)}\n`);
    }
    if (verbose || process.argv.includes('--verbose')) process.stderr.write(`${(e as Error)?.stack ?? ''}\n`);
    return 1;
  }
}

if (require.main === module) {
  // main() reports its own errors; the second handler is for a bug in that reporting, so it is never silent.
  main(process.argv).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`inheritune: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}

export { InherituneError };

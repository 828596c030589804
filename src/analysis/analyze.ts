/**
 * The attention analysis: tokens → layer-by-layer forward (ONNX Runtime) → per-head k*, m*, entropy, sink mass →
 * per-layer lazy verdict, Block Influence and angular distance → a versioned report. Runs in the CLI directly and in a
 * worker thread for the extension (see worker.ts), so the VS Code host stays responsive.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Checkpoint, openCheckpoint, sourcePath } from '../checkpoint/checkpoint';
import { fromFloat32 } from '../checkpoint/dtypes';
import { InherituneError, ProgressFn } from '../errors';
import { writeFolderAtomically, writeSafetensors, WriteEntry } from '../checkpoint/writer';
import type { AnalysisSettings } from '../shared/protocol';
import {
  AnalysisReport,
  DegenerateWhen,
  EpName,
  explainSuggestion,
  KStarMode,
  LayerReport,
  REPORT_SCHEMA_VERSION,
  suggestedN,
} from '../shared/report';
import { TOOL_NAME, TOOL_VERSION } from '../version';
import { hookName } from './graph/graph';
import { densePattern } from './graph/pattern';
import { prepareTokens } from './input';
import { batchMeanHead } from './metrics/headMetrics';
import { runForward } from './run/forward';
import { computeLayer, MetricsPool } from './run/layerMetrics';

/** What the analysis is asked for: the settings the panels send, plus CLI-only options. */
export interface AnalyzeSettings extends AnalysisSettings {
  degenerateWhen?: DegenerateWhen;
  /** Write the batch-mean attention matrices of the reported layers as float16 safetensors into this folder. */
  savePatterns?: string;
}

export interface RunOptions {
  signal?: AbortSignal;
  onProgress?: ProgressFn;
}

export interface ResolvedSettings {
  seqLen: number;
  batch: number;
  tau: number;
  mode: KStarMode;
  seed: number;
  ep: EpName;
  layers: [number, number];
  degenerateWhen: DegenerateWhen;
  /** null: k* exact for every head. */
  kStarExactUpTo: number | null;
}

function argError(msg: string): InherituneError {
  return new InherituneError('E_ARGS', msg);
}

/** Defaults and validation against the model (T within the context, layers within the depth, 0 < τ < 1). */
export function resolveSettings(ckpt: Checkpoint, s: AnalyzeSettings): ResolvedSettings {
  const ctx = ckpt.dims.ctx;
  const k = ckpt.dims.numLayers;
  const seqLen = s.seqLen ?? Math.min(512, ctx);
  if (!Number.isInteger(seqLen) || seqLen < 2) throw argError(`--seq-len must be a whole number ≥ 2 (got ${seqLen})`);
  if (seqLen > ctx) {
    const key = ckpt.spec.dims.ctx?.key ?? 'context length';
    throw argError(
      `--seq-len ${seqLen} is beyond the model's context length (${key} = ${ctx} in ${ckpt.configPath}); use --seq-len ${ctx} or less`,
    );
  }
  const batch = s.batch ?? 4;
  if (!Number.isInteger(batch) || batch < 1) throw argError(`--batch must be a whole number ≥ 1 (got ${batch})`);
  const tau = s.tau ?? 0.9;
  if (!(tau > 0 && tau < 1)) throw argError(`--tau must be between 0 and 1 exclusive (got ${tau})`);
  const mode = s.mode ?? 'mean';
  if (mode !== 'mean' && mode !== 'per-seq') throw argError(`--mode must be mean or per-seq (got ${mode})`);
  const layers = s.layers ?? [0, k - 1];
  if (!(layers[0] >= 0 && layers[1] >= layers[0] && layers[1] < k))
    throw argError(`--layers ${layers[0]}-${layers[1]} is outside the model's layers 0-${k - 1}`);
  const exactUpTo = s.kStarExactUpTo ?? null;
  if (exactUpTo !== null && !(Number.isInteger(exactUpTo) && exactUpTo >= 1))
    throw argError(`--kstar-exact-up-to must be a whole number ≥ 1 (got ${exactUpTo}); leave it out for an exact k* on every head`);
  return {
    seqLen,
    batch,
    tau,
    mode,
    seed: s.seed ?? 0,
    ep: s.ep ?? 'auto',
    layers,
    degenerateWhen: s.degenerateWhen ?? 'either',
    // rank ≥ T: every k* is at most T, so exact everywhere
    kStarExactUpTo: exactUpTo !== null && exactUpTo < seqLen ? exactUpTo : null,
  };
}

export async function analyzeCheckpoint(ckptPath: string, s: AnalyzeSettings = {}, o: RunOptions = {}): Promise<AnalysisReport> {
  const t0 = performance.now();
  const ckpt = await openCheckpoint(ckptPath);
  const r = resolveSettings(ckpt, s);
  const input = await prepareTokens(ckpt, {
    textFile: s.textFile,
    tokensFile: s.tokensFile,
    specialTokens: s.specialTokens,
    batch: r.batch,
    seqLen: r.seqLen,
    seed: r.seed,
  });
  const tLoaded = performance.now();
  const H = ckpt.dims.heads;
  const T = r.seqLen;
  const B = r.batch;
  const layers: LayerReport[] = [];
  const patternSink = s.savePatterns ? await PatternSink.create() : undefined;
  // Large layers go to the metrics workers so their metrics overlap onnxruntime's run of the next layers.
  // INHERITUNE_METRICS_WORKER=always|never overrides the size rule (tests, measurements).
  const workerMode = process.env.INHERITUNE_METRICS_WORKER ?? 'auto';
  const useWorker = workerMode === 'always' || (workerMode !== 'never' && B * H * T * T >= OVERLAP_MIN_ENTRIES);
  const pool = useWorker ? MetricsPool.create() : undefined;
  const inflight: Promise<{ value: LayerReport; ms: number }>[] = [];
  let settled = 0;
  let metricsMs = 0;
  const metricOpts = { tau: r.tau, mode: r.mode, degenerateWhen: r.degenerateWhen, kStarExactUpTo: r.kStarExactUpTo };
  try {
    const fwd = await runForward(
      ckpt,
      input.tokens,
      B,
      T,
      async (out) => {
        if (patternSink) {
          const dense = densePattern(out.pattern, B, H, T);
          await patternSink.add(out.layer, H, T, (h) => batchMeanHead(dense, B, H, h, T));
        }
        const job = {
          layer: out.layer,
          pattern: out.pattern,
          residPre: out.residPre,
          residPost: out.residPost,
          batch: B,
          heads: H,
          T,
          d: ckpt.dims.hidden,
          opts: metricOpts,
        };
        if (!pool) {
          const tm = performance.now();
          layers.push(computeLayer(job));
          metricsMs += performance.now() - tm;
          return;
        }
        // The output residual feeds the next layer: copy it; the pattern and the input residual are handed over.
        inflight.push(pool.compute({ ...job, residPost: job.residPost?.slice() }));
        // Bound the memory held. It also paces the forward: when the (low-priority) metrics fall behind, the forward
        // waits here and the workers get the cores (layerMetrics.ts).
        while (inflight.length - settled > MAX_INFLIGHT) await inflight[settled++];
      },
      { ep: r.ep, layers: r.layers, wantResidual: true, signal: o.signal, onProgress: o.onProgress },
    );
    for (const p of inflight) {
      const { value, ms } = await p;
      layers.push(value);
      metricsMs += ms;
    }
    if (patternSink && s.savePatterns) await patternSink.finish(s.savePatterns, ckpt, r);
    const total = performance.now() - t0;
    // Wall time of the forward (graph build, session, weight reads, onnxruntime runs); metricsMs is the metrics'
    // own compute time, which overlaps the forward when a metrics worker is used.
    const forwardMs = fwd.timings.buildMs + fwd.timings.sessionMs + fwd.timings.loadWeightsMs + fwd.timings.runMs;
    const archs = ckpt.config.architectures;
    return {
      schemaVersion: REPORT_SCHEMA_VERSION,
      tool: { name: TOOL_NAME, version: TOOL_VERSION },
      model: {
        architecture: Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : ckpt.spec.architectures[0],
        family: ckpt.spec.family,
        numLayers: ckpt.dims.numLayers,
        numHeads: H,
        numKvHeads: ckpt.dims.kvHeads,
        hiddenSize: ckpt.dims.hidden,
        params: ckpt.numParams,
        path: sourcePath(ckpt),
      },
      settings: {
        seqLen: T,
        batch: B,
        tau: r.tau,
        mode: r.mode,
        seed: r.seed,
        degenerateWhen: r.degenerateWhen,
        kStarExactUpTo: r.kStarExactUpTo,
        input: input.description,
        layers: r.layers,
      },
      input: input.input,
      executionProvider: fwd.executionProvider,
      timings: {
        totalMs: round(total),
        loadMs: round(tLoaded - t0),
        forwardMs: round(forwardMs),
        metricsMs: round(metricsMs),
        buildMs: round(fwd.timings.buildMs),
        sessionMs: round(fwd.timings.sessionMs),
        loadWeightsMs: round(fwd.timings.loadWeightsMs),
        runMs: round(fwd.timings.runMs),
      },
      suggestedN: suggestedN(layers, ckpt.dims.numLayers),
      layers,
      createdAt: new Date().toISOString(),
    };
  } finally {
    await Promise.allSettled(inflight);
    await pool?.close();
    await patternSink?.dispose();
  }
}

/** Layers with at least this many attention entries (B·H·T²) get their metrics in a worker, overlapping the forward. */
const OVERLAP_MIN_ENTRIES = 1 << 20;
/** Layers whose metrics may be pending at once (each holds its pattern: 64 MiB for 16 heads at T = 1024). */
const MAX_INFLIGHT = 2;

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** The batch-mean T×T matrix of one head, computed on request (runs the forward up to that layer). */
export async function headPattern(
  ckptPath: string,
  s: AnalyzeSettings,
  layer: number,
  head: number,
  o: RunOptions = {},
): Promise<{ T: number; data: Float32Array }> {
  const ckpt = await openCheckpoint(ckptPath);
  const r = resolveSettings(ckpt, { ...s, layers: [layer, layer] });
  if (!(head >= 0 && head < ckpt.dims.heads)) throw argError(`head ${head} is outside 0-${ckpt.dims.heads - 1}`);
  const input = await prepareTokens(ckpt, {
    textFile: s.textFile,
    tokensFile: s.tokensFile,
    specialTokens: s.specialTokens,
    batch: r.batch,
    seqLen: r.seqLen,
    seed: r.seed,
  });
  let data: Float32Array | undefined;
  await runForward(
    ckpt,
    input.tokens,
    r.batch,
    r.seqLen,
    (out) => {
      if (out.layer === layer)
        data = Float32Array.from(
          batchMeanHead(densePattern(out.pattern, r.batch, ckpt.dims.heads, r.seqLen), r.batch, ckpt.dims.heads, head, r.seqLen),
        );
    },
    { ep: r.ep, layers: [layer, layer], signal: o.signal, onProgress: o.onProgress },
  );
  if (!data) throw new InherituneError('E_RUNTIME', `layer ${layer} produced no attention pattern`);
  return { T: r.seqLen, data };
}

/**
 * Streams batch-mean patterns (float16) into a scratch file as layers arrive, then writes them as one safetensors
 * file (`blocks.{L}.attn.pattern`, [head, query, key]) by byte range: memory holds one layer at a time.
 */
class PatternSink {
  private entries: { layer: number; shape: number[]; begin: number; end: number }[] = [];
  private offset = 0;
  private constructor(
    private dir: string,
    private fh: fsp.FileHandle,
  ) {}

  static async create(): Promise<PatternSink> {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'inheritune-patterns-'));
    return new PatternSink(dir, await fsp.open(path.join(dir, 'scratch.bin'), 'w+'));
  }

  async add(layer: number, H: number, T: number, head: (h: number) => Float64Array): Promise<void> {
    const f32 = new Float32Array(H * T * T);
    for (let h = 0; h < H; h++) f32.set(head(h), h * T * T);
    const bytes = fromFloat32('F16', f32);
    await this.fh.write(bytes, 0, bytes.byteLength, this.offset);
    this.entries.push({ layer, shape: [H, T, T], begin: this.offset, end: this.offset + bytes.byteLength });
    this.offset += bytes.byteLength;
  }

  async finish(outDir: string, ckpt: Checkpoint, r: ResolvedSettings): Promise<void> {
    await this.fh.sync();
    const scratch = path.join(this.dir, 'scratch.bin');
    const entries: WriteEntry[] = this.entries.map((e) => ({
      name: hookName(e.layer, 'attn.pattern'),
      dtype: 'F16',
      shape: e.shape,
      byteLength: e.end - e.begin,
      source: { kind: 'range', file: scratch, begin: e.begin, end: e.end },
    }));
    await writeFolderAtomically(outDir, true, async (tmp) => {
      await writeSafetensors(tmp, entries, {
        metadata: {
          format: 'pt',
          inheritune: JSON.stringify({
            tool: `${TOOL_NAME} ${TOOL_VERSION}`,
            op: 'attention-patterns',
            source: sourcePath(ckpt),
            layout: '[head, query, key], batch mean',
            seqLen: r.seqLen,
            batch: r.batch,
            seed: r.seed,
          }),
        },
      });
    });
  }

  async dispose(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await fsp.rm(this.dir, { recursive: true, force: true });
  }
}

/** From this T on, exact k* of high-rank heads dominates the run (bench/RESULTS.md): the summary names the bounds mode. */
const LONG_T = 1024;

/** A short human summary for stdout. */
export function reportText(rep: AnalysisReport): string {
  const ep = rep.executionProvider;
  const skipped = ep.skipped.length ? ` (skipped: ${ep.skipped.map((x) => `${x.name}: ${x.reason}`).join('; ')})` : '';
  const lines = [
    `${rep.model.path}`,
    `  ${rep.model.architecture}: ${rep.model.numLayers} layers × ${rep.model.numHeads} heads; T = ${rep.settings.seqLen}, B = ${rep.settings.batch}, τ = ${rep.settings.tau}, mode ${rep.settings.mode}, input ${rep.settings.input}`,
    `  execution provider: ${ep.used}${ep.adapter ? ` on ${ep.adapter.description}` : ''}${skipped}`,
    '  layer  lazy  max k*  mean k*  mean m*  sink   BI',
  ];
  for (const l of rep.layers) {
    const mStar = l.heads.reduce((a, h) => a + h.mStar, 0) / l.heads.length;
    const sink = l.heads.reduce((a, h) => a + h.sinkMass, 0) / l.heads.length;
    lines.push(
      `  ${String(l.index).padStart(5)}  ${l.lazy ? ' yes' : '    '}  ${fmt(l.maxKStar, 6)}  ${fmt(l.meanKStar, 7)}  ${fmt(mStar, 7)}  ${sink.toFixed(2).padStart(4)}  ${l.blockInfluence === null ? '  -' : l.blockInfluence.toFixed(3)}`,
    );
  }
  const exactUpTo = rep.settings.kStarExactUpTo;
  if (!exactUpTo && rep.settings.seqLen >= LONG_T)
    lines.push(
      `  tip: at T = ${rep.settings.seqLen}, --kstar-exact-up-to 64 keeps k* exact up to 64 and certifies bounds for the heads above it instead of computing their full spectrum (several times faster; the report marks them)`,
    );
  if (exactUpTo) {
    const bounded = rep.layers.reduce((a, l) => a + (l.boundedHeads ?? 0), 0);
    lines.push(
      bounded
        ? `  k* exact up to ${exactUpTo}; ${bounded} head${bounded === 1 ? '' : 's'} above it reported as certified bounds [lo, hi] (max/mean k* count their lo)`
        : `  k* exact up to ${exactUpTo}; every head's k* is exact`,
    );
  }
  const lazy = rep.layers.filter((l) => l.lazy).map((l) => l.index);
  const sg = explainSuggestion(rep.layers, rep.model.numLayers);
  lines.push(
    `  lazy layers: ${lazy.length ? lazy.join(', ') : 'none'}; suggested n = ${rep.suggestedN} (${sg.because})${sg.lazyBelowN.length ? `; lazy below n: ${sg.lazyBelowN.join(', ')}` : ''}`,
  );
  lines.push(
    `  time: ${(rep.timings.totalMs / 1000).toFixed(2)} s (load ${(rep.timings.loadMs / 1000).toFixed(2)} s, forward ${(rep.timings.forwardMs / 1000).toFixed(2)} s, metrics ${(rep.timings.metricsMs / 1000).toFixed(2)} s)`,
  );
  return lines.join('\n');
}

function fmt(x: number, w: number): string {
  return (Number.isInteger(x) ? String(x) : x.toFixed(2)).padStart(w);
}

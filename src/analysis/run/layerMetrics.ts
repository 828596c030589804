/**
 * One layer's report from its attention pattern (and residual stream), computed inline or in a pool of metrics workers.
 * onnxruntime-node's run() blocks the JS thread while it computes the next layer, and the metrics are single-threaded
 * JS/WASM: handing layer L's metrics to a worker while onnxruntime runs layer L+1 lets the two overlap.
 *
 * The workers run at the lowest priority (nice 19, Linux): they take the cores only while onnxruntime leaves them
 * idle (a worker that preempts onnxruntime's pool thread makes the thread that called run() spin), and the bound on
 * layers in flight (analyze.ts) makes the forward wait when the metrics fall behind. Two workers, so that both cores
 * work then. The measurements behind these choices, and what was tried and dropped: docs/design/performance-notes.md.
 * Imports graph/, metrics/, src/shared, checkpoint errors and this folder.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { InherituneError } from '../../errors';
import { isDegenerate, type DegenerateWhen, type LayerReport } from '../../shared/report';
import { blockRowOf, DenseScratch, PatternBlock } from '../graph/pattern';
import { angularDistance, blockInfluence } from '../metrics/blockInfluence';
import { headMetricsOneSeq, layerHeadMetrics, MetricOptions } from '../metrics/headMetrics';
import { numThreads } from './providers';
import { threadCpuMs } from './thread';

export interface LayerJob {
  layer: number;
  pattern: PatternBlock[]; // [batch, head, query, key] in blocks of query rows (../graph/pattern.ts)
  residPre?: Float32Array; // [batch, query, d]
  residPost?: Float32Array;
  batch: number;
  heads: number;
  T: number;
  d: number;
  opts: MetricOptions & { degenerateWhen: DegenerateWhen };
}

/** This thread's dense copy of blocked patterns of several sequences (reused: its zeros stay put). */
const scratch = new DenseScratch();

export function computeLayer(j: LayerJob): LayerReport {
  // One sequence: each head straight from its blocks (no dense copy of the layer: 16 MiB at T = 512, 64 at 1024).
  const heads =
    j.batch === 1
      ? Array.from({ length: j.heads }, (_, h) => headMetricsOneSeq(blockRowOf(j.pattern, j.heads, h, j.T), j.T, j.opts))
      : layerHeadMetrics(scratch.dense(j.pattern, j.batch, j.heads, j.T), j.batch, j.heads, j.T, j.opts);
  const ks = heads.map((h) => h.kStar);
  const resid = j.residPre && j.residPost;
  return {
    index: j.layer,
    lazy: heads.every((h) => isDegenerate(h, j.opts.degenerateWhen)),
    maxKStar: Math.max(...ks),
    meanKStar: ks.reduce((a, b) => a + b, 0) / ks.length,
    ...(j.opts.kStarExactUpTo ? { boundedHeads: heads.filter((h) => h.kStarBounds).length } : {}),
    blockInfluence: resid ? blockInfluence(j.residPre!, j.residPost!, j.batch, j.T, j.d) : null,
    angularDistance: resid ? angularDistance(j.residPre!, j.residPost!, j.batch, j.T, j.d) : null,
    heads,
  };
}

export type MetricsWorkerRequest = { type: 'layerMetrics'; id: number; job: LayerJob };
export type MetricsWorkerReply =
  | { type: 'started'; nice: number | null }
  | { type: 'layerResult'; id: number; value: LayerReport; ms: number }
  | { type: 'layerError'; id: number; message: string };

/** workerData of a metrics worker (metricsWorker.ts). */
export interface MetricsWorkerData {
  nice: number;
}

/** The nice value of the metrics workers: the lowest priority. */
export const METRICS_NICE = 19;

/** computeLayer with its cost: the thread's CPU time where known, else wall time. */
export function computeLayerTimed(job: LayerJob): { value: LayerReport; ms: number } {
  const c0 = threadCpuMs();
  const t0 = performance.now();
  const value = computeLayer(job);
  const c1 = threadCpuMs();
  return { value, ms: c0 !== undefined && c1 !== undefined ? c1 - c0 : performance.now() - t0 };
}

/** dist/metricsWorker.js beside the bundle; from sources (tests), the built one. */
function workerPath(): string | undefined {
  const candidates = [path.join(__dirname, 'metricsWorker.js'), path.resolve(__dirname, '../../../dist/metricsWorker.js')];
  return candidates.find((p): p is string => !!p && existsSync(p));
}

/** A persistent low-priority worker computing layer reports in order of submission. */
class MetricsWorker {
  private pending = new Map<number, { resolve: (v: { value: LayerReport; ms: number }) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  /** The worker's nice value once it has started (null: left at the process's priority). */
  readonly nice: Promise<number | null>;

  constructor(private worker: Worker) {
    let started: (nice: number | null) => void = () => undefined;
    this.nice = new Promise((resolve) => (started = resolve));
    worker.on('message', (m: MetricsWorkerReply) => {
      if (m.type === 'started') {
        started(m.nice);
        return;
      }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'layerResult') p.resolve({ value: m.value, ms: m.ms });
      else p.reject(new InherituneError('E_RUNTIME', `metrics worker: ${m.message}`));
    });
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', (code) => {
      started(null);
      this.failAll(new InherituneError('E_RUNTIME', `metrics worker exited with code ${code}`));
    });
  }

  compute(job: LayerJob): Promise<{ value: LayerReport; ms: number }> {
    const id = this.nextId++;
    const msg: MetricsWorkerRequest = { type: 'layerMetrics', id, job };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        // Hand over the pattern blocks and the input residual without a copy (none is used after this) when they
        // own their whole buffers.
        const own = (a?: Float32Array): a is Float32Array =>
          !!a && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && !(a.buffer instanceof SharedArrayBuffer);
        this.worker.postMessage(
          msg,
          [...job.pattern.map((b) => b.data), job.residPre].filter(own).map((a) => a.buffer as ArrayBuffer),
        );
      } catch {
        this.worker.postMessage(msg);
      }
    });
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

/**
 * Metrics workers (two, as measured; one on a single core) taking the layers in turn. Results come back per layer;
 * the caller awaits them in layer order.
 */
export class MetricsPool {
  private turn = 0;

  private constructor(private readonly workers: MetricsWorker[]) {}

  /** undefined when the built worker script (dist/metricsWorker.js) is not there: the caller computes inline. */
  static create(size = Math.min(2, numThreads())): MetricsPool | undefined {
    const p = workerPath();
    if (!p) return undefined;
    const workerData: MetricsWorkerData = { nice: METRICS_NICE };
    return new MetricsPool(Array.from({ length: Math.max(1, size) }, () => new MetricsWorker(new Worker(p, { workerData }))));
  }

  get size(): number {
    return this.workers.length;
  }

  compute(job: LayerJob): Promise<{ value: LayerReport; ms: number }> {
    return this.workers[this.turn++ % this.workers.length].compute(job);
  }

  /** Each worker's nice value once started (null where the platform left it alone). */
  niceValues(): Promise<(number | null)[]> {
    return Promise.all(this.workers.map((w) => w.nice));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

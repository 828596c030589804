/**
 * One layer's report from its attention pattern (and residual stream), computed inline or in a metrics worker.
 * onnxruntime-node's run() blocks the JS thread while it computes the next layer on every core it was given, and the
 * metrics are single-threaded JS/WASM: measured on the GPT-2-medium benchmark at T = 1024, the process used 6.4 s of
 * CPU in 5.3 s of wall time. Handing the metrics of layer L to a worker while onnxruntime runs layer L+1 lets the two
 * overlap. Tried and measured worse there (whole analysis, T = 1024, 2 cores): splitting each layer's heads between
 * this thread and a worker while onnxruntime waits, so the two never compete for the cores (9.8 s against 9.3 s: the
 * parts rarely finish together and the worker's part must be copied); a second worker, or the worker at nice 19
 * (no gain: the work is CPU-bound, ~17 CPU-s in 9.3 s).
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { InherituneError } from '../checkpoint/errors';
import type { LayerReport } from '../shared/report';
import { angularDistance, blockInfluence, isDegenerate, layerHeadMetrics, MetricOptions } from './metrics';

export interface LayerJob {
  layer: number;
  pattern: Float32Array; // [batch, head, query, key]
  residPre?: Float32Array; // [batch, query, d]
  residPost?: Float32Array;
  batch: number;
  heads: number;
  T: number;
  d: number;
  opts: MetricOptions & { degenerateWhen: 'kStar' | 'mStar' | 'either' };
}

export function computeLayer(j: LayerJob): LayerReport {
  const heads = layerHeadMetrics(j.pattern, j.batch, j.heads, j.T, j.opts);
  const ks = heads.map((h) => h.kStar);
  const resid = j.residPre && j.residPost;
  return {
    index: j.layer,
    lazy: heads.every((h) => isDegenerate(h, j.opts.degenerateWhen)),
    maxKStar: Math.max(...ks),
    meanKStar: ks.reduce((a, b) => a + b, 0) / ks.length,
    blockInfluence: resid ? blockInfluence(j.residPre!, j.residPost!, j.batch, j.T, j.d) : null,
    angularDistance: resid ? angularDistance(j.residPre!, j.residPost!, j.batch, j.T, j.d) : null,
    heads,
  };
}

export type MetricsWorkerRequest = { type: 'layerMetrics'; id: number; job: LayerJob };
export type MetricsWorkerReply = { type: 'layerResult'; id: number; value: LayerReport; ms: number } | { type: 'layerError'; id: number; message: string };

function workerPath(): string | undefined {
  const candidates = [process.env.INHERITUNE_WORKER, path.join(__dirname, 'worker.js'), path.resolve(__dirname, '../../dist/worker.js')];
  return candidates.find((p): p is string => !!p && existsSync(p));
}

/** A persistent worker computing layer reports in order of submission. */
export class MetricsWorker {
  private pending = new Map<number, { resolve: (v: { value: LayerReport; ms: number }) => void; reject: (e: Error) => void }>();
  private nextId = 0;

  private constructor(private worker: Worker) {
    worker.on('message', (m: MetricsWorkerReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'layerResult') p.resolve({ value: m.value, ms: m.ms });
      else p.reject(new InherituneError('E_RUNTIME', `metrics worker: ${m.message}`));
    });
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', (code) => this.failAll(new InherituneError('E_RUNTIME', `metrics worker exited with code ${code}`)));
  }

  /** undefined when the built worker script is not there (sources run without a build): the caller computes inline. */
  static create(): MetricsWorker | undefined {
    const p = workerPath();
    return p ? new MetricsWorker(new Worker(p)) : undefined;
  }

  compute(job: LayerJob): Promise<{ value: LayerReport; ms: number }> {
    const id = this.nextId++;
    const msg: MetricsWorkerRequest = { type: 'layerMetrics', id, job };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        // Hand over the pattern and the input residual without a copy (neither is used after this) when they own
        // their whole buffers.
        const own = (a?: Float32Array): a is Float32Array => !!a && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && !(a.buffer instanceof SharedArrayBuffer);
        this.worker.postMessage(msg, [job.pattern, job.residPre].filter(own).map((a) => a.buffer as ArrayBuffer));
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

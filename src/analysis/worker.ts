/**
 * Worker-thread entry (dist/worker.js): runs analyses off the extension host's main thread. Protocol: the parent
 * posts one request; the worker posts progress messages and then one result or error, and exits. Abort: post
 * { type: 'abort' } and the analysis stops between layers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isInherituneError } from '../checkpoint/errors';
import { analyzeCheckpoint, AnalyzeSettings, headPattern } from './analyze';
import { computeLayerTimed, isMetricsWorkerData, lowerThreadPriority, MetricsWorkerReply, MetricsWorkerRequest } from './layerMetrics';

export type WorkerRequest =
  | { type: 'analyze'; ckpt: string; settings: AnalyzeSettings }
  | { type: 'headPattern'; ckpt: string; settings: AnalyzeSettings; layer: number; head: number }
  | { type: 'abort' };

export type WorkerReply =
  | { type: 'progress'; fraction: number; message: string }
  | { type: 'result'; value: unknown }
  | { type: 'error'; code: string; message: string; stack?: string };

if (parentPort) {
  const port = parentPort;
  // A metrics worker (layerMetrics.ts) runs at the lowest priority and says so once; an analysis worker (the
  // extension's) keeps the process's priority.
  if (isMetricsWorkerData(workerData)) port.postMessage({ type: 'started', nice: lowerThreadPriority(workerData.nice) } satisfies MetricsWorkerReply);
  const controller = new AbortController();
  const onProgress = (fraction: number, message: string) => port.postMessage({ type: 'progress', fraction, message } satisfies WorkerReply);
  port.on('message', async (msg: WorkerRequest | MetricsWorkerRequest) => {
    if (msg.type === 'layerMetrics') {
      // Persistent metrics worker (layerMetrics.ts): one reply per layer, the worker stays up.
      try {
        const { value, ms } = computeLayerTimed(msg.job);
        port.postMessage({ type: 'layerResult', id: msg.id, value, ms } satisfies MetricsWorkerReply);
      } catch (e) {
        port.postMessage({ type: 'layerError', id: msg.id, message: (e as Error)?.message ?? String(e) } satisfies MetricsWorkerReply);
      }
      return;
    }
    if (msg.type === 'abort') {
      controller.abort();
      return;
    }
    try {
      if (msg.type === 'analyze') {
        const value = await analyzeCheckpoint(msg.ckpt, msg.settings, { signal: controller.signal, onProgress });
        port.postMessage({ type: 'result', value } satisfies WorkerReply);
      } else {
        const value = await headPattern(msg.ckpt, msg.settings, msg.layer, msg.head, { signal: controller.signal, onProgress });
        port.postMessage({ type: 'result', value } satisfies WorkerReply, [value.data.buffer as ArrayBuffer]);
      }
    } catch (e) {
      port.postMessage({ type: 'error', code: isInherituneError(e) ? e.code : 'E_RUNTIME', message: (e as Error)?.message ?? String(e), stack: (e as Error)?.stack } satisfies WorkerReply);
    }
  });
}

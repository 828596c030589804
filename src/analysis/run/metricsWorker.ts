/**
 * Metrics worker entry (dist/metricsWorker.js, an esbuild entry point; MetricsPool in layerMetrics.ts starts two). It
 * lowers its priority before it loads anything else, then loads the metrics code and answers one request per layer.
 * Kept apart from ../worker.ts (whole analyses for the extension), whose bundle also carries the onnxruntime glue, the
 * tokenizers and onnx-proto: a small bundle to load per worker (docs/design/performance-notes.md).
 * Imports node:worker_threads and this folder (layerMetrics.ts, loaded after the priority is lowered).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { MetricsWorkerReply, MetricsWorkerRequest } from './layerMetrics';
import { lowerThreadPriority } from './thread';

const port = parentPort;
if (port) {
  const want = (workerData as { nice?: unknown } | undefined)?.nice;
  const nice = typeof want === 'number' ? lowerThreadPriority(want) : null;
  // Requests posted meanwhile wait in the port until the listener below is attached.
  void import('./layerMetrics').then(({ computeLayerTimed }) => {
    port.on('message', (msg: MetricsWorkerRequest) => {
      try {
        const { value, ms } = computeLayerTimed(msg.job);
        port.postMessage({ type: 'layerResult', id: msg.id, value, ms } satisfies MetricsWorkerReply);
      } catch (e) {
        port.postMessage({ type: 'layerError', id: msg.id, message: (e as Error)?.message ?? String(e) } satisfies MetricsWorkerReply);
      }
    });
    port.postMessage({ type: 'started', nice } satisfies MetricsWorkerReply);
  });
}

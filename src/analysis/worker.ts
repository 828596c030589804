/**
 * Worker-thread entry (dist/worker.js): runs analyses off the extension host's main thread. Protocol: the parent
 * posts one request; the worker posts progress messages and then one result or error, and exits. Abort: post
 * { type: 'abort' } and the analysis stops between layers.
 * Imports analyze.ts (beside it, not in run/: run/ is what analyze.ts uses) and checkpoint errors.
 */
import { parentPort } from 'node:worker_threads';
import { isInherituneError } from '../errors';
import { analyzeCheckpoint, AnalyzeSettings, headPattern } from './analyze';

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
  const controller = new AbortController();
  const onProgress = (fraction: number, message: string) => port.postMessage({ type: 'progress', fraction, message } satisfies WorkerReply);
  port.on('message', async (msg: WorkerRequest) => {
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
      port.postMessage({
        type: 'error',
        code: isInherituneError(e) ? e.code : 'E_RUNTIME',
        message: (e as Error)?.message ?? String(e),
        stack: (e as Error)?.stack,
      } satisfies WorkerReply);
    }
  });
}

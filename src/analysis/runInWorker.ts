/**
 * Run analyses in a worker thread (dist/worker.js, worker.ts) so the extension host stays responsive. Beside
 * analyze.ts rather than in run/, as worker.ts is: they wrap the whole analysis. Imports checkpoint errors, src/shared
 * and the types of analyze.ts and worker.ts.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { cancelled, ErrorCode, InherituneError, ProgressFn } from '../errors';
import { AnalysisReport } from '../shared/report';
import type { AnalyzeSettings } from './analyze';
import type { WorkerReply, WorkerRequest } from './worker';

export type { AnalyzeSettings } from './analyze';

/** dist/worker.js beside the bundle; from sources (tests), the built one. */
export function workerScript(): string {
  const candidates = [process.env.INHERITUNE_WORKER, path.join(__dirname, 'worker.js'), path.resolve(__dirname, '../../dist/worker.js')];
  const found = candidates.find((p): p is string => !!p && existsSync(p));
  if (!found)
    throw new InherituneError(
      'E_RUNTIME',
      `analysis worker not found (looked for ${candidates.filter(Boolean).join(', ')}); run the build (node esbuild.mjs)`,
    );
  return found;
}

function run<T>(req: WorkerRequest, o: { signal?: AbortSignal; onProgress?: ProgressFn }): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (o.signal?.aborted) return reject(cancelled());
    const worker = new Worker(workerScript());
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      o.signal?.removeEventListener('abort', onAbort);
      fn();
      void worker.terminate();
    };
    const onAbort = () => worker.postMessage({ type: 'abort' } satisfies WorkerRequest);
    o.signal?.addEventListener('abort', onAbort);
    worker.on('message', (m: WorkerReply) => {
      if (m.type === 'progress') o.onProgress?.(m.fraction, m.message);
      else if (m.type === 'result') finish(() => resolve(m.value as T));
      else finish(() => reject(Object.assign(new InherituneError(m.code as ErrorCode, m.message), { stack: m.stack })));
    });
    worker.on('error', (e) => finish(() => reject(e)));
    worker.on('exit', (code) => finish(() => reject(new InherituneError('E_RUNTIME', `analysis worker exited with code ${code}`))));
    worker.postMessage(req);
  });
}

export function analyzeInWorker(
  ckptPath: string,
  s: AnalyzeSettings,
  o: { signal?: AbortSignal; onProgress?: ProgressFn } = {},
): Promise<AnalysisReport> {
  return run<AnalysisReport>({ type: 'analyze', ckpt: ckptPath, settings: s }, o);
}

export function headPatternInWorker(
  ckptPath: string,
  s: AnalyzeSettings,
  layer: number,
  head: number,
  o: { signal?: AbortSignal } = {},
): Promise<{ T: number; data: Float32Array }> {
  return run<{ T: number; data: Float32Array }>({ type: 'headPattern', ckpt: ckptPath, settings: s, layer, head }, o);
}

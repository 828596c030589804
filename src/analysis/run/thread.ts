/**
 * The calling thread's scheduling priority and CPU time (Linux, by thread id; elsewhere Node has no per-thread calls).
 * Small on purpose: the metrics worker (metricsWorker.ts) lowers its priority with it before it loads anything else.
 * Imports node:* only.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Lowers the calling thread's priority to `nice`: on Linux by setpriority on its thread id (from /proc/thread-self);
 * a thread may always lower its own priority. Node has no per-thread call elsewhere (os.setPriority on the process
 * id would slow the whole process down), so nothing changes there. Returns the thread's nice value afterwards, or
 * null where it was left alone.
 */
export function lowerThreadPriority(nice: number): number | null {
  if (process.platform !== 'linux') return null;
  try {
    const tid = Number(path.basename(readlinkSync('/proc/thread-self')));
    if (!Number.isInteger(tid) || tid <= 0) return null;
    os.setPriority(tid, nice);
    return os.getPriority(tid);
  } catch {
    return null;
  }
}

/**
 * CPU time of the calling thread in ms (Linux: /proc/thread-self/schedstat, in nanoseconds), or undefined elsewhere.
 * The metrics workers report it per layer: at nice 19 their wall time also counts the time they wait for a core.
 */
export function threadCpuMs(): number | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const ns = Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
    return Number.isFinite(ns) ? ns / 1e6 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Execution providers for onnxruntime-node: `auto` tries CUDA (only when its binaries are installed), then WebGPU,
 * then CPU, and records which one it used and why it skipped the others. An explicitly requested provider that
 * cannot start is an error with the reason onnxruntime gave.
 * Imports checkpoint errors, gpu/ (the CUDA install state), src/shared and onnxruntime-node (loaded lazily).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cudaInstallState, loadCudaEpSpec } from '../../gpu/metadata';
import type { InferenceSession } from 'onnxruntime-node';
import { InherituneError } from '../../errors';
import { EP_NAMES, type AdapterReport, type EpName, type ExecutionProviderReport } from '../../shared/report';
import { autoSkipReason, cpuAdapter, cudaAdapter, probeWebgpuAdapter } from './adapter';
/** The order `auto` tries: CUDA, then DirectML (bundled on Windows only), then WebGPU, then CPU. */
export const AUTO_ORDER: readonly Exclude<EpName, 'auto'>[] =
  process.platform === 'win32' ? ['cuda', 'dml', 'webgpu', 'cpu'] : ['cuda', 'webgpu', 'cpu'];

type Ort = typeof import('onnxruntime-node');
let ortModule: Ort | undefined;

/** onnxruntime-node, loaded on first use (it is a native module: keep it out of code paths that do not need it). */
export function ort(): Ort {
  if (!ortModule) {
    try {
      ortModule = require('onnxruntime-node') as Ort;
    } catch (e) {
      throw new InherituneError(
        'E_RUNTIME',
        `onnxruntime-node could not be loaded (${(e as Error).message}); reinstall the extension or run \`npm install\``,
      );
    }
  }
  return ortModule;
}

export function numThreads(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** Where onnxruntime-node keeps its native binding for this platform. */
export function bindingDir(): string {
  const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
  return path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

const CUDA_LIB: Partial<Record<NodeJS.Platform, string>> = {
  linux: 'libonnxruntime_providers_cuda.so',
  win32: 'onnxruntime_providers_cuda.dll',
};

/** Why CUDA cannot be tried here, or undefined when its binaries are present. */
export function cudaUnavailableReason(): string | undefined {
  let backends: { name: string; bundled: boolean }[] = [];
  try {
    backends = ort().listSupportedBackends();
  } catch (e) {
    return `onnxruntime-node cannot list its backends (${(e as Error).message})`;
  }
  const cuda = backends.find((b) => b.name === 'cuda');
  if (!cuda) return `onnxruntime-node has no CUDA EP for ${process.platform}/${process.arch}`;
  if (cuda.bundled) return undefined;
  const lib = CUDA_LIB[process.platform];
  if (!lib) return `onnxruntime-node has no CUDA EP for ${process.platform}/${process.arch}`;
  let dir: string;
  try {
    dir = bindingDir();
  } catch (e) {
    return `cannot locate onnxruntime-node's binding folder (${(e as Error).message})`;
  }
  if (!fs.existsSync(path.join(dir, lib)))
    return `CUDA EP binaries not installed (${lib} is not in ${dir}; run \`inheritune install-gpu\`)`;
  // An install of ours that is incomplete or for another onnxruntime version is never loaded. Files without our
  // manifest (onnxruntime-node's own installer, ONNXRUNTIME_NODE_INSTALL=cuda12) are tried as they are.
  try {
    const st = cudaInstallState(dir, loadCudaEpSpec());
    if (st.state === 'incomplete' || st.state === 'stale') return st.reason;
  } catch {
    /* no spec for this platform: fall through and let onnxruntime decide */
  }
  return undefined;
}

export function sessionOptions(ep: Exclude<EpName, 'auto'>, extra: InferenceSession.SessionOptions = {}): InferenceSession.SessionOptions {
  return {
    executionProviders: [ep],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: numThreads(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
    // Idle intra-op threads sleep instead of spinning, leaving the cores to the metrics worker between kernels.
    ...(process.env.INHERITUNE_ORT_SPIN === '1' ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
    ...extra,
  };
}

/** First line of an onnxruntime error, without the source path prefix it carries. */
export function shortReason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const line = msg.split('\n').find((l) => l.trim().length > 0) ?? msg;
  // "/onnxruntime_src/.../webgpu_context.cc:136 ... was false. Failed to get a WebGPU adapter: No supported adapters"
  const m = /(?:was false\.|\] :\s*\d+ : \w+ :)\s*(.+)$/.exec(line);
  const s = (m ? m[1] : line).trim();
  return s.length > 300 ? s.slice(0, 297) + '...' : s;
}

/** Folders the dynamic loader searches for libvulkan.so.1 (LD_LIBRARY_PATH first, then the usual system ones). */
function loaderDirs(): string[] {
  const fromEnv = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  return [
    ...fromEnv,
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/lib/x86_64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/usr/local/lib',
  ];
}

/**
 * WebGPU on Linux runs on Vulkan: without the Vulkan loader it cannot find an adapter, and trying anyway makes the
 * native library print a warning on stderr. Say why up front instead. Other platforms are left to onnxruntime.
 */
export function webgpuUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  if (loaderDirs().some((d) => fs.existsSync(path.join(d, 'libvulkan.so.1')))) return undefined;
  return "no Vulkan loader (libvulkan.so.1) on this machine, so WebGPU has no adapter; install libvulkan1 and your GPU's Vulkan driver";
}

/**
 * Providers that failed to start in this process under `auto`, with the reason: a machine without a GPU adapter does
 * not grow one, so later runs skip them at once (and without the native library's log noise).
 */
const failedInProcess = new Map<string, string>();

export interface SessionChoice {
  session: InferenceSession;
  report: ExecutionProviderReport;
}

/**
 * Create a session for `model` on the requested provider. `auto` falls through CUDA → WebGPU → CPU, recording a
 * reason for each provider it skipped (a software WebGPU adapter is skipped); an explicit provider that fails is an
 * InherituneError with the reason. The report names the adapter the session runs on.
 */
export async function createSession(
  model: Uint8Array,
  requested: EpName = 'auto',
  extra: InferenceSession.SessionOptions = {},
): Promise<SessionChoice> {
  if (!EP_NAMES.includes(requested))
    throw new InherituneError('E_ARGS', `unknown execution provider "${requested}"; choose one of ${EP_NAMES.join(', ')}`);
  const o = ort();
  const candidates = requested === 'auto' ? AUTO_ORDER : [requested];
  const skipped: { name: string; reason: string }[] = [];
  for (const ep of candidates) {
    let adapter: AdapterReport | undefined;
    if (ep === 'cuda') {
      const why = cudaUnavailableReason();
      if (why) {
        if (requested !== 'auto') throw new InherituneError('E_RUNTIME', `execution provider cuda: ${why}`, { ep });
        skipped.push({ name: ep, reason: why });
        continue;
      }
    }
    if (ep === 'dml' && process.platform !== 'win32') {
      throw new InherituneError(
        'E_RUNTIME',
        `execution provider dml: DirectML is only available on Windows (this is ${process.platform})`,
        { ep },
      );
    }
    if (ep === 'webgpu') {
      const why = webgpuUnavailableReason();
      if (why) {
        if (requested !== 'auto') throw new InherituneError('E_RUNTIME', `execution provider webgpu: ${why}`, { ep });
        skipped.push({ name: ep, reason: why });
        continue;
      }
      // Which adapter Dawn would open (src/analysis/adapter.ts): auto never runs on a software one.
      const probe = await probeWebgpuAdapter();
      const skip = requested === 'auto' ? autoSkipReason(probe) : undefined;
      if (skip) {
        skipped.push({ name: ep, reason: skip });
        continue;
      }
      adapter = probe.adapter;
    }
    const earlier = requested === 'auto' ? failedInProcess.get(ep) : undefined;
    if (earlier) {
      skipped.push({ name: ep, reason: earlier });
      continue;
    }
    try {
      const session = await o.InferenceSession.create(model, sessionOptions(ep, extra));
      adapter ??= ep === 'cpu' ? cpuAdapter() : ep === 'cuda' ? cudaAdapter() : undefined;
      return { session, report: { requested, used: ep, skipped, ...(adapter ? { adapter } : {}) } };
    } catch (e) {
      const reason = `session creation failed: ${shortReason(e)}`;
      if (requested !== 'auto' || ep === 'cpu')
        throw new InherituneError('E_RUNTIME', `execution provider ${ep}: ${reason}`, { ep, skipped });
      failedInProcess.set(ep, reason);
      skipped.push({ name: ep, reason });
    }
  }
  // unreachable: cpu either returns or throws
  throw new InherituneError('E_RUNTIME', `no execution provider could start (${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')})`);
}

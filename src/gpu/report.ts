/**
 * gpu-check: the install state of the CUDA EP files, what CUDA needs on this machine, and whether the WebGPU (and,
 * when installed, CUDA) execution providers actually start; summarised as the status the extension shows.
 */
import * as path from 'node:path';
import { checkCudaRequirements, CudaRequirements, cudaLibsFromNeeded, nodeSystemIo, SystemIo } from './check';
import { readElfDynamicFile } from './elf';
import {
  CUDA_PROVIDER_LIB,
  CudaEpSpec,
  CudaInstallState,
  cudaInstallState,
  loadCudaEpSpec,
  ortBinDir,
  ortPackageDir,
  verifyCudaInstall,
} from './metadata';
import { EpProbe, probeEp } from './probe';

export type GpuLabel = 'CUDA EP ready' | 'WebGPU' | 'CPU only';

export interface GpuCheckReport {
  platform: string;
  ortDir?: string;
  ortVersion?: string;
  binDir?: string;
  spec?: Pick<CudaEpSpec, 'packageId' | 'candidates' | 'files' | 'source'>;
  install: CudaInstallState | { state: 'unsupported'; reason: string };
  requirements: CudaRequirements;
  probes: EpProbe[];
  status: { label: GpuLabel; best: 'cuda' | 'webgpu' | 'cpu'; summary: string };
}

/** The status from its parts (pure). */
export function summarizeStatus(install: GpuCheckReport['install'], req: CudaRequirements, probes: EpProbe[]): GpuCheckReport['status'] {
  const cuda = probes.find((p) => p.ep === 'cuda');
  const webgpu = probes.find((p) => p.ep === 'webgpu');
  if (install.state === 'installed' && req.ok && (!cuda || cuda.ok)) {
    return {
      label: 'CUDA EP ready',
      best: 'cuda',
      summary: `CUDA EP ready${req.driver.gpus.length ? ` on ${req.driver.gpus.join(', ')}` : ''} (driver ${req.driver.version})`,
    };
  }
  const whyNotCuda =
    install.state !== 'installed'
      ? install.reason
      : !req.ok
        ? `CUDA needs: ${[...(req.driver.ok ? [] : ['an NVIDIA driver']), ...req.missing].join(', ')}`
        : `CUDA session failed: ${cuda?.error}`;
  if (webgpu?.ok) return { label: 'WebGPU', best: 'webgpu', summary: `WebGPU works; ${whyNotCuda}` };
  return { label: 'CPU only', best: 'cpu', summary: `CPU only: ${whyNotCuda}; WebGPU: ${webgpu ? webgpu.error : 'not tried'}` };
}

export interface GpuCheckOptions {
  io?: SystemIo;
  /** Run the session probes (default true). */
  probe?: boolean;
  /** Re-hash the installed files (SHA-256). */
  verify?: boolean;
  ortDir?: string;
  binDir?: string;
  execPath?: string;
  signal?: AbortSignal;
}

export async function runGpuCheck(o: GpuCheckOptions = {}): Promise<GpuCheckReport> {
  const io = o.io ?? nodeSystemIo();
  const platform = `${io.platform}/${io.arch}`;
  let ortDir: string | undefined;
  let spec: CudaEpSpec | undefined;
  let binDir = o.binDir;
  let install: GpuCheckReport['install'];
  try {
    ortDir = o.ortDir ?? ortPackageDir();
    binDir ??= ortBinDir(ortDir);
    spec = loadCudaEpSpec(ortDir, platform);
    install = o.verify ? await verifyCudaInstall(binDir, spec) : cudaInstallState(binDir, spec);
  } catch (e) {
    install = { state: 'unsupported', reason: (e as Error).message };
  }
  // What the installed provider library itself asks for, when it is there.
  let required: string[] | undefined;
  let listSource: string | undefined;
  if (binDir && install.state !== 'absent' && install.state !== 'unsupported') {
    const lib = path.join(binDir, CUDA_PROVIDER_LIB);
    const dyn = readElfDynamicFile(lib);
    if (dyn) {
      required = cudaLibsFromNeeded(dyn.needed);
      listSource = `DT_NEEDED of ${lib}`;
    }
  }
  const requirements = await checkCudaRequirements(io, { required, listSource, ortVersion: spec?.ortVersion });
  const probes: EpProbe[] = [];
  if (o.probe !== false && ortDir) {
    probes.push(await probeEp('webgpu', { ortDir, execPath: o.execPath, signal: o.signal }));
    if (install.state === 'installed' && requirements.ok)
      probes.push(await probeEp('cuda', { ortDir, execPath: o.execPath, signal: o.signal }));
  }
  return {
    platform,
    ortDir,
    ortVersion: spec?.ortVersion,
    binDir,
    spec: spec && { packageId: spec.packageId, candidates: spec.candidates, files: spec.files, source: spec.source },
    install,
    requirements,
    probes,
    status: summarizeStatus(install, requirements, probes),
  };
}

/** The report as text (CLI stdout and the extension's output channel). */
export function gpuCheckText(r: GpuCheckReport): string {
  const L: string[] = [];
  const mark = (ok: boolean) => (ok ? 'ok  ' : 'MISSING');
  L.push(`GPU status: ${r.status.label} — ${r.status.summary}`);
  L.push('');
  L.push(`onnxruntime-node ${r.ortVersion ?? '?'} (${r.platform})${r.binDir ? `, binding folder ${r.binDir}` : ''}`);
  L.push(`CUDA EP files: ${r.install.state} — ${r.install.reason}`);
  const q = r.requirements;
  if (q.supported) {
    L.push('');
    L.push(`CUDA execution provider needs (${q.listSource}):`);
    L.push(
      `  ${mark(q.driver.ok).padEnd(7)} NVIDIA driver${q.driver.version ? ` ${q.driver.version} (${q.driver.source})` : ''}${q.driver.gpus.length ? `, ${q.driver.gpus.join(', ')}` : ''}${q.driver.problem ? `: ${q.driver.problem}` : ''}`,
    );
    for (const l of q.libs) {
      L.push(
        `  ${mark(l.loadable).padEnd(7)} ${l.soname.padEnd(20)} ${l.what}${l.loadable ? ` — ${l.path} (${l.via})` : l.elsewhere.length ? ` — not on the loader's path; found at ${l.elsewhere.join(', ')}` : ''}`,
      );
    }
    if (q.fixes.length) {
      L.push('');
      L.push('To fix:');
      for (const f of q.fixes) L.push(`  - ${f}`);
    }
  }
  for (const n of q.notes) L.push(`note: ${n}`);
  if (r.probes.length) {
    L.push('');
    L.push('Session test (1-node Add model):');
    for (const p of r.probes) {
      L.push(`  ${(p.ok ? 'ok' : 'FAILED').padEnd(7)} ${p.ep.padEnd(7)} ${p.ok ? `${p.ms} ms` : p.error}`);
      if (p.hint) L.push(`          ${p.hint}`);
    }
  }
  return L.join('\n');
}

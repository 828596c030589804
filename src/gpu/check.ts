/**
 * What onnxruntime's CUDA execution provider needs on this machine, found or not, and how to get what is missing.
 * `checkCudaRequirements` is pure over `SystemIo` (files, directory listings, commands, environment), so tests
 * inject fakes; `nodeSystemIo()` is the real one.
 *
 * "Loadable" means the dynamic loader will find the library when the process starts: in the ldconfig cache, in a
 * LD_LIBRARY_PATH folder, or in a default system folder. A library that exists elsewhere (a pip wheel, a CUDA
 * toolkit not registered with ldconfig) is reported with the LD_LIBRARY_PATH line that makes it loadable.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface RunResult {
  status: number | null;
  stdout: string;
}

export interface SystemIo {
  platform: string;
  arch: string;
  env: Record<string, string | undefined>;
  /** undefined when missing or unreadable. */
  readFile(file: string): string | undefined;
  isFile(file: string): boolean;
  /** [] when missing. */
  listDir(dir: string): string[];
  /** undefined when the command cannot be started (not installed). */
  run(cmd: string, args: string[]): Promise<RunResult | undefined>;
}

/** One library the CUDA EP needs, and where it comes from. */
export interface LibSource {
  soname: string;
  what: string;
  /** apt packages: Debian/Ubuntu archive name, and NVIDIA's CUDA repository name. */
  apt: string;
  /** pip wheel that ships it, and the folder under site-packages it lands in. */
  pip?: string;
  pipDir?: string;
}

/**
 * The CUDA 12 / cuDNN 9 libraries of onnxruntime 1.2x-1.30's CUDA build (and libcuda.so.1, the driver's, which the
 * CUDA runtime opens). Used as-is before install; after install the list is read from the provider library
 * (`readElfDynamic`) and these entries supply the advice.
 */
export const CUDA12_LIBS: LibSource[] = [
  {
    soname: 'libcuda.so.1',
    what: 'NVIDIA driver (user-space part)',
    apt: 'libcuda1 (Debian) / libnvidia-compute-<driver version> (Ubuntu); in a container: the NVIDIA Container Toolkit (--gpus all)',
  },
  {
    soname: 'libcudart.so.12',
    what: 'CUDA 12 runtime',
    apt: 'libcudart12 (Ubuntu 24.04+, Debian 13+ non-free) or cuda-cudart-12-8 (NVIDIA CUDA repo)',
    pip: 'nvidia-cuda-runtime-cu12',
    pipDir: 'nvidia/cuda_runtime/lib',
  },
  {
    soname: 'libcublas.so.12',
    what: 'cuBLAS 12',
    apt: 'libcublas12 (Ubuntu 24.04+, Debian 13+ non-free) or libcublas-12-8 (NVIDIA CUDA repo)',
    pip: 'nvidia-cublas-cu12',
    pipDir: 'nvidia/cublas/lib',
  },
  {
    soname: 'libcublasLt.so.12',
    what: 'cuBLASLt 12',
    apt: 'libcublaslt12 (Ubuntu 24.04+, Debian 13+ non-free) or libcublas-12-8 (NVIDIA CUDA repo)',
    pip: 'nvidia-cublas-cu12',
    pipDir: 'nvidia/cublas/lib',
  },
  {
    soname: 'libcudnn.so.9',
    what: 'cuDNN 9 for CUDA 12',
    apt: 'libcudnn9-cuda-12 (NVIDIA CUDA repo)',
    pip: 'nvidia-cudnn-cu12',
    pipDir: 'nvidia/cudnn/lib',
  },
  {
    soname: 'libcufft.so.11',
    what: 'cuFFT (CUDA 12)',
    apt: 'libcufft11 (Ubuntu 24.04+, Debian 13+ non-free) or libcufft-12-8 (NVIDIA CUDA repo)',
    pip: 'nvidia-cufft-cu12',
    pipDir: 'nvidia/cufft/lib',
  },
  {
    soname: 'libcurand.so.10',
    what: 'cuRAND (CUDA 12)',
    apt: 'libcurand10 (Ubuntu 24.04+, Debian 13+ non-free) or libcurand-12-8 (NVIDIA CUDA repo)',
    pip: 'nvidia-curand-cu12',
    pipDir: 'nvidia/curand/lib',
  },
];

/** Libraries from a DT_NEEDED list that belong to CUDA (the rest, libc & co., are always there). */
export function cudaLibsFromNeeded(needed: string[]): string[] {
  return needed.filter((n) =>
    /^lib(cuda|cudart|cublas|cublasLt|cudnn|cufft|curand|cusparse|cusolver|nvrtc|nvJitLink|nvinfer|nccl)\b/i.test(n),
  );
}

/** Minimum Linux driver for CUDA 12.x (minor-version compatibility). */
export const MIN_DRIVER_CUDA12 = '525.60.13';

export interface DriverStatus {
  found: boolean;
  version?: string;
  /** Where the version came from. */
  source?: string;
  gpus: string[];
  ok: boolean;
  problem?: string;
}

export interface LibStatus {
  soname: string;
  what: string;
  loadable: boolean;
  /** Where the loader finds it, or where it exists without being loadable. */
  path?: string;
  via?: 'ldconfig' | 'LD_LIBRARY_PATH' | 'system';
  /** Copies outside the loader's path. */
  elsewhere: string[];
}

export interface CudaRequirements {
  supported: boolean;
  ok: boolean;
  driver: DriverStatus;
  libs: LibStatus[];
  /** sonames not loadable */
  missing: string[];
  /** Commands and steps, in order, that fix what is missing. */
  fixes: string[];
  notes: string[];
  /** Where the required list came from. */
  listSource: string;
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d) return d;
  }
  return 0;
}

/** `ldconfig -p` → soname → paths (x86-64 entries only on x64). */
export function parseLdconfig(out: string, arch: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of out.split('\n')) {
    const r = /^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)\s*$/.exec(line);
    if (!r) continue;
    if (arch === 'x64' && !/x86-64/.test(r[2])) continue;
    if (arch === 'arm64' && !/AArch64/i.test(r[2])) continue;
    m.set(r[1], [...(m.get(r[1]) ?? []), r[3]]);
  }
  return m;
}

export function parseDriverVersion(procText: string): string | undefined {
  // "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar ..." or "... Open Kernel Module for x86_64  570.86.15 ..."
  return /Kernel Module(?:\s+for\s+\S+)?\s+(\d+(?:\.\d+)+)/.exec(procText)?.[1];
}

async function checkDriver(io: SystemIo): Promise<DriverStatus> {
  const proc = io.readFile('/proc/driver/nvidia/version');
  let version = proc ? parseDriverVersion(proc) : undefined;
  let source = version ? '/proc/driver/nvidia/version' : undefined;
  const gpus: string[] = [];
  const smi = await io.run('nvidia-smi', ['--query-gpu=name,driver_version', '--format=csv,noheader']);
  if (smi && smi.status === 0) {
    for (const line of smi.stdout.split('\n')) {
      const [name, ver] = line.split(',').map((s) => s.trim());
      if (!name) continue;
      gpus.push(name);
      if (!version && ver) {
        version = ver;
        source = 'nvidia-smi';
      }
    }
  }
  if (!version) {
    return {
      found: false,
      gpus,
      ok: false,
      problem: `no NVIDIA driver (no /proc/driver/nvidia/version${smi ? `, nvidia-smi exited ${smi.status}` : ', no nvidia-smi'})`,
    };
  }
  if (compareVersions(version, MIN_DRIVER_CUDA12) < 0) {
    return {
      found: true,
      version,
      source,
      gpus,
      ok: false,
      problem: `NVIDIA driver ${version} is older than CUDA 12 needs (≥ ${MIN_DRIVER_CUDA12})`,
    };
  }
  return { found: true, version, source, gpus, ok: true };
}

/** site-packages / dist-packages folders where pip's nvidia-* wheels may be. */
async function pythonSiteDirs(io: SystemIo): Promise<string[]> {
  const dirs = new Set<string>();
  const py = await io.run('python3', ['-c', 'import site,sys;print("\\n".join(site.getsitepackages()+[site.getusersitepackages()]))']);
  if (py && py.status === 0) for (const l of py.stdout.split('\n')) if (l.trim()) dirs.add(l.trim());
  const roots = [
    io.env.VIRTUAL_ENV,
    io.env.CONDA_PREFIX,
    io.env.HOME && path.join(io.env.HOME, '.local'),
    '/usr/local',
    '/usr',
    '/opt/conda',
  ].filter(Boolean) as string[];
  for (const r of roots) {
    for (const d of io.listDir(path.join(r, 'lib'))) {
      if (/^python3(\.\d+)?$/.test(d)) for (const s of ['site-packages', 'dist-packages']) dirs.add(path.join(r, 'lib', d, s));
    }
  }
  return [...dirs];
}

const SYSTEM_DIRS_X64 = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib'];

/** Folders that often hold CUDA libraries without being on the loader's path. */
function candidateDirs(io: SystemIo, siteDirs: string[]): string[] {
  const dirs: string[] = [];
  for (const v of [io.env.CUDA_HOME, io.env.CUDA_PATH, '/usr/local/cuda', '/opt/cuda'])
    if (v) dirs.push(path.join(v, 'lib64'), path.join(v, 'targets/x86_64-linux/lib'));
  for (const d of io.listDir('/usr/local'))
    if (/^cuda-\d/.test(d)) dirs.push(`/usr/local/${d}/lib64`, `/usr/local/${d}/targets/x86_64-linux/lib`);
  if (io.env.CONDA_PREFIX) dirs.push(path.join(io.env.CONDA_PREFIX, 'lib'));
  for (const s of siteDirs) {
    for (const sub of io.listDir(path.join(s, 'nvidia'))) dirs.push(path.join(s, 'nvidia', sub, 'lib'));
    dirs.push(path.join(s, 'torch', 'lib'));
  }
  return [...new Set(dirs)];
}

export interface CheckOptions {
  /** sonames to check (e.g. from the provider library's DT_NEEDED); default: CUDA12_LIBS. */
  required?: string[];
  listSource?: string;
  /** onnxruntime-node's version, for messages. */
  ortVersion?: string;
}

export async function checkCudaRequirements(io: SystemIo, o: CheckOptions = {}): Promise<CudaRequirements> {
  const listSource = o.listSource ?? 'the CUDA 12 / cuDNN 9 list for onnxruntime-node 1.2x–1.30';
  if (io.platform !== 'linux' || io.arch !== 'x64') {
    return {
      supported: false,
      ok: false,
      driver: { found: false, gpus: [], ok: false },
      libs: [],
      missing: [],
      fixes: [],
      notes: [`onnxruntime-node has no downloadable CUDA execution provider for ${io.platform}/${io.arch}; use WebGPU or CPU`],
      listSource,
    };
  }
  const driver = await checkDriver(io);
  const required = [...new Set(['libcuda.so.1', ...(o.required ?? CUDA12_LIBS.map((l) => l.soname))])];

  const ld = (await io.run('ldconfig', ['-p'])) ?? (await io.run('/sbin/ldconfig', ['-p'])) ?? (await io.run('/usr/sbin/ldconfig', ['-p']));
  const cache = ld && ld.status === 0 ? parseLdconfig(ld.stdout, io.arch) : new Map<string, string[]>();
  const ldPath = (io.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  const siteDirs = await pythonSiteDirs(io);
  const others = candidateDirs(io, siteDirs);

  const libs: LibStatus[] = required.map((soname) => {
    const src = CUDA12_LIBS.find((l) => l.soname === soname);
    const st: LibStatus = { soname, what: src?.what ?? soname, loadable: false, elsewhere: [] };
    for (const d of ldPath) {
      if (io.isFile(path.join(d, soname))) {
        Object.assign(st, { loadable: true, path: path.join(d, soname), via: 'LD_LIBRARY_PATH' });
        break;
      }
    }
    if (!st.loadable && cache.has(soname)) Object.assign(st, { loadable: true, path: cache.get(soname)![0], via: 'ldconfig' });
    if (!st.loadable) {
      for (const d of SYSTEM_DIRS_X64) {
        if (io.isFile(path.join(d, soname))) {
          Object.assign(st, { loadable: true, path: path.join(d, soname), via: 'system' });
          break;
        }
      }
    }
    if (!st.loadable) for (const d of others) if (io.isFile(path.join(d, soname))) st.elsewhere.push(path.join(d, soname));
    return st;
  });

  const missing = libs.filter((l) => !l.loadable).map((l) => l.soname);
  const fixes: string[] = [];
  const notes: string[] = [];
  if (!driver.ok) {
    fixes.push(
      driver.found
        ? `Update the NVIDIA driver to ≥ ${MIN_DRIVER_CUDA12} (Ubuntu: \`sudo ubuntu-drivers install\`; Debian: \`sudo apt install nvidia-driver\`; or NVIDIA's .run installer).`
        : `Install the NVIDIA driver ≥ ${MIN_DRIVER_CUDA12} (Ubuntu: \`sudo ubuntu-drivers install\`; Debian: \`sudo apt install nvidia-driver\`). In a container, start it with \`--gpus all\` (NVIDIA Container Toolkit).`,
    );
  }
  // Found, but not on the loader's path: one LD_LIBRARY_PATH line.
  const foundDirs = [...new Set(libs.filter((l) => !l.loadable && l.elsewhere.length).map((l) => path.dirname(l.elsewhere[0])))];
  const notFound = libs.filter((l) => !l.loadable && !l.elsewhere.length && l.soname !== 'libcuda.so.1');
  if (notFound.length) {
    const pips = [...new Set(notFound.map((l) => CUDA12_LIBS.find((s) => s.soname === l.soname)?.pip).filter(Boolean))] as string[];
    const pipDirs = [...new Set(notFound.map((l) => CUDA12_LIBS.find((s) => s.soname === l.soname)?.pipDir).filter(Boolean))] as string[];
    if (pips.length) {
      const site = siteDirs.find((d) => io.listDir(d).length > 0) ?? siteDirs[0];
      const siteExpr = site ?? `$(python3 -c 'import site; print(site.getsitepackages()[0])')`;
      fixes.push(
        `With pip (no root needed): \`pip install ${pips.join(' ')}\`, then before starting VS Code or the CLI: \`export LD_LIBRARY_PATH=${pipDirs.map((d) => `${siteExpr}/${d}`).join(':')}\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\``,
      );
    }
    fixes.push(
      `Or with apt: ${notFound.map((l) => `${l.soname}: ${CUDA12_LIBS.find((s) => s.soname === l.soname)?.apt ?? 'see the CUDA 12 / cuDNN 9 install guides'}`).join('; ')}.`,
    );
    const unknown = notFound.filter((l) => !CUDA12_LIBS.some((s) => s.soname === l.soname));
    if (unknown.length)
      notes.push(`${unknown.map((l) => l.soname).join(', ')}: needed by the provider library; install the matching CUDA 12 component.`);
  }
  if (foundDirs.length) {
    fixes.push(
      `Found but not on the loader's path: \`export LD_LIBRARY_PATH=${foundDirs.join(':')}\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\` before starting VS Code or the CLI (the loader reads it at process start).`,
    );
  }
  if (libs.find((l) => l.soname === 'libcuda.so.1' && !l.loadable) && driver.ok) {
    fixes.push(
      "libcuda.so.1 is missing although the kernel driver is loaded: install the driver's user-space libraries (libcuda1 / libnvidia-compute-<version>), or in a container add `compute` to NVIDIA_DRIVER_CAPABILITIES.",
    );
  }
  // A CUDA 13 (or 11) stack does not satisfy the .so.12 names.
  const other = [...cache.keys(), ...others.flatMap((d) => io.listDir(d))].filter((n) => /^libcudart\.so\.(1[013])$/.test(n));
  if (missing.includes('libcudart.so.12') && other.length) {
    notes.push(
      `Found ${[...new Set(other)].join(', ')}: onnxruntime-node${o.ortVersion ? ` ${o.ortVersion}` : ''}'s CUDA EP is built for CUDA 12 and needs the .so.12 libraries; install them side by side (e.g. \`pip install nvidia-cuda-runtime-cu12 nvidia-cublas-cu12 nvidia-cudnn-cu12\`).`,
    );
  }
  return { supported: true, ok: driver.ok && missing.length === 0, driver, libs, missing, fixes, notes, listSource };
}

/** The real system. */
export function nodeSystemIo(): SystemIo {
  return {
    platform: process.platform,
    arch: process.arch,
    env: process.env,
    readFile: (f) => {
      try {
        return fs.readFileSync(f, 'utf8');
      } catch {
        return undefined;
      }
    },
    isFile: (f) => {
      try {
        return fs.statSync(f).isFile();
      } catch {
        return false;
      }
    },
    listDir: (d) => {
      try {
        return fs.readdirSync(d);
      } catch {
        return [];
      }
    },
    run: (cmd, args) =>
      new Promise((resolve) => {
        execFile(cmd, args, { encoding: 'utf8', timeout: 10_000, maxBuffer: 32 << 20 }, (err, stdout) => {
          const code = (err as { code?: string | number } | null)?.code;
          if (code === 'ENOENT' || code === 'EACCES') return resolve(undefined);
          resolve({ status: err ? (typeof code === 'number' ? code : null) : 0, stdout: String(stdout ?? '') });
        });
      }),
  };
}

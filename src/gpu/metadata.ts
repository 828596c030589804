/**
 * What the CUDA execution provider of the bundled onnxruntime-node is made of, and where it goes: read from
 * onnxruntime-node's own `script/install-metadata.js` (the NuGet package, its versions and feeds, and the files its
 * install script extracts), so that this follows onnxruntime-node on upgrade. A built-in copy of that metadata is
 * the fallback when the script folder is not shipped.
 *
 * Also the install manifest: the file written LAST by an install, without which the files are not considered
 * installed (`cudaInstallState`).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { InherituneError } from '../errors';

export const NUGET_ORG_INDEX = 'https://api.nuget.org/v3/index.json';
/** nuget.org's PackageBaseAddress/3.0.0, for messages that must name a URL without asking the feed. */
export const NUGET_ORG_FLAT = 'https://api.nuget.org/v3-flatcontainer/';
export const MANIFEST_NAME = 'inheritune-cuda-ep.json';
export const LOCK_NAME = '.inheritune-gpu.lock';
export const STAGING_PREFIX = '.inheritune-gpu-staging-';

export interface CudaEpFile {
  /** File name in the binding folder, e.g. libonnxruntime_providers_cuda.so. */
  name: string;
  /** Path inside the .nupkg, e.g. runtimes/linux-x64/native/libonnxruntime_providers_cuda.so. */
  pathInPackage: string;
}

export interface CudaEpSpec {
  /** `${process.platform}/${process.arch}` */
  platform: string;
  /** onnxruntime-node's version. */
  ortVersion: string;
  /** NuGet package id, e.g. Microsoft.ML.OnnxRuntime.Gpu.Linux. */
  packageId: string;
  /** Feeds and versions to try in order (as install.js does). */
  candidates: { feedIndex: string; version: string }[];
  /** The files to extract; the CUDA provider library is listed last (it is renamed into place last). */
  files: CudaEpFile[];
  /** Where this came from: onnxruntime-node's install-metadata.js or the built-in copy. */
  source: string;
}

/** The provider library whose presence makes onnxruntime try CUDA: placed last, after its companions. */
export const CUDA_PROVIDER_LIB = 'libonnxruntime_providers_cuda.so';

/** The folder of the installed onnxruntime-node package. */
export function ortPackageDir(): string {
  try {
    return path.dirname(require.resolve('onnxruntime-node/package.json'));
  } catch (e) {
    throw new InherituneError(
      'E_RUNTIME',
      `onnxruntime-node is not installed (${(e as Error).message}); reinstall the extension or run \`npm install\``,
    );
  }
}

export function ortVersion(ortDir: string): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(ortDir, 'package.json'), 'utf8')) as { version?: string };
  if (!pkg.version) throw new InherituneError('E_RUNTIME', `${path.join(ortDir, 'package.json')} has no version`);
  return pkg.version;
}

/**
 * The folder onnxruntime-node loads its native binding (and the CUDA EP libraries beside it) from:
 * bin/napi-v<N>/<platform>/<arch>, the napi version being whichever the package ships (6 for 1.30).
 */
export function ortBinDir(ortDir: string, platform = process.platform, arch = process.arch): string {
  const bin = path.join(ortDir, 'bin');
  const napi = (fs.existsSync(bin) ? fs.readdirSync(bin) : [])
    .filter((d) => /^napi-v\d+$/.test(d))
    .sort((a, b) => Number(b.slice(6)) - Number(a.slice(6)));
  for (const d of napi) {
    const dir = path.join(bin, d, platform, arch);
    if (fs.existsSync(path.join(dir, 'onnxruntime_binding.node'))) return dir;
  }
  throw new InherituneError(
    'E_RUNTIME',
    `onnxruntime-node in ${ortDir} has no native binding for ${platform}/${arch} (looked in ${path.join(bin, 'napi-v*', platform, arch)})`,
  );
}

interface OrtInstallMetadata {
  requirements: Record<string, string[]>;
  manifests: Record<string, Record<string, { package: string; path: string }>>;
  packages: Record<string, { name: string; versions: { feed: string; version: string }[] }>;
  feeds: Record<string, { type: string; index: string }>;
}

/** onnxruntime-node 1.30.0's metadata for linux/x64 (script/install-metadata.js), for when the script is absent. */
function builtinMetadata(version: string): OrtInstallMetadata {
  const pkg = 'nuget:linux/x64:cuda12';
  const native = 'runtimes/linux-x64/native/';
  return {
    requirements: { 'linux/x64': ['cuda12'] },
    manifests: {
      'linux/x64:cuda12': Object.fromEntries(
        ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so', 'libonnxruntime_providers_tensorrt.so'].map((f) => [
          `./${f}`,
          { package: pkg, path: native + f },
        ]),
      ),
    },
    packages: { [pkg]: { name: 'Microsoft.ML.OnnxRuntime.Gpu.Linux', versions: [{ feed: 'nuget', version }] } },
    feeds: { nuget: { type: 'nuget', index: NUGET_ORG_INDEX } },
  };
}

function loadMetadata(ortDir: string, version: string): { meta: OrtInstallMetadata; source: string } {
  const file = path.join(ortDir, 'script', 'install-metadata.js');
  if (fs.existsSync(file)) {
    try {
      const meta = createRequire(file)(file) as OrtInstallMetadata;
      if (meta && meta.requirements && meta.manifests && meta.packages && meta.feeds) return { meta, source: file };
    } catch {
      /* fall through to the built-in copy */
    }
  }
  return { meta: builtinMetadata(version), source: `built-in copy of onnxruntime-node ${version}'s install metadata` };
}

/** The CUDA EP for this platform as onnxruntime-node's install script defines it. */
export function loadCudaEpSpec(ortDir: string = ortPackageDir(), platform = `${process.platform}/${process.arch}`): CudaEpSpec {
  const version = ortVersion(ortDir);
  const { meta, source } = loadMetadata(ortDir, version);
  const name = (meta.requirements[platform] ?? []).find((n) => /^cuda/.test(n));
  const manifest = name ? meta.manifests[`${platform}:${name}`] : undefined;
  if (!manifest) {
    throw new InherituneError(
      'E_ARGS',
      `onnxruntime-node ${version} has no downloadable CUDA execution provider for ${platform} (only linux/x64 has one); use --ep webgpu or cpu`,
      { platform },
    );
  }
  const entries = Object.entries(manifest);
  const pkgKeys = new Set(entries.map(([, v]) => v.package));
  if (pkgKeys.size !== 1)
    throw new InherituneError(
      'E_RUNTIME',
      `onnxruntime-node's install metadata spreads the CUDA EP over ${pkgKeys.size} packages; this installer handles one`,
    );
  const pkg = meta.packages[[...pkgKeys][0]];
  if (!pkg) throw new InherituneError('E_RUNTIME', `onnxruntime-node's install metadata has no package entry ${[...pkgKeys][0]}`);
  const files = entries.map(([f, v]) => ({ name: path.basename(f), pathInPackage: v.path }));
  files.sort((a, b) => Number(a.name === CUDA_PROVIDER_LIB) - Number(b.name === CUDA_PROVIDER_LIB));
  const candidates = pkg.versions
    .map((v) => ({ feedIndex: meta.feeds[v.feed]?.type === 'nuget' ? meta.feeds[v.feed].index : '', version: v.version }))
    .filter((c) => c.feedIndex);
  if (!candidates.length) throw new InherituneError('E_RUNTIME', `onnxruntime-node's install metadata lists no NuGet feed for ${pkg.name}`);
  return { platform, ortVersion: version, packageId: pkg.name, candidates, files, source };
}

/** The URL to download the package by hand (nuget.org's flat container), and the human page. */
export function handDownload(spec: Pick<CudaEpSpec, 'packageId' | 'candidates'>): {
  url: string;
  page: string;
  fileName: string;
  version: string;
  hashFrom: string;
} {
  const version = spec.candidates[0].version;
  const id = spec.packageId.toLowerCase();
  const v = version.toLowerCase();
  return {
    url: `${NUGET_ORG_FLAT}${id}/${v}/${id}.${v}.nupkg`,
    page: `https://www.nuget.org/packages/${spec.packageId}/${version}`,
    fileName: `${id}.${v}.nupkg`,
    version,
    /** The registration leaf whose catalogEntry holds packageHash (SHA-512, base64), for --sha512. */
    hashFrom: `https://api.nuget.org/v3/registration5-semver1/${id}/${v}.json`,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The manifest

export type VerifiedBy = 'feed-sha512' | 'user-sha512' | 'zip-crc32';

export interface InstalledFile {
  name: string;
  size: number;
  sha256: string;
  crc32: number;
}

export interface CudaEpManifest {
  schema: 1;
  packageId: string;
  packageVersion: string;
  ortVersion: string;
  /** The URL downloaded, or the --from file. */
  source: string;
  /** How the package was checked before anything was extracted (see README "GPU execution"). */
  verifiedBy: VerifiedBy;
  packageSize: number;
  packageSha512: string;
  files: InstalledFile[];
  installedAt: string;
  tool: string;
}

export type CudaInstallState =
  | { state: 'installed'; manifest: CudaEpManifest; reason: string }
  | { state: 'absent' | 'unmanaged' | 'incomplete' | 'stale'; reason: string; manifest?: CudaEpManifest };

export function readManifest(binDir: string): CudaEpManifest | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(binDir, MANIFEST_NAME), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const m = JSON.parse(text) as CudaEpManifest;
    return m && m.schema === 1 && Array.isArray(m.files) ? m : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the CUDA EP files in `binDir` are a complete install made by `installCudaEp` for this onnxruntime-node:
 * the manifest (written last) exists, names this version, and every file it lists is there with its size. This is
 * the check to make before asking onnxruntime for CUDA; `verifyCudaInstall` also re-hashes the files.
 */
export function cudaInstallState(binDir: string, spec: Pick<CudaEpSpec, 'ortVersion' | 'files'>): CudaInstallState {
  const manifest = readManifest(binDir);
  const present = spec.files.filter((f) => fs.existsSync(path.join(binDir, f.name)));
  if (!manifest) {
    if (present.length === 0)
      return { state: 'absent', reason: `CUDA EP not installed (no ${CUDA_PROVIDER_LIB} in ${binDir}); run \`inheritune install-gpu\`` };
    return {
      state: 'unmanaged',
      reason: `CUDA EP files in ${binDir} (${present.map((f) => f.name).join(', ')}) were not installed by inheritune (no ${MANIFEST_NAME}), so they are unverified; run \`inheritune install-gpu --force\``,
    };
  }
  if (manifest.ortVersion !== spec.ortVersion) {
    return {
      state: 'stale',
      manifest,
      reason: `CUDA EP files are for onnxruntime-node ${manifest.ortVersion}, not ${spec.ortVersion}; run \`inheritune install-gpu --force\``,
    };
  }
  for (const f of spec.files) {
    const rec = manifest.files.find((m) => m.name === f.name);
    let size = -1;
    try {
      size = fs.statSync(path.join(binDir, f.name)).size;
    } catch {
      /* missing */
    }
    if (!rec || size !== rec.size) {
      return {
        state: 'incomplete',
        manifest,
        reason: `${f.name} in ${binDir} is ${size < 0 ? 'missing' : `${size} bytes, not ${rec?.size ?? '?'}`}; run \`inheritune install-gpu --force\``,
      };
    }
  }
  return {
    state: 'installed',
    manifest,
    reason: `${manifest.packageId} ${manifest.packageVersion} (verified by ${manifest.verifiedBy}, ${manifest.installedAt})`,
  };
}

/** `cudaInstallState`, and every file re-hashed against the SHA-256 in the manifest. */
export async function verifyCudaInstall(binDir: string, spec: Pick<CudaEpSpec, 'ortVersion' | 'files'>): Promise<CudaInstallState> {
  const st = cudaInstallState(binDir, spec);
  if (st.state !== 'installed') return st;
  for (const rec of st.manifest.files) {
    const got = await sha256File(path.join(binDir, rec.name));
    if (got !== rec.sha256)
      return {
        state: 'incomplete',
        manifest: st.manifest,
        reason: `${rec.name} in ${binDir} has SHA-256 ${got}, not ${rec.sha256} as installed; run \`inheritune install-gpu --force\``,
      };
  }
  return { ...st, reason: `${st.reason}; files re-hashed: SHA-256 match` };
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Install onnxruntime-node's CUDA execution provider: the files its own install script would fetch
 * (Microsoft.ML.OnnxRuntime.Gpu.Linux, the same version, the same NuGet URL), but verified, resumable, cancellable,
 * behind a proxy or from a file, and placed atomically:
 *
 *   1. resolve on the feed (URL, size and SHA-512 from the NuGet catalog), or take --from FILE.nupkg;
 *   2. download to the cache through `.part` (Range resume or restart), check size + SHA-512;
 *   3. open the zip, check the .nuspec names this package and version, extract only the needed .so files into a
 *      staging folder INSIDE the target folder (same file system), checking each one's size and CRC-32;
 *   4. remove the old manifest, rename each file into place (the CUDA provider library last), fsync, and write the
 *      manifest LAST. Until the manifest exists nothing counts as installed (`cudaInstallState`).
 *
 * A lock file in the target folder keeps two installs (two VS Code windows, a terminal) from interleaving. It holds
 * the pid, not proper-lockfile's mtime lease: both installs run on this machine, so a pid check tells a crashed
 * install from a live one at once, with no timer refreshing a lease through a download of hundreds of MB.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cancelled, InherituneError, isInherituneError, ProgressFn, throwIfAborted } from '../errors';
import { downloadFile, HttpOptions, HttpStatusError, isAbort, isNetworkError, RetryOptions } from './http';
import {
  CUDA_PROVIDER_LIB,
  CudaEpManifest,
  CudaEpSpec,
  cudaInstallState,
  handDownload,
  InstalledFile,
  LOCK_NAME,
  MANIFEST_NAME,
  NUGET_ORG_INDEX,
  STAGING_PREFIX,
  VerifiedBy,
} from './metadata';
import { normaliseSha512, ResolvedPackage, resolveNugetPackage } from './nuget';
import { extractEntry, findEntry, openZip, readEntryText } from './zip';

export interface InstallOptions {
  /** The folder onnxruntime-node loads its binding from (`ortBinDir`), or a test folder. */
  binDir: string;
  spec: CudaEpSpec;
  /** Install from this .nupkg instead of downloading. */
  from?: string;
  /** Expected SHA-512 of `from` (base64 or hex); without it a --from package is checked by its zip CRCs only. */
  sha512?: string;
  /** Replace the feed index from the spec (tests, mirrors). */
  feedIndex?: string;
  /** Reinstall even when the install is complete. */
  force?: boolean;
  /** Where the .nupkg is downloaded (and resumed from); default ~/.cache/inheritune/gpu. */
  cacheDir?: string;
  /** Keep the downloaded .nupkg after installing (default: delete it, it is large). */
  keepPackage?: boolean;
  http?: HttpOptions & RetryOptions;
  signal?: AbortSignal;
  onProgress?: ProgressFn;
  log?: (line: string) => void;
}

export interface InstallResult {
  status: 'installed' | 'already-installed';
  binDir: string;
  manifest: CudaEpManifest;
  /** One line on how the package was verified. */
  verification: string;
  download?: { url: string; bytes: number; attempts: number; resumedFrom: number[]; restarts: number };
}

export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string {
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'inheritune', 'gpu');
}

function offlineHelp(spec: CudaEpSpec): string {
  const h = handDownload(spec);
  return `To install without network: download ${h.url} (${spec.packageId} ${h.version}, also at ${h.page}) on a machine that has internet, copy it here and run \`inheritune install-gpu --from ${h.fileName}\` (in VS Code: "Install GPU Runtime (CUDA)" → "From File…")`;
}

function networkError(spec: CudaEpSpec, what: string, e: unknown, extra = ''): InherituneError {
  const code = (e as { code?: string }).code;
  return new InherituneError(
    'E_IO',
    `cannot reach ${what} (${code ? `${code}: ` : ''}${(e as Error).message})${extra}. ${offlineHelp(spec)}`,
    { kind: 'network', code },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Lock

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

function acquireLock(binDir: string): () => void {
  const file = path.join(binDir, LOCK_NAME);
  for (let i = 0; i < 2; i++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => fs.rmSync(file, { force: true });
    } catch (e) {
      if (
        (e as { code?: string }).code === 'EACCES' ||
        (e as { code?: string }).code === 'EPERM' ||
        (e as { code?: string }).code === 'EROFS'
      ) {
        throw new InherituneError(
          'E_IO',
          `cannot write to ${binDir} (${(e as { code?: string }).code}); run the install as the user that owns it, or reinstall onnxruntime-node where you can write`,
          { kind: 'permission' },
        );
      }
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
      const pid = Number(fs.readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
        throw new InherituneError(
          'E_EXISTS',
          `another GPU runtime install is running (process ${pid}, lock ${file}); wait for it to finish`,
          { kind: 'locked', pid },
        );
      }
      fs.rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  throw new InherituneError('E_EXISTS', `cannot take the install lock ${file}`, { kind: 'locked' });
}

/** Staging folders left by installs that were killed (their lock is gone, as we hold it now). */
function removeStaleStaging(binDir: string): void {
  for (const d of fs.readdirSync(binDir))
    if (d.startsWith(STAGING_PREFIX)) fs.rmSync(path.join(binDir, d), { recursive: true, force: true });
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* not supported on every platform/file system */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function freeBytes(dir: string): number | undefined {
  try {
    const s = fs.statfsSync(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

function ensureSpace(dir: string, need: number, what: string): void {
  const free = freeBytes(dir);
  if (free !== undefined && free < need * 1.05 + (16 << 20)) {
    throw new InherituneError(
      'E_IO',
      `not enough disk space in ${dir} for ${what}: ${(need / 2 ** 20).toFixed(0)} MiB needed, ${(free / 2 ** 20).toFixed(0)} MiB free`,
      { kind: 'space' },
    );
  }
}

async function hashFile(file: string, onBytes?: (n: number) => void, signal?: AbortSignal): Promise<{ sha512: string; size: number }> {
  const h = createHash('sha512');
  let size = 0;
  for await (const c of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    if (signal?.aborted) throw cancelled();
    h.update(c as Buffer);
    size += (c as Buffer).length;
    onBytes?.((c as Buffer).length);
  }
  return { sha512: h.digest('base64'), size };
}

// ---------------------------------------------------------------------------------------------------------------

export async function installCudaEp(o: InstallOptions): Promise<InstallResult> {
  const { spec, binDir } = o;
  const log = o.log ?? (() => {});
  const progress: ProgressFn = o.onProgress ?? (() => {});
  throwIfAborted(o.signal);
  if (!fs.existsSync(binDir)) throw new InherituneError('E_NOT_FOUND', `the onnxruntime-node binding folder ${binDir} does not exist`);

  const before = cudaInstallState(binDir, spec);
  if (before.state === 'installed' && !o.force) {
    return {
      status: 'already-installed',
      binDir,
      manifest: before.manifest,
      verification: `already installed: ${before.reason} (use --force to reinstall)`,
    };
  }
  if (before.state !== 'absent') log(`current state: ${before.reason}`);

  const release = acquireLock(binDir);
  let staging: string | undefined;
  let downloaded: string | undefined;
  try {
    removeStaleStaging(binDir);

    // 1-2. The package file, verified as a whole.
    let pkgFile: string;
    let source: string;
    let verifiedBy: VerifiedBy;
    let verification: string;
    let expectedSha: string | undefined;
    let expectedSize: number | undefined;
    let version = spec.candidates[0].version;
    let download: InstallResult['download'];

    if (o.from) {
      pkgFile = path.resolve(o.from);
      if (!fs.existsSync(pkgFile)) throw new InherituneError('E_NOT_FOUND', `${pkgFile} does not exist; ${offlineHelp(spec)}`);
      source = pkgFile;
      if (o.sha512) {
        expectedSha = normaliseSha512(o.sha512);
        if (!expectedSha)
          throw new InherituneError('E_ARGS', `--sha512 must be a SHA-512 in base64 (as nuget.org lists it) or hex, not "${o.sha512}"`);
        verifiedBy = 'user-sha512';
        verification = 'SHA-512 of the file matches the one given, and every extracted file matches its zip CRC-32 and size';
      } else {
        verifiedBy = 'zip-crc32';
        verification = `no SHA-512 given for the file: the .nuspec names ${spec.packageId} ${version} and every extracted file matches its zip CRC-32 and size (for a cryptographic check pass --sha512 with the packageHash of the catalog entry that ${handDownload(spec).hashFrom} names)`;
      }
      progress(0.02, 'checking the package file');
    } else {
      progress(0, 'looking up the package on NuGet');
      const candidates = o.feedIndex ? [{ feedIndex: o.feedIndex, version }] : spec.candidates;
      let pkg: ResolvedPackage | undefined;
      const failures: string[] = [];
      for (const c of candidates) {
        try {
          pkg = await resolveNugetPackage(c.feedIndex, spec.packageId, c.version, { ...o.http, signal: o.signal });
          break;
        } catch (e) {
          if (isAbort(e, o.signal)) throw cancelled();
          if (isNetworkError(e))
            throw networkError(
              spec,
              `the NuGet feed ${c.feedIndex}`,
              e,
              c.feedIndex === NUGET_ORG_INDEX ? '' : ` (feed from ${o.feedIndex ? '--feed' : spec.source})`,
            );
          if (!isInherituneError(e) && !(e instanceof HttpStatusError)) throw e;
          failures.push((e as Error).message);
        }
      }
      if (!pkg)
        throw new InherituneError('E_NOT_FOUND', `cannot find ${spec.packageId} ${version}: ${failures.join('; ')}. ${offlineHelp(spec)}`);
      version = pkg.version;
      expectedSha = pkg.sha512;
      expectedSize = pkg.size;
      if (expectedSha) {
        verifiedBy = 'feed-sha512';
        verification = `size and SHA-512 match the NuGet catalog (${pkg.hashNote}), and every extracted file matches its zip CRC-32 and size`;
      } else {
        verifiedBy = 'zip-crc32';
        verification = `the feed gives no hash (${pkg.hashNote}): the .nuspec names the package and every extracted file matches its zip CRC-32 and size`;
        log(`warning: ${verification}`);
      }
      const cacheDir = o.cacheDir ?? defaultCacheDir();
      fs.mkdirSync(cacheDir, { recursive: true });
      if (expectedSize) ensureSpace(cacheDir, expectedSize, `the ${spec.packageId} package`);
      pkgFile = path.join(cacheDir, path.basename(new URL(pkg.nupkgUrl).pathname));
      downloaded = pkgFile;
      source = pkg.nupkgUrl;
      log(`downloading ${pkg.nupkgUrl}${expectedSize ? ` (${(expectedSize / 2 ** 20).toFixed(1)} MiB)` : ''}`);
      let lastPct = -1;
      try {
        fs.rmSync(pkgFile, { force: true }); // only a complete, verified file is ever kept there, and not for long
        const r = await downloadFile(pkg.nupkgUrl, pkgFile, {
          ...o.http,
          signal: o.signal,
          expectedSize,
          onBytes: (got, total) => {
            const t = expectedSize ?? total;
            const f = t ? got / t : 0;
            const pct = Math.floor(f * 100);
            if (pct !== lastPct) {
              lastPct = pct;
              progress(0.02 + 0.8 * f, `downloading ${(got / 2 ** 20).toFixed(1)}${t ? ` of ${(t / 2 ** 20).toFixed(1)}` : ''} MiB`);
            }
          },
        });
        download = { url: pkg.nupkgUrl, ...r };
        if (r.resumedFrom.length) log(`resumed the download at ${r.resumedFrom.join(', ')} bytes`);
        if (r.restarts) log(`the server does not resume (no Range support or the file changed): restarted ${r.restarts} time(s)`);
      } catch (e) {
        if (isAbort(e, o.signal) || (isInherituneError(e) && e.code === 'E_CANCELLED')) throw cancelled();
        if (isInherituneError(e) && (e.details as { kind?: string })?.kind === 'integrity') {
          fs.rmSync(`${pkgFile}.part`, { force: true });
          fs.rmSync(`${pkgFile}.part.json`, { force: true });
          throw e;
        }
        if (isNetworkError(e) || (e instanceof HttpStatusError && e.status >= 500)) {
          throw networkError(spec, pkg.nupkgUrl, e, `; the part already downloaded is kept in ${cacheDir} and the next run resumes it`);
        }
        throw e;
      }
    }

    // Whole-file check: size and SHA-512.
    const total = fs.statSync(pkgFile).size;
    if (expectedSize !== undefined && total !== expectedSize) {
      if (downloaded) fs.rmSync(downloaded, { force: true });
      throw new InherituneError(
        'E_INPUT',
        `the package is ${total} bytes but the feed lists ${expectedSize}; it was deleted and nothing was installed`,
        { kind: 'integrity' },
      );
    }
    let hashed = 0;
    const { sha512 } = await hashFile(
      pkgFile,
      (n) => progress(0.82 + 0.08 * ((hashed += n) / Math.max(total, 1)), 'verifying the package (SHA-512)'),
      o.signal,
    );
    if (expectedSha && sha512 !== expectedSha) {
      if (downloaded) fs.rmSync(downloaded, { force: true });
      throw new InherituneError(
        'E_INPUT',
        `checksum mismatch: ${o.from ? pkgFile : source} has SHA-512 ${sha512}, but ${o.from ? '--sha512' : 'the NuGet catalog'} says ${expectedSha}; ${downloaded ? 'the download was deleted and ' : ''}nothing was installed${downloaded ? '. Try again; if it repeats, something between you and the feed alters downloads' : ''}`,
        { kind: 'integrity', got: sha512, expected: expectedSha },
      );
    }

    // 3. Extract into staging, inside the target folder so that rename is atomic.
    throwIfAborted(o.signal);
    const zip = await openZip(pkgFile);
    try {
      const nuspecName = [...zip.entries.keys()].find((n) => !n.includes('/') && n.toLowerCase().endsWith('.nuspec'));
      if (!nuspecName)
        throw new InherituneError('E_INPUT', `${pkgFile} is not a NuGet package (no .nuspec at its root)`, { kind: 'integrity' });
      const nuspec = await readEntryText(zip, nuspecName);
      const id = /<id>\s*([^<]+?)\s*<\/id>/i.exec(nuspec)?.[1];
      const ver = /<version>\s*([^<]+?)\s*<\/version>/i.exec(nuspec)?.[1];
      if (id?.toLowerCase() !== spec.packageId.toLowerCase() || ver?.toLowerCase() !== version.toLowerCase()) {
        throw new InherituneError(
          'E_INPUT',
          `${o.from ? pkgFile : 'the downloaded package'} is ${id ?? '?'} ${ver ?? '?'}, but onnxruntime-node ${spec.ortVersion} needs ${spec.packageId} ${version}; ${offlineHelp(spec)}`,
          { kind: 'integrity', id, version: ver },
        );
      }
      const entries = spec.files.map((f) => {
        const e = findEntry(zip, f.pathInPackage);
        if (!e)
          throw new InherituneError('E_INPUT', `${f.pathInPackage} is missing from ${o.from ? pkgFile : source}`, { kind: 'integrity' });
        return { f, e };
      });
      const need = entries.reduce((s, x) => s + x.e.uncompressedSize, 0);
      ensureSpace(binDir, need, 'the CUDA EP libraries');
      staging = fs.mkdtempSync(path.join(binDir, STAGING_PREFIX));
      const files: InstalledFile[] = [];
      let done = 0;
      for (const { f, e } of entries) {
        throwIfAborted(o.signal);
        log(`extracting ${e.fileName} (${(e.uncompressedSize / 2 ** 20).toFixed(1)} MiB)`);
        const x = await extractEntry(zip, e, path.join(staging, f.name), {
          signal: o.signal,
          onBytes: (n) => progress(0.9 + 0.09 * ((done += n) / Math.max(need, 1)), `extracting ${f.name}`),
        });
        files.push({ name: f.name, ...x });
      }

      // 4. Place: manifest out, files in (provider library last), manifest in.
      throwIfAborted(o.signal);
      const manifest: CudaEpManifest = {
        schema: 1,
        packageId: spec.packageId,
        packageVersion: version,
        ortVersion: spec.ortVersion,
        source,
        verifiedBy,
        packageSize: total,
        packageSha512: sha512,
        files,
        installedAt: new Date().toISOString(),
        tool: 'inheritune-studio',
      };
      const manifestTmp = path.join(staging, MANIFEST_NAME);
      fs.writeFileSync(manifestTmp, JSON.stringify(manifest, null, 2) + '\n');
      fs.rmSync(path.join(binDir, MANIFEST_NAME), { force: true });
      fsyncDir(binDir);
      const order = [...files].sort((a, b) => Number(a.name === CUDA_PROVIDER_LIB) - Number(b.name === CUDA_PROVIDER_LIB));
      for (const f of order) fs.renameSync(path.join(staging, f.name), path.join(binDir, f.name));
      fsyncDir(binDir);
      fs.renameSync(manifestTmp, path.join(binDir, MANIFEST_NAME));
      fsyncDir(binDir);
      progress(1, 'installed');
      log(`installed ${files.map((f) => f.name).join(', ')} into ${binDir}`);
      return { status: 'installed', binDir, manifest, verification, download };
    } finally {
      zip.close();
    }
  } catch (e) {
    if (isAbort(e, o.signal) && !(isInherituneError(e) && e.code === 'E_CANCELLED')) throw cancelled();
    throw e;
  } finally {
    if (staging) fs.rmSync(staging, { recursive: true, force: true });
    if (downloaded && !o.keepPackage) {
      fs.rmSync(downloaded, { force: true });
      if (o.signal?.aborted) {
        fs.rmSync(`${downloaded}.part`, { force: true });
        fs.rmSync(`${downloaded}.part.json`, { force: true });
      }
    }
    release();
  }
}

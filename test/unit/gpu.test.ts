/**
 * GPU execution without a GPU: the CUDA EP installer against a NuGet feed served from 127.0.0.1 (a real zip in the
 * NuGet layout with fake .so files at the paths onnxruntime-node's install-metadata.js names), through a CONNECT
 * proxy, interrupted, corrupted, offline and cancelled; the gpu-check logic on injected systems; the ELF reader; the
 * session probe.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import * as zlib from 'node:zlib';
import { InherituneError } from '../../src/errors';
import { checkCudaRequirements, cudaLibsFromNeeded, parseDriverVersion, parseLdconfig, RunResult, SystemIo } from '../../src/gpu/check';
import { readElfDynamicFile } from '../../src/gpu/elf';
import { getJson } from '../../src/gpu/http';
import { installCudaEp, InstallOptions } from '../../src/gpu/install';
import { loadInstaller } from '../../src/gpu/loadInstaller';
import {
  CUDA_PROVIDER_LIB,
  cudaInstallState,
  handDownload,
  loadCudaEpSpec,
  LOCK_NAME,
  MANIFEST_NAME,
  ortBinDir,
  ortPackageDir,
  STAGING_PREFIX,
  verifyCudaInstall,
} from '../../src/gpu/metadata';
import { normaliseSha512 } from '../../src/gpu/nuget';
import { proxyOptions } from '../../src/gpu/proxy';
import { probeEp, probeHint, tinyAddModel } from '../../src/gpu/probe';
import { summarizeStatus } from '../../src/gpu/report';
import { crc32 } from '../../src/gpu/zip';
import { tmpDir } from '../helpers/tmp';

const realFs = require('node:fs') as typeof fs;
const yazl = require('yazl') as {
  ZipFile: new () => {
    addBuffer(b: Buffer, name: string, o?: { compress?: boolean; mtime?: Date }): void;
    end(): void;
    outputStream: NodeJS.ReadableStream;
  };
};

const root = tmpDir('inheritune-gpu-');
let seq = 0;
const fresh = (name: string) => {
  const d = path.join(root, `${name}-${seq++}`);
  fs.mkdirSync(d, { recursive: true });
  return d;
};

// ---------------------------------------------------------------------------------------------------------------
// The package: onnxruntime-node's real metadata, fake libraries

const ORT_DIR = ortPackageDir();
const REAL_SPEC = loadCudaEpSpec(ORT_DIR, 'linux/x64');
const ID = REAL_SPEC.packageId;
const VERSION = REAL_SPEC.candidates[0].version;
const IDL = ID.toLowerCase();

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    b[i] = i % 4 === 0 ? (i >> 9) & 0xff : x >>> 24; // mostly incompressible, so the .nupkg stays large
  }
  return b;
}

const LIBS: Record<string, Buffer> = Object.fromEntries(
  REAL_SPEC.files.map((f, i) => [f.name, bytes(f.name === CUDA_PROVIDER_LIB ? 1_500_000 : 200_000 + i * 1000, i + 1)]),
);

async function zipBuffer(entries: [string, Buffer][], compress = true): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const [name, data] of entries) z.addBuffer(data, name, { compress, mtime: new Date(2025, 0, 1) });
  z.end();
  const chunks: Buffer[] = [];
  for await (const c of z.outputStream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

function nuspec(id = ID, version = VERSION): Buffer {
  return Buffer.from(
    `<?xml version="1.0" encoding="utf-8"?>\n<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">\n  <metadata>\n    <id>${id}</id>\n    <version>${version}</version>\n    <authors>test</authors>\n  </metadata>\n</package>\n`,
  );
}

/** A .nupkg in NuGet's layout: .nuspec at the root, native libraries under runtimes/linux-x64/native/. */
async function makeNupkg(o: { id?: string; version?: string; compress?: boolean; libs?: Record<string, Buffer> } = {}): Promise<Buffer> {
  const libs = o.libs ?? LIBS;
  return zipBuffer(
    [
      ['_rels/.rels', Buffer.from('<Relationships/>')],
      [`${o.id ?? ID}.nuspec`, nuspec(o.id, o.version)],
      ['[Content_Types].xml', Buffer.from('<Types/>')],
      ...REAL_SPEC.files.map((f) => [f.pathInPackage, libs[f.name]] as [string, Buffer]),
      ['runtimes/win-x64/native/onnxruntime_providers_cuda.dll', Buffer.from('not for linux')],
      ['.signature.p7s', Buffer.from('signature')],
    ],
    o.compress ?? true,
  );
}

let NUPKG: Buffer;

// ---------------------------------------------------------------------------------------------------------------
// A NuGet v3 feed on 127.0.0.1

interface FeedState {
  pkg: Buffer;
  /** What the catalog says (defaults: the package's own). */
  hash?: string;
  size?: number;
  ranges: boolean;
  etag: string;
  /** Drop the connection after this many body bytes, on the next `dropTimes` package requests. */
  dropAt?: number;
  dropTimes: number;
  /** Send this many bytes then hang (for cancellation). */
  stallAt?: number;
  /** Each request with the client port it came from (a proxy's upstream socket, when tunnelled). */
  requests: { url: string; headers: http.IncomingHttpHeaders; status?: number; port?: number }[];
}

function feedHandler(state: () => FeedState, base: () => string) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const s = state();
    const rec: FeedState['requests'][number] = { url: req.url ?? '', headers: req.headers, port: req.socket.remotePort };
    s.requests.push(rec);
    const json = (v: unknown, gzip = false) => {
      const body = Buffer.from(JSON.stringify(v));
      rec.status = 200;
      if (gzip && /gzip/.test(String(req.headers['accept-encoding']))) {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
        res.end(zlib.gzipSync(body));
      } else {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(body);
      }
    };
    const u = req.url ?? '';
    const nupkgPath = `/flat/${IDL}/${VERSION}/${IDL}.${VERSION}.nupkg`;
    if (u === '/v3/index.json') {
      return json({
        version: '3.0.0',
        resources: [
          { '@id': `${base()}/flat/`, '@type': 'PackageBaseAddress/3.0.0' },
          { '@id': `${base()}/reg`, '@type': ['RegistrationsBaseUrl/3.6.0'] },
        ],
      });
    }
    if (u === `/flat/${IDL}/index.json`) return json({ versions: ['1.29.0', VERSION] });
    if (u === `/reg/${IDL}/${VERSION}.json`)
      return json({ '@id': `${base()}${u}`, catalogEntry: `${base()}/catalog/leaf.json`, packageContent: `${base()}${nupkgPath}` }, true);
    if (u === '/catalog/leaf.json') {
      return json({
        '@type': ['PackageDetails', 'catalog:Permalink'],
        id: ID,
        version: VERSION,
        packageHash: s.hash ?? createHash('sha512').update(s.pkg).digest('base64'),
        packageHashAlgorithm: 'SHA512',
        packageSize: s.size ?? s.pkg.length,
      });
    }
    if (u === nupkgPath) {
      rec.status = 302;
      res.writeHead(302, { Location: '/blobs/package.nupkg' }); // like a CDN: the range request follows the redirect
      return res.end();
    }
    if (u === '/blobs/package.nupkg') {
      const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
      const ifRange = req.headers['if-range'];
      let start = 0;
      if (range && s.ranges && (!ifRange || ifRange === s.etag)) start = Number(range[1]);
      const body = s.pkg.subarray(start);
      const headers: http.OutgoingHttpHeaders = {
        'Content-Type': 'application/octet-stream',
        'Content-Length': body.length,
        ETag: s.etag,
        ...(s.ranges ? { 'Accept-Ranges': 'bytes' } : {}),
      };
      if (start > 0) headers['Content-Range'] = `bytes ${start}-${s.pkg.length - 1}/${s.pkg.length}`;
      rec.status = start > 0 ? 206 : 200;
      res.writeHead(rec.status, headers);
      if (s.stallAt !== undefined) {
        res.write(body.subarray(0, s.stallAt)); // then nothing: the client must cancel
        return;
      }
      if (s.dropAt !== undefined && s.dropTimes > 0) {
        s.dropTimes--;
        res.write(body.subarray(0, s.dropAt), () => res.socket?.destroy());
        return;
      }
      return res.end(body);
    }
    rec.status = 404;
    res.writeHead(404).end();
  };
}

let state: FeedState;
let server: http.Server;
let BASE = '';
const newState = (o: Partial<FeedState> = {}): FeedState =>
  (state = { pkg: NUPKG, ranges: true, etag: '"v1"', dropTimes: 0, requests: [], ...o });

/** A port nothing listens on. */
let REFUSED = '';

before(async () => {
  NUPKG = await makeNupkg();
  newState();
  server = http.createServer(
    feedHandler(
      () => state,
      () => BASE,
    ),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  BASE = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  REFUSED = `http://127.0.0.1:${(s.address() as net.AddressInfo).port}/v3/index.json`;
  await new Promise<void>((r) => s.close(() => r()));
});
after(() => {
  server.closeAllConnections();
  server.close();
});

function opts(o: Partial<InstallOptions> & { feed?: string } = {}): InstallOptions {
  const { feed, ...rest } = o;
  return {
    binDir: fresh('bin'),
    spec: REAL_SPEC,
    feedIndex: feed ?? `${BASE}/v3/index.json`,
    cacheDir: fresh('cache'),
    http: { proxy: undefined, retryDelayMs: 5, maxAttempts: 3, timeoutMs: 5000 },
    ...rest,
  };
}

async function rejects(p: Promise<unknown>, code: string, ...fragments: (string | RegExp)[]): Promise<InherituneError> {
  let err: InherituneError | undefined;
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof InherituneError, `expected InherituneError, got ${(e as Error)?.stack ?? e}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.match(e.message, typeof f === 'string' ? new RegExp(f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : f);
    err = e;
    return true;
  });
  return err!;
}

/** The target folder holds exactly the installed libraries and the manifest, with the right bytes. */
function assertInstalled(binDir: string, pre: string[] = []) {
  const names = fs.readdirSync(binDir).sort();
  assert.deepEqual(names, [...pre, ...REAL_SPEC.files.map((f) => f.name), MANIFEST_NAME].sort());
  for (const f of REAL_SPEC.files) assert.ok(fs.readFileSync(path.join(binDir, f.name)).equals(LIBS[f.name]), `${f.name} content`);
  const st = cudaInstallState(binDir, REAL_SPEC);
  assert.equal(st.state, 'installed', st.reason);
}

/** Nothing installed, nothing left over: no libraries, no manifest, no staging folder, no lock. */
function assertNothingInstalled(binDir: string, pre: string[] = []) {
  assert.deepEqual(fs.readdirSync(binDir).sort(), [...pre].sort());
  assert.notEqual(cudaInstallState(binDir, REAL_SPEC).state, 'installed');
}

// ---------------------------------------------------------------------------------------------------------------

describe('metadata from onnxruntime-node', () => {
  test('the package, version, feed and files are the ones its install script names', () => {
    const ortVersion = JSON.parse(fs.readFileSync(path.join(ORT_DIR, 'package.json'), 'utf8')).version;
    assert.equal(REAL_SPEC.ortVersion, ortVersion);
    assert.equal(ID, 'Microsoft.ML.OnnxRuntime.Gpu.Linux');
    assert.deepEqual(REAL_SPEC.candidates, [{ feedIndex: 'https://api.nuget.org/v3/index.json', version: ortVersion }]);
    assert.deepEqual(
      REAL_SPEC.files.map((f) => f.pathInPackage).sort(),
      ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so', 'libonnxruntime_providers_tensorrt.so'].map(
        (f) => `runtimes/linux-x64/native/${f}`,
      ),
    );
    assert.equal(REAL_SPEC.files.at(-1)!.name, CUDA_PROVIDER_LIB, 'the provider library is placed last');
    assert.match(REAL_SPEC.source, /install-metadata\.js$/);
    assert.match(ortBinDir(ORT_DIR, 'linux', 'x64'), /bin[\\/]napi-v\d+[\\/]linux[\\/]x64$/);
    assert.deepEqual(handDownload(REAL_SPEC), {
      url: `https://api.nuget.org/v3-flatcontainer/microsoft.ml.onnxruntime.gpu.linux/${ortVersion}/microsoft.ml.onnxruntime.gpu.linux.${ortVersion}.nupkg`,
      page: `https://www.nuget.org/packages/Microsoft.ML.OnnxRuntime.Gpu.Linux/${ortVersion}`,
      fileName: `microsoft.ml.onnxruntime.gpu.linux.${ortVersion}.nupkg`,
      version: ortVersion,
      hashFrom: `https://api.nuget.org/v3/registration5-semver1/microsoft.ml.onnxruntime.gpu.linux/${ortVersion}.json`,
    });
  });

  test('without script/ (a trimmed package) the built-in copy gives the same spec; other platforms have none', () => {
    const fake = fresh('ort');
    fs.copyFileSync(path.join(ORT_DIR, 'package.json'), path.join(fake, 'package.json'));
    const s = loadCudaEpSpec(fake, 'linux/x64');
    assert.deepEqual({ ...s, source: '' }, { ...REAL_SPEC, source: '' });
    assert.match(s.source, /built-in/);
    assert.throws(() => loadCudaEpSpec(ORT_DIR, 'darwin/arm64'), /no downloadable CUDA execution provider for darwin\/arm64/);
  });

  test('install state: absent, unmanaged, stale, incomplete, installed; verify re-hashes', async () => {
    const bin = fresh('state');
    assert.equal(cudaInstallState(bin, REAL_SPEC).state, 'absent');
    fs.writeFileSync(path.join(bin, CUDA_PROVIDER_LIB), 'x');
    const un = cudaInstallState(bin, REAL_SPEC);
    assert.equal(un.state, 'unmanaged');
    assert.match(un.reason, /install-gpu --force/);
    fs.rmSync(path.join(bin, CUDA_PROVIDER_LIB));
    await installCudaEp({ ...opts(), binDir: bin });
    assert.equal((await verifyCudaInstall(bin, REAL_SPEC)).state, 'installed');
    assert.equal(cudaInstallState(bin, { ...REAL_SPEC, ortVersion: '9.9.9' }).state, 'stale');
    const lib = path.join(bin, CUDA_PROVIDER_LIB);
    const b = fs.readFileSync(lib);
    b[100] ^= 1; // same size, other bytes: only the deep check sees it
    fs.writeFileSync(lib, b);
    assert.equal(cudaInstallState(bin, REAL_SPEC).state, 'installed');
    assert.equal((await verifyCudaInstall(bin, REAL_SPEC)).state, 'incomplete');
    fs.truncateSync(lib, 10);
    assert.match(cudaInstallState(bin, REAL_SPEC).reason, /is 10 bytes, not 1500000/);
  });
});

describe('install-gpu from a feed', () => {
  test('normal install: the .so files land in the target, verified by the catalog SHA-512, manifest renamed in last', async () => {
    newState();
    const renames: string[] = [];
    const orig = realFs.renameSync;
    const m = mock.method(realFs, 'renameSync', (a: fs.PathLike, b: fs.PathLike) => {
      renames.push(path.basename(String(b)));
      return orig(a, b);
    });
    const progress: number[] = [];
    const o = opts({ onProgress: (f) => progress.push(f) });
    let res;
    try {
      res = await installCudaEp(o);
    } finally {
      m.mock.restore();
    }
    assert.equal(res.status, 'installed');
    assertInstalled(o.binDir);
    const placed = renames.filter((r) => REAL_SPEC.files.some((f) => f.name === r) || r === MANIFEST_NAME);
    assert.equal(placed.at(-1), MANIFEST_NAME, `renames: ${renames}`);
    assert.equal(placed.at(-2), CUDA_PROVIDER_LIB);
    assert.equal(res.manifest.verifiedBy, 'feed-sha512');
    assert.match(res.verification, /SHA-512 match the NuGet catalog/);
    assert.equal(res.manifest.packageSha512, createHash('sha512').update(NUPKG).digest('base64'));
    for (const f of res.manifest.files) {
      assert.equal(f.sha256, createHash('sha256').update(LIBS[f.name]).digest('hex'));
      assert.equal(f.crc32, crc32(LIBS[f.name]));
    }
    assert.deepEqual(fs.readdirSync(o.cacheDir!), [], 'the downloaded package is removed after install');
    assert.equal(progress.at(-1), 1);
    assert.ok(
      progress.every((p, i) => i === 0 || p >= progress[i - 1] - 1e-9),
      'progress never goes back',
    );
    // the registration leaf came gzip'd; the package through a redirect
    assert.ok(state.requests.some((r) => r.url.startsWith('/reg/') && /gzip/.test(String(r.headers['accept-encoding']))));
    assert.ok(state.requests.some((r) => r.url === '/blobs/package.nupkg' && r.status === 200));

    const again = await installCudaEp(o);
    assert.equal(again.status, 'already-installed');
    const forced = await installCudaEp({ ...o, force: true });
    assert.equal(forced.status, 'installed');
    assertInstalled(o.binDir);
  });

  test('interrupted download, server honours Range: resumed with Range/If-Range, result correct', async () => {
    newState({ dropAt: 400_000, dropTimes: 1 });
    assert.ok(NUPKG.length > 1_000_000, 'the package is larger than the drop points');
    const o = opts();
    const res = await installCudaEp(o);
    assertInstalled(o.binDir);
    // resumed from what reached the disk before the drop (at most what the server sent)
    const from = res.download!.resumedFrom;
    assert.equal(from.length, 1);
    assert.ok(from[0] > 0 && from[0] <= 400_000, String(from));
    assert.equal(res.download?.restarts, 0);
    const pkgReqs = state.requests.filter((r) => r.url === '/blobs/package.nupkg');
    assert.equal(pkgReqs.length, 2);
    assert.equal(pkgReqs[1].headers.range, `bytes=${from[0]}-`);
    assert.equal(pkgReqs[1].headers['if-range'], '"v1"');
    assert.equal(pkgReqs[1].status, 206);
  });

  test('interrupted download, server ignores Range: restarted from zero, result correct', async () => {
    newState({ ranges: false, dropAt: 300_000, dropTimes: 2 });
    const o = opts({ http: { retryDelayMs: 5, maxAttempts: 4 } });
    const res = await installCudaEp(o);
    assertInstalled(o.binDir);
    assert.deepEqual(res.download?.resumedFrom, []);
    assert.equal(res.download?.restarts, 2);
    assert.equal(res.download?.attempts, 3);
  });

  test('a download that fails for good keeps its part; the next run resumes it', async () => {
    newState({ dropAt: 500_000, dropTimes: 1 });
    const o = opts({ http: { retryDelayMs: 5, maxAttempts: 1 } });
    const e = await rejects(installCudaEp(o), 'E_IO', 'the part already downloaded is kept', '--from');
    assert.equal((e.details as { kind: string }).kind, 'network');
    assertNothingInstalled(o.binDir);
    const part = fs.readdirSync(o.cacheDir!).find((f) => f.endsWith('.nupkg.part'));
    assert.ok(part, 'partial download kept');
    const kept = fs.statSync(path.join(o.cacheDir!, part)).size;
    assert.ok(kept > 0 && kept <= 500_000, String(kept));
    state.requests = [];
    const res = await installCudaEp(o);
    assertInstalled(o.binDir);
    assert.deepEqual(res.download?.resumedFrom, [kept]);
    const resumed = state.requests.find((r) => r.url === '/blobs/package.nupkg');
    assert.equal(resumed?.headers.range, `bytes=${kept}-`);
    assert.equal(resumed?.headers['if-range'], '"v1"');
  });

  test('checksum mismatch: rejected, the download deleted, nothing installed', async () => {
    newState({ hash: createHash('sha512').update('something else').digest('base64') });
    const o = opts();
    const e = await rejects(installCudaEp(o), 'E_INPUT', 'checksum mismatch', 'nothing was installed');
    assert.equal((e.details as { kind: string }).kind, 'integrity');
    assertNothingInstalled(o.binDir);
    assert.deepEqual(fs.readdirSync(o.cacheDir!), []);
  });

  test('size mismatch with the catalog: rejected before the body is read', async () => {
    newState({ size: NUPKG.length + 1 });
    const o = opts();
    await rejects(installCudaEp(o), 'E_INPUT', `bytes but the feed lists ${NUPKG.length + 1}`);
    assertNothingInstalled(o.binDir);
    assert.deepEqual(fs.readdirSync(o.cacheDir!), []);
  });

  test('a package whose files do not match their zip CRC-32 is rejected, nothing installed', async () => {
    // stored (uncompressed) entries, one byte flipped inside the cuda library: only the CRC check can see it
    const pkg = await makeNupkg({ compress: false });
    const at = pkg.indexOf(LIBS[CUDA_PROVIDER_LIB].subarray(0, 64)) + 1000;
    pkg[at] ^= 0xff;
    newState({ pkg });
    const o = opts();
    await rejects(installCudaEp(o), 'E_INPUT', 'does not match its zip directory', 'CRC-32');
    assertNothingInstalled(o.binDir);
  });

  test('no network (connection refused): the message names --from, the package, version and URL', async () => {
    const o = opts({ feed: REFUSED });
    const e = await rejects(
      installCudaEp(o),
      'E_IO',
      'ECONNREFUSED',
      '--from',
      `${ID} ${VERSION}`,
      handDownload(REAL_SPEC).url,
      'install-gpu --from',
    );
    assert.equal((e.details as { kind: string }).kind, 'network');
    assertNothingInstalled(o.binDir);
  });

  test('cancel during the download: E_CANCELLED, nothing installed, no partial file', async () => {
    newState({ stallAt: 100_000 });
    const ac = new AbortController();
    const o = opts({ signal: ac.signal, onProgress: (f, msg) => msg.startsWith('downloading') && f > 0.02 && ac.abort() });
    await rejects(installCudaEp(o), 'E_CANCELLED');
    assertNothingInstalled(o.binDir);
    assert.deepEqual(fs.readdirSync(o.cacheDir!), []);
  });

  test('cancel during extraction: nothing installed, staging removed', async () => {
    newState();
    const ac = new AbortController();
    const o = opts({ signal: ac.signal, onProgress: (_f, msg) => msg.startsWith('extracting') && ac.abort() });
    await rejects(installCudaEp(o), 'E_CANCELLED');
    assertNothingInstalled(o.binDir);
    assert.deepEqual(fs.readdirSync(o.cacheDir!), []);
  });

  test('a failure while placing files leaves no manifest, so nothing counts as installed (also over a previous install)', async () => {
    newState();
    const o = opts();
    await installCudaEp(o);
    const orig = realFs.renameSync;
    const m = mock.method(realFs, 'renameSync', (a: fs.PathLike, b: fs.PathLike) => {
      if (path.basename(String(b)) === CUDA_PROVIDER_LIB) throw Object.assign(new Error('EIO: simulated'), { code: 'EIO' });
      return orig(a, b);
    });
    try {
      await assert.rejects(installCudaEp({ ...o, force: true }), /simulated/);
    } finally {
      m.mock.restore();
    }
    assert.equal(fs.existsSync(path.join(o.binDir, MANIFEST_NAME)), false);
    assert.notEqual(cudaInstallState(o.binDir, REAL_SPEC).state, 'installed');
    assert.ok(!fs.readdirSync(o.binDir).some((f) => f.startsWith(STAGING_PREFIX) || f === LOCK_NAME));
  });

  test('a live lock refuses a second install; a stale one is taken over', async () => {
    newState();
    const o = opts();
    fs.writeFileSync(path.join(o.binDir, LOCK_NAME), `${process.ppid}\n`);
    await rejects(installCudaEp(o), 'E_EXISTS', 'another GPU runtime install is running');
    fs.writeFileSync(path.join(o.binDir, LOCK_NAME), '2147483646\n');
    fs.mkdirSync(path.join(o.binDir, `${STAGING_PREFIX}old`));
    await installCudaEp(o);
    assertInstalled(o.binDir);
  });
});

describe('install-gpu --from FILE.nupkg (offline)', () => {
  test('installs from the file without touching the network; checked by its zip CRCs', async () => {
    const file = path.join(fresh('dl'), `${IDL}.${VERSION}.nupkg`);
    fs.writeFileSync(file, NUPKG);
    const o = opts({ from: file, feed: REFUSED });
    const res = await installCudaEp(o);
    assertInstalled(o.binDir);
    assert.equal(res.manifest.verifiedBy, 'zip-crc32');
    assert.equal(res.manifest.source, file);
    assert.match(res.verification, /--sha512/);
    assert.ok(fs.existsSync(file), "the user's file is kept");
  });

  test('with --sha512 (hex or base64) the file is checked; a wrong one is rejected and the file kept', async () => {
    const file = path.join(fresh('dl'), 'pkg.nupkg');
    fs.writeFileSync(file, NUPKG);
    const hex = createHash('sha512').update(NUPKG).digest('hex');
    const o = opts({ from: file, sha512: hex, feed: REFUSED });
    assert.equal((await installCudaEp(o)).manifest.verifiedBy, 'user-sha512');
    assertInstalled(o.binDir);
    const bad = opts({ from: file, sha512: createHash('sha512').update('x').digest('base64'), feed: REFUSED });
    await rejects(installCudaEp(bad), 'E_INPUT', 'checksum mismatch', '--sha512');
    assertNothingInstalled(bad.binDir);
    assert.ok(fs.existsSync(file));
    await rejects(installCudaEp(opts({ from: file, sha512: 'abc' })), 'E_ARGS', '--sha512');
    assert.equal(normaliseSha512(hex), createHash('sha512').update(NUPKG).digest('base64'));
  });

  test('a package of another version, or not a zip, is refused by name', async () => {
    const dir = fresh('dl');
    const other = path.join(dir, 'old.nupkg');
    fs.writeFileSync(other, await makeNupkg({ version: '1.29.0' }));
    const o = opts({ from: other });
    await rejects(installCudaEp(o), 'E_INPUT', `is ${ID} 1.29.0`, `needs ${ID} ${VERSION}`);
    assertNothingInstalled(o.binDir);
    const junk = path.join(dir, 'junk.nupkg');
    fs.writeFileSync(junk, 'this is not a zip');
    await rejects(installCudaEp(opts({ from: junk })), 'E_INPUT', 'not a readable .nupkg');
    await rejects(installCudaEp(opts({ from: path.join(dir, 'missing.nupkg') })), 'E_NOT_FOUND', 'does not exist', 'install-gpu --from');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Through a proxy

interface Proxy {
  url: string;
  connects: string[];
  /** Local ports of the proxy's connections to the server: a request from any other port did not go through it. */
  upstreamPorts: Set<number>;
  close(): void;
}

/** A minimal CONNECT proxy on 127.0.0.1 (optionally requiring Basic auth). */
async function startProxy(auth?: { user: string; pass: string }): Promise<Proxy> {
  const connects: string[] = [];
  const upstreamPorts = new Set<number>();
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((client) => {
    sockets.add(client);
    let head = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onData);
      const lines = head.subarray(0, end).toString('latin1').split('\r\n');
      const [method, target] = lines[0].split(' ');
      if (method !== 'CONNECT') return void client.end('HTTP/1.1 405 Method Not Allowed\r\n\r\n');
      const pa = lines.find((l) => /^proxy-authorization:/i.test(l))?.split(': ')[1];
      if (auth && pa !== `Basic ${Buffer.from(`${auth.user}:${auth.pass}`).toString('base64')}`)
        return void client.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n');
      connects.push(target);
      const i = target.lastIndexOf(':');
      const upstream = net.connect(Number(target.slice(i + 1)), target.slice(0, i).replace(/^\[|\]$/g, ''), () => {
        upstreamPorts.add(upstream.localPort!);
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        const rest = head.subarray(end + 4);
        if (rest.length) upstream.write(rest);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      sockets.add(upstream);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    };
    client.on('data', onData);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://${auth ? `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.pass)}@` : ''}127.0.0.1:${(srv.address() as net.AddressInfo).port}`,
    connects,
    upstreamPorts,
    close: () => {
      for (const s of sockets) s.destroy();
      srv.close();
    },
  };
}

describe('install-gpu through an HTTPS proxy (CONNECT tunnel)', () => {
  test('every request goes through the proxy, with credentials from the proxy URL', async () => {
    newState({ dropAt: 250_000, dropTimes: 1 });
    const proxy = await startProxy({ user: 'user', pass: 'p@ss:1' });
    try {
      const o = opts();
      o.http = { ...o.http, proxy: proxy.url };
      const res = await installCudaEp(o);
      assertInstalled(o.binDir);
      assert.equal(res.download?.resumedFrom.length, 1, 'the resumed request also went through the tunnel');
      const host = new URL(BASE).host;
      assert.ok(proxy.connects.length >= 2 && proxy.connects.every((c) => c === host), String(proxy.connects));
      assert.ok(state.requests.length >= 6);
      for (const r of state.requests) assert.ok(proxy.upstreamPorts.has(r.port!), `${r.url} came through the proxy`);
      // wrong credentials: a clear 407 message
      const o2 = opts();
      o2.http = { ...o2.http, proxy: proxy.url.replace(/\/\/[^@]*@/, '//user:wrong@'), maxAttempts: 1 };
      await assert.rejects(installCudaEp(o2), /407 \(proxy authentication required/);
    } finally {
      proxy.close();
    }
  });

  const hasOpenssl = (() => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  test(
    'https feed through the tunnel (TLS inside CONNECT, extra CA trusted)',
    { skip: !hasOpenssl && 'openssl not installed' },
    async () => {
      const dir = fresh('tls');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          path.join(dir, 'k.pem'),
          '-out',
          path.join(dir, 'c.pem'),
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=DNS:localhost,IP:127.0.0.1',
        ],
        { stdio: 'ignore' },
      );
      const cert = fs.readFileSync(path.join(dir, 'c.pem'));
      let tlsBase = '';
      const srv = https.createServer(
        { key: fs.readFileSync(path.join(dir, 'k.pem')), cert },
        feedHandler(
          () => state,
          () => tlsBase,
        ),
      );
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      tlsBase = `https://localhost:${(srv.address() as net.AddressInfo).port}`;
      const proxy = await startProxy();
      try {
        newState();
        const o = opts({ feed: `${tlsBase}/v3/index.json` });
        o.http = { ...o.http, proxy: proxy.url, ca: cert };
        await installCudaEp(o);
        assertInstalled(o.binDir);
        assert.ok(proxy.connects.length >= 1 && proxy.connects.every((c) => c === new URL(tlsBase).host));
        for (const r of state.requests) assert.ok(proxy.upstreamPorts.has(r.port!), `${r.url} came through the proxy`);
        // without the CA the certificate is refused (and not retried as a network failure)
        const o2 = opts({ feed: `${tlsBase}/v3/index.json` });
        o2.http = { ...o2.http, proxy: proxy.url };
        await assert.rejects(installCudaEp(o2), /self[- ]signed|certificate/i);
      } finally {
        proxy.close();
        srv.closeAllConnections();
        srv.close();
      }
    },
  );

  test('proxy settings: explicit wins, HTTPS_PROXY for https, NO_PROXY bypasses', async () => {
    const env = { HTTPS_PROXY: 'http://env:1', http_proxy: 'plain:2', NO_PROXY: 'localhost,.internal.example 10.0.0.1:8443' };
    assert.deepEqual(proxyOptions({ env }), {
      httpProxy: 'http://plain:2',
      httpsProxy: 'http://env:1',
      noProxy: 'localhost,.internal.example,10.0.0.1:8443',
    });
    assert.deepEqual(proxyOptions({ explicit: 'http://cli:3', env, noProxy: ['[::1]'] }), {
      httpProxy: 'http://cli:3',
      httpsProxy: 'http://cli:3',
      noProxy: 'localhost,.internal.example,10.0.0.1:8443,[::1]',
    });
    assert.deepEqual(proxyOptions({ env: { all_proxy: 'http://all:4' } }), {
      httpProxy: 'http://all:4',
      httpsProxy: 'http://all:4',
      noProxy: '',
    });
    assert.deepEqual(proxyOptions({ env: {} }), { httpProxy: '', httpsProxy: '', noProxy: '' });
    assert.deepEqual(
      proxyOptions(undefined),
      { httpProxy: '', httpsProxy: '', noProxy: '' },
      'no settings: direct, whatever process.env says',
    );
    // Applied by undici on real requests: a proxy nobody listens on fails, unless NO_PROXY names the host.
    newState();
    const dead = REFUSED.replace('/v3/index.json', '');
    const http1 = { proxy: { env: { http_proxy: dead } }, maxAttempts: 1 };
    await assert.rejects(getJson(`${BASE}/v3/index.json`, http1), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ECONNREFUSED');
      assert.match(e.message, new RegExp(`^proxy ${new URL(dead).host}: `), 'the message blames the proxy, not the server');
      return true;
    });
    for (const noProxy of ['127.0.0.1', `127.0.0.1:${new URL(BASE).port}`, '*']) {
      const v = await getJson<{ version: string }>(`${BASE}/v3/index.json`, {
        ...http1,
        proxy: { env: { http_proxy: dead, NO_PROXY: noProxy } },
      });
      assert.equal(v?.version, '3.0.0', noProxy);
    }
    await assert.rejects(getJson(`${BASE}/v3/index.json`, { proxy: 'not a url:x', maxAttempts: 1 }), /is not a URL/);
  });

  test('getJson: 404 → undefined, gzip decoded', async () => {
    newState();
    assert.equal(await getJson(`${BASE}/nope.json`), undefined);
    const leaf = await getJson<{ catalogEntry: string }>(`${BASE}/reg/${IDL}/${VERSION}.json`);
    assert.match(leaf!.catalogEntry, /catalog\/leaf\.json$/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// gpu-check logic on injected systems

interface FakeSystem {
  files?: Record<string, string>;
  commands?: Record<string, RunResult>;
  env?: Record<string, string>;
  platform?: string;
}

function fakeIo(f: FakeSystem): SystemIo {
  const files = f.files ?? {};
  return {
    platform: f.platform ?? 'linux',
    arch: 'x64',
    env: f.env ?? {},
    readFile: (p) => files[p],
    isFile: (p) => p in files,
    listDir: (d) => [
      ...new Set(
        Object.keys(files)
          .filter((p) => p.startsWith(`${d}/`))
          .map((p) => p.slice(d.length + 1).split('/')[0]),
      ),
    ],
    run: async (cmd) => f.commands?.[cmd],
  };
}

const PROC =
  'NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.86.15  Release Build  (dvs-builder@U16-I3-B03-4-3)  Thu Jan 16 2025\nGCC version:  gcc version 12.3.0';
const ALL = [
  'libcuda.so.1',
  'libcudart.so.12',
  'libcublas.so.12',
  'libcublasLt.so.12',
  'libcudnn.so.9',
  'libcufft.so.11',
  'libcurand.so.10',
];
const ldconfig = (names: string[], dir = '/usr/lib/x86_64-linux-gnu') =>
  ({
    status: 0,
    stdout: `${names.length} libs found in cache \`/etc/ld.so.cache'\n${names.map((n) => `\t${n} (libc6,x86-64) => ${dir}/${n}\n\t${n} (libc6) => /usr/lib32/${n}`).join('\n')}\n`,
  }) satisfies RunResult;

describe('gpu-check logic', () => {
  test('driver present and every library in the ldconfig cache: ok', async () => {
    const r = await checkCudaRequirements(
      fakeIo({ files: { '/proc/driver/nvidia/version': PROC }, commands: { ldconfig: ldconfig(ALL) } }),
    );
    assert.equal(r.ok, true);
    assert.equal(r.driver.version, '570.86.15');
    assert.equal(r.driver.source, '/proc/driver/nvidia/version');
    assert.deepEqual(r.missing, []);
    assert.deepEqual(r.fixes, []);
    assert.ok(r.libs.every((l) => l.via === 'ldconfig' && l.path === `/usr/lib/x86_64-linux-gnu/${l.soname}`));
  });

  test('no driver (no /proc entry, no nvidia-smi): says so and how to install it', async () => {
    const r = await checkCudaRequirements(fakeIo({ commands: { ldconfig: ldconfig(ALL.slice(1)) } }));
    assert.equal(r.ok, false);
    assert.equal(r.driver.found, false);
    assert.match(r.driver.problem!, /no NVIDIA driver.*no nvidia-smi/);
    assert.match(r.fixes.join('\n'), /Install the NVIDIA driver ≥ 525\.60\.13/);
    assert.match(r.fixes.join('\n'), /--gpus all/);
    assert.deepEqual(r.missing, ['libcuda.so.1']);
  });

  test('driver from nvidia-smi only, too old for CUDA 12', async () => {
    const r = await checkCudaRequirements(
      fakeIo({
        commands: { ldconfig: ldconfig(ALL), 'nvidia-smi': { status: 0, stdout: 'NVIDIA H200, 470.82.01\nNVIDIA H200, 470.82.01\n' } },
      }),
    );
    assert.equal(r.driver.source, 'nvidia-smi');
    assert.deepEqual(r.driver.gpus, ['NVIDIA H200', 'NVIDIA H200']);
    assert.equal(r.driver.ok, false);
    assert.match(r.driver.problem!, /470\.82\.01 is older than CUDA 12 needs \(≥ 525\.60\.13\)/);
    assert.match(r.fixes[0], /Update the NVIDIA driver/);
  });

  test('cuDNN and cuBLAS missing: names them, with the pip packages and the LD_LIBRARY_PATH line, and apt names', async () => {
    const site = '/home/u/.venv/lib/python3.12/site-packages';
    const r = await checkCudaRequirements(
      fakeIo({
        files: { '/proc/driver/nvidia/version': PROC, [`${site}/numpy/__init__.py`]: '' },
        commands: {
          ldconfig: ldconfig(ALL.filter((n) => !/cudnn|cublas/.test(n))),
          python3: { status: 0, stdout: `${site}\n/home/u/.local/lib/python3.12/site-packages\n` },
        },
      }),
    );
    assert.equal(r.ok, false);
    assert.deepEqual(r.missing, ['libcublas.so.12', 'libcublasLt.so.12', 'libcudnn.so.9']);
    const fixes = r.fixes.join('\n');
    assert.match(fixes, /pip install nvidia-cublas-cu12 nvidia-cudnn-cu12`/);
    assert.ok(fixes.includes(`export LD_LIBRARY_PATH=${site}/nvidia/cublas/lib:${site}/nvidia/cudnn/lib`), fixes);
    assert.match(fixes, /libcudnn\.so\.9: libcudnn9-cuda-12/);
  });

  test('a pip wheel that is installed but not on the loader path: the exact LD_LIBRARY_PATH to set', async () => {
    const site = '/usr/local/lib/python3.11/site-packages';
    const r = await checkCudaRequirements(
      fakeIo({
        files: { '/proc/driver/nvidia/version': PROC, [`${site}/nvidia/cudnn/lib/libcudnn.so.9`]: 'x' },
        commands: { ldconfig: ldconfig(ALL.filter((n) => n !== 'libcudnn.so.9')) },
      }),
    );
    const cudnn = r.libs.find((l) => l.soname === 'libcudnn.so.9')!;
    assert.equal(cudnn.loadable, false);
    assert.deepEqual(cudnn.elsewhere, [`${site}/nvidia/cudnn/lib/libcudnn.so.9`]);
    assert.ok(
      r.fixes.some((f) => f.includes(`export LD_LIBRARY_PATH=${site}/nvidia/cudnn/lib\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}`)),
      r.fixes.join('\n'),
    );
    assert.ok(!r.fixes.some((f) => /pip install/.test(f)), 'nothing to install, only a path to set');
  });

  test('LD_LIBRARY_PATH folders count as loadable; a CUDA 13-only machine gets the .so.12 note', async () => {
    const r = await checkCudaRequirements(
      fakeIo({
        files: { '/proc/driver/nvidia/version': PROC, '/opt/cu/libcudnn.so.9': 'x' },
        env: { LD_LIBRARY_PATH: '/opt/cu' },
        commands: { ldconfig: ldconfig(['libcuda.so.1', 'libcudart.so.13', 'libcublas.so.13']) },
      }),
      { ortVersion: '1.30.0' },
    );
    assert.equal(r.libs.find((l) => l.soname === 'libcudnn.so.9')!.via, 'LD_LIBRARY_PATH');
    assert.ok(r.missing.includes('libcudart.so.12'));
    assert.match(r.notes.join('\n'), /libcudart\.so\.13: onnxruntime-node 1\.30\.0's CUDA EP is built for CUDA 12/);
  });

  test('the required list can come from the provider library (DT_NEEDED)', async () => {
    const needed = [
      'libcublasLt.so.12',
      'libcublas.so.12',
      'libcudnn.so.9',
      'libcurand.so.10',
      'libcufft.so.11',
      'libcudart.so.12',
      'libdl.so.2',
      'libstdc++.so.6',
      'libc.so.6',
      'libnvrtc.so.12',
    ];
    assert.deepEqual(cudaLibsFromNeeded(needed), [
      'libcublasLt.so.12',
      'libcublas.so.12',
      'libcudnn.so.9',
      'libcurand.so.10',
      'libcufft.so.11',
      'libcudart.so.12',
      'libnvrtc.so.12',
    ]);
    const r = await checkCudaRequirements(
      fakeIo({ files: { '/proc/driver/nvidia/version': PROC }, commands: { ldconfig: ldconfig(ALL) } }),
      { required: cudaLibsFromNeeded(needed), listSource: 'DT_NEEDED' },
    );
    assert.deepEqual(r.missing, ['libnvrtc.so.12']);
    assert.match(r.notes.join('\n'), /libnvrtc\.so\.12: needed by the provider library/);
  });

  test('not linux/x64: unsupported, no CUDA advice', async () => {
    const r = await checkCudaRequirements(fakeIo({ platform: 'darwin' }));
    assert.equal(r.supported, false);
    assert.match(r.notes[0], /no downloadable CUDA execution provider for darwin\/x64/);
  });

  test('parsers: ldconfig -p keeps x86-64 entries; driver versions from proprietary and open modules', () => {
    const m = parseLdconfig(ldconfig(['libcudart.so.12']).stdout, 'x64');
    assert.deepEqual(m.get('libcudart.so.12'), ['/usr/lib/x86_64-linux-gnu/libcudart.so.12']);
    assert.equal(
      parseDriverVersion('NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024'),
      '550.54.15',
    );
    assert.equal(parseDriverVersion(PROC), '570.86.15');
    assert.equal(parseDriverVersion('garbage'), undefined);
  });

  test('status: CUDA EP ready / WebGPU / CPU only', async () => {
    const okReq = await checkCudaRequirements(
      fakeIo({ files: { '/proc/driver/nvidia/version': PROC }, commands: { ldconfig: ldconfig(ALL) } }),
    );
    const noReq = await checkCudaRequirements(fakeIo({ commands: {} }));
    const installed = { state: 'installed' as const, reason: 'ok', manifest: {} as never };
    const absent = { state: 'absent' as const, reason: 'CUDA EP not installed' };
    const web = (ok: boolean) => ({ ep: 'webgpu' as const, ok, ms: 1, error: ok ? undefined : 'No supported adapters' });
    assert.equal(summarizeStatus(installed, okReq, [web(false), { ep: 'cuda', ok: true, ms: 1 }]).label, 'CUDA EP ready');
    assert.equal(summarizeStatus(installed, okReq, [web(true), { ep: 'cuda', ok: false, ms: 1, error: 'boom' }]).label, 'WebGPU');
    const s = summarizeStatus(absent, noReq, [web(false)]);
    assert.equal(s.label, 'CPU only');
    assert.match(s.summary, /CUDA EP not installed.*No supported adapters/);
    assert.equal(summarizeStatus(installed, noReq, [web(true)]).label, 'WebGPU');
  });
});

describe('ELF and session probes', () => {
  test(
    'DT_NEEDED, SONAME and RUNPATH of the real libonnxruntime.so.1',
    { skip: process.platform !== 'linux' || process.arch !== 'x64' },
    () => {
      const d = readElfDynamicFile(path.join(ortBinDir(ORT_DIR), 'libonnxruntime.so.1'));
      assert.ok(d);
      assert.equal(d.soname, 'libonnxruntime.so.1');
      assert.ok(d.needed.includes('libc.so.6') && d.needed.includes('libstdc++.so.6'), d.needed.join(','));
      assert.equal(d.runpath, '$ORIGIN');
      assert.equal(readElfDynamicFile(path.join(ORT_DIR, 'package.json')), undefined);
    },
  );

  test('the tiny Add model runs on the CPU EP in a child process; WebGPU answers ok or with a reason', async () => {
    assert.ok(tinyAddModel().length > 20);
    const cpu = await probeEp('cpu', { ortDir: ORT_DIR, timeoutMs: 60_000 });
    assert.equal(cpu.ok, true, cpu.error);
    const web = await probeEp('webgpu', { ortDir: ORT_DIR, timeoutMs: 60_000 });
    assert.equal(typeof web.ok, 'boolean');
    if (!web.ok) assert.ok(web.error && web.error.length > 0);
    const missing = await probeEp('cpu', { ortDir: path.join(root, 'no-such-ort'), timeoutMs: 60_000 });
    assert.equal(missing.ok, false);
    assert.match(missing.error!, /Cannot find module/);
  });

  test('hints for the errors we know', () => {
    assert.match(
      probeHint(
        'webgpu',
        'Failed to get a WebGPU adapter: No supported adapters',
        "Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file",
      )!,
      /apt install libvulkan1/,
    );
    assert.match(probeHint('webgpu', 'Failed to get a WebGPU adapter: No supported adapters', '')!, /vulkaninfo/);
    assert.match(
      probeHint(
        'cuda',
        'Failed to load library libonnxruntime_providers_cuda.so with error: libcudnn.so.9: cannot open shared object file',
        '',
      )!,
      /libcudnn\.so\.9 is missing/,
    );
    assert.match(probeHint('cuda', '/x/libonnxruntime_providers_shared.so: cannot open shared object file', '')!, /install-gpu/);
    assert.equal(probeHint('cpu', 'x', ''), undefined);
  });
});

describe('the built CLI', () => {
  const ROOT = path.resolve(__dirname, '../..');
  const CLI = path.join(ROOT, 'dist/cli.js');
  before(() => {
    if (!fs.existsSync(CLI) || !fs.existsSync(path.join(ROOT, 'dist/gpuInstall.js')))
      execFileSync('node', ['esbuild.mjs'], { cwd: ROOT, stdio: 'inherit' });
  });

  test('gpu-check and install-gpu run (their installer and check modules are loaded on demand)', () => {
    const r = JSON.parse(execFileSync('node', [CLI, 'gpu-check', '--no-probe', '--json'], { encoding: 'utf8' })) as {
      ortVersion: string;
      spec: { packageId: string };
    };
    assert.equal(r.spec.packageId, ID);
    assert.equal(r.ortVersion, JSON.parse(fs.readFileSync(path.join(ORT_DIR, 'package.json'), 'utf8')).version);
    const missing = path.join(fresh('cli'), 'missing.nupkg');
    const e = spawnSync('node', [CLI, 'install-gpu', '--from', missing, '--no-check'], { encoding: 'utf8' });
    assert.equal(e.status, 1, e.stderr);
    assert.match(e.stderr, /missing\.nupkg does not exist/);
    assert.match(e.stderr, /install-gpu --from/);
  });

  test('the installer bundle (dist/gpuInstall.js) throws errors the host recognises as InherituneError', async () => {
    assert.ok(fs.existsSync(path.join(ROOT, 'dist/gpuInstall.js')));
    const { installCudaEp } = loadInstaller(path.join(ROOT, 'dist'));
    const missing = path.join(fresh('cli'), 'nope');
    await rejects(installCudaEp({ binDir: missing, spec: REAL_SPEC }), 'E_NOT_FOUND', 'binding folder');
  });

  test('a CLI start loads no HTTP(S) module (the GPU installer is loaded only by its commands)', () => {
    const probe = path.join(fresh('cli'), 'loaded.js');
    fs.writeFileSync(probe, "process.on('exit', () => process.stderr.write('LOADED ' + process.moduleLoadList.join(',')));");
    const r = spawnSync('node', ['-r', probe, CLI, '--version'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const loaded = r.stderr.slice(r.stderr.indexOf('LOADED ') + 7).split(',');
    assert.ok(loaded.includes('NativeModule fs'), 'moduleLoadList lists the built-in modules');
    assert.deepEqual(
      loaded.filter((m) => /^NativeModule (https?|_http_\w+)$/.test(m)),
      [],
    );
  });
});

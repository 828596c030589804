// `npm run package` builds one .vsix per platform, each with exactly its platform's onnxruntime-node binaries.
// One test: it packages all five (about 15 s each on 2 cores), then lists each package's native files and compares
// them with what onnxruntime-node ships for that platform.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import yauzl from 'yauzl';
import { TARGETS } from '../../scripts/package.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const ORT_BIN = path.join(ROOT, 'node_modules/onnxruntime-node/bin/napi-v6');

/** Entry names and the text of extension.vsixmanifest. */
function readVsix(file) {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const names = [];
      let manifest = '';
      zip.on('entry', (e) => {
        names.push(e.fileName);
        if (e.fileName !== 'extension.vsixmanifest') return zip.readEntry();
        zip.openReadStream(e, (err2, s) => {
          if (err2) return reject(err2);
          s.on('data', (c) => (manifest += c));
          s.on('end', () => zip.readEntry());
        });
      });
      zip.on('end', () => resolve({ names, manifest }));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

const isNative = (f) => /\.(node|so(\.\d+)*|dll|dylib|exe)$/i.test(f) || /\/bin\/napi-v\d+\//.test(f);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'inheritune-package-'));
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  spawnSync(process.execPath, ['esbuild.mjs'], { cwd: ROOT, stdio: 'inherit' }); // back to the development build
});

test('npm run package: one .vsix per platform, each with exactly its own onnxruntime-node binaries', { timeout: 600_000 }, async (t) => {
  const t0 = Date.now();
  const r = spawnSync('npm', ['run', 'package', '--', '--out', tmp], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  t.diagnostic(`packaged ${Object.keys(TARGETS).length} targets in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

  const made = fs
    .readdirSync(tmp)
    .filter((f) => f.endsWith('.vsix'))
    .sort();
  assert.deepEqual(
    made,
    Object.keys(TARGETS)
      .map((tg) => `${PKG.name}-${tg}-${PKG.version}.vsix`)
      .sort(),
  );

  // macOS: npm's tarball has libonnxruntime.1.30.0.dylib as a copy of libonnxruntime.1.dylib, which is the only name
  // the binding asks the loader for; that copy is the one file left out.
  const darwin = path.join(ORT_BIN, 'darwin/arm64');
  const versioned = fs.readdirSync(darwin).filter((f) => /^libonnxruntime\.\d+\.\d+\.\d+\.dylib$/.test(f));
  for (const v of versioned)
    assert.ok(fs.readFileSync(path.join(darwin, v)).equals(fs.readFileSync(path.join(darwin, 'libonnxruntime.1.dylib'))), `${v} is a copy`);
  assert.ok(fs.readFileSync(path.join(darwin, 'onnxruntime_binding.node')).includes('@rpath/libonnxruntime.1.dylib'));

  for (const [target, folder] of Object.entries(TARGETS)) {
    const file = path.join(tmp, `${PKG.name}-${target}-${PKG.version}.vsix`);
    const { names, manifest } = await readVsix(file);
    const files = names.filter((n) => n.startsWith('extension/')).map((n) => n.slice('extension/'.length));
    const native = files.filter(isNative).sort();
    t.diagnostic(`${target}: ${(fs.statSync(file).size / 1e6).toFixed(1)} MB; ${native.map((f) => path.basename(f)).join(', ')}`);
    const expected = fs
      .readdirSync(path.join(ORT_BIN, folder))
      .filter((f) => !versioned.includes(f) || !target.startsWith('darwin-'))
      .map((f) => `node_modules/onnxruntime-node/bin/napi-v6/${folder}/${f}`)
      .sort();
    assert.ok(
      expected.some((f) => f.endsWith('onnxruntime_binding.node')),
      `${folder} has a binding`,
    );
    assert.deepEqual(native, expected, `${target}: native files`);
    assert.match(manifest, new RegExp(`TargetPlatform="${target}"`), `${target}: marked as a platform package`);
    for (const f of [
      'package.json',
      'dist/extension.js',
      'dist/cli.js',
      'dist/gpuInstall.js',
      'node_modules/onnxruntime-node/dist/index.js',
    ])
      assert.ok(files.includes(f), `${target}: ${f}`);
    // sources (the AssemblyScript kernels included) stay out: the kernels ship inside the bundles
    assert.deepEqual(
      files.filter((f) => f.startsWith('src/') || f.endsWith('.wasm')),
      [],
      `${target}: sources or loose .wasm files`,
    );
    const modules = [...new Set(files.filter((f) => f.startsWith('node_modules/')).map((f) => f.split('/')[1]))].sort();
    assert.deepEqual(
      modules,
      ['onnxruntime-common', 'onnxruntime-node'],
      `${target}: node_modules that ship (undici and the rest are bundled)`,
    );
  }
});

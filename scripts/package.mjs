// `npm run package`: one platform-specific .vsix per platform onnxruntime-node ships binaries for, each carrying only
// that platform's binaries (VS Code and the Marketplace then install the right one; an untargeted .vsix would give
// every user the binaries of the machine that packaged it). Usage:
//   node scripts/package.mjs [--target linux-x64,win32-x64] [--out out/vsix] [--no-build]
// The production build runs once; each package is `vsce package --target T --ignoreFile <.vscodeignore for T>`.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** VS Code target → onnxruntime-node's bin/napi-v*\/<os>/<arch> folder. */
export const TARGETS = {
  'linux-x64': 'linux/x64',
  'linux-arm64': 'linux/arm64',
  'darwin-arm64': 'darwin/arm64',
  'win32-x64': 'win32/x64',
  'win32-arm64': 'win32/arm64',
};

const ORT_BIN_LINE = /^!node_modules\/onnxruntime-node\/bin\/napi-v\*\/[^/]+\/[^/]+\/\*\*$/m;

/**
 * The .vscodeignore for one target: the repository's, with its onnxruntime-node binary folder swapped for the
 * target's. On macOS npm's tarball holds libonnxruntime.1.30.0.dylib as a byte-identical copy of
 * libonnxruntime.1.dylib (a symlink flattened); the binding and the library name only @rpath/libonnxruntime.1.dylib,
 * so the versioned copy (45 MB) stays out.
 */
export function ignoreFileFor(target, base = fs.readFileSync(path.join(ROOT, '.vscodeignore'), 'utf8')) {
  const folder = TARGETS[target];
  if (!folder) throw new Error(`unknown target ${target}; one of ${Object.keys(TARGETS).join(', ')}`);
  if (!ORT_BIN_LINE.test(base))
    throw new Error('.vscodeignore has no "!node_modules/onnxruntime-node/bin/napi-v*/<os>/<arch>/**" line to retarget');
  // vsce keeps a file when any `!` pattern matches it, whatever the order, so the dylib copy is left out by naming
  // what to include rather than by excluding it afterwards.
  const files = target.startsWith('darwin-') ? '{onnxruntime_binding.node,libonnxruntime.1.dylib}' : '**';
  return base.replace(ORT_BIN_LINE, `!node_modules/onnxruntime-node/bin/napi-v*/${folder}/${files}`);
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${[cmd, ...args].join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})`);
}

function main(argv) {
  const arg = (name) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const targets = (arg('--target') ?? Object.keys(TARGETS).join(',')).split(',').filter(Boolean);
  for (const t of targets) if (!TARGETS[t]) throw new Error(`unknown target ${t}; one of ${Object.keys(TARGETS).join(', ')}`);
  const outDir = path.resolve(ROOT, arg('--out') ?? 'out/vsix');
  fs.mkdirSync(outDir, { recursive: true });
  const { name, version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  for (const t of targets) {
    const folder = path.join(ROOT, 'node_modules/onnxruntime-node/bin/napi-v6', TARGETS[t]);
    if (!fs.existsSync(folder))
      throw new Error(`${folder} is missing: run npm ci (onnxruntime-node ships the binaries in its npm package)`);
  }
  if (!argv.includes('--no-build')) run(process.execPath, ['esbuild.mjs', '--production']);
  const vsce = path.join(ROOT, 'node_modules/@vscode/vsce/vsce');
  for (const t of targets) {
    const ignoreFile = path.join(outDir, `.vscodeignore-${t}`);
    fs.writeFileSync(ignoreFile, ignoreFileFor(t));
    try {
      run(process.execPath, [
        vsce,
        'package',
        '--target',
        t,
        '--ignoreFile',
        ignoreFile,
        '-o',
        path.join(outDir, `${name}-${t}-${version}.vsix`),
      ]);
    } finally {
      fs.rmSync(ignoreFile, { force: true });
    }
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`package: ${e.message}\n`);
    process.exit(1);
  }
}

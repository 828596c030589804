// Build the extension and package it as the .vsix a user installs (onnxruntime-node included).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from './proc.mjs';
import { REPO } from './paths.mjs';

let built;
/** `node esbuild.mjs` at the repository root (once per harness run). */
export function buildExtension() {
  built ??= run(process.execPath, ['esbuild.mjs'], { cwd: REPO, timeoutMs: 120_000 });
  return built;
}

const packaged = new Map();
/**
 * Package into `dir`. `npm run package` uses `vsce package --no-dependencies`, which leaves node_modules (and so
 * onnxruntime-node) out of the .vsix; the harness therefore packages with dependencies, and `.vscodeignore` decides
 * which files of them ship. Then rebuilds the development bundle (with source maps) for the source-folder runs.
 */
export function packageVsix(dir) {
  if (!packaged.has(dir)) {
    packaged.set(
      dir,
      (async () => {
        await buildExtension();
        await run(process.execPath, ['esbuild.mjs', '--production'], { cwd: REPO, timeoutMs: 120_000 });
        const vsix = path.join(dir, 'inheritune.vsix');
        const vsce = path.join(REPO, 'node_modules', '@vscode', 'vsce', 'vsce');
        const t0 = Date.now();
        try {
          await run(process.execPath, [vsce, 'package', '-o', vsix], { cwd: REPO, timeoutMs: 240_000 });
        } finally {
          await run(process.execPath, ['esbuild.mjs'], { cwd: REPO, timeoutMs: 120_000 });
        }
        return { vsix, bytes: fs.statSync(vsix).size, ms: Date.now() - t0 };
      })(),
    );
  }
  return packaged.get(dir);
}

/** The entries of a zip, via `unzip -Z1`. */
export async function zipEntries(file) {
  const { stdout } = await run('unzip', ['-Z1', file]);
  return stdout.split('\n').filter(Boolean);
}

// One build for everything: the WebAssembly kernels (AssemblyScript → src/analysis/kernels/kernelModules.generated.ts,
// bundled from there), the extension host + CLI + analysis worker (node, cjs) and the webview bundles (browser).
// Type-checking is separate (`npm run typecheck`), as esbuild does not check types.
import * as esbuild from 'esbuild';
import { existsSync } from 'node:fs';
import { buildKernels } from './scripts/buildKernels.mjs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const nodeEntries = ['src/extension.ts', 'src/cli.ts', 'src/analysis/worker.ts', 'src/analysis/run/metricsWorker.ts'].filter(existsSync);
// The GPU installer and its HTTP client, loaded by src/gpu/loadInstaller.ts only when an install runs.
nodeEntries.push({ in: 'src/gpu/install.ts', out: 'gpuInstall' });
const webEntries = [
  'webview/attention/main.ts',
  'webview/training/main.ts',
  'webview/safetensors/main.ts',
  'webview/startTraining/main.ts',
].filter(existsSync);

const common = { bundle: true, sourcemap: !production, minify: production, logLevel: 'warning' };
const builds = [
  {
    ...common,
    entryPoints: nodeEntries,
    outdir: 'dist',
    outbase: 'src',
    entryNames: '[name]',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', 'onnxruntime-node'],
  },
];
if (webEntries.length) {
  builds.push({
    ...common,
    entryPoints: webEntries,
    outdir: 'dist/webview',
    outbase: 'webview',
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
  });
}

// --watch does not recompile the kernels: after editing src/analysis/kernels/assembly, run `npm run build:kernels`.
if (await buildKernels()) console.log('kernels: rewrote src/analysis/kernels/kernelModules.generated.ts');

if (watch) {
  for (const b of builds) (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}

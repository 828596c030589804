#!/usr/bin/env node
// In-host smoke check of training (code-server, the extension loaded from this folder): Start Training without prompts
// on a tiny fixture runs the `inheritune` task to exit 0, writes tasks.json (keeping its comments) and opens the
// panel; Open Training Panel on a text log returns the panel with its points. Needs test/e2e's node_modules
// (code-server) and a Python with torch and transformers (.venv/bin/python or INHERITUNE_PYTHON).
//
//   node esbuild.mjs && node test/integration/trainingHost.mjs
import { execFileSync } from 'node:child_process';
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startCodeServer } from '../e2e/lib/codeServer.mjs';
import { makeTemp, removeTemps, REPO } from '../e2e/lib/paths.mjs';
import { launchBrowser } from '../e2e/lib/workbench.mjs';

const PYTHON = process.env.INHERITUNE_PYTHON ?? path.join(REPO, '.venv', 'bin', 'python');
const tmp = makeTemp('inheritune-training-host-');
const ws = path.join(tmp, 'ws');
fs.mkdirSync(path.join(ws, '.vscode'), { recursive: true });
fs.writeFileSync(
  path.join(ws, '.vscode', 'tasks.json'),
  '{\n  // kept comment\n  "version": "2.0.0",\n  "tasks": [\n    { "label": "echo", "type": "shell", "command": "echo hi" },\n    { "label": "preset", "type": "inheritune", "ref": "ref", "data": "data", "out": "runs/preset" }\n  ]\n}\n',
);
execFileSync(process.execPath, [
  path.join(REPO, 'dist', 'cli.js'),
  'synth',
  '--layers',
  '4',
  '--hidden',
  '32',
  '--heads',
  '2',
  '--vocab',
  '256',
  '--context',
  '64',
  '--out',
  path.join(ws, 'ref'),
]);
execFileSync(PYTHON, ['-m', 'inheritune_trainer', 'synth', '--out', path.join(ws, 'data'), '--tokens', '20000', '--vocab-size', '256'], {
  env: { ...process.env, PYTHONPATH: path.join(REPO, 'trainer') },
});
const results = path.join(tmp, 'results.jsonl');

/**
 * The extension to load: this folder, or, while src/cli.ts does not register `train` yet, a staged copy whose
 * dist/cli.js adds it (the same program plus registerTrainCommand), everything else linked to this folder.
 */
function extensionDir() {
  const help = execFileSync(process.execPath, [path.join(REPO, 'dist', 'cli.js'), '--help'], { encoding: 'utf8' });
  if (/^\s+train\b/m.test(help)) return REPO;
  const ext = path.join(tmp, 'ext');
  fs.mkdirSync(path.join(ext, 'dist'), { recursive: true });
  for (const f of ['package.json', 'media', 'trainer', 'node_modules']) fs.symlinkSync(path.join(REPO, f), path.join(ext, f));
  for (const f of ['extension.js', 'webview']) fs.symlinkSync(path.join(REPO, 'dist', f), path.join(ext, 'dist', f));
  esbuild.buildSync({
    stdin: {
      contents:
        "import { buildProgram } from './src/cli'; import { registerTrainCommand } from './src/training/cliTrain'; const p = buildProgram(); registerTrainCommand(p, new AbortController().signal); p.parseAsync(process.argv);",
      resolveDir: REPO,
      loader: 'ts',
    },
    // cli.ts runs its own main() when it is the main module; here the staged entry is.
    define: { 'require.main': 'null' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', 'onnxruntime-node'],
    outfile: path.join(ext, 'dist', 'cli.js'),
    logLevel: 'warning',
  });
  console.log('(src/cli.ts does not register train yet: using a staged extension whose cli.js adds it)');
  return ext;
}
const EXT = extensionDir();
fs.writeFileSync(results, '');

const cs = await startCodeServer({ name: 'training', env: { INHERITUNE_TRAINING_RESULTS: results, INHERITUNE_TRAINING_PYTHON: PYTHON } });
const browser = await launchBrowser();
let failed = 0;
try {
  const page = await (await browser.newContext()).newPage();
  let exit;
  const exited = new Promise((r) => (exit = r));
  await page.exposeFunction('codeAutomationExit', (code) => exit(code));
  await page.exposeFunction('codeAutomationLog', () => {});
  await page.goto(
    cs.url(ws, [
      ['extensionDevelopmentPath', cs.remote(EXT)],
      ['extensionTestsPath', cs.remote(path.join(REPO, 'test', 'integration', 'trainingHost', 'index'))],
    ]),
  );
  const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 300_000))]);
  const lines = fs
    .readFileSync(results, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  for (const l of lines) {
    if (l.event === 'info') console.log('info', JSON.stringify(l));
    if (l.event === 'pass') console.log(`ok   ${l.title} (${l.ms} ms)`);
    if (l.event === 'fail') {
      failed++;
      console.log(`FAIL ${l.title}\n${l.err}`);
    }
  }
  if (!lines.some((l) => l.event === 'end')) {
    failed++;
    console.log(`the extension host did not finish (exit ${code}); logs: ${cs.logFile}`);
  }
} finally {
  await browser.close();
  await cs.stop();
  removeTemps();
}
process.exit(failed ? 1 : 0);

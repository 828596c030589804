#!/usr/bin/env node
// The Start Training form in headless Chromium, fed as the host feeds it: the exact page the extension serves
// (src/views/html.ts, same CSP), a VS Code theme's --vscode-* variables and a fake acquireVsCodeApi. The host's init
// (a CPU, a 30-layer reference, 300 KB of text) must fill the fields with the CPU defaults; a bad value shows its
// message and disables Start, fixing it enables Start again; Start posts every field. Writes
// docs/screenshots/start-training-form.png (override with --out FILE; --theme light|dark).
//
//   node esbuild.mjs && node test/integration/startTrainingFormBrowser.mjs
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { launchBrowser, startServer } from '../browser/harness.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const OUT = path.resolve(ROOT, opt('--out', 'docs/screenshots/start-training-form.png'));
const THEME = opt('--theme', 'dark');
function fakeApi() {
  window.__posted = [];
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  window.acquireVsCodeApi = () => ({ postMessage: (m) => window.__posted.push(m), getState: () => null, setState: () => {} });
}

if (!existsSync(path.join(ROOT, 'dist/webview/startTraining/main.js'))) throw new Error('build first: node esbuild.mjs');
const server = await startServer({ form: { bundle: 'startTraining', title: 'Start Inheritune Training' } });
const browser = await launchBrowser();
try {
  const context = await browser.newContext({
    viewport: { width: 1100, height: 1180 },
    deviceScaleFactor: 1,
    colorScheme: THEME === 'light' ? 'light' : 'dark',
  });
  await context.addInitScript(fakeApi);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && !/status of 404/.test(m.text()) && errors.push(m.text()));
  await page.goto(`${server.origin}/form.html?theme=${THEME}`);
  await page.waitForFunction(() => window.__posted.some((m) => m.type === 'ready'));
  const init = {
    python: '/home/me/project/.venv/bin/python',
    torch: '2.5.1',
    device: 'cpu',
    gpus: 0,
    ref: { path: '/home/me/models/SmolLM2-135M-Instruct', numLayers: 30, context: 8192, arch: 'llama' },
    data: { paths: ['/home/me/notes', '/home/me/chats.jsonl'], kind: 'text', bytes: 300 * 1024, files: 14 },
    out: '/home/me/project/runs/SmolLM2-135M-Instruct-inheritune-n15g1',
    initModes: ['inherit', 'random', 'scratch-full'],
  };
  await page.evaluate((m) => window.postMessage(m, '*'), { type: 'init', init });
  await page.waitForSelector('#app[data-ready="true"]');
  const val = (k) => page.inputValue(`#f-${k}`);
  assert.deepEqual(
    await Promise.all(
      [
        'layers',
        'growBy',
        'stepsPerRound',
        'maxRounds',
        'seqLen',
        'batchSize',
        'lr',
        'warmupSteps',
        'evalIters',
        'growMode',
        'init',
        'valFraction',
      ].map(val),
    ),
    ['15', '1', '100', '3', '128', '8', '0.001', '10', '4', 'reinherit', 'inherit', '0.1'],
  );
  assert.equal(await page.getAttribute('#app', 'data-valid'), 'true');
  assert.match(await page.innerText('.estimate'), /≈ 1024 tokens per step \(8 × 1 × 128\); 100 steps per round/);

  // Validated as typed: a layer count beyond the reference disables Start; fixing it enables it again.
  await page.fill('#f-layers', '40');
  await page.waitForSelector('#app[data-valid="false"]');
  assert.match(await page.innerText('.field-layers .field-msg'), /at most the reference's 30 layers/);
  assert.equal(await page.isDisabled('button.start'), true);
  await page.fill('#f-layers', '12');
  await page.fill('#f-seqLen', '256');
  await page.waitForSelector('#app[data-valid="true"]');
  assert.match(await page.innerText('.estimate'), /≈ 2048 tokens per step \(8 × 1 × 256\)/);
  // A data change from the host re-fills the untouched fields only.
  await page.evaluate((m) => window.postMessage(m, '*'), {
    type: 'data',
    data: { paths: ['/home/me/tiny.txt'], kind: 'text', bytes: 4000, files: 1 },
  });
  await page.waitForFunction(() => document.getElementById('f-data').value === '/home/me/tiny.txt');
  assert.equal(await val('seqLen'), '256'); // typed by the user: kept
  assert.match(await page.innerText('.field-seqLen .field-msg'), /holds no 257-token window/);
  await page.evaluate((m) => window.postMessage(m, '*'), { type: 'data', data: init.data });
  await page.waitForSelector('#app[data-valid="true"]');

  await page.click('button.start');
  await page.waitForFunction(() => window.__posted.some((m) => m.type === 'submit'));
  const submit = await page.evaluate(() => window.__posted.find((m) => m.type === 'submit'));
  assert.equal(submit.fields.layers, '12');
  assert.equal(submit.fields.seqLen, '256');
  assert.equal(submit.fields.data, '/home/me/notes\n/home/me/chats.jsonl');
  assert.equal(submit.fields.out, init.out);
  assert.deepEqual(errors, []);
  assert.deepEqual(await page.evaluate(() => window.__csp), []);
  mkdirSync(path.dirname(OUT), { recursive: true });
  await page.screenshot({ path: OUT, fullPage: true });
  console.log(`start training form: defaults, validation, submit ok; screenshot ${path.relative(ROOT, OUT)}`);
} finally {
  await browser.close();
  await server.close();
}

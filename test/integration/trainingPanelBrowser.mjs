#!/usr/bin/env node
// The training panel in headless Chromium, fed as the host feeds it: the exact page the extension serves
// (src/views/html.ts, same CSP), a VS Code theme's --vscode-* variables, and a fake acquireVsCodeApi. Two sample runs
// (Inheritune vs random init, GPT-2-medium-shaped: n = 12, G = 2, T = 2000) arrive in `init`, then more points live.
// Checks: no page errors or CSP violations, data-points on #app, live points appear, exports post PNG/SVG/CSV, the
// UI state is saved. Writes docs/screenshots/training-panel.png (override with --out FILE; --theme light|dark).
//
//   node esbuild.mjs && node test/integration/trainingPanelBrowser.mjs
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { rng } from '../browser/fixtures.mjs';
import { launchBrowser, startServer } from '../browser/harness.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const OUT = path.resolve(ROOT, opt('--out', 'docs/screenshots/training-panel.png'));
const THEME = opt('--theme', 'dark');

/**
 * metrics.jsonl events (camelCased MetricPoints) of an Inheritune-style run: per round, a loss that starts at
 * `start[r]` and decays towards `floor[r]`; evaluations every 250 steps; growth by G between rounds.
 */
function sampleRun({ seed, n, G, T, rounds, start, floor, target, reachedAt }) {
  const r = rng(seed);
  const tokensPerStep = 491_520;
  const pts = [];
  let step = 0;
  let layers = n;
  for (let round = 1; round <= rounds; round++) {
    // the trainer's eval at step 0 of every round: where the inherited / grown model starts
    pts.push({
      event: 'eval',
      step,
      round,
      layers,
      tokens: step * tokensPerStep,
      trainLoss: start[round - 1] + 0.4,
      valLoss: start[round - 1] + 0.45,
      target,
      roundStart: true,
    });
    for (let it = 1; it <= T; it++) {
      step++;
      const decay = Math.exp(-it / (T / 4.5));
      const clean = floor[round - 1] + (start[round - 1] - floor[round - 1]) * decay;
      const lr = it <= 100 ? (6e-4 * it) / 100 : 6e-5 + 0.5 * (1 + Math.cos((Math.PI * (it - 100)) / (T - 100))) * (6e-4 - 6e-5);
      const tokens = step * tokensPerStep;
      const base = { step, round, layers, tokens, time: 1_700_000_000 + step * 3.2 };
      if (it % 10 === 0 || it === 1) {
        pts.push({
          ...base,
          event: 'step',
          trainLoss: clean + (r() - 0.5) * 0.16,
          lr,
          tokensPerS: (1.95e6 / layers) * (0.94 + 0.1 * r()),
          gradNorm: 0.5 + r() * 0.4,
        });
      }
      if (it % 250 === 0)
        pts.push({ ...base, event: 'eval', trainLoss: clean - 0.01, valLoss: clean + 0.025 + (r() - 0.5) * 0.01, target });
    }
    const last = pts.filter((p) => p.event === 'eval' && !p.roundStart).at(-1);
    if (round === reachedAt) {
      pts.push({
        event: 'done',
        step,
        round,
        layers,
        tokens: step * tokensPerStep,
        valLoss: last.valLoss,
        target,
        reached: true,
        stopReason: 'reached',
      });
      break;
    }
    if (round === rounds) {
      pts.push({
        event: 'done',
        step,
        round,
        layers,
        tokens: step * tokensPerStep,
        valLoss: last.valLoss,
        target,
        reached: false,
        stopReason: 'max-rounds',
      });
      break;
    }
    pts.push({
      event: 'grow',
      step,
      round,
      layers,
      tokens: step * tokensPerStep,
      fromLayers: layers,
      toLayers: layers + G,
      valLoss: last.valLoss,
      target,
      mode: 'reinherit',
    });
    layers += G;
  }
  return pts;
}

const TARGET = 3.05;
const inheritune = sampleRun({
  seed: 7,
  n: 12,
  G: 2,
  T: 2000,
  rounds: 4,
  start: [4.3, 3.62, 3.36],
  floor: [3.24, 3.1, 2.99],
  target: TARGET,
  reachedAt: 3,
});
const random = sampleRun({
  seed: 11,
  n: 12,
  G: 2,
  T: 2000,
  rounds: 4,
  start: [7.5, 4.1, 3.7, 3.5],
  floor: [3.75, 3.42, 3.27, 3.17],
  target: TARGET,
  reachedAt: 0,
});

const RUNS = [
  {
    id: 'file:///runs/gpt2-medium-inheritune-n12g2/metrics.jsonl',
    label: 'inheritune-n12g2',
    path: '/runs/gpt2-medium-inheritune-n12g2/metrics.jsonl',
    status: 'live',
    format: 'jsonl',
    skipped: 0,
  },
  {
    id: 'file:///runs/gpt2-medium-random-n12g2/metrics.jsonl',
    label: 'random-init-n12g2',
    path: '/runs/gpt2-medium-random-n12g2/metrics.jsonl',
    status: 'live',
    format: 'jsonl',
    skipped: 0,
  },
];

function fakeApi() {
  let state = null;
  window.__posted = [];
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  window.acquireVsCodeApi = () => ({
    postMessage: (m) => window.__posted.push(m),
    getState: () => state,
    setState: (s) => {
      state = s;
      window.__state = s;
    },
  });
}

if (!existsSync(path.join(ROOT, 'dist/webview/training/main.js'))) throw new Error('build first: node esbuild.mjs');
const server = await startServer({ training: { bundle: 'training', title: 'Training' } });
const browser = await launchBrowser();
try {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    deviceScaleFactor: 1,
    colorScheme: THEME === 'light' ? 'light' : 'dark',
  });
  await context.addInitScript(fakeApi);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && !/status of 404/.test(m.text()) && errors.push(m.text()));
  page.on('response', (r) => r.status() >= 400 && !r.url().endsWith('/favicon.ico') && errors.push(`${r.status()} ${r.url()}`));
  await page.goto(`${server.origin}/training.html?theme=${THEME}`);
  await page.waitForFunction(() => window.__posted.some((m) => m.type === 'ready'));
  assert.equal(await page.getAttribute('#app', 'data-points'), '0');

  // The host's init, minus the last 40 points of the Inheritune run, which then arrive live.
  const live = inheritune.slice(-40);
  const first = { [RUNS[0].id]: inheritune.slice(0, -40), [RUNS[1].id]: random };
  await page.evaluate((m) => window.postMessage(m, '*'), { type: 'init', runs: RUNS, points: first });
  await page.waitForFunction(
    (n) => document.getElementById('app').getAttribute('data-points') === String(n),
    inheritune.length - 40 + random.length,
  );
  await page.evaluate((m) => window.postMessage(m, '*'), { type: 'points', runId: RUNS[0].id, points: live });
  await page.evaluate((m) => window.postMessage(m, '*'), { type: 'runStatus', run: { ...RUNS[0], status: 'live', exitCode: 0 } });
  await page.waitForFunction(
    (n) => document.getElementById('app').getAttribute('data-points') === String(n),
    inheritune.length + random.length,
  );

  const counts = await page.evaluate(() => ({
    growth: document.querySelectorAll('svg.loss-chart line.growth').length,
    target: document.querySelectorAll('svg.loss-chart line.target').length,
    val: document.querySelectorAll('svg.loss-chart path.val').length,
    train: document.querySelectorAll('svg.loss-chart path.train').length,
    small: document.querySelectorAll('svg.small-chart path').length,
    starts: document.querySelectorAll('svg.loss-chart g.round-start').length,
    labels: [...document.querySelectorAll('svg.loss-chart text.growth-label')].map((t) => t.firstChild.textContent),
  }));
  // a round-start marker per round of each run (3 + 4), and growth labels with the depth and the grow mode
  assert.equal(counts.starts, 7, JSON.stringify(counts));
  assert.deepEqual(counts.labels, ['14L · reinherit', '16L · reinherit', '18L · reinherit'], JSON.stringify(counts));
  delete counts.starts;
  delete counts.labels;
  // Growth at 2000 and 4000 steps is shared by both runs (one marker each); 6000 is the random-init run's alone.
  assert.deepEqual(counts, { growth: 3, target: 1, val: 2, train: 2, small: 4 + 4 }, JSON.stringify(counts));

  // Exports: SVG and CSV text, PNG as a data: URL.
  for (const label of ['SVG', 'CSV', 'PNG']) await page.getByRole('button', { name: label, exact: true }).click();
  await page.waitForFunction(() => window.__posted.filter((m) => m.type === 'export').length === 3);
  const exports = await page.evaluate(() => window.__posted.filter((m) => m.type === 'export'));
  assert.match(exports.find((e) => e.format === 'svg').data, /^<\?xml[\s\S]*<svg[\s\S]*target 3\.050/);
  assert.equal(
    exports
      .find((e) => e.format === 'csv')
      .data.trim()
      .split('\n').length,
    1 + inheritune.length + random.length,
  );
  assert.match(exports.find((e) => e.format === 'png').data, /^data:image\/png;base64,/);

  // Toggles persist through setState (at once); the chart redraws on the next animation frame.
  const axisLabel = (label) =>
    page.waitForFunction((l) => [...document.querySelectorAll('svg.loss-chart text')].some((t) => t.textContent === l), label);
  await page.getByRole('radio', { name: 'Tokens' }).click();
  await page.waitForFunction(() => window.__state?.xAxis === 'tokens');
  await axisLabel('Tokens');
  assert.deepEqual((await page.evaluate(() => window.__state.files)).sort(), RUNS.map((r) => r.id).sort());
  await page.getByRole('radio', { name: 'Steps' }).click();
  await page.waitForFunction(() => window.__state?.xAxis === 'step');
  await axisLabel('Step');

  assert.deepEqual(errors, []);
  assert.deepEqual(await page.evaluate(() => window.__csp), []);

  // Hover readout on the loss chart for the screenshot.
  // (the Steps toggle redraws the chart on the next frame, so the first rect found may be replaced while measured)
  let box = null;
  for (let tries = 0; !box && tries < 50; tries++) {
    box = await page.locator('svg.loss-chart rect.hover-target').boundingBox();
    if (!box) await page.waitForTimeout(100);
  }
  assert.ok(box, 'the loss chart has a hover target');
  await page.mouse.move(box.x + box.width * 0.62, box.y + box.height * 0.5);
  await page.waitForTimeout(100);
  mkdirSync(path.dirname(OUT), { recursive: true });
  await page.screenshot({ path: OUT, fullPage: true });
  console.log(
    `training panel: ${inheritune.length + random.length} points, exports ok, no CSP violations; screenshot ${path.relative(ROOT, OUT)}`,
  );
} finally {
  await browser.close();
  await server.close();
}

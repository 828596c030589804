// Headless-Chromium tests of the attention report's tokens, verdict card and rank-1 colours (the built webview in
// the extension's HTML shell and CSP, fed by a fake host). Run: node --test test/browser/reportTokens.test.mjs
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readySide, ROOT, syntheticPattern, syntheticReport } from './fixtures.mjs';
import { lab } from 'd3';
import { ensureBuilt, launchBrowser, openPanel, startServer } from './harness.mjs';

const SHOTS = path.join(ROOT, 'docs/screenshots');
let server;
let browser;

/** Token pieces as a hostile tokenizer could make them: markup, a script end tag, control and bidi characters. */
const HOSTILE = [
  '<img src=x onerror="window.__xss=1">',
  '</script><script>window.__xss=2</script>',
  '\u0000\u0007\u001b[31m',
  '\u202Eevil',
  '<svg onload="window.__xss=3">',
];

function tokenReport(T = 64) {
  const r = syntheticReport({ numLayers: 8, numHeads: 4, lazy: [5, 6], seqLen: T, batch: 2, name: 'tok-model' });
  const words = ['<s>', ' The', ' river', ' town', ' woke', ' slowly', '.', '\n'];
  const pieces = Array.from({ length: T }, (_, i) =>
    i === 0 ? '<s>' : i >= 10 && i < 10 + HOSTILE.length ? HOSTILE[i - 10] : words[1 + (i % 7)],
  );
  r.input = {
    source: 'builtin',
    tokenizer: 'tokenizer.json',
    tokenCount: 400,
    specialTokens: true,
    specialTokenIds: [1],
    firstSequence: { ids: pieces.map((_, i) => i + 1), pieces },
  };
  return r;
}

before(async () => {
  ensureBuilt();
  server = await startServer();
  browser = await launchBrowser();
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function openWith(report, theme = 'dark', o = {}) {
  const p = await openPanel(browser, server.origin, { theme, ...o });
  await p.waitForPost('ready');
  await p.send({ type: 'init', sides: { a: readySide(report) } });
  await p.page.locator('svg.heatmap rect.cell').first().waitFor();
  return p;
}

async function showHead(p, report, layer, head) {
  await p.page.locator(`svg.heatmap rect.cell[data-layer="${layer}"][data-head="${head}"]`).click();
  const req = await p.waitForPost('requestHead', (m) => m.layer === layer && m.head === head);
  const T = report.settings.seqLen;
  await p.sendPattern(req, T, syntheticPattern(T, { seed: layer * 7 + head }));
  await p.page.locator('canvas.attention-canvas').waitFor();
}

describe('tokens in the head view', () => {
  test('axis labels at zoom, read-out and tooltip with tokens, strip hover; hostile token text stays text', async () => {
    const report = tokenReport(64);
    const p = await openWith(report, 'dark', { width: 1280, height: 860 });
    const { page } = p;
    // The header says what the model saw: source, token count, the special token added.
    assert.equal(
      await page
        .locator('.fact', { has: page.locator('dt', { hasText: /^input$/ }) })
        .locator('dd')
        .textContent(),
      'built-in text · 400 tokens · <s> added',
    );
    await showHead(p, report, 2, 1);
    const canvas = page.locator('canvas.attention-canvas');
    // The head view sits beside the heatmap, above the fold.
    const hv = await page.locator('#head-card').boundingBox();
    const hm = await page.locator('#heatmap-card').boundingBox();
    assert.ok(hv.x > hm.x + hm.width - 1, 'head card is beside the heatmap');
    assert.ok(hv.y < 860, 'head card starts above the fold');
    // At 64 tokens on a ~300 px canvas the cells are too small for text; zoomed in, the axes show tokens.
    const fitAxes = await canvas.getAttribute('data-axes');
    await page.getByRole('button', { name: 'Zoom in' }).click();
    await page.getByRole('button', { name: 'Zoom in' }).click();
    assert.equal(await canvas.getAttribute('data-axes'), 'tokens', 'token labels at 4×');
    await page.getByRole('button', { name: 'Fit' }).click();
    assert.equal(await canvas.getAttribute('data-axes'), fitAxes);
    // Read-out and tooltip: query and key with position and token.
    const box = await canvas.boundingBox();
    // Hover the cell (query 12, key 10): the canvas's margins are 92 (left) and 64 (top) px with tokens.
    const size = box.width - 92;
    await page.mouse.move(box.x + 92 + ((10 + 0.5) / 64) * size, box.y + 64 + ((12 + 0.5) / 64) * size);
    await page.locator('.readout .ro-tok').first().waitFor();
    const ro = await page.locator('.readout').textContent();
    assert.match(ro, /query12/);
    assert.match(ro, /key10<img·src=x·onerror="window.__xss=1">/);
    const tip = await page.locator('.tooltip.visible').textContent();
    assert.match(tip, /query 12 → key 10/);
    assert.match(tip, /key10 <img·src=x·onerror/);
    // The strip: the probe's query and key are marked; hovering a token highlights its row and column.
    assert.equal(await page.locator('.token-list .tok.q').getAttribute('data-pos'), '12');
    assert.equal(await page.locator('.token-list .tok.k').getAttribute('data-pos'), '10');
    await page.locator('.token-list .tok[data-pos="3"]').hover();
    assert.equal(await canvas.getAttribute('data-highlight'), '3');
    assert.ok(await page.locator('.token-list .tok[data-pos="3"].hover').count());
    // Hostile text is shown as text: no element was made from it, nothing ran, control characters are visible.
    const texts = await page.locator('.token-list .tok').allTextContents();
    assert.equal(texts[10], '<img·src=x·onerror="window.__xss=1">');
    assert.equal(texts[11], '</script><script>window.__xss=2</script>');
    assert.equal(texts[12], '\\x00\\x07\\x1B[31m');
    assert.equal(texts[13], '\\u{202E}evil');
    assert.equal(texts[1], '·river');
    assert.equal(await page.evaluate(() => document.querySelectorAll('img, script:not([nonce]), #app svg[onload]').length), 0);
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    assert.deepEqual(p.pageErrors, []);
    assert.deepEqual(await p.cspViolations(), []);
    await p.close();
  });

  test('README screenshot: a head view with token labels (light theme)', async () => {
    const T = 24;
    const report = syntheticReport({ numLayers: 8, numHeads: 4, lazy: [5, 6], seqLen: T, batch: 1, name: 'smollm2-like' });
    const pieces = [
      '<|im_start|>',
      'The',
      ' river',
      ' town',
      ' woke',
      ' slowly',
      ',',
      ' and',
      ' the',
      ' first',
      ' boats',
      ' pushed',
      ' off',
      ' into',
      ' the',
      ' mist',
      '.',
      ' Lazy',
      ' layers',
      ' look',
      ' at',
      ' the',
      ' first',
      ' token',
    ];
    report.input = {
      source: 'builtin',
      tokenizer: 'tokenizer.json',
      tokenCount: 300,
      specialTokens: true,
      specialTokenIds: [1],
      firstSequence: { ids: pieces.map((_, i) => i), pieces },
    };
    const p = await openWith(report, 'light', { width: 1280, height: 800 });
    await showHead(p, report, 3, 2);
    const canvas = p.page.locator('canvas.attention-canvas');
    assert.equal(await canvas.getAttribute('data-axes'), 'tokens', 'at T = 24 the tokens fit without zoom');
    await p.page.locator('.token-list .tok[data-pos="9"]').hover();
    await p.page.locator('#head-card').screenshot({ path: path.join(SHOTS, 'head-view-tokens-light.png') });
    await p.close();
  });
});

describe('hostile tokens from a tokenizer file, through the CLI', () => {
  test('tokens with markup, a script end tag and control characters are recorded as they are and shown as text', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'inheritune-hostile-'));
    try {
      const cli = (...args) => execFileSync(process.execPath, [path.join(ROOT, 'dist/cli.js'), ...args], { encoding: 'utf8' });
      const ck = path.join(dir, 'ck');
      cli('synth', '--family', 'llama', '--layers', '1', '--vocab', '64', '--out', ck);
      // A word-level tokenizer whose added tokens are hostile strings (what a malicious checkpoint could ship).
      const evil = ['<img src=x onerror="window.__xss=1">', '</script><script>window.__xss=2</script>', '\u001b[31m\u0007', '\u202Eevil'];
      const words = ['[UNK]', 'the', 'river', 'town', 'woke', 'slowly', '.'];
      const vocab = Object.fromEntries(words.map((w, i) => [w, i]));
      const added = evil.map((content, i) => ({
        id: words.length + i,
        content,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: false,
      }));
      for (const a of added) vocab[a.content] = a.id;
      writeFileSync(
        path.join(ck, 'tokenizer.json'),
        JSON.stringify({
          version: '1.0',
          truncation: null,
          padding: null,
          added_tokens: added,
          normalizer: null,
          pre_tokenizer: { type: 'Whitespace' },
          post_processor: null,
          decoder: null,
          model: { type: 'WordLevel', vocab, unk_token: '[UNK]' },
        }),
      );
      writeFileSync(path.join(ck, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'PreTrainedTokenizerFast' }));
      writeFileSync(path.join(dir, 'in.txt'), `the river ${evil[0]} town ${evil[1]} woke ${evil[2]} slowly ${evil[3]} . `.repeat(8));
      cli(
        'analyze',
        ck,
        '--text',
        path.join(dir, 'in.txt'),
        '--seq-len',
        '24',
        '--batch',
        '1',
        '--ep',
        'cpu',
        '--json',
        path.join(dir, 'r.json'),
        '--save-patterns',
        path.join(dir, 'p'),
        '--quiet',
      );
      const report = JSON.parse(readFileSync(path.join(dir, 'r.json'), 'utf8'));
      const pieces = report.input.firstSequence.pieces;
      for (const e of evil) assert.ok(pieces.includes(e), `${JSON.stringify(e)} recorded as it is (pieces: ${JSON.stringify(pieces)})`);
      const p = await openWith(report);
      const { page } = p;
      await page.locator('svg.heatmap rect.cell[data-layer="0"][data-head="0"]').click();
      const req = await p.waitForPost('requestHead');
      await p.sendPattern(req, 24, syntheticPattern(24));
      await page.locator('canvas.attention-canvas[data-axes="tokens"]').waitFor();
      const texts = await page.locator('.token-list .tok').allTextContents();
      assert.ok(texts.includes('<img·src=x·onerror="window.__xss=1">'));
      assert.ok(texts.includes('</script><script>window.__xss=2</script>'));
      assert.ok(texts.includes('\\x1B[31m\\x07'));
      assert.ok(texts.includes('\\u{202E}evil'));
      // Hover the query row of the first hostile token: read-out and tooltip carry it as text.
      await page.locator(`.token-list .tok[data-pos="${pieces.indexOf(evil[1])}"]`).hover();
      assert.equal(await page.evaluate(() => document.querySelectorAll('img, script:not([nonce])').length), 0);
      assert.equal(await page.evaluate(() => window.__xss), undefined);
      assert.deepEqual(p.pageErrors, []);
      assert.deepEqual(await p.cspViolations(), []);
      await p.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the verdict card says which rule produced n', () => {
  const cases = [
    {
      name: 'lazy tail',
      lazy: [5, 6, 7],
      n: 5,
      rule: 'lazy-tail',
      text: 'n = 5: every layer from 5 on is lazy.',
      below: null,
      choices: ['4'],
    },
    {
      name: 'lazy layers that are not a tail',
      lazy: [2, 5, 6],
      n: 4,
      rule: 'half-depth',
      text: "n = 4: no lazy tail (layer 7 is not lazy): half the depth, as the paper's default.",
      below: /Lazy layer below n: 2 \(inheriting 4 layers keeps it\)/,
      choices: ['2', '5'],
    },
    {
      name: 'no lazy layers',
      lazy: [],
      n: 4,
      rule: 'half-depth',
      text: "n = 4: no lazy tail (layer 7 is not lazy): half the depth, as the paper's default.",
      below: null,
      choices: [],
    },
  ];
  for (const c of cases) {
    test(`${c.name}: n = ${c.n}, the rule, lazy layers below n, one-click alternatives`, async () => {
      const report = syntheticReport({ numLayers: 8, numHeads: 4, lazy: c.lazy, seqLen: 32, name: `v-${c.rule}` });
      assert.equal(report.suggestedN, c.n);
      const p = await openWith(report);
      const { page } = p;
      assert.equal(await page.locator('.verdict-n .big').textContent(), String(c.n));
      assert.equal(await page.locator('.verdict-rule').textContent(), c.text);
      assert.equal(await page.locator('.verdict-rule').getAttribute('data-rule'), c.rule);
      if (c.below) assert.match(await page.locator('.verdict-below').textContent(), c.below);
      else assert.equal(await page.locator('.verdict-below').count(), 0);
      // The Inherit button's tooltip gives the same rule.
      const title = await page.getByRole('button', { name: 'Inherit first n layers' }).getAttribute('title');
      assert.ok(title.includes(c.text.replace(/^n = \d+: /, '').replace(/\.$/, '')), title);
      const choices = await page.locator('.verdict-choices button.choice').allTextContents();
      assert.deepEqual(
        choices.map((t) => t.replace(/^n = /, '').trim()),
        c.choices,
      );
      if (c.choices.length) {
        const last = c.choices[c.choices.length - 1];
        await page.locator('.verdict-choices button.choice', { hasText: `n = ${last}` }).click();
        const msg = await p.waitForPost('inherit');
        assert.deepEqual({ side: msg.side, layers: msg.layers }, { side: 'a', layers: Number(last) });
        assert.equal(await page.locator('.n-input').inputValue(), last);
      }
      assert.deepEqual(p.pageErrors, []);
      await p.close();
    });
  }
});

describe('rank 1 stands out', () => {
  for (const theme of ['dark', 'light']) {
    test(`${theme}: k* = 1 and k* = 2 differ by a visible margin (CIE ΔE*ab ≥ 40); the legend and the per-layer counts say so`, async () => {
      const report = syntheticReport({ numLayers: 8, numHeads: 4, lazy: [6, 7], seqLen: 128, name: 'rank1' });
      // One rank-1 head in a layer that is not lazy, and one head of k* = 2 beside it.
      report.layers[3].heads[0].kStar = 1;
      report.layers[3].heads[1].kStar = 2;
      const p = await openWith(report, theme);
      const { page } = p;
      const fill = (l, hd) => page.locator(`svg.heatmap rect.cell[data-layer="${l}"][data-head="${hd}"]`).getAttribute('fill');
      const one = await fill(3, 0);
      const two = await fill(3, 1);
      const a = lab(one);
      const b = lab(two);
      const dE = Math.hypot(a.l - b.l, a.a - b.a, a.b - b.b);
      console.log(`# ${theme}: k*=1 ${one}, k*=2 ${two}, ΔE*ab ${dE.toFixed(1)}`);
      assert.ok(dE >= 40, `ΔE ${dE.toFixed(1)} between ${one} and ${two}`);
      assert.equal(await fill(6, 2), one, 'lazy heads have the rank-1 colour');
      assert.equal(await page.locator('svg.heatmap .rank1-legend').textContent(), 'rank 1');
      assert.equal(await page.locator('svg.heatmap .rank1-legend rect').getAttribute('fill'), one);
      const counts = await page
        .locator('svg.heatmap .rank1-count')
        .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-count'))));
      assert.deepEqual(counts, [0, 0, 0, 1, 0, 0, 4, 4]);
      // m* = 1 too.
      await page.getByRole('radio', { name: 'm*' }).click();
      assert.equal(await fill(6, 2), one);
      await page.screenshot({ path: path.join(SHOTS, `rank1-${theme}.png`) }); // both themes, to look at
      await p.close();
    });
  }
});

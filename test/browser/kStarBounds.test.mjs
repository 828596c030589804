// Headless-Chromium tests of the attention report with k* bounds (schema 3, settings.kStarExactUpTo): heads certified
// to lie above the exact rank are hatched in the heatmap, read as intervals in the tooltip, the head view and the
// per-layer chart, counted in the header, and exported with their bounds (CSV columns, hatch in the SVG). A schema-2
// report shows none of it.
// Run: node --test test/browser/kStarBounds.test.mjs   (needs /usr/bin/chromium and playwright-core)
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { boundedReport, readySide, ROOT, syntheticPattern, syntheticReport } from './fixtures.mjs';
import { assertNoErrors, ensureBuilt, launchBrowser, openPanel, startServer } from './harness.mjs';

const SHOTS = path.join(ROOT, 'docs/screenshots');
const R = 48;
let server;
let browser;
/** The bounded report and, for comparisons and the schema-2 check, a report without bounds. */
let bounded;
let plain;

/** (layer, head) → [lo, hi] of the fixture's bounded heads. */
function boundsOf(report) {
  const m = new Map();
  for (const l of report.layers) l.heads.forEach((h, i) => h.kStarBounds && m.set(`${l.index}:${i}`, h.kStarBounds));
  return m;
}

before(async () => {
  ensureBuilt();
  bounded = boundedReport({ exactUpTo: R });
  plain = syntheticReport({ numLayers: 12, numHeads: 8, lazy: [8, 9, 10, 11], seqLen: 512, seed: 11, name: 'llama-12L-exact' });
  server = await startServer();
  browser = await launchBrowser();
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function open(sides, o = {}) {
  const p = await openPanel(browser, server.origin, { theme: 'dark', ...o });
  await p.waitForPost('ready');
  await p.send({ type: 'init', sides });
  await p.page.locator('svg.heatmap rect.cell').first().waitFor();
  await p.page.locator('svg.layer-chart path.series').first().waitFor();
  return p;
}

/** Cells of the heatmap as { key, bounded, lo, hi, hatch } (hatch: the fill of the stripes drawn over the cell). */
function cellsOf(page, block = '') {
  return page.evaluate((block) => {
    const hatch = new Map(
      Array.from(document.querySelectorAll(`svg.heatmap ${block} rect.bound-hatch`)).map((r) => [
        `${r.getAttribute('data-layer')}:${r.getAttribute('data-head')}`,
        r.getAttribute('fill'),
      ]),
    );
    return Array.from(document.querySelectorAll(`svg.heatmap ${block} rect.cell`)).map((r) => {
      const key = `${r.getAttribute('data-layer')}:${r.getAttribute('data-head')}`;
      return {
        key,
        bounded: r.getAttribute('data-bounded') === 'true',
        lo: r.getAttribute('data-lo'),
        hi: r.getAttribute('data-hi'),
        hatch: hatch.get(key) ?? null,
      };
    });
  }, block);
}

function assertMarked(cells, report) {
  const want = boundsOf(report);
  assert.ok(want.size > 0);
  for (const c of cells) {
    const b = want.get(c.key);
    if (b) {
      assert.ok(c.bounded, `cell ${c.key} (k* ∈ [${b}]) is marked bounded`);
      assert.deepEqual([Number(c.lo), Number(c.hi)], b);
      assert.match(c.hatch ?? '', /^url\(#hatch-/, `cell ${c.key} carries the hatch`);
    } else {
      assert.ok(!c.bounded && c.hatch === null, `exact cell ${c.key} is not marked`);
    }
  }
}

describe('k* bounds in the attention report', () => {
  test('bounded heads: hatched cells, legend, tooltip, header note, per-layer bounds, head read-out; screenshot', async () => {
    const p = await open({ a: readySide(bounded) }, { scale: 2, height: 1000 });
    const { page } = p;
    const want = boundsOf(bounded);

    // Heatmap: exactly the bounded heads are hatched, over the colour of their lower end.
    assertMarked(await cellsOf(page), bounded);
    assert.equal(await page.locator('svg.heatmap rect.cell[data-bounded]').count(), want.size);
    const patterns = await page.locator('svg.heatmap defs pattern[id^="hatch-"]').count();
    assert.ok(patterns >= 1 && patterns <= 2, `one hatch pattern per stripe colour (${patterns})`);
    assert.equal(
      await page.locator('svg.heatmap .bounds-legend-label').textContent(),
      `k* > ${R}: certified bounds · colour: the lower end`,
    );
    assert.match(await page.locator('svg.heatmap').getAttribute('aria-label'), new RegExp(`Striped cells: k\\* > ${R}: certified bounds`));

    // Tooltip of a bounded cell and of an exact one.
    const [bKey, [lo, hi]] = [...want.entries()][0];
    const [bl, bh] = bKey.split(':');
    await page.locator(`svg.heatmap rect.cell[data-layer="${bl}"][data-head="${bh}"]`).hover();
    const kRow = page.locator('.tooltip.visible .tt-row', { has: page.locator('.tt-key', { hasText: /^k\*$/ }) });
    assert.equal(await kRow.locator('.tt-val').textContent(), `∈ [${lo}, ${hi}] (bounded: above the exact rank ${R})`);
    const exactLayer = bounded.layers.find((l) => l.index === 0);
    const exactHead = exactLayer.heads.findIndex((h) => !h.kStarBounds);
    await page.locator(`svg.heatmap rect.cell[data-layer="0"][data-head="${exactHead}"]`).hover();
    await page.locator('.tooltip.visible .tt-title', { hasText: `Head ${exactHead}` }).waitFor();
    assert.equal(await kRow.locator('.tt-val').textContent(), String(exactLayer.heads[exactHead].kStar));

    // Header: the rank and how many heads are bounds.
    assert.equal(await page.locator('.kstar-note').textContent(), `k* exact up to ${R}; ${want.size} heads above it shown as bounds`);

    // Per-layer chart: a bar from the lower to the upper bound (max and mean) on each layer with bounded heads, and
    // their counts; its tooltip says the values are lower bounds.
    const boundedLayers = bounded.layers.filter((l) => l.boundedHeads > 0);
    await page.locator('svg.layer-chart .bound-bar').first().waitFor();
    assert.equal(await page.locator('svg.layer-chart .bound-bars-maxKStar .bound-bar').count(), boundedLayers.length);
    assert.equal(await page.locator('svg.layer-chart .bound-bars-meanKStar .bound-bar').count(), boundedLayers.length);
    const counts = await page
      .locator('svg.layer-chart .bounded-count')
      .evaluateAll((els) => els.map((e) => [Number(e.getAttribute('data-layer')), Number(e.getAttribute('data-count'))]));
    assert.deepEqual(
      counts,
      boundedLayers.map((l) => [l.index, l.boundedHeads]),
    );
    const maxBar = page.locator(`svg.layer-chart .bound-bars-maxKStar .bound-bar[data-layer="${boundedLayers[0].index}"]`);
    const layer0 = bounded.layers[boundedLayers[0].index];
    const hiMax = Math.max(...layer0.heads.map((h) => (h.kStarBounds ? h.kStarBounds[1] : h.kStar)));
    assert.deepEqual(
      [Number(await maxBar.getAttribute('data-lo')), Number(await maxBar.getAttribute('data-hi'))],
      [layer0.maxKStar, hiMax],
    );
    assert.match(await page.locator('svg.layer-chart .bounds-legend').textContent(), new RegExp(`k\\* > ${R}: bounds`));
    // Its description for screen readers marks the lower bounds too.
    const aria = await page.locator('svg.layer-chart').getAttribute('aria-label');
    assert.match(aria, new RegExp(`max k\\* ≥${layer0.maxKStar}, `));
    assert.match(aria, /, 1, 1, 1, 1;/, 'exact layers without the mark');
    const box = await page.locator('svg.layer-chart rect.hover-target').boundingBox();
    const cellW = box.width / bounded.layers.length;
    await page.mouse.move(box.x + cellW * (boundedLayers[0].index + 0.5), box.y + box.height / 2);
    const tip = await page.locator('.tooltip.visible').textContent();
    assert.match(tip, new RegExp(`max k\\*≥ ${layer0.maxKStar} \\(≤ ${hiMax}\\)`));
    assert.match(tip, new RegExp(`${layer0.boundedHeads} heads bounded \\(k\\* > ${R}\\): max and mean are bounds`));
    // A layer without bounded heads reads as before.
    await page.mouse.move(box.x + cellW * 9.5, box.y + box.height / 2);
    await page.locator('.tooltip.visible .tt-title', { hasText: 'Layer 9' }).waitFor();
    assert.doesNotMatch(await page.locator('.tooltip.visible').textContent(), /≥|bounded/);

    // Head view: the interval in the k* chip and the read-out line, never lo alone.
    await page.locator(`svg.heatmap rect.cell[data-layer="${bl}"][data-head="${bh}"]`).click();
    const req = await p.waitForPost('requestHead');
    const T = bounded.settings.seqLen;
    await p.sendPattern(req, 64, syntheticPattern(64, { seed: 4 }));
    await page.locator('canvas.attention-canvas').waitFor();
    assert.equal(await page.locator('.chip.bounded .chip-val').textContent(), `∈ [${lo}, ${hi}]`);
    assert.equal(await page.locator('.kstar-bounds-note').textContent(), `k* ∈ [${lo}, ${hi}] (bounded: above the exact rank ${R})`);
    assert.ok(T > 64, 'the matrix sent is smaller than T (the head view takes what the host sends)');
    await page.mouse.move(5, 5);
    await page.locator(`svg.heatmap rect.cell[data-layer="${bl}"][data-head="${bh}"]`).hover();
    await page.locator('.tooltip.visible').waitFor();
    await page.screenshot({ path: path.join(SHOTS, 'attention-kstar-bounds-dark.png') });

    await p.clearPosted();
    await page.locator(`svg.heatmap rect.cell[data-layer="0"][data-head="${exactHead}"]`).click();
    const req2 = await p.waitForPost('requestHead');
    await p.sendPattern(req2, 64, syntheticPattern(64, { seed: 5 }));
    await page.locator('.head-title', { hasText: `Layer 0 · Head ${exactHead}` }).waitFor();
    assert.equal(await page.locator('.chip.bounded').count(), 0);
    assert.equal(await page.locator('.kstar-bounds-note').count(), 0);
    assert.equal(
      await page.locator('.chip', { hasText: 'k*' }).first().locator('.chip-val').textContent(),
      String(exactLayer.heads[exactHead].kStar),
    );

    // Other metrics draw as before: no hatch, no bounds legend.
    await page.getByRole('radio', { name: 'm*', exact: true }).click();
    await page.locator('svg.heatmap .legend text', { hasText: 'm*' }).waitFor();
    assert.equal(await page.locator('svg.heatmap rect.cell[data-bounded]').count(), 0);
    assert.equal(await page.locator('svg.heatmap .bound-hatch, svg.heatmap .bounds-legend').count(), 0);
    await page.getByRole('radio', { name: 'k*', exact: true }).click();
    await page.locator('svg.heatmap .bounds-legend').waitFor();
    await assertNoErrors(p);
    await p.close();
  });

  test('exports: CSV with k_star_lo / k_star_hi, SVG and PNG with the hatch', async () => {
    const p = await open({ a: readySide(bounded) });
    const { page } = p;
    await page.getByRole('button', { name: 'Export' }).click();
    await page.getByRole('menuitem', { name: 'Metrics as CSV…' }).click();
    const csv = await p.waitForPost('export', (m) => m.format === 'csv');
    const [header, ...rows] = csv.data
      .trim()
      .split('\n')
      .map((r) => r.split(','));
    const col = (name) => {
      const i = header.indexOf(name);
      assert.ok(i >= 0, `column ${name}`);
      return i;
    };
    assert.deepEqual(header.slice(0, 7), ['model', 'layer', 'head', 'lazy_layer', 'k_star', 'k_star_lo', 'k_star_hi']);
    assert.equal(rows.length, bounded.layers.length * 8);
    const want = boundsOf(bounded);
    for (const r of rows) {
      const layer = bounded.layers[Number(r[col('layer')])];
      const h = layer.heads[Number(r[col('head')])];
      const b = want.get(`${r[col('layer')]}:${r[col('head')]}`) ?? [h.kStar, h.kStar];
      assert.deepEqual([Number(r[col('k_star')]), Number(r[col('k_star_lo')]), Number(r[col('k_star_hi')])], [b[0], b[0], b[1]]);
      assert.equal(Number(r[col('layer_bounded_heads')]), layer.boundedHeads);
      assert.equal(r[col('k_star_exact_up_to')], String(R));
    }

    await page.getByRole('button', { name: 'Export' }).click();
    await page.getByRole('menuitem', { name: 'Heatmap as SVG…' }).click();
    const svg = await p.waitForPost('export', (m) => m.format === 'svg');
    assert.equal((svg.data.match(/data-bounded="true"/g) ?? []).length, want.size);
    assert.equal((svg.data.match(/class="bound-hatch"[^>]*fill="url\(#hatch-/g) ?? []).length, want.size);
    assert.match(svg.data, /<pattern id="hatch-[^"]+"[^>]*>\s*<line[^>]*stroke="#[0-9a-f]{6}"/);
    assert.match(svg.data, /k\* &gt; 48: certified bounds/);
    // The PNG is rendered from that SVG: a bounded cell's pixels are not one flat colour.
    await page.getByRole('button', { name: 'Export' }).click();
    await page.getByRole('menuitem', { name: 'Heatmap as PNG…' }).click();
    const png = await p.waitForPost('export', (m) => m.format === 'png');
    const cell = await page.locator('svg.heatmap rect.cell[data-bounded]').first();
    const rect = {
      x: Number(await cell.getAttribute('x')),
      y: Number(await cell.getAttribute('y')),
      w: Number(await cell.getAttribute('width')),
      h: Number(await cell.getAttribute('height')),
    };
    const colours = await page.evaluate(
      async ({ url, rect }) => {
        const img = new Image();
        img.src = url;
        await img.decode();
        const c = document.createElement('canvas');
        c.width = img.width;
        c.height = img.height;
        const ctx = c.getContext('2d');
        ctx.drawImage(img, 0, 0);
        // The export is at 2×; sample the cell's inside.
        const d = ctx.getImageData(
          Math.round(rect.x * 2) + 2,
          Math.round(rect.y * 2) + 2,
          Math.round(rect.w * 2) - 4,
          Math.round(rect.h * 2) - 4,
        ).data;
        const set = new Set();
        for (let i = 0; i < d.length; i += 4) set.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
        return set.size;
      },
      { url: png.data, rect },
    );
    assert.ok(colours > 2, `the bounded cell is striped in the PNG (${colours} colours)`);
    await assertNoErrors(p);
    await p.close();
  });

  test('compare: bounded heads on either side are marked the same way', async () => {
    for (const [a, b] of [
      [bounded, plain],
      [plain, bounded],
    ]) {
      const p = await open({ a: readySide(a), b: readySide(b) }, { height: 1100 });
      const { page } = p;
      await page.locator('svg.heatmap .block-b rect.cell').first().waitFor();
      for (const [side, r] of [
        ['a', a],
        ['b', b],
      ]) {
        const cells = await cellsOf(page, `.block-${side}`);
        if (r === bounded) assertMarked(cells, r);
        else
          assert.ok(
            cells.every((c) => !c.bounded && c.hatch === null),
            `side ${side} (exact) has no marks`,
          );
      }
      assert.equal(await page.locator('svg.heatmap .bounds-legend').count(), 1);
      const side = a === bounded ? 'a' : 'b';
      assert.equal(
        await page.locator(`.model-block.side-${side} .kstar-note`).textContent(),
        `k* exact up to ${R}; ${boundsOf(bounded).size} heads above it shown as bounds`,
      );
      assert.equal(await page.locator(`.model-block.side-${side === 'a' ? 'b' : 'a'} .kstar-note`).count(), 0);
      assert.ok((await page.locator(`svg.layer-chart .bounded-counts-${side} .bounded-count`).count()) > 0);
      // The tooltip of a bounded cell names its side's model and the interval.
      const [key, [lo, hi]] = [...boundsOf(bounded).entries()][1];
      const [l, h] = key.split(':');
      await page.locator(`svg.heatmap .block-${side} rect.cell[data-layer="${l}"][data-head="${h}"]`).hover();
      assert.match(
        await page.locator('.tooltip.visible').textContent(),
        new RegExp(`k\\*∈ \\[${lo}, ${hi}\\] \\(bounded: above the exact rank ${R}\\)`),
      );
      await assertNoErrors(p);
      await p.close();
    }
  });

  test('a schema-2 report (no bounds fields) shows none of it', async () => {
    assert.equal(plain.schemaVersion, 2);
    const p = await open({ a: readySide(plain) });
    const { page } = p;
    for (const sel of [
      'svg.heatmap rect.cell[data-bounded]',
      'svg.heatmap .bound-hatch',
      'svg.heatmap defs pattern',
      'svg.heatmap .bounds-legend',
      'svg.layer-chart .bound-bar',
      'svg.layer-chart .bounded-count',
      'svg.layer-chart .bounds-legend',
      '.kstar-note',
    ])
      assert.equal(await page.locator(sel).count(), 0, `no ${sel}`);
    assert.doesNotMatch(await page.locator('svg.heatmap').getAttribute('aria-label'), /Striped|bound/);
    await page.locator('svg.heatmap rect.cell[data-layer="1"][data-head="2"]').hover();
    const kRow = page.locator('.tooltip.visible .tt-row', { has: page.locator('.tt-key', { hasText: /^k\*$/ }) });
    assert.equal(await kRow.locator('.tt-val').textContent(), String(plain.layers[1].heads[2].kStar));
    // The same report as schema 3 with the setting off (null) draws the same heatmap, to the pixel.
    const h2 = await page.locator('svg.heatmap').getAttribute('height');
    await p.send({
      type: 'report',
      side: 'a',
      report: { ...plain, schemaVersion: 3, settings: { ...plain.settings, kStarExactUpTo: null } },
    });
    await page.waitForFunction(() => Number(document.body.dataset.heatmapPainted) >= 2);
    assert.equal(await page.locator('svg.heatmap').getAttribute('height'), h2);
    assert.equal(await page.locator('.kstar-note').count(), 0);
    await assertNoErrors(p);
    await p.close();
  });
});

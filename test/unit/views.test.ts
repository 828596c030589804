/** View models of the webviews and the pure host helpers (node:test; no browser, no VS Code). */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { isDegenerate, type AnalysisReport, type HeadReport, type LayerReport } from '../../src/shared/report';
import type { ViewerTensor } from '../../src/shared/protocol';
import { contentSecurityPolicy, makeNonce, webviewHtml } from '../../src/views/html';
import { decodeExport, exportFileName, isExportFormat } from '../../src/views/exportData';
import { checkpointKey, describeSettings, headSettings, settingsFromConfig, validateInt, validateTau } from '../../src/views/settingsModel';
import { buildViewerModel } from '../../src/views/viewerModel';
import { attentionLut, attentionToRgba, metricColor, metricDomain, rampStops, rankOneColor } from '../../webview/shared/colorScale';
import { csvField, fileStem, reportsToCsv, CSV_COLUMNS } from '../../webview/shared/csv';
import { baseName, formatBytes, formatCount, formatInt, formatMs, formatRanges } from '../../src/shared/format';
import { hasSeries, heatmapGeometry, heatmapModel, layerLines, lazyRuns, moveCursor, verdict } from '../../webview/shared/heatmapModel';
import { groupTensors, layerOf, parseProvenance, rowWindow, totals, visibleRows } from '../../webview/shared/tensorGroups';
import { contrastRatio, readTheme, Theme, themeKindOf } from '../../webview/shared/theme';

// ---------------------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------------------

function head(kStar: number, extra: Partial<HeadReport> = {}): HeadReport {
  return {
    kStar,
    mStar: kStar === 1 ? 1 : kStar * 2,
    mStarSquared: kStar,
    entropy: kStar === 1 ? 0 : 0.5,
    sinkMass: kStar === 1 ? 1 : 0.1,
    dominantColumn: 0,
    ...extra,
  };
}

function report(
  ks: number[][],
  o: { lazy?: number[]; bi?: (number | null)[]; degenerateWhen?: 'kStar' | 'mStar' | 'either' } = {},
): AnalysisReport {
  const layers: LayerReport[] = ks.map((row, i) => ({
    index: i,
    lazy: o.lazy ? o.lazy.includes(i) : row.every((k) => k === 1),
    maxKStar: Math.max(...row),
    meanKStar: row.reduce((a, b) => a + b, 0) / row.length,
    blockInfluence: o.bi ? o.bi[i] : null,
    angularDistance: null,
    heads: row.map((k) => head(k)),
  }));
  return {
    schemaVersion: 2,
    tool: { name: 't', version: '0' },
    model: {
      architecture: 'GPT2LMHeadModel',
      family: 'gpt2',
      numLayers: ks.length,
      numHeads: ks[0].length,
      numKvHeads: ks[0].length,
      hiddenSize: 64,
      params: 1000,
      path: '/m/x',
    },
    settings: {
      seqLen: 16,
      batch: 2,
      tau: 0.9,
      mode: 'mean',
      seed: 3,
      degenerateWhen: o.degenerateWhen ?? 'either',
      input: 'builtin',
      layers: [0, ks.length - 1],
    },
    executionProvider: { requested: 'auto', used: 'cpu', skipped: [] },
    timings: { totalMs: 1, loadMs: 0, forwardMs: 0, metricsMs: 0 },
    suggestedN: 2,
    layers,
    createdAt: '2025-01-01T00:00:00Z',
  };
}

const DARK = readTheme(
  (n) =>
    ({ 'editor-background': '#1f1f1f', 'editor-foreground': '#cccccc', 'charts-blue': '#3794ff', 'charts-orange': '#d18616' })[n] ?? '',
  'dark',
);
const LIGHT = readTheme(
  (n) => ({ 'editor-background': '#ffffff', 'editor-foreground': '#3b3b3b', 'charts-blue': '#1a85ff' })[n] ?? '',
  'light',
);
const HC = readTheme(
  (n) => ({ 'editor-background': '#000000', 'editor-foreground': '#ffffff', 'charts-blue': '#3794ff', contrastBorder: '#6fc3df' })[n] ?? '',
  'high-contrast',
);

// ---------------------------------------------------------------------------------------------------------------

describe('theme', () => {
  test('kind from the body classes VS Code sets', () => {
    assert.equal(themeKindOf('vscode-light'), 'light');
    assert.equal(themeKindOf('foo vscode-dark'), 'dark');
    assert.equal(themeKindOf('vscode-high-contrast'), 'high-contrast');
    assert.equal(themeKindOf('vscode-high-contrast vscode-high-contrast-light'), 'high-contrast-light');
    assert.equal(themeKindOf(''), 'dark');
  });

  test('variables are read, missing or invalid ones fall back per theme kind', () => {
    assert.equal(DARK.background, '#1f1f1f');
    assert.equal(DARK.accent, '#3794ff');
    assert.equal(LIGHT.warning, '#d18616', 'charts.orange fallback');
    const bad = readTheme((n) => (n === 'editor-background' ? 'not-a-colour' : ''), 'light');
    assert.equal(bad.background, '#ffffff');
    assert.equal(HC.contrastBorder, '#6fc3df');
    assert.equal(DARK.contrastBorder, '');
  });

  test('colours with alpha are flattened over the background (exports need no CSS)', () => {
    const t = readTheme((n) => ({ 'editor-background': '#000000', 'charts-lines': '#ffffff80' })[n] ?? '', 'dark');
    assert.match(t.grid, /^#[0-9a-f]{6}$/);
    assert.notEqual(t.grid, '#ffffff');
  });
});

describe('colour scales', () => {
  test('the ramp moves away from the background in light, dark and high-contrast themes', () => {
    for (const t of [DARK, LIGHT, HC] as Theme[]) {
      const [low, mid, high] = rampStops(t).map((c) => contrastRatio(c, t.background));
      assert.ok(low < mid && mid < high, `${t.kind}: contrast ${low.toFixed(2)} < ${mid.toFixed(2)} < ${high.toFixed(2)}`);
      assert.ok(high >= 3, `${t.kind}: the high end reads against the background (${high.toFixed(2)})`);
    }
  });

  test('domains: log metrics from 1 to the largest value over every report (compare: one scale); fractions 0..1', () => {
    const a = report([
      [3, 7],
      [1, 1],
    ]);
    const b = report([[12.4, 2]]);
    assert.deepEqual(metricDomain([a], 'kStar'), [1, 7]);
    assert.deepEqual(metricDomain([a, b], 'kStar'), [1, 13]);
    assert.deepEqual(metricDomain([report([[1, 1]])], 'kStar'), [1, 2], 'never a zero-width domain');
    assert.deepEqual(metricDomain([a], 'entropy'), [0, 1]);
    assert.deepEqual(metricDomain([a], 'sinkMass'), [0, 1]);
  });

  test('metric colours: domain ends are the ramp ends, out-of-domain values clamp, NaN is the background', () => {
    const [low, , high] = rampStops(DARK);
    const c = metricColor(DARK, 'kStar', [1, 64]);
    // Rank 1 (and below, which k* cannot be) has its own colour; the ramp starts just above it.
    assert.equal(c(1), rankOneColor(DARK));
    assert.equal(c(0.5), rankOneColor(DARK));
    assert.equal(c(1.0001), low);
    assert.equal(metricColor(DARK, 'entropy', [0, 1])(0), low, 'only k* and m* have a rank-1 colour');
    assert.equal(c(64), high);
    assert.equal(c(1000), high);
    assert.equal(c(NaN), DARK.background);
    assert.notEqual(c(2), c(8), 'log scale separates small ranks');
  });

  test('attention LUT and RGBA conversion: 0 → first entry, max → last, returns the max used', () => {
    const lut = attentionLut(LIGHT);
    assert.equal(lut.length, 256 * 4);
    const data = new Float32Array([0, 0.25, 0.5, 1]);
    const out = new Uint8ClampedArray(16);
    assert.equal(attentionToRgba(data, lut, out), 1);
    assert.deepEqual([...out.slice(0, 4)], [...lut.slice(0, 4)]);
    assert.deepEqual([...out.slice(12, 16)], [...lut.slice(255 * 4, 256 * 4)]);
    // An explicit max clamps larger values to the top colour.
    attentionToRgba(data, lut, out, 0.5);
    assert.deepEqual([...out.slice(8, 12)], [...lut.slice(255 * 4, 256 * 4)]);
  });
});

describe('heatmap cell model', () => {
  const r = report([
    [4, 2, 3],
    [5, 1, 2],
    [1, 1, 1],
    [1, 1, 1],
  ]);

  test('one cell per (layer, head), lazy layers flagged', () => {
    const m = heatmapModel(r, 'kStar');
    assert.equal(m.cells.length, 4 * 3);
    assert.equal(m.numHeads, 3);
    assert.deepEqual(m.lazyLayers, [2, 3]);
    assert.deepEqual(
      m.cells.filter((c) => c.lazy).map((c) => `${c.layer}:${c.head}`),
      ['2:0', '2:1', '2:2', '3:0', '3:1', '3:2'],
    );
    assert.equal(m.cells.find((c) => c.layer === 1 && c.head === 1)!.degenerate, true, 'a rank-1 head in a non-lazy layer');
    assert.equal(heatmapModel(r, 'sinkMass').cells[0].value, 0.1);
  });

  test('degenerate per the report rule', () => {
    const h = { kStar: 1, mStar: 3 };
    // the heatmap marks a head by the report's own rule (the one isDegenerate in src/shared/report.ts)
    const marked = (when: 'kStar' | 'mStar' | 'either'): boolean => {
      const r = report([[2]], { degenerateWhen: when });
      r.layers[0].heads[0] = { ...r.layers[0].heads[0], ...h };
      return heatmapModel(r, 'kStar').cells[0].degenerate;
    };
    assert.equal(marked('kStar'), true);
    assert.equal(marked('mStar'), false);
    assert.equal(marked('either'), true);
    assert.equal(isDegenerate(h, 'kStar'), true);
    assert.equal(isDegenerate(h, 'mStar'), false);
    assert.equal(isDegenerate(h, 'either'), true);
  });

  test('lazy runs for outlining', () => {
    assert.deepEqual(lazyRuns([7, 5, 6, 10]), [
      [5, 7],
      [10, 10],
    ]);
    assert.deepEqual(lazyRuns([]), []);
  });

  test('keyboard moves clamp at the edges', () => {
    const layers = [0, 1, 2, 3];
    assert.deepEqual(moveCursor({ layer: 0, head: 0 }, 'ArrowLeft', layers, 3), { layer: 0, head: 0 });
    assert.deepEqual(moveCursor({ layer: 0, head: 0 }, 'ArrowRight', layers, 3), { layer: 1, head: 0 });
    assert.deepEqual(moveCursor({ layer: 1, head: 2 }, 'ArrowDown', layers, 3), { layer: 1, head: 2 });
    assert.deepEqual(moveCursor({ layer: 1, head: 2 }, 'ArrowUp', layers, 3), { layer: 1, head: 1 });
    assert.deepEqual(moveCursor({ layer: 1, head: 1 }, 'End', layers, 3), { layer: 3, head: 1 });
    assert.deepEqual(moveCursor({ layer: 1, head: 1 }, 'PageDown', layers, 3), { layer: 1, head: 2 });
    assert.equal(moveCursor({ layer: 1, head: 1 }, 'x', layers, 3), null);
    // A layer range that starts after 0.
    assert.deepEqual(moveCursor({ layer: 4, head: 0 }, 'ArrowLeft', [4, 5], 1), { layer: 4, head: 0 });
  });

  test('per-layer series leave out values that were not computed', () => {
    const withBi = report([[2], [3], [1]], { bi: [0.3, null, 0.1] });
    assert.deepEqual(layerLines(withBi, 'blockInfluence')[0].points, [
      { layer: 0, value: 0.3 },
      { layer: 2, value: 0.1 },
    ]);
    assert.equal(hasSeries(withBi, 'blockInfluence'), true);
    assert.equal(hasSeries(withBi, 'angularDistance'), false);
    const k = layerLines(withBi, 'kStar');
    assert.deepEqual(
      k.map((l) => l.key),
      ['maxKStar', 'meanKStar'],
    );
  });

  test('verdict: the lazy tail', () => {
    assert.equal(verdict(r).firstLazyTail, 2);
    assert.equal(verdict(report([[1], [2]])).firstLazyTail, null, 'a lazy layer that is not at the end');
    assert.deepEqual(verdict(report([[2], [3]])).lazyLayers, []);
  });

  test('geometry: columns share the width within limits; the chart shares left and column width', () => {
    const g = heatmapGeometry(900, 48, 25);
    assert.equal(g.left + g.plotW + g.right, g.width);
    assert.equal(g.cellW, Math.floor((900 - g.left - g.right) / 48));
    assert.ok(g.cellH >= 8 && g.cellH <= 14);
    assert.equal(heatmapGeometry(2000, 4, 4).cellW, 56, 'capped');
    assert.equal(heatmapGeometry(300, 200, 4).cellW, 8, 'floored (the card scrolls)');
  });
});

describe('CSV export', () => {
  test('one row per head with the layer metrics repeated; compare rows carry the model label', () => {
    const a = report([
      [2, 3],
      [1, 1],
    ]);
    const csv = reportsToCsv([
      { label: 'ref', report: a },
      { label: 'child', report: report([[4, 5]]) },
    ]);
    const rows = csv.trim().split('\n');
    assert.equal(rows[0], CSV_COLUMNS.join(','));
    assert.equal(rows.length, 1 + 4 + 2);
    assert.equal(rows[1], 'ref,0,0,0,2,2,2,4,2,0.5,0.1,0,3,2.5,0,,,0.9,16,2,mean,');
    assert.match(rows[3], /^ref,1,0,1,1,1,/);
    assert.match(rows[5], /^child,0,0,0,4,/);
  });

  test('fields are quoted when needed', () => {
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('x\ny'), '"x\ny"');
    assert.equal(csvField(null), '');
    assert.equal(csvField(NaN), '');
    assert.equal(csvField(0.25), '0.25');
  });

  test('file stems', () => {
    assert.equal(fileStem('gpt2 12L k* heatmap'), 'gpt2-12L-kstar-heatmap');
    assert.equal(fileStem('../../etc'), '..-..-etc');
    assert.equal(fileStem('***'), 'starstarstar');
    assert.equal(fileStem(''), 'export');
  });
});

describe('tensor grouping for the viewer', () => {
  const t = (name: string, shape: number[] = [2, 2], dtype = 'F32'): ViewerTensor => ({
    name,
    dtype,
    shape,
    offset: 0,
    bytes: shape.reduce((a, b) => a * b, 1) * 4,
    file: 0,
  });
  const tensors = [
    t('model.embed_tokens.weight', [10, 4]),
    t('model.layers.10.mlp.weight'),
    t('model.layers.2.self_attn.q_proj.weight'),
    t('model.layers.2.mlp.weight', [2, 2], 'BF16'),
    t('model.norm.weight', [4]),
    t('lm_head.weight', [10, 4]),
  ];

  test('layer index from the first numeric segment', () => {
    assert.deepEqual(layerOf('transformer.h.3.attn.c_attn.weight'), { stack: 'transformer.h', layer: 3 });
    assert.equal(layerOf('lm_head.weight'), null);
  });

  test('groups: non-layer tensors first, then layers in numeric order, with params, bytes and dtypes', () => {
    const g = groupTensors(tensors);
    assert.deepEqual(
      g.map((x) => x.label),
      ['Embeddings, norms and head', 'Layer 2', 'Layer 10'],
    );
    assert.deepEqual(g[1].tensors, [2, 3]);
    assert.equal(g[1].params, 8);
    assert.deepEqual(g[1].dtypes, { F32: 1, BF16: 1 });
    const tot = totals(tensors, g);
    assert.equal(tot.tensors, 6);
    assert.equal(tot.layers, 2);
    assert.equal(tot.params, 40 + 4 + 4 + 4 + 4 + 40);
  });

  test('two stacks (e.g. a vision tower) are named in the labels', () => {
    const g = groupTensors([t('vision.blocks.0.w'), t('model.layers.0.w'), t('model.layers.1.w')]);
    assert.deepEqual(
      g.map((x) => x.label),
      ['vision.blocks 0', 'model.layers 0', 'model.layers 1'],
    );
  });

  test('visible rows: collapsed groups, expanded groups, filter', () => {
    const g = groupTensors(tensors);
    assert.equal(visibleRows(g, tensors, new Set(), '').length, 3);
    const open = visibleRows(g, tensors, new Set([g[1].key]), '');
    assert.deepEqual(
      open.map((r) => r.kind),
      ['group', 'group', 'tensor', 'tensor', 'group'],
    );
    const f = visibleRows(g, tensors, new Set(), 'mlp');
    assert.deepEqual(
      f.map((r) => (r.kind === 'group' ? `g${r.group}:${r.matches}` : `t${r.tensor}`)),
      ['g1:1', 't3', 'g2:1', 't1'],
    );
    assert.equal(visibleRows(g, tensors, new Set(), 'bf16').length, 2, 'dtype match');
    assert.equal(visibleRows(g, tensors, new Set([`!${g[1].key}`]), 'mlp').length, 3, 'a group collapsed while filtering');
  });

  test('virtual window with overscan', () => {
    assert.deepEqual(rowWindow(10_000, 26, 0, 520, 8), { start: 0, end: 28 });
    assert.deepEqual(rowWindow(10_000, 26, 26 * 5000, 520, 8), { start: 4992, end: 5028 });
    assert.deepEqual(rowWindow(10, 26, 0, 520, 8), { start: 0, end: 10 });
  });

  test('provenance', () => {
    assert.deepEqual(parseProvenance({ inheritune: '{"op":"inherit"}' }), { op: 'inherit' });
    assert.equal(parseProvenance({ inheritune: 'not json' }), 'not json');
    assert.equal(parseProvenance({}), undefined);
  });

  test('a 10 000-tensor header groups quickly', () => {
    const many = Array.from({ length: 10_000 }, (_, i) => t(`model.layers.${i % 80}.experts.${i}.weight`));
    const t0 = performance.now();
    const g = groupTensors(many);
    const rows = visibleRows(g, many, new Set(g.map((x) => x.key)), '');
    assert.equal(g.length, 80);
    assert.equal(rows.length, 10_080);
    assert.ok(performance.now() - t0 < 200);
  });
});

describe('formatting', () => {
  test('numbers, sizes, ranges, names', () => {
    assert.equal(formatRanges([7, 5, 6, 10, 12, 13]), '5–7, 10, 12, 13');
    assert.equal(formatRanges([]), '');
    assert.equal(formatCount(2_540_000), '2.54M');
    assert.equal(formatBytes(3 * 1024), '3.0 KiB');
    assert.equal(formatInt(1234567), '1,234,567');
    assert.equal(formatMs(950), '950 ms');
    assert.equal(formatMs(1530), '1.5 s');
    assert.equal(formatMs(125_000), '2 min 5 s');
    assert.equal(baseName('/a/b/ckpt/'), 'ckpt');
    assert.equal(baseName('C:\\m\\x.safetensors'), 'x.safetensors');
  });
});

describe('host helpers', () => {
  test('settings from the configuration: invalid values are dropped; token files by extension', () => {
    assert.deepEqual(settingsFromConfig({ seqLen: null, batch: 8, tau: 0.95, mode: 'per-seq', executionProvider: 'cpu', inputFile: '' }), {
      batch: 8,
      tau: 0.95,
      mode: 'per-seq',
      ep: 'cpu',
    });
    assert.deepEqual(settingsFromConfig({ seqLen: 1, batch: 0, tau: 1, mode: 'x', executionProvider: 'tpu' }), {});
    assert.deepEqual(settingsFromConfig({ inputFile: 'data/train.bin' }, '/ws'), { tokensFile: path.resolve('/ws', 'data/train.bin') });
    assert.deepEqual(settingsFromConfig({ inputFile: '/t/a.npy' }), { tokensFile: '/t/a.npy' });
    assert.deepEqual(settingsFromConfig({ inputFile: '/t/book.txt' }), { textFile: '/t/book.txt' });
    // kStarExactUpTo: 0 (the default) is exact everywhere; a positive whole number asks for bounds above it
    assert.deepEqual(settingsFromConfig({ kStarExactUpTo: 0 }), {});
    assert.deepEqual(settingsFromConfig({ kStarExactUpTo: 2.5 }), {});
    assert.deepEqual(settingsFromConfig({ kStarExactUpTo: 128 }), { kStarExactUpTo: 128 });
    assert.match(describeSettings({ kStarExactUpTo: 128 }), / · k\* exact up to 128$/);
    assert.equal(
      describeSettings({}),
      'T auto · batch 4 · τ 0.9 · mean · EP auto · default input (built-in text, or seeded ids without a tokenizer)',
    );
  });

  test('a head is computed with the settings the report resolved, on the provider it used', () => {
    const r = report([[2]]);
    r.executionProvider.used = 'cpu';
    const s = headSettings({ path: '/m', settings: { ep: 'auto', textFile: '/t.txt', layers: [0, 0] } }, r);
    assert.deepEqual(s, { ep: 'cpu', textFile: '/t.txt', seqLen: 16, batch: 2, seed: 3, tau: 0.9, mode: 'mean', layers: undefined });
  });

  test('one panel per checkpoint folder', () => {
    assert.equal(checkpointKey('/m/ckpt/config.json'), path.resolve('/m/ckpt'));
    assert.equal(checkpointKey('/m/ckpt/model.safetensors'), path.resolve('/m/ckpt'));
    assert.equal(checkpointKey('/m/ckpt/'), path.resolve('/m/ckpt'));
    assert.equal(checkpointKey('/m/ckpt/pytorch_model-00001-of-00002.bin'), path.resolve('/m/ckpt'));
    assert.equal(checkpointKey('/m/out/ckpt.pt'), path.resolve('/m/out/ckpt.pt'));
  });

  test('input validation', () => {
    assert.equal(validateInt('', 2, true), undefined);
    assert.match(validateInt('1', 2, true)!, /≥ 2/);
    assert.match(validateInt('', 1, false)!, /whole number/);
    assert.equal(validateTau('0.9'), undefined);
    assert.match(validateTau('1')!, /between 0 and 1/);
  });

  test('exports: PNG must be a PNG data URL, SVG must hold <svg>, JSON must parse; names are sanitised', () => {
    const png = 'data:image/png;base64,' + Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0]).toString('base64');
    assert.equal(decodeExport('png', png)[1], 0x50);
    assert.throws(() => decodeExport('png', 'data:image/png;base64,' + Buffer.from('hello world').toString('base64')), /not a PNG/);
    assert.throws(() => decodeExport('png', 'data:text/html,<b>'), /data:image\/png/);
    assert.throws(() => decodeExport('svg', '<html></html>'), /<svg>/);
    assert.throws(() => decodeExport('json', '{'), SyntaxError);
    assert.equal(new TextDecoder().decode(decodeExport('csv', 'a,b\n')), 'a,b\n');
    assert.equal(exportFileName('../../evil name.svg', 'svg'), 'evil name.svg');
    assert.equal(exportFileName('', 'png'), 'export.png');
    assert.equal(exportFileName('report.json', 'csv'), 'report.csv');
    assert.equal(isExportFormat('svg'), true);
    assert.equal(isExportFormat('exe'), false);
  });

  test('webview HTML: strict CSP with the nonce, no unsafe-inline, no remote origins; attributes escaped', () => {
    const nonce = makeNonce();
    assert.match(nonce, /^[0-9a-f]{36}$/);
    assert.notEqual(makeNonce(), nonce);
    const csp = contentSecurityPolicy('https://x.vscode-cdn.net', nonce);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, new RegExp(`script-src 'nonce-${nonce}'`));
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
    const html = webviewHtml({
      cspSource: 'https://x',
      nonce,
      scriptUri: 'https://x/a.js?"><script>',
      styleUris: ['https://x/s.css'],
      title: '<t>',
    });
    assert.match(html, new RegExp(`<script nonce="${nonce}" src="https://x/a.js\\?&quot;>&lt;script>"></script>`));
    assert.match(html, /<title>&lt;t><\/title>/);
    assert.equal((html.match(/<script/g) ?? []).length, 1);
  });

  test('viewer model from a header: tensors with data offsets, metadata, config; index reads each shard', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'inheritune-views-'));
    const write = (file: string, tensors: Record<string, { dtype: string; shape: number[] }>, meta?: Record<string, string>) => {
      const header: Record<string, unknown> = meta ? { __metadata__: meta } : {};
      let off = 0;
      for (const [name, t] of Object.entries(tensors)) {
        const n = t.shape.reduce((a, b) => a * b, 1) * 4;
        header[name] = { ...t, data_offsets: [off, off + n] };
        off += n;
      }
      const json = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      writeFileSync(path.join(dir, file), Buffer.concat([len, json, Buffer.alloc(off)]));
    };
    write(
      'a.safetensors',
      { 'h.0.w': { dtype: 'F32', shape: [2, 3] }, wte: { dtype: 'F32', shape: [4] } },
      { inheritune: '{"op":"inherit"}' },
    );
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_layer: 1 }));
    const m = await buildViewerModel(path.join(dir, 'a.safetensors'));
    assert.equal(m.kind, 'file');
    assert.deepEqual(
      m.tensors.map((x) => [x.name, x.offset, x.bytes]),
      [
        ['h.0.w', 0, 24],
        ['wte', 24, 16],
      ],
    );
    assert.deepEqual(m.config, { architecture: 'GPT2LMHeadModel', modelType: 'gpt2', numLayers: 1 });
    assert.equal(m.metadata.inheritune, '{"op":"inherit"}');

    write('s1.safetensors', { 'h.0.w': { dtype: 'F32', shape: [2] } });
    write('s2.safetensors', { 'h.1.w': { dtype: 'F32', shape: [2] }, stray: { dtype: 'F32', shape: [1] } });
    writeFileSync(
      path.join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: { total_size: 16 }, weight_map: { 'h.0.w': 's1.safetensors', 'h.1.w': 's2.safetensors' } }),
    );
    const idx = await buildViewerModel(path.join(dir, 'model.safetensors.index.json'));
    assert.equal(idx.kind, 'index');
    assert.deepEqual(
      idx.files.map((f) => [f.name, f.tensorCount]),
      [
        ['s1.safetensors', 1],
        ['s2.safetensors', 1],
      ],
    );
    assert.deepEqual(idx.indexMetadata, { total_size: 16 });
    writeFileSync(path.join(dir, 'bad.safetensors'), Buffer.from([1, 2, 3]));
    await assert.rejects(buildViewerModel(path.join(dir, 'bad.safetensors')), /shorter than the 8-byte header length/);
    rmSync(dir, { recursive: true, force: true });
  });
});

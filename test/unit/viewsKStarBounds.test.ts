/** k* bounds in the report views (schema 3): the pure helpers, the heatmap and per-layer models, the CSV, the wording. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AnalysisReport, HeadReport, LayerReport } from '../../src/shared/report';
import { CSV_COLUMNS, reportsToCsv } from '../../webview/shared/csv';
import { heatmapModel, layerLines } from '../../webview/shared/heatmapModel';
import {
  boundedReason,
  boundsLegendLabel,
  boundsNote,
  exactUpTo,
  kStarInterval,
  kStarRange,
  layerBoundedHeads,
  layerKStarBounds,
  reportBoundedHeads,
} from '../../webview/shared/kStarBounds';
import { formatKStarBounds, headTooltip, kStarReadout } from '../../webview/attention/views/text';

/** A head: a number is an exact k*, a pair [lo, hi] a bounded one (kStar = lo). */
function head(k: number | [number, number]): HeadReport {
  const kStar = Array.isArray(k) ? k[0] : k;
  return {
    kStar,
    ...(Array.isArray(k) ? { kStarBounds: k } : {}),
    mStar: kStar + 1,
    mStarSquared: kStar,
    entropy: 0.5,
    sinkMass: 0.1,
    dominantColumn: 0,
  };
}

function layer(index: number, ks: (number | [number, number])[]): LayerReport {
  const heads = ks.map(head);
  const lo = heads.map((h) => h.kStar);
  const bounded = heads.filter((h) => h.kStarBounds).length;
  return {
    index,
    lazy: false,
    maxKStar: Math.max(...lo),
    meanKStar: lo.reduce((a, b) => a + b, 0) / lo.length,
    ...(bounded ? { boundedHeads: bounded } : {}),
    blockInfluence: null,
    angularDistance: null,
    heads,
  };
}

function report(rows: (number | [number, number])[][], kStarExactUpTo?: number | null, mode: 'mean' | 'per-seq' = 'mean'): AnalysisReport {
  return {
    schemaVersion: kStarExactUpTo === undefined ? 2 : 3,
    tool: { name: 't', version: '0' },
    model: {
      architecture: 'A',
      family: 'llama',
      numLayers: rows.length,
      numHeads: rows[0].length,
      numKvHeads: 1,
      hiddenSize: 8,
      params: 1,
      path: '/m/x',
    },
    settings: {
      seqLen: 256,
      batch: 1,
      tau: 0.9,
      mode,
      seed: 0,
      degenerateWhen: 'either',
      ...(kStarExactUpTo === undefined ? {} : { kStarExactUpTo }),
      input: 'builtin',
      layers: [0, rows.length - 1],
    },
    executionProvider: { requested: 'cpu', used: 'cpu', skipped: [] },
    timings: { totalMs: 1, loadMs: 0, forwardMs: 0, metricsMs: 0 },
    suggestedN: 1,
    layers: rows.map((r, i) => layer(i, r)),
    createdAt: '2025-01-01T00:00:00Z',
  };
}

const BOUNDED = report(
  [
    [3, [65, 90], [70, 200], 12],
    [2, 5, 7, 9],
  ],
  64,
);
const PLAIN = report([
  [3, 40, 50, 12],
  [2, 5, 7, 9],
]);

describe('k* bounds: helpers', () => {
  test('a head is bounded only with a well-formed [lo, hi], lo ≤ hi', () => {
    assert.deepEqual(kStarInterval(head([65, 90])), [65, 90]);
    assert.equal(kStarInterval(head(12)), undefined);
    assert.equal(kStarInterval({ ...head(12), kStarBounds: [90, 65] }), undefined);
    assert.equal(kStarInterval({ ...head(12), kStarBounds: [NaN, 65] }), undefined);
    assert.equal(kStarInterval({ ...head(12), kStarBounds: [1] as unknown as [number, number] }), undefined);
    assert.deepEqual(kStarRange(head(12)), [12, 12]);
    assert.deepEqual(kStarRange(head([65, 90])), [65, 90]);
  });

  test('counts per layer and report; a larger boundedHeads in the report is kept', () => {
    assert.equal(layerBoundedHeads(BOUNDED.layers[0]), 2);
    assert.equal(layerBoundedHeads(BOUNDED.layers[1]), 0);
    assert.equal(reportBoundedHeads(BOUNDED), 2);
    assert.equal(reportBoundedHeads(PLAIN), 0);
    assert.equal(layerBoundedHeads({ ...PLAIN.layers[0], boundedHeads: 3 }), 3);
  });

  test('the rank: a finite kStarExactUpTo, else null', () => {
    assert.equal(exactUpTo(BOUNDED), 64);
    assert.equal(exactUpTo(PLAIN), null);
    assert.equal(exactUpTo(report([[1]], null)), null);
  });

  test("a layer's max and mean k* with bounded heads: [the report's value, the same over the upper ends]", () => {
    const b = layerKStarBounds(BOUNDED.layers[0])!;
    assert.deepEqual(b.max, [70, 200]);
    assert.deepEqual(b.mean, [(3 + 65 + 70 + 12) / 4, (3 + 90 + 200 + 12) / 4]);
    assert.equal(layerKStarBounds(BOUNDED.layers[1]), undefined);
    assert.equal(layerKStarBounds(PLAIN.layers[0]), undefined);
  });

  test('wording: legend, header note, reason', () => {
    assert.equal(boundsLegendLabel([{ side: 'a', report: BOUNDED }]), 'k* > 64: certified bounds');
    assert.equal(
      boundsLegendLabel([
        { side: 'a', report: BOUNDED },
        { side: 'b', report: PLAIN },
      ]),
      'k* > 64: certified bounds',
      'only sides with bounds name their rank',
    );
    const other = report([[[130, 140]]], 128);
    assert.equal(
      boundsLegendLabel([
        { side: 'a', report: BOUNDED },
        { side: 'b', report: other },
      ]),
      'k* > 64 (A), 128 (B): certified bounds',
    );
    assert.equal(boundsNote(BOUNDED), 'k* exact up to 64; 2 heads above it shown as bounds');
    assert.equal(boundsNote(report([[[130, 140]]], 128)), 'k* exact up to 128; 1 head above it shown as bounds');
    assert.equal(boundsNote(report([[3, 4]], 64)), 'k* exact up to 64; no head above it: every k* is exact');
    assert.equal(boundsNote(PLAIN), undefined, 'schema 2: no note');
    assert.equal(boundsNote(report([[3, 4]], null)), undefined, 'the setting off: no note');
    assert.equal(boundedReason(64), '(bounded: above the exact rank 64)');
    assert.equal(boundedReason(null), '(bounded: above the exact rank)');
  });
});

describe('k* bounds: view models', () => {
  test('heatmap cells carry bounds for metric k* only; exact cells have no bounds key', () => {
    const cells = heatmapModel(BOUNDED, 'kStar').cells;
    assert.deepEqual(cells[1].bounds, [65, 90]);
    assert.equal(cells[1].value, 65, 'the colour is the lower end');
    assert.deepEqual(
      cells.filter((c) => c.bounds).map((c) => [c.layer, c.head]),
      [
        [0, 1],
        [0, 2],
      ],
    );
    assert.ok(!('bounds' in cells[0]));
    for (const m of ['mStar', 'entropy', 'sinkMass'] as const)
      assert.ok(
        heatmapModel(BOUNDED, m).cells.every((c) => !('bounds' in c)),
        m,
      );
    assert.ok(heatmapModel(PLAIN, 'kStar').cells.every((c) => !('bounds' in c)));
  });

  test('per-layer k* lines: an upper bound on layers with bounded heads only', () => {
    const [maxLine, meanLine] = layerLines(BOUNDED, 'kStar');
    assert.deepEqual(maxLine.points, [
      { layer: 0, value: 70, upper: 200 },
      { layer: 1, value: 9 },
    ]);
    assert.deepEqual(meanLine.points[0], { layer: 0, value: 37.5, upper: 76.25 });
    assert.ok(!('upper' in meanLine.points[1]));
    assert.ok(layerLines(PLAIN, 'kStar').every((l) => l.points.every((p) => !('upper' in p))));
  });

  test('CSV: k_star_lo / k_star_hi (equal to k_star when exact), layer_bounded_heads, k_star_exact_up_to', () => {
    const rows = reportsToCsv([{ label: 'm', report: BOUNDED }])
      .trim()
      .split('\n')
      .map((r) => r.split(','));
    const col = (n: (typeof CSV_COLUMNS)[number]) => CSV_COLUMNS.indexOf(n);
    const pick = (r: string[]) => [
      r[col('k_star')],
      r[col('k_star_lo')],
      r[col('k_star_hi')],
      r[col('layer_bounded_heads')],
      r[col('k_star_exact_up_to')],
    ];
    assert.deepEqual(pick(rows[1]), ['3', '3', '3', '2', '64']);
    assert.deepEqual(pick(rows[2]), ['65', '65', '90', '2', '64']);
    assert.deepEqual(pick(rows[3]), ['70', '70', '200', '2', '64']);
    assert.deepEqual(pick(rows[5]), ['2', '2', '2', '0', '64']);
    const plain = reportsToCsv([{ label: 'm', report: PLAIN }])
      .trim()
      .split('\n')[1]
      .split(',');
    assert.deepEqual(pick(plain), ['3', '3', '3', '0', ''], 'schema 2: lo = hi = k*, no rank');
  });

  test('read-outs: the interval and why for a bounded head, the number for an exact one', () => {
    assert.deepEqual(kStarReadout(BOUNDED, BOUNDED.layers[0].heads[1]), {
      value: '∈ [65, 90] (bounded: above the exact rank 64)',
      bounded: true,
    });
    assert.deepEqual(kStarReadout(BOUNDED, BOUNDED.layers[0].heads[0]), { value: '3', bounded: false });
    assert.equal(formatKStarBounds([65.25, 90.5], 'per-seq'), '∈ [65.3, 90.5]');
    const tip = headTooltip(BOUNDED, BOUNDED.layers[0], 2);
    assert.deepEqual(tip[1], ['k*', '∈ [70, 200] (bounded: above the exact rank 64)']);
    assert.deepEqual(headTooltip(PLAIN, PLAIN.layers[0], 2)[1], ['k*', '50']);
  });
});

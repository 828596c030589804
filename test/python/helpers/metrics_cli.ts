/**
 * Test helper for test/python/test_metrics_reference.py.
 *   node --import tsx test/python/helpers/metrics_cli.ts IN.json OUT.json
 * IN:  { "bin": "<float32 little-endian file>", "items": [
 *          { "kind": "matrix", "offset": <float index>, "T": n, "tau": t },
 *          { "kind": "pattern", "offset": i, "batch": b, "numHeads": h, "T": n, "tau": t, "mode": "mean" | "per-seq" } ] }
 * OUT: { "results": [ { "kStar", "mStar", "mStarSquared", "method", "steps", "ms" } | { "heads": HeadMetrics[], "ms" } ] }
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { KStarMode } from '../../../src/shared/report';
import { layerHeadMetrics, mStarOf } from '../../../src/analysis/metrics/headMetrics';
import { kStarDetailed } from '../../../src/analysis/rank/kStar';

interface MatrixItem {
  kind: 'matrix';
  offset: number;
  T: number;
  tau: number;
}
interface PatternItem {
  kind: 'pattern';
  offset: number;
  batch: number;
  numHeads: number;
  T: number;
  tau: number;
  mode: KStarMode;
}

const [inPath, outPath] = process.argv.slice(2);
if (!inPath || !outPath) {
  process.stderr.write('usage: metrics_cli.ts IN.json OUT.json\n');
  process.exit(2);
}
const manifest = JSON.parse(readFileSync(inPath, 'utf8')) as { bin: string; items: (MatrixItem | PatternItem)[] };
const raw = readFileSync(manifest.bin);
const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));

const results = manifest.items.map((item) => {
  const t0 = performance.now();
  if (item.kind === 'matrix') {
    const a = data.subarray(item.offset, item.offset + item.T * item.T);
    const k = kStarDetailed(a, item.T, item.tau);
    const ms = performance.now() - t0;
    return {
      kStar: k.kStar,
      method: k.method,
      steps: k.steps,
      ms,
      mStar: mStarOf(a, item.T, item.tau, false),
      mStarSquared: mStarOf(a, item.T, item.tau, true),
    };
  }
  const len = item.batch * item.numHeads * item.T * item.T;
  const p = data.subarray(item.offset, item.offset + len);
  const heads = layerHeadMetrics(p, item.batch, item.numHeads, item.T, { tau: item.tau, mode: item.mode });
  return { heads, ms: performance.now() - t0 };
});
writeFileSync(outPath, JSON.stringify({ results }));

// Diagnostics for bench/analysis.py (not timed against anything): which k* method resolves each head of a real model,
// with its Lanczos steps and CPU time (process CPU around each call; onnxruntime's threads are idle then). The report
// does not carry the method, so this reruns the CPU forward and calls the certificate's kStarDetailed on each matrix
// the analysis would use (the batch mean in mode mean, each sequence in per-seq), and checks its k* against the
// report's.
// Usage: node --import tsx bench/kstar_methods.ts CKPT TOKENS.npy B T mean|per-seq TAU REPORT.json OUT.json
import * as fs from 'node:fs';
import { runForward } from '../src/analysis/run/forward';
import { parseTokenFile } from '../src/analysis/input';
import { batchMeanHead } from '../src/analysis/metrics/headMetrics';
import { kStarDetailed } from '../src/analysis/rank/kStar';
import { densePattern } from '../src/analysis/graph/pattern';
import { openCheckpoint } from '../src/checkpoint/checkpoint';
import type { AnalysisReport } from '../src/shared/report';

async function main(): Promise<void> {
  const [ckptPath, tokensPath, bArg, tArg, mode, tauArg, reportPath, outPath] = process.argv.slice(2);
  const B = Number(bArg);
  const T = Number(tArg);
  const tau = Number(tauArg);
  if (!outPath || (mode !== 'mean' && mode !== 'per-seq'))
    throw new Error('usage: kstar_methods.ts CKPT TOKENS.npy B T mean|per-seq TAU REPORT.json OUT.json');
  const report = JSON.parse(fs.readFileSync(reportPath, 'utf8')) as AnalysisReport;
  const ckpt = await openCheckpoint(ckptPath);
  const tokens = parseTokenFile(tokensPath, new Uint8Array(fs.readFileSync(tokensPath)));
  const H = ckpt.dims.heads;
  const methods: Record<string, { heads: number; ms: number; steps: number }> = {};
  const mismatches: string[] = [];
  let kMin = Infinity;
  let kMax = 0;
  await runForward(
    ckpt,
    tokens,
    B,
    T,
    (out) => {
      const pattern = densePattern(out.pattern, B, H, T);
      for (let h = 0; h < H; h++) {
        const mats =
          mode === 'mean'
            ? [batchMeanHead(pattern, B, H, h, T)]
            : Array.from({ length: B }, (_, b) => pattern.subarray((b * H + h) * T * T, (b * H + h + 1) * T * T));
        let kSum = 0;
        for (const a of mats) {
          const t0 = process.cpuUsage();
          const r = kStarDetailed(a, T, tau);
          const used = process.cpuUsage(t0);
          const m = (methods[r.method] ??= { heads: 0, ms: 0, steps: 0 });
          m.heads++;
          m.ms += (used.user + used.system) / 1000; // CPU time: the machine may be shared
          m.steps += r.steps;
          kSum += r.kStar;
          kMin = Math.min(kMin, r.kStar);
          kMax = Math.max(kMax, r.kStar);
        }
        const k = kSum / mats.length;
        const reported = report.layers.find((l) => l.index === out.layer)?.heads[h]?.kStar;
        if (reported === undefined || Math.abs(reported - k) > 1e-9)
          mismatches.push(`layer ${out.layer} head ${h}: ${k} here, ${reported} in the report`);
      }
    },
    { ep: 'cpu' },
  );
  fs.writeFileSync(
    outPath,
    JSON.stringify({ methods, kStarRange: [kMin, kMax], matrices: mode === 'mean' ? 'batch mean' : 'each sequence', mismatches }),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

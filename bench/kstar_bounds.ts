// Diagnostics for the bounds mode (settings.kStarExactUpTo): on a real model's attention, for each head the exact k*
// (kStarDetailed) and the bounds-mode result for each rank r given, with CPU time; checks that every head with
// k* ≤ r is exact and every bounded head's [lo, hi] holds k* with lo > r. Untimed against any reference.
// Usage: node --import tsx bench/kstar_bounds.ts CKPT TEXT_FILE T R1[,R2,...] [OUT.json]
import * as fs from 'node:fs';
import { runForward } from '../src/analysis/run/forward';
import { prepareTokens } from '../src/analysis/input';
import { kStarDetailed, type KStarResult } from '../src/analysis/rank/kStar';
import { densePattern } from '../src/analysis/graph/pattern';
import { openCheckpoint } from '../src/checkpoint/checkpoint';

function cpuMs(f: () => void): number {
  const t0 = process.cpuUsage();
  f();
  const u = process.cpuUsage(t0);
  return (u.user + u.system) / 1000;
}

async function main(): Promise<void> {
  const [ckptPath, textFile, tArg, rArg, outPath] = process.argv.slice(2);
  const T = Number(tArg);
  const ranks = (rArg ?? '').split(',').map(Number);
  if (!textFile || !(T > 0) || ranks.some((r) => !(r >= 1)))
    throw new Error('usage: kstar_bounds.ts CKPT TEXT_FILE T R1[,R2,...] [OUT.json]');
  const ckpt = await openCheckpoint(ckptPath);
  const { tokens } = await prepareTokens(ckpt, { textFile, batch: 1, seqLen: T, seed: 0 });
  const H = ckpt.dims.heads;
  const exact = { ms: 0, heads: 0, kMax: 0 };
  const per = ranks.map((r) => ({
    r,
    ms: 0,
    bounded: 0,
    exact: 0,
    widthSum: 0,
    failures: [] as string[],
    missed: {} as Record<string, number>,
    byMethod: {} as Record<string, { heads: number; cpuS: number }>,
  }));
  await runForward(
    ckpt,
    tokens,
    1,
    T,
    (out) => {
      const pattern = densePattern(out.pattern, 1, H, T);
      for (let h = 0; h < H; h++) {
        const a = pattern.subarray(h * T * T, (h + 1) * T * T);
        let k = 0;
        exact.ms += cpuMs(() => (k = kStarDetailed(a, T, 0.9).kStar));
        exact.heads++;
        exact.kMax = Math.max(exact.kMax, k);
        for (const p of per) {
          let res: KStarResult | undefined;
          const ms = cpuMs(() => (res = kStarDetailed(a, T, 0.9, { exactUpTo: p.r })));
          p.ms += ms;
          if (!res) throw new Error('unreachable');
          const where = `layer ${out.layer} head ${h} (k* = ${k})`;
          if (process.env.KB_VERBOSE && (res.method === 'dense' || res.method === 'gram-dense'))
            console.error(`dense ${where} r=${p.r} ${res.method} steps ${res.steps} ${ms.toFixed(0)} ms`);
          const bm = (p.byMethod[res.method] ??= { heads: 0, cpuS: 0 });
          bm.heads++;
          bm.cpuS += ms / 1000;
          if (res.bounds) {
            p.bounded++;
            p.widthSum += res.bounds[1] - res.bounds[0];
            const [lo, hi] = res.bounds;
            if (!(lo > p.r && lo <= k && k <= hi && res.kStar === lo)) p.failures.push(`${where}: bounds [${lo}, ${hi}]`);
          } else {
            p.exact++;
            if (res.kStar !== k) p.failures.push(`${where}: ${res.kStar} (${res.method})`);
            if (k > p.r) {
              p.missed[res.method] = (p.missed[res.method] ?? 0) + 1;
              if (process.env.KB_VERBOSE) console.error(`missed ${where} ${res.method} steps ${res.steps}`);
            }
          }
        }
      }
    },
    { ep: 'cpu' },
  );
  const summary = {
    T,
    heads: exact.heads,
    exact: { cpuS: +(exact.ms / 1000).toFixed(2), kMax: exact.kMax },
    bounds: per.map((p) => ({
      exactUpTo: p.r,
      cpuS: +(p.ms / 1000).toFixed(2),
      speedup: +(exact.ms / p.ms).toFixed(2),
      exactHeads: p.exact,
      boundedHeads: p.bounded,
      meanWidth: p.bounded ? +(p.widthSum / p.bounded).toFixed(1) : 0,
      exactAboveR: p.missed,
      byMethod: Object.fromEntries(Object.entries(p.byMethod).map(([k, v]) => [k, { heads: v.heads, cpuS: +v.cpuS.toFixed(2) }])),
      failures: p.failures,
    })),
  };
  console.log(JSON.stringify(summary, null, 1));
  if (outPath) fs.writeFileSync(outPath, JSON.stringify(summary));
  if (per.some((p) => p.failures.length)) process.exit(1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

// k* (the rank certificate, rank/kStar.ts) on attention-like float32 matrices, CPU time per matrix, best of N: causal
// softmax of q·k logits (d = 64) with a sink column, a local band, a sharp diagonal or nothing added, at T = 256, 512
// and 1024. Needs no model: for timing the kernels end to end (run it in two trees, alternately, to compare them).
// Usage: node --import tsx bench/kstar_synthetic.ts [ROUNDS] [--json OUT.json]
import * as fs from 'node:fs';
import { kStarDetailed } from '../src/analysis/rank/kStar';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Kind = 'diffuse' | 'sink' | 'local' | 'diagonal';

function pattern(T: number, kind: Kind, seed: number): Float32Array {
  const rand = rng(seed);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const d = 64;
  const q = Float64Array.from({ length: T * d }, gauss);
  const k = Float64Array.from({ length: T * d }, gauss);
  const scale = (kind === 'diffuse' ? 0.5 : 1.5) / Math.sqrt(d);
  const a = new Float32Array(T * T);
  const row = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    let mx = -Infinity;
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += q[i * d + c] * k[j * d + c];
      s *= scale;
      if (kind === 'sink' && j === 0) s += 4;
      if (kind === 'local') s -= 0.15 * (i - j);
      if (kind === 'diagonal' && j === i) s += 3;
      row[j] = s;
      mx = Math.max(mx, s);
    }
    let z = 0;
    for (let j = 0; j <= i; j++) z += row[j] = Math.exp(row[j] - mx);
    for (let j = 0; j <= i; j++) a[i * T + j] = row[j] / z;
  }
  return a;
}

function main(): void {
  const args = process.argv.slice(2);
  const rounds = Number(args.find((a) => /^\d+$/.test(a)) ?? 5);
  const j = args.indexOf('--json');
  const results: Record<string, { ms: number; kStar: number; method: string }> = {};
  for (const T of [256, 512, 1024]) {
    for (const kind of ['diffuse', 'sink', 'local', 'diagonal'] as const) {
      const a = pattern(T, kind, T + kind.length);
      let best = Infinity;
      let last = kStarDetailed(a, T, 0.9); // warm-up
      for (let r = 0; r < rounds; r++) {
        const t0 = process.cpuUsage();
        last = kStarDetailed(a, T, 0.9);
        const used = process.cpuUsage(t0);
        best = Math.min(best, (used.user + used.system) / 1000);
      }
      const name = `T=${T} ${kind}`;
      results[name] = { ms: best, kStar: last.kStar, method: last.method };
      console.log(`${name.padEnd(16)} k* ${String(last.kStar).padStart(5)} ${last.method.padEnd(13)} ${best.toFixed(1).padStart(8)} ms`);
    }
  }
  if (j >= 0) fs.writeFileSync(args[j + 1], JSON.stringify(results, null, 1));
}

main();

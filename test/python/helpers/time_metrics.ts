/**
 * Per-head timing of kStarOf (not a test):
 *   node --import tsx test/python/helpers/time_metrics.ts [js|wasm|auto] [T ...]
 * Prints median wall and CPU time per head. Heads: (a) sink (rank-1-like), (b) near-uniform causal (logit std 0.05), (c) random temperature,
 * (d) noisy near-uniform (iid logit noise std 0.4, normalised row entropy ≈ 0.98, like the heads of a randomly initialised GPT-2),
 * (e) the same with rank-64 logits q_i·k_j (as an untrained attention head computes them), plus a few harder ones. Prints the median wall time over repeats (after a warm-up), the path
 * taken and the number of Lanczos steps; 'dense' is the exact dense float64 solve for comparison.
 */
import { setKernelBackend } from '../../../src/analysis/kernels/heap';
import { kStarDense, kStarDetailed } from '../../../src/analysis/rank/kStar';
import { Xorshift } from '../../../src/util/random';
import { lowRankHead, softmaxHead } from '../../helpers/heads';

/** Causal softmax head with logit std s, a sink bias on key 0 and a diagonal bias (test/helpers/heads.ts). */
const head = (T: number, s: number, seed: number, sink = 0, diag = 0): Float32Array => softmaxHead(T, s, seed, { sink, diag });

const args = process.argv.slice(2);
const backend = (['js', 'wasm', 'auto'].includes(args[0]) ? args.shift() : 'auto') as 'js' | 'wasm' | 'auto';
const Ts = args.length ? args.map(Number) : [512, 1024];
console.log(`backend: ${setKernelBackend(backend)}`);
const r = new Xorshift(1);
const cases: [string, (T: number) => Float32Array][] = [
  ['(a) sink', (T) => head(T, 1, 11, 8)],
  ['(b) near-uniform', (T) => head(T, 0.05, 12)],
  ['(c) random temp', (T) => head(T, 0.2 + 3 * Math.abs(r.nextSigned()), 13)],
  ['(d) noisy uniform', (T) => head(T, 0.4, 19)],
  ['(e) noisy, rank 64', (T) => lowRankHead(T, 0.4, 64, 20)],
  ['    uniform', (T) => head(T, 0, 14)],
  ['    sink, weaker', (T) => head(T, 1, 15, 4)],
  ['    logit std 0.3', (T) => head(T, 0.3, 16)],
  ['    logit std 1', (T) => head(T, 1, 17)],
  ['    diagonal', (T) => head(T, 1, 18, 0, 5)],
];
for (const T of Ts) {
  for (const [name, make] of cases) {
    const a = make(T);
    kStarDetailed(a, T, 0.9); // warm-up
    const times: number[] = [];
    const cpu: number[] = [];
    let res = kStarDetailed(a, T, 0.9);
    for (let i = 0; i < 5; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      res = kStarDetailed(a, T, 0.9);
      times.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
    }
    times.sort((x, y) => x - y);
    cpu.sort((x, y) => x - y);
    const t0 = performance.now();
    const kd = kStarDense(a, T, 0.9);
    const td = performance.now() - t0;
    console.log(
      `T=${T} ${name.padEnd(18)} k*=${String(res.kStar).padEnd(4)} ${res.method.padEnd(12)} steps=${String(res.steps).padEnd(4)} ` +
        `wall ${times[2].toFixed(1).padStart(7)} ms  cpu ${cpu[2].toFixed(1).padStart(7)} ms   (dense ${td.toFixed(0)} ms${kd === res.kStar ? '' : `, MISMATCH ${kd}`})`,
    );
  }
}

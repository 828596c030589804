// Report fixtures for the browser tests. Preferred: a real report from `node dist/cli.js analyze` on a synthetic
// checkpoint with planted lazy layers. Fallback (no analyze command in this build) and for sizes too slow to analyze
// on a CI machine (48 × 25 at T = 1024): a report generated here from a seed, with the same schema.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** A seeded xorshift32 generator of uniforms in [0, 1) (test data only). */
export function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** A schema-1 report with planted lazy layers (every head k* = m* = 1, sink mass ≈ 1). */
export function syntheticReport({ numLayers, numHeads, lazy, seqLen = 256, batch = 4, seed = 1, name = 'synthetic' }) {
  const r = rng(seed);
  const lazySet = new Set(lazy);
  const layers = [];
  for (let l = 0; l < numLayers; l++) {
    const isLazy = lazySet.has(l);
    const depth = l / Math.max(1, numLayers - 1);
    const heads = [];
    for (let h = 0; h < numHeads; h++) {
      if (isLazy) {
        heads.push({ kStar: 1, mStar: 1, mStarSquared: 1, entropy: 0.0004 * r(), sinkMass: 0.9995 + 0.0004 * r(), dominantColumn: 0 });
        continue;
      }
      const kStar = Math.max(2, Math.round((seqLen / 6) * (1 - 0.7 * depth) * (0.35 + r())));
      const mStar = Math.max(2, Math.round(kStar * (1.2 + r())));
      heads.push({
        kStar,
        mStar,
        mStarSquared: Math.max(1, Math.round(mStar * 0.6)),
        entropy: 0.2 + 0.6 * r() * (1 - depth / 2),
        sinkMass: 0.02 + 0.3 * r() * depth,
        dominantColumn: r() < 0.6 ? 0 : Math.floor(r() * 8),
      });
    }
    const ks = heads.map((x) => x.kStar);
    layers.push({
      index: l,
      lazy: isLazy,
      maxKStar: Math.max(...ks),
      meanKStar: ks.reduce((a, b) => a + b, 0) / ks.length,
      blockInfluence: 0.02 + 0.5 * Math.exp(-4 * depth) * (0.6 + 0.4 * r()),
      angularDistance: 0.04 + 0.3 * Math.exp(-3 * depth) * (0.6 + 0.4 * r()),
      heads,
    });
  }
  // suggestedN as src/shared/report.ts defines it.
  let n = Math.floor(numLayers / 2);
  if (layers.length && layers[layers.length - 1].lazy) {
    let first = layers.length - 1;
    while (first > 0 && layers[first - 1].lazy) first--;
    if (first >= 1) n = first;
  }
  return {
    schemaVersion: 2,
    tool: { name: 'inheritune-studio', version: 'test' },
    model: {
      architecture: 'GPT2LMHeadModel',
      family: 'gpt2',
      numLayers,
      numHeads,
      numKvHeads: numHeads,
      hiddenSize: numHeads * 64,
      params: numLayers * 12 * (numHeads * 64) ** 2,
      path: `/models/${name}`,
    },
    settings: { seqLen, batch, tau: 0.9, mode: 'mean', seed: 0, degenerateWhen: 'either', input: 'builtin', layers: [0, numLayers - 1] },
    executionProvider: { requested: 'auto', used: 'cpu', skipped: [{ name: 'cuda', reason: 'CUDA EP binaries not installed' }] },
    timings: { totalMs: 1234, loadMs: 100, forwardMs: 800, metricsMs: 334 },
    suggestedN: n,
    layers,
    createdAt: '2025-01-01T12:00:00.000Z',
  };
}

/**
 * A schema-3 report run with kStarExactUpTo = `exactUpTo`: every head whose k* lies above it carries certified bounds
 * [lo, hi] with lo ≤ k* ≤ hi and lo > exactUpTo, and kStar = lo; layers recount maxKStar / meanKStar over those lower
 * ends and say how many heads are bounds (boundedHeads), as src/shared/report.ts defines them.
 */
export function boundedReport({ exactUpTo = 48, seqLen = 512, seed = 11, name = 'llama-12L-kstar-bounds', ...o } = {}) {
  const rep = syntheticReport({ numLayers: 12, numHeads: 8, lazy: [8, 9, 10, 11], seqLen, seed, name, ...o });
  const r = rng(seed * 7 + 1);
  rep.schemaVersion = 3;
  rep.model.architecture = 'LlamaForCausalLM';
  rep.model.family = 'llama';
  rep.settings.kStarExactUpTo = exactUpTo;
  for (const l of rep.layers) {
    let bounded = 0;
    for (const h of l.heads) {
      if (h.kStar <= exactUpTo) continue;
      const lo = exactUpTo + 1 + Math.floor((h.kStar - exactUpTo - 1) * r());
      const hi = Math.min(seqLen, h.kStar + Math.ceil(h.kStar * r()));
      h.kStarBounds = [lo, hi];
      h.kStar = lo;
      bounded++;
    }
    const ks = l.heads.map((x) => x.kStar);
    l.maxKStar = Math.max(...ks);
    l.meanKStar = ks.reduce((a, b) => a + b, 0) / ks.length;
    l.boundedHeads = bounded;
  }
  return rep;
}

/** A causal T×T attention matrix (rows sum to 1): a sink column for lazy layers, local + sink + noise otherwise. */
export function syntheticPattern(T, { lazy = false, seed = 3 } = {}) {
  const r = rng(seed);
  const out = new Float32Array(T * T);
  for (let q = 0; q < T; q++) {
    let sum = 0;
    for (let k = 0; k <= q; k++) {
      const v = lazy ? (k === 0 ? 1 : 1e-6) : 0.3 * (k === 0) + Math.exp(-(q - k) / 6) + 0.05 * r();
      out[q * T + k] = v;
      sum += v;
    }
    for (let k = 0; k <= q; k++) out[q * T + k] /= sum;
  }
  return out;
}

function cliHasAnalyze() {
  const cli = path.join(ROOT, 'dist/cli.js');
  if (!existsSync(cli)) return false;
  try {
    return /\banalyze\b/.test(execFileSync(process.execPath, [cli, '--help'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
}

/**
 * The planted fixture: 12 GPT-2 layers × 8 heads with layers 8–11 planted lazy, its inherited 8-layer child, both
 * analyzed by the CLI, plus the batch-mean attention matrices (--save-patterns). Falls back to synthetic reports.
 */
export function plantedFixture() {
  const lazy = [8, 9, 10, 11];
  if (!cliHasAnalyze()) {
    return {
      source: 'synthetic (dist/cli.js has no analyze command)',
      lazy,
      report: syntheticReport({ numLayers: 12, numHeads: 8, lazy, seqLen: 128, name: 'gpt2-12L-lazy8-11' }),
      child: syntheticReport({ numLayers: 8, numHeads: 8, lazy: [], seqLen: 128, seed: 7, name: 'gpt2-12L-lazy8-11-inherit-8L' }),
      pattern: (layer, head, T) => syntheticPattern(T, { lazy: lazy.includes(layer), seed: layer * 31 + head }),
    };
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inheritune-browser-'));
  const cli = (...args) =>
    execFileSync(process.execPath, [path.join(ROOT, 'dist/cli.js'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const ref = path.join(dir, 'gpt2-12L-lazy8-11');
  const child = path.join(dir, 'gpt2-12L-lazy8-11-inherit-8L');
  cli(
    'synth',
    '--family',
    'gpt2',
    '--layers',
    '12',
    '--heads',
    '8',
    '--hidden',
    '128',
    '--lazy',
    '8-11',
    '--std',
    '0.2',
    '--seed',
    '1',
    '--out',
    ref,
  );
  cli('analyze', ref, '--seq-len', '128', '--json', path.join(dir, 'ref.json'), '--save-patterns', path.join(dir, 'patterns'), '--quiet');
  cli('inherit', ref, '--layers', '8', '--out', child);
  cli('analyze', child, '--seq-len', '128', '--json', path.join(dir, 'child.json'), '--quiet');
  const patterns = readPatterns(path.join(dir, 'patterns'));
  return {
    source: 'node dist/cli.js analyze on a synthetic GPT-2 (12 layers × 8 heads, layers 8–11 planted lazy)',
    dir,
    lazy,
    report: JSON.parse(readFileSync(path.join(dir, 'ref.json'), 'utf8')),
    child: JSON.parse(readFileSync(path.join(dir, 'child.json'), 'utf8')),
    pattern: (layer, head, T) => patterns(layer, head, T),
  };
}

/** Read `blocks.{L}.attn.pattern` ([head, query, key], F16 or F32) from the --save-patterns safetensors file(s). */
export function readPatterns(dir) {
  const tensors = new Map();
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.safetensors'))) {
    const buf = readFileSync(path.join(dir, f));
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
    for (const [name, t] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const [b, e] = t.data_offsets;
      tensors.set(name, { ...t, bytes: buf.subarray(8 + n + b, 8 + n + e) });
    }
  }
  return (layer, head, T) => {
    const t = tensors.get(`blocks.${layer}.attn.pattern`);
    if (!t) throw new Error(`no saved pattern for layer ${layer}`);
    const [, tq, tk] = t.shape;
    if (tq !== T || tk !== T) throw new Error(`saved pattern is ${tq}×${tk}, expected ${T}×${T}`);
    const out = new Float32Array(T * T);
    const off = head * T * T;
    if (t.dtype === 'F32') {
      for (let i = 0; i < T * T; i++) out[i] = t.bytes.readFloatLE((off + i) * 4);
    } else if (t.dtype === 'F16') {
      for (let i = 0; i < T * T; i++) out[i] = f16(t.bytes.readUInt16LE((off + i) * 2));
    } else throw new Error(`unexpected pattern dtype ${t.dtype}`);
    return out;
  };
}

function f16(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (m / 1024);
  if (e === 31) return m ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + m / 1024);
}

/** The report panel's state of a side whose analysis is done (what the host posts in `init`). */
export const readySide = (report, request = { path: report.model.path, settings: {} }) => ({
  request,
  status: 'ready',
  progress: { fraction: 1, message: 'done' },
  report,
});

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { causalMask, ForwardOptions, LayerOutput, runForward } from '../../src/analysis/run/forward';
import { buildBlockGraph, PATTERN_OUTPUT, QUERY_BLOCK_ROWS } from '../../src/analysis/graph/graph';
import { ropeParams } from '../../src/analysis/graph/rope';
import { DenseScratch, densePattern, PatternBlock } from '../../src/analysis/graph/pattern';
import { AUTO_ORDER } from '../../src/analysis/run/providers';
import { Checkpoint, openCheckpoint, readTensorF32 } from '../../src/checkpoint/checkpoint';
import { InherituneError } from '../../src/errors';
import { SynthOptions, writeSynthCheckpoint } from '../../src/fixtures/synth';
import { tmpDir } from '../helpers/tmp';

const root = tmpDir('inheritune-forward-');
let n = 0;

async function synth(o: SynthOptions, patchConfig?: (c: Record<string, unknown>) => void): Promise<Checkpoint> {
  const dir = await writeSynthCheckpoint(path.join(root, `${o.family}-${n++}`), { std: 0.2, ...o });
  if (patchConfig) {
    const p = path.join(dir, 'config.json');
    const c = JSON.parse(readFileSync(p, 'utf8'));
    patchConfig(c);
    writeFileSync(p, JSON.stringify(c));
  }
  return openCheckpoint(dir);
}

function tokens(batch: number, T: number, vocab = 1024, seed = 1): Int32Array {
  return Int32Array.from({ length: batch * T }, (_, i) => (i * 7919 + seed * 104729) % vocab);
}

/** A layer with its pattern put together ([batch, head, query, key]) and the number of query blocks it came in. */
type DenseLayer = Omit<LayerOutput, 'pattern'> & { pattern: Float32Array; blocks: number };

async function collect(ckpt: Checkpoint, ids: Int32Array, batch: number, T: number, opts: ForwardOptions = {}) {
  const layers: DenseLayer[] = [];
  const onLayer = (o: LayerOutput) =>
    void layers.push({ ...o, pattern: densePattern(o.pattern, batch, ckpt.dims.heads, T), blocks: o.pattern.length });
  const result = await runForward(ckpt, ids, batch, T, onLayer, { ep: 'cpu', ...opts });
  return { layers, result };
}

async function rejects(p: Promise<unknown>, code: string, ...fragments: string[]) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof InherituneError, `expected InherituneError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `"${e.message}" should mention "${f}"`);
    return true;
  });
}

/** Rows sum to 1, the upper triangle is exactly 0, and row 0 is exactly [1, 0, 0, …]. */
function checkCausalRows(p: Float32Array, batch: number, heads: number, T: number, where: string) {
  assert.equal(p.length, batch * heads * T * T, `${where}: pattern length`);
  for (let bh = 0; bh < batch * heads; bh++) {
    for (let i = 0; i < T; i++) {
      const row = p.subarray((bh * T + i) * T, (bh * T + i + 1) * T);
      let s = 0;
      for (let j = 0; j < T; j++) {
        if (j > i) assert.equal(row[j], 0, `${where}: [${bh}, ${i}, ${j}] above the diagonal is ${row[j]}`);
        assert.ok(row[j] >= 0 && Number.isFinite(row[j]), `${where}: [${bh}, ${i}, ${j}] = ${row[j]}`);
        s += row[j];
      }
      assert.ok(Math.abs(s - 1) < 1e-5, `${where}: row [${bh}, ${i}] sums to ${s}`);
    }
    assert.equal(p[bh * T * T], 1, `${where}: row 0 must be exactly [1, 0, …]`);
  }
}

for (const family of ['gpt2', 'llama', 'mistral', 'qwen2', 'qwen3', 'gpt_neox']) {
  test(`${family}: every layer runs, rows sum to 1, attention is causal`, async () => {
    const ckpt = await synth({ family, numLayers: 3, heads: 4, kvHeads: family === 'gpt2' || family === 'gpt_neox' ? 4 : 2 });
    const B = 2;
    const T = 12;
    const { layers, result } = await collect(ckpt, tokens(B, T), B, T);
    assert.deepEqual(
      layers.map((l) => l.layer),
      [0, 1, 2],
    );
    for (const l of layers) checkCausalRows(l.pattern, B, 4, T, `${family} layer ${l.layer}`);
    // non-trivial: not every row is uniform
    const p = layers[1].pattern;
    assert.ok(Math.abs(p[(T - 1) * T] - 1 / T) > 1e-3 || Math.abs(p[(T - 1) * T + 1] - 1 / T) > 1e-3);
    assert.equal(result.timings.perLayerMs.length, 3);
    assert.equal(result.executionProvider.used, 'cpu');
  });
}

for (const [family, kvHeads, window] of [
  ['gpt2', 4],
  ['llama', 2],
  ['mistral', 1, 5],
  ['gpt_neox', 4],
] as const) {
  test(`${family}${window ? ' (sliding window)' : ''}: attention in query blocks equals one block`, async () => {
    const ckpt = await synth({ family, numLayers: 2, heads: 4, kvHeads }, window ? (c) => (c.sliding_window = window) : undefined);
    const B = 2;
    const T = 40;
    const blocked = await collect(ckpt, tokens(B, T), B, T, { queryBlockRows: 16, wantResidual: true });
    const whole = await collect(ckpt, tokens(B, T), B, T, { queryBlockRows: Infinity, wantResidual: true });
    for (const [a, b] of blocked.layers.map((l, i) => [l, whole.layers[i]] as const)) {
      assert.equal(a.blocks, 3); // rows 0-16, 16-32, 32-40
      assert.equal(b.blocks, 1);
      checkCausalRows(a.pattern, B, 4, T, `${family} blocked layer ${a.layer}`);
      let dp = 0;
      for (let i = 0; i < a.pattern.length; i++) dp = Math.max(dp, Math.abs(a.pattern[i] - b.pattern[i]));
      assert.ok(dp < 1e-6, `${family} layer ${a.layer}: patterns differ by ${dp}`);
      let dr = 0;
      for (let i = 0; i < a.residPost!.length; i++) dr = Math.max(dr, Math.abs(a.residPost![i] - b.residPost![i]));
      assert.ok(dr < 1e-5, `${family} layer ${a.layer}: residuals differ by ${dr}`);
    }
  });
}

test('built for a known T, the graph has one pattern output per block of query rows', async () => {
  const ckpt = await synth({ family: 'gpt2', numLayers: 1 });
  assert.deepEqual(buildBlockGraph(ckpt).patternOutputs, [{ name: PATTERN_OUTPUT, start: 0, end: undefined }]);
  assert.deepEqual(buildBlockGraph(ckpt, { seqLen: QUERY_BLOCK_ROWS }).patternOutputs, [
    { name: PATTERN_OUTPUT, start: 0, end: QUERY_BLOCK_ROWS },
  ]);
  const g = buildBlockGraph(ckpt, { seqLen: 2 * QUERY_BLOCK_ROWS + 44 });
  assert.deepEqual(
    g.patternOutputs.map((p) => [p.start, p.end]),
    [
      [0, 128],
      [128, 256],
      [256, 300],
    ],
  );
  assert.equal(g.patternOutputs[2].name, `${PATTERN_OUTPUT}.256-300`);
  assert.throws(() => buildBlockGraph(ckpt, { seqLen: 64, queryBlockRows: 0 }), /queryBlockRows/);
});

test('densePattern puts query blocks together (zeros right of each block), and a scratch buffer keeps its zeros', () => {
  const B = 2;
  const H = 3;
  const T = 5;
  // block [s, e): value 1000·bh + 10·row + key + 1 at [bh, row, key < e]
  const blocks: PatternBlock[] = [
    [0, 2],
    [2, 5],
  ].map(([s, e]) => {
    const data = new Float32Array(B * H * (e - s) * e);
    for (let bh = 0; bh < B * H; bh++)
      for (let r = s; r < e; r++) for (let k = 0; k < e; k++) data[(bh * (e - s) + r - s) * e + k] = 1000 * bh + 10 * r + k + 1;
    return { start: s, end: e, data };
  });
  const check = (d: Float32Array) => {
    for (let bh = 0; bh < B * H; bh++) {
      for (let r = 0; r < T; r++) {
        const e = r < 2 ? 2 : 5;
        for (let k = 0; k < T; k++) assert.equal(d[(bh * T + r) * T + k], k < e ? 1000 * bh + 10 * r + k + 1 : 0, `[${bh}, ${r}, ${k}]`);
      }
    }
  };
  check(densePattern(blocks, B, H, T));
  const scratch = new DenseScratch();
  const first = scratch.dense(blocks, B, H, T);
  check(first);
  assert.equal(scratch.dense(blocks, B, H, T), first); // reused, still right
  check(first);
  const one: PatternBlock[] = [{ start: 0, end: T, data: new Float32Array(B * H * T * T) }];
  assert.equal(densePattern(one, B, H, T), one[0].data); // one block: no copy
  assert.throws(() => densePattern([blocks[1]], B, H, T), /cover rows 0\.\.5/);
  assert.throws(() => densePattern([blocks[0]], B, H, T), /end at row 2/);
  assert.throws(() => densePattern([{ ...blocks[0], data: new Float32Array(3) }, blocks[1]], B, H, T), /has 3 entries/);
});

test('the graph has one input per weight tensor of a layer, and encodes as a valid ONNX model', async () => {
  const ckpt = await synth({ family: 'qwen2', numLayers: 2 });
  const g = buildBlockGraph(ckpt);
  const names = g.weights.map((w) => w.input);
  assert.ok(names.includes('self_attn.q_proj.bias') && !names.includes('self_attn.o_proj.bias'), names.join(', '));
  assert.equal(new Set(names).size, names.length);
  assert.ok(g.model.byteLength > 100 && g.model.byteLength < 100_000, `weights must not be embedded (${g.model.byteLength} bytes)`);
});

test('planted lazy gpt2 layers attend to position 0; the others do not', async () => {
  const ckpt = await synth({ family: 'gpt2', numLayers: 4, lazyLayers: [1, 2], std: 0.02 });
  const B = 1;
  const T = 16;
  const H = ckpt.dims.heads;
  const { layers } = await collect(ckpt, tokens(B, T), B, T);
  for (const l of layers) {
    let minCol0 = 1;
    for (let r = 0; r < B * H * T; r++) minCol0 = Math.min(minCol0, l.pattern[r * T]);
    if (l.layer === 1 || l.layer === 2) assert.ok(minCol0 > 1 - 1e-6, `layer ${l.layer}: min pattern[…, 0] = ${minCol0}`);
    else assert.ok(minCol0 < 0.5, `layer ${l.layer} is not planted but min pattern[…, 0] = ${minCol0}`);
  }
});

test('T beyond the context length names T, the limit and the config key', async () => {
  const ckpt = await synth({ family: 'gpt2', numLayers: 1, context: 16 });
  await rejects(
    runForward(ckpt, tokens(1, 17), 1, 17, () => {}, { ep: 'cpu' }),
    'E_INPUT',
    'T = 17',
    '16',
    'n_positions',
  );
  const llama = await synth({ family: 'llama', numLayers: 1, context: 8 });
  await rejects(
    runForward(llama, tokens(1, 9), 1, 9, () => {}, { ep: 'cpu' }),
    'E_INPUT',
    'T = 9',
    '8',
    'max_position_embeddings',
  );
});

test('a token id outside the vocabulary names the id and its position', async () => {
  const ckpt = await synth({ family: 'llama', numLayers: 1, vocab: 100 });
  const ids = tokens(2, 8, 100);
  ids[8 + 5] = 100;
  await rejects(
    runForward(ckpt, ids, 2, 8, () => {}, { ep: 'cpu' }),
    'E_INPUT',
    'token id 100',
    'position 5',
    'sequence 1',
    'vocab_size',
  );
  ids[8 + 5] = -3;
  await rejects(
    runForward(ckpt, ids, 2, 8, () => {}, { ep: 'cpu' }),
    'E_INPUT',
    'token id -3',
  );
  await rejects(
    runForward(ckpt, ids.subarray(1), 2, 8, () => {}, { ep: 'cpu' }),
    'E_INPUT',
    'batch × T',
  );
});

test("ep 'cpu' reports cpu with nothing skipped", async () => {
  const ckpt = await synth({ family: 'gpt_neox', numLayers: 1 });
  const { result } = await collect(ckpt, tokens(1, 4), 1, 4, { ep: 'cpu' });
  const { adapter, ...ep } = result.executionProvider;
  assert.deepEqual(ep, { requested: 'cpu', used: 'cpu', skipped: [] });
  assert.equal(adapter?.type, 'cpu', 'the report names the CPU the session ran on');
});

test("ep 'auto' reports each provider it skipped, with a reason", async () => {
  const ckpt = await synth({ family: 'llama', numLayers: 1 });
  const { result } = await collect(ckpt, tokens(1, 4), 1, 4, { ep: 'auto' });
  const r = result.executionProvider;
  assert.equal(r.requested, 'auto');
  assert.ok(AUTO_ORDER.includes(r.used as (typeof AUTO_ORDER)[number]));
  const before = AUTO_ORDER.slice(0, AUTO_ORDER.indexOf(r.used as (typeof AUTO_ORDER)[number]));
  assert.deepEqual(
    r.skipped.map((s) => s.name),
    before,
  );
  for (const s of r.skipped) assert.ok(s.reason.length > 10, `${s.name}: reason "${s.reason}"`);
  const cuda = r.skipped.find((s) => s.name === 'cuda');
  if (cuda) assert.match(cuda.reason, /CUDA|cuda/);
});

test('an explicitly requested provider that cannot start is an error with the reason', async (t) => {
  const ckpt = await synth({ family: 'llama', numLayers: 1 });
  const auto = await collect(ckpt, tokens(1, 4), 1, 4, { ep: 'auto' });
  // A software WebGPU adapter (lavapipe) is skipped by auto but runs when asked for: not a provider that cannot start.
  const skipped = auto.result.executionProvider.skipped.filter((s) => !s.reason.startsWith('software adapter')).map((s) => s.name);
  if (!skipped.length) return t.skip('every provider auto skipped can start here');
  for (const ep of skipped as ('cuda' | 'webgpu')[]) {
    await rejects(
      runForward(ckpt, tokens(1, 4), 1, 4, () => {}, { ep }),
      'E_RUNTIME',
      `execution provider ${ep}`,
    );
  }
});

test('cancellation lands between layers', async () => {
  const ckpt = await synth({ family: 'gpt2', numLayers: 4 });
  const ac = new AbortController();
  const seen: number[] = [];
  await rejects(
    runForward(
      ckpt,
      tokens(1, 8),
      1,
      8,
      (o) => {
        seen.push(o.layer);
        if (o.layer === 1) ac.abort();
      },
      { ep: 'cpu', signal: ac.signal },
    ),
    'E_CANCELLED',
  );
  assert.deepEqual(seen, [0, 1]);
  const pre = new AbortController();
  pre.abort();
  await rejects(
    runForward(ckpt, tokens(1, 8), 1, 8, () => assert.fail('no layer may run'), { ep: 'cpu', signal: pre.signal }),
    'E_CANCELLED',
  );
});

test('layers: only the range is delivered and nothing after it runs; progress reaches 1', async () => {
  const ckpt = await synth({ family: 'qwen3', numLayers: 5 });
  const fractions: number[] = [];
  const { layers, result } = await collect(ckpt, tokens(1, 6), 1, 6, { layers: [1, 2], onProgress: (f: number) => fractions.push(f) });
  assert.deepEqual(
    layers.map((l) => l.layer),
    [1, 2],
  );
  assert.equal(result.timings.perLayerMs.length, 3);
  assert.equal(fractions[fractions.length - 1], 1);
  for (let i = 1; i < fractions.length; i++) assert.ok(fractions[i] >= fractions[i - 1]);
  await rejects(
    runForward(ckpt, tokens(1, 6), 1, 6, () => {}, { ep: 'cpu', layers: [2, 5] }),
    'E_ARGS',
    '0..4',
  );
});

test('wantResidual: resid_pre of layer 0 is wte + wpe, and each resid_post is the next resid_pre', async () => {
  const ckpt = await synth({ family: 'gpt2', numLayers: 3 });
  const B = 2;
  const T = 5;
  const d = ckpt.dims.hidden;
  const ids = tokens(B, T);
  const { layers } = await collect(ckpt, ids, B, T, { wantResidual: true });
  const wte = (await readTensorF32(ckpt, 'transformer.wte.weight')).data;
  const wpe = (await readTensorF32(ckpt, 'transformer.wpe.weight')).data;
  const x0 = layers[0].residPre!;
  assert.equal(x0.length, B * T * d);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (const j of [0, 7, d - 1]) assert.equal(x0[(b * T + t) * d + j], Math.fround(wte[ids[b * T + t] * d + j] + wpe[t * d + j]));
    }
  }
  for (let L = 0; L + 1 < layers.length; L++) assert.deepEqual(layers[L + 1].residPre, layers[L].residPost);
  assert.notDeepEqual(layers[0].residPost, x0);
  const { layers: none } = await collect(ckpt, ids, B, T);
  assert.equal(none[0].residPost, undefined);
});

test('bf16 and f16 checkpoints run (converted to float32 when read)', async () => {
  for (const dtype of ['BF16', 'F16'] as const) {
    const ckpt = await synth({ family: 'llama', numLayers: 2, dtype });
    const { layers } = await collect(ckpt, tokens(1, 6), 1, 6);
    checkCausalRows(layers[1].pattern, 1, 4, 6, dtype);
  }
});

test('sliding-window layers mask keys further back than the window', async () => {
  const W = 3;
  const ckpt = await synth({ family: 'mistral', numLayers: 1, heads: 2, kvHeads: 1 }, (c) => (c.sliding_window = W));
  const T = 9;
  const { layers } = await collect(ckpt, tokens(1, T), 1, T);
  const p = layers[0].pattern;
  for (let h = 0; h < 2; h++) {
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < T; j++) {
        const v = p[(h * T + i) * T + j];
        if (j > i || j <= i - W) assert.equal(v, 0, `[${h}, ${i}, ${j}]`);
        else assert.ok(v > 0, `[${h}, ${i}, ${j}] inside the window is 0`);
      }
    }
  }
});

test('rope_scaling: supported types build; an unknown type names itself and the supported ones', async () => {
  const ok = await synth(
    { family: 'llama', numLayers: 1 },
    (c) =>
      (c.rope_scaling = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 }),
  );
  const p = ropeParams(ok.config, 'llama', ok.dims, 8);
  assert.equal(p.type, 'llama3');
  const { layers } = await collect(ok, tokens(1, 8), 1, 8);
  checkCausalRows(layers[0].pattern, 1, 4, 8, 'llama3');
  const bad = await synth({ family: 'llama', numLayers: 1 }, (c) => (c.rope_scaling = { type: 'mrope_x', factor: 2 }));
  await rejects(
    runForward(bad, tokens(1, 4), 1, 4, () => {}, { ep: 'cpu' }),
    'E_CONFIG',
    'mrope_x',
    'default',
    'linear',
    'dynamic',
    'llama3',
    'yarn',
  );
  // dynamic NTK equals the default below the original context
  const dyn = await synth({ family: 'llama', numLayers: 1 }, (c) => (c.rope_scaling = { rope_type: 'dynamic', factor: 4 }));
  assert.deepEqual(
    ropeParams(dyn.config, 'llama', dyn.dims, 16).invFreq,
    ropeParams({ ...dyn.config, rope_scaling: null }, 'llama', dyn.dims, 16).invFreq,
  );
});

test('causalMask: 0 on and below the diagonal, -inf above, window respected', () => {
  assert.deepEqual(Array.from(causalMask(3)), [0, -Infinity, -Infinity, 0, 0, -Infinity, 0, 0, 0]);
  assert.deepEqual(Array.from(causalMask(3, 1)), [0, -Infinity, -Infinity, -Infinity, 0, -Infinity, -Infinity, -Infinity, 0]);
});

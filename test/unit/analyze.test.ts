import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { analyzeCheckpoint, headPattern, reportText, resolveSettings } from '../../src/analysis/analyze';
import { parseTokenFile, prepareTokens, windows } from '../../src/analysis/input';
import { METRICS_NICE, MetricsPool } from '../../src/analysis/run/layerMetrics';
import { threadCpuMs } from '../../src/analysis/run/thread';
import { analyzeInWorker } from '../../src/analysis/runInWorker';
import { openCheckpoint, readTensorF32 } from '../../src/checkpoint/checkpoint';
import { toFloat32 } from '../../src/checkpoint/dtypes';
import { InherituneError } from '../../src/errors';
import { readHeader, readTensorBytes } from '../../src/checkpoint/safetensors';
import { writeSynthCheckpoint } from '../../src/fixtures/synth';
import { REPORT_SCHEMA_VERSION, suggestedN } from '../../src/shared/report';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/cli.js');
const dir = tmpDir();
const planted = path.join(dir, 'planted');

before(async () => {
  spawnSync('node', ['esbuild.mjs'], { cwd: ROOT, stdio: 'inherit' });
  await writeSynthCheckpoint(planted, { family: 'gpt2', numLayers: 6, lazyLayers: [3, 5], seed: 11, std: 0.2 });
});

function npy(values: number[], descr = '<i8'): Buffer {
  const header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${values.length},), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  const h = Buffer.from(header + ' '.repeat(pad) + '\n');
  const pre = Buffer.alloc(10);
  Buffer.from([0x93]).copy(pre, 0);
  pre.write('NUMPY', 1);
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(h.length, 8);
  const data = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => data.writeBigInt64LE(BigInt(v), i * 8));
  return Buffer.concat([pre, h, data]);
}

test('planted checkpoint: exactly the planted layers are lazy, all their heads k* = 1 and m* = 1', async () => {
  const rep = await analyzeCheckpoint(planted, { seqLen: 64, batch: 2, ep: 'cpu' });
  assert.equal(rep.schemaVersion, REPORT_SCHEMA_VERSION);
  assert.deepEqual(
    rep.layers.map((l) => l.lazy),
    [false, false, false, true, false, true],
  );
  for (const L of [3, 5])
    for (const h of rep.layers[L].heads) {
      assert.equal(h.kStar, 1);
      assert.equal(h.mStar, 1);
      assert.ok(h.sinkMass > 0.999);
      assert.equal(h.dominantColumn, 0);
    }
  for (const L of [0, 1, 2, 4]) assert.ok(rep.layers[L].maxKStar > 1, `layer ${L} max k* ${rep.layers[L].maxKStar}`);
  assert.equal(rep.executionProvider.used, 'cpu');
  assert.equal(rep.model.numLayers, 6);
  assert.equal(rep.suggestedN, 5); // only layer 5 onward is all-lazy
  assert.ok(
    rep.layers.every((l) => l.blockInfluence !== null && l.blockInfluence >= 0 && l.angularDistance! >= 0 && l.angularDistance! <= 1),
  );
  assert.equal(rep.settings.input, 'random (seed 0)'); // vocab 1024 < GPT-2 BPE: no usable tokenizer
});

test('suggestedN: the first layer from which every remaining layer is lazy, else floor(k/2)', () => {
  const ls = (flags: boolean[]) => flags.map((lazy, index) => ({ index, lazy }));
  assert.equal(suggestedN(ls([false, false, true, true]), 4), 2);
  assert.equal(suggestedN(ls([false, true, false, true]), 4), 3);
  assert.equal(suggestedN(ls([false, false, false, false]), 4), 2);
  assert.equal(suggestedN(ls([true, true, true]), 3), 1);
  assert.equal(suggestedN(ls([false, true, true, false, false]), 5), 2);
});

test('token files: exactly B×T tokens are used in order; otherwise seeded windows; .npy and uint16 .bin', async () => {
  const ck = await openCheckpoint(planted);
  const ids = Array.from({ length: 2 * 16 }, (_, i) => (i * 7) % 1024);
  writeFileSync(path.join(dir, 't.npy'), npy(ids));
  const exact = await prepareTokens(ck, { tokensFile: path.join(dir, 't.npy'), batch: 2, seqLen: 16, seed: 3 });
  assert.deepEqual([...exact.tokens], ids);
  const bin = Buffer.alloc(ids.length * 2);
  ids.forEach((v, i) => bin.writeUInt16LE(v, i * 2));
  writeFileSync(path.join(dir, 't.bin'), bin);
  assert.deepEqual([...(await prepareTokens(ck, { tokensFile: path.join(dir, 't.bin'), batch: 2, seqLen: 16, seed: 3 })).tokens], ids);
  const long = Int32Array.from({ length: 1000 }, (_, i) => i);
  const w1 = windows(long, 3, 10, 5, 'x');
  assert.deepEqual(w1, windows(long, 3, 10, 5, 'x'));
  assert.notDeepEqual(w1, windows(long, 3, 10, 6, 'x'));
  for (let b = 0; b < 3; b++) for (let t = 1; t < 10; t++) assert.equal(w1[b * 10 + t], w1[b * 10] + t); // contiguous windows
  assert.throws(() => windows(Int32Array.from([1, 2]), 1, 10, 0, 'short.bin'), /short\.bin: 2 tokens, fewer than --seq-len 10/);
  assert.throws(() => parseTokenFile('odd.bin', new Uint8Array(3)), /not a whole number of uint16 tokens/);
  assert.throws(() => parseTokenFile('x.npy', new Uint8Array(20)), /missing the \\x93NUMPY magic/);
  writeFileSync(path.join(dir, 'big.npy'), npy([5, 2000, 7]));
  await assert.rejects(
    prepareTokens(ck, { tokensFile: path.join(dir, 'big.npy'), batch: 1, seqLen: 3, seed: 0 }),
    /token id 2000 at position 1 is beyond the model's vocabulary \(1024\)/,
  );
});

test('GPT-2 checkpoints without tokenizer files use the GPT-2 BPE ranks for --text and the built-in text', async () => {
  const full = path.join(dir, 'gpt2-bpe');
  await writeSynthCheckpoint(full, { family: 'gpt2', numLayers: 1, vocab: 50257, hidden: 32, heads: 2, seed: 2 });
  const ck = await openCheckpoint(full);
  writeFileSync(path.join(dir, 'hello.txt'), 'Hello world');
  const t = await prepareTokens(ck, { textFile: path.join(dir, 'hello.txt'), batch: 1, seqLen: 2, seed: 0 });
  assert.deepEqual([...t.tokens], [15496, 995]); // "Hello", " world" in GPT-2's vocabulary
  assert.match(t.description, /GPT-2 BPE/);
  const b = await prepareTokens(ck, { batch: 2, seqLen: 64, seed: 0 });
  assert.match(b.description, /^builtin/);
  await assert.rejects(
    prepareTokens(await openCheckpoint(planted), { textFile: path.join(dir, 'hello.txt'), batch: 1, seqLen: 2, seed: 0 }),
    /hello\.txt \(GPT-2 BPE\): token id 15496 at position 0 is beyond the model's vocabulary \(1024\)/,
  );
  const l = path.join(dir, 'llama-notok');
  await writeSynthCheckpoint(l, { family: 'llama', numLayers: 1 });
  await assert.rejects(
    prepareTokens(await openCheckpoint(l), { textFile: path.join(dir, 'hello.txt'), batch: 1, seqLen: 2, seed: 0 }),
    /has no tokenizer\.json to tokenize .*hello\.txt; add the tokenizer files or pass --tokens FILE/,
  );
});

test('settings are validated against the model: T beyond the context, layers outside, tau', async () => {
  const ck = await openCheckpoint(planted);
  assert.throws(
    () => resolveSettings(ck, { seqLen: 1000 }),
    (e: InherituneError) =>
      /--seq-len 1000 is beyond the model's context length \(n_positions = 256 in .*config\.json\); use --seq-len 256 or less/.test(
        e.message,
      ),
  );
  assert.throws(() => resolveSettings(ck, { layers: [2, 9] }), /outside the model's layers 0-5/);
  assert.throws(() => resolveSettings(ck, { tau: 1 }), /--tau must be between 0 and 1/);
  assert.equal(resolveSettings(ck, {}).seqLen, 256);
  assert.equal(resolveSettings(ck, {}).batch, 4);
});

test('per-seq mode and a layer range; head pattern on request equals the saved pattern', async () => {
  const out = path.join(dir, 'patterns');
  const rep = await analyzeCheckpoint(planted, { seqLen: 32, batch: 3, mode: 'per-seq', layers: [2, 3], ep: 'cpu', savePatterns: out });
  assert.deepEqual(
    rep.layers.map((l) => l.index),
    [2, 3],
  );
  assert.equal(rep.settings.mode, 'per-seq');
  assert.ok(rep.layers[1].lazy);
  assert.equal(rep.suggestedN, 3); // the range does not reach the last layer
  const h = await readHeader(path.join(out, 'model.safetensors'));
  assert.deepEqual(
    h.tensors.map((t) => [t.name, t.dtype, t.shape]),
    [
      ['blocks.2.attn.pattern', 'F16', [4, 32, 32]],
      ['blocks.3.attn.pattern', 'F16', [4, 32, 32]],
    ],
  );
  const saved = toFloat32('F16', await readTensorBytes(h.tensors[0]));
  const one = await headPattern(planted, { seqLen: 32, batch: 3, ep: 'cpu' }, 2, 1);
  assert.equal(one.T, 32);
  for (let i = 0; i < 32 * 32; i++) assert.ok(Math.abs(one.data[i] - saved[32 * 32 + i]) < 1e-3, `entry ${i}`);
  for (let q = 0; q < 32; q++) {
    let row = 0;
    for (let k = 0; k < 32; k++) row += one.data[q * 32 + k];
    assert.ok(Math.abs(row - 1) < 1e-5);
  }
});

test('the worker-thread route gives the same report and can be cancelled', async () => {
  const direct = await analyzeCheckpoint(planted, { seqLen: 32, batch: 2, ep: 'cpu' });
  const fractions: number[] = [];
  const viaWorker = await analyzeInWorker(planted, { seqLen: 32, batch: 2, ep: 'cpu' }, { onProgress: (f) => fractions.push(f) });
  assert.deepEqual(viaWorker.layers, direct.layers);
  assert.ok(fractions.length >= 6 && fractions[fractions.length - 1] <= 1);
  const c = new AbortController();
  c.abort();
  await assert.rejects(
    analyzeInWorker(planted, { seqLen: 32, batch: 2 }, { signal: c.signal }),
    (e: InherituneError) => e.code === 'E_CANCELLED',
  );
});

test('CLI analyze: JSON report, summary, and one clear line for bad input', () => {
  const out = path.join(dir, 'r.json');
  const r = spawnSync('node', [CLI, 'analyze', planted, '--seq-len', '32', '--batch', '2', '--ep', 'cpu', '--json', out], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /lazy layers: 3, 5; suggested n = 5/);
  assert.match(r.stdout, /execution provider: cpu/);
  const rep = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(rep.layers.length, 6);
  for (const k of ['schemaVersion', 'tool', 'model', 'settings', 'executionProvider', 'timings', 'suggestedN', 'layers'])
    assert.ok(k in rep, k);
  const bad = spawnSync('node', [CLI, 'analyze', planted, '--seq-len', '5000'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.equal(
    bad.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('inheritune:')).length,
    1,
  );
  assert.match(bad.stderr, /--seq-len 5000 is beyond the model's context length/);
  const missing = spawnSync('node', [CLI, 'analyze', path.join(dir, 'nope')], { encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no such file or folder/);
  assert.ok(!existsSync(path.join(dir, 'nope')));
});

test('bf16 checkpoints are converted for the forward pass and give the same verdict', async () => {
  const b = path.join(dir, 'planted-bf16');
  await writeSynthCheckpoint(b, { family: 'gpt2', numLayers: 6, lazyLayers: [3, 5], seed: 11, std: 0.2, dtype: 'BF16' });
  const ck = await openCheckpoint(b);
  assert.equal((await readTensorF32(ck, 'transformer.wte.weight')).dtype, 'BF16');
  const rep = await analyzeCheckpoint(b, { seqLen: 32, batch: 2, ep: 'cpu' });
  assert.deepEqual(
    rep.layers.map((l) => l.lazy),
    [false, false, false, true, false, true],
  );
});

test('every execution provider available here agrees with CPU (k*, m* identical; entropy and sink mass to 1e-4); an absent one is reported with its reason', async (t) => {
  const { AUTO_ORDER } = await import('../../src/analysis/run/providers');
  const settings = { seqLen: 48, batch: 2 };
  const cpu = await analyzeCheckpoint(planted, { ...settings, ep: 'cpu' });
  const auto = await analyzeCheckpoint(planted, { ...settings, ep: 'auto' });
  for (const ep of AUTO_ORDER.filter((e) => e !== 'cpu')) {
    let rep;
    try {
      rep = await analyzeCheckpoint(planted, { ...settings, ep });
    } catch (e) {
      assert.ok(e instanceof InherituneError && e.code === 'E_RUNTIME', String(e));
      const skipped = auto.executionProvider.skipped.find((s) => s.name === ep);
      assert.ok(skipped && skipped.reason.length > 10, `auto must report why ${ep} was skipped`);
      t.diagnostic(`${ep}: not available on this machine, agreement not measured (${skipped.reason})`);
      continue;
    }
    assert.equal(rep.executionProvider.used, ep);
    for (const [l, layer] of rep.layers.entries()) {
      for (const [h, head] of layer.heads.entries()) {
        const ref = cpu.layers[l].heads[h];
        assert.equal(head.kStar, ref.kStar, `${ep} layer ${l} head ${h} k*`);
        assert.equal(head.mStar, ref.mStar, `${ep} layer ${l} head ${h} m*`);
        assert.ok(
          Math.abs(head.entropy - ref.entropy) < 1e-4 && Math.abs(head.sinkMass - ref.sinkMass) < 1e-4,
          `${ep} layer ${l} head ${h}`,
        );
      }
    }
    t.diagnostic(`${ep}: agrees with cpu on ${rep.layers.length} layers`);
  }
  assert.equal(
    auto.executionProvider.used,
    AUTO_ORDER.find((e) => !auto.executionProvider.skipped.some((s) => s.name === e)),
  );
  if (process.platform !== 'win32')
    await assert.rejects(analyzeCheckpoint(planted, { ...settings, ep: 'dml' }), /DirectML is only available on Windows/);
});

test('metrics in the overlapping worker equal the inline ones, with --save-patterns too', async () => {
  const run = async (mode: string, out: string) => {
    process.env.INHERITUNE_METRICS_WORKER = mode;
    try {
      return await analyzeCheckpoint(planted, { seqLen: 40, batch: 2, ep: 'cpu', savePatterns: out });
    } finally {
      delete process.env.INHERITUNE_METRICS_WORKER;
    }
  };
  const inline = await run('never', path.join(dir, 'p-inline'));
  const worker = await run('always', path.join(dir, 'p-worker'));
  assert.deepEqual(worker.layers, inline.layers);
  assert.deepEqual(
    readFileSync(path.join(dir, 'p-worker', 'model.safetensors')).subarray(200),
    readFileSync(path.join(dir, 'p-inline', 'model.safetensors')).subarray(200),
  );
});

test('the metrics workers run at the lowest priority (Linux), two of them where there are two cores', async () => {
  const pool = MetricsPool.create();
  assert.ok(pool, 'dist/metricsWorker.js is missing: build first (node esbuild.mjs)');
  try {
    assert.equal(pool.size, Math.min(2, os.availableParallelism()));
    const nice = await pool.niceValues();
    if (process.platform === 'linux')
      assert.deepEqual(
        nice,
        nice.map(() => METRICS_NICE),
      );
    else
      assert.ok(
        nice.every((v) => v === null),
        `no per-thread priority on ${process.platform}: ${nice}`,
      );
    // this thread keeps its priority
    assert.equal(os.getPriority(), 0);
  } finally {
    await pool.close();
  }
});

test("threadCpuMs counts this thread's CPU time, not its waits (Linux; the workers' per-layer cost)", async () => {
  const c0 = threadCpuMs();
  if (process.platform !== 'linux') return assert.equal(c0, undefined);
  await new Promise((r) => setTimeout(r, 100));
  const c1 = threadCpuMs()!;
  // Busy until this thread has 50 ms of CPU (a loaded machine gives it less than its wall time), and compare with the
  // process's own CPU clock over the same stretch: this thread is the only busy one then.
  const p1 = process.cpuUsage();
  const t = performance.now();
  let c2 = c1;
  while (c2 - c1 < 50 && performance.now() - t < 5000) c2 = threadCpuMs()!;
  const p2 = process.cpuUsage(p1);
  const processMs = (p2.user + p2.system) / 1000;
  assert.ok(c1 - c0! < 40, `sleeping 100 ms cost ${c1 - c0!} ms of CPU`);
  assert.ok(c2 - c1 >= 50, `5 s of busy loop counted only ${c2 - c1} ms`);
  assert.ok(c2 - c1 <= processMs + 10 && c2 - c1 >= 0.6 * processMs, `busy loop: thread ${c2 - c1} ms, process ${processMs} ms`);
});

test('CLI analyze --kstar-exact-up-to: heads with k* ≤ r as in the exact report, the others bounded around it; settings and counts recorded', () => {
  const run = (extra: string[], out: string) => {
    const r = spawnSync('node', [CLI, 'analyze', planted, '--seq-len', '96', '--batch', '2', '--ep', 'cpu', '--json', out, ...extra], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    return { stdout: r.stdout, rep: JSON.parse(readFileSync(out, 'utf8')) };
  };
  for (const mode of ['mean', 'per-seq']) {
    const exact = run(['--mode', mode], path.join(dir, `exact-${mode}.json`)).rep;
    const { stdout, rep } = run(['--mode', mode, '--kstar-exact-up-to', '2'], path.join(dir, `bounded-${mode}.json`));
    assert.equal(rep.schemaVersion, 3);
    assert.equal(rep.settings.kStarExactUpTo, 2);
    assert.equal(exact.settings.kStarExactUpTo, null);
    let bounded = 0;
    for (const [li, layer] of rep.layers.entries()) {
      const heads = layer.heads;
      assert.equal(layer.boundedHeads, heads.filter((h: { kStarBounds?: number[] }) => h.kStarBounds).length);
      assert.equal(layer.lazy, exact.layers[li].lazy, `layer ${li}: the lazy verdict never changes`);
      for (const [h, head] of heads.entries()) {
        const k = exact.layers[li].heads[h].kStar;
        const where = `${mode} layer ${li} head ${h}: exact ${k}, got ${JSON.stringify(head)}`;
        if (head.kStarBounds) {
          bounded++;
          const [lo, hi] = head.kStarBounds;
          assert.ok(lo > 2 - 1e-9 && lo <= k + 1e-9 && k <= hi + 1e-9 && head.kStar === lo, where);
        } else assert.equal(head.kStar, k, where);
        assert.equal(head.mStar, exact.layers[li].heads[h].mStar, where);
      }
    }
    assert.ok(bounded > 0, `${mode}: no head bounded`);
    assert.match(stdout, new RegExp(`k\\* exact up to 2; ${bounded} heads? above it reported as certified bounds`));
  }
  const bad = spawnSync('node', [CLI, 'analyze', planted, '--kstar-exact-up-to', '0'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--kstar-exact-up-to/);
});

test('CLI summary: an exact run at T ≥ 1024 names the bounds mode; a bounds run or a short T does not', () => {
  const out = path.join(dir, 'tip.json');
  const r = spawnSync('node', [CLI, 'analyze', planted, '--seq-len', '32', '--batch', '1', '--ep', 'cpu', '--json', out], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /tip:/);
  const rep = JSON.parse(readFileSync(out, 'utf8'));
  const long = { ...rep, settings: { ...rep.settings, seqLen: 1024 } };
  assert.match(reportText(long), /tip: at T = 1024, --kstar-exact-up-to 64 keeps k\* exact up to 64/);
  assert.doesNotMatch(reportText({ ...long, settings: { ...long.settings, kStarExactUpTo: 64 } }), /tip:/);
});

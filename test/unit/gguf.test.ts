import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { GGUF_ARCHS } from '../../src/arch/ggufMap';
import { runForward } from '../../src/analysis/run/forward';
import { prepareTokens } from '../../src/analysis/input';
import { Checkpoint, openCheckpoint, readTensorF32 } from '../../src/checkpoint/checkpoint';
import { floatToHalf, halfToFloat } from '../../src/checkpoint/dtypes';
import { InherituneError } from '../../src/errors';
import { dequantize } from '../../src/checkpoint/ggufDequant';
import { GgufArray, parseGguf, readGgufHeader } from '../../src/checkpoint/ggufReader';
import { GGML_TYPES, GgufValueType as V } from '../../src/checkpoint/ggufTypes';
import { writeSynthCheckpoint } from '../../src/fixtures/synth';
import { executePlan } from '../../src/surgery/execute';
import { planGrow, planInherit, planInitRandom, planStack, SurgeryPlan } from '../../src/surgery/plan';
import { f32Bytes, ggufBytes, Meta, TensorSpec } from '../helpers/gguf';
import { synthToGguf } from '../helpers/ggufModel';
import { tmpDir } from '../helpers/tmp';

const parse = (b: Uint8Array, file = 'x.gguf') =>
  parseGguf(file, b.length, (dst, pos) => {
    const n = Math.max(0, Math.min(dst.length, b.length - pos));
    dst.set(b.subarray(pos, pos + n));
    return n;
  });

function throwsHeader(b: Uint8Array, ...fragments: (string | RegExp)[]) {
  assert.throws(
    () => parse(b),
    (e: unknown) => {
      assert.ok(e instanceof InherituneError, `expected InherituneError, got ${e}`);
      assert.match(e.message, /^x\.gguf: /);
      for (const f of fragments) assert.match(e.message, typeof f === 'string' ? new RegExp(f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : f);
      return true;
    },
  );
}

const f32 = (name: string, dims: number[], fill = 0): TensorSpec => ({
  name,
  dims,
  type: 0,
  data: f32Bytes(new Array(dims.reduce((a, b) => a * b, 1)).fill(fill)),
});

test('metadata of every value type, nested arrays, tensor infos and a custom alignment read back', () => {
  const meta: Meta[] = [
    ['general.architecture', V.STRING, 'llama'],
    ['general.alignment', V.UINT32, 64],
    ['u8', V.UINT8, 250],
    ['i8', V.INT8, -5],
    ['u16', V.UINT16, 65000],
    ['i16', V.INT16, -30000],
    ['i32', V.INT32, -2_000_000_000],
    ['f32', V.FLOAT32, 1.5],
    ['f64', V.FLOAT64, 1e-300],
    ['b', V.BOOL, true],
    ['u64', V.UINT64, 2n ** 63n],
    ['i64', V.INT64, -42n],
    ['utf8', V.STRING, 'Café 東京 🚀'],
    ['ints', V.ARRAY, [1, 2, 3], V.INT32],
    ['floats', V.ARRAY, [0.5, -2], V.FLOAT32],
    ['strings', V.ARRAY, ['a', 'Ġb'], V.STRING],
    [
      'nested',
      V.ARRAY,
      [
        [V.UINT8, [1, 2]],
        [V.UINT8, [3]],
      ],
      V.ARRAY,
    ],
  ];
  const g = parse(ggufBytes({ meta, alignment: 64, tensors: [f32('a', [4, 2], 1), f32('b', [3], 2)] }));
  assert.equal(g.version, 3);
  assert.equal(g.alignment, 64);
  assert.equal(g.dataStart % 64, 0);
  const v = (k: string) => g.metadata.get(k)!.value;
  assert.deepEqual(
    [v('u8'), v('i8'), v('u16'), v('i16'), v('i32'), v('f32'), v('f64'), v('b'), v('u64'), v('i64'), v('utf8')],
    [250, -5, 65000, -30000, -2_000_000_000, 1.5, 1e-300, true, 2n ** 63n, -42, 'Café 東京 🚀'],
  );
  assert.deepEqual([...((v('ints') as GgufArray).values as ArrayLike<number> & Iterable<number>)], [1, 2, 3]);
  assert.deepEqual([...((v('floats') as GgufArray).values as Float32Array)], [0.5, -2]);
  assert.deepEqual((v('strings') as GgufArray).values, ['a', 'Ġb']);
  assert.deepEqual(
    ((v('nested') as GgufArray).values as GgufArray[]).map((a) => [...(a.values as Float64Array)]),
    [[1, 2], [3]],
  );
  assert.deepEqual(
    g.tensors.map((t) => [t.name, t.dims, t.type.name, t.begin - g.dataStart, t.end - t.begin]),
    [
      ['a', [4, 2], 'F32', 0, 32],
      ['b', [3], 'F32', 64, 12],
    ],
  );
});

test('dequantization of hand-made blocks: Q8_0 and Q4_0 scales, nibble order and offsets', () => {
  const q8 = new Uint8Array(34);
  q8.set([0x00, 0x38]); // d = 0.5 (f16)
  for (let j = 0; j < 32; j++) q8[2 + j] = (j - 16) & 0xff;
  assert.deepEqual(
    [...dequantize(GGML_TYPES.get(8)!, q8)],
    Array.from({ length: 32 }, (_, j) => (j - 16) * 0.5),
  );
  const q4 = new Uint8Array(18);
  q4.set([0x00, 0x40]); // d = 2
  for (let j = 0; j < 16; j++) q4[2 + j] = j | ((15 - j) << 4);
  const want = [...Array.from({ length: 16 }, (_, j) => (j - 8) * 2), ...Array.from({ length: 16 }, (_, j) => (15 - j - 8) * 2)];
  assert.deepEqual([...dequantize(GGML_TYPES.get(2)!, q4)], want);
});

// ---- malformed input: a clear InherituneError naming the file, never a crash, a hang or a huge allocation ----

test('every truncation of a valid file is refused with a clear message', () => {
  const meta: Meta[] = [
    ['general.architecture', V.STRING, 'llama'],
    ['tokens', V.ARRAY, ['a', 'bb', 'ccc'], V.STRING],
    ['n', V.ARRAY, [1, 2, 3, 4], V.UINT32],
  ];
  const full = ggufBytes({ meta, tensors: [f32('a', [8, 2], 1), f32('b', [4], 2)] });
  parse(full);
  for (let n = 0; n < full.length; n++) throwsHeader(full.subarray(0, n), /(truncated|too short|ends at|beyond|past the end|remain)/);
});

test('huge counts and lengths are refused before anything is allocated for them', () => {
  throwsHeader(ggufBytes({ tensorCount: 2n ** 62n }), 'far beyond the file size');
  throwsHeader(ggufBytes({ tensorCount: 1_000_000n }), 'claims 1000000 tensors');
  throwsHeader(ggufBytes({ kvCount: 1_000_000n }), 'claims 1000000 metadata entries');
  // A string length of 2^40 and an array of 2^40 items, inside an otherwise small file.
  const s = ggufBytes({ meta: [['k', V.STRING, 'abc']] });
  new DataView(s.buffer).setBigUint64(24 + 8 + 1 + 4, 2n ** 40n, true);
  throwsHeader(s, 'claims 1099511627776 bytes');
  const a = ggufBytes({ meta: [['k', V.ARRAY, [1, 2], V.UINT32]] });
  new DataView(a.buffer).setBigUint64(24 + 8 + 1 + 4 + 4, 2n ** 40n, true);
  throwsHeader(a, 'claims 1099511627776 items');
  // Arrays of arrays nested past the limit.
  const deep = ggufBytes({ meta: [['k', V.ARRAY, [[V.ARRAY, [[V.ARRAY, [[V.UINT8, [1]]]]]]], V.ARRAY]] });
  throwsHeader(deep, 'nests arrays deeper');
  // Dimensions whose product overflows the data.
  throwsHeader(ggufBytes({ tensors: [{ ...f32('t', [4]), dims: [2 ** 26, 2 ** 26] }] }), 'tensor t has dimensions');
  throwsHeader(ggufBytes({ tensors: [{ ...f32('t', [4]), dims: [1, 1, 1, 1, 4] }] }), 'tensor t has 5 dimensions');
});

test('offsets out of range, misaligned or overlapping, and bad types or alignment are refused naming the tensor', () => {
  throwsHeader(ggufBytes({ tensors: [f32('a', [8]), { ...f32('b', [8]), headerOffset: 4096 }] }), 'tensor b', 'beyond the data section');
  throwsHeader(ggufBytes({ tensors: [f32('a', [8]), { ...f32('b', [8]), headerOffset: 2 ** 52 }] }), 'tensor b', 'beyond the data section');
  throwsHeader(ggufBytes({ tensors: [f32('a', [8]), { ...f32('b', [8]), offset: 16 }] }), 'tensor b', 'not a multiple of the alignment 32');
  throwsHeader(
    ggufBytes({ alignment: 8, meta: [['general.alignment', V.UINT32, 8]], tensors: [f32('a', [8]), { ...f32('b', [8]), offset: 24 }] }),
    'tensors a and b overlap',
  );
  throwsHeader(ggufBytes({ tensors: [{ ...f32('q', [8]), type: 77 }] }), 'tensor q has unknown ggml type 77');
  throwsHeader(
    ggufBytes({ tensors: [{ name: 'q', dims: [16], type: 8, data: new Uint8Array(34) }] }),
    'tensor q',
    'not a multiple of the Q8_0 block size 32',
  );
  throwsHeader(ggufBytes({ meta: [['general.alignment', V.UINT32, 48]] }), 'general.alignment is 48');
  throwsHeader(ggufBytes({ meta: [['general.alignment', V.STRING, '32']] }), 'general.alignment is 32; it must be a power of two');
  throwsHeader(ggufBytes({ tensors: [f32('a', [8]), f32('a', [8])] }), 'tensor a appears twice');
  throwsHeader(
    ggufBytes({
      meta: [
        ['k', V.UINT8, 1],
        ['k', V.UINT8, 2],
      ],
    }),
    'metadata key "k" appears twice',
  );
  throwsHeader(ggufBytes({ meta: [['k', 13 as V, 1]] }), 'unknown value type 13');
  throwsHeader(
    ggufBytes({ meta: [['k', V.BOOL, 1]] }).map((x, i) => (i === 24 + 9 + 4 ? 7 : x)),
    'bool with byte value 7',
  );
});

test('magic, version 1 and big-endian files get their own messages', () => {
  const b = ggufBytes({});
  throwsHeader(Uint8Array.from([...b.subarray(0, 3), 0x21, ...b.subarray(4)]), 'not a GGUF file');
  throwsHeader(ggufBytes({ version: 1 }), 'GGUF version 1 (2023) is not supported');
  throwsHeader(ggufBytes({ version: 3 << 24 }), 'big-endian');
  throwsHeader(ggufBytes({ version: 4 }), 'GGUF version 4 is not supported');
});

test('random byte mutations of a valid file: each parses or fails with InherituneError, quickly', () => {
  const meta: Meta[] = [
    ['general.architecture', V.STRING, 'llama'],
    ['tokens', V.ARRAY, ['a', 'bb', 'ccc', 'dddd'], V.STRING],
    ['scores', V.ARRAY, [0.5, 1.5], V.FLOAT32],
    ['nested', V.ARRAY, [[V.UINT8, [1, 2]]], V.ARRAY],
  ];
  const base = ggufBytes({ meta, tensors: [f32('a', [8, 2], 1), { name: 'q', dims: [32], type: 8, data: new Uint8Array(34) }] });
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
  const t0 = performance.now();
  let failed = 0;
  for (let i = 0; i < 3000; i++) {
    const b = base.slice();
    const flips = 1 + Math.floor(rnd() * 4);
    for (let f = 0; f < flips; f++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    try {
      parse(b);
    } catch (e) {
      assert.ok(e instanceof InherituneError, `mutation ${i}: ${e}`);
      failed++;
    }
  }
  assert.ok(failed > 100, `only ${failed} mutations failed`);
  assert.ok(performance.now() - t0 < 10_000);
});

// ---- synthetic models of every mapped architecture, written as GGUF the way llama.cpp's converter lays them out ----

const FAMILY_OPTS: Record<string, object> = { llama: { kvHeads: 2 }, qwen2: { kvHeads: 2 }, qwen3: { kvHeads: 2 }, gpt2: {}, gpt_neox: {} };

for (const m of GGUF_ARCHS) {
  test(`GGUF ${m.ggufArch}: a synthetic ${m.family} model written in llama.cpp's layout reads back as the same tensors and attention`, async () => {
    const dir = tmpDir();
    const folder = path.join(dir, 'hf');
    await writeSynthCheckpoint(folder, {
      family: m.family,
      numLayers: 2,
      hidden: 32,
      heads: 4,
      vocab: 64,
      context: 32,
      seed: 3,
      std: 0.2,
      ...FAMILY_OPTS[m.family],
    });
    const src = await openCheckpoint(folder);
    const file = path.join(dir, 'model.gguf');
    await synthToGguf(src, m, file);
    const g = await openCheckpoint(file);
    assert.equal(g.spec.family, m.family);
    assert.deepEqual({ ...g.dims }, { ...src.dims });
    assert.equal(g.tied, src.tied);
    const strip = (c: Checkpoint, n: string) => (n.startsWith(c.prefix) ? n.slice(c.prefix.length) : n);
    const srcNames = new Map([...src.tensors.keys()].map((n) => [strip(src, n), n]));
    for (const name of g.tensors.keys()) {
      const s = srcNames.get(strip(g, name));
      assert.ok(s, `${name} has no counterpart`);
      const [a, b] = [await readTensorF32(g, name), await readTensorF32(src, s)];
      assert.deepEqual(a.shape, b.shape, name);
      assert.deepEqual(a.data, b.data, name);
    }
    const T = 16;
    const tokens = Int32Array.from({ length: T }, (_, i) => (i * 7) % 64);
    const patterns: Float32Array[][] = [[], []];
    for (const [k, c] of [g, src].entries()) {
      await runForward(c, tokens, 1, T, (o) => void patterns[k].push(...o.pattern.map((p) => p.data.slice())), {
        ep: 'cpu',
        queryBlockRows: Infinity,
      });
    }
    assert.deepEqual(patterns[0], patterns[1]);
  });
}

test('surgery from a GGUF file writes what the same surgery from the safetensors folder writes (inherit, grow, stack, init-random; f32 and f16)', async () => {
  const dir = tmpDir();
  const folder = path.join(dir, 'hf');
  await writeSynthCheckpoint(folder, { family: 'llama', numLayers: 4, hidden: 32, heads: 4, kvHeads: 2, vocab: 64, context: 32, seed: 5 });
  const hf = await openCheckpoint(folder);
  const file = path.join(dir, 'model.gguf');
  await synthToGguf(
    hf,
    GGUF_ARCHS.find((a) => a.ggufArch === 'llama')!,
    file,
  );
  const gg = await openCheckpoint(file);
  const run = async (plan: SurgeryPlan, name: string) => openCheckpoint((await executePlan(plan, path.join(dir, name))).out);
  const same = async (a: Checkpoint, b: Checkpoint, what: string) => {
    assert.deepEqual([...a.tensors.keys()].sort(), [...b.tensors.keys()].sort(), what);
    for (const n of a.tensors.keys()) {
      const [x, y] = [a.tensors.get(n)!, b.tensors.get(n)!];
      assert.deepEqual([x.dtype, x.shape], [y.dtype, y.shape], `${what}: ${n}`);
      assert.deepEqual((await readTensorF32(a, n)).data, (await readTensorF32(b, n)).data, `${what}: ${n}`);
    }
    assert.equal(a.dims.numLayers, b.dims.numLayers);
  };
  const inhG = await run(planInherit(gg, { layers: 2 }), 'inh-g');
  const inhH = await run(planInherit(hf, { layers: 2 }), 'inh-h');
  await same(inhG, inhH, 'inherit');
  assert.equal(JSON.parse(inhG.metadata.inheritune).ref, file, 'provenance names the .gguf file');
  await same(await run(planGrow(inhH, gg, 1), 'grow-g'), await run(planGrow(inhH, hf, 1), 'grow-h'), 'grow');
  await same(await run(planStack(gg), 'stack-g'), await run(planStack(hf), 'stack-h'), 'stack');
  await same(
    await run(planInitRandom(gg, { layers: 2, seed: 9 }), 'init-g'),
    await run(planInitRandom(hf, { layers: 2, seed: 9 }), 'init-h'),
    'init-random',
  );
  // --dtype f16: every tensor converted, values rounded to half precision.
  const half = await run(planInherit(await openCheckpoint(file, { dtype: 'F16' }), { layers: 2 }), 'inh-f16');
  for (const [n, t] of half.tensors) {
    assert.equal(t.dtype, 'F16', n);
    const ref = (await readTensorF32(inhH, n)).data;
    assert.deepEqual(
      (await readTensorF32(half, n)).data,
      ref.map((v) => halfToFloat(floatToHalf(v))),
      n,
    );
  }
});

test('analysis of a .gguf whose tokenizer we cannot build asks for --tokens or a tokenizer.json; with --tokens it runs', async () => {
  const dir = tmpDir();
  const folder = path.join(dir, 'hf');
  await writeSynthCheckpoint(folder, { family: 'qwen2', numLayers: 1, hidden: 32, heads: 4, kvHeads: 2, vocab: 64, context: 32, seed: 1 });
  const file = path.join(dir, 'model.gguf');
  await synthToGguf(
    await openCheckpoint(folder),
    GGUF_ARCHS.find((a) => a.ggufArch === 'qwen2')!,
    file,
  );
  const ckpt = await openCheckpoint(file);
  await assert.rejects(
    prepareTokens(ckpt, { batch: 1, seqLen: 8, seed: 0 }),
    /model\.gguf: cannot tokenize text: the file has no tokenizer metadata; pass --tokens FILE or put a tokenizer\.json beside the file/,
  );
  const ids = path.join(dir, 'ids.bin');
  writeFileSync(ids, new Uint8Array(Uint16Array.from({ length: 16 }, (_, i) => i * 3).buffer));
  const batch = await prepareTokens(ckpt, { batch: 1, seqLen: 8, seed: 0, tokensFile: ids });
  assert.equal(batch.tokens.length, 8);
});

test('a tensor type we cannot dequantize and an unknown architecture are refused naming tensor, type and file', async () => {
  const dir = tmpDir();
  const bad = path.join(dir, 'iq.gguf');
  const meta: Meta[] = [
    ['general.architecture', V.STRING, 'llama'],
    ['llama.block_count', V.UINT32, 1],
    ['llama.embedding_length', V.UINT32, 256],
    ['llama.attention.head_count', V.UINT32, 4],
    ['llama.feed_forward_length', V.UINT32, 256],
    ['llama.context_length', V.UINT32, 64],
    ['llama.vocab_size', V.UINT32, 2],
  ];
  writeFileSync(bad, ggufBytes({ meta, tensors: [{ name: 'token_embd.weight', dims: [256, 2], type: 16, data: new Uint8Array(2 * 66) }] }));
  await assert.rejects(
    openCheckpoint(bad),
    (e: unknown) =>
      e instanceof InherituneError &&
      /iq\.gguf: tensor token_embd\.weight is stored as IQ2_XXS, which Inheritune cannot dequantize/.test(e.message),
  );
  const g = readGgufHeader(bad);
  assert.equal(g.tensors[0].type.name, 'IQ2_XXS');
  const noLayers = path.join(dir, 'nolayers.gguf');
  writeFileSync(noLayers, ggufBytes({ meta: meta.filter(([k]) => k !== 'llama.block_count') }));
  await assert.rejects(
    openCheckpoint(noLayers),
    /nolayers\.gguf: metadata llama\.block_count is missing or not a number; llama needs it \(num_hidden_layers\)/,
  );
  const mamba = path.join(dir, 'mamba.gguf');
  writeFileSync(mamba, ggufBytes({ meta: [['general.architecture', V.STRING, 'mamba']] }));
  await assert.rejects(
    openCheckpoint(mamba),
    (e: unknown) =>
      e instanceof InherituneError &&
      e.code === 'E_ARCH' &&
      /GGUF architecture "mamba" is not supported; supported: llama, qwen2, qwen3, gpt2, gptneox/.test(e.message),
  );
  const extra = path.join(dir, 'extra.gguf');
  writeFileSync(extra, ggufBytes({ meta, tensors: [f32('rope_freqs.weight', [32])] }));
  await assert.rejects(openCheckpoint(extra), /tensor rope_freqs\.weight cannot be converted: llama 3\.1-style rope frequency factors/);
});

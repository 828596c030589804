import assert from 'node:assert/strict';
import { writeFileSync, readFileSync, mkdirSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { openCheckpoint, readTensorF32 } from '../../src/checkpoint/checkpoint';
import { bf16ToFloat, floatToBf16, floatToHalf, fromFloat32, halfToFloat, toFloat32 } from '../../src/checkpoint/dtypes';
import { InherituneError } from '../../src/errors';
import { readHeader, readTensorBytes } from '../../src/checkpoint/safetensors';
import { encodeHeader, planShards, writeSafetensors, WriteEntry } from '../../src/checkpoint/writer';
import { writeSynthCheckpoint } from '../../src/fixtures/synth';
import { tmpDir } from '../helpers/tmp';

function entry(name: string, values: Float32Array, shape: number[], dtype: 'F32' | 'F16' | 'BF16' = 'F32'): WriteEntry {
  const bytes = fromFloat32(dtype, values);
  return { name, dtype, shape, byteLength: bytes.byteLength, source: { kind: 'bytes', produce: () => bytes } };
}

/** Write a raw safetensors file from a header object and a data buffer (for malformed-input tests). */
function rawFile(file: string, header: unknown, data: Uint8Array, lengthOverride?: bigint): void {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(json.length));
  writeFileSync(file, Buffer.concat([len, json, Buffer.from(data)]));
}

async function rejects(p: Promise<unknown>, code: string, ...fragments: (string | RegExp)[]) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof InherituneError, `expected InherituneError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.match(e.message, typeof f === 'string' ? new RegExp(f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : f);
    return true;
  });
}

test('half and bfloat16 conversions are exact on representable values and round to nearest even', () => {
  for (const v of [0, 1, -2, 0.5, 65504, -65504, 6.103515625e-5, 5.960464477539063e-8, Infinity])
    assert.equal(halfToFloat(floatToHalf(v)), v);
  assert.ok(Number.isNaN(halfToFloat(floatToHalf(NaN))));
  assert.equal(halfToFloat(floatToHalf(1 + 2 ** -11)), 1); // tie → even
  assert.equal(halfToFloat(floatToHalf(1 + 3 * 2 ** -11)), 1 + 2 ** -9);
  for (const v of [0, 1, -3.5, 2 ** 100, 2 ** -100, -Infinity]) assert.equal(bf16ToFloat(floatToBf16(v)), v);
  assert.equal(bf16ToFloat(floatToBf16(1 + 2 ** -8)), 1); // tie → even
});

test('writer → reader round trip for F32, F16 and BF16, header 8-byte aligned with __metadata__', async () => {
  const dir = tmpDir();
  const a = Float32Array.from({ length: 12 }, (_, i) => i * 0.25 - 1);
  const names = await writeSafetensors(dir, [entry('a', a, [3, 4]), entry('b', a, [12], 'F16'), entry('c', a, [2, 6], 'BF16')], {
    metadata: { format: 'pt', note: 'x' },
  });
  assert.deepEqual(names, ['model.safetensors']);
  const h = await readHeader(path.join(dir, 'model.safetensors'));
  assert.equal(h.dataStart % 8, 0);
  assert.deepEqual(h.metadata, { format: 'pt', note: 'x' });
  assert.deepEqual(
    h.tensors.map((t) => [t.name, t.dtype, t.shape]),
    [
      ['a', 'F32', [3, 4]],
      ['b', 'F16', [12]],
      ['c', 'BF16', [2, 6]],
    ],
  );
  for (const t of h.tensors) assert.deepEqual([...toFloat32(t.dtype, await readTensorBytes(t))], [...a]);
});

test('shards: greedy split, HF names, index with weight_map and total_size; the reader joins them', async () => {
  const dir = tmpDir();
  const ck = path.join(dir, 'ck');
  await writeSynthCheckpoint(ck, { family: 'llama', numLayers: 3, seed: 1, shardBytes: 200_000 });
  const index = JSON.parse(readFileSync(path.join(ck, 'model.safetensors.index.json'), 'utf8'));
  const files = [...new Set(Object.values(index.weight_map))] as string[];
  assert.ok(files.length >= 3, `expected several shards, got ${files.length}`);
  assert.ok(files.every((f, _i, all) => new RegExp(`^model-\\d{5}-of-${String(all.length).padStart(5, '0')}\\.safetensors$`).test(f)));
  const c = await openCheckpoint(ck);
  assert.equal(c.files.length, files.length);
  assert.equal(index.metadata.total_size, c.totalBytes);
  const single = path.join(dir, 'single');
  await writeSynthCheckpoint(single, { family: 'llama', numLayers: 3, seed: 1 });
  const s = await openCheckpoint(single);
  for (const name of s.tensors.keys()) assert.deepEqual((await readTensorF32(c, name)).data, (await readTensorF32(s, name)).data, name);
  // Opening through the index file or one of the shards gives the same checkpoint.
  assert.equal((await openCheckpoint(path.join(ck, files[1]))).tensors.size, c.tensors.size);
  assert.equal((await openCheckpoint(path.join(ck, 'model.safetensors.index.json'))).tensors.size, c.tensors.size);
  assert.equal((await openCheckpoint(path.join(ck, 'config.json'))).tensors.size, c.tensors.size);
});

test('planShards keeps order and starts a new shard only when the next tensor would overflow', () => {
  const e = (n: string, b: number) => ({
    name: n,
    dtype: 'U8' as const,
    shape: [b],
    byteLength: b,
    source: { kind: 'bytes' as const, produce: () => new Uint8Array(b) },
  });
  const shards = planShards([e('a', 4), e('b', 4), e('c', 9), e('d', 1)], 8);
  assert.deepEqual(
    shards.map((s) => s.map((x) => x.name)),
    [['a', 'b'], ['c'], ['d']],
  );
});

test('malformed files: each gets its own precise error naming the file and tensor', async () => {
  const dir = tmpDir();
  const f = (n: string) => path.join(dir, n);
  const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  writeFileSync(f('short.safetensors'), Buffer.from([1, 2, 3]));
  await rejects(readHeader(f('short.safetensors')), 'E_HEADER', 'short.safetensors', 'shorter than the 8-byte header length');
  rawFile(f('len.safetensors'), ok, new Uint8Array(8), 10_000n);
  await rejects(readHeader(f('len.safetensors')), 'E_HEADER', 'header length 10000 goes beyond the end of the file');
  const bad = Buffer.from('{"w": {"dtype": "F32",');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(bad.length));
  writeFileSync(f('json.safetensors'), Buffer.concat([len, bad]));
  await rejects(readHeader(f('json.safetensors')), 'E_JSON', 'json.safetensors', 'not valid JSON');
  rawFile(f('range.safetensors'), { w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8));
  await rejects(readHeader(f('range.safetensors')), 'E_OFFSETS', 'tensor w', 'go beyond the data (8 bytes)');
  rawFile(f('shape.safetensors'), { w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8));
  await rejects(readHeader(f('shape.safetensors')), 'E_OFFSETS', 'tensor w', 'shape [3] × F32 needs 12');
  rawFile(
    f('overlap.safetensors'),
    { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } },
    new Uint8Array(12),
  );
  await rejects(readHeader(f('overlap.safetensors')), 'E_OFFSETS', 'tensors a and b overlap');
  rawFile(f('dtype.safetensors'), { w: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2));
  await rejects(readHeader(f('dtype.safetensors')), 'E_DTYPE', 'unsupported dtype "F8_E4M3"', 'F32, F16, BF16');
  rawFile(f('neg.safetensors'), { w: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, new Uint8Array(8));
  await rejects(readHeader(f('neg.safetensors')), 'E_OFFSETS', 'end before they begin');
  rawFile(f('meta.safetensors'), { __metadata__: { a: 1 }, ...ok }, new Uint8Array(8));
  await rejects(readHeader(f('meta.safetensors')), 'E_JSON', '__metadata__["a"] must be a string');
});

test('a truncated checkpoint file names the file and says to re-download', async () => {
  const dir = tmpDir();
  const ck = path.join(dir, 'ck');
  await writeSynthCheckpoint(ck, { family: 'gpt2', numLayers: 2 });
  const file = path.join(ck, 'model.safetensors');
  const buf = readFileSync(file);
  writeFileSync(file, buf.subarray(0, buf.length - 100));
  await rejects(openCheckpoint(ck), 'E_OFFSETS', 'model.safetensors', 'go beyond the data', 'truncated or corrupt');
});

test('checkpoint vs architecture spec: missing, extra and mis-shaped tensors, unknown architecture', async () => {
  const dir = tmpDir();
  const ck = path.join(dir, 'ck');
  await writeSynthCheckpoint(ck, { family: 'gpt2', numLayers: 2 });
  const cfgPath = path.join(ck, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, n_layer: 3 }));
  await rejects(openCheckpoint(ck), 'E_TENSOR', 'tensor transformer.h.2.ln_1.weight is missing', 'n_layer = 3');
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, n_layer: 1 }));
  await rejects(openCheckpoint(ck), 'E_TENSOR', 'unexpected tensor', 'transformer.h.1.', 'more layers than n_layer = 1');
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, n_embd: 32, n_head: 4 }));
  await rejects(openCheckpoint(ck), 'E_CONFIG', 'transformer.wte.weight has shape [1024, 64] but config.json implies [1024, 32]');
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, architectures: ['BertForMaskedLM'], model_type: 'bert' }));
  await rejects(
    openCheckpoint(ck),
    'E_ARCH',
    'unknown architecture BertForMaskedLM',
    'supported families: gpt2, llama, mistral, qwen2, qwen3, gpt_neox',
  );
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, n_layer: 'two' }));
  await rejects(openCheckpoint(ck), 'E_CONFIG', '"n_layer" must be a positive integer');
});

test('index weight_map: a path outside the folder and a missing shard are refused', async () => {
  const dir = tmpDir();
  const ck = path.join(dir, 'ck');
  await writeSynthCheckpoint(ck, { family: 'gpt2', numLayers: 2, shardBytes: 300_000 });
  const ip = path.join(ck, 'model.safetensors.index.json');
  const index = JSON.parse(readFileSync(ip, 'utf8'));
  const name = Object.keys(index.weight_map)[0];
  writeFileSync(ip, JSON.stringify({ ...index, weight_map: { ...index.weight_map, [name]: '../../etc/passwd' } }));
  await rejects(openCheckpoint(ck), 'E_INDEX', `weight_map["${name}"] = "../../etc/passwd" points outside the checkpoint folder`);
  writeFileSync(ip, JSON.stringify({ ...index, weight_map: { ...index.weight_map, [name]: 'model-00009-of-00009.safetensors' } }));
  await rejects(openCheckpoint(ck), 'E_INDEX', 'shard model-00009-of-00009.safetensors is listed in weight_map but missing');
  writeFileSync(ip, '{"weight_map": 3}');
  await rejects(openCheckpoint(ck), 'E_INDEX', '"weight_map" must be an object');
});

test('a folder with only pytorch_model.bin goes to the PyTorch zip reader, which names what is wrong with it', async () => {
  const dir = tmpDir();
  mkdirSync(path.join(dir, 'ck'));
  writeFileSync(path.join(dir, 'ck', 'config.json'), '{}');
  writeFileSync(path.join(dir, 'ck', 'pytorch_model.bin'), 'not really');
  await rejects(openCheckpoint(path.join(dir, 'ck')), 'E_HEADER', 'pytorch_model.bin', 'neither a zip nor a pickle');
  await rejects(openCheckpoint(path.join(dir, 'nope')), 'E_NOT_FOUND', 'no such file or folder');
  assert.ok(!existsSync(path.join(dir, 'nope')));
});

test('encodeHeader refuses an entry whose byte length does not match shape × dtype', () => {
  assert.throws(
    () =>
      encodeHeader([{ name: 'x', dtype: 'F32', shape: [3], byteLength: 8, source: { kind: 'bytes', produce: () => new Uint8Array(8) } }]),
    /tensor x has 8 bytes/,
  );
});

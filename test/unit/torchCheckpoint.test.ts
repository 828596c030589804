/**
 * The PyTorch zip reader (src/checkpoint/torchZip.ts, pickle.ts): round trips against safetensors, and the same malformed-input tests
 * as the safetensors reader (truncation, huge lengths, wrong offsets, recursive and deep pickles, memo abuse,
 * refused globals and opcodes): each ends in a clear error, never a crash, a hang or a large allocation.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { openCheckpoint, readTensorF32 } from '../../src/checkpoint/checkpoint';
import { InherituneError } from '../../src/errors';
import { readTensorBytes, transposeBytes } from '../../src/checkpoint/safetensors';
import { DEFAULT_LIMITS, PickleError, PyDict, readPickle, TorchTensor } from '../../src/checkpoint/pickle';
import { readTorchZip, tensorRange, TorchZip } from '../../src/checkpoint/torchZip';
import { synthTensors, writeSynthCheckpoint } from '../../src/fixtures/synth';
import { legacyStateDict, PickleWriter, storedZip, torchStateDictZip } from '../helpers/torchZip';
import { tmpDir } from '../helpers/tmp';

async function rejects(p: Promise<unknown>, ...fragments: (string | RegExp)[]) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof InherituneError, `expected InherituneError, got ${e}`);
    for (const f of fragments) assert.match(e.message, typeof f === 'string' ? new RegExp(f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : f);
    return true;
  });
}

function pickleFails(bytes: Uint8Array, fragment: string | RegExp) {
  assert.throws(
    () => readPickle(bytes),
    (e: unknown) => {
      assert.ok(e instanceof PickleError, `expected PickleError, got ${e}`);
      assert.match(e.message, typeof fragment === 'string' ? new RegExp(fragment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : fragment);
      return true;
    },
  );
}

/** Tensor `name` of a zip whose pickle is a dict, as a byte range (its storage located first). */
async function rangeOf(z: TorchZip, name = 'w') {
  const t = (z.root as PyDict).get(name) as TorchTensor;
  await z.locate([t.storage]);
  return tensorRange(z, name, t);
}

function writeZip(dir: string, name: string, buf: Uint8Array): string {
  const f = path.join(dir, name);
  writeFileSync(f, buf);
  return f;
}

/** A small state dict pickle: {'w': tensor over storage '0'} with the given view. */
function oneTensor(numel: number, shape: number[], stride?: number[], offset = 0, type = 'FloatStorage'): Uint8Array {
  return new PickleWriter().proto().op(0x7d).str('w').tensor('0', type, numel, shape, stride, offset).op(0x73).stop().bytes();
}

function zipWith(pkl: Uint8Array, storage: Uint8Array, extra: { name: string; data: Uint8Array; method?: number }[] = []): Buffer {
  return storedZip([{ name: 'archive/data.pkl', data: pkl }, { name: 'archive/data/0', data: storage }, ...extra]);
}

test('a pytorch_model.bin written here from a synthetic model reads back like its safetensors twin', async () => {
  const dir = tmpDir();
  for (const family of ['gpt2', 'llama']) {
    const st = path.join(dir, `${family}-st`);
    await writeSynthCheckpoint(st, { family, numLayers: 2, seed: 3 });
    const { config, tensors } = synthTensors({ family, numLayers: 2, seed: 3 });
    const bin = path.join(dir, `${family}-bin`);
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'pytorch_model.bin'), torchStateDictZip(tensors));
    writeFileSync(path.join(bin, 'config.json'), JSON.stringify(config));
    const a = await openCheckpoint(st);
    const b = await openCheckpoint(bin);
    assert.equal(b.spec.family, family);
    assert.deepEqual([...b.tensors.keys()].sort(), [...a.tensors.keys()].sort());
    for (const name of a.tensors.keys()) {
      assert.deepEqual(b.tensors.get(name)!.shape, a.tensors.get(name)!.shape);
      assert.deepEqual([...(await readTensorF32(b, name)).data], [...(await readTensorF32(a, name)).data], name);
    }
    assert.equal(b.files.length, 1);
    assert.equal(path.basename(b.files[0].file), 'pytorch_model.bin');
    // a state dict saved from a DDP-wrapped, compiled model: the wrappers' prefixes on every name are stripped
    const wrapped = path.join(dir, `${family}-wrapped.pt`);
    writeFileSync(wrapped, torchStateDictZip(tensors.map((t) => ({ ...t, name: `module._orig_mod.${t.name}` }))));
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    const c = await openCheckpoint(wrapped);
    assert.deepEqual([...c.tensors.keys()].sort(), [...a.tensors.keys()].sort());
  }
});

test('views: storage offsets and shared storages become byte ranges; non-contiguous strides are refused by name', async () => {
  const dir = tmpDir();
  const values = Float32Array.from({ length: 12 }, (_, i) => i);
  const storage = new Uint8Array(values.buffer);
  // rows 1..2 of a [3, 4] storage: offset 4 elements, contiguous
  const z = await readTorchZip(writeZip(dir, 'a.pt', zipWith(oneTensor(12, [2, 4], undefined, 4), storage)));
  assert.deepEqual([...new Float32Array((await readTensorBytes(await rangeOf(z))).buffer)], [4, 5, 6, 7, 8, 9, 10, 11]);
  // size-1 dimensions may have any stride
  const z1 = await readTorchZip(writeZip(dir, 'b.pt', zipWith(oneTensor(12, [1, 12], [999, 1]), storage)));
  const r1 = await rangeOf(z1);
  assert.equal(r1.end - r1.begin, 48);
  // a transposed view
  const z2 = await readTorchZip(writeZip(dir, 'c.pt', zipWith(oneTensor(12, [4, 3], [1, 4]), storage)));
  await assert.rejects(rangeOf(z2), /tensor w is a non-contiguous view \(size \[4, 3\], stride \[1, 4\]\); save tensor\.contiguous\(\)/);
  // a view reaching past its storage
  const z3 = await readTorchZip(writeZip(dir, 'd.pt', zipWith(oneTensor(12, [3, 4], undefined, 4), storage)));
  await assert.rejects(rangeOf(z3), /tensor w reads elements 4\.\.16 of storage 0, which has 12/);
  // a storage entry shorter than the pickle says, and a missing one
  const z4 = await readTorchZip(writeZip(dir, 'e.pt', zipWith(oneTensor(12, [3, 4]), storage.subarray(0, 40))));
  await assert.rejects(rangeOf(z4), /storage 0 holds 40 bytes but 12 × F32 needs 48/);
  const z5 = await readTorchZip(writeZip(dir, 'f.pt', storedZip([{ name: 'archive/data.pkl', data: oneTensor(12, [3, 4]) }])));
  await assert.rejects(rangeOf(z5), /storage archive\/data\/0 is missing from the zip/);
});

test('transposeBytes turns [cols, rows] into [rows, cols] for 1-, 2-, 4- and 8-byte elements', () => {
  for (const esz of [1, 2, 4, 8]) {
    const rows = 3;
    const cols = 5;
    const src = new Uint8Array(rows * cols * esz);
    for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) src.fill(c * 10 + r, (c * rows + r) * esz, (c * rows + r + 1) * esz);
    const out = transposeBytes(src, [rows, cols], esz);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) assert.equal(out[(r * cols + c) * esz], c * 10 + r);
  }
});

test('refused globals and opcodes are named; nothing is resolved or called', () => {
  pickleFails(new PickleWriter().proto().global('os', 'system').str('touch x').op(0x85, 0x52).stop().bytes(), 'refused global os.system');
  pickleFails(new PickleWriter().proto(4).str('builtins').str('eval').op(0x93).stop().bytes(), 'refused global builtins.eval');
  pickleFails(new PickleWriter().proto().global('torch', 'load').stop().bytes(), 'refused global torch.load');
  pickleFails(
    new PickleWriter().proto().global('numpy.core.multiarray', '_reconstruct').stop().bytes(),
    'refused global numpy.core.multiarray._reconstruct',
  );
  // allowed globals are not callables in general: a storage type called with REDUCE is refused
  pickleFails(
    new PickleWriter().proto().global('torch', 'FloatStorage').op(0x29, 0x52).stop().bytes(),
    'refused call of torch.FloatStorage',
  );
  pickleFails(new PickleWriter().proto().str('x').op(0x29, 0x52).stop().bytes(), 'REDUCE calls a string');
  pickleFails(
    new PickleWriter()
      .proto()
      .op(0x69, ...Buffer.from('os\nsystem\n'))
      .stop()
      .bytes(),
    'refused opcode INST (0x69)',
  );
  pickleFails(new PickleWriter().proto().mark().op(0x6f).stop().bytes(), 'refused opcode OBJ (0x6f)');
  pickleFails(
    new PickleWriter().proto().global('collections', 'OrderedDict').op(0x29, 0x81).stop().bytes(),
    'refused opcode NEWOBJ (0x81)',
  );
  pickleFails(new PickleWriter().proto().op(0x82, 1).stop().bytes(), 'refused opcode EXT1 (0x82)');
  pickleFails(
    new PickleWriter()
      .proto()
      .op(0x50, ...Buffer.from('0\n'))
      .stop()
      .bytes(),
    'refused opcode PERSID (0x50)',
  );
  pickleFails(new PickleWriter().proto().op(0xff).stop().bytes(), 'refused opcode unknown opcode (0xff)');
  pickleFails(new PickleWriter().proto().op(0x8f).stop().bytes(), 'refused opcode EMPTY_SET');
  pickleFails(new PickleWriter().proto(6).op(0x4e).stop().bytes(), 'protocol 6');
  // a persistent id that is not a storage record, and a storage type that is not one
  pickleFails(new PickleWriter().proto().str('x').op(0x51).stop().bytes(), "is not a ('storage'");
  pickleFails(
    new PickleWriter()
      .proto()
      .mark()
      .str('storage')
      .global('collections', 'OrderedDict')
      .str('0')
      .str('cpu')
      .int(1)
      .tuple()
      .op(0x51)
      .stop()
      .bytes(),
    'names storage type global collections.OrderedDict',
  );
  pickleFails(
    new PickleWriter()
      .proto()
      .mark()
      .str('storage')
      .global('torch', 'FloatStorage')
      .str('../../etc/passwd')
      .str('cpu')
      .int(1)
      .tuple()
      .op(0x51)
      .stop()
      .bytes(),
    'is not a short file name',
  );
});

test('a valid pickle truncated at every byte, and with every byte changed, ends in a PickleError or a value', () => {
  const good = new PickleWriter()
    .proto()
    .global('collections', 'OrderedDict')
    .op(0x29, 0x52)
    .mark()
    .str('a')
    .tensor('0', 'FloatStorage', 6, [2, 3])
    .str('b')
    .tensor('1', 'HalfStorage', 4, [4])
    .op(0x75)
    .stop()
    .bytes();
  const root = readPickle(good) as PyDict;
  assert.ok(root.ordered && root.get('a') instanceof TorchTensor && (root.get('b') as TorchTensor).storage.dtype === 'F16');
  for (let n = 0; n < good.length; n++) assert.throws(() => readPickle(good.subarray(0, n)), PickleError, `prefix of ${n} bytes`);
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
  for (let i = 0; i < 2000; i++) {
    const b = good.slice();
    b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    try {
      readPickle(b);
    } catch (e) {
      assert.ok(e instanceof PickleError, `mutation ${i}: ${e}`);
    }
  }
});

test('huge lengths are refused before anything is allocated', () => {
  pickleFails(new PickleWriter().proto().op(0x58).u32(0xfffffff0).stop().bytes(), 'needs 4294967280 bytes');
  pickleFails(
    new PickleWriter()
      .proto()
      .op(0x8d)
      .u64(1n << 62n)
      .stop()
      .bytes(),
    'BINUNICODE8 length 4611686018427387904 is larger than',
  );
  pickleFails(new PickleWriter().proto().op(0x8e).u64(0xffffffffffffffffn).stop().bytes(), 'BINBYTES8 length');
  pickleFails(new PickleWriter().proto().op(0x42).u32(0x7fffffff).stop().bytes(), 'needs 2147483647 bytes');
  pickleFails(new PickleWriter().proto().op(0x8b).u32(0x7fffffff).stop().bytes(), 'an integer of 2147483647 bytes');
  pickleFails(
    new PickleWriter()
      .proto(4)
      .op(0x95)
      .u64(1n << 60n)
      .op(0x4e)
      .stop()
      .bytes(),
    'FRAME length',
  );
  // a storage or tensor that claims more elements than any model has
  pickleFails(
    new PickleWriter()
      .proto()
      .tensor('0', 'FloatStorage', 2 ** 50, [1])
      .stop()
      .bytes(),
    'storage 0 claims 1125899906842624 elements',
  );
  pickleFails(
    new PickleWriter()
      .proto()
      .tensor('0', 'FloatStorage', 4, [2 ** 30, 2 ** 30, 2 ** 30], [1, 1, 1])
      .stop()
      .bytes(),
    'has more than',
  );
  pickleFails(new PickleWriter().proto().tensor('0', 'FloatStorage', 4, new Array(100).fill(1)).stop().bytes(), '100 dimensions');
});

test('memo abuse, recursive and deep structures: clear errors, or a value built in linear time', () => {
  // a memo index that was never stored
  pickleFails(new PickleWriter().proto().op(0x68, 7).stop().bytes(), 'memo index 7 was never stored');
  pickleFails(new PickleWriter().proto().op(0x6a).u32(0xffffffff).stop().bytes(), 'memo index 4294967295 was never stored');
  // a list that contains itself, directly and through a second list
  pickleFails(new PickleWriter().proto().op(0x5d, 0x71, 0, 0x68, 0, 0x61).stop().bytes(), 'the result contains itself');
  pickleFails(
    new PickleWriter().proto().op(0x5d, 0x71, 0, 0x5d, 0x71, 1, 0x68, 0, 0x61, 0x61).stop().bytes(),
    /placed in two containers|contains itself/,
  );
  // a dict fetched from the memo and placed twice (the shape of a "billion laughs" expansion)
  pickleFails(new PickleWriter().proto().op(0x5d, 0x7d, 0x71, 0, 0x61, 0x68, 0, 0x61).stop().bytes(), 'placed in two containers');
  // immutable tuples of numbers may be shared (nanoGPT's optimizer groups share one betas tuple): 60 levels of
  // (t, t) would be 2^60 leaves if expanded; here it is 60 objects
  const w = new PickleWriter().proto().int(1).op(0x71, 0);
  for (let i = 0; i < 60; i++) w.op(0x68, 0, 0x68, 0, 0x86, 0x30, 0x30).op(0x68, 0, 0x68, 0, 0x86, 0x71, 0);
  w.op(0x30).op(0x68, 0).stop();
  const t0 = Date.now();
  readPickle(w.bytes());
  // 300,000 nested lists: the VM has no recursion, so this is just slow-free work
  const deep = new PickleWriter().proto();
  const N = 300_000;
  for (let i = 0; i < N; i++) deep.op(0x5d);
  for (let i = 0; i < N - 1; i++) deep.op(0x61);
  deep.stop();
  const v = readPickle(deep.bytes());
  assert.ok(Array.isArray(v));
  assert.ok(Date.now() - t0 < 5000);
  // a stream of one-byte allocations is cut off by the opcode limit, not by memory
  const many = new Uint8Array(DEFAULT_LIMITS.maxOps + 10).fill(0x5d);
  many[0] = 0x80;
  many[1] = 2;
  pickleFails(many, `more than ${DEFAULT_LIMITS.maxOps} opcodes`);
  // a stack underflow, a MARK left open, leftovers at STOP, an odd SETITEMS
  pickleFails(new PickleWriter().proto().op(0x61).stop().bytes(), 'on an empty stack');
  pickleFails(new PickleWriter().proto().mark().op(0x4e).stop().bytes(), 'STOP with an open MARK');
  pickleFails(new PickleWriter().proto().op(0x4e, 0x4e).stop().bytes(), 'STOP with 2 values');
  pickleFails(new PickleWriter().proto().op(0x7d).mark().op(0x4e).op(0x75).stop().bytes(), 'odd number of items');
  pickleFails(new PickleWriter().proto().op(0x7d, 0x5d, 0x4e, 0x73).stop().bytes(), 'a dict key is a list');
});

test('zip-level damage: truncation at every length, a wrong local header offset, compression, big-endian', async () => {
  const dir = tmpDir();
  const values = Float32Array.from({ length: 6 }, (_, i) => i / 2);
  const good = torchStateDictZip([{ name: 'w', shape: [2, 3], values }]);
  const ok = await readTorchZip(writeZip(dir, 'good.pt', good));
  assert.equal(ok.prefix, 'archive/');
  for (let n = 0; n < good.length; n += 7) {
    const f = writeZip(dir, `t${n}.pt`, good.subarray(0, n));
    await assert.rejects(readTorchZip(f), InherituneError, `prefix of ${n} bytes`);
  }
  // every byte changed in turn: a value or an InherituneError, never another exception
  for (let i = 0; i < good.length; i += 3) {
    const b = Buffer.from(good);
    b[i] ^= 0x5a;
    const f = writeZip(dir, 'm.pt', b);
    try {
      const z = await readTorchZip(f);
      const w = (z.root as PyDict).get?.('w');
      if (w instanceof TorchTensor) await rangeOf(z);
    } catch (e) {
      assert.ok(e instanceof InherituneError, `byte ${i}: ${e}`);
    }
  }
  // the central directory points one byte past the first local header
  const shifted = Buffer.from(good);
  const cd = shifted.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  shifted.writeUInt32LE(1, cd + 42);
  await rejects(readTorchZip(writeZip(dir, 'shift.pt', shifted)), 'no local header at byte 1');
  const pkl = oneTensor(6, [2, 3]);
  await rejects(
    readTorchZip(writeZip(dir, 'defl.pt', storedZip([{ name: 'archive/data.pkl', data: pkl, method: 8 }]))),
    'entry archive/data.pkl is compressed (zip method 8)',
  );
  await rejects(
    readTorchZip(writeZip(dir, 'be.pt', zipWith(pkl, new Uint8Array(24), [{ name: 'archive/byteorder', data: Buffer.from('big') }]))),
    'byteorder is "big"',
  );
  await rejects(readTorchZip(writeZip(dir, 'none.pt', storedZip([{ name: 'x/y.txt', data: Buffer.from('hi') }]))), 'no <archive>/data.pkl');
  await rejects(
    readTorchZip(writeZip(dir, 'text.bin', Buffer.from('version https://git-lfs.github.com/spec/v1\n'))),
    'neither a zip nor a pickle',
  );
  // not a zip: a bare pickle has its refused global named; a harmless one is still not a checkpoint
  await rejects(
    readTorchZip(writeZip(dir, 'bare.pt', new PickleWriter().proto().global('posix', 'system').stop().bytes())),
    'a pickle, not a torch.save zip; at byte 2: refused global posix.system',
  );
  await rejects(
    readTorchZip(writeZip(dir, 'plain.pt', new PickleWriter().proto().int(1000).stop().bytes())),
    'a pickle that is not a PyTorch checkpoint',
  );
  // the pickle's errors carry the file, the entry and the byte
  await rejects(
    readTorchZip(writeZip(dir, 'evil.pt', zipWith(new PickleWriter().proto().global('posix', 'system').stop().bytes(), new Uint8Array(0)))),
    /evil\.pt: archive\/data\.pkl at byte 2: refused global posix\.system/,
  );
});

test('openCheckpoint on a .bin: a state dict that is not one, and a training checkpoint of no known format', async () => {
  const dir = tmpDir();
  const notSd = new PickleWriter()
    .proto()
    .op(0x7d)
    .str('step')
    .int(3)
    .op(0x73)
    .str('w')
    .tensor('0', 'FloatStorage', 1, [1])
    .op(0x73)
    .stop()
    .bytes();
  writeFileSync(path.join(dir, 'pytorch_model.bin'), zipWith(notSd, new Uint8Array(4)));
  writeFileSync(path.join(dir, 'config.json'), '{}');
  await rejects(
    openCheckpoint(path.join(dir, 'pytorch_model.bin')),
    'neither a state dict nor a known training checkpoint (top-level keys: step, w)',
    'nanogpt (keys model, model_args)',
  );
  const list = new PickleWriter().proto().op(0x5d).stop().bytes();
  writeFileSync(path.join(dir, 'x.pt'), zipWith(list, new Uint8Array(0)));
  await rejects(openCheckpoint(path.join(dir, 'x.pt')), 'the pickled object is a list (0), not a state dict');
});

test('Explorer menus offer Analyze Attention and Inherit on .pt/.pth and pytorch_model*.bin, not on token .bin files', () => {
  const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
    contributes: { menus: Record<string, { command: string; when?: string }[]> };
  };
  for (const command of ['inheritune.analyzeAttention', 'inheritune.inheritLayers']) {
    const when = pkg.contributes.menus['explorer/context'].find((m) => m.command === command)!.when!;
    assert.match(when, /resourceExtname == \.pt\b/);
    assert.match(when, /resourceExtname == \.pth\b/);
    const m = /resourceFilename =~ \/(.+?)\/(?=\)|$| )/.exec(when);
    assert.ok(m, when);
    const re = new RegExp(m[1]);
    for (const f of ['pytorch_model.bin', 'pytorch_model-00001-of-00002.bin', 'pytorch_model.bin.index.json'])
      assert.ok(re.test(f), `${command}: ${f}`);
    for (const f of ['train.bin', 'val.bin', 'tokens.bin']) assert.ok(!re.test(f), `${command}: ${f}`);
  }
});

/**
 * A nanoGPT ckpt.pt built here from a synthetic GPT-2: Linear weights stored [out, in], `_orig_mod.` prefixes,
 * lm_head sharing wte's storage, optionally no biases, and an optimizer entry whose storages are absent from the zip.
 */
function nanoGptZip(bias: boolean, modelArgs: Record<string, number | boolean>): Buffer {
  const { tensors } = synthTensors({ family: 'gpt2', numLayers: 2, seed: 5, hidden: 32, heads: 4, vocab: 96, context: 16 });
  const linear = /\.(c_attn|c_proj|c_fc)\.weight$/;
  const p = new PickleWriter().proto().op(0x7d).str('model').global('collections', 'OrderedDict').op(0x29, 0x52).mark();
  const storages: { name: string; data: Uint8Array }[] = [];
  const keep = tensors.filter((t) => bias || !t.name.endsWith('.bias'));
  for (const t of keep) {
    let { values, shape } = t;
    if (linear.test(t.name)) {
      const [r, c] = shape;
      const v = new Float32Array(values.length);
      for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) v[j * r + i] = values[i * c + j];
      values = v;
      shape = [c, r];
    }
    const key = String(storages.length);
    storages.push({ name: `ckpt/data/${key}`, data: new Uint8Array(values.buffer) });
    p.str(`_orig_mod.${t.name}`).tensor(key, 'FloatStorage', values.length, shape);
    if (t.name === 'transformer.wte.weight') p.str('_orig_mod.lm_head.weight').tensor(key, 'FloatStorage', values.length, shape);
  }
  p.op(0x75, 0x73).str('model_args').op(0x7d).mark();
  for (const [k, v] of Object.entries(modelArgs))
    typeof v === 'boolean' ? p.str(k).bool(v) : Number.isInteger(v) ? p.str(k).int(v) : p.str(k).float(v);
  p.op(0x75, 0x73);
  // optimizer state whose storage is not in the zip at all: it must never be looked up
  p.str('optimizer').op(0x7d).str('exp_avg').tensor('999', 'FloatStorage', 4, [4]).op(0x73, 0x73);
  p.str('iter_num').int(250).op(0x73).stop();
  return storedZip([{ name: 'ckpt/data.pkl', data: p.bytes() }, ...storages]);
}

test('a nanoGPT ckpt.pt maps onto gpt2: config from model_args, prefixes stripped, Linear transposed, tied head, zero biases', async () => {
  const dir = tmpDir();
  const st = path.join(dir, 'st');
  await writeSynthCheckpoint(st, { family: 'gpt2', numLayers: 2, seed: 5, hidden: 32, heads: 4, vocab: 96, context: 16 });
  const ref = await openCheckpoint(st);
  const args = { n_layer: 2, n_head: 4, n_embd: 32, block_size: 16, vocab_size: 96, dropout: 0.25 };
  for (const bias of [true, false]) {
    const f = writeZip(dir, `ckpt-${bias}.pt`, nanoGptZip(bias, { ...args, bias }));
    const ck = await openCheckpoint(f);
    assert.equal(ck.spec.family, 'gpt2');
    assert.equal(ck.tied, true);
    assert.ok(!ck.tensors.has('lm_head.weight'));
    assert.deepEqual(
      [
        ck.config.n_layer,
        ck.config.n_head,
        ck.config.n_embd,
        ck.config.n_positions,
        ck.config.vocab_size,
        ck.config.resid_pdrop,
        ck.config.activation_function,
      ],
      [2, 4, 32, 16, 96, 0.25, 'gelu'],
    );
    assert.deepEqual([...ck.tensors.keys()].sort(), [...ref.tensors.keys()].filter((n) => n !== 'lm_head.weight').sort());
    for (const name of ck.tensors.keys()) {
      const want = (await readTensorF32(ref, name)).data;
      const got = (await readTensorF32(ck, name)).data;
      if (!bias && name.endsWith('.bias')) assert.ok(got.every((x) => x === 0) && got.length === want.length, name);
      else assert.deepEqual([...got], [...want], name);
    }
    if (!bias) assert.equal(ck.tensors.get('transformer.h.0.attn.c_attn.bias')!.transform, 'zeros');
    assert.equal(ck.tensors.get('transformer.h.1.mlp.c_fc.weight')!.transform, 'transpose');
  }
  // model_args without a key the config needs
  const { block_size: _b, ...noBlock } = args;
  await rejects(
    openCheckpoint(writeZip(dir, 'nb.pt', nanoGptZip(true, noBlock))),
    '"model_args" has no "block_size", which ckpt (nanogpt) needs for n_positions'.replace('ckpt (nanogpt)', 'nb.pt (nanogpt)'),
  );
});

test('the legacy torch.save format (before PyTorch 1.6) reads back like safetensors; bad counts and truncation are named', async () => {
  const dir = tmpDir();
  const st = path.join(dir, 'st');
  await writeSynthCheckpoint(st, { family: 'gpt2', numLayers: 2, seed: 9, hidden: 32, heads: 4, vocab: 64, context: 16 });
  const { config, tensors } = synthTensors({ family: 'gpt2', numLayers: 2, seed: 9, hidden: 32, heads: 4, vocab: 64, context: 16 });
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  const legacy = legacyStateDict(tensors);
  writeFileSync(path.join(bin, 'pytorch_model.bin'), legacy);
  writeFileSync(path.join(bin, 'config.json'), JSON.stringify(config));
  const a = await openCheckpoint(st);
  const b = await openCheckpoint(bin);
  assert.deepEqual([...b.tensors.keys()].sort(), [...a.tensors.keys()].sort());
  for (const name of a.tensors.keys())
    assert.deepEqual([...(await readTensorF32(b, name)).data], [...(await readTensorF32(a, name)).data], name);
  // the last storage cut short, and a storage whose count header disagrees with the pickle
  writeFileSync(path.join(bin, 'pytorch_model.bin'), legacy.subarray(0, legacy.length - 3));
  await rejects(openCheckpoint(bin), /legacy storage k\d+ \(\d+ × F32\) ends at byte \d+, beyond the end of the file/);
  const bad = Buffer.from(legacy);
  const firstCount = legacy.length - tensors.reduce((a, t) => a + 8 + 4 * t.values.length, 0); // storages follow the pickles
  bad.writeBigInt64LE(bad.readBigInt64LE(firstCount) + 1n, firstCount);
  writeFileSync(path.join(bin, 'pytorch_model.bin'), bad);
  await rejects(openCheckpoint(bin), /legacy storage k0: its header says \d+ elements, the pickle \d+/);
  // every prefix: an InherituneError, never another exception
  for (let n = 0; n < legacy.length; n += Math.max(1, Math.floor(legacy.length / 300))) {
    await assert.rejects(readTorchZip(writeZip(dir, 'cut.bin', legacy.subarray(0, n))), InherituneError, `prefix of ${n} bytes`);
  }
});

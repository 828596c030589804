import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { SPECS } from '../../src/arch/spec';
import { Checkpoint, openCheckpoint, readTensorF32 } from '../../src/checkpoint/checkpoint';
import { InherituneError } from '../../src/errors';
import { readTensorBytes } from '../../src/checkpoint/safetensors';
import { SYNTH_FAMILIES, writeSynthCheckpoint } from '../../src/fixtures/synth';
import { executePlan } from '../../src/surgery/execute';
import { defaultOutDir, validateLayers } from '../../src/surgery/inputs';
import {
  describePlan,
  parseModules,
  planGrow,
  planHalfWidth,
  planInherit,
  planInitRandom,
  planStack,
  rewriteConfig,
} from '../../src/surgery/plan';
import { writeSynthGguf } from '../helpers/ggufModel';
import { tmpDir } from '../helpers/tmp';
import { torchStateDictZip } from '../helpers/torchZip';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/cli.js');
const dir = tmpDir();

before(() => {
  if (!existsSync(CLI)) spawnSync('node', ['esbuild.mjs'], { cwd: ROOT, stdio: 'inherit' });
});

async function bytesOf(c: Checkpoint, name: string): Promise<Buffer> {
  const t = c.tensors.get(name);
  assert.ok(t, `${name} missing in ${c.dir}`);
  return Buffer.from(await readTensorBytes(t));
}

for (const family of SYNTH_FAMILIES) {
  test(`${family}: synth → inherit (default n = k/2) gives a complete checkpoint whose blocks are the reference's bytes`, async () => {
    const ref = path.join(dir, `${family}-ref`);
    await writeSynthCheckpoint(ref, { family, numLayers: 5, seed: 3 });
    const r = await openCheckpoint(ref);
    const plan = planInherit(r);
    assert.equal(plan.numLayers, 2);
    const out = path.join(dir, `${family}-2L`);
    await executePlan(plan, out);
    const c = await openCheckpoint(out); // validates against the spec
    assert.equal(c.dims.numLayers, 2);
    assert.equal(c.config[r.spec.numLayersKey], 2);
    for (const name of c.tensors.keys()) assert.ok((await bytesOf(c, name)).equals(await bytesOf(r, name)), name);
    const prov = JSON.parse(c.metadata.inheritune);
    assert.equal(prov.op, 'inherit');
    assert.equal(prov.preset, 'paper');
    assert.deepEqual(prov.layerMap, ['0<-ref:0', '1<-ref:1']);
    assert.equal(c.metadata.format, 'pt');
  });
}

test('every spec expands to names the synth writer and reader agree on, with no duplicates', () => {
  for (const s of SPECS) {
    const names = s.layer.map((t) => t.name);
    assert.equal(new Set(names).size, names.length, s.family);
    assert.ok(
      names.every((n) => n.includes('{i}')),
      s.family,
    );
    assert.ok(s.presets.paper && s.presets.code, s.family);
  }
  const qwen2 = SPECS.find((s) => s.family === 'qwen2')!;
  assert.ok(qwen2.layer.some((t) => t.name.endsWith('q_proj.bias') && !t.when));
  assert.ok(!qwen2.layer.some((t) => t.name.endsWith('o_proj.bias')));
  const qwen3 = SPECS.find((s) => s.family === 'qwen3')!;
  assert.ok(qwen3.layer.some((t) => t.name.endsWith('q_norm.weight')));
});

test('depth-dependent config fields are cut or clamped to the new depth', () => {
  const spec = SPECS.find((s) => s.family === 'qwen2')!;
  const base = {
    num_hidden_layers: 6,
    max_window_layers: 4,
    layer_types: ['a0', 'a1', 'a2', 'a3', 'a4', 'a5'],
    no_rope_layers: [1, 0, 1, 0, 1, 0],
  };
  const out = rewriteConfig(
    spec,
    base,
    [0, 1, 2].map((layer) => ({ ckptConfig: base, layer })),
  );
  assert.deepEqual(out, { num_hidden_layers: 3, max_window_layers: 3, layer_types: ['a0', 'a1', 'a2'], no_rope_layers: [1, 0, 1] });
  const stacked = rewriteConfig(
    spec,
    base,
    [0, 1, 0, 1].map((layer) => ({ ckptConfig: base, layer })),
  );
  assert.deepEqual(stacked.layer_types, ['a0', 'a1', 'a0', 'a1']);
});

test("preset code re-initialises what the authors' code does (gpt2: wpe and ln_f; llama: embeddings and final norm)", async () => {
  const g = await openCheckpoint(path.join(dir, 'gpt2-ref'));
  const gp = planInherit(g, { layers: 2, preset: 'code', seed: 7 });
  const init = gp.entries.filter((e) => e.source.kind === 'init').map((e) => e.name);
  assert.deepEqual(init, ['transformer.wpe.weight', 'transformer.ln_f.weight', 'transformer.ln_f.bias']);
  const l = await openCheckpoint(path.join(dir, 'llama-ref'));
  const lp = planInherit(l, { layers: 2, preset: 'code' });
  assert.deepEqual(
    lp.entries.filter((e) => e.source.kind === 'init').map((e) => e.name),
    ['model.embed_tokens.weight', 'model.norm.weight'],
  );
  const out = path.join(dir, 'gpt2-code');
  await executePlan(gp, out);
  const c = await openCheckpoint(out);
  const lnf = await readTensorF32(c, 'transformer.ln_f.weight');
  assert.ok(lnf.data.every((v) => v === 1));
  const wpe = await readTensorF32(c, 'transformer.wpe.weight');
  const std = Math.sqrt(wpe.data.reduce((a, v) => a + v * v, 0) / wpe.data.length);
  assert.ok(Math.abs(std - 0.02) < 0.002, `wpe std ${std}`);
  assert.ok(!(await bytesOf(c, 'transformer.wpe.weight')).equals(await bytesOf(g, 'transformer.wpe.weight')));
  assert.ok((await bytesOf(c, 'transformer.wte.weight')).equals(await bytesOf(g, 'transformer.wte.weight')));
});

test('plan snapshot: inherit gpt2 2 of 5 layers, preset code, modules attn', async () => {
  const g = await openCheckpoint(path.join(dir, 'gpt2-ref'));
  const text = describePlan(planInherit(g, { layers: 2, preset: 'code', modules: parseModules('attn') }));
  const snap = path.join(ROOT, 'test/unit/snapshots/inherit-gpt2-code-attn.txt');
  assert.equal(text + '\n', readFileSync(snap, 'utf8'));
});

test("--modules: only the listed sub-modules are copied; the rest take the family init (the paper's ablation)", async () => {
  const l = await openCheckpoint(path.join(dir, 'llama-ref'));
  const plan = planInherit(l, { layers: 2, modules: parseModules('mlp') });
  const kind = (n: string) => plan.entries.find((e) => e.name === n)!.source.kind;
  assert.equal(kind('model.layers.1.mlp.up_proj.weight'), 'copy');
  assert.equal(kind('model.layers.1.self_attn.q_proj.weight'), 'init');
  assert.equal(kind('model.layers.1.input_layernorm.weight'), 'init');
  assert.equal(kind('model.embed_tokens.weight'), 'copy');
  assert.throws(() => parseModules('attn,ffn'), /unknown sub-module "ffn"/);
  assert.equal(parseModules('none').size, 0);
});

test('n larger than the model, n < 1 and a bad preset are refused with the fix', async () => {
  const g = await openCheckpoint(path.join(dir, 'gpt2-ref'));
  assert.throws(
    () => planInherit(g, { layers: 9 }),
    (e: InherituneError) => /--layers = 9 is larger than the model: .* has 5 layers; choose 1\.\.5/.test(e.message),
  );
  assert.throws(() => planInherit(g, { layers: 0 }), /--layers must be a whole number ≥ 1/);
  assert.throws(() => planInherit(g, { preset: 'nope' as 'paper' }), /unknown preset "nope"/);
});

test('grow appends reference blocks n..n+g-1 to the trained blocks; stack doubles; init-random is seeded', async () => {
  const ref = await openCheckpoint(path.join(dir, 'gpt2-ref'));
  const small = await openCheckpoint(path.join(dir, 'gpt2-2L'));
  const grown = path.join(dir, 'gpt2-grown');
  await executePlan(planGrow(small, ref, 2), grown);
  const g = await openCheckpoint(grown);
  assert.equal(g.dims.numLayers, 4);
  assert.ok((await bytesOf(g, 'transformer.h.1.attn.c_attn.weight')).equals(await bytesOf(small, 'transformer.h.1.attn.c_attn.weight')));
  assert.ok((await bytesOf(g, 'transformer.h.3.attn.c_attn.weight')).equals(await bytesOf(ref, 'transformer.h.3.attn.c_attn.weight')));
  assert.throws(() => planGrow(small, ref, 4), /2 \+ 4 layers is larger than the reference .* use --add 3 at most/);
  const llama = await openCheckpoint(path.join(dir, 'llama-ref'));
  assert.throws(() => planGrow(small, llama, 1), /is gpt2 but the reference .* is llama/);

  const stacked = path.join(dir, 'gpt2-stacked');
  await executePlan(planStack(small), stacked);
  const s = await openCheckpoint(stacked);
  assert.equal(s.dims.numLayers, 4);
  for (const j of [0, 1, 2, 3])
    assert.ok(
      (await bytesOf(s, `transformer.h.${j}.mlp.c_fc.weight`)).equals(await bytesOf(small, `transformer.h.${j % 2}.mlp.c_fc.weight`)),
    );

  const r1 = path.join(dir, 'rand-1');
  const r1b = path.join(dir, 'rand-1b');
  const r2 = path.join(dir, 'rand-2');
  await executePlan(planInitRandom(ref, { layers: 2, seed: 1 }), r1);
  await executePlan(planInitRandom(ref, { layers: 2, seed: 1 }), r1b);
  await executePlan(planInitRandom(ref, { layers: 2, seed: 2 }), r2);
  const [a, b, c] = await Promise.all([r1, r1b, r2].map((p) => openCheckpoint(p)));
  const name = 'transformer.h.0.attn.c_attn.weight';
  assert.ok((await bytesOf(a, name)).equals(await bytesOf(b, name)));
  assert.ok(!(await bytesOf(a, name)).equals(await bytesOf(c, name)));
  assert.ok(!(await bytesOf(a, name)).equals(await bytesOf(ref, name)));
  // GPT-2 residual projections use std / sqrt(2 · n_layer) as transformers does.
  const proj = (await readTensorF32(a, 'transformer.h.0.mlp.c_proj.weight')).data;
  const std = Math.sqrt(proj.reduce((x, v) => x + v * v, 0) / proj.length);
  assert.ok(Math.abs(std - 0.02 / Math.sqrt(4)) < 0.001, `c_proj std ${std}`);
});

test('an existing output is refused unless force; force replaces it', async () => {
  const g = await openCheckpoint(path.join(dir, 'gpt2-ref'));
  const out = path.join(dir, 'gpt2-2L');
  await assert.rejects(executePlan(planInherit(g, { layers: 3 }), out), /already exists; choose another output folder or pass --force/);
  assert.equal((await openCheckpoint(out)).dims.numLayers, 2);
  await executePlan(planInherit(g, { layers: 3 }), out, { force: true });
  assert.equal((await openCheckpoint(out)).dims.numLayers, 3);
  await executePlan(planInherit(g, { layers: 2 }), out, { force: true });
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('inheritune-tmp')),
    [],
  );
});

test('cancellation mid-write leaves no target and no temporary folder', async () => {
  const g = await openCheckpoint(path.join(dir, 'gpt2-ref'));
  const out = path.join(dir, 'cancelled');
  const c = new AbortController();
  await assert.rejects(
    executePlan(planInherit(g), out, { signal: c.signal, onProgress: (f) => f > 0.3 && c.abort() }),
    (e: InherituneError) => e.code === 'E_CANCELLED',
  );
  assert.ok(!existsSync(out));
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('inheritune-tmp')),
    [],
  );
});

test('kill -9 mid-write leaves no target (output appears only by rename)', async () => {
  const out = path.join(dir, 'killed');
  const child = spawn(
    'node',
    [CLI, 'synth', '--family', 'gpt2', '--layers', '8', '--hidden', '512', '--heads', '8', '--vocab', '8192', '--out', out],
    { stdio: 'ignore' },
  );
  await new Promise((r) => setTimeout(r, 400));
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  assert.ok(!existsSync(out), 'target must not exist after a kill mid-write');
});

test('SIGINT mid-write: the CLI removes its temporary folder, exits 130 and writes nothing', async () => {
  const sub = tmpDir();
  const out = path.join(sub, 'interrupted');
  const child = spawn(
    'node',
    [CLI, 'synth', '--family', 'gpt2', '--layers', '12', '--hidden', '768', '--heads', '12', '--vocab', '16384', '--out', out],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  // Wait until the temporary folder exists, then interrupt.
  for (let i = 0; i < 100 && !readdirSync(sub).some((f) => f.includes('inheritune-tmp')); i++) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGINT');
  const code = await new Promise((r) => child.on('exit', r));
  assert.equal(code, 130, stderr);
  assert.ok(!existsSync(out));
  assert.deepEqual(readdirSync(sub), []);
});

function cli(...args: string[]) {
  return spawnSync('node', [CLI, ...args], { encoding: 'utf8' });
}

test('CLI: bad input exits 1 with one clear line and no stack trace; --verbose shows it', () => {
  const r = cli('inherit', path.join(dir, 'gpt2-ref'), '--layers', '40', '--out', path.join(dir, 'x'));
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^inheritune: --layers = 40 is larger than the model/);
  const v = cli('--verbose', 'inspect', path.join(dir, 'missing'));
  assert.equal(v.status, 1);
  assert.match(v.stderr, /no such file or folder[\s\S]*at /);
  const bad = path.join(dir, 'bad');
  writeFileSync(path.join(dir, 'bad.safetensors'), Buffer.from([9, 0, 0, 0, 0, 0, 0, 0, 1]));
  const h = cli('inspect', path.join(dir, 'bad.safetensors'));
  assert.equal(h.status, 1);
  assert.ok(!existsSync(bad));
  const u = cli('inherit', path.join(dir, 'gpt2-ref'));
  assert.equal(u.status, 1);
  assert.match(u.stderr, /--out/);
});

test('CLI: inspect --json, inherit, grow, stack, init-random and --dry-run', () => {
  const j = cli('inspect', path.join(dir, 'gpt2-ref'), '--json');
  assert.equal(j.status, 0, j.stderr);
  const s = JSON.parse(j.stdout);
  assert.equal(s.numLayers, 5);
  assert.equal(s.family, 'gpt2');
  const dry = cli('inherit', path.join(dir, 'gpt2-ref'), '--layers', '1', '--out', path.join(dir, 'dry'), '--dry-run');
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /transformer\.h\.0\.ln_1\.weight F32\[64\] <- copy ref:transformer\.h\.0\.ln_1\.weight/);
  assert.ok(!existsSync(path.join(dir, 'dry')));
  const i = cli('inherit', path.join(dir, 'llama-ref'), '--layers', '3', '--out', path.join(dir, 'cli-3L'), '--shard-size', '100KB');
  assert.equal(i.status, 0, i.stderr);
  assert.ok(existsSync(path.join(dir, 'cli-3L', 'model.safetensors.index.json')));
  const g = cli('grow', path.join(dir, 'cli-3L'), '--ref', path.join(dir, 'llama-ref'), '--add', '2', '--out', path.join(dir, 'cli-5L'));
  assert.equal(g.status, 0, g.stderr);
  assert.equal(JSON.parse(cli('inspect', path.join(dir, 'cli-5L'), '--json').stdout).numLayers, 5);
  assert.equal(cli('stack', path.join(dir, 'cli-3L'), '--out', path.join(dir, 'cli-6L')).status, 0);
  assert.equal(JSON.parse(cli('inspect', path.join(dir, 'cli-6L'), '--json').stdout).numLayers, 6);
  assert.equal(cli('init-random', path.join(dir, 'llama-ref'), '--out', path.join(dir, 'cli-rand')).status, 0);
  assert.equal(JSON.parse(cli('inspect', path.join(dir, 'cli-rand'), '--json').stdout).numLayers, 2);
});

test('CLI: --dtype is refused where no source is a .gguf (naming each source and the fix); from a .gguf it sets the written dtype', async () => {
  const sub = path.join(dir, 'dtype');
  const hf = path.join(sub, 'hf');
  const gguf = path.join(sub, 'model.gguf');
  mkdirSync(sub, { recursive: true });
  const src = await writeSynthGguf(hf, gguf, 'llama', {
    family: 'llama',
    numLayers: 4,
    hidden: 32,
    heads: 4,
    kvHeads: 2,
    vocab: 64,
    context: 32,
    seed: 5,
  });
  // the same model as pytorch_model.bin (a PyTorch zip checkpoint) beside its config.json
  const pt = path.join(sub, 'pt');
  mkdirSync(pt);
  copyFileSync(path.join(hf, 'config.json'), path.join(pt, 'config.json'));
  const tensors = [];
  for (const name of src.tensors.keys()) {
    const t = await readTensorF32(src, name);
    tensors.push({ name, shape: t.shape, values: t.data });
  }
  writeFileSync(path.join(pt, 'pytorch_model.bin'), torchStateDictZip(tensors));
  const small = path.join(sub, 'hf-2L');
  assert.equal(cli('inherit', hf, '--layers', '2', '--out', small).status, 0);

  const out = path.join(sub, 'refused');
  const safetensors = (p: string) => `${p} is safetensors`;
  const refusals: [string[], string][] = [
    [['inherit', hf, '--layers', '2'], safetensors(hf)],
    [['inherit', pt, '--layers', '2'], `${pt} is a PyTorch checkpoint`],
    [['grow', small, '--ref', hf, '--add', '1'], `${safetensors(small)} and ${safetensors(hf)}`],
    [['stack', small], safetensors(small)],
    [['half-width', hf], safetensors(hf)],
    [['init-random', hf, '--layers', '2'], safetensors(hf)],
  ];
  for (const [args, what] of refusals) {
    const r = cli(...args, '--dtype', 'f16', '--out', out);
    assert.equal(r.status, 1, `${args[0]}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stderr, `inheritune: --dtype applies to .gguf sources only; ${what}: drop --dtype\n`, args[0]);
    assert.ok(!existsSync(out), `${args[0]} wrote nothing`);
    // without --dtype the same command runs
    assert.equal(cli(...args, '--out', out, '--dry-run').status, 0, args[0]);
  }

  const dtypes = (p: string) => Object.keys(JSON.parse(cli('inspect', p, '--json').stdout).dtypes);
  const inh = path.join(sub, 'gguf-2L-f16');
  const i = cli('inherit', gguf, '--layers', '2', '--dtype', 'f16', '--out', inh);
  assert.equal(i.status, 0, i.stderr);
  assert.deepEqual(dtypes(inh), ['F16']);
  // grow from the trained (safetensors) model and the .gguf reference: --dtype applies to the reference's blocks
  const grown = path.join(sub, 'gguf-3L-f16');
  const g = cli('grow', inh, '--ref', gguf, '--add', '1', '--dtype', 'f16', '--out', grown);
  assert.equal(g.status, 0, g.stderr);
  assert.deepEqual(dtypes(grown), ['F16']);
});

test('CLI: a folder holding one .gguf (no config.json) opens that file in inspect, inherit and analyze; with several, it asks for one', async () => {
  const sub = path.join(dir, 'gguf-folder');
  const only = path.join(sub, 'only');
  mkdirSync(only, { recursive: true });
  const file = path.join(only, 'SmolModel.Q8.gguf');
  await writeSynthGguf(path.join(sub, 'hf'), file, 'llama', {
    family: 'llama',
    numLayers: 3,
    hidden: 32,
    heads: 4,
    kvHeads: 2,
    vocab: 64,
    context: 32,
    seed: 7,
  });
  writeFileSync(path.join(only, 'README.md'), 'a GGUF download\n');

  const viaFolder = cli('inspect', only, '--json');
  assert.equal(viaFolder.status, 0, viaFolder.stderr);
  assert.equal(viaFolder.stdout, cli('inspect', file, '--json').stdout);
  assert.equal(JSON.parse(viaFolder.stdout).path, file);

  const out = path.join(sub, 'inherit-2L');
  const i = cli('inherit', only, '--layers', '2', '--out', out);
  assert.equal(i.status, 0, i.stderr);
  const c = await openCheckpoint(out);
  assert.equal(c.dims.numLayers, 2);
  assert.equal(JSON.parse(c.metadata.inheritune).ref, file, 'provenance names the .gguf file');

  // half-width cannot slice GGUF blocks: its message names the file to convert first
  const hw = cli('half-width', only, '--out', path.join(sub, 'hw'));
  assert.equal(hw.status, 1);
  assert.ok(hw.stderr.includes(`write the reference as safetensors first (inheritune inherit ${file} --layers 3 --out DIR)`), hw.stderr);

  // analyze: the folder gives the file's report (the synthetic file has no tokenizer: token ids from a file)
  const ids = path.join(sub, 'ids.bin');
  writeFileSync(ids, new Uint8Array(Uint16Array.from({ length: 64 }, (_, k) => (k * 5) % 64).buffer));
  const report = (p: string, json: string) => {
    const r = cli('analyze', p, '--tokens', ids, '--seq-len', '8', '--batch', '2', '--ep', 'cpu', '--json', json, '--quiet');
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(readFileSync(json, 'utf8'));
  };
  const a = report(only, path.join(sub, 'folder.json'));
  const b = report(file, path.join(sub, 'file.json'));
  assert.equal(a.model.path, file);
  assert.equal(a.layers.length, 3);
  assert.deepEqual(a.layers, b.layers);

  // several .gguf files: refused, listing them
  copyFileSync(file, path.join(only, 'SmolModel.Q4.gguf'));
  for (const args of [
    ['inspect', only],
    ['inherit', only, '--layers', '2', '--out', path.join(sub, 'x')],
    ['analyze', only, '--tokens', ids],
  ]) {
    const r = cli(...args);
    assert.equal(r.status, 1, args[0]);
    assert.equal(
      r.stderr,
      `inheritune: ${only}: 2 .gguf files (SmolModel.Q4.gguf, SmolModel.Q8.gguf) and no .safetensors weights; ` +
        `give one of the files instead of the folder (e.g. ${path.join(only, 'SmolModel.Q4.gguf')})\n`,
      args[0],
    );
  }
  assert.ok(!existsSync(path.join(sub, 'x')));
});

test('tokenizer and generation files are copied through', async () => {
  const ref = path.join(dir, 'tok-ref');
  await writeSynthCheckpoint(ref, { family: 'gpt2', numLayers: 2 });
  writeFileSync(path.join(ref, 'tokenizer.json'), '{"model": {}}');
  writeFileSync(path.join(ref, 'merges.txt'), '#version: 0.2\n');
  await executePlan(planInherit(await openCheckpoint(ref), { layers: 1 }), path.join(dir, 'tok-1L'));
  assert.deepEqual(readdirSync(path.join(dir, 'tok-1L')).sort(), [
    'config.json',
    'generation_config.json',
    'merges.txt',
    'model.safetensors',
    'tokenizer.json',
  ]);
});

test("the command's n input: 1..k-1, whole numbers; default output beside the reference", () => {
  assert.equal(validateLayers('3', 6), undefined);
  assert.match(validateLayers('6', 6)!, /between 1 and 5/);
  assert.match(validateLayers('0', 6)!, /between 1 and 5/);
  assert.match(validateLayers('2.5', 6)!, /whole number/);
  assert.match(validateLayers('', 6)!, /whole number/);
  assert.equal(defaultOutDir('/models/gpt2-medium', 12), '/models/gpt2-medium-inherit-12L');
});

/** Row-major slice of a 1-D/2-D F32 tensor by the leading runs: an independent re-statement of the documented slice. */
function leading(t: { data: Float32Array; shape: number[] }, keep: number[], parts: number[] = []): number[] {
  const runs = (n: number, k: number, p = 1) =>
    Array.from({ length: p }, (_, i) => Array.from({ length: k / p }, (_, j) => (i * n) / p + j)).flat();
  const idx = t.shape.map((n, a) => runs(n, keep[a], parts[a] ?? 1));
  if (t.shape.length === 1) return idx[0].map((i) => t.data[i]);
  return idx[0].flatMap((r) => idx[1].map((c) => t.data[r * t.shape[1] + c]));
}

test("half-width: full depth at half hidden/heads/kv heads/MLP width, every tensor the reference's leading slice", async () => {
  // gpt2: Conv1D [in, out] with fused q|k|v columns (3 parts); llama: [out, in] with separate q/k/v (GQA 4 → 2 kv heads)
  for (const family of ['gpt2', 'llama', 'gpt_neox']) {
    const ref = path.join(dir, `hw-${family}-ref`);
    await writeSynthCheckpoint(ref, { family, numLayers: 3, hidden: 32, heads: 4, kvHeads: family === 'llama' ? 2 : undefined, seed: 5 });
    const r = await openCheckpoint(ref);
    const out = path.join(dir, `hw-${family}`);
    await executePlan(planHalfWidth(r), out);
    const h = await openCheckpoint(out); // validates every tensor against the halved config
    assert.deepEqual(
      [h.dims.numLayers, h.dims.hidden, h.dims.heads, h.dims.kvHeads, h.dims.headDim, h.dims.inter, h.dims.vocab],
      [3, 16, 2, r.dims.kvHeads / 2, r.dims.headDim, r.dims.inter / 2, r.dims.vocab],
    );
    for (const name of h.tensors.keys()) {
      const a = await readTensorF32(r, name);
      const b = await readTensorF32(h, name);
      const fused = family === 'gpt2' && name.includes('c_attn') ? (b.shape.length === 2 ? [1, 3] : [3]) : [];
      assert.deepEqual([...b.data], leading(a, b.shape, fused), name);
    }
    assert.equal(JSON.parse(h.metadata.inheritune).op, 'half-width');
  }
  const odd = path.join(dir, 'hw-odd');
  await writeSynthCheckpoint(odd, { family: 'llama', numLayers: 2, hidden: 36, heads: 3, kvHeads: 3, seed: 1 });
  await assert.rejects(async () => planHalfWidth(await openCheckpoint(odd)), /half-width needs even sizes, but .*heads = 3/);
});

test('inherit --stride 2: blocks 0, 2, 4 (the DistilBERT student); a stride past the reference is refused', async () => {
  const ref = path.join(dir, 'stride-ref');
  await writeSynthCheckpoint(ref, { family: 'gpt2', numLayers: 6, seed: 2 });
  const r = await openCheckpoint(ref);
  const plan = planInherit(r, { layers: 3, stride: 2 });
  assert.deepEqual(
    plan.layerMap.map((l) => l.layer),
    [0, 2, 4],
  );
  const out = path.join(dir, 'stride-3L');
  await executePlan(plan, out);
  const c = await openCheckpoint(out);
  for (const j of [0, 1, 2])
    assert.ok(
      (await bytesOf(c, `transformer.h.${j}.attn.c_attn.weight`)).equals(await bytesOf(r, `transformer.h.${2 * j}.attn.c_attn.weight`)),
    );
  assert.throws(() => planInherit(r, { layers: 4, stride: 2 }), /--layers 4 --stride 2 needs block 6, .* use --layers 3 at most/);
});

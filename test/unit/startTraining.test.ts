/**
 * Start Training's pure parts: the option table (one rule for tasks.json, `inheritune train` and the form), the form
 * check and estimates, the defaults by device and data size, the data description, the interpreter search, and the
 * package.json task definition against the table.
 *
 *   node --import tsx --test test/unit/startTraining.test.ts
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { checkForm, defaultsFor, FormFields, RefInfo, splitPaths } from '../../src/shared/startTrainingProtocol';
import { INIT_MODES, optionByKey, parseOption, runDefaults, TRAINER_OPTIONS } from '../../src/shared/trainingOptions';
import { buildTrainerInvocation, trainCliArgs, validateSpec } from '../../src/training/command';
import { describeData } from '../../src/training/dataInfo';
import { fromTasksJson } from '../../src/training/cliTrain';
import { findInterpreters } from '../../src/training/interpreters';
import { TRAINING_TASK_PROPERTIES } from '../../src/training/tasksJson';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '..', '..');
const PKG = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

describe('training options', () => {
  test('the task definition in package.json declares every option of the table, with the same bounds', () => {
    const def = PKG.contributes.taskDefinitions.find((d: { type: string }) => d.type === 'inheritune');
    assert.deepEqual(Object.keys(def.properties).sort(), [...TRAINING_TASK_PROPERTIES].sort());
    for (const o of TRAINER_OPTIONS) {
      const p = def.properties[o.key];
      if (o.rule.kind === 'whole') assert.deepEqual([p.type, p.minimum], ['integer', o.rule.min], o.key);
      if (o.rule.kind === 'choice') assert.deepEqual(p.enum, [...o.rule.choices], o.key);
      if (o.rule.kind === 'number') assert.equal(p.type, 'number', o.key);
    }
  });

  test('the trainer accepts every flag of the table, and --init offers exactly its choices', () => {
    // The parser is cli.py plus the option groups strategy.py and distill.py add to it.
    const dir = path.join(ROOT, 'trainer', 'inheritune_trainer');
    const cli = ['cli.py', 'strategy.py', 'distill.py'].map((f) => readFileSync(path.join(dir, f), 'utf8')).join('\n');
    for (const o of TRAINER_OPTIONS) assert.match(cli, new RegExp(`"${o.flag}"`), o.flag);
    assert.match(cli, new RegExp(`"--init", choices=\\[${INIT_MODES.map((m) => `"${m}"`).join(',\\s*')}\\]`));
  });

  test('a spec carries every option by name into the trainer and `inheritune train` arguments', () => {
    const spec = {
      ref: 'r',
      data: ['a.txt', 'notes'],
      out: 'o',
      layers: 2,
      growMode: 'extend' as const,
      init: 'random',
      seqLen: 64,
      batchSize: 4,
      lr: 0.001,
      warmupSteps: 3,
      evalIters: 2,
      valFraction: 0.2,
    };
    assert.deepEqual(trainCliArgs(spec), [
      'train',
      '--ref',
      'r',
      '--data',
      'a.txt',
      'notes',
      '--out',
      'o',
      '--layers',
      '2',
      '--grow-mode',
      'extend',
      '--init',
      'random',
      '--seq-len',
      '64',
      '--batch-size',
      '4',
      '--lr',
      '0.001',
      '--warmup-steps',
      '3',
      '--eval-iters',
      '2',
      '--val-fraction',
      '0.2',
    ]);
    const inv = buildTrainerInvocation({ ...spec, python: 'py', trainerDir: '/t', cliPath: '/ext/dist/cli.js', platform: 'linux' });
    assert.deepEqual(inv.args.slice(0, 9), ['-m', 'inheritune_trainer', 'train', '--ref', 'r', '--data', 'a.txt', 'notes', '--out']);
    assert.equal(inv.env.INHERITUNE_CLI, '/ext/dist/cli.js');
    assert.throws(() => validateSpec({ ...spec, growMode: 'sideways' as never }), /--grow-mode must be one of reinherit, extend/);
    assert.throws(() => validateSpec({ ...spec, valFraction: 1 }), /--val-fraction must be a number > 0 and < 1/);
    assert.throws(() => validateSpec({ ...spec, data: [] }), /--data is required/);
  });

  test('parseOption: blank is unset, numbers are checked against the rule', () => {
    assert.deepEqual(parseOption(optionByKey('seqLen'), ' '), {});
    assert.deepEqual(parseOption(optionByKey('seqLen'), '128'), { value: 128 });
    assert.match(parseOption(optionByKey('seqLen'), '12.5').problem!, /whole number ≥ 1/);
    assert.match(parseOption(optionByKey('lr'), 'fast').problem!, /number > 0/);
    assert.deepEqual(parseOption(optionByKey('lr'), '3e-4'), { value: 3e-4 });
  });
});

describe('defaults and the form check', () => {
  const ref: RefInfo = { path: '/m/smollm2', numLayers: 30, context: 8192, arch: 'llama' };
  const text = { paths: ['corpus'], kind: 'text' as const, bytes: 300 * 1024, files: 3 };

  test('CPU defaults are small (a first run shows learning in minutes); CUDA defaults are the paper-like ones', () => {
    const cpu = runDefaults({ device: 'cpu', numLayers: 30, context: 8192, dataBytes: 300 * 1024 });
    assert.deepEqual([cpu.layers, cpu.seqLen, cpu.batchSize, cpu.stepsPerRound, cpu.evalIters], [15, 128, 8, 100, 4]);
    const gpu = runDefaults({ device: 'cuda', numLayers: 30, context: 8192, dataBytes: 300 * 1024 });
    assert.deepEqual([gpu.seqLen, gpu.batchSize, gpu.stepsPerRound], [1024, 12, 1000]);
    // little text: the window shrinks until a tenth of the tokens holds four of them
    const tiny = runDefaults({ device: 'cpu', numLayers: 4, context: 64, dataBytes: 4000 });
    assert.ok(tiny.seqLen <= 32 && 0.1 * 1000 >= 4 * (tiny.seqLen + 1), String(tiny.seqLen));
  });

  test('checkForm: values typed, limits from the reference and the data, and the estimate', () => {
    const d = defaultsFor({ device: 'cpu' }, ref, text)!;
    const f: FormFields = {
      ref: ref.path,
      data: 'corpus',
      out: 'runs/a',
      devices: '1',
      layers: '15',
      growBy: '1',
      stepsPerRound: '100',
      seqLen: '128',
      batchSize: '8',
      gradAccum: '1',
      lr: '0.001',
      warmupSteps: '10',
      evalInterval: '50',
      evalIters: '4',
      valFraction: '0.1',
      growMode: 'reinherit',
      init: 'inherit',
    };
    const ok = checkForm(f, ref, text, d);
    assert.deepEqual(ok.errors, {});
    assert.equal(ok.values?.seqLen, 128);
    assert.match(ok.estimate!, /≈ 1024 tokens per step \(8 × 1 × 128\); 100 steps per round = 102 K tokens per round/);
    assert.match(ok.estimate!, /seen 1\.5× per round, one pass every ~68 steps/);
    const bad = checkForm({ ...f, layers: '31', seqLen: '9000', lr: '-1', out: ' ' }, ref, text, d);
    assert.match(bad.errors.layers!, /at most the reference's 30 layers/);
    assert.match(bad.errors.seqLen!, /at most the reference's context \(8192\)/);
    assert.match(bad.errors.lr!, /--lr must be a number > 0/);
    assert.equal(bad.errors.out, 'Enter the run folder');
    assert.equal(bad.values, undefined);
    // too little text for the window: the fix is named
    const small = checkForm({ ...f, seqLen: '1024' }, ref, { ...text, bytes: 8000 }, d);
    assert.match(small.errors.seqLen!, /validation share \(~200\) holds no 1025-token window: use a sequence length of at most ~199/);
    const warm = checkForm({ ...f, warmupSteps: '500' }, ref, text, d);
    assert.match(warm.notes.warmupSteps!, /trainer uses 10/);
    assert.deepEqual(splitPaths('a.txt\n b.md ; c'), ['a.txt', 'b.md', 'c']);
  });

  test('checkForm: several machines follow the same rules as inheritune train and the task', () => {
    const d = defaultsFor({ device: 'cpu' }, ref, text)!;
    const f: FormFields = { ref: ref.path, data: 'corpus', out: 'runs/a', devices: '2', seqLen: '128' };
    assert.equal(checkForm(f, ref, text, d).values?.nnodes, undefined, 'blank: one machine');
    const noEndpoint = checkForm({ ...f, nnodes: '2' }, ref, text, d);
    assert.match(noEndpoint.errors.rdzvEndpoint!, /--nnodes 2 needs --rdzv-endpoint host:port/);
    // the CLI and the task refuse the same spec with the same words
    assert.throws(() => validateSpec({ ref: 'r', data: 'd', out: 'o', nnodes: 2 }), { message: noEndpoint.errors.rdzvEndpoint });
    const rank = checkForm({ ...f, nnodes: '2', nodeRank: '2', rdzvEndpoint: '10.0.0.1:29400' }, ref, text, d);
    assert.match(rank.errors.nodeRank!, /--node-rank 2 must be below --nnodes 2/);
    assert.match(checkForm({ ...f, rdzvEndpoint: 'no port' }, ref, text, d).errors.rdzvEndpoint!, /must be host:port/);
    assert.match(checkForm({ ...f, nnodes: 'two' }, ref, text, d).errors.nnodes!, /--nnodes must be a whole number/);
    const ok = checkForm({ ...f, nnodes: '2', nodeRank: '1', rdzvEndpoint: '10.0.0.1:29400', rdzvId: 'exp-3' }, ref, text, d);
    assert.deepEqual(ok.errors, {});
    assert.deepEqual(
      [ok.values?.nnodes, ok.values?.nodeRank, ok.values?.rdzvEndpoint, ok.values?.rdzvId],
      [2, 1, '10.0.0.1:29400', 'exp-3'],
    );
    const args = trainCliArgs({
      ref: 'r',
      data: 'd',
      out: 'o',
      devices: 2,
      nnodes: 2,
      nodeRank: 1,
      rdzvEndpoint: '10.0.0.1:29400',
      rdzvId: 'exp-3',
    });
    assert.deepEqual(args.slice(-10), [
      '--devices',
      '2',
      '--nnodes',
      '2',
      '--node-rank',
      '1',
      '--rdzv-endpoint',
      '10.0.0.1:29400',
      '--rdzv-id',
      'exp-3',
    ]);
  });
});

describe('data and interpreters on disk', () => {
  test('describeData: a bin folder, text files and folders, and what is wrong', async () => {
    const dir = tmpDir('inheritune-data-');
    mkdirSync(path.join(dir, 'bins'));
    writeFileSync(path.join(dir, 'bins', 'train.bin'), Buffer.alloc(2000));
    writeFileSync(path.join(dir, 'bins', 'val.bin'), Buffer.alloc(200));
    mkdirSync(path.join(dir, 'texts', 'sub'), { recursive: true });
    writeFileSync(path.join(dir, 'texts', 'a.txt'), 'x'.repeat(100));
    writeFileSync(path.join(dir, 'texts', 'sub', 'b.jsonl'), 'y'.repeat(50));
    writeFileSync(path.join(dir, 'texts', 'skip.csv'), 'z'.repeat(1000));
    writeFileSync(path.join(dir, 'one.md'), 'w'.repeat(10));
    assert.deepEqual(await describeData(['bins'], dir), { paths: ['bins'], kind: 'bin', bytes: 2200, files: 2, tokens: 1100 });
    assert.deepEqual(await describeData(['texts', 'one.md'], dir), { paths: ['texts', 'one.md'], kind: 'text', bytes: 160, files: 3 });
    assert.match((await describeData(['nope'], dir)).error!, /nope does not exist/);
    assert.match((await describeData(['texts/skip.csv'], dir)).error!, /not a text file the trainer reads/);
    mkdirSync(path.join(dir, 'empty'));
    assert.equal((await describeData(['empty'], dir)).kind, 'empty');
  });

  test('findInterpreters: workspace venvs, conda envs and PATH, each once', () => {
    const dir = tmpDir('inheritune-py-');
    const exe = (p: string) => {
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, '#!/bin/sh\n');
      chmodSync(p, 0o755);
      return p;
    };
    const ws = path.join(dir, 'ws');
    const venv = exe(path.join(ws, '.venv', 'bin', 'python'));
    const nested = exe(path.join(ws, 'proj', 'venv', 'bin', 'python'));
    const conda = exe(path.join(dir, 'home', 'miniconda3', 'envs', 'torch', 'bin', 'python'));
    const base = exe(path.join(dir, 'home', 'miniconda3', 'bin', 'python'));
    const onPath = exe(path.join(dir, 'usr', 'bin', 'python3'));
    const found = findInterpreters([ws], {
      env: { PATH: [path.join(dir, 'usr', 'bin'), path.join(dir, 'usr', 'bin')].join(path.delimiter) },
      home: path.join(dir, 'home'),
      platform: 'linux',
    });
    assert.deepEqual(
      found.map((c) => [c.path, c.source]),
      [
        [venv, 'workspace'],
        [nested, 'workspace'],
        [base, 'conda'],
        [conda, 'conda'],
        [onPath, 'PATH'],
      ],
    );
  });
});

describe('a task rerun reads tasks.json as it is now', () => {
  test('fromTasksJson: the labelled entry replaces the given options; paths resolve against the workspace folder', () => {
    const ws = tmpDir('inheritune-tasks-');
    mkdirSync(path.join(ws, '.vscode'));
    const file = path.join(ws, '.vscode', 'tasks.json');
    writeFileSync(
      file,
      '{ // edited by hand\n "version": "2.0.0", "tasks": [ { "label": "Inheritune: train a", "type": "inheritune", "ref": "tiny", "data": ["texts", "c.jsonl"], "out": "runs/edited", "stepsPerRound": 3, "maxRounds": 1 } ] }',
    );
    const given: { ref: string; data: string | string[]; out: string; stepsPerRound?: number; maxRounds?: number; python: string } = {
      ref: '/old/ref',
      data: 'old',
      out: '/old/out',
      stepsPerRound: 12,
      python: '/py',
    };
    const got = fromTasksJson(file, 'Inheritune: train a', given);
    assert.deepEqual(
      [got.ref, got.data, got.out, got.stepsPerRound, got.maxRounds, got.python],
      [path.join(ws, 'tiny'), [path.join(ws, 'texts'), path.join(ws, 'c.jsonl')], path.join(ws, 'runs', 'edited'), 3, 1, '/py'],
    );
    assert.equal(fromTasksJson(file, 'another label', given), given);
    assert.equal(fromTasksJson(path.join(ws, 'missing.json'), 'Inheritune: train a', given), given);
  });
});

/**
 * Training: metrics/log parsing, tailing, the panel's data model, the trainer command, tasks.json merging, and
 * `inheritune train` run for real on a tiny reference and a synthetic corpus.
 *
 *   node --import tsx --test test/unit/training.test.ts
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import type { MetricPoint } from '../../src/shared/trainingProtocol';
import {
  buildTrainerInvocation,
  checkPythonEnv,
  commandLine,
  findTrainerDir,
  installCommand,
  trainCliArgs,
  validateSpec,
} from '../../src/training/command';
import { defaultRunDir, relativeToFolder, validateTarget, validateWhole } from '../../src/training/inputs';
import { fromRecord, MetricsParser, parseMetricsText } from '../../src/training/metricsParser';
import { MetricsTail, TailSource } from '../../src/training/tail';
import { TRAINING_TASK_PROPERTIES, trainingTasksIn, upsertTask } from '../../src/training/tasksJson';
import {
  buildSeries,
  decimate,
  ema,
  growModeText,
  growthMarkers,
  nearest,
  pointsToCsv,
  summarize,
  targetOf,
} from '../../webview/training/model';
import { outcomeMessage } from '../../src/training/outcome';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '../..');
const TRAINER = path.join(ROOT, 'trainer');

/** What the trainer writes (trainer/inheritune_trainer/metrics.py), abridged from a real 2-round run. */
const JSONL =
  [
    '{"event": "step", "time": 1.0, "step": 1, "round": 1, "layers": 1, "tokens": 64, "train_loss": 5.53, "lr": 0.0006, "tokens_per_s": 9792.9, "grad_norm": 1.78, "qk_grad_norms": [0.0007]}',
    '{"event": "step", "time": 1.1, "step": 2, "round": 1, "layers": 1, "tokens": 128, "train_loss": 5.50, "lr": 0.0005, "tokens_per_s": 7647.9, "grad_norm": 1.50, "qk_grad_norms": [0.0006]}',
    '{"event": "eval", "time": 1.2, "step": 2, "round": 1, "layers": 1, "tokens": 128, "train_loss": 5.52, "val_loss": 5.53, "target": 5.2, "round_end": true}',
    '{"event": "checkpoint", "time": 1.3, "step": 2, "round": 1, "layers": 1, "tokens": 128, "reason": "round", "path": "/x/round-1-1L"}',
    '{"event": "grow", "time": 1.4, "step": 2, "round": 1, "layers": 1, "tokens": 128, "from_layers": 1, "to_layers": 2, "val_loss": 5.53, "target": 5.2, "mode": "reinherit"}',
    '{"event": "step", "time": 1.5, "step": 3, "round": 2, "layers": 2, "tokens": 192, "train_loss": 5.40, "lr": 0.0006, "tokens_per_s": 1011.2, "grad_norm": 1.70, "qk_grad_norms": [0.0006, 0.0006]}',
    '{"event": "step", "time": 1.6, "step": 4, "round": 2, "layers": 2, "tokens": 256, "train_loss": 5.30, "lr": 0.0005, "tokens_per_s": 4062.2, "grad_norm": 1.83, "qk_grad_norms": [0.0006, 0.0006]}',
    '{"event": "eval", "time": 1.7, "step": 4, "round": 2, "layers": 2, "tokens": 256, "train_loss": 5.25, "val_loss": 5.19, "target": 5.2, "round_end": true}',
    '{"event": "done", "time": 1.8, "step": 4, "round": 2, "layers": 2, "tokens": 256, "val_loss": 5.19, "target": 5.2, "reached": true, "summary": "/x/summary.json", "stop_reason": "reached", "wall_time_s": 1.0}',
  ].join('\n') + '\n';

/** nanoGPT's train.py output. */
const NANOGPT_LOG = `Overriding config with config/train_shakespeare_char.py:
tokens per iteration will be: 16,384
step 0: train loss 4.2874, val loss 4.2823
iter 0: loss 4.2654, time 29295.61ms, mfu -100.00%
iter 10: loss 3.2457, time 51.53ms, mfu 7.23%
iter 20: loss 2.7914, time 51.73ms, mfu 7.23%
step 250: train loss 1.9686, val loss 2.0692
saving checkpoint to out-shakespeare-char
iter 250: loss 2.0294, time 7003.47ms, mfu 6.51%
`;

/** Our trainer's stdout (trainer/inheritune_trainer/train.py). */
const INHERITUNE_LOG = `round 1: inherit 1 of 4 layers; global batch 2 x 32 tokens, 3 steps per round
surgery: node dist/cli.js inherit ref --layers 1 --out out/init/round-1-1L --preset paper --seed 1337 --force
iter 1: loss 5.5288, time 15.12ms, lr 6.000e-04, round 1 (1L)
iter 2: loss 5.5322, time 6.99ms, lr 3.300e-04, round 1 (1L)
step 2: train loss 5.5330, val loss 5.5377, target 0.5000 (round 1, 1L, eval 0.0s)
grow: val loss 5.5377 > target 0.5000: 1 -> 2 layers (reinherit)
iter 3: loss 5.5366, time 12.38ms, lr 6.000e-04, round 2 (2L)
step 3: train loss 5.5228, val loss 5.5371, target 0.5000 (round 2, 2L, eval 0.0s)
done: 2 round(s), 2 layers, 3 steps, final val loss 5.5371 vs target 0.5000: not reached (max-rounds); out/summary.json
`;

// ---------------------------------------------------------------------------------------------------------------
describe('metrics parser', () => {
  test('reads the trainer’s metrics.jsonl: every event, camelCased, checkpoint reason as message', () => {
    const r = parseMetricsText(JSONL);
    assert.equal(r.format, 'jsonl');
    assert.equal(r.skipped, 0);
    assert.deepEqual(
      r.points.map((p) => p.event),
      ['step', 'step', 'eval', 'checkpoint', 'grow', 'step', 'step', 'eval', 'done'],
    );
    const s = r.points[0];
    assert.deepEqual(
      {
        step: s.step,
        tokens: s.tokens,
        round: s.round,
        layers: s.layers,
        trainLoss: s.trainLoss,
        lr: s.lr,
        tokensPerS: s.tokensPerS,
        gradNorm: s.gradNorm,
      },
      { step: 1, tokens: 64, round: 1, layers: 1, trainLoss: 5.53, lr: 0.0006, tokensPerS: 9792.9, gradNorm: 1.78 },
    );
    assert.equal(r.points[2].valLoss, 5.53);
    assert.equal(r.points[2].target, 5.2);
    assert.equal(r.points[3].message, 'round');
    assert.deepEqual([r.points[4].fromLayers, r.points[4].toLayers], [1, 2]);
    assert.deepEqual([r.points[8].reached, r.points[8].stopReason], [true, 'reached']);
  });

  test('any chunking gives the same points: partial lines wait for their newline, split UTF-8 too', () => {
    const whole = parseMetricsText(JSONL).points;
    const bytes = new TextEncoder().encode(JSONL.replace('"reinherit"', '"réinherit ✓"'));
    for (const size of [1, 7, 64, 333]) {
      const p = new MetricsParser();
      const dec = new TextDecoder();
      const got: MetricPoint[] = [];
      for (let i = 0; i < bytes.length; i += size) got.push(...p.push(dec.decode(bytes.subarray(i, i + size), { stream: true })));
      got.push(...p.flush());
      assert.equal(got.length, whole.length, `chunk ${size}`);
      assert.deepEqual(
        got.map((q) => [q.event, q.step, q.trainLoss, q.valLoss]),
        whole.map((q) => [q.event, q.step, q.trainLoss, q.valLoss]),
      );
      assert.equal(p.skipped, 0);
    }
  });

  test('a complete JSON object without its newline is taken at once, and not again when the newline comes', () => {
    const p = new MetricsParser();
    const line = '{"event": "step", "step": 7, "train_loss": 3.5}';
    assert.equal(p.push(line).length, 1);
    assert.equal(p.push('\n').length, 0);
    assert.equal(p.push('{"event": "step", "step": 8, "train_lo').length, 0);
    const rest = p.push('ss": 3.4}\n');
    assert.deepEqual(
      rest.map((q) => q.step),
      [8],
    );
    assert.equal(p.skipped, 0);
  });

  test('bad lines are skipped and counted; NaN and Infinity from Python become gaps', () => {
    const text = [
      '{"event": "step", "step": 1, "train_loss": 2.0}',
      'Traceback (most recent call last):',
      '{"event": "step", "step": 2, "train_loss": NaN, "lr": 1e-3}',
      '{"event": "step", "step": 3, "train_lo',
      '{"event": "bogus", "step": 4}',
      '{"event": "step", "train_loss": 1.0}',
      '[1, 2, 3]',
      '{"event": "eval", "step": 5, "val_loss": Infinity, "train_loss": 1.5}',
      '',
    ].join('\n');
    const r = parseMetricsText(text);
    assert.deepEqual(
      r.points.map((p) => p.step),
      [1, 2, 5],
    );
    assert.equal(r.points[1].trainLoss, undefined);
    assert.equal(r.points[1].lr, 1e-3);
    assert.equal(r.points[2].valLoss, undefined);
    assert.equal(r.skipped, 5);
  });

  test('other tools’ JSON lines: the event is inferred', () => {
    assert.equal(fromRecord({ iter: 10, loss: 2.5 })?.event, 'step');
    assert.equal(fromRecord({ step: 10, val_loss: 2.5, train_loss: 2.4 })?.event, 'eval');
    assert.equal(fromRecord({ step: 10, target_val_loss: 3, val_loss: 2 })?.target, 3);
    assert.equal(fromRecord({ foo: 1 }), undefined);
  });

  test('nanoGPT text log: eval lines and iter lines; other output ignored, not counted as bad', () => {
    const r = parseMetricsText(NANOGPT_LOG);
    assert.equal(r.format, 'text');
    assert.equal(r.skipped, 0);
    assert.deepEqual(
      r.points.map((p) => [p.event, p.step, p.trainLoss, p.valLoss ?? null]),
      [
        ['eval', 0, 4.2874, 4.2823],
        ['step', 0, 4.2654, null],
        ['step', 10, 3.2457, null],
        ['step', 20, 2.7914, null],
        ['eval', 250, 1.9686, 2.0692],
        ['step', 250, 2.0294, null],
      ],
    );
    assert.ok(r.points.every((p) => p.tokens === undefined));
  });

  test('Inheritune text log: lr, round and layers, target, growth and done', () => {
    const r = parseMetricsText(INHERITUNE_LOG);
    const ev = r.points.map((p) => p.event);
    assert.deepEqual(ev, ['step', 'step', 'eval', 'grow', 'step', 'eval', 'done']);
    assert.deepEqual([r.points[0].lr, r.points[0].round, r.points[0].layers], [6e-4, 1, 1]);
    assert.equal(r.points[2].target, 0.5);
    assert.deepEqual([r.points[3].step, r.points[3].fromLayers, r.points[3].toLayers], [2, 1, 2]);
    assert.deepEqual([r.points[6].reached, r.points[6].stopReason, r.points[6].valLoss], [false, 'max-rounds', 5.5371]);
    assert.equal(r.skipped, 0);
  });

  test('a metrics line with an unreadable number is counted as bad', () => {
    const r = parseMetricsText('step 5: train loss 4.2x, val loss 4.3\niter 6: loss 4.1, time 3ms\n');
    assert.equal(r.skipped, 1);
    assert.deepEqual(
      r.points.map((p) => p.step),
      [6],
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
class MemoryFile implements TailSource {
  data: Uint8Array | undefined = new Uint8Array(0);
  mtime = 1;
  write(s: string) {
    const add = new TextEncoder().encode(s);
    const old = this.data ?? new Uint8Array(0);
    const n = new Uint8Array(old.length + add.length);
    n.set(old);
    n.set(add, old.length);
    this.data = n;
    this.mtime++;
  }
  replace(s: string | undefined) {
    this.data = s === undefined ? undefined : new TextEncoder().encode(s);
    this.mtime++;
  }
  async stat() {
    return this.data ? { size: this.data.length, mtime: this.mtime } : undefined;
  }
  async read(a: number, b: number) {
    return this.data!.slice(a, b);
  }
}

function follow(file: MemoryFile) {
  const got = { points: [] as MetricPoint[], resets: 0, statuses: [] as string[] };
  const tail = new MetricsTail(file, {
    onReset: () => {
      got.points = [];
      got.resets++;
    },
    onPoints: (p) => got.points.push(...p),
    onStatus: (s) => got.statuses.push(s),
  });
  return { tail, got };
}

describe('tail', () => {
  const lines = JSONL.split('\n');

  test('follows appends, holding a partial last line until it is complete', async () => {
    const f = new MemoryFile();
    const { tail, got } = follow(f);
    await tail.poll();
    f.write(lines[0] + '\n' + lines[1].slice(0, 20));
    await tail.poll();
    assert.deepEqual(
      got.points.map((p) => p.step),
      [1],
    );
    f.write(lines[1].slice(20) + '\n' + lines[2] + '\n');
    await tail.poll();
    assert.deepEqual(
      got.points.map((p) => p.event),
      ['step', 'step', 'eval'],
    );
    await tail.poll(); // nothing new
    assert.equal(got.points.length, 3);
    assert.deepEqual(got.statuses, ['live']);
  });

  test('truncation (the trainer rewrites metrics.jsonl on resume) resets and re-reads', async () => {
    const f = new MemoryFile();
    const { tail, got } = follow(f);
    f.write(lines.slice(0, 5).join('\n') + '\n');
    await tail.poll();
    assert.equal(got.points.length, 5);
    f.replace(lines.slice(0, 2).join('\n') + '\n');
    await tail.poll();
    assert.equal(got.resets, 1);
    assert.equal(got.points.length, 2);
  });

  test('a replaced file (new run, same name, longer) is noticed by its first bytes', async () => {
    const f = new MemoryFile();
    const { tail, got } = follow(f);
    f.write(lines[0] + '\n');
    await tail.poll();
    f.replace(lines[5] + '\n' + lines[6] + '\n');
    await tail.poll();
    assert.equal(got.resets, 1);
    assert.deepEqual(
      got.points.map((p) => p.step),
      [3, 4],
    );
  });

  test('a missing file is waited for; deleting keeps the points until a new file appears', async () => {
    const f = new MemoryFile();
    f.replace(undefined);
    const { tail, got } = follow(f);
    await tail.poll();
    assert.deepEqual(got.statuses, ['waiting']);
    f.replace(lines[0] + '\n');
    await tail.poll();
    assert.equal(got.points.length, 1);
    f.replace(undefined);
    await tail.poll();
    assert.equal(got.points.length, 1);
    f.replace(lines[1] + '\n' + lines[2] + '\n');
    await tail.poll();
    assert.equal(got.resets, 1);
    assert.deepEqual(
      got.points.map((p) => p.step),
      [2, 2],
    );
    assert.deepEqual(got.statuses, ['waiting', 'live', 'waiting', 'live']);
  });

  test('concurrent polls coalesce; restart re-reads from the start', async () => {
    const f = new MemoryFile();
    const { tail, got } = follow(f);
    f.write(JSONL);
    await Promise.all([tail.poll(), tail.poll(), tail.poll()]);
    assert.equal(got.points.length, 9);
    await tail.restart();
    assert.equal(got.points.length, 9);
    assert.equal(got.resets, 1);
  });

  test('read errors are reported and retried on the next poll', async () => {
    const f = new MemoryFile();
    f.write(lines[0] + '\n');
    let fail = true;
    const src: TailSource = { stat: () => f.stat(), read: async (a, b) => (fail ? Promise.reject(new Error('EIO')) : f.read(a, b)) };
    const got: string[] = [];
    const pts: MetricPoint[] = [];
    const tail = new MetricsTail(src, { onReset: () => {}, onPoints: (p) => pts.push(...p), onStatus: (s) => got.push(s) });
    await tail.poll();
    assert.deepEqual(got, ['live', 'error']);
    fail = false;
    await tail.poll();
    assert.equal(pts.length, 1);
    assert.deepEqual(got, ['live', 'error', 'live']);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('panel data model', () => {
  const pts = parseMetricsText(JSONL).points;

  test('series: train from step events, val from evals, LR and tokens/s; against steps or tokens', () => {
    const s = buildSeries(pts, 'step', 0);
    assert.deepEqual(
      s.trainRaw.map((d) => [d.x, d.y]),
      [
        [1, 5.53],
        [2, 5.5],
        [3, 5.4],
        [4, 5.3],
      ],
    );
    assert.deepEqual(s.train, s.trainRaw);
    assert.deepEqual(
      s.val.map((d) => [d.x, d.y]),
      [
        [2, 5.53],
        [4, 5.19],
      ],
    );
    assert.equal(s.lr.length, 4);
    assert.equal(s.tokensPerS.length, 4);
    assert.equal(s.target, 5.2);
    assert.ok(s.hasTokens);
    const t = buildSeries(pts, 'tokens', 0);
    assert.deepEqual(
      t.val.map((d) => d.x),
      [128, 256],
    );
    assert.deepEqual(
      t.growth.map((g) => [g.x, g.layers, g.fromLayers]),
      [[128, 2, 1]],
    );
  });

  test('a text log has no token counts: nothing against tokens, everything against steps', () => {
    const log = parseMetricsText(NANOGPT_LOG).points;
    const t = buildSeries(log, 'tokens', 0);
    assert.equal(t.hasTokens, false);
    assert.equal(t.train.length + t.val.length, 0);
    assert.equal(buildSeries(log, 'step', 0).val.length, 2);
  });

  test('EMA smoothing is debiased (a constant stays constant), 0 is raw, and NaN passes through', () => {
    for (const v of ema([2, 2, 2, 2], 0.9)) assert.ok(Math.abs(v - 2) < 1e-12);
    const raw = [4, 2, 4, 2, 4, 2];
    assert.deepEqual(ema(raw, 0), raw);
    const sm = ema(raw, 0.8);
    assert.equal(sm[0], 4);
    assert.ok(Math.max(...sm.slice(2)) - Math.min(...sm.slice(2)) < 2, 'smoother than the input');
    const withNaN = ema([1, NaN, 1], 0.5);
    assert.ok(Number.isNaN(withNaN[1]));
    assert.equal(withNaN[2], 1);
    const s = buildSeries(pts, 'step', 0.9);
    assert.notDeepEqual(s.train, s.trainRaw);
    assert.deepEqual(s.val, buildSeries(pts, 'step', 0).val, 'validation points are not smoothed');
  });

  test('growth markers come from grow events, or from layer changes when a log has none', () => {
    assert.deepEqual(
      growthMarkers(pts, 'step').map((g) => [g.x, g.layers]),
      [[2, 2]],
    );
    const noGrow = pts.filter((p) => p.event !== 'grow');
    assert.deepEqual(
      growthMarkers(noGrow, 'step').map((g) => [g.x, g.layers, g.fromLayers]),
      [[2, 2, 1]],
    );
    const textLog = parseMetricsText(INHERITUNE_LOG).points;
    assert.deepEqual(
      growthMarkers(textLog, 'step').map((g) => [g.x, g.layers]),
      [[2, 2]],
    );
  });

  test('several runs keep separate series (Inheritune vs random init)', () => {
    const random = parseMetricsText(JSONL.replace(/"train_loss": 5\./g, '"train_loss": 6.').replace(/"event": "grow".*\n/, '')).points;
    const a = buildSeries(pts, 'step', 0);
    const b = buildSeries(random, 'step', 0);
    assert.equal(a.growth.length, 1);
    assert.equal(b.growth.length, 1, 'inferred from the layer change');
    assert.ok(b.trainRaw.every((d, i) => d.y > a.trainRaw[i].y));
  });

  test('target, summary, nearest point', () => {
    assert.equal(targetOf(pts), 5.2);
    assert.equal(targetOf(parseMetricsText(NANOGPT_LOG).points), undefined);
    const s = summarize(pts);
    assert.deepEqual([s.step, s.tokens, s.layers, s.round, s.lastVal, s.bestVal], [4, 256, 2, 2, 5.19, 5.19]);
    assert.deepEqual(s.done, { reached: true, stopReason: 'reached', valLoss: 5.19 });
    assert.equal(summarize([{ event: 'error', step: 3, message: 'boom' }]).error, 'boom');
    const xy = [0, 10, 20, 30].map((x) => ({ x, y: x }));
    assert.equal(nearest(xy, 14)?.x, 10);
    assert.equal(nearest(xy, 16)?.x, 20);
    assert.equal(nearest(xy, 99)?.x, 30);
    assert.equal(nearest([], 1), undefined);
  });

  test('decimation bounds the point count and keeps the extremes', () => {
    const xy = Array.from({ length: 10000 }, (_, i) => ({ x: i, y: Math.sin(i / 50) + (i === 5000 ? 10 : 0) }));
    const d = decimate(xy, 100);
    assert.ok(d.length <= 400, `${d.length}`);
    assert.ok(
      d.some((p) => p.y > 9),
      'the spike survives',
    );
    assert.equal(d[0], xy[0]);
    assert.equal(d[d.length - 1], xy[xy.length - 1]);
    assert.ok(d.every((p, i) => i === 0 || p.x >= d[i - 1].x));
    assert.deepEqual(decimate(xy.slice(0, 50), 100), xy.slice(0, 50));
  });

  test('CSV: one row per point of every run (checkpoints left out), fields quoted when needed', () => {
    const csv = pointsToCsv([
      { label: 'inheritune', path: '/runs/a/metrics.jsonl', points: pts },
      { label: 'random, "init"', path: '/runs/b/log.txt', points: parseMetricsText(NANOGPT_LOG).points },
    ]);
    const rows = csv.trimEnd().split('\n');
    assert.equal(
      rows[0],
      'run,path,event,step,tokens,round,layers,train_loss,val_loss,lr,tokens_per_s,grad_norm,target,from_layers,to_layers,time',
    );
    assert.equal(rows.length, 1 + 8 + 6);
    assert.equal(rows[1], 'inheritune,/runs/a/metrics.jsonl,step,1,64,1,1,5.53,,0.0006,9792.9,1.78,,,,1');
    assert.ok(rows.some((r) => r.startsWith('inheritune,/runs/a/metrics.jsonl,grow,2,128,1,1,,5.53,,,,5.2,1,2,')));
    assert.ok(rows[rows.length - 1].startsWith('"random, ""init""",/runs/b/log.txt,step,250,'));
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('trainer command', () => {
  const base = {
    python: '/venv/bin/python',
    trainerDir: '/ext/trainer',
    ref: 'ref',
    data: 'data',
    out: 'runs/a',
    cwd: '/ws',
    platform: 'linux',
  };

  test('one device: python -m inheritune_trainer train with our options, then the extra ones', () => {
    const inv = buildTrainerInvocation({
      ...base,
      layers: 6,
      growBy: 2,
      stepsPerRound: 500,
      maxRounds: 4,
      targetValLoss: 3.25,
      nodePath: '/usr/bin/node',
      extraArgs: ['--lr', '3e-4', '--layers', '7'],
    });
    assert.equal(inv.command, '/venv/bin/python');
    assert.deepEqual(inv.args, [
      '-m',
      'inheritune_trainer',
      'train',
      '--ref',
      'ref',
      '--data',
      'data',
      '--out',
      'runs/a',
      '--layers',
      '6',
      '--grow-by',
      '2',
      '--steps-per-round',
      '500',
      '--max-rounds',
      '4',
      '--target-val-loss',
      '3.25',
      '--node-bin',
      '/usr/bin/node',
      '--lr',
      '3e-4',
      '--layers',
      '7',
    ]);
    assert.equal(inv.cwd, '/ws');
    assert.equal(inv.env.PYTHONPATH, '/ext/trainer');
    assert.equal(inv.env.PYTHONUNBUFFERED, '1');
  });

  test('K > 1 devices: the repaired torchrun (inheritune_trainer.launch) --standalone --nproc_per_node K -m inheritune_trainer', () => {
    const inv = buildTrainerInvocation({ ...base, devices: 4 });
    assert.deepEqual(inv.args.slice(0, 8), [
      '-m',
      'inheritune_trainer.launch',
      '--standalone',
      '--nproc_per_node',
      '4',
      '-m',
      'inheritune_trainer',
      'train',
    ]);
    assert.equal(buildTrainerInvocation({ ...base, devices: 1 }).args[1], 'inheritune_trainer');
  });

  test('several nodes: --nnodes, the rendezvous endpoint and id; a node rank means the static rendezvous', () => {
    const c10d = buildTrainerInvocation({ ...base, devices: 8, nnodes: 2, rdzvEndpoint: '10.0.0.1:29400' });
    assert.deepEqual(c10d.args.slice(0, 16), [
      '-m',
      'inheritune_trainer.launch',
      '--nnodes',
      '2',
      '--nproc_per_node',
      '8',
      '--rdzv_endpoint',
      '10.0.0.1:29400',
      '--rdzv_backend',
      'c10d',
      '--rdzv_id',
      'inheritune',
      '-m',
      'inheritune_trainer',
      'train',
      '--ref',
    ]);
    const stat = buildTrainerInvocation({ ...base, nnodes: 2, nodeRank: 1, rdzvEndpoint: 'node1:1234', rdzvId: 'job-7' });
    assert.deepEqual(stat.args.slice(0, 16), [
      '-m',
      'inheritune_trainer.launch',
      '--nnodes',
      '2',
      '--nproc_per_node',
      '1',
      '--rdzv_endpoint',
      'node1:1234',
      '--rdzv_backend',
      'static',
      '--node_rank',
      '1',
      '--rdzv_id',
      'job-7',
      '-m',
      'inheritune_trainer',
    ]);
    assert.throws(() => buildTrainerInvocation({ ...base, nnodes: 2 }), /--nnodes 2 needs --rdzv-endpoint/);
    assert.throws(
      () => buildTrainerInvocation({ ...base, nnodes: 2, nodeRank: 2, rdzvEndpoint: 'h:1' }),
      /--node-rank 2 must be below --nnodes 2/,
    );
    assert.throws(() => buildTrainerInvocation({ ...base, nnodes: 2, rdzvEndpoint: 'no-port' }), /--rdzv-endpoint must be host:port/);
    assert.throws(() => buildTrainerInvocation({ ...base, nnodes: 2, rdzvEndpoint: 'h:1', rdzvId: 'a b' }), /--rdzv-id/);
    assert.deepEqual(
      trainCliArgs({ ref: 'r', data: 'd', out: 'o', devices: 2, nnodes: 2, nodeRank: 0, rdzvEndpoint: 'h:5', rdzvId: 'x' }),
      [
        'train',
        '--ref',
        'r',
        '--data',
        'd',
        '--out',
        'o',
        '--devices',
        '2',
        '--nnodes',
        '2',
        '--node-rank',
        '0',
        '--rdzv-endpoint',
        'h:5',
        '--rdzv-id',
        'x',
      ],
    );
  });

  test('PYTHONPATH: the trainer first, the existing entries after it (no duplicate); ; on Windows', () => {
    assert.equal(buildTrainerInvocation({ ...base, basePythonPath: '/a:/ext/trainer:/b' }).env.PYTHONPATH, '/ext/trainer:/a:/b');
    assert.equal(
      buildTrainerInvocation({ ...base, platform: 'win32', trainerDir: 'C:\\ext\\trainer', basePythonPath: 'C:\\x' }).env.PYTHONPATH,
      'C:\\ext\\trainer;C:\\x',
    );
  });

  test('bad options fail fast, naming the option', () => {
    assert.throws(() => buildTrainerInvocation({ ...base, ref: '' }), /--ref is required/);
    assert.throws(() => buildTrainerInvocation({ ...base, layers: 0 }), /--layers must be a whole number ≥ 1/);
    assert.throws(() => buildTrainerInvocation({ ...base, devices: 1.5 }), /--devices/);
    assert.throws(() => buildTrainerInvocation({ ...base, targetValLoss: -1 }), /--target-val-loss/);
    assert.throws(() => validateSpec({ ref: 'r', data: 'd', out: 'o', extraArgs: [1 as unknown as string] }), /extraArgs/);
  });

  test('the task’s CLI arguments: inheritune train ... -- extra', () => {
    assert.deepEqual(trainCliArgs({ ref: 'r', data: 'd', out: 'o', layers: 2, devices: 2, python: 'py', extraArgs: ['--lr', '1e-3'] }), [
      'train',
      '--ref',
      'r',
      '--data',
      'd',
      '--out',
      'o',
      '--layers',
      '2',
      '--devices',
      '2',
      '--python',
      'py',
      '--',
      '--lr',
      '1e-3',
    ]);
    assert.deepEqual(trainCliArgs({ ref: 'r', data: 'd', out: 'o' }), ['train', '--ref', 'r', '--data', 'd', '--out', 'o']);
  });

  test('the trainer folder is found from dist/ and from src/training/; display quoting', () => {
    assert.equal(findTrainerDir(path.join(ROOT, 'dist')), TRAINER);
    assert.equal(findTrainerDir(path.join(ROOT, 'src', 'training')), TRAINER);
    assert.equal(findTrainerDir('/'), undefined);
    assert.equal(commandLine('python', ['-c', "print('a b')"], 'linux'), `python -c 'print('\\''a b'\\'')'`);
    assert.equal(
      installCommand('/my env/python', '/ext/trainer', 'linux'),
      "'/my env/python' -m pip install -r /ext/trainer/requirements.txt",
    );
  });

  test('checkPythonEnv: a missing interpreter, and one without torch, say what to do', async () => {
    const none = await checkPythonEnv('/nonexistent/python3', TRAINER);
    assert.equal(none.ok, false);
    assert.equal(!none.ok && none.reason, 'no-python');
    // A stand-in interpreter that reports both packages missing, as the check's script prints it.
    const fake = path.join(tmpDir(), 'python');
    writeFileSync(
      fake,
      '#!/bin/sh\necho "missing torch No module named torch"\necho "missing transformers No module named transformers"\necho "exe /fake/python"\nexit 3\n',
      { mode: 0o755 },
    );
    const r = await checkPythonEnv(fake, TRAINER);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.reason, 'missing-packages');
      assert.equal(r.installCommand, `${fake} -m pip install -r ${path.join(TRAINER, 'requirements.txt')}`);
      assert.match(r.message, /lacks torch and transformers/);
    }
  });
});

describe('setup inputs and tasks.json', () => {
  test('validation of n, G, T, devices and the target', () => {
    assert.equal(validateWhole('6', 'n', 1, 12), undefined);
    assert.match(validateWhole('13', 'n', 1, 12)!, /between 1 and 12/);
    assert.match(validateWhole('x', 'T', 1)!, /whole number/);
    assert.match(validateWhole('', 'T', 1)!, /Enter T/);
    assert.equal(validateTarget(''), undefined);
    assert.equal(validateTarget('3.2'), undefined);
    assert.match(validateTarget('-1')!, /positive/);
  });

  test('default run folder is unique; paths inside the workspace are stored relative', () => {
    const taken = new Set(['/ws/runs/gpt2-inheritune-n6g1', '/ws/runs/gpt2-inheritune-n6g1-2']);
    assert.equal(
      defaultRunDir('/ws', '/models/gpt2', 6, 1, (p) => taken.has(p)),
      '/ws/runs/gpt2-inheritune-n6g1-3',
    );
    assert.equal(relativeToFolder('/ws/runs/a', '/ws'), 'runs/a');
    assert.equal(relativeToFolder('/elsewhere/a', '/ws'), '/elsewhere/a');
  });

  test('tasks.json: created, merged keeping comments, replaced by label; an unreadable file is an error', () => {
    const task = { label: 'Inheritune: train a', type: 'inheritune', ref: 'ref', data: 'data', out: 'runs/a', problemMatcher: [] };
    const created = JSON.parse(upsertTask(undefined, task));
    assert.deepEqual(created, { version: '2.0.0', tasks: [task] });
    const existing =
      '{\n  // build first\n  "version": "2.0.0",\n  "tasks": [\n    { "label": "build", "type": "shell", "command": "make" },\n  ],\n}\n';
    const merged = upsertTask(existing, task);
    assert.match(merged, /\/\/ build first/);
    assert.match(merged, /"label": "build"/);
    assert.match(merged, /"label": "Inheritune: train a"/);
    const again = upsertTask(merged, { ...task, out: 'runs/b' });
    assert.equal((again.match(/Inheritune: train a/g) ?? []).length, 1);
    assert.match(again, /"out": "runs\/b"/);
    assert.match(upsertTask('{ "version": "2.0.0" }', task), /"tasks": \[/);
    assert.throws(() => upsertTask('{ "tasks": [ ', task), /tasks\.json cannot be read/);
  });

  test('tasks.json entries of type inheritune are read back with their declared properties only', () => {
    const text = upsertTask(
      '{ // c\n "tasks": [ { "label": "sh", "type": "shell", "command": "x" }, { "label": "bad", "type": "inheritune", "ref": "r" } ] }',
      {
        label: 'a',
        type: 'inheritune',
        ref: 'r',
        data: 'd',
        out: 'o',
        layers: 2,
        extraArgs: ['--lr', '1'],
        problemMatcher: [],
        group: 'build',
      },
    );
    assert.deepEqual(trainingTasksIn(text), [
      { label: 'a', definition: { type: 'inheritune', ref: 'r', data: 'd', out: 'o', layers: 2, extraArgs: ['--lr', '1'] } },
    ]);
    assert.deepEqual(trainingTasksIn('not json'), []);
  });

  test('the task type’s properties in package.json are the ones the provider reads', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const def = pkg.contributes.taskDefinitions.find((d: { type: string }) => d.type === 'inheritune');
    assert.deepEqual(Object.keys(def.properties).sort(), [...TRAINING_TASK_PROPERTIES].sort());
    assert.deepEqual(def.required, ['ref', 'data', 'out']);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// `inheritune train` for real: a 4-layer synthetic gpt2 reference, a synthetic corpus, 2 rounds of 3 steps.

const PYTHON = process.env.INHERITUNE_PYTHON ?? path.join(ROOT, '.venv', 'bin', 'python');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const hasTorch = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch, transformers'], { timeout: 120_000 }).status === 0;

/** `inheritune train` through dist/cli.js once cli.ts registers it; until then through registerTrainCommand directly. */
function trainCommand(): { cmd: string; args: string[] } {
  const help = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
  if (/^\s+train\b/m.test(help.stdout ?? '')) return { cmd: process.execPath, args: [CLI] };
  const harness =
    "const {Command}=require('commander');const {registerTrainCommand}=require('./src/training/cliTrain.ts');" +
    "const p=new Command('inheritune');registerTrainCommand(p,new AbortController().signal);p.parseAsync(process.argv.slice(1),{from:'user'});";
  return { cmd: process.execPath, args: ['--import', 'tsx', '-e', harness] };
}

describe(
  'inheritune train (real trainer)',
  { skip: hasTorch ? false : `no Python with torch and transformers at ${PYTHON} (set INHERITUNE_PYTHON)` },
  () => {
    const dir = tmpDir('inheritune-train-');
    const ref = path.join(dir, 'ref');
    const data = path.join(dir, 'data');

    before(() => {
      if (!existsSync(CLI)) spawnSync(process.execPath, ['esbuild.mjs'], { cwd: ROOT, stdio: 'inherit' });
      const a = spawnSync(
        process.execPath,
        [CLI, 'synth', '--layers', '4', '--hidden', '32', '--heads', '2', '--vocab', '256', '--context', '64', '--out', ref],
        { encoding: 'utf8' },
      );
      assert.equal(a.status, 0, a.stderr);
      const b = spawnSync(PYTHON, ['-m', 'inheritune_trainer', 'synth', '--out', data, '--tokens', '20000', '--vocab-size', '256'], {
        encoding: 'utf8',
        env: { ...process.env, PYTHONPATH: TRAINER },
      });
      assert.equal(b.status, 0, b.stderr);
    });

    const run = (args: string[], timeout = 240_000) => {
      const t = trainCommand();
      return spawnSync(t.cmd, [...t.args, 'train', ...args], { cwd: ROOT, encoding: 'utf8', timeout });
    };
    const small = ['--', '--batch-size', '2', '--seq-len', '32', '--eval-iters', '2', '--warmup-steps', '1'];

    test('trains two rounds, grows once, writes metrics.jsonl; exit code 0', () => {
      const out = path.join(dir, 'run');
      const r = run([
        '--ref',
        ref,
        '--data',
        data,
        '--out',
        out,
        '--layers',
        '1',
        '--grow-by',
        '1',
        '--steps-per-round',
        '3',
        '--max-rounds',
        '2',
        '--target-val-loss',
        '0.01',
        '--python',
        PYTHON,
        ...small,
      ]);
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      const { points, skipped } = parseMetricsText(readFileSync(path.join(out, 'metrics.jsonl'), 'utf8'));
      assert.equal(skipped, 0);
      assert.ok(points.length >= 2);
      const s = buildSeries(points, 'step', 0);
      assert.equal(s.trainRaw.length, 6);
      // an eval at the start of each round (the inherited / grown model before training) and one at its end
      assert.equal(s.val.length, 4);
      // each round's start is marked (step 0 and step 3, the growth boundary), and the growth says how it grew
      assert.deepEqual(
        s.roundStarts.map((r) => [r.x, r.round, r.layers]),
        [
          [0, 1, 1],
          [3, 2, 2],
        ],
      );
      assert.equal(s.growth[0].mode, 'reinherit');
      assert.equal(s.target, 0.01);
      assert.deepEqual(
        s.growth.map((g) => g.layers),
        [2],
      );
      assert.equal(summarize(points).done?.stopReason, 'max-rounds');
      // The trainer's own stdout is a log the panel reads too.
      const fromLog = parseMetricsText(r.stdout);
      assert.equal(buildSeries(fromLog.points, 'step', 0).val.length, 4);
    });

    test('the trainer’s exit code is ours: an error (bad data folder) exits 2', () => {
      const r = run([
        '--ref',
        ref,
        '--data',
        path.join(dir, 'nope'),
        '--out',
        path.join(dir, 'bad'),
        '--python',
        PYTHON,
        '--no-check',
        ...small,
      ]);
      assert.equal(r.status, 2, `${r.stdout}\n${r.stderr}`);
    });

    test('--dry-run prints the command; a missing interpreter exits 1 with what to do', () => {
      const d = run([
        '--ref',
        ref,
        '--data',
        data,
        '--out',
        path.join(dir, 'x'),
        '--devices',
        '2',
        '--python',
        PYTHON,
        '--dry-run',
        '--',
        '--lr',
        '1e-3',
      ]);
      assert.equal(d.status, 0, d.stderr);
      assert.match(d.stdout, /-m inheritune_trainer\.launch --standalone --nproc_per_node 2 -m inheritune_trainer train .* --lr 1e-3/);
      assert.match(d.stdout, new RegExp(`PYTHONPATH=${TRAINER}`));
      const m = run(['--ref', ref, '--data', data, '--out', path.join(dir, 'y'), '--python', '/nonexistent/python']);
      assert.equal(m.status, 1);
      assert.match(m.stderr, /cannot run Python/);
    });

    test('Ctrl-C reaches the trainer once: it saves its state and we exit 130', async () => {
      const out = path.join(dir, 'interrupted');
      const t = trainCommand();
      const child = spawn(
        t.cmd,
        [
          ...t.args,
          'train',
          '--ref',
          ref,
          '--data',
          data,
          '--out',
          out,
          '--layers',
          '1',
          '--steps-per-round',
          '100000',
          '--python',
          PYTHON,
          '--no-check',
          '--',
          '--batch-size',
          '2',
          '--seq-len',
          '32',
          '--eval-iters',
          '2',
          '--log-interval',
          '10',
        ],
        {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      child.stdout.on('data', (b) => (output += b));
      child.stderr.on('data', (b) => (output += b));
      const code = await new Promise<number | null>((resolve) => {
        const timer = setInterval(() => {
          if (/iter \d+: loss/.test(output)) {
            clearInterval(timer);
            child.kill('SIGINT');
          }
        }, 100);
        child.on('exit', (c) => {
          clearInterval(timer);
          resolve(c);
        });
      });
      assert.equal(code, 130, output);
      assert.match(output, /state saved/);
      assert.ok(existsSync(path.join(out, 'resume', 'state.json')));
    });
  },
);

describe('round starts, grow modes and the run outcome', () => {
  const jsonl = [
    '{"event": "eval", "time": 1, "step": 0, "round": 1, "layers": 2, "tokens": 0, "train_loss": 9.8, "val_loss": 9.9, "target": 3.0, "round_end": false, "round_start": true}',
    '{"event": "step", "time": 2, "step": 1, "round": 1, "layers": 2, "tokens": 64, "train_loss": 9.7, "lr": 0.001, "tokens_per_s": 10, "grad_norm": 1, "qk_grad_norms": [0, 0]}',
    '{"event": "eval", "time": 3, "step": 1, "round": 1, "layers": 2, "tokens": 64, "train_loss": 6.1, "val_loss": 6.2, "target": 3.0, "round_end": true, "round_start": false}',
    '{"event": "grow", "time": 4, "step": 1, "round": 1, "layers": 2, "tokens": 64, "from_layers": 2, "to_layers": 3, "val_loss": 6.2, "target": 3.0, "mode": "reinherit"}',
    '{"event": "eval", "time": 5, "step": 1, "round": 2, "layers": 3, "tokens": 64, "train_loss": 9.5, "val_loss": 9.6, "target": 3.0, "round_end": false, "round_start": true}',
    '{"event": "done", "time": 6, "step": 1, "round": 2, "layers": 3, "tokens": 64, "val_loss": 5.0, "target": 3.0, "reached": false, "summary": "/r/summary.json", "stop_reason": "max-rounds", "wall_time_s": 1}',
  ].join('\n');

  test('metrics.jsonl: round_start, the grow mode and the summary path are read', () => {
    const { points } = parseMetricsText(jsonl);
    assert.deepEqual(
      points.filter((p) => p.roundStart).map((p) => [p.step, p.round, p.valLoss]),
      [
        [0, 1, 9.9],
        [1, 2, 9.6],
      ],
    );
    assert.equal(points.find((p) => p.event === 'grow')?.mode, 'reinherit');
    assert.equal(points.find((p) => p.event === 'done')?.summary, '/r/summary.json');
    const s = buildSeries(points, 'step', 0);
    assert.deepEqual(s.roundStarts, [
      { x: 0, y: 9.9, round: 1, layers: 2 },
      { x: 1, y: 9.6, round: 2, layers: 3 },
    ]);
    assert.equal(growModeText(s.growth[0].mode), 'reinherit: a fresh model from the reference');
  });

  test('the trainer stdout: the start-of-round eval and the grow mode', () => {
    const { points } = parseMetricsText(
      'step 0: train loss 9.8000, val loss 9.9000, target 3.0000 (start of round 1, 2L, eval 0.1s)\n' +
        'grow: val loss 6.2000 > target 3.0000: 2 -> 3 layers (extend)\n',
    );
    assert.deepEqual([points[0].event, points[0].roundStart, points[0].round, points[0].layers], ['eval', true, 1, 2]);
    assert.equal(points[1].mode, 'extend');
  });

  test('the end-of-run message: outcome, final val loss against the target, layers', () => {
    assert.equal(
      outcomeMessage({ reached: true, final_val_loss: 2.91234, target: 3, layers: 17, num_rounds: 3 }),
      'Training reached the target: final val loss 2.9123 ≤ target 3.0000 with 17 layers, 3 rounds.',
    );
    assert.equal(
      outcomeMessage({ reached: false, stop_reason: 'max-rounds', final_val_loss: 4.5, target: 3, layers: 16, num_rounds: 1 }),
      'Training ended without reaching the target (max-rounds): final val loss 4.5000 vs target 3.0000 with 16 layers, 1 round.',
    );
  });
});

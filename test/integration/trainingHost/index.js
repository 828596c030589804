// Extension-host entry (extensionTestsPath) for the training smoke check: Start Training without prompts on a tiny
// fixture, the task's exit code, tasks.json, the panel's points, Open Training Panel on a text log. No mocha: plain
// checks, one JSON line per check to $INHERITUNE_TRAINING_RESULTS. Driven by test/integration/trainingHost.mjs.
'use strict';
const fs = require('fs');
const path = require('path');
const vscode = require('vscode');

const out = process.env.INHERITUNE_TRAINING_RESULTS;
const record = (o) => out && fs.appendFileSync(out, JSON.stringify(o) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function check(title, fn) {
  const t0 = Date.now();
  try {
    await fn();
    record({ event: 'pass', title, ms: Date.now() - t0 });
  } catch (e) {
    record({ event: 'fail', title, ms: Date.now() - t0, err: String((e && e.stack) || e) });
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function until(what, fn, ms = 120000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

function trainingTabs() {
  return vscode.window.tabGroups.all
    .flatMap((g) => g.tabs)
    .filter((t) => t.input instanceof vscode.TabInputWebview && /inheritune\.trainingPanel/.test(t.input.viewType));
}

exports.run = async function run() {
  const ws = vscode.workspace.workspaceFolders[0].uri.fsPath;
  const python = process.env.INHERITUNE_TRAINING_PYTHON;
  await check('Start Training (no prompts) runs the task to exit 0 and opens the panel', async () => {
    const ended = new Promise((resolve) => {
      const d = vscode.tasks.onDidEndTaskProcess((e) => {
        if (e.execution.task.definition.type === 'inheritune') {
          d.dispose();
          resolve(e.exitCode);
        }
      });
    });
    const exec = await vscode.commands.executeCommand('inheritune.startTraining', {
      ref: path.join(ws, 'ref'),
      data: path.join(ws, 'data'),
      out: path.join(ws, 'runs', 'smoke'),
      layers: 1,
      growBy: 1,
      stepsPerRound: 3,
      maxRounds: 2,
      targetValLoss: 0.01,
      python,
      prompt: false,
      extraArgs: ['--batch-size', '2', '--seq-len', '32', '--eval-iters', '2', '--warmup-steps', '1'],
    });
    assert(exec && exec.task, `the command returned ${exec} instead of a TaskExecution`);
    assert(exec.task.definition.type === 'inheritune', 'wrong task type');
    const code = await Promise.race([ended, sleep(180000).then(() => 'timeout')]);
    if (code !== 0) {
      // Run the same command line again to show why.
      const x = exec.task.execution;
      const r = require('child_process').spawnSync(x.process, x.args, {
        cwd: x.options && x.options.cwd,
        env: { ...process.env, ...((x.options && x.options.env) || {}) },
        encoding: 'utf8',
      });
      throw new Error(`task exit code ${code}: ${x.process} ${x.args.join(' ')}\n${r.stdout}\n${r.stderr}`);
    }
    const tasks = fs.readFileSync(path.join(ws, '.vscode', 'tasks.json'), 'utf8');
    assert(/"type": "inheritune"/.test(tasks) && /"out": "runs\/smoke"/.test(tasks), `tasks.json: ${tasks}`);
    assert(/\/\/ kept comment/.test(tasks), 'the comment in tasks.json was lost');
    const metrics = fs
      .readFileSync(path.join(ws, 'runs', 'smoke', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n');
    assert(metrics.length >= 2, `${metrics.length} metrics lines`);
    await until('the training panel tab', () => trainingTabs().length > 0, 20000);
  });
  await check('Open Training Panel on a text log returns the panel, which holds its points', async () => {
    const log = path.join(ws, 'train.log');
    fs.writeFileSync(
      log,
      'step 0: train loss 4.2874, val loss 4.2823\niter 0: loss 4.2654, time 29.6ms\niter 10: loss 3.2457, time 51.5ms\n',
    );
    const panel = await vscode.commands.executeCommand('inheritune.openTrainingPanel', vscode.Uri.file(log));
    assert(panel && typeof panel.pointCounts === 'function', 'the command did not return the panel');
    const counts = await until(
      'points of train.log',
      () => {
        const c = panel.pointCounts();
        return c[vscode.Uri.file(log).toString()] === 3 ? c : undefined;
      },
      20000,
    );
    assert(Object.keys(counts).length >= 2, `runs: ${JSON.stringify(counts)}`);
    fs.appendFileSync(log, 'iter 20: loss 2.79, time 51.7ms\n');
    await until('the appended line', () => panel.pointCounts()[vscode.Uri.file(log).toString()] === 4, 20000);
  });
  await check('a tasks.json entry is a task that runs node dist/cli.js train (python3 without torch: exit 3)', async () => {
    const t = await until(
      'the tasks.json entry among the tasks',
      async () => (await vscode.tasks.fetchTasks({ type: 'inheritune' })).find((x) => x.name === 'preset'),
      30000,
    );
    const x = t.execution;
    assert(x && x.args.some((a) => /dist[\\/]cli\.js$/.test(a)) && x.args.includes('train'), `execution: ${JSON.stringify(x)}`);
    const ended = new Promise((resolve) => {
      const d = vscode.tasks.onDidEndTaskProcess((e) => {
        if (e.execution.task.name === 'preset') {
          d.dispose();
          resolve(e.exitCode);
        }
      });
    });
    await vscode.tasks.executeTask(t);
    const code = await Promise.race([ended, sleep(60000).then(() => 'timeout')]);
    const pyOk = require('child_process').spawnSync('python3', ['-c', 'import torch, transformers']).status === 0;
    assert(pyOk || code === 3, `exit code ${code} (expected 3: python3 lacks torch)`);
  });
  record({ event: 'end' });
};

// Inheritune Studio inside the real extension host (code-server's Node host or desktop VS Code's Electron host).
// The workspace folder holds the fixtures that test/e2e/lib/fixtures.mjs generates with the CLI:
// planted/ (gpt2, 8 layers, 5-7 planted lazy), tiny/, broken/ (model.safetensors cut short).
'use strict';
const assert = require('assert');
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const vscode = require('vscode');

const EXT_ID = 'inheritune.inheritune-studio';
const PLANTED_LAZY = [5, 6, 7];

function workspaceDir() {
  const f = vscode.workspace.workspaceFolders && vscode.workspace.workspaceFolders[0];
  assert.ok(f, 'no workspace folder is open');
  return f.uri.fsPath;
}

function ext() {
  const e = vscode.extensions.getExtension(EXT_ID);
  assert.ok(e, `extension ${EXT_ID} is not loaded`);
  return e;
}

/** `node dist/cli.js inspect <dir> --json` of the extension under test (Electron's host runs it as Node). */
function inspect(dir) {
  const cli = path.join(ext().extensionPath, 'dist', 'cli.js');
  const out = execFileSync(process.execPath, [cli, 'inspect', dir, '--json'], {
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    encoding: 'utf8',
  });
  return JSON.parse(out);
}

async function api() {
  const exports = await ext().activate();
  assert.ok(
    exports && typeof exports.getLastError === 'function',
    `activate() must return { getLastError() } (got ${exports === undefined ? 'undefined' : JSON.stringify(Object.keys(exports))})`,
  );
  return exports;
}

describe('Inheritune Studio in the extension host', function () {
  it('activates and returns its API { getLastError }', async function () {
    const e = ext();
    await api();
    assert.ok(e.isActive);
  });

  it('registers every inheritune.* command that package.json contributes', async function () {
    const contributed = (ext().packageJSON.contributes.commands || []).map((c) => c.command);
    assert.ok(contributed.length > 0, 'package.json contributes no commands');
    await ext().activate();
    const registered = new Set(await vscode.commands.getCommands(true));
    assert.deepStrictEqual(
      contributed.filter((c) => !registered.has(c)),
      [],
      'contributed but not registered',
    );
    const menus = Object.values(ext().packageJSON.contributes.menus || {})
      .flat()
      .map((m) => m.command);
    assert.deepStrictEqual(
      menus.filter((c) => !contributed.includes(c)),
      [],
      'menu entries for commands that are not contributed',
    );
  });

  it('reads every inheritune.analysis.* setting with its declared default', async function () {
    const props = (ext().packageJSON.contributes.configuration || {}).properties || {};
    const keys = Object.keys(props).filter((k) => k.startsWith('inheritune.analysis.'));
    for (const k of ['seqLen', 'batch', 'tau', 'mode', 'executionProvider'])
      assert.ok(keys.includes(`inheritune.analysis.${k}`), `inheritune.analysis.${k} is not contributed`);
    const c = vscode.workspace.getConfiguration();
    for (const k of keys) assert.deepStrictEqual(c.inspect(k).defaultValue, props[k].default, k);
    assert.strictEqual(vscode.workspace.getConfiguration('inheritune.analysis').get('batch'), props['inheritune.analysis.batch'].default);
  });

  it('honours inheritune.analysis.* settings and finds the planted lazy layers', async function () {
    this.timeout(180000);
    const cfg = vscode.workspace.getConfiguration('inheritune.analysis');
    await cfg.update('seqLen', 32, vscode.ConfigurationTarget.Workspace);
    await cfg.update('batch', 2, vscode.ConfigurationTarget.Workspace);
    await cfg.update('executionProvider', 'cpu', vscode.ConfigurationTarget.Workspace);
    await cfg.update('kStarExactUpTo', 2, vscode.ConfigurationTarget.Workspace);
    try {
      const report = await vscode.commands.executeCommand(
        'inheritune.analyzeAttention',
        vscode.Uri.file(path.join(workspaceDir(), 'planted')),
        { settings: {} },
      );
      assert.ok(report, `no report (last error: ${(await api()).getLastError()})`);
      assert.strictEqual(report.settings.seqLen, 32, 'seqLen from the settings');
      assert.strictEqual(report.settings.batch, 2, 'batch from the settings');
      assert.strictEqual(report.executionProvider.used, 'cpu');
      assert.deepStrictEqual(
        report.layers.filter((l) => l.lazy).map((l) => l.index),
        PLANTED_LAZY,
      );
      assert.strictEqual(report.settings.kStarExactUpTo, 2, 'kStarExactUpTo from the settings');
      // (this model's k* are 1 and 5, all certified exactly at once; the CLI tests cover bounded heads)
      for (const l of report.layers) assert.strictEqual(l.boundedHeads, l.heads.filter((h) => h.kStarBounds).length);
    } finally {
      for (const k of ['seqLen', 'batch', 'executionProvider', 'kStarExactUpTo'])
        await cfg.update(k, undefined, vscode.ConfigurationTarget.Workspace);
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    }
  });

  it('inheritLayers(Uri, { layers: 2, preset: "paper", out }) writes a loadable 2-layer checkpoint', async function () {
    this.timeout(120000);
    const out = path.join(workspaceDir(), 'it-inherit-2L');
    fs.rmSync(out, { recursive: true, force: true });
    const ret = await vscode.commands.executeCommand('inheritune.inheritLayers', vscode.Uri.file(path.join(workspaceDir(), 'planted')), {
      layers: 2,
      preset: 'paper',
      out,
    });
    assert.strictEqual(ret, out, `command returned ${ret} (last error: ${(await api()).getLastError()})`);
    const info = inspect(out);
    assert.strictEqual(info.numLayers, 2);
    assert.strictEqual(info.family, 'gpt2');
    assert.strictEqual(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).n_layer, 2);
    assert.strictEqual(info.provenance && info.provenance.op, 'inherit');
  });

  it('inheritLayers on a broken checkpoint: getLastError() names the file', async function () {
    const a = await api();
    const broken = path.join(workspaceDir(), 'broken');
    const out = path.join(workspaceDir(), 'it-broken-out');
    const ret = await vscode.commands.executeCommand('inheritune.inheritLayers', vscode.Uri.file(broken), {
      layers: 2,
      preset: 'paper',
      out,
    });
    assert.strictEqual(ret, undefined);
    assert.match(String(a.getLastError()), /broken[\\/]model\.safetensors/);
    assert.ok(!fs.existsSync(out), 'nothing may be written for a broken reference');
  });

  it('analyzeAttention on a broken checkpoint: getLastError() names the file', async function () {
    this.timeout(120000);
    const a = await api();
    const before = a.getLastError();
    const ret = await vscode.commands.executeCommand('inheritune.analyzeAttention', vscode.Uri.file(path.join(workspaceDir(), 'broken')), {
      settings: {},
    });
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    assert.strictEqual(ret, undefined);
    assert.notStrictEqual(a.getLastError(), before, 'no new error was reported');
    assert.match(String(a.getLastError()), /broken[\\/]model\.safetensors/);
  });
});

/**
 * The report panel's host side against the real analysis worker, with a minimal fake of the `vscode` module: open a
 * panel for a planted checkpoint, see progress and the report posted, ask for a head and get an ArrayBuffer of T×T
 * float32, and check the webview never receives weights. (The in-VS Code integration test drives the real workbench.)
 * Needs the build (dist/worker.js): node esbuild.mjs.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeSynthCheckpoint } from '../../src/fixtures/synth';
import type { ReportHostMessage, ReportWebviewMessage } from '../../src/shared/protocol';

type Listener<T> = (e: T) => void;
class Emitter<T> {
  private ls: Listener<T>[] = [];
  event = (l: Listener<T>) => {
    this.ls.push(l);
    return { dispose: () => (this.ls = this.ls.filter((x) => x !== l)) };
  };
  fire(e: T) {
    for (const l of [...this.ls]) l(e);
  }
  get listeners() {
    return this.ls.length;
  }
}

class FakeUri {
  readonly scheme = 'file';
  constructor(readonly fsPath: string) {}
  static file(p: string) {
    return new FakeUri(p);
  }
  static joinPath(u: FakeUri, ...p: string[]) {
    return new FakeUri(path.join(u.fsPath, ...p));
  }
  toString() {
    return `https://webview.test${this.fsPath}`;
  }
}

const posted: ReportHostMessage[] = [];
const commands: { id: string; args: unknown[] }[] = [];
const panels: {
  fromWebview: Emitter<ReportWebviewMessage>;
  disposed: Emitter<void>;
  dispose: () => void;
  disposeCount: () => number;
  html: string;
}[] = [];

function fakePanel(title: string) {
  const fromWebview = new Emitter<ReportWebviewMessage>();
  const disposed = new Emitter<void>();
  let disposeCount = 0;
  const panel = {
    title,
    iconPath: undefined as unknown,
    webview: {
      html: '',
      options: {},
      cspSource: 'https://webview.test',
      asWebviewUri: (u: FakeUri) => u,
      postMessage: async (m: ReportHostMessage) => {
        posted.push(m);
        return true;
      },
      onDidReceiveMessage: fromWebview.event,
    },
    onDidDispose: disposed.event,
    reveal: () => undefined,
    // as VS Code's: the first dispose fires onDidDispose, later ones do nothing
    dispose: () => {
      if (disposeCount++ === 0) disposed.fire();
    },
  };
  panels.push({
    fromWebview,
    disposed,
    dispose: panel.dispose,
    disposeCount: () => disposeCount,
    get html() {
      return panel.webview.html;
    },
  });
  return panel;
}

const vscodeMock = {
  Uri: FakeUri,
  ViewColumn: { Active: -1 },
  ProgressLocation: { Notification: 15 },
  window: {
    createWebviewPanel: (_type: string, title: string) => fakePanel(title),
    withProgress: async (
      _o: unknown,
      task: (
        p: { report: () => void },
        t: { isCancellationRequested: boolean; onCancellationRequested: () => { dispose(): void } },
      ) => Promise<unknown>,
    ) =>
      task({ report: () => undefined }, { isCancellationRequested: false, onCancellationRequested: () => ({ dispose: () => undefined }) }),
    createOutputChannel: () => ({ appendLine: () => undefined, show: () => undefined, dispose: () => undefined }),
    showErrorMessage: async (m: string) => {
      throw new Error(`unexpected error message: ${m}`);
    },
    showInformationMessage: async () => undefined,
  },
  commands: { executeCommand: async (id: string, ...args: unknown[]) => void commands.push({ id, args }) },
  workspace: {
    getConfiguration: () => ({ get: () => undefined }),
    workspaceFolders: undefined,
    createFileSystemWatcher: (glob: string) => {
      const w = { glob, create: new Emitter<FakeUri>(), del: new Emitter<FakeUri>(), change: new Emitter<FakeUri>() };
      watchers.push(w);
      return { onDidCreate: w.create.event, onDidDelete: w.del.event, onDidChange: w.change.event, dispose: () => undefined };
    },
    findFiles: async (glob: string) =>
      workspaceRoot
        ? walk(workspaceRoot)
            .filter((f) => globMatches(glob, f))
            .map(FakeUri.file)
        : [],
  },
  Disposable: { from: (...ds: { dispose(): void }[]) => ({ dispose: () => ds.forEach((d) => d.dispose()) }) },
};

/** The file watchers the code under test created, to fire their events as VS Code would. */
const watchers: { glob: string; create: Emitter<FakeUri>; del: Emitter<FakeUri>; change: Emitter<FakeUri> }[] = [];
/** The folder findFiles searches. */
let workspaceRoot: string | undefined;
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}
// The glob forms the extension uses (`**/name`, `**/{a,b,*.c}`), on a file name (case-sensitive, as on Linux).
function globMatches(glob: string, file: string): boolean {
  const m = /^\*\*\/(?:\{([^{}]*)\}|([^{}/]*))$/.exec(glob);
  if (!m) throw new Error(`the fake vscode matches **/name and **/{a,b} globs only, not ${glob}`);
  const esc = (x: string) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  return (m[1] ?? m[2]).split(',').some((alt) => new RegExp(`^${alt.split('*').map(esc).join('[^/]*')}$`).test(path.basename(file)));
}

// Route `require('vscode')` to the fake (the host code is CommonJS under tsx).
const M = Module as unknown as { _resolveFilename: (r: string, ...a: unknown[]) => string; _cache: Record<string, unknown> };
const resolve = M._resolveFilename;
M._resolveFilename = function (request: string, ...rest: unknown[]) {
  return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
};
require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: vscodeMock } as unknown as NodeJS.Module;
const { ReportPanel } = require('../../src/views/reportPanel') as typeof import('../../src/views/reportPanel');
const { StartTrainingForm } = require('../../src/views/startTrainingForm') as typeof import('../../src/views/startTrainingForm');
const { Disposable } = require('../../src/views/dispose') as typeof import('../../src/views/dispose');
const { CHECKPOINT_FOLDERS_KEY, HF_CHECKPOINT_FOLDERS_KEY, SCAN_FILES, checkpointFolderKind, registerCheckpointContext } =
  require('../../src/views/checkpointContext') as typeof import('../../src/views/checkpointContext');

const haveWorker = existsSync(path.resolve(__dirname, '../../dist/worker.js'));
let ckpt: string;
let tmp: string;

async function until<T>(f: () => T | undefined, what: string, ms = 60_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe(
  'report panel host (fake vscode, real worker)',
  { skip: haveWorker ? false : 'run node esbuild.mjs first (needs dist/worker.js)' },
  () => {
    before(async () => {
      tmp = mkdtempSync(path.join(os.tmpdir(), 'inheritune-host-'));
      ckpt = await writeSynthCheckpoint(path.join(tmp, 'gpt2-6L'), { family: 'gpt2', numLayers: 6, lazyLayers: [4, 5], std: 0.2 });
    });
    after(() => {
      ReportPanel.disposeAll();
      rmSync(tmp, { recursive: true, force: true });
    });

    test('analyze → progress → report; head request → ArrayBuffer; inherit runs the command', async () => {
      const { panel, done } = ReportPanel.open(FakeUri.file('/ext') as never, { path: ckpt, settings: { seqLen: 32, batch: 2 } });
      const p = panels[panels.length - 1];
      assert.match(p.html, /Content-Security-Policy/);
      assert.match(p.html, /https:\/\/webview\.test\/ext\/dist\/webview\/attention\/main\.js/);
      p.fromWebview.fire({ type: 'ready' });
      const report = await done;
      assert.ok(report, 'the analysis finished');
      assert.deepEqual(
        report.layers.filter((l) => l.lazy).map((l) => l.index),
        [4, 5],
      );
      assert.equal(report.suggestedN, 4);
      assert.ok(posted.some((m) => m.type === 'init'));
      assert.ok(posted.some((m) => m.type === 'progress' && m.fraction > 0));
      assert.ok(posted.some((m) => m.type === 'report'));
      assert.equal(panel.side('a')?.status, 'ready');
      // Nothing posted carries tensor data except head patterns (no weights ever).
      for (const m of posted) if (m.type !== 'headPattern') assert.ok(JSON.stringify(m).length < 200_000);

      p.fromWebview.fire({ type: 'requestHead', requestId: 7, side: 'a', layer: 5, head: 1 });
      const hp = await until(
        () => posted.find((m): m is Extract<ReportHostMessage, { type: 'headPattern' }> => m.type === 'headPattern' && m.requestId === 7),
        'the head pattern',
      );
      assert.equal(hp.T, 32);
      assert.ok(hp.data instanceof ArrayBuffer);
      assert.equal(hp.data.byteLength, 32 * 32 * 4);
      const a = new Float32Array(hp.data);
      // A planted lazy layer: every query on key 0.
      for (let q = 0; q < 32; q++) assert.ok(a[q * 32] > 0.99, `row ${q}: ${a[q * 32]}`);

      p.fromWebview.fire({ type: 'requestHead', requestId: 8, side: 'a', layer: 99, head: 0 });
      const err = await until(() => posted.find((m) => m.type === 'headPatternError' && m.requestId === 8), 'the head error');
      assert.equal(err.type, 'headPatternError');

      p.fromWebview.fire({ type: 'inherit', side: 'a', layers: 4 });
      const c = await until(() => commands.find((x) => x.id === 'inheritune.inheritLayers'), 'the inherit command');
      assert.equal((c.args[0] as FakeUri).fsPath, report.model.path);
      assert.deepEqual(c.args[1], { layers: 4 });
    });

    test('Compare takes the report of the same checkpoint, input and settings instead of analyzing it again', async () => {
      const first = ReportPanel.get(ckpt)?.side('a')?.report;
      assert.ok(first, 'the report of the first test');
      const child = await writeSynthCheckpoint(path.join(tmp, 'gpt2-3L'), { family: 'gpt2', numLayers: 3, std: 0.2 });
      const from = posted.length;
      const cmp = ReportPanel.open(
        FakeUri.file('/ext') as never,
        { path: ckpt, settings: { seqLen: 32, batch: 2 } },
        { b: { path: child, settings: { seqLen: 32, batch: 2 } } },
      );
      panels[panels.length - 1].fromWebview.fire({ type: 'ready' });
      await cmp.done;
      assert.equal(cmp.panel.side('a')?.report?.createdAt, first.createdAt, 'side A is the earlier report');
      const fresh = posted.slice(from);
      assert.ok(!fresh.some((m) => m.type === 'progress' && m.side === 'a' && m.fraction > 0), 'no analysis progress for A');
      assert.ok(
        fresh.some((m) => m.type === 'progress' && m.side === 'b' && m.fraction > 0),
        'B is analyzed',
      );
      assert.equal(cmp.panel.side('b')?.report?.model.numLayers, 3);
      // "Re-run"/Retry asks for a fresh analysis: A runs again.
      const before = posted.length;
      const again = await cmp.panel.analyze('a', true);
      assert.notEqual(again?.createdAt, first.createdAt);
      assert.ok(posted.slice(before).some((m) => m.type === 'progress' && m.side === 'a' && m.fraction > 0));
      cmp.panel.dispose();
    });

    test('one panel per checkpoint; a reload restores from the webview state and marks an interrupted run', async () => {
      const again = ReportPanel.open(FakeUri.file('/ext') as never, {
        path: path.join(ckpt, 'config.json'),
        settings: { seqLen: 32, batch: 2 },
      });
      assert.equal(ReportPanel.get(ckpt), again.panel, 'config.json of the same checkpoint reuses the panel');
      await again.done;
      ReportPanel.disposeAll();
      const restored = fakePanel('restored');
      ReportPanel.revive(FakeUri.file('/ext') as never, restored as never, {
        version: 1,
        sides: { a: { request: { path: ckpt, settings: {} }, status: 'loading', progress: { fraction: 0.5, message: 'layer 3/6' } } },
        ui: { metric: 'kStar', series: 'kStar' },
      });
      const s = ReportPanel.get(ckpt)?.side('a');
      assert.equal(s?.status, 'error');
      assert.match(s?.error ?? '', /interrupted/);
    });
  },
);

describe('Start Training form host (fake vscode)', () => {
  const init = { python: 'python3', torch: '2.5.1', device: 'cpu' as const, gpus: 0, initModes: ['inherit'] };
  const context = { extensionUri: FakeUri.file('/ext') } as never;
  const open = () => {
    const form = new StartTrainingForm(context, init, undefined);
    return { form, p: panels[panels.length - 1] };
  };
  const settled = (r: Promise<unknown>) =>
    Promise.race([r.then((v) => ({ v })), new Promise((res) => setTimeout(() => res('pending'), 50))]);

  test('the form is a Disposable panel: disposing it resolves undefined, closes the panel and drops its listeners, once', async () => {
    const { form, p } = open();
    assert.ok(form instanceof Disposable, 'the form uses the Disposable base');
    assert.equal(StartTrainingForm.current, form);
    assert.match(p.html, /https:\/\/webview\.test\/ext\/dist\/webview\/startTraining\/main\.js/);
    assert.equal(p.fromWebview.listeners, 1);
    assert.equal(p.disposed.listeners, 1);
    const from = posted.length;
    p.fromWebview.fire({ type: 'ready' } as never);
    assert.ok(
      posted.slice(from).some((m) => (m as { type: string }).type === 'init'),
      'ready is answered with init',
    );
    assert.equal(await settled(form.result), 'pending', 'an open form has no answer yet');

    form.dispose();
    assert.deepEqual(await settled(form.result), { v: undefined });
    assert.equal(StartTrainingForm.current, undefined);
    assert.equal(p.disposeCount(), 1, 'the panel is disposed');
    assert.equal(p.fromWebview.listeners, 0, 'no message listener is left');
    assert.equal(p.disposed.listeners, 0, 'no dispose listener is left');
    form.dispose();
    assert.equal(p.disposeCount(), 1, 'a second dispose does nothing');
    const after = posted.length;
    p.fromWebview.fire({ type: 'ready' } as never);
    assert.equal(posted.length, after, 'a closed form posts nothing');
  });

  test('closing the panel (the user) or Cancel resolves undefined and releases the form', async () => {
    const closed = open();
    closed.p.dispose();
    assert.deepEqual(await settled(closed.form.result), { v: undefined });
    assert.equal(StartTrainingForm.current, undefined);
    assert.equal(closed.p.fromWebview.listeners, 0);
    assert.equal(closed.p.disposeCount(), 2, "the form's own dispose of the panel is a no-op after the user's");

    const cancelled = open();
    cancelled.p.fromWebview.fire({ type: 'cancel' } as never);
    assert.deepEqual(await settled(cancelled.form.result), { v: undefined });
    assert.equal(StartTrainingForm.current, undefined);
    assert.equal(cancelled.p.disposeCount(), 1, 'Cancel closes the panel');
    assert.equal(cancelled.p.fromWebview.listeners, 0);
  });
});

describe('checkpoint folders context key (fake vscode, real files)', () => {
  test('package.json activates the extension in a workspace holding any kind of checkpoint the scan looks for', () => {
    // Without workspaceContains:**/*.gguf, a folder of GGUF files had no Explorer menu until another command ran.
    const pkg = JSON.parse(readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { activationEvents: string[] };
    for (const f of SCAN_FILES) assert.ok(pkg.activationEvents.includes(`workspaceContains:**/${f}`), f);
  });

  let root: string;
  const touch = (...p: string[]) => {
    mkdirSync(path.join(root, ...p.slice(0, -1)), { recursive: true });
    writeFileSync(path.join(root, ...p), '');
  };
  /** Fire a file event on every watcher whose glob matches the file, as VS Code does. */
  const fire = (kind: 'create' | 'del', ...p: string[]) => {
    const f = path.join(root, ...p);
    for (const w of watchers) if (globMatches(w.glob, f)) w[kind].fire(FakeUri.file(f));
  };
  const published = (key: string) => commands.filter((c) => c.id === 'setContext' && c.args[0] === key).at(-1)?.args[1];
  /** Wait until the keys hold these folders: `all` in checkpointFolders, `hf` in hfCheckpointFolders. */
  const until = async (all: string[], what: string, hf = ['hf', 'hf-and-gguf']) => {
    const t0 = Date.now();
    const abs = (ds: string[]) => JSON.stringify(ds.map((d) => path.join(root, d)).sort());
    const now = () => JSON.stringify([published(CHECKPOINT_FOLDERS_KEY), published(HF_CHECKPOINT_FOLDERS_KEY)]);
    const want = `[${abs(all)},${abs(hf)}]`;
    while (now() !== want) {
      if (Date.now() - t0 > 5000) assert.fail(`${what}: published ${now()}, want ${want}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  before(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'inheritune-ctx-'));
    touch('hf', 'config.json');
    touch('hf', 'model.safetensors');
    touch('only-gguf', 'model.Q4_K_M.gguf');
    touch('only-gguf', 'README.md');
    touch('gguf-and-config', 'config.json');
    touch('gguf-and-config', 'model.gguf');
    touch('hf-and-gguf', 'config.json');
    touch('hf-and-gguf', 'model.safetensors');
    touch('hf-and-gguf', 'model.gguf');
    touch('two-gguf', 'a.Q4_0.gguf');
    touch('two-gguf', 'a.Q8_0.gguf');
    touch('config-only', 'config.json');
    touch('nested', 'deeper', 'one.gguf');
    workspaceRoot = root;
  });
  after(() => {
    workspaceRoot = undefined;
    rmSync(root, { recursive: true, force: true });
  });

  test('a folder is a checkpoint with config.json and weights (hf), or with exactly one .gguf file (gguf)', async () => {
    const kind = (d: string) => checkpointFolderKind(path.join(root, d));
    assert.equal(await kind('hf'), 'hf');
    assert.equal(await kind('hf-and-gguf'), 'hf', 'the safetensors weights are what the commands open');
    assert.equal(await kind('only-gguf'), 'gguf');
    assert.equal(await kind('gguf-and-config'), 'gguf', 'config.json without safetensors or PyTorch weights');
    assert.equal(await kind('nested/deeper'), 'gguf');
    assert.equal(await kind('two-gguf'), undefined, 'several .gguf files: the commands ask for one');
    assert.equal(await kind('config-only'), undefined);
    assert.equal(await kind('missing'), undefined);
  });

  test('found at activation and kept up to date as .gguf files come and go', async () => {
    const ctx = registerCheckpointContext();
    try {
      await until(['gguf-and-config', 'hf', 'hf-and-gguf', 'nested/deeper', 'only-gguf'], 'the activation scan');
      touch('late', 'x.gguf');
      fire('create', 'late', 'x.gguf');
      await until(['gguf-and-config', 'hf', 'hf-and-gguf', 'late', 'nested/deeper', 'only-gguf'], 'a .gguf added to a folder');
      touch('late', 'y.gguf');
      fire('create', 'late', 'y.gguf');
      await until(['gguf-and-config', 'hf', 'hf-and-gguf', 'nested/deeper', 'only-gguf'], 'a second .gguf in the folder');
      rmSync(path.join(root, 'only-gguf', 'model.Q4_K_M.gguf'));
      fire('del', 'only-gguf', 'model.Q4_K_M.gguf');
      await until(['gguf-and-config', 'hf', 'hf-and-gguf', 'nested/deeper'], 'the .gguf deleted');
    } finally {
      ctx.dispose();
    }
  });
});

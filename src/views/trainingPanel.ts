/**
 * The live training panel (host side): one panel, several runs overlaid. Each run's file (metrics.jsonl or a text
 * log) is followed through vscode.workspace.fs (so it works over Remote-SSH and virtual file systems) with a file
 * watcher for prompt updates and a polling timer as the fallback watchers need (network drives, files outside the
 * workspace). The host keeps every point; a recreated webview gets them all in `init`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Disposable } from './dispose';
import {
  MetricPoint,
  RunInfo,
  TRAINING_VIEW_TYPE,
  TrainingHostMessage,
  TrainingViewState,
  TrainingWebviewMessage,
} from '../shared/trainingProtocol';
import { MetricsTail, TailSource } from '../training/tail';
import { log, reportError } from '../ui/log';
import { panelHtml, panelOptions } from './panelPage';

interface Run {
  info: RunInfo;
  uri: vscode.Uri;
  tail: MetricsTail;
  points: MetricPoint[];
  /** Points not yet sent (sent at most every SEND_MS). */
  unsent: MetricPoint[];
  disposables: vscode.Disposable[];
  timer: ReturnType<typeof setInterval>;
}

const SEND_MS = 150;

export class TrainingPanel extends Disposable {
  static current: TrainingPanel | undefined;

  private readonly runs = new Map<string, Run>();
  private ready = false;
  private sendTimer: ReturnType<typeof setTimeout> | undefined;

  /** Show the panel (creating it if needed) with these files added as runs. */
  static show(
    context: vscode.ExtensionContext,
    files: vscode.Uri[],
    opts: { restart?: boolean; preserveFocus?: boolean; exitCode?: number } = {},
  ): TrainingPanel {
    let p = TrainingPanel.current;
    if (!p) {
      const panel = vscode.window.createWebviewPanel(
        TRAINING_VIEW_TYPE,
        'Training',
        { viewColumn: vscode.ViewColumn.Beside, preserveFocus: opts.preserveFocus },
        panelOptions(context.extensionUri),
      );
      p = new TrainingPanel(context, panel);
    } else {
      p.panel.reveal(undefined, opts.preserveFocus);
    }
    for (const f of files) p.addRun(f, opts);
    return p;
  }

  /** Recreate after a window reload (registered as the panel's serializer). */
  static revive(
    context: vscode.ExtensionContext,
    panel: vscode.WebviewPanel,
    state: (Partial<TrainingViewState> & { files?: string[] }) | undefined,
  ): TrainingPanel {
    panel.webview.options = panelOptions(context.extensionUri);
    const p = new TrainingPanel(context, panel);
    for (const f of state?.files ?? []) {
      try {
        p.addRun(vscode.Uri.parse(f, true));
      } catch {
        /* a stale entry: skip it */
      }
    }
    return p;
  }

  private constructor(
    private readonly context: vscode.ExtensionContext,
    readonly panel: vscode.WebviewPanel,
  ) {
    super();
    TrainingPanel.current = this;
    panel.webview.html = this.html();
    [
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((m: TrainingWebviewMessage) => void this.onMessage(m)),
      panel.onDidChangeViewState((e) => {
        // A hidden webview is destroyed; when it comes back it sends `ready` and gets everything again.
        if (!e.webviewPanel.visible) this.ready = false;
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('inheritune.training.pollIntervalMs')) for (const r of this.runs.values()) this.restartTimer(r);
      }),
    ].forEach((d) => this._register(d));
  }

  /** Number of points held per run (for tests and the integration harness). */
  pointCounts(): Record<string, number> {
    return Object.fromEntries([...this.runs.values()].map((r) => [r.info.id, r.points.length]));
  }

  addRun(uri: vscode.Uri, opts: { restart?: boolean; exitCode?: number } = {}): void {
    const id = uri.toString();
    const existing = this.runs.get(id);
    if (existing) {
      if (opts.restart) {
        existing.info.exitCode = undefined;
        void existing.tail.restart();
      }
      return;
    }
    const info: RunInfo = {
      id,
      label: this.labelFor(uri),
      path: uri.scheme === 'file' ? uri.fsPath : uri.toString(),
      status: 'waiting',
      format: 'unknown',
      skipped: 0,
    };
    const run: Run = {
      info,
      uri,
      points: [],
      unsent: [],
      disposables: [],
      tail: undefined as unknown as MetricsTail,
      timer: undefined as unknown as ReturnType<typeof setInterval>,
    };
    run.tail = new MetricsTail(tailSource(uri), {
      onReset: () => {
        run.points = [];
        run.unsent = [];
        info.skipped = 0;
        this.post({ type: 'reset', runId: id });
      },
      onPoints: (pts) => {
        for (const p of pts) run.points.push(p);
        for (const p of pts) run.unsent.push(p);
        this.scheduleSend();
      },
      onStatus: (status, error) => {
        info.status = status;
        info.error = error;
        if (error) log().appendLine(`[training] ${info.path}: ${error}`);
        this.flush();
        this.post({ type: 'runStatus', run: info });
      },
    });
    const dir = vscode.Uri.joinPath(uri, '..');
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(dir, path.posix.basename(uri.path)));
    const poke = () => void this.poll(run);
    run.disposables.push(watcher, watcher.onDidChange(poke), watcher.onDidCreate(poke), watcher.onDidDelete(poke));
    this.runs.set(id, run);
    if (opts.exitCode !== undefined) info.exitCode = opts.exitCode;
    this.restartTimer(run);
    this.post({ type: 'runAdded', run: info });
    this.updateTitle();
    void this.poll(run);
  }

  /** The task writing this file has ended. */
  markExited(uri: vscode.Uri, exitCode: number | undefined): void {
    const run = this.runs.get(uri.toString());
    if (!run) return;
    run.info.exitCode = exitCode;
    void this.poll(run).then(() => this.post({ type: 'runStatus', run: run.info }));
  }

  private async poll(run: Run): Promise<void> {
    await run.tail.poll();
    if (run.tail.skipped !== run.info.skipped || run.tail.format !== run.info.format) {
      run.info.skipped = run.tail.skipped;
      run.info.format = run.tail.format;
      this.flush();
      this.post({ type: 'runStatus', run: run.info });
    }
  }

  private restartTimer(run: Run): void {
    clearInterval(run.timer);
    const ms = Math.max(250, vscode.workspace.getConfiguration('inheritune.training').get<number>('pollIntervalMs') ?? 1000);
    run.timer = setInterval(() => void this.poll(run), ms);
  }

  private removeRun(id: string): void {
    const run = this.runs.get(id);
    if (!run) return;
    this.disposeRun(run);
    this.runs.delete(id);
    this.post({ type: 'runRemoved', runId: id });
    this.updateTitle();
  }

  private disposeRun(run: Run): void {
    clearInterval(run.timer);
    run.tail.dispose();
    for (const d of run.disposables) d.dispose();
  }

  private labelFor(uri: vscode.Uri): string {
    const base = path.posix.basename(uri.path);
    const parent = path.posix.basename(path.posix.dirname(uri.path));
    const label = /^metrics(\.\w+)?\.jsonl$/i.test(base) && parent ? parent : base.replace(/\.(jsonl|log|txt)$/i, '');
    const taken = new Set([...this.runs.values()].map((r) => r.info.label));
    if (!taken.has(label)) return label;
    for (let i = 2; ; i++) if (!taken.has(`${label} (${i})`)) return `${label} (${i})`;
  }

  private updateTitle(): void {
    const labels = [...this.runs.values()].map((r) => r.info.label);
    this.panel.title = labels.length ? `Training: ${labels.slice(0, 3).join(', ')}${labels.length > 3 ? ', …' : ''}` : 'Training';
  }

  private scheduleSend(): void {
    if (this.sendTimer) return;
    this.sendTimer = setTimeout(() => this.flush(), SEND_MS);
  }

  private flush(): void {
    if (this.sendTimer) clearTimeout(this.sendTimer);
    this.sendTimer = undefined;
    for (const run of this.runs.values()) {
      if (!run.unsent.length) continue;
      const pts = run.unsent;
      run.unsent = [];
      this.post({ type: 'points', runId: run.info.id, points: pts });
    }
  }

  private post(msg: TrainingHostMessage): void {
    // Before `ready` the page is not listening; `init` will carry everything.
    if (!this.ready || this.isDisposed) return;
    void this.panel.webview.postMessage(msg);
  }

  private async onMessage(msg: TrainingWebviewMessage): Promise<void> {
    switch (msg.type) {
      case 'ready': {
        this.ready = true;
        for (const r of this.runs.values()) r.unsent = [];
        const points: Record<string, MetricPoint[]> = {};
        for (const r of this.runs.values()) points[r.info.id] = r.points;
        this.post({ type: 'init', runs: [...this.runs.values()].map((r) => r.info), points });
        return;
      }
      case 'addRun': {
        const picked = await vscode.window.showOpenDialog({
          title: 'Overlay another run: metrics.jsonl or a training log',
          canSelectMany: true,
          filters: { 'Training metrics': ['jsonl', 'log', 'txt'], 'All files': ['*'] },
          defaultUri: this.runs.size
            ? vscode.Uri.joinPath([...this.runs.values()][0].uri, '..', '..')
            : vscode.workspace.workspaceFolders?.[0]?.uri,
        });
        for (const u of picked ?? []) this.addRun(u);
        return;
      }
      case 'removeRun':
        this.removeRun(msg.runId);
        return;
      case 'retry': {
        const run = this.runs.get(msg.runId);
        if (run) await run.tail.restart();
        return;
      }
      case 'export':
        await this.export(msg.format, msg.suggestedName, msg.data);
        return;
      case 'showLog':
        log().show(true);
        return;
      default: {
        const _exhaustive: never = msg;
        void _exhaustive;
      }
    }
  }

  private async export(format: 'png' | 'svg' | 'csv', suggestedName: string, data: string): Promise<void> {
    const first = [...this.runs.values()][0];
    const base = first ? vscode.Uri.joinPath(first.uri, '..') : vscode.workspace.workspaceFolders?.[0]?.uri;
    const filters = { [format.toUpperCase()]: [format] };
    const target = await vscode.window.showSaveDialog({
      title: `Export ${format.toUpperCase()}`,
      defaultUri: base ? vscode.Uri.joinPath(base, suggestedName) : undefined,
      filters,
    });
    if (!target) return;
    try {
      let bytes: Uint8Array;
      if (format === 'png') {
        const m = /^data:image\/png;base64,(.*)$/s.exec(data);
        if (!m) throw new Error('the chart could not be rendered as PNG');
        bytes = Buffer.from(m[1], 'base64');
      } else {
        bytes = Buffer.from(data, 'utf8');
      }
      await vscode.workspace.fs.writeFile(target, bytes);
      this.post({ type: 'exported', path: target.scheme === 'file' ? target.fsPath : target.toString() });
      void vscode.window.showInformationMessage(`Exported ${path.posix.basename(target.path)}.`, 'Open').then((c) => {
        if (c === 'Open') void vscode.commands.executeCommand('vscode.open', target);
      });
    } catch (e) {
      this.post({ type: 'exported', error: (e as Error)?.message ?? String(e) });
      await reportError('Export training chart', e);
    }
  }

  private html(): string {
    return panelHtml(this.panel.webview, this.context.extensionUri, 'training', 'Training');
  }

  override dispose(): void {
    if (this.isDisposed) return;
    if (TrainingPanel.current === this) TrainingPanel.current = undefined;
    if (this.sendTimer) clearTimeout(this.sendTimer);
    for (const r of this.runs.values()) this.disposeRun(r);
    this.runs.clear();
    super.dispose();
    this.panel.dispose();
  }
}

/**
 * Reads through vscode.workspace.fs. For `file:` URIs (local, or the remote side of Remote-SSH, where this extension
 * host runs) only the new byte range is read; other schemes have no ranged read, so the file is read and sliced.
 */
function tailSource(uri: vscode.Uri): TailSource {
  return {
    async stat() {
      try {
        const s = await vscode.workspace.fs.stat(uri);
        if (s.type & vscode.FileType.Directory) throw new Error(`${uri.fsPath} is a folder; open its metrics.jsonl`);
        return { size: s.size, mtime: s.mtime };
      } catch (e) {
        // FileSystemError.FileNotFound locally; over some remotes only its name or message says so.
        if (
          (e instanceof vscode.FileSystemError && e.code === 'FileNotFound') ||
          /FileNotFound|EntryNotFound|ENOENT/.test(`${(e as Error)?.name} ${(e as Error)?.message}`)
        )
          return undefined;
        throw e;
      }
    },
    async read(start, end) {
      if (uri.scheme === 'file') {
        const fh = await fs.promises.open(uri.fsPath, 'r');
        try {
          const buf = Buffer.alloc(end - start);
          const { bytesRead } = await fh.read(buf, 0, buf.length, start);
          return buf.subarray(0, bytesRead);
        } finally {
          await fh.close();
        }
      }
      return (await vscode.workspace.fs.readFile(uri)).subarray(start, end);
    },
  };
}

/** `inheritune.openTrainingPanel`: from the Explorer (file, multi-selection), from code (Uri or path), or a picker. */
export async function openTrainingPanelCommand(
  context: vscode.ExtensionContext,
  resource?: unknown,
  selection?: unknown,
): Promise<TrainingPanel | undefined> {
  let files: vscode.Uri[] = [];
  if (Array.isArray(selection) && selection.every((s) => s instanceof vscode.Uri) && selection.length) files = selection as vscode.Uri[];
  else if (resource instanceof vscode.Uri) files = [resource];
  else if (typeof resource === 'string' && resource) files = [vscode.Uri.file(resource)];
  else if (Array.isArray(resource)) files = resource.map((r) => (r instanceof vscode.Uri ? r : vscode.Uri.file(String(r))));
  const resolved: vscode.Uri[] = [];
  for (const f of files) {
    // A run folder stands for its metrics.jsonl.
    try {
      const st = await vscode.workspace.fs.stat(f);
      resolved.push(st.type & vscode.FileType.Directory ? vscode.Uri.joinPath(f, 'metrics.jsonl') : f);
    } catch {
      resolved.push(f);
    }
  }
  if (!resolved.length) {
    const picked = await vscode.window.showOpenDialog({
      title: 'Open training metrics (metrics.jsonl) or a training log',
      canSelectMany: true,
      filters: { 'Training metrics': ['jsonl', 'log', 'txt'], 'All files': ['*'] },
      defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
    });
    if (!picked?.length) return undefined;
    resolved.push(...picked);
  }
  return TrainingPanel.show(context, resolved);
}

export function registerTrainingPanelSerializer(context: vscode.ExtensionContext): vscode.Disposable {
  return vscode.window.registerWebviewPanelSerializer(TRAINING_VIEW_TYPE, {
    async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown) {
      TrainingPanel.revive(context, panel, state as (Partial<TrainingViewState> & { files?: string[] }) | undefined);
    },
  });
}

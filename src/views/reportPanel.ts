/**
 * The attention report panel: one per checkpoint (or per compared pair), restored after a reload by the serializer
 * from the webview's own state. The host runs the analysis in a worker, streams progress, answers head requests with
 * ArrayBuffers, and never sends weights.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { analyzeInWorker, headPatternInWorker } from '../analysis/runInWorker';
import { isInherituneError } from '../errors';
import { log, reportError } from '../ui/log';
import { pickCheckpoint } from '../ui/pickCheckpoint';
import {
  AnalysisRequest,
  REPORT_VIEW_TYPE,
  ReportHostMessage,
  ReportViewState,
  ReportWebviewMessage,
  Side,
  SideState,
} from '../shared/protocol';
import type { AnalysisReport } from '../shared/report';
import { chooseSettings } from './analysisSettings';
import { Disposable } from './dispose';
import { panelHtml, panelOptions } from './panelPage';
import { saveExport } from './saveExport';
import { cachedReport, rememberReport, requestKey } from './reportCache';
import { checkpointKey, describeSettings, headSettings } from './settingsModel';

function loadingSide(request: AnalysisRequest): SideState {
  return { request, status: 'loading', progress: { fraction: 0, message: 'Starting…' } };
}

export class ReportPanel extends Disposable {
  private static readonly panels = new Map<string, ReportPanel>();

  private sides: { a: SideState; b?: SideState };
  private readonly runs = new Map<Side, AbortController>();
  private head: { id: number; ctl: AbortController } | undefined;

  static keyOf(a: AnalysisRequest, b?: AnalysisRequest): string {
    return b ? `compare:${checkpointKey(a.path)}|${checkpointKey(b.path)}` : checkpointKey(a.path);
  }

  /** Open (or reveal) the panel for a checkpoint, or for a pair, and analyze what it does not have yet. */
  static open(
    extensionUri: vscode.Uri,
    a: AnalysisRequest,
    o: { b?: AnalysisRequest; reuseA?: AnalysisReport } = {},
  ): { panel: ReportPanel; done: Promise<AnalysisReport | undefined> } {
    const key = ReportPanel.keyOf(a, o.b);
    let p = ReportPanel.panels.get(key);
    if (p) {
      p.panel.reveal(undefined, false);
      p.sides.a.request = a;
      if (o.b && p.sides.b) p.sides.b.request = o.b;
    } else {
      const title = o.b
        ? `Attention: ${path.basename(checkpointKey(a.path))} ↔ ${path.basename(checkpointKey(o.b.path))}`
        : `Attention: ${path.basename(checkpointKey(a.path))}`;
      const panel = vscode.window.createWebviewPanel(REPORT_VIEW_TYPE, title, vscode.ViewColumn.Active, panelOptions(extensionUri));
      const sides = {
        a: o.reuseA
          ? ({ request: a, status: 'ready', progress: { fraction: 1, message: 'done' }, report: o.reuseA } as SideState)
          : loadingSide(a),
        b: o.b ? loadingSide(o.b) : undefined,
      };
      p = new ReportPanel(panel, extensionUri, key, sides);
    }
    const runs: Promise<AnalysisReport | undefined>[] = [];
    if (!o.reuseA) runs.push(p.analyze('a'));
    if (o.b) runs.push(p.analyze('b'));
    return { panel: p, done: Promise.all(runs).then((r) => r[r.length - 1]) };
  }

  /** The serializer's entry after a reload: the webview state holds the request(s) and report(s). */
  static revive(extensionUri: vscode.Uri, panel: vscode.WebviewPanel, state: ReportViewState | undefined): void {
    if (!state || state.version !== 1 || !state.sides?.a?.request?.path) {
      panel.dispose();
      return;
    }
    const sides = { a: state.sides.a, b: state.sides.b };
    for (const s of [sides.a, sides.b]) {
      if (s && s.status === 'loading') {
        s.status = 'error';
        s.cancelled = true;
        s.error = 'The analysis was interrupted when the window reloaded.';
      }
    }
    const key = ReportPanel.keyOf(sides.a.request, sides.b?.request);
    ReportPanel.panels.get(key)?.dispose();
    panel.webview.options = panelOptions(extensionUri);
    new ReportPanel(panel, extensionUri, key, sides);
  }

  /** For tests and commands: the panel of a checkpoint, if open. */
  static get(pathOrKey: string): ReportPanel | undefined {
    return ReportPanel.panels.get(pathOrKey) ?? ReportPanel.panels.get(checkpointKey(pathOrKey));
  }

  static disposeAll(): void {
    for (const p of [...ReportPanel.panels.values()]) p.dispose();
  }

  private constructor(
    readonly panel: vscode.WebviewPanel,
    private readonly extensionUri: vscode.Uri,
    private readonly key: string,
    sides: { a: SideState; b?: SideState },
  ) {
    super();
    this.sides = sides;
    ReportPanel.panels.set(key, this);
    panel.iconPath = {
      light: vscode.Uri.joinPath(extensionUri, 'media', 'attention-light.svg'),
      dark: vscode.Uri.joinPath(extensionUri, 'media', 'attention-dark.svg'),
    };
    panel.webview.html = panelHtml(panel.webview, extensionUri, 'attention', panel.title);
    this._register(panel.onDidDispose(() => this.dispose()));
    this._register(panel.webview.onDidReceiveMessage((m: ReportWebviewMessage) => void this.onMessage(m)));
  }

  override dispose(): void {
    if (this.isDisposed) return;
    if (ReportPanel.panels.get(this.key) === this) ReportPanel.panels.delete(this.key);
    for (const c of this.runs.values()) c.abort();
    this.runs.clear();
    this.head?.ctl.abort();
    super.dispose();
    this.panel.dispose();
  }

  /** Current state of a side (integration tests read it). */
  side(side: Side): SideState | undefined {
    return this.sides[side];
  }

  private post(msg: ReportHostMessage): void {
    if (!this.isDisposed) void this.panel.webview.postMessage(msg);
  }

  private name(side: Side): string {
    return path.basename(checkpointKey(this.sides[side]!.request.path));
  }

  /**
   * Run (or re-run) the analysis of one side with a notification that can cancel it. A report of this session for
   * the same checkpoint files, input and settings (open in a panel or cached) is taken as it is, unless `fresh`.
   */
  async analyze(side: Side, fresh = false): Promise<AnalysisReport | undefined> {
    const s = this.sides[side];
    if (!s) return undefined;
    this.runs.get(side)?.abort();
    const ctl = new AbortController();
    this.runs.set(side, ctl);
    const key = await requestKey(s.request.path, s.request.settings);
    const reuse = fresh ? undefined : cachedReport(key);
    if (reuse && this.runs.get(side) === ctl) {
      this.runs.delete(side);
      s.status = 'ready';
      s.report = reuse;
      s.error = undefined;
      s.progress = { fraction: 1, message: 'done' };
      this.post({ type: 'report', side, report: reuse });
      log().appendLine(
        `[analyze] ${s.request.path}: reusing the report of ${reuse.createdAt} (same checkpoint files, input and settings); not analyzed again`,
      );
      return reuse;
    }
    s.status = 'loading';
    s.error = undefined;
    s.cancelled = undefined;
    s.progress = { fraction: 0, message: 'Starting…' };
    this.post({ type: 'progress', side, fraction: 0, message: s.progress.message });
    const req = s.request;
    log().appendLine(`[analyze] ${req.path}: ${describeSettings(req.settings)}`);
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Analyzing attention of ${this.name(side)}`, cancellable: true },
      async (progress, token) => {
        const sub = token.onCancellationRequested(() => ctl.abort());
        let last = 0;
        try {
          const report = await analyzeInWorker(req.path, req.settings, {
            signal: ctl.signal,
            onProgress: (fraction, message) => {
              const pct = Math.max(0, Math.min(1, fraction)) * 100;
              progress.report({ increment: Math.max(0, pct - last), message });
              last = Math.max(last, pct);
              s.progress = { fraction, message };
              this.post({ type: 'progress', side, fraction, message });
            },
          });
          if (this.runs.get(side) !== ctl) return undefined; // superseded by a newer run
          s.status = 'ready';
          s.report = report;
          s.progress = { fraction: 1, message: 'done' };
          rememberReport(key, report);
          this.post({ type: 'report', side, report });
          const lazy = report.layers.filter((l) => l.lazy).map((l) => l.index);
          log().appendLine(
            `[analyze] ${req.path}: ${report.layers.length} layers in ${Math.round(report.timings.totalMs)} ms on ${report.executionProvider.used}; lazy: ${lazy.join(', ') || 'none'}; suggested n = ${report.suggestedN}`,
          );
          return report;
        } catch (e) {
          if (this.runs.get(side) !== ctl) return undefined;
          const cancelled = ctl.signal.aborted || (isInherituneError(e) && e.code === 'E_CANCELLED');
          s.status = 'error';
          s.cancelled = cancelled;
          s.error = cancelled
            ? 'Cancelled before the analysis finished.'
            : isInherituneError(e)
              ? e.message
              : ((e as Error)?.message ?? String(e));
          this.post({ type: 'error', side, message: s.error, cancelled });
          if (cancelled) log().appendLine(`[analyze] ${req.path}: cancelled`);
          else void reportError('Analyze attention', e);
          return undefined;
        } finally {
          sub.dispose();
          if (this.runs.get(side) === ctl) this.runs.delete(side);
        }
      },
    );
  }

  private async onMessage(msg: ReportWebviewMessage): Promise<void> {
    switch (msg.type) {
      case 'ready':
        this.post({ type: 'init', sides: this.sides });
        break;
      case 'retry':
        await this.analyze(msg.side, true);
        break;
      case 'cancel':
        this.runs.get(msg.side)?.abort();
        break;
      case 'rerun': {
        const s = this.sides[msg.side];
        if (!s) return;
        const settings = await chooseSettings(`Analyze ${this.name(msg.side)} again`, s.request.settings);
        if (!settings) return;
        s.request = { ...s.request, settings };
        await this.analyze(msg.side, true);
        break;
      }
      case 'requestHead':
        await this.sendHead(msg.requestId, msg.side, msg.layer, msg.head);
        break;
      case 'cancelHead':
        if (this.head?.id === msg.requestId) {
          this.head.ctl.abort();
          this.head = undefined;
        }
        break;
      case 'inherit': {
        const s = this.sides[msg.side];
        const target = s?.report?.model.path || s?.request.path;
        if (!target) return;
        await vscode.commands.executeCommand('inheritune.inheritLayers', vscode.Uri.file(target), { layers: msg.layers });
        break;
      }
      case 'compareWith': {
        const a = this.sides.a;
        const other = await pickCheckpoint(undefined, `Compare ${this.name('a')} with…`);
        if (!other) return;
        // Same settings as A, so both are measured on the same inputs and read on one scale.
        ReportPanel.open(this.extensionUri, a.request, {
          b: { path: other, settings: a.request.settings },
          reuseA: a.status === 'ready' ? a.report : undefined,
        });
        break;
      }
      case 'export':
        await saveExport(msg, checkpointKey(this.sides.a.request.path));
        break;
      case 'showLog':
        log().show(true);
        break;
      default: {
        const _exhaustive: never = msg;
        void _exhaustive;
      }
    }
  }

  private async sendHead(requestId: number, side: Side, layer: number, head: number): Promise<void> {
    this.head?.ctl.abort();
    const ctl = new AbortController();
    this.head = { id: requestId, ctl };
    const s = this.sides[side];
    try {
      if (!s?.report) throw new Error(`no report for side ${side}`);
      const settings = headSettings(s.request, s.report);
      const t0 = Date.now();
      const { T, data } = await headPatternInWorker(s.request.path, settings, layer, head, { signal: ctl.signal });
      if (this.head?.id !== requestId) return;
      // An ArrayBuffer of exactly the matrix (the Float32Array may be a view into a larger buffer).
      const buf =
        data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
          ? (data.buffer as ArrayBuffer)
          : (data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer);
      log().appendLine(`[head] ${s.request.path}: layer ${layer} head ${head}, T = ${T}, ${Date.now() - t0} ms`);
      this.post({ type: 'headPattern', requestId, side, layer, head, T, data: buf });
    } catch (e) {
      if (ctl.signal.aborted || (isInherituneError(e) && e.code === 'E_CANCELLED')) return;
      const message = isInherituneError(e) ? e.message : ((e as Error)?.message ?? String(e));
      log().appendLine(`[head] layer ${layer} head ${head}: ${message}`);
      this.post({ type: 'headPatternError', requestId, message });
    } finally {
      if (this.head?.id === requestId) this.head = undefined;
    }
  }
}

export class ReportPanelSerializer implements vscode.WebviewPanelSerializer<ReportViewState> {
  constructor(private readonly extensionUri: vscode.Uri) {}
  async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: ReportViewState | undefined): Promise<void> {
    ReportPanel.revive(this.extensionUri, panel, state);
  }
}

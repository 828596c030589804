/**
 * The Start Training form (host side): one webview with every option of a run. The host answers the form's requests
 * (folder and file pickers, what a reference or a data choice is, a free run folder) and resolves `ask()` with the
 * fields when the user presses Start, or undefined when the form is closed, cancelled or disposed. The rules live in
 * src/shared/startTrainingProtocol.ts and run on both sides.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { openCheckpoint } from '../checkpoint/checkpoint';
import {
  checkForm,
  defaultsFor,
  FormFields,
  FormInit,
  RefInfo,
  START_TRAINING_VIEW_TYPE,
  StartFormHostMessage,
  StartFormWebviewMessage,
  DataInfo,
} from '../shared/startTrainingProtocol';
import { describeData } from '../training/dataInfo';
import { defaultRunDir } from '../training/inputs';
import { Disposable } from './dispose';
import { panelHtml, panelOptions } from './panelPage';

export interface FormResult {
  fields: FormFields;
  ref: RefInfo;
  data: DataInfo;
}

export async function describeRef(p: string, base: string | undefined): Promise<RefInfo> {
  const abs = path.resolve(base ?? '', p);
  try {
    const c = await openCheckpoint(abs);
    return { path: c.dir, numLayers: c.dims.numLayers, context: c.dims.ctx, arch: c.spec.family };
  } catch (e) {
    return { path: abs, numLayers: 0, context: 0, error: (e as Error)?.message ?? String(e) };
  }
}

export class StartTrainingForm extends Disposable {
  private readonly panel: vscode.WebviewPanel;
  private ref: RefInfo | undefined;
  private data: DataInfo | undefined;
  private resolve!: (r: FormResult | undefined) => void;
  readonly result: Promise<FormResult | undefined>;

  /** The open form, if any (a second Start Training reveals it). */
  static current: StartTrainingForm | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly init: FormInit,
    private readonly base: string | undefined,
  ) {
    super();
    this.ref = init.ref;
    this.data = init.data;
    this.result = new Promise((r) => (this.resolve = r));
    this.panel = vscode.window.createWebviewPanel(START_TRAINING_VIEW_TYPE, 'Start Inheritune Training', vscode.ViewColumn.Active, {
      ...panelOptions(context.extensionUri),
      retainContextWhenHidden: true,
    });
    StartTrainingForm.current = this;
    this.panel.webview.html = this.html();
    this._register(this.panel.onDidDispose(() => this.dispose()));
    this._register(this.panel.webview.onDidReceiveMessage((m: StartFormWebviewMessage) => void this.onMessage(m)));
  }

  reveal(): void {
    this.panel.reveal();
  }

  private post(m: StartFormHostMessage): void {
    // An answer to a request may arrive after the form closed (a picker or a checkpoint read was awaited).
    if (!this.isDisposed) void this.panel.webview.postMessage(m);
  }

  private suggestOut(ref: RefInfo): string {
    const n = Math.max(1, Math.floor(ref.numLayers / 2));
    return defaultRunDir(this.base ?? path.dirname(ref.path), path.basename(ref.path), n, 1, existsSync);
  }

  private async onMessage(m: StartFormWebviewMessage): Promise<void> {
    switch (m.type) {
      case 'ready':
        this.post({
          type: 'init',
          init: { ...this.init, out: this.init.out ?? (this.ref && !this.ref.error ? this.suggestOut(this.ref) : undefined) },
        });
        return;
      case 'pickRef': {
        const picked = await vscode.window.showOpenDialog({
          title: 'Reference checkpoint folder',
          canSelectFolders: true,
          canSelectFiles: false,
          openLabel: 'Use as Reference',
          defaultUri: this.baseUri(),
        });
        if (picked?.[0]) await this.setRef(picked[0].fsPath);
        return;
      }
      case 'refChanged':
        await this.setRef(m.path);
        return;
      case 'pickData': {
        const folder = m.as === 'folder';
        const picked = await vscode.window.showOpenDialog({
          title: folder
            ? 'Data: a folder with train.bin/val.bin, or a folder of text files'
            : 'Data: text files (.txt, .md, .jsonl, .parquet)',
          canSelectFolders: folder,
          canSelectFiles: !folder,
          canSelectMany: !folder,
          filters: folder ? undefined : { Text: ['txt', 'md', 'jsonl', 'parquet'] },
          openLabel: 'Use as Data',
          defaultUri: this.baseUri(),
        });
        if (picked?.length) await this.setData(picked.map((u) => u.fsPath));
        return;
      }
      case 'dataChanged':
        await this.setData(m.paths);
        return;
      case 'pickOut': {
        const picked = await vscode.window.showOpenDialog({
          title: 'Parent folder of the run folder',
          canSelectFolders: true,
          canSelectFiles: false,
          openLabel: 'Put the Run Here',
          defaultUri: this.baseUri(),
        });
        if (picked?.[0])
          this.post({
            type: 'out',
            out: path.join(picked[0].fsPath, this.ref && !this.ref.error ? path.basename(this.suggestOut(this.ref)) : 'run'),
          });
        return;
      }
      case 'submit': {
        // The paths may have been typed without a change event reaching us yet: describe what is submitted.
        if (!this.ref || path.resolve(this.base ?? '', m.fields.ref) !== this.ref.path)
          this.ref = await describeRef(m.fields.ref, this.base);
        this.data = await describeData(
          m.fields.data
            .split(/[\n;]/)
            .map((s) => s.trim())
            .filter(Boolean),
          this.base,
        );
        const check = checkForm(m.fields, this.ref, this.data, defaultsFor(this.init, this.ref, this.data));
        const problems = Object.entries(check.errors);
        if (problems.length) {
          this.post({ type: 'submitError', message: problems.map(([k, v]) => `${k}: ${v}`).join('\n') });
          return;
        }
        this.finish({ fields: m.fields, ref: this.ref, data: this.data });
        return;
      }
      case 'cancel':
        this.finish(undefined);
        return;
      default: {
        const _exhaustive: never = m;
        return _exhaustive;
      }
    }
  }

  private baseUri(): vscode.Uri | undefined {
    return this.base ? vscode.Uri.file(this.base) : undefined;
  }

  private async setRef(p: string): Promise<void> {
    this.ref = await describeRef(p, this.base);
    this.post({ type: 'ref', ref: this.ref, out: this.ref.error ? undefined : this.suggestOut(this.ref) });
  }

  private async setData(paths: string[]): Promise<void> {
    this.data = await describeData(paths, this.base);
    this.post({ type: 'data', data: this.data });
  }

  /** Resolve `result` (the first answer wins) and close the form. */
  private finish(r: FormResult | undefined): void {
    this.resolve(r);
    this.dispose();
  }

  /** Closed by the user, cancelled or disposed by the extension: `result` resolves to undefined unless already answered. */
  override dispose(): void {
    if (this.isDisposed) return;
    this.resolve(undefined);
    if (StartTrainingForm.current === this) StartTrainingForm.current = undefined;
    super.dispose();
    this.panel.dispose();
  }

  private html(): string {
    return panelHtml(this.panel.webview, this.context.extensionUri, 'startTraining', 'Start Inheritune Training');
  }
}

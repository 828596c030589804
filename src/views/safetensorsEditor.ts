/**
 * Read-only custom editor for .safetensors and .gguf files (default) and model.safetensors.index.json (optional):
 * header(s) only.
 * Two view types share one provider because a customEditors entry has a single priority.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { isInherituneError } from '../errors';
import { log, reportError } from '../ui/log';
import { SAFETENSORS_VIEW_TYPE, ViewerHostMessage, ViewerWebviewMessage } from '../shared/protocol';
import { Disposable } from './dispose';
import { panelHtml, panelOptions } from './panelPage';
import { buildViewerModel } from './viewerModel';

export const SAFETENSORS_INDEX_VIEW_TYPE = 'inheritune.safetensorsIndexViewer';
/** .gguf files: the same viewer over the GGUF header (viewerModel.ts dispatches on the extension). */
export const GGUF_VIEW_TYPE = 'inheritune.ggufViewer';

class HeaderDocument implements vscode.CustomDocument {
  constructor(readonly uri: vscode.Uri) {}
  dispose(): void {
    /* nothing held: the header is read on demand */
  }
}

class ViewerSession extends Disposable {
  constructor(
    private readonly doc: HeaderDocument,
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
  ) {
    super();
    const w = panel.webview;
    w.options = panelOptions(extensionUri);
    w.html = panelHtml(w, extensionUri, 'safetensors', path.basename(doc.uri.fsPath));
    this._register(w.onDidReceiveMessage((m: ViewerWebviewMessage) => void this.onMessage(m)));
    this._register(panel.onDidDispose(() => this.dispose()));
  }

  private post(m: ViewerHostMessage): void {
    if (!this.isDisposed) void this.panel.webview.postMessage(m);
  }

  private async load(): Promise<void> {
    this.post({ type: 'loading' });
    try {
      const model = await buildViewerModel(this.doc.uri.fsPath);
      log().appendLine(
        `[viewer] ${model.path}: ${model.tensors.length} tensors in ${model.files.length} file(s), header(s) read in ${Math.round(model.readMs)} ms`,
      );
      this.post({ type: 'model', model });
    } catch (e) {
      const message = isInherituneError(e) ? e.message : ((e as Error)?.message ?? String(e));
      log().appendLine(`[viewer] ${this.doc.uri.fsPath}: ${message}`);
      this.post({ type: 'error', message });
    }
  }

  private async onMessage(m: ViewerWebviewMessage): Promise<void> {
    // A .gguf file is itself the checkpoint; a .safetensors file is part of its folder's.
    const fsPath = this.doc.uri.fsPath;
    const folder = fsPath.toLowerCase().endsWith('.gguf') ? this.doc.uri : vscode.Uri.file(path.dirname(fsPath));
    try {
      switch (m.type) {
        case 'ready':
        case 'retry':
          await this.load();
          break;
        case 'analyze':
          await vscode.commands.executeCommand('inheritune.analyzeAttention', folder);
          break;
        case 'inherit':
          await vscode.commands.executeCommand('inheritune.inheritLayers', folder);
          break;
        case 'showLog':
          log().show(true);
          break;
        default: {
          const _exhaustive: never = m;
          void _exhaustive;
        }
      }
    } catch (e) {
      reportError('Safetensors viewer', e);
    }
  }
}

export class SafetensorsEditorProvider implements vscode.CustomReadonlyEditorProvider<HeaderDocument> {
  static register(extensionUri: vscode.Uri): vscode.Disposable[] {
    const provider = new SafetensorsEditorProvider(extensionUri);
    const opts = { supportsMultipleEditorsPerDocument: true, webviewOptions: { retainContextWhenHidden: false } };
    return [
      vscode.window.registerCustomEditorProvider(SAFETENSORS_VIEW_TYPE, provider, opts),
      vscode.window.registerCustomEditorProvider(SAFETENSORS_INDEX_VIEW_TYPE, provider, opts),
      vscode.window.registerCustomEditorProvider(GGUF_VIEW_TYPE, provider, opts),
    ];
  }

  constructor(private readonly extensionUri: vscode.Uri) {}

  openCustomDocument(uri: vscode.Uri): HeaderDocument {
    return new HeaderDocument(uri);
  }

  resolveCustomEditor(doc: HeaderDocument, panel: vscode.WebviewPanel): void {
    new ViewerSession(doc, panel, this.extensionUri);
  }
}

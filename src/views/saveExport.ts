/**
 * Export from a webview: the webview sends the serialized SVG / PNG data URL / CSV / JSON; the host asks where and
 * writes. Imports vscode, src/shared, ui/ and this folder.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ExportFormat } from '../shared/protocol';
import { decodeExport, EXPORT_FILTERS, exportFileName, isExportFormat } from './exportData';
import { log, reportError } from '../ui/log';

export async function saveExport(
  msg: { format: ExportFormat; suggestedName: string; data: string },
  defaultDir?: string,
): Promise<vscode.Uri | undefined> {
  try {
    if (!isExportFormat(msg.format)) throw new Error(`unknown export format ${String(msg.format)}`);
    const bytes = decodeExport(msg.format, msg.data);
    const dir = defaultDir ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const name = exportFileName(msg.suggestedName, msg.format);
    const target = await vscode.window.showSaveDialog({
      title: `Save ${msg.format.toUpperCase()}`,
      defaultUri: dir ? vscode.Uri.file(path.join(dir, name)) : undefined,
      filters: EXPORT_FILTERS[msg.format],
      saveLabel: 'Save',
    });
    if (!target) return undefined;
    await vscode.workspace.fs.writeFile(target, bytes);
    log().appendLine(`[export] wrote ${target.fsPath} (${bytes.length} bytes)`);
    void vscode.window.showInformationMessage(`Saved ${path.basename(target.fsPath)}.`, 'Reveal in Explorer').then((c) => {
      if (c) void vscode.commands.executeCommand('revealInExplorer', target);
    });
    return target;
  } catch (e) {
    reportError('Export', e);
    return undefined;
  }
}

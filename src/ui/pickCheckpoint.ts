/**
 * Resolve the checkpoint a command or panel acts on: the Explorer selection, an argument, or a folder picker. Imports
 * vscode only.
 */
import * as vscode from 'vscode';

export async function pickCheckpoint(arg: unknown, title: string): Promise<string | undefined> {
  if (arg instanceof vscode.Uri) return arg.fsPath;
  if (typeof arg === 'string' && arg) return arg;
  if (arg && typeof arg === 'object' && 'fsPath' in arg && typeof (arg as { fsPath: unknown }).fsPath === 'string')
    return (arg as { fsPath: string }).fsPath;
  const picked = await vscode.window.showOpenDialog({
    title,
    canSelectFolders: true,
    canSelectFiles: true,
    canSelectMany: false,
    filters: { Checkpoints: ['safetensors', 'json', 'gguf', 'bin', 'pt', 'pth'] },
    openLabel: 'Select checkpoint',
  });
  return picked?.[0]?.fsPath;
}

/** The "Inheritune" output channel and error reporting with a "Show Log" action. */
import * as vscode from 'vscode';
import { isInherituneError } from '../checkpoint/errors';

let channel: vscode.OutputChannel | undefined;

export function log(): vscode.OutputChannel {
  channel ??= vscode.window.createOutputChannel('Inheritune');
  return channel;
}

export function disposeLog(): void {
  channel?.dispose();
  channel = undefined;
}

/** Show a core error as one actionable line; the details and stack go to the output channel. */
export async function reportError(what: string, e: unknown): Promise<void> {
  const msg = isInherituneError(e) ? e.message : (e as Error)?.message ?? String(e);
  log().appendLine(`[error] ${what}: ${msg}`);
  if ((e as Error)?.stack) log().appendLine((e as Error).stack!);
  const choice = await vscode.window.showErrorMessage(`${what}: ${msg}`, 'Show Log');
  if (choice === 'Show Log') log().show(true);
}

/** An AbortSignal that follows a VS Code CancellationToken. */
export function abortSignalFor(token: vscode.CancellationToken): AbortSignal {
  const c = new AbortController();
  if (token.isCancellationRequested) c.abort();
  token.onCancellationRequested(() => c.abort());
  return c.signal;
}

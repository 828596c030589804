/**
 * The "Inheritune" output channel and error reporting with a "Show Log" action. In ui/ (host-side helpers the commands,
 * views and tasks all use) so that views never import commands. Imports vscode and src/errors only.
 */
import * as vscode from 'vscode';
import { isInherituneError } from '../errors';

let channel: vscode.OutputChannel | undefined;

export function log(): vscode.OutputChannel {
  channel ??= vscode.window.createOutputChannel('Inheritune');
  return channel;
}

export function disposeLog(): void {
  channel?.dispose();
  channel = undefined;
}

let lastError: string | undefined;

/** The last error shown to the user (exposed through the extension's API for integration tests). */
export function getLastError(): string | undefined {
  return lastError;
}

/**
 * Show a core error as one actionable line with "Show Log"; the details and stack go to the output channel.
 * Does not wait for the user to dismiss the message.
 */
export function reportError(what: string, e: unknown): void {
  const msg = isInherituneError(e) ? e.message : ((e as Error)?.message ?? String(e));
  lastError = `${what}: ${msg}`;
  log().appendLine(`[error] ${lastError}`);
  if ((e as Error)?.stack) log().appendLine((e as Error).stack!);
  void vscode.window.showErrorMessage(lastError, 'Show Log').then((choice) => {
    if (choice === 'Show Log') log().show(true);
  });
}

/** An AbortSignal that follows a VS Code CancellationToken. */
export function abortSignalFor(token: vscode.CancellationToken): AbortSignal {
  const c = new AbortController();
  if (token.isCancellationRequested) c.abort();
  token.onCancellationRequested(() => c.abort());
  return c.signal;
}

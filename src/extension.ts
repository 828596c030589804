/** Activation: wiring only. Every registration goes into context.subscriptions. */
import * as vscode from 'vscode';
import { inheritLayersCommand } from './commands/inheritLayers';
import { disposeLog, log } from './commands/log';

export function activate(context: vscode.ExtensionContext): void {
  context.subscriptions.push(
    log(),
    vscode.commands.registerCommand('inheritune.inheritLayers', inheritLayersCommand),
    { dispose: disposeLog },
  );
}

export function deactivate(): void {
  /* disposables are released through context.subscriptions */
}

/**
 * The end of a training task, told as a notification: whether the target was reached, the final val loss against it,
 * the layers, and what to do next (open the final checkpoint, Analyze Attention on it, open summary.json). Read from
 * the run's summary.json; a summary older than the task (a run that failed before finishing) is not reported as this
 * run's outcome.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { log } from '../ui/log';
import { outcomeMessage, RunSummary as Summary } from '../training/outcome';

const OPEN = 'Open Final Checkpoint';
const ANALYZE = 'Analyze Attention';
const SUMMARY = 'Open summary.json';

export async function notifyRunOutcome(outDir: string, startedAt: number, exitCode: number | undefined): Promise<void> {
  const file = path.join(outDir, 'summary.json');
  let s: Summary;
  try {
    const st = await fs.stat(file);
    if (st.mtimeMs < startedAt - 1000) throw new Error('stale');
    s = JSON.parse(await fs.readFile(file, 'utf8')) as Summary;
  } catch {
    if (exitCode !== undefined && exitCode !== 0 && exitCode !== 130 && exitCode !== 143) {
      void vscode.window.showErrorMessage(`Training stopped with exit code ${exitCode} before it finished; the terminal says why.`);
    }
    return;
  }
  const msg = outcomeMessage(s);
  log().appendLine(`[training] ${msg}`);
  // The round folders are <out>/round-<r>-<n>L; the summary may name them relative to the trainer's working folder.
  const ckpt = typeof s.final_checkpoint === 'string' ? path.join(outDir, path.basename(s.final_checkpoint)) : undefined;
  const actions = ckpt ? [OPEN, ANALYZE, SUMMARY] : [SUMMARY];
  const show = s.reached ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
  const c = await show(msg, ...actions);
  if (c === OPEN && ckpt) {
    const weights = path.join(ckpt, 'model.safetensors');
    await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(ckpt)).then(undefined, () => undefined);
    try {
      await fs.stat(weights);
      await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(weights), 'inheritune.safetensorsViewer');
    } catch {
      await vscode.commands
        .executeCommand(
          'vscode.openWith',
          vscode.Uri.file(path.join(ckpt, 'model.safetensors.index.json')),
          'inheritune.safetensorsIndexViewer',
        )
        .then(undefined, () => undefined);
    }
  } else if (c === ANALYZE && ckpt) {
    await vscode.commands.executeCommand('inheritune.analyzeAttention', vscode.Uri.file(ckpt));
  } else if (c === SUMMARY) {
    await vscode.window.showTextDocument(vscode.Uri.file(file));
  }
}

/**
 * "Inheritune: Analyze Attention": checkpoint (Explorer selection or a picker) → "Run with defaults / Adjust…" → the
 * report panel, which runs the analysis in a worker with a cancellable progress notification.
 */
import * as vscode from 'vscode';
import { openCheckpoint } from '../checkpoint/checkpoint';
import type { AnalysisSettings } from '../shared/protocol';
import type { AnalysisReport } from '../shared/report';
import { chooseSettings, configuredSettings } from '../views/analysisSettings';
import { ReportPanel } from '../views/reportPanel';
import { reportError } from '../ui/log';
import { pickCheckpoint } from '../ui/pickCheckpoint';

export interface AnalyzeArgs {
  /** Skip the quick pick and use these settings (merged over the configured ones). */
  settings?: AnalysisSettings;
}

/** Returns the report once the analysis finishes (undefined when dismissed, cancelled or failed). */
export function analyzeAttentionCommand(extensionUri: vscode.Uri) {
  return async (resource?: unknown, maybeArgs?: unknown): Promise<AnalysisReport | undefined> => {
    // From the Explorer the second argument is the multi-selection (Uri[]); from code it is AnalyzeArgs.
    const args: AnalyzeArgs = maybeArgs && typeof maybeArgs === 'object' && !Array.isArray(maybeArgs) ? (maybeArgs as AnalyzeArgs) : {};
    const ckpt = await pickCheckpoint(
      resource,
      'Checkpoint to analyze (a folder with config.json and .safetensors or pytorch_model.bin, a .gguf file, or a nanoGPT ckpt.pt)',
    );
    if (!ckpt) return undefined;
    // A folder without weights (or a broken config) gets one message now, before any settings are asked for.
    try {
      await openCheckpoint(ckpt);
    } catch (e) {
      reportError('Analyze attention', e);
      return undefined;
    }
    const settings = args.settings
      ? { ...configuredSettings(), ...args.settings }
      : await chooseSettings(`Analyze attention: ${vscode.workspace.asRelativePath(ckpt)}`);
    if (!settings) return undefined;
    return ReportPanel.open(extensionUri, { path: ckpt, settings }).done;
  };
}

/**
 * "Inheritune: Compare Attention": two checkpoints (e.g. a reference and its inherited child) analyzed with the same
 * settings and shown side by side on one colour scale. From the Explorer with two folders selected, the panel's
 * "Compare with…", or the palette (asks for both).
 */
import * as vscode from 'vscode';
import type { AnalysisSettings } from '../shared/protocol';
import type { AnalysisReport } from '../shared/report';
import { chooseSettings, configuredSettings } from '../views/analysisSettings';
import { ReportPanel } from '../views/reportPanel';
import { pickCheckpoint } from '../ui/pickCheckpoint';
import { reportError } from '../ui/log';

function fsPathOf(x: unknown): string | undefined {
  if (x instanceof vscode.Uri) return x.fsPath;
  if (typeof x === 'string' && x) return x;
  if (x && typeof x === 'object' && typeof (x as { fsPath?: unknown }).fsPath === 'string') return (x as { fsPath: string }).fsPath;
  return undefined;
}

export function compareAttentionCommand(extensionUri: vscode.Uri) {
  return async (resource?: unknown, selection?: unknown, args?: { settings?: AnalysisSettings }): Promise<AnalysisReport | undefined> => {
    const selected = Array.isArray(selection) ? selection.map(fsPathOf).filter((p): p is string => !!p) : [];
    if (selected.length > 2) {
      reportError('Compare attention', new Error(`select two checkpoints to compare (${selected.length} are selected)`));
      return undefined;
    }
    let a: string | undefined = selected[0] ?? fsPathOf(resource);
    let b: string | undefined = selected[1];
    a ??= await pickCheckpoint(undefined, 'Reference checkpoint (A)');
    if (!a) return undefined;
    b ??= await pickCheckpoint(undefined, 'Checkpoint to compare with (B), e.g. the inherited child');
    if (!b) return undefined;
    const settings = args?.settings
      ? { ...configuredSettings(), ...args.settings }
      : await chooseSettings('Compare attention (the same settings for both)');
    if (!settings) return undefined;
    return ReportPanel.open(extensionUri, { path: a, settings }, { b: { path: b, settings } }).done;
  };
}

/** Activation: wiring only. Every registration goes into context.subscriptions. */
import * as vscode from 'vscode';
import { analyzeAttentionCommand } from './commands/analyzeAttention';
import { compareAttentionCommand } from './commands/compare';
import { inheritLayersCommand } from './commands/inheritLayers';
import { disposeLog, getLastError, log } from './ui/log';
import { registerGpu } from './commands/installGpu';
import { REPORT_VIEW_TYPE } from './shared/protocol';
import { registerCheckpointContext } from './views/checkpointContext';
import { ReportPanel, ReportPanelSerializer } from './views/reportPanel';
import { SafetensorsEditorProvider } from './views/safetensorsEditor';
import { startTrainingCommand } from './commands/startTraining';
import { TRAINING_TASK_TYPE, TrainingTaskProvider, watchTrainingTasks } from './tasks/trainingTask';
import { openTrainingPanelCommand, registerTrainingPanelSerializer, TrainingPanel } from './views/trainingPanel';

/** What the extension exports to other extensions and to its integration tests. */
export interface InherituneApi {
  getLastError(): string | undefined;
}

export function activate(context: vscode.ExtensionContext): InherituneApi {
  context.subscriptions.push(
    log(),
    registerCheckpointContext(),
    vscode.commands.registerCommand('inheritune.inheritLayers', inheritLayersCommand),
    vscode.commands.registerCommand('inheritune.analyzeAttention', analyzeAttentionCommand(context.extensionUri)),
    vscode.commands.registerCommand('inheritune.compareAttention', compareAttentionCommand(context.extensionUri)),
    vscode.window.registerWebviewPanelSerializer(REPORT_VIEW_TYPE, new ReportPanelSerializer(context.extensionUri)),
    ...SafetensorsEditorProvider.register(context.extensionUri),
    { dispose: () => ReportPanel.disposeAll() },
    vscode.commands.registerCommand('inheritune.startTraining', (arg?: unknown) => startTrainingCommand(context, arg)),
    vscode.commands.registerCommand('inheritune.openTrainingPanel', (arg?: unknown, selection?: unknown) =>
      openTrainingPanelCommand(context, arg, selection),
    ),
    vscode.tasks.registerTaskProvider(TRAINING_TASK_TYPE, new TrainingTaskProvider(context.extensionUri)),
    registerTrainingPanelSerializer(context),
    ...watchTrainingTasks(context),
    { dispose: () => TrainingPanel.current?.dispose() },
    { dispose: disposeLog },
  );
  registerGpu(context);
  return { getLastError };
}

export function deactivate(): void {
  /* disposables are released through context.subscriptions */
}

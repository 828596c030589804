/**
 * "Inheritune: Start Training": reference → data → n → G → T → target → devices → output folder; checks the Python
 * environment, adds the task to .vscode/tasks.json (created or merged, comments kept) and runs it. The training panel
 * opens when the task starts. Returns the TaskExecution (integration tests wait on it).
 *
 * From code: `executeCommand('inheritune.startTraining', { ref, data, out?, layers?, ..., prompt: false })` uses the
 * given values and defaults for the rest without asking.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { TrainingSpec } from '../training/command';
import { openCheckpoint } from '../checkpoint/checkpoint';
import { checkPythonEnv, findTrainerDir } from '../training/command';
import { defaultRunDir, relativeToFolder, validateTarget, validateWhole } from '../training/inputs';
import { upsertTask } from '../training/tasksJson';
import { resolvePython } from '../tasks/python';
import { createTrainingTask, TRAINING_TASK_TYPE, TrainingTaskDefinition, trainingTaskLabel } from '../tasks/trainingTask';
import { log, reportError } from './log';

export interface StartTrainingArgs extends Partial<TrainingSpec> {
  python?: string;
  /** false: ask nothing, use defaults for what is not given. */
  prompt?: boolean;
  /** false: do not write .vscode/tasks.json. */
  saveTask?: boolean;
  /** false: skip the torch/transformers check. */
  checkPython?: boolean;
}

const TITLE = 'Start Inheritune Training';

export async function startTrainingCommand(context: vscode.ExtensionContext, resource?: unknown): Promise<vscode.TaskExecution | undefined> {
  if (!vscode.workspace.isTrusted) {
    const c = await vscode.window.showErrorMessage(
      'Training runs Python and the trainer on your machine, so it needs a trusted workspace. Trust this workspace, then start training again.',
      'Manage Workspace Trust',
    );
    if (c === 'Manage Workspace Trust') void vscode.commands.executeCommand('workbench.trust.manage');
    return undefined;
  }
  const args: StartTrainingArgs = resource && typeof resource === 'object' && !(resource instanceof vscode.Uri) && !Array.isArray(resource) ? (resource as StartTrainingArgs) : {};
  const ask = args.prompt !== false;
  const folder = vscode.workspace.workspaceFolders?.[0];
  const step = (i: number) => `${TITLE} (${i}/8)`;

  // 1. Reference checkpoint.
  let refPath = args.ref ?? (resource instanceof vscode.Uri ? resource.fsPath : undefined);
  if (!refPath && ask) {
    const picked = await vscode.window.showOpenDialog({ title: `${step(1)}: reference checkpoint folder`, canSelectFolders: true, canSelectFiles: false, openLabel: 'Use as Reference', defaultUri: folder?.uri });
    refPath = picked?.[0]?.fsPath;
  }
  if (!refPath) return undefined;
  let k: number;
  let refDir: string;
  try {
    const ref = await openCheckpoint(refPath);
    k = ref.dims.numLayers;
    refDir = ref.dir;
  } catch (e) {
    await reportError('Start training', e);
    return undefined;
  }

  // 2. Data folder.
  let data = args.data as string | undefined;
  for (;;) {
    if (!data && ask) {
      const picked = await vscode.window.showOpenDialog({ title: `${step(2)}: data folder (train.bin, val.bin)`, canSelectFolders: true, canSelectFiles: false, openLabel: 'Use as Data', defaultUri: folder?.uri });
      data = picked?.[0]?.fsPath;
    }
    if (!data) return undefined;
    const missing = await missingFiles(data, ['train.bin', 'val.bin']);
    if (!missing.length) break;
    const msg = `${data} has no ${missing.join(' or ')}. The trainer reads uint16 token ids; make them with \`python -m inheritune_trainer prepare --tokenizer ${refDir} --input FILES --out DIR\` (or \`synth\` for a synthetic corpus).`;
    if (!ask) {
      await reportError('Start training', new Error(msg));
      return undefined;
    }
    const c = await vscode.window.showErrorMessage(msg, 'Choose Another Folder');
    if (c !== 'Choose Another Folder') return undefined;
    data = undefined;
  }

  // 3-7. n, G, T, target, devices.
  const num = async (i: number, given: number | undefined, prompt: string, value: string, validate: (v: string) => string | undefined, blankOk = false): Promise<number | null | undefined> => {
    if (given !== undefined) return given;
    if (!ask) return value ? Number(value) : null;
    const v = await vscode.window.showInputBox({ title: step(i), prompt, value, validateInput: validate, ignoreFocusOut: true });
    if (v === undefined) return undefined; // cancelled
    if (!v.trim() && blankOk) return null;
    return Number(v);
  };
  const n = await num(3, args.layers, `n: layers the small model inherits from the reference's ${k}. The paper starts at k/2 = ${Math.floor(k / 2)}.`, String(Math.max(1, Math.floor(k / 2))), (v) => validateWhole(v, 'n', 1, k));
  if (n === undefined || n === null) return undefined;
  const g = await num(4, args.growBy, `G: layers added each time the model has not reached the target (up to ${k}).`, '1', (v) => validateWhole(v, 'G', 1, Math.max(1, k - n)));
  if (g === undefined || g === null) return undefined;
  const t = await num(5, args.stepsPerRound, 'T: optimizer steps per round, before each evaluation and growth decision.', '1000', (v) => validateWhole(v, 'T', 1));
  if (t === undefined || t === null) return undefined;
  const target = await num(6, args.targetValLoss, "Target validation loss. Leave blank to use the reference's own validation loss (measured on the same windows).", '', validateTarget, true);
  if (target === undefined) return undefined;
  const devices = await num(7, args.devices, 'Devices: processes (GPUs) on this machine. More than 1 launches torch.distributed.run.', '1', (v) => validateWhole(v, 'devices', 1, 1024));
  if (devices === undefined || devices === null) return undefined;

  // 8. Output folder.
  let out = args.out;
  if (!out) {
    const suggested = defaultRunDir(folder?.uri.fsPath ?? path.dirname(refDir), path.basename(refDir), n, g, existsSync);
    if (ask) {
      out = await vscode.window.showInputBox({ title: step(8), prompt: 'Run folder: round checkpoints, metrics.jsonl and summary.json go here.', value: suggested, ignoreFocusOut: true, validateInput: (v) => (v.trim() ? undefined : 'Enter a folder') });
      if (!out) return undefined;
    } else {
      out = suggested;
    }
  }

  // Python with torch and transformers.
  const trainerDir = findTrainerDir(context.extensionUri.fsPath) ?? path.join(context.extensionUri.fsPath, 'trainer');
  const python = args.python ?? (await resolvePython(folder?.uri)).python;
  if (args.checkPython !== false) {
    const check = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Checking ${python} for torch and transformers…` }, () => checkPythonEnv(python, trainerDir));
    if (!check.ok) {
      log().appendLine(`[training] ${check.message}`);
      const actions = check.installCommand ? ['Install in Terminal', 'Copy Install Command', 'Select Interpreter'] : ['Select Interpreter', 'Open Settings'];
      void vscode.window.showErrorMessage(check.message, ...actions).then((c) => {
        if (c === 'Install in Terminal' && check.installCommand) {
          const term = vscode.window.createTerminal({ name: 'Inheritune: install trainer requirements' });
          term.show();
          term.sendText(check.installCommand);
        } else if (c === 'Copy Install Command' && check.installCommand) void vscode.env.clipboard.writeText(check.installCommand);
        else if (c === 'Select Interpreter') void vscode.commands.executeCommand('python.setInterpreter').then(undefined, () => vscode.commands.executeCommand('workbench.action.openSettings', 'inheritune.pythonPath'));
        else if (c === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'inheritune.pythonPath');
      });
      return undefined;
    }
    log().appendLine(`[training] python ${check.python}: torch ${check.torch}, transformers ${check.transformers}`);
  }

  const base = folder?.uri.fsPath;
  const def: TrainingTaskDefinition = {
    type: TRAINING_TASK_TYPE,
    ref: relativeToFolder(path.resolve(base ?? '', refDir), base),
    data: relativeToFolder(path.resolve(base ?? '', data), base),
    out: relativeToFolder(path.resolve(base ?? '', out), base),
    layers: n,
    growBy: g,
    stepsPerRound: t,
    ...(args.maxRounds !== undefined ? { maxRounds: args.maxRounds } : {}),
    ...(target !== null ? { targetValLoss: target } : {}),
    ...(devices !== 1 ? { devices } : {}),
    ...(args.extraArgs?.length ? { extraArgs: args.extraArgs } : {}),
    // Only an interpreter that was given explicitly is pinned in tasks.json; otherwise it is resolved at run time.
    ...(args.python ? { python: args.python } : {}),
  };
  const label = trainingTaskLabel(def);
  try {
    if (folder && args.saveTask !== false) await saveTask(folder, { label, ...def, problemMatcher: [] });
    const task = await createTrainingTask(context.extensionUri, def, folder ?? vscode.TaskScope.Workspace, label, python);
    log().appendLine(`[training] starting task "${label}"`);
    return await vscode.tasks.executeTask(task);
  } catch (e) {
    await reportError('Start training', e);
    return undefined;
  }
}

async function missingFiles(dir: string, names: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const n of names) {
    try {
      await vscode.workspace.fs.stat(vscode.Uri.file(path.join(dir, n)));
    } catch {
      missing.push(n);
    }
  }
  return missing;
}

/** Add or replace the task (by label) in <folder>/.vscode/tasks.json, keeping the file's comments. */
async function saveTask(folder: vscode.WorkspaceFolder, entry: { label: string; type: string } & Record<string, unknown>): Promise<void> {
  const uri = vscode.Uri.joinPath(folder.uri, '.vscode', 'tasks.json');
  let text: string | undefined;
  try {
    text = new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
  } catch {
    text = undefined;
  }
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (open?.isDirty) text = open.getText();
  const next = upsertTask(text, entry);
  if (open?.isDirty) {
    const edit = new vscode.WorkspaceEdit();
    edit.replace(uri, new vscode.Range(open.positionAt(0), open.positionAt(open.getText().length)), next);
    await vscode.workspace.applyEdit(edit);
    await open.save();
  } else {
    await vscode.workspace.fs.createDirectory(vscode.Uri.joinPath(folder.uri, '.vscode'));
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(next));
  }
  log().appendLine(`[training] task "${entry.label}" saved in ${uri.fsPath}`);
}

/**
 * "Inheritune: Start Training": first a Python with torch and transformers (checked before anything is asked, fixed
 * with the user when it lacks them: src/commands/trainerPython.ts), then ONE form with every option of the run
 * (src/views/startTrainingForm.ts); the run becomes a task in .vscode/tasks.json (created or merged, comments kept,
 * every option by name) and starts. The training panel opens when the task starts. Returns the TaskExecution
 * (integration tests wait on it).
 *
 * From code: `executeCommand('inheritune.startTraining', { ref, data, out?, layers?, ..., prompt: false })` uses the
 * given values and defaults for the rest without asking.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { TrainingSpec } from '../training/command';
import { findTrainerDir, validateSpec } from '../training/command';
import { describeData } from '../training/dataInfo';
import { defaultRunDir, relativeToFolder } from '../training/inputs';
import { upsertTask } from '../training/tasksJson';
import { checkForm, defaultsFor, FormFields, MULTI_NODE_KEYS, splitPaths } from '../shared/startTrainingProtocol';
import { INIT_MODES, TRAINER_OPTIONS } from '../shared/trainingOptions';
import { createTrainingTask, TRAINING_TASK_TYPE, TrainingTaskDefinition, trainingTaskLabel } from '../tasks/trainingTask';
import { log, reportError } from '../ui/log';
import { describeRef, StartTrainingForm } from '../views/startTrainingForm';
import { ensureTrainerPython } from './trainerPython';

export interface StartTrainingArgs extends Partial<TrainingSpec> {
  python?: string;
  /** false: ask nothing, use defaults for what is not given. */
  prompt?: boolean;
  /** false: do not write .vscode/tasks.json. */
  saveTask?: boolean;
  /** false: skip the torch/transformers check. */
  checkPython?: boolean;
}

export async function startTrainingCommand(
  context: vscode.ExtensionContext,
  resource?: unknown,
): Promise<vscode.TaskExecution | undefined> {
  if (!vscode.workspace.isTrusted) {
    const c = await vscode.window.showErrorMessage(
      'Training runs Python and the trainer on your machine, so it needs a trusted workspace. Trust this workspace, then start training again.',
      'Manage Workspace Trust',
    );
    if (c === 'Manage Workspace Trust') void vscode.commands.executeCommand('workbench.trust.manage');
    return undefined;
  }
  if (StartTrainingForm.current) {
    StartTrainingForm.current.reveal();
    return undefined;
  }
  const args: StartTrainingArgs =
    resource && typeof resource === 'object' && !(resource instanceof vscode.Uri) && !Array.isArray(resource)
      ? (resource as StartTrainingArgs)
      : {};
  const ask = args.prompt !== false;
  const folder = vscode.workspace.workspaceFolders?.[0];
  const base = folder?.uri.fsPath;
  const trainerDir = findTrainerDir(context.extensionUri.fsPath) ?? path.join(context.extensionUri.fsPath, 'trainer');

  // 1. Python, before anything is asked.
  let python = args.python;
  let torch = '?';
  let gpus = 0;
  if (args.checkPython !== false) {
    const ok = await ensureTrainerPython(trainerDir, folder, args.python, ask);
    if (!ok) return undefined;
    python = args.python ?? ok.python;
    torch = ok.torch;
    gpus = ok.gpus;
  }

  // 2. The run: the form, or (prompt: false) the given values and defaults.
  const refGiven = args.ref ?? (resource instanceof vscode.Uri ? resource.fsPath : undefined);
  const ref = refGiven ? await describeRef(refGiven, base) : undefined;
  const dataPaths = args.data === undefined ? [] : Array.isArray(args.data) ? args.data : [args.data];
  const data = dataPaths.length ? await describeData(dataPaths, base) : undefined;
  const init = {
    python: python ?? 'python3',
    torch,
    device: gpus > 0 ? ('cuda' as const) : ('cpu' as const),
    gpus,
    ref,
    data,
    initModes: INIT_MODES,
  };
  let fields: FormFields;
  let refInfo = ref;
  let dataInfo = data;
  if (ask) {
    const form = new StartTrainingForm(context, init, base);
    const r = await form.result;
    if (!r) return undefined;
    ({ fields, ref: refInfo, data: dataInfo } = r);
  } else {
    if (!ref || ref.error || !data || data.error) {
      await reportError('Start training', new Error(ref?.error ?? data?.error ?? 'Start Training without prompts needs ref and data'));
      return undefined;
    }
    const d = defaultsFor(init, ref, data);
    fields = {
      ref: ref.path,
      data: dataPaths.join('\n'),
      out:
        args.out ??
        defaultRunDir(base ?? path.dirname(ref.path), path.basename(ref.path), args.layers ?? d?.layers ?? 1, args.growBy ?? 1, existsSync),
      devices: String(args.devices ?? 1),
    };
    // Only what was given: the trainer's defaults for the rest (as before the form).
    for (const o of TRAINER_OPTIONS) {
      const v = (args as Record<string, unknown>)[o.key];
      if (v !== undefined) fields[o.key] = String(v);
    }
    for (const k of MULTI_NODE_KEYS) {
      const v = (args as Record<string, unknown>)[k];
      if (v !== undefined) fields[k] = String(v);
    }
  }
  const check = checkForm(fields, refInfo, dataInfo, ask ? defaultsFor(init, refInfo, dataInfo) : undefined);
  if (!check.values) {
    await reportError('Start training', new Error(Object.values(check.errors).join('; ')));
    return undefined;
  }

  const rel = (p: string) => relativeToFolder(path.resolve(base ?? '', p), base);
  const paths = splitPaths(fields.data).map(rel);
  const { devices, nnodes, nodeRank, rdzvEndpoint, rdzvId, ...options } = check.values;
  const def: TrainingTaskDefinition = {
    type: TRAINING_TASK_TYPE,
    ref: rel(fields.ref),
    data: paths.length === 1 ? paths[0] : paths,
    out: rel(fields.out),
    ...options,
    ...(devices !== 1 ? { devices } : {}),
    ...(nnodes !== undefined && nnodes !== 1 ? { nnodes } : {}),
    ...(nodeRank !== undefined ? { nodeRank } : {}),
    ...(rdzvEndpoint !== undefined ? { rdzvEndpoint } : {}),
    ...(rdzvId !== undefined ? { rdzvId } : {}),
    ...(args.extraArgs?.length ? { extraArgs: args.extraArgs } : {}),
    // Only an interpreter that was given explicitly is pinned in tasks.json; otherwise it is resolved at run time
    // (inheritune.pythonPath, which the interpreter pick sets, or the Python extension's).
    ...(args.python ? { python: args.python } : {}),
  } as TrainingTaskDefinition;
  const label = trainingTaskLabel(def);
  try {
    validateSpec(def);
    if (folder && args.saveTask !== false) await saveTask(folder, { label, ...def, problemMatcher: [] });
    const task = await createTrainingTask(context.extensionUri, def, folder ?? vscode.TaskScope.Workspace, label, python);
    log().appendLine(`[training] starting task "${label}"`);
    return await vscode.tasks.executeTask(task);
  } catch (e) {
    await reportError('Start training', e);
    return undefined;
  }
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

/**
 * The first step of Start Training: a Python that has torch and transformers, before anything else is asked. When the
 * current one lacks them, a quick pick offers another interpreter (the Python extension's environments when it is
 * installed, else the ones found on PATH, in the workspace's .venv/venv folders and in conda) or installing the
 * trainer's requirements into the current one in a terminal; then the check runs again. Without prompts (a caller
 * that asked for none) a failed check is reported as an error. The choice is kept in the
 * workspace setting `inheritune.pythonPath`, which tasks use too.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { checkPythonEnv, commandLine, PythonCheck } from '../training/command';
import { findInterpreters } from '../training/interpreters';
import { pythonExtensionInterpreters, resolvePython } from '../tasks/python';
import { log, reportError } from '../ui/log';

export type OkCheck = Extract<PythonCheck, { ok: true }>;

const PICK = 'Pick another interpreter…';
const INSTALL = 'Install trainer requirements';
const TITLE = 'Start Inheritune Training: Python';

async function check(python: string, trainerDir: string): Promise<PythonCheck> {
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Checking ${python} for torch and transformers…` },
    () => checkPythonEnv(python, trainerDir),
  );
}

/** Resolve, check and (with the user) fix the trainer's Python. Undefined when the user gives up. */
export async function ensureTrainerPython(
  trainerDir: string,
  folder: vscode.WorkspaceFolder | undefined,
  given?: string,
  interactive = true,
): Promise<OkCheck | undefined> {
  let python = given ?? (await resolvePython(folder?.uri)).python;
  for (;;) {
    const r = await check(python, trainerDir);
    if (r.ok) {
      log().appendLine(`[training] python ${r.python}: torch ${r.torch}, transformers ${r.transformers}, ${r.gpus} GPU(s)`);
      return r;
    }
    log().appendLine(`[training] ${r.message}`);
    if (!interactive) {
      await reportError('Start training', new Error(r.message));
      return undefined;
    }
    const items: (vscode.QuickPickItem & { action: 'pick' | 'install' })[] = [
      {
        label: `$(search) ${PICK}`,
        detail: 'A Python with torch and transformers: a virtual environment, conda, or another install',
        action: 'pick',
      },
    ];
    if (r.reason === 'missing-packages')
      items.push({
        label: `$(cloud-download) ${INSTALL}`,
        detail: `pip install the trainer's requirements (torch, transformers, …) into ${python}, in a terminal`,
        action: 'install',
      });
    // The title says what is wrong (the placeholder, with the install command, is cut to the box's width).
    const choice = await vscode.window.showQuickPick(items, {
      title: `Start Inheritune Training: ${r.message.split(/\. |: /)[0]}`,
      placeHolder: r.message,
      ignoreFocusOut: true,
    });
    if (!choice) return undefined;
    if (choice.action === 'pick') {
      const picked = await pickInterpreter(folder);
      if (!picked) continue;
      python = picked;
      await vscode.workspace
        .getConfiguration('inheritune', folder?.uri)
        .update('pythonPath', picked, folder ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global);
      log().appendLine(`[training] inheritune.pythonPath = ${picked}`);
    } else {
      const code = await installRequirements(python, trainerDir);
      if (code !== 0) {
        void vscode.window.showWarningMessage(
          `Installing the trainer requirements into ${python} failed (exit code ${code ?? '?'}); see the terminal. A system Python often refuses pip installs: make a virtual environment (python3 -m venv .venv) and pick it.`,
        );
      }
    }
  }
}

/** A quick pick of interpreters; undefined when dismissed. */
async function pickInterpreter(folder: vscode.WorkspaceFolder | undefined): Promise<string | undefined> {
  const fromExt = await pythonExtensionInterpreters();
  const found = findInterpreters((vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath));
  const items: (vscode.QuickPickItem & { path?: string; browse?: boolean })[] = [];
  const seen = new Set<string>();
  for (const e of fromExt) {
    if (seen.has(e.path)) continue;
    seen.add(e.path);
    items.push({ label: e.label, description: e.path, detail: 'Python extension', path: e.path });
  }
  for (const c of found) {
    if (seen.has(c.path)) continue;
    seen.add(c.path);
    items.push({
      label: c.label,
      description: c.path,
      detail: c.source === 'PATH' ? 'on PATH' : c.source === 'conda' ? 'conda environment' : 'workspace environment',
      path: c.path,
    });
  }
  items.push({ label: '$(folder-opened) Browse…', detail: 'Choose a python executable', browse: true });
  const pick = await vscode.window.showQuickPick(items, {
    title: `${TITLE}: pick an interpreter`,
    placeHolder: 'The trainer needs torch and transformers in it',
    matchOnDescription: true,
    ignoreFocusOut: true,
  });
  if (!pick) return undefined;
  if (!pick.browse) return pick.path;
  const uri = await vscode.window.showOpenDialog({
    title: 'Python executable',
    canSelectFiles: true,
    canSelectFolders: false,
    openLabel: 'Use This Python',
    defaultUri: folder?.uri,
  });
  return uri?.[0]?.fsPath;
}

/** Run `python -m pip install -r <trainer>/requirements.txt` as a task in a terminal; resolve with its exit code. */
async function installRequirements(python: string, trainerDir: string): Promise<number | undefined> {
  const args = ['-m', 'pip', 'install', '-r', path.join(trainerDir, 'requirements.txt')];
  const task = new vscode.Task(
    { type: 'process', id: 'inheritune-install' },
    vscode.TaskScope.Workspace,
    INSTALL,
    'inheritune',
    new vscode.ProcessExecution(python, args),
  );
  task.presentationOptions = { reveal: vscode.TaskRevealKind.Always, panel: vscode.TaskPanelKind.Dedicated, clear: true };
  log().appendLine(`[training] ${commandLine(python, args)}`);
  const exec = await vscode.tasks.executeTask(task);
  return new Promise((resolve) => {
    const sub = vscode.tasks.onDidEndTaskProcess((e) => {
      if (e.execution !== exec) return;
      sub.dispose();
      resolve(e.exitCode);
    });
  });
}

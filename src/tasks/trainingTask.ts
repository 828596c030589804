/**
 * Task type `inheritune`: a tasks.json entry (or one built by "Inheritune: Start Training") resolves to exactly the CLI
 * command `node <extension>/dist/cli.js train ...`, run with VS Code's own Node runtime (ELECTRON_RUN_AS_NODE), so
 * no separate Node install is needed. When such a task starts, the training panel opens on its metrics.jsonl.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { TrainingSpec, trainCliArgs, validateSpec } from '../training/command';
import { trainingTasksIn } from '../training/tasksJson';
import { reportError } from '../ui/log';
import { TrainingPanel } from '../views/trainingPanel';
import { resolvePython } from './python';
import { notifyRunOutcome } from './runOutcome';

export const TRAINING_TASK_TYPE = 'inheritune';

export interface TrainingTaskDefinition extends vscode.TaskDefinition, TrainingSpec {
  type: typeof TRAINING_TASK_TYPE;
  /** Python with torch and transformers; default: inheritune.pythonPath or the Python extension's interpreter. */
  python?: string;
}

export function trainingTaskLabel(def: Pick<TrainingSpec, 'out'>): string {
  return `Inheritune: train ${path.basename(def.out.replace(/[\\/]+$/, '')) || def.out}`;
}

function folderOf(scope: vscode.Task['scope']): vscode.WorkspaceFolder | undefined {
  return scope && typeof scope === 'object' ? scope : vscode.workspace.workspaceFolders?.[0];
}

/** A path of the definition as an absolute one (relative paths are relative to the workspace folder). */
export function resolveDefPath(p: string, folder: vscode.WorkspaceFolder | undefined): string {
  const expanded = folder ? p.replace(/\$\{workspaceFolder\}/g, folder.uri.fsPath) : p;
  return path.isAbsolute(expanded) || !folder ? expanded : path.join(folder.uri.fsPath, expanded);
}

/** The task for a definition; `python` (already resolved) is used when the definition does not pin one. */
export async function createTrainingTask(
  extensionUri: vscode.Uri,
  def: TrainingTaskDefinition,
  scope: vscode.Task['scope'],
  name?: string,
  python?: string,
): Promise<vscode.Task> {
  validateSpec(def);
  const folder = folderOf(scope);
  python = def.python || python || (await resolvePython(folder?.uri)).python;
  const cli = vscode.Uri.joinPath(extensionUri, 'dist', 'cli.js').fsPath;
  // The label and tasks.json go along: the CLI re-reads the definition when the task runs, so a rerun from an entry
  // VS Code kept (Tasks: Run Task → recently used) runs what the file says now.
  const fromFile = folder && name ? ['--task', name, '--tasks-json', path.join(folder.uri.fsPath, '.vscode', 'tasks.json')] : [];
  const exec = new vscode.ProcessExecution(process.execPath, [cli, 'train', ...fromFile, ...trainCliArgs({ ...def, python }).slice(1)], {
    cwd: folder?.uri.fsPath,
    env: { ELECTRON_RUN_AS_NODE: '1' },
  });
  const task = new vscode.Task(def, scope ?? vscode.TaskScope.Workspace, name ?? trainingTaskLabel(def), TRAINING_TASK_TYPE, exec, []);
  task.detail = `${def.init && def.init !== 'inherit' ? `${def.init}: ` : 'inherit '}${def.layers ?? 'k/2'} layers, grow by ${def.growBy ?? 1} every ${def.stepsPerRound ?? 1000} steps → ${def.out}`;
  task.presentationOptions = { reveal: vscode.TaskRevealKind.Always, panel: vscode.TaskPanelKind.Dedicated, clear: true, focus: false };
  return task;
}

export class TrainingTaskProvider implements vscode.TaskProvider {
  constructor(private readonly extensionUri: vscode.Uri) {}

  /**
   * The `inheritune` entries of each folder's tasks.json. VS Code resolves tasks.json entries through resolveTask, but
   * where it does not accept the resolved task (seen in code-server 4.100: the entry was dropped as not contributed),
   * it falls back to matching provided tasks by definition, which these are.
   */
  async provideTasks(): Promise<vscode.Task[]> {
    const out: vscode.Task[] = [];
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      let text: string;
      try {
        text = new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(folder.uri, '.vscode', 'tasks.json')));
      } catch {
        continue;
      }
      for (const { label, definition } of trainingTasksIn(text, TRAINING_TASK_TYPE)) {
        try {
          out.push(await createTrainingTask(this.extensionUri, definition as TrainingTaskDefinition, folder, label));
        } catch {
          /* an invalid entry: resolveTask reports it when it is run */
        }
      }
    }
    return out;
  }

  async resolveTask(task: vscode.Task): Promise<vscode.Task | undefined> {
    const def = task.definition as TrainingTaskDefinition;
    try {
      // The same definition object, as VS Code requires of a resolved task. A rerun from an entry VS Code kept
      // ("recently used") may hand an old definition: the CLI re-reads tasks.json by label when the task runs.
      return await createTrainingTask(this.extensionUri, def, task.scope, task.name);
    } catch (e) {
      await reportError(`Task "${task.name}"`, e);
      return undefined;
    }
  }
}

/**
 * The definition of this task in the folder's tasks.json, as the file is now: the `inheritune` entry with its label
 * (VS Code may hand the name as `inheritune: <label>`), else the only entry with the same reference checkpoint.
 */
async function currentDefinition(
  folder: vscode.WorkspaceFolder,
  name: string,
  given: TrainingTaskDefinition,
): Promise<Record<string, unknown> | undefined> {
  try {
    const uri = vscode.Uri.joinPath(folder.uri, '.vscode', 'tasks.json');
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    const text = open ? open.getText() : new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
    const entries = trainingTasksIn(text, TRAINING_TASK_TYPE);
    const bare = name.replace(new RegExp(`^${TRAINING_TASK_TYPE}: `), '');
    const byLabel = entries.find((t) => t.label === name) ?? entries.find((t) => t.label === bare);
    if (byLabel) return byLabel.definition;
    const sameRef = entries.filter((t) => t.definition.ref === given.ref);
    return sameRef.length === 1 ? sameRef[0].definition : undefined;
  } catch {
    return undefined;
  }
}

/** Open the panel when a training task starts; tell it when the task ends. */
export function watchTrainingTasks(context: vscode.ExtensionContext): vscode.Disposable[] {
  // The run folder as tasks.json has it now (what the CLI runs, see createTrainingTask), else the task's own.
  const outOf = new Map<vscode.TaskExecution, vscode.Uri>();
  const currentMetrics = async (task: vscode.Task): Promise<vscode.Uri | undefined> => {
    const def = task.definition as TrainingTaskDefinition;
    if (def.type !== TRAINING_TASK_TYPE || typeof def.out !== 'string') return undefined;
    const folder = folderOf(task.scope);
    const now = folder ? await currentDefinition(folder, task.name, def) : undefined;
    const out = typeof now?.out === 'string' ? now.out : def.out;
    return vscode.Uri.file(path.join(resolveDefPath(out, folder), 'metrics.jsonl'));
  };
  const metricsOf = (task: vscode.Task): vscode.Uri | undefined => {
    const def = task.definition as Partial<TrainingTaskDefinition>;
    if (def.type !== TRAINING_TASK_TYPE || typeof def.out !== 'string') return undefined;
    return vscode.Uri.file(path.join(resolveDefPath(def.out, folderOf(task.scope)), 'metrics.jsonl'));
  };
  const started = new Map<vscode.TaskExecution, number>();
  return [
    vscode.tasks.onDidStartTask(async (e) => {
      const uri = await currentMetrics(e.execution.task);
      if (!uri) return;
      outOf.set(e.execution, uri);
      if (!vscode.workspace.getConfiguration('inheritune.training').get<boolean>('openPanelOnStart', true)) {
        TrainingPanel.current?.addRun(uri, { restart: true });
        return;
      }
      TrainingPanel.show(context, [uri], { restart: true, preserveFocus: true });
    }),
    vscode.tasks.onDidStartTaskProcess((e) => {
      if (metricsOf(e.execution.task)) started.set(e.execution, Date.now());
    }),
    vscode.tasks.onDidEndTaskProcess((e) => {
      const uri = outOf.get(e.execution) ?? metricsOf(e.execution.task);
      outOf.delete(e.execution);
      if (!uri) return;
      TrainingPanel.current?.markExited(uri, e.exitCode);
      const t0 = started.get(e.execution) ?? Date.now();
      started.delete(e.execution);
      void notifyRunOutcome(path.dirname(uri.fsPath), t0, e.exitCode);
    }),
  ];
}

/**
 * Which Python runs the trainer. In order:
 *  1. `inheritune.pythonPath` when the user set it (a deliberate choice beats an inferred one);
 *  2. the Python extension's interpreter for the folder (ms-python.python, through @vscode/python-extension);
 *  3. the setting's default, `python3`.
 */
import { PythonExtension } from '@vscode/python-extension';
import * as vscode from 'vscode';

export interface ResolvedPython {
  python: string;
  source: 'setting' | 'python-extension' | 'default';
}

export async function resolvePython(folder?: vscode.Uri): Promise<ResolvedPython> {
  const cfg = vscode.workspace.getConfiguration('inheritune', folder);
  const inspect = cfg.inspect<string>('pythonPath');
  const explicit = inspect?.workspaceFolderValue ?? inspect?.workspaceValue ?? inspect?.globalValue;
  if (explicit && explicit.trim()) return { python: expandHome(explicit.trim()), source: 'setting' };
  const fromExt = await fromPythonExtension(folder);
  if (fromExt) return { python: fromExt, source: 'python-extension' };
  return { python: cfg.get<string>('pythonPath') || 'python3', source: 'default' };
}

/** The Python extension's API, when ms-python.python is installed (undefined otherwise, or when it fails). */
export async function pythonExtensionApi(): Promise<PythonExtension | undefined> {
  if (!vscode.extensions.getExtension('ms-python.python')) return undefined;
  try {
    return await PythonExtension.api();
  } catch {
    return undefined;
  }
}

async function fromPythonExtension(folder?: vscode.Uri): Promise<string | undefined> {
  const api = await pythonExtensionApi();
  if (!api) return undefined;
  try {
    const envPath = api.environments.getActiveEnvironmentPath(folder);
    // The path may be an environment folder rather than an executable; resolve it.
    const resolved = await api.environments.resolveEnvironment(envPath).catch(() => undefined);
    const exe = resolved?.executable?.uri?.fsPath;
    if (exe) return exe;
    if (envPath?.path && !/[\\/]$/.test(envPath.path)) return envPath.path;
  } catch {
    /* the Python extension failed: fall back to the setting */
  }
  return undefined;
}

/** Executables of the environments the Python extension knows (resolved), for the interpreter pick. */
export async function pythonExtensionInterpreters(): Promise<{ path: string; label: string }[]> {
  const api = await pythonExtensionApi();
  if (!api) return [];
  const out: { path: string; label: string }[] = [];
  for (const env of api.environments.known) {
    const exe =
      env.executable?.uri?.fsPath ?? (await api.environments.resolveEnvironment(env).catch(() => undefined))?.executable?.uri?.fsPath;
    if (exe && !out.some((o) => o.path === exe))
      out.push({ path: exe, label: env.environment?.name ?? env.environment?.folderUri?.fsPath.split(/[\\/]/).pop() ?? exe });
  }
  return out;
}

function expandHome(p: string): string {
  const home = process.env.HOME ?? process.env.USERPROFILE;
  return home && (p === '~' || p.startsWith('~/')) ? home + p.slice(1) : p;
}

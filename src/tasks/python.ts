/**
 * Which Python runs the trainer. In order:
 *  1. `inheritune.pythonPath` when the user set it (a deliberate choice beats an inferred one);
 *  2. the Python extension's interpreter for the folder (ms-python.python: environments API, then the older
 *     settings.getExecutionDetails);
 *  3. the setting's default, `python3`.
 */
import * as vscode from 'vscode';

interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string } | undefined;
    resolveEnvironment?(env: { path: string } | string): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
  };
  settings?: { getExecutionDetails(resource?: vscode.Uri): { execCommand: string[] | undefined } };
}

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

async function fromPythonExtension(folder?: vscode.Uri): Promise<string | undefined> {
  const ext = vscode.extensions.getExtension<PythonExtensionApi>('ms-python.python');
  if (!ext) return undefined;
  try {
    const api = ext.isActive ? ext.exports : await ext.activate();
    const envPath = api?.environments?.getActiveEnvironmentPath(folder)?.path;
    if (envPath) {
      // The path may be an environment folder rather than an executable; resolve it when the API can.
      const resolved = await api.environments?.resolveEnvironment?.(envPath).catch(() => undefined);
      const exe = resolved?.executable?.uri?.fsPath;
      if (exe) return exe;
      if (!/[\\/]$/.test(envPath)) return envPath;
    }
    const cmd = api?.settings?.getExecutionDetails(folder)?.execCommand;
    // A single executable only: a multi-word command (conda run ...) would not fit our argument list.
    if (cmd?.length === 1 && cmd[0]) return cmd[0];
  } catch {
    /* the Python extension failed to activate: fall back to the setting */
  }
  return undefined;
}

function expandHome(p: string): string {
  const home = process.env.HOME ?? process.env.USERPROFILE;
  return home && (p === '~' || p.startsWith('~/')) ? home + p.slice(1) : p;
}

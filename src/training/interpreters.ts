/**
 * Python interpreters on this machine, for the Start Training interpreter pick when the Python extension is not
 * installed: python3 / python / python3.N on PATH, virtual environments in the workspace folders (.venv, venv, env,
 * and one level below), and conda environments (the active one, `envs/*` of the usual install roots and of
 * ~/.conda). Only existing executables are listed, each once (by resolved path). No vscode.
 */
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface InterpreterCandidate {
  /** The executable to run. */
  path: string;
  /** Where it was found, for the quick pick's description. */
  source: 'PATH' | 'workspace' | 'conda';
  /** A short name: the environment folder, or the executable name on PATH. */
  label: string;
}

export interface FindOptions {
  env?: NodeJS.ProcessEnv;
  platform?: string;
  home?: string;
}

function isExecutable(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function binOf(envDir: string, platform: string): string {
  return platform === 'win32' ? path.join(envDir, 'python.exe') : path.join(envDir, 'bin', 'python');
}

function venvBin(envDir: string, platform: string): string {
  return platform === 'win32' ? path.join(envDir, 'Scripts', 'python.exe') : path.join(envDir, 'bin', 'python');
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory() || d.isSymbolicLink())
      .map((d) => path.join(dir, d.name))
      .sort();
  } catch {
    return [];
  }
}

export function findInterpreters(workspaceFolders: readonly string[], o: FindOptions = {}): InterpreterCandidate[] {
  const env = o.env ?? process.env;
  const platform = o.platform ?? process.platform;
  const home = o.home ?? os.homedir();
  const out: InterpreterCandidate[] = [];
  const seen = new Set<string>();
  const add = (p: string, source: InterpreterCandidate['source'], label: string) => {
    if (!isExecutable(p)) return;
    let key = p;
    try {
      key = realpathSync(p);
    } catch {
      /* keep the path */
    }
    // Two venvs share one real interpreter but have different packages: only PATH entries are merged by real path.
    const id = source === 'PATH' ? key : p;
    if (seen.has(id) || (source === 'PATH' && seen.has(p))) return;
    seen.add(id);
    out.push({ path: p, source, label });
  };

  // Workspace environments first: the likeliest to have been made for this project.
  const envNames = ['.venv', 'venv', 'env', '.env'];
  for (const ws of workspaceFolders) {
    for (const n of envNames) add(venvBin(path.join(ws, n), platform), 'workspace', path.join(path.basename(ws), n));
    for (const sub of subdirs(ws)) {
      if (path.basename(sub).startsWith('.') || path.basename(sub) === 'node_modules') continue;
      for (const n of envNames) add(venvBin(path.join(sub, n), platform), 'workspace', path.join(path.basename(ws), path.basename(sub), n));
    }
  }

  // conda: the active environment, then every env of the known install roots.
  const roots = new Set<string>();
  if (env.CONDA_PREFIX) add(binOf(env.CONDA_PREFIX, platform), 'conda', path.basename(env.CONDA_PREFIX));
  if (env.CONDA_EXE) roots.add(path.dirname(path.dirname(env.CONDA_EXE)));
  for (const r of ['miniconda3', 'anaconda3', 'miniforge3', 'mambaforge', 'micromamba', '.conda']) roots.add(path.join(home, r));
  for (const r of roots) {
    if (!existsSync(r)) continue;
    add(binOf(r, platform), 'conda', `${path.basename(r)} (base)`);
    for (const e of subdirs(path.join(r, 'envs'))) add(binOf(e, platform), 'conda', path.basename(e));
  }

  // PATH.
  const names =
    platform === 'win32'
      ? ['python.exe', 'python3.exe']
      : ['python3', 'python', ...Array.from({ length: 12 }, (_, i) => `python3.${i + 8}`)];
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const n of names) add(path.join(dir, n), 'PATH', n);
  }
  return out;
}

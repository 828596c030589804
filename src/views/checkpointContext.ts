/**
 * The context key `inheritune:checkpointFolders`: the workspace folders that hold a checkpoint (config.json and
 * weights), for the Explorer menus' `resourcePath in inheritune:checkpointFolders`. Found once at activation and kept
 * up to date by a file watcher on config.json and weight files. To accept another weight format, add its file
 * pattern to WEIGHT_FILES and WATCH_GLOB (and its extension to the menus' file clauses in package.json).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';

export const CHECKPOINT_FOLDERS_KEY = 'inheritune:checkpointFolders';
/** Files that make a folder with a config.json a checkpoint. */
export const WEIGHT_FILES: RegExp[] = [/\.safetensors$/i, /^model\.safetensors\.index\.json$/i, /^pytorch_model.*\.bin(\.index\.json)?$/i];
const WATCH_GLOB = '**/{config.json,*.safetensors,model.safetensors.index.json,pytorch_model*.bin,pytorch_model*.bin.index.json}';
const EXCLUDE = '{**/node_modules/**,**/.git/**}';

/** Whether a folder holds a config.json and weights. */
export async function isCheckpointFolder(dir: string): Promise<boolean> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  return names.includes('config.json') && names.some((n) => WEIGHT_FILES.some((re) => re.test(n)));
}

export function registerCheckpointContext(): vscode.Disposable {
  const folders = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const publish = () => void vscode.commands.executeCommand('setContext', CHECKPOINT_FOLDERS_KEY, [...folders].sort());
  const recheck = async (dir: string) => {
    const had = folders.has(dir);
    const has = await isCheckpointFolder(dir);
    if (has) folders.add(dir);
    else folders.delete(dir);
    if (has !== had) {
      // Several files of one checkpoint arrive together (a rename of a finished folder, shards): publish once.
      if (timer) clearTimeout(timer);
      timer = setTimeout(publish, 100);
    }
  };
  const onUri = (uri: vscode.Uri) => {
    if (uri.scheme !== 'file') return;
    void recheck(path.dirname(uri.fsPath));
  };
  const watcher = vscode.workspace.createFileSystemWatcher(WATCH_GLOB);
  watcher.onDidCreate(onUri);
  watcher.onDidDelete(onUri);
  watcher.onDidChange(onUri);
  // A folder renamed into place (Inherit and synth write a temporary folder, then rename it) is announced as the
  // folder alone, which the glob above does not match: check every new entry that could be such a folder, and drop
  // deleted folders (and what was inside them).
  const folderWatcher = vscode.workspace.createFileSystemWatcher('**/*', false, true, false);
  folderWatcher.onDidCreate((uri) => {
    if (uri.scheme === 'file' && !path.basename(uri.fsPath).includes('.inheritune-tmp-')) void recheck(uri.fsPath);
  });
  folderWatcher.onDidDelete((uri) => {
    if (uri.scheme !== 'file') return;
    let changed = false;
    for (const f of [...folders]) {
      if (f === uri.fsPath || f.startsWith(uri.fsPath + path.sep)) {
        folders.delete(f);
        changed = true;
      }
    }
    if (changed) publish();
  });
  publish();
  void (async () => {
    const found = await vscode.workspace.findFiles('**/config.json', EXCLUDE, 10000);
    for (const uri of found) if (await isCheckpointFolder(path.dirname(uri.fsPath))) folders.add(path.dirname(uri.fsPath));
    publish();
  })();
  return vscode.Disposable.from(watcher, folderWatcher, { dispose: () => timer && clearTimeout(timer) });
}

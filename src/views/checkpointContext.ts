/**
 * The context keys of the Explorer menus (`resourcePath in inheritune:checkpointFolders`):
 * - `inheritune:checkpointFolders`: the workspace folders the commands open as a checkpoint: config.json and weights,
 *   or a single .gguf file (openCheckpoint opens it for its folder); Analyze, Inherit and Compare.
 * - `inheritune:hfCheckpointFolders`: those with config.json and weights, which the trainer loads (transformers
 *   from_pretrained, so not a .gguf); Start Training.
 * Found once at activation and kept up to date by a file watcher on config.json and weight files. To accept another
 * weight format, add its file pattern to WEIGHT_FILES and WATCH_GLOB (and its extension to the menus' file clauses in
 * package.json).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';

export const CHECKPOINT_FOLDERS_KEY = 'inheritune:checkpointFolders';
export const HF_CHECKPOINT_FOLDERS_KEY = 'inheritune:hfCheckpointFolders';
/** Files that make a folder with a config.json a checkpoint. */
export const WEIGHT_FILES: RegExp[] = [/\.safetensors$/i, /^model\.safetensors\.index\.json$/i, /^pytorch_model.*\.bin(\.index\.json)?$/i];
const GGUF_FILE = /\.gguf$/i;
const WATCH_GLOB = '**/{config.json,*.safetensors,model.safetensors.index.json,pytorch_model*.bin,pytorch_model*.bin.index.json,*.gguf}';
/**
 * Where the activation scan looks: a file every checkpoint folder holds (config.json or its .gguf). package.json's
 * activationEvents hold a `workspaceContains` event for each name (at any depth), so a workspace of GGUF files alone
 * activates the extension and gets the menus (a unit test keeps them equal).
 */
export const SCAN_FILES = ['config.json', '*.gguf'];
const SCAN_GLOB = `**/{${SCAN_FILES.join(',')}}`;
const EXCLUDE = '{**/node_modules/**,**/.git/**}';

/**
 * What checkpoint a folder is: 'hf' with a config.json and weights, else 'gguf' with exactly one .gguf file (with
 * several, the commands ask which one, so the folder is none; each file has its own menu entries), else undefined.
 */
export async function checkpointFolderKind(dir: string): Promise<'hf' | 'gguf' | undefined> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  if (names.includes('config.json') && names.some((n) => WEIGHT_FILES.some((re) => re.test(n)))) return 'hf';
  return names.filter((n) => GGUF_FILE.test(n)).length === 1 ? 'gguf' : undefined;
}

export function registerCheckpointContext(): vscode.Disposable {
  const folders = new Map<string, 'hf' | 'gguf'>();
  let timer: NodeJS.Timeout | undefined;
  const publish = () => {
    const all = [...folders.keys()].sort();
    void vscode.commands.executeCommand('setContext', CHECKPOINT_FOLDERS_KEY, all);
    void vscode.commands.executeCommand(
      'setContext',
      HF_CHECKPOINT_FOLDERS_KEY,
      all.filter((f) => folders.get(f) === 'hf'),
    );
  };
  const recheck = async (dir: string) => {
    const had = folders.get(dir);
    const has = await checkpointFolderKind(dir);
    if (has) folders.set(dir, has);
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
    for (const f of [...folders.keys()]) {
      if (f === uri.fsPath || f.startsWith(uri.fsPath + path.sep)) {
        folders.delete(f);
        changed = true;
      }
    }
    if (changed) publish();
  });
  publish();
  void (async () => {
    const found = await vscode.workspace.findFiles(SCAN_GLOB, EXCLUDE, 10000);
    for (const dir of new Set(found.map((uri) => path.dirname(uri.fsPath)))) {
      const kind = await checkpointFolderKind(dir);
      if (kind) folders.set(dir, kind);
    }
    publish();
  })();
  return vscode.Disposable.from(watcher, folderWatcher, { dispose: () => timer && clearTimeout(timer) });
}

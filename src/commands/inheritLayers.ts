/**
 * "Inheritune: Inherit First n Layers": reference → n (1..k-1, default k/2) → preset → output folder → progress with
 * cancel → reveal. All logic is the core's (planInherit/executePlan); this file only asks and reports.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { openCheckpoint, sourcePath } from '../checkpoint/checkpoint';
import { isInherituneError } from '../errors';
import { executePlan } from '../surgery/execute';
import { defaultOutDir, freeOutDir, validateLayers } from '../surgery/inputs';
import { planInherit, Preset } from '../surgery/plan';
import { abortSignalFor, log, reportError } from '../ui/log';
import { pickCheckpoint } from '../ui/pickCheckpoint';

export interface InheritArgs {
  layers?: number;
  preset?: Preset;
  out?: string;
  force?: boolean;
}

export async function inheritLayersCommand(resource?: unknown, maybeArgs?: unknown): Promise<string | undefined> {
  // From the Explorer the second argument is the multi-selection (Uri[]); from code it is InheritArgs.
  const args: InheritArgs = maybeArgs && typeof maybeArgs === 'object' && !Array.isArray(maybeArgs) ? (maybeArgs as InheritArgs) : {};
  const refPath = await pickCheckpoint(resource, 'Reference checkpoint to inherit from');
  if (!refPath) return;
  let ref;
  try {
    ref = await openCheckpoint(refPath);
  } catch (e) {
    reportError('Inherit first n layers', e);
    return;
  }
  const k = ref.dims.numLayers;
  if (k < 2) {
    reportError('Inherit first n layers', new Error(`${ref.dir} has only ${k} layer; nothing to inherit`));
    return;
  }
  let n = args.layers;
  if (n === undefined) {
    const input = await vscode.window.showInputBox({
      title: `Inherit first n layers of ${path.basename(sourcePath(ref))} (${ref.spec.family}, k = ${k})`,
      prompt: `Blocks to inherit, 1..${k - 1}. The paper's choice is n = k/2 = ${Math.floor(k / 2)}.`,
      value: String(Math.floor(k / 2)),
      validateInput: (v) => validateLayers(v, k),
    });
    if (input === undefined) return;
    n = Number(input);
  } else {
    const err = validateLayers(String(n), k);
    if (err) {
      reportError('Inherit first n layers', new Error(err));
      return;
    }
  }
  let preset = args.preset;
  if (!preset) {
    const pick = await vscode.window.showQuickPick(
      [
        { label: 'paper', description: 'copy embeddings, positions, final norm and head (default)' },
        { label: 'code', description: "as the authors' released code: re-initialise some embeddings and the final norm" },
      ],
      { title: 'Preset' },
    );
    if (!pick) return;
    preset = pick.label as Preset;
  }
  let out = args.out;
  let force = args.force;
  if (!out) {
    // A name that is free now (…-inherit-15L, then …-inherit-15L-2, …), so a second run does not collide.
    const suggested = freeOutDir(defaultOutDir(sourcePath(ref).replace(/\.gguf$/i, ''), n), existsSync);
    const input = await vscode.window.showInputBox({
      title: 'Output folder',
      value: suggested,
      prompt: 'Written atomically: nothing appears until it is complete.',
    });
    if (!input) return;
    out = path.resolve(path.dirname(ref.dir), input);
    if (existsSync(out) && !force) {
      const choice = await vscode.window.showWarningMessage(
        `${out} already exists. Replace it with the inherited model?`,
        { modal: true },
        'Replace',
      );
      if (choice !== 'Replace') return;
      force = true;
    }
  }
  const outDir = out;
  try {
    const plan = planInherit(ref, { layers: n, preset });
    const res = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Inheriting ${n} of ${k} layers`, cancellable: true },
      async (progress, token) => {
        let last = 0;
        return executePlan(plan, outDir, {
          force,
          signal: abortSignalFor(token),
          onProgress: (f, msg) => {
            const inc = Math.max(0, f * 100 - last);
            last = f * 100;
            progress.report({ increment: inc, message: msg });
          },
        });
      },
    );
    log().appendLine(`[inherit] ${ref.dir} -> ${res.out}: ${n} layers, preset ${preset}`);
    // Both work in desktop VS Code and in the browser (code-server): revealInExplorer for a folder inside the
    // workspace, a new window on the folder otherwise (revealFileInOS has no OS file manager to open in the browser).
    const inWorkspace = !!vscode.workspace.getWorkspaceFolder(vscode.Uri.file(res.out));
    void vscode.window
      .showInformationMessage(
        `Inherited ${n} layers into ${path.basename(res.out)}.`,
        ...(inWorkspace ? ['Reveal in Explorer'] : []),
        'Open Folder in New Window',
      )
      .then((c) => {
        if (c === 'Reveal in Explorer') void vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(res.out));
        if (c === 'Open Folder in New Window')
          void vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(res.out), { forceNewWindow: true });
      });
    return res.out;
  } catch (e) {
    if (isInherituneError(e) && e.code === 'E_CANCELLED') {
      void vscode.window.showInformationMessage('Inherit cancelled; nothing was written.');
      return;
    }
    reportError('Inherit first n layers', e);
    return;
  }
}

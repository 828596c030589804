/** Settings for an analysis: `inheritune.analysis.*`, a quick pick "Run with defaults / Adjust…", and the Adjust steps. */
import * as vscode from 'vscode';
import type { AnalysisSettings } from '../shared/protocol';
import { EP_NAMES, type EpName, type KStarMode } from '../shared/report';
import { describeSettings, inputSettings, settingsFromConfig, validateInt, validateTau } from './settingsModel';

export function configuredSettings(): AnalysisSettings {
  const c = vscode.workspace.getConfiguration('inheritune.analysis');
  const base = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  return settingsFromConfig(
    {
      seqLen: c.get('seqLen'),
      batch: c.get('batch'),
      tau: c.get('tau'),
      mode: c.get('mode'),
      executionProvider: c.get('executionProvider'),
      inputFile: c.get('inputFile'),
      specialTokens: c.get('specialTokens'),
      kStarExactUpTo: c.get('kStarExactUpTo'),
    },
    base,
  );
}

/** "Run with defaults" or "Adjust…"; undefined when dismissed. */
export async function chooseSettings(
  title: string,
  current: AnalysisSettings = configuredSettings(),
): Promise<AnalysisSettings | undefined> {
  const pick = await vscode.window.showQuickPick(
    [
      { label: '$(play) Run with defaults', description: describeSettings(current), id: 'run' },
      {
        label: '$(settings-gear) Adjust…',
        description: 'sequence length, batch, τ, k* mode, execution provider, k* exactness, input',
        id: 'adjust',
      },
      { label: '$(gear) Open Settings', description: 'inheritune.analysis.*', id: 'settings' },
    ],
    { title, placeHolder: 'Analyze attention: per-head k*, m*, entropy and sink mass; lazy layers' },
  );
  if (!pick) return undefined;
  if (pick.id === 'run') return current;
  if (pick.id === 'settings') {
    await vscode.commands.executeCommand('workbench.action.openSettings', 'inheritune.analysis');
    return undefined;
  }
  return adjustSettings(title, current);
}

export async function adjustSettings(title: string, cur: AnalysisSettings): Promise<AnalysisSettings | undefined> {
  const steps = 7;
  const seq = await vscode.window.showInputBox({
    title: `${title} (1/${steps})`,
    prompt: 'Sequence length T (empty: min(512, context length))',
    value: cur.seqLen ? String(cur.seqLen) : '',
    validateInput: (v) => validateInt(v, 2, true),
  });
  if (seq === undefined) return undefined;
  const batch = await vscode.window.showInputBox({
    title: `${title} (2/${steps})`,
    prompt: 'Batch: number of sequences',
    value: String(cur.batch ?? 4),
    validateInput: (v) => validateInt(v, 1, false),
  });
  if (batch === undefined) return undefined;
  const tau = await vscode.window.showInputBox({
    title: `${title} (3/${steps})`,
    prompt: 'τ: fraction of energy (k*) / mass (m*) to hold',
    value: String(cur.tau ?? 0.9),
    validateInput: validateTau,
  });
  if (tau === undefined) return undefined;
  const mode = await vscode.window.showQuickPick(
    [
      { label: 'mean', description: 'SVD of the batch-mean attention matrix (the authors’ code)' },
      { label: 'per-seq', description: 'k* per sequence, then the mean' },
    ].map((i) => ({ ...i, picked: i.label === (cur.mode ?? 'mean') })),
    { title: `${title} (4/${steps})`, placeHolder: `k* mode (now ${cur.mode ?? 'mean'})` },
  );
  if (!mode) return undefined;
  const ep = await vscode.window.showQuickPick(
    EP_NAMES.map((e) => ({
      label: e,
      description: e === 'auto' ? 'the fastest available, falling back to cpu' : e === (cur.ep ?? 'auto') ? 'current' : undefined,
    })),
    { title: `${title} (5/${steps})`, placeHolder: `Execution provider (now ${cur.ep ?? 'auto'})` },
  );
  if (!ep) return undefined;
  const exactUpTo = await pickExactUpTo(`${title} (6/${steps})`, cur.kStarExactUpTo ?? null);
  if (exactUpTo === undefined) return undefined;
  const inputNow = cur.textFile ?? cur.tokensFile;
  const input = await vscode.window.showQuickPick(
    [
      { label: 'Built-in text', id: 'builtin' },
      ...(inputNow ? [{ label: `Keep ${inputNow}`, id: 'keep' }] : []),
      { label: 'Choose a file…', description: 'text (.txt) or token ids (.bin uint16, .npy)', id: 'file' },
    ],
    { title: `${title} (7/${steps})`, placeHolder: 'Input tokens' },
  );
  if (!input) return undefined;
  let inputPart: Pick<AnalysisSettings, 'textFile' | 'tokensFile'> = {};
  if (input.id === 'keep') inputPart = { textFile: cur.textFile, tokensFile: cur.tokensFile };
  if (input.id === 'file') {
    const f = await vscode.window.showOpenDialog({
      canSelectMany: false,
      title: 'Input for the analysis',
      filters: { 'Text or tokens': ['txt', 'md', 'bin', 'npy'], All: ['*'] },
    });
    if (!f?.[0]) return undefined;
    inputPart = inputSettings(f[0].fsPath);
  }
  return {
    seed: cur.seed,
    seqLen: seq.trim() ? Number(seq) : undefined,
    batch: Number(batch),
    tau: Number(tau),
    mode: mode.label as KStarMode,
    ep: ep.label as EpName,
    ...(cur.specialTokens === false ? { specialTokens: false } : {}),
    ...(exactUpTo ? { kStarExactUpTo: exactUpTo } : {}),
    ...inputPart,
  };
}

/**
 * "k* exact for every head" or exact up to a rank r (heads certified above it get bounds): the choice that decides
 * the cost at long context. null: exact everywhere; undefined: dismissed.
 */
async function pickExactUpTo(title: string, now: number | null): Promise<number | null | undefined> {
  const items = [
    { label: 'Exact for every head', description: 'the full spectrum where a head needs it (~T³ each; slow at T ≥ 1024)', r: null },
    ...[16, 64, 256].map((r) => ({ label: `Exact up to ${r}`, description: `heads with k* > ${r} get certified bounds [lo, hi]`, r })),
    { label: 'Exact up to…', description: 'another rank', r: -1 },
  ].map((i) => ({ ...i, picked: i.r === now }));
  const pick = await vscode.window.showQuickPick(items, {
    title,
    placeHolder: `k*: exact, or certified bounds above a rank (now ${now ? `exact up to ${now}` : 'exact for every head'})`,
  });
  if (!pick) return undefined;
  if (pick.r !== -1) return pick.r;
  const v = await vscode.window.showInputBox({
    title,
    prompt: 'k* exact for heads with k* up to this rank; heads certified above it get bounds',
    value: now ? String(now) : '64',
    validateInput: (x) => validateInt(x, 1, false),
  });
  return v === undefined ? undefined : Number(v);
}

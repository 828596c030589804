/**
 * The "Adjust…" steps of Analyze Attention against a scripted fake of the `vscode` input APIs: each step's answer
 * reaches the settings, including the k* step (exact for every head, a listed rank, or a typed one).
 */
import assert from 'node:assert/strict';
import Module from 'node:module';
import { test } from 'node:test';
import type { AnalysisSettings } from '../../src/shared/protocol';

type Item = { label: string; picked?: boolean; r?: number | null };
type Step = { kind: 'input'; answer: string | undefined } | { kind: 'pick'; choose: (items: Item[]) => Item | undefined };
let script: Step[] = [];
const seen: { kind: string; title?: string; items?: Item[]; invalid?: string | undefined }[] = [];

function next(kind: Step['kind']): Step {
  const s = script.shift();
  assert.ok(s, `no scripted answer left for a ${kind} step`);
  assert.equal(s.kind, kind, `the flow asked for a ${kind} where the script has a ${s.kind}`);
  return s;
}

const vscodeMock = {
  window: {
    showInputBox: async (o: { title?: string; validateInput?: (v: string) => string | undefined }) => {
      const s = next('input') as Extract<Step, { kind: 'input' }>;
      seen.push({ kind: 'input', title: o.title, invalid: s.answer === undefined ? undefined : o.validateInput?.(s.answer) });
      return s.answer;
    },
    showQuickPick: async (items: Item[], o: { title?: string }) => {
      const s = next('pick') as Extract<Step, { kind: 'pick' }>;
      seen.push({ kind: 'pick', title: o.title, items });
      return s.choose(items);
    },
    showOpenDialog: async () => undefined,
  },
  workspace: { getConfiguration: () => ({ get: () => undefined }), workspaceFolders: undefined },
  commands: { executeCommand: async () => undefined },
};
const M = Module as unknown as { _resolveFilename: (r: string, ...a: unknown[]) => string };
const resolve = M._resolveFilename;
M._resolveFilename = function (request: string, ...rest: unknown[]) {
  return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
};
require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: vscodeMock } as unknown as NodeJS.Module;
const { adjustSettings } = require('../../src/views/analysisSettings') as typeof import('../../src/views/analysisSettings');

const byLabel = (label: string) => (items: Item[]) => items.find((i) => i.label === label);
function steps(kStar: Step[]): Step[] {
  return [
    { kind: 'input', answer: '1024' },
    { kind: 'input', answer: '1' },
    { kind: 'input', answer: '0.9' },
    { kind: 'pick', choose: byLabel('mean') },
    { kind: 'pick', choose: byLabel('cpu') },
    ...kStar,
    { kind: 'pick', choose: byLabel('Built-in text') },
  ];
}

async function run(cur: AnalysisSettings, kStar: Step[]): Promise<AnalysisSettings | undefined> {
  script = steps(kStar);
  seen.length = 0;
  const s = await adjustSettings('Analyze', cur);
  assert.equal(script.length, 0, 'every scripted step was asked');
  return s;
}

test('Adjust: seven steps; the k* step sets kStarExactUpTo from a listed rank, a typed one, or exact for every head', async () => {
  const listed = await run({}, [{ kind: 'pick', choose: byLabel('Exact up to 64') }]);
  assert.deepEqual(listed, { seed: undefined, seqLen: 1024, batch: 1, tau: 0.9, mode: 'mean', ep: 'cpu', kStarExactUpTo: 64 });
  assert.deepEqual(
    seen.map((x) => x.title),
    [1, 2, 3, 4, 5, 6, 7].map((i) => `Analyze (${i}/7)`),
  );
  const kItems = seen[5].items!;
  assert.equal(kItems.find((i) => i.picked)?.label, 'Exact for every head', 'the current choice (none set) is marked');

  const typed = await run({ kStarExactUpTo: 64 }, [
    { kind: 'pick', choose: byLabel('Exact up to…') },
    { kind: 'input', answer: '48' },
  ]);
  assert.equal(typed?.kStarExactUpTo, 48);
  assert.equal(seen[5].items!.find((i) => i.picked)?.label, 'Exact up to 64', 'the current rank is marked');
  assert.equal(seen[6].invalid, undefined, 'a whole number is valid');

  const exact = await run({ kStarExactUpTo: 64 }, [{ kind: 'pick', choose: byLabel('Exact for every head') }]);
  assert.equal(exact && 'kStarExactUpTo' in exact, false, 'exact for every head drops the rank');

  // dismissing the k* step ends the flow: the input step is never asked
  script = steps([{ kind: 'pick', choose: () => undefined }]).slice(0, -1);
  assert.equal(await adjustSettings('Analyze', {}), undefined);
  assert.equal(script.length, 0);
});

test('Adjust: a typed rank must be a whole number ≥ 1', async () => {
  script = steps([
    { kind: 'pick', choose: byLabel('Exact up to…') },
    { kind: 'input', answer: '0' },
  ]);
  seen.length = 0;
  await adjustSettings('Analyze', {});
  assert.match(seen[6].invalid ?? '', /whole number ≥ 1/);
});

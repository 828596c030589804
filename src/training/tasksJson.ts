/**
 * Add (or replace, by label) a task in the text of a `.vscode/tasks.json`, keeping its comments and formatting
 * (jsonc-parser edits, not a rewrite). Pure: text in, text out.
 */
// The ESM build: esbuild cannot follow the UMD build's require() calls (they go through a factory parameter).
import { applyEdits, FormattingOptions, modify, parse, ParseError, printParseErrorCode } from 'jsonc-parser/lib/esm/main.js';
import { InherituneError } from '../errors';
import { TRAINER_OPTIONS } from '../shared/trainingOptions';

export interface TaskEntry {
  label: string;
  type: string;
  [key: string]: unknown;
}

export function upsertTask(
  text: string | undefined,
  task: TaskEntry,
  formatting: FormattingOptions = { insertSpaces: true, tabSize: 2, eol: '\n' },
): string {
  if (text === undefined || !text.trim()) {
    return JSON.stringify({ version: '2.0.0', tasks: [task] }, null, formatting.insertSpaces ? formatting.tabSize : '\t') + '\n';
  }
  const errors: ParseError[] = [];
  const root = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  if (errors.length || root === null || typeof root !== 'object' || Array.isArray(root)) {
    const what = errors.length ? `${printParseErrorCode(errors[0].error)} at offset ${errors[0].offset}` : 'not a JSON object';
    throw new InherituneError('E_JSON', `.vscode/tasks.json cannot be read (${what}); fix it, then start training again`);
  }
  const opts = { formattingOptions: formatting };
  let out = text;
  if (root.version === undefined) out = applyEdits(out, modify(out, ['version'], '2.0.0', opts));
  const tasks: unknown = root.tasks;
  if (!Array.isArray(tasks)) return applyEdits(out, modify(out, ['tasks'], [task], opts));
  const i = tasks.findIndex((t) => t && typeof t === 'object' && (t as { label?: unknown }).label === task.label);
  if (i >= 0) return applyEdits(out, modify(out, ['tasks', i], task, opts));
  return applyEdits(out, modify(out, ['tasks', tasks.length], task, { ...opts, isArrayInsertion: true }));
}

/** The properties of the `inheritune` task type (package.json contributes.taskDefinitions): a task's identity. */
export const TRAINING_TASK_PROPERTIES = [
  'ref',
  'data',
  'out',
  ...TRAINER_OPTIONS.map((o) => o.key),
  'devices',
  'extraArgs',
  'python',
  'nnodes',
  'nodeRank',
  'rdzvEndpoint',
  'rdzvId',
] as const;

/**
 * The `type: inheritune` entries of a tasks.json text, as { label, definition } with only the declared properties
 * (unreadable text or entries without ref/data/out are skipped).
 */
export function trainingTasksIn(
  text: string,
  type = 'inheritune',
): { label: string | undefined; definition: Record<string, unknown> & { type: string } }[] {
  const root = parse(text, [], { allowTrailingComma: true, disallowComments: false });
  const tasks: unknown = root && typeof root === 'object' ? (root as { tasks?: unknown }).tasks : undefined;
  if (!Array.isArray(tasks)) return [];
  const out: { label: string | undefined; definition: Record<string, unknown> & { type: string } }[] = [];
  for (const t of tasks) {
    if (!t || typeof t !== 'object' || (t as { type?: unknown }).type !== type) continue;
    const e = t as Record<string, unknown>;
    if (!['ref', 'out'].every((k) => typeof e[k] === 'string') || !(typeof e.data === 'string' || Array.isArray(e.data))) continue;
    const definition: Record<string, unknown> & { type: string } = { type };
    for (const k of TRAINING_TASK_PROPERTIES) if (e[k] !== undefined && e[k] !== null) definition[k] = e[k];
    out.push({ label: typeof e.label === 'string' ? e.label : undefined, definition });
  }
  return out;
}

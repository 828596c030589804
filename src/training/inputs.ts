/** Input rules of the Start Training setup (kept free of vscode so tests run in Node). */
import * as path from 'node:path';

/** A whole number in [min, max]; blank is allowed when `optional`. Returns the message to show, or undefined. */
export function validateWhole(
  value: string,
  what: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
  optional = false,
): string | undefined {
  const v = value.trim();
  if (!v) return optional ? undefined : `Enter ${what}`;
  if (!/^\d+$/.test(v)) return `${what} must be a whole number`;
  const n = Number(v);
  if (n < min || n > max)
    return max === Number.MAX_SAFE_INTEGER ? `${what} must be at least ${min}` : `${what} must be between ${min} and ${max}`;
  return undefined;
}

/** Target val loss: blank (= the reference's own) or a positive number. */
export function validateTarget(value: string): string | undefined {
  const v = value.trim();
  if (!v) return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? undefined : "Enter a positive number, or leave blank to use the reference's own validation loss";
}

/** `<base>/runs/<ref>-inheritune-n<n>g<G>`, with -2, -3, ... when taken. */
export function defaultRunDir(base: string, ref: string, n: number, g: number, exists: (p: string) => boolean): string {
  const stem = `${path.basename(path.resolve(ref)).replace(/[^\w.-]+/g, '-')}-inheritune-n${n}g${g}`;
  const first = path.join(base, 'runs', stem);
  if (!exists(first)) return first;
  for (let i = 2; ; i++) {
    const p = `${first}-${i}`;
    if (!exists(p)) return p;
  }
}

/** A path relative to the workspace folder when it is inside it (portable tasks.json), else absolute. */
export function relativeToFolder(p: string, folder: string | undefined): string {
  if (!folder) return p;
  const rel = path.relative(folder, p);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel.split(path.sep).join('/') : p;
}

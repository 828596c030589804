/** Input rules shared by the CLI and the "Inherit First n Layers" command (kept free of vscode so tests run in Node). */
import * as path from 'node:path';

/** Validation of n for inheriting from a k-layer reference: 1..k-1 (n = k would be a copy). */
export function validateLayers(value: string, k: number): string | undefined {
  const v = value.trim();
  if (!/^\d+$/.test(v)) return `Enter a whole number between 1 and ${k - 1}`;
  const n = Number(v);
  if (n < 1 || n > k - 1) return `n must be between 1 and ${k - 1} (the reference has ${k} layers)`;
  return undefined;
}

/** The first of `base`, `base-2`, `base-3`, … that does not exist (for a default output folder that never collides). */
export function freeOutDir(base: string, exists: (p: string) => boolean): string {
  if (!exists(base)) return base;
  for (let i = 2; ; i++) if (!exists(`${base}-${i}`)) return `${base}-${i}`;
}

/** `<ref>-inherit-<n>L` beside the reference. */
export function defaultOutDir(ref: string, n: number): string {
  const dir = path.resolve(ref);
  return path.join(path.dirname(dir), `${path.basename(dir)}-inherit-${n}L`);
}

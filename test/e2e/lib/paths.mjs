import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = path.resolve(E2E_DIR, '../..');
export const OUT_DIR = process.env.E2E_OUT ?? path.join(E2E_DIR, 'out');
export const LOG_DIR = path.join(OUT_DIR, 'logs');
export const DOCS_SHOTS = path.join(REPO, 'docs', 'screenshots');
export const CLI = path.join(REPO, 'dist', 'cli.js');
export const CODE_SERVER_ENTRY = path.join(E2E_DIR, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
/** Keep the temp folder (workspaces, code-server data) for debugging: E2E_KEEP=1. */
export const KEEP = process.env.E2E_KEEP === '1';

const temps = new Set();
/** A fresh temp folder, removed when the harness exits (unless E2E_KEEP=1). */
export function makeTemp(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.add(dir);
  return dir;
}
export function removeTemps() {
  if (KEEP) return;
  for (const d of temps) fs.rmSync(d, { recursive: true, force: true });
  temps.clear();
}
process.on('exit', removeTemps);

import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';

/** A temporary folder removed after the test file. */
export function tmpDir(prefix = 'inheritune-test-'): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

#!/usr/bin/env node
// The integration suite (test/integration/suite/) in desktop VS Code through @vscode/test-electron, for
// contributors with a display (or xvfb-run) and internet: it downloads VS Code into .vscode-test/ on first use.
// Machines without either run the same suite in code-server: `npm run test:e2e` (group "it").
//
//   npm run test:electron                       VS Code stable
//   VSCODE_VERSION=1.100.3 npm run test:electron
//   VSCODE_EXECUTABLE=/path/to/code npm run test:electron   an installed VS Code, no download
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const require = createRequire(path.join(REPO, 'test/e2e/package.json'));

let runTests;
try {
  ({ runTests } = require('@vscode/test-electron'));
} catch {
  console.error('@vscode/test-electron is not installed: run `bash test/e2e/setup.sh` (npm ci in test/e2e) first.');
  process.exit(1);
}

const build = spawnSync(process.execPath, ['esbuild.mjs'], { cwd: REPO, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const { makeWorkspace } = await import('../e2e/lib/fixtures.mjs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'inheritune-electron-'));
const ws = path.join(tmp, 'ws');
await makeWorkspace(ws);

let code = 1;
try {
  code = await runTests({
    version: process.env.VSCODE_VERSION ?? 'stable',
    cachePath: path.join(REPO, '.vscode-test'), // the download (add .vscode-test/ to .gitignore)
    ...(process.env.VSCODE_EXECUTABLE ? { vscodeExecutablePath: process.env.VSCODE_EXECUTABLE } : {}),
    extensionDevelopmentPath: REPO,
    extensionTestsPath: path.join(HERE, 'suite', 'index.js'),
    launchArgs: [
      ws,
      '--disable-extensions',
      '--disable-workspace-trust',
      '--skip-welcome',
      '--skip-release-notes',
      '--user-data-dir',
      path.join(tmp, 'user-data'),
    ],
    extensionTestsEnv: { INHERITUNE_IT_RESULTS: path.join(tmp, 'results.jsonl') },
  });
} catch (e) {
  console.error(`VS Code could not be downloaded or started: ${e?.message ?? e}`);
  console.error('Without internet or a display, run the same suite in code-server: npm run test:e2e -- it');
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(code);

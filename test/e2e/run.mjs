#!/usr/bin/env node
// End to end in a real VS Code: code-server 4.100.3 (VS Code 1.100.3 workbench + Node extension host) driven by
// headless Debian Chromium through playwright-core. node:test, spec reporter (scripts/test-all.sh counts its
// `ℹ pass N` / `ℹ fail N`).
//
//   node test/e2e/run.mjs                 everything (npm run test:e2e)
//   node test/e2e/run.mjs b error         only some groups: pkg it a b c d error dev  (or E2E_ONLY="b error")
//   E2E_KEEP=1 node test/e2e/run.mjs      keep the temp folders (workspaces, code-server data) for debugging
//
// Screenshots and logs: test/e2e/out/ (screenshots for the README are copied to docs/screenshots/).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// node:test picks the TAP reporter when stdout is not a terminal; the spec reporter is what the suite runner counts.
if (!process.execArgv.some((a) => a.startsWith('--test-reporter')) && !process.env.NODE_TEST_CONTEXT) {
  const child = spawn(
    process.execPath,
    ['--test-reporter=spec', ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  await import('./suite.mjs');
}

// Entry that VS Code's extension host loads as extensionTestsPath: runs every *.test.js here with mocha (from
// test/e2e/node_modules, so the extension's own package stays lean). Used by both routes: code-server
// (test/e2e/run.mjs) and desktop VS Code (test/integration/electron.mjs).
//
// When INHERITUNE_IT_RESULTS names a file, one JSON object per line is appended to it for every test (pass, fail,
// pending) and a final {event:'end'}, so the harness can report each mocha test as its own node:test test even if
// the run is cut short.
'use strict';
const fs = require('fs');
const path = require('path');

const mochaPath = require.resolve('mocha', { paths: [path.resolve(__dirname, '..', '..', 'e2e')] });
const M = require(mochaPath);
const Mocha = M.Mocha || M.default || M; // mocha 11 is CommonJS; mocha 12 is ESM-only (require(esm))

exports.run = function run() {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60000, reporter: 'spec' });
  if (process.env.INHERITUNE_IT_GREP) mocha.grep(process.env.INHERITUNE_IT_GREP);
  for (const f of fs.readdirSync(__dirname).sort()) if (f.endsWith('.test.js')) mocha.addFile(path.join(__dirname, f));
  const out = process.env.INHERITUNE_IT_RESULTS;
  const record = (o) => {
    if (out) fs.appendFileSync(out, JSON.stringify(o) + '\n');
  };
  return new Promise((resolve, reject) => {
    let runner;
    try {
      runner = mocha.run((failures) => {
        record({ event: 'end', stats: runner.stats });
        if (failures) reject(new Error(`${failures} integration test(s) failed`));
        else resolve();
      });
    } catch (e) {
      record({ event: 'fail', title: 'load the integration suite', err: String((e && e.stack) || e) });
      record({ event: 'end' });
      reject(e);
      return;
    }
    runner.on('pass', (t) => record({ event: 'pass', title: t.fullTitle(), ms: t.duration }));
    runner.on('fail', (t, err) => record({ event: 'fail', title: t.fullTitle(), ms: t.duration, err: String((err && err.stack) || err) }));
    runner.on('pending', (t) => record({ event: 'pending', title: t.fullTitle() }));
  });
};

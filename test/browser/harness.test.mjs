// The test server of harness.mjs, which every browser test and check (test/browser/, test/integration/*Browser.mjs)
// loads its panel from: a page table names the pages; each is the extension's page for its bundle (panelPage.ts's
// layout: dist/webview/<bundle>/main.js, media/webview.css, media/<bundle>.css) under the theme asked for.
// Run: node --test test/browser/harness.test.mjs
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServer } from './harness.mjs';

let server;

before(async () => {
  server = await startServer({
    form: { bundle: 'startTraining', title: 'Start Inheritune Training' },
    training: { bundle: 'training', title: 'Training' },
  });
});

after(async () => {
  await server?.close();
});

const get = async (p) => {
  const r = await fetch(`${server.origin}${p}`);
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
};

test('a page of the table is its bundle’s panel page under the theme asked for, with the strict CSP', async () => {
  const form = await get('/form.html?theme=light');
  assert.equal(form.status, 200);
  assert.match(form.type, /^text\/html/);
  assert.ok(form.text.includes(`<script nonce="`), form.text);
  assert.ok(form.text.includes(`src="${server.origin}/dist/webview/startTraining/main.js"`), form.text);
  const styles = [...form.text.matchAll(/<link rel="stylesheet" href="([^"]+)">/g)].map((m) => m[1]);
  assert.deepEqual(styles, [
    `${server.origin}/themes/light.css`,
    `${server.origin}/media/webview.css`,
    `${server.origin}/media/startTraining.css`,
  ]);
  assert.match(form.text, /<title>Start Inheritune Training<\/title>/);
  assert.match(form.text, /<body class="vscode-light" data-vscode-theme-kind="vscode-light">/);
  assert.match(form.text, /Content-Security-Policy" content="default-src 'none'/);

  const training = await get('/training.html');
  assert.equal(training.status, 200);
  assert.ok(training.text.includes(`src="${server.origin}/dist/webview/training/main.js"`));
  assert.ok(training.text.includes(`href="${server.origin}/media/training.css"`));
  assert.match(training.text, /<body class="vscode-dark"/, 'dark is the default theme');
});

test('pages outside the table, and files outside the served folders, are not found', async () => {
  assert.equal((await get('/report.html')).status, 404, 'a table replaces the default pages');
  assert.equal((await get('/constructor.html')).status, 404, 'only the table’s own keys are pages');
  assert.equal((await get('/media/..%2Fpackage.json')).status, 404);
  const css = await get('/media/webview.css');
  assert.equal(css.status, 200);
  assert.match(css.type, /^text\/css/);
});

test('the default table serves the report and the viewer', async () => {
  const dflt = await startServer();
  try {
    const report = await fetch(`${dflt.origin}/report.html`).then((r) => r.text());
    assert.ok(report.includes(`src="${dflt.origin}/dist/webview/attention/main.js"`));
    const viewer = await fetch(`${dflt.origin}/viewer.html`).then((r) => r.text());
    assert.ok(viewer.includes(`src="${dflt.origin}/dist/webview/safetensors/main.js"`));
  } finally {
    await dflt.close();
  }
});

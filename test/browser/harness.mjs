// Harness for webview tests in headless Chromium: a loopback HTTP server that serves the exact page the extension
// serves (src/views/html.ts: same CSP, nonce, scripts, styles) plus a VS Code theme's --vscode-* variables, and a fake
// acquireVsCodeApi (injected like VS Code injects the real one) that records what the webview posts.
import assert from 'node:assert/strict';
import * as esbuild from 'esbuild';
import { existsSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { ROOT } from './fixtures.mjs';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
];

/** Import a TypeScript module of the project (bundled by esbuild on the fly; no tsx needed). */
export async function importTs(rel) {
  // CommonJS dependencies (yauzl, for the PyTorch zip reader) call require(), which an ES module from a data: URL
  // lacks: give the bundle one.
  const banner = `import { createRequire as __cr } from 'node:module'; const require = __cr(${JSON.stringify(path.join(ROOT, 'package.json'))});`;
  const out = await esbuild.build({
    entryPoints: [path.join(ROOT, rel)],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['vscode', 'onnxruntime-node'],
    banner: { js: banner },
    logLevel: 'silent',
  });
  return import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString('base64')}`);
}

/** Build the bundles when they are missing (the tests run against dist/, like the extension). */
export function ensureBuilt() {
  const need = ['dist/webview/attention/main.js', 'dist/webview/safetensors/main.js'];
  if (need.every((f) => existsSync(path.join(ROOT, f))) && !process.env.REBUILD) return;
  execFileSync(process.execPath, [path.join(ROOT, 'esbuild.mjs')], { cwd: ROOT, stdio: 'inherit' });
}

const TYPES = { '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json', '.svg': 'image/svg+xml', '.html': 'text/html' };

/**
 * The pages the server serves by default: `/<page>.html` → webview bundle dist/webview/<bundle>/main.js with
 * media/webview.css and media/<bundle>.css (as src/views/panelPage.ts lays out every panel), and the page's title.
 */
export const PAGES = {
  report: { bundle: 'attention', title: 'attention' },
  viewer: { bundle: 'safetensors', title: 'safetensors' },
};

/**
 * A loopback server for the panel pages in `pages` (a table like PAGES), the built bundles, media/ and the test themes.
 * `?theme=light|dark` picks the theme's --vscode-* variables and body class.
 */
export async function startServer(pages = PAGES) {
  const { webviewHtml, makeNonce } = await importTs('src/views/html.ts');
  const roots = {
    '/dist/webview/': path.join(ROOT, 'dist/webview'),
    '/media/': path.join(ROOT, 'media'),
    '/themes/': path.join(ROOT, 'test/browser/themes'),
  };
  let origin = '';
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, origin);
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204);
      return res.end();
    }
    const name = /^\/([\w-]+)\.html$/.exec(url.pathname)?.[1];
    const page = name !== undefined && Object.hasOwn(pages, name) ? pages[name] : undefined;
    if (page) {
      const theme = url.searchParams.get('theme') || 'dark';
      const html = webviewHtml({
        cspSource: origin,
        nonce: makeNonce(),
        scriptUri: `${origin}/dist/webview/${page.bundle}/main.js`,
        styleUris: [`${origin}/themes/${theme}.css`, `${origin}/media/webview.css`, `${origin}/media/${page.bundle}.css`],
        title: page.title,
      }).replace('<body>', `<body class="vscode-${theme}" data-vscode-theme-kind="vscode-${theme}">`);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      return res.end(html);
    }
    for (const [prefix, dir] of Object.entries(roots)) {
      if (!url.pathname.startsWith(prefix)) continue;
      const file = path.join(dir, decodeURIComponent(url.pathname.slice(prefix.length)));
      if (!file.startsWith(dir + path.sep) || !existsSync(file)) break;
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      return res.end(readFileSync(file));
    }
    res.writeHead(404);
    res.end('not found');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, close: () => new Promise((r) => server.close(r)) };
}

export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** The fake VS Code API, injected before any page script (as VS Code does). `autoInit` answers "ready" at once. */
function fakeApi(autoInit) {
  let state = null;
  try {
    state = JSON.parse(sessionStorage.getItem('__vscodeState') || 'null');
  } catch {
    state = null;
  }
  window.__posted = [];
  window.__csp = [];
  window.__errors = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  window.addEventListener('error', (e) => window.__errors.push(String(e.message)));
  let acquired = false;
  window.acquireVsCodeApi = () => {
    if (acquired) throw new Error('acquireVsCodeApi may be called only once');
    acquired = true;
    return {
      postMessage: (m) => {
        window.__posted.push(m);
        if (autoInit && m && m.type === 'ready') setTimeout(() => window.postMessage(autoInit, '*'), 0);
      },
      getState: () => state,
      setState: (s) => {
        state = s;
        sessionStorage.setItem('__vscodeState', JSON.stringify(s));
      },
    };
  };
}

/** Open a panel page; returns helpers to talk to it as the host would. */
export async function openPanel(
  browser,
  origin,
  { panel = 'report', theme = 'dark', width = 1440, height = 900, scale = 1, autoInit } = {},
) {
  const context = await browser.newContext({
    viewport: { width, height },
    deviceScaleFactor: scale,
    colorScheme: theme === 'light' ? 'light' : 'dark',
  });
  await context.addInitScript(fakeApi, autoInit ?? null);
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
  });
  await page.goto(`${origin}/${panel}.html?theme=${theme}`);
  const api = {
    page,
    context,
    pageErrors,
    posted: () => page.evaluate(() => window.__posted),
    cspViolations: () => page.evaluate(() => window.__csp),
    /** Wait until the webview has posted a message of this type (optionally matching) and return it. */
    async waitForPost(type, pred = () => true, timeout = 10_000) {
      const t0 = Date.now();
      for (;;) {
        const found = (await api.posted()).filter((m) => m.type === type).find(pred);
        if (found) return found;
        if (Date.now() - t0 > timeout)
          throw new Error(
            `the webview did not post ${type} within ${timeout} ms (posted: ${JSON.stringify((await api.posted()).map((m) => m.type))})`,
          );
        await page.waitForTimeout(20);
      }
    },
    clearPosted: () => page.evaluate(() => (window.__posted.length = 0)),
    send: (msg) => page.evaluate((m) => window.postMessage(m, '*'), msg),
    /** Answer a head request with a matrix, as an ArrayBuffer like the host does. */
    sendPattern: (req, T, data) =>
      page.evaluate(
        ({ req, T, values }) => {
          const f = Float32Array.from(values);
          window.postMessage(
            { type: 'headPattern', requestId: req.requestId, side: req.side, layer: req.layer, head: req.head, T, data: f.buffer },
            '*',
            [f.buffer],
          );
        },
        { req, T, values: Array.from(data) },
      ),
    close: () => context.close(),
  };
  return api;
}

/** A panel opened by openPanel threw nothing and violated no CSP rule. */
export async function assertNoErrors(p) {
  assert.deepEqual(p.pageErrors, [], 'no page errors');
  assert.deepEqual(await p.cspViolations(), [], 'no CSP violations');
}

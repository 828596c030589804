// code-server 4.100.3 (the VS Code 1.100.3 workbench and a real Node extension host) on a free loopback port,
// with its own user-data, extensions and XDG folders, so nothing of the machine's own VS Code setup leaks in.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { run, spawnTracked, stopTracked } from './proc.mjs';
import { CODE_SERVER_ENTRY, LOG_DIR, makeTemp } from './paths.mjs';

export const QUIET_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'git.enabled': false,
  'files.simpleDialog.enable': true,
  'terminal.integrated.enablePersistentSessions': false,
  'terminal.integrated.hideOnStartup': 'always',
  'terminal.integrated.gpuAcceleration': 'off', // DOM renderer: the terminal's text is readable by the tests
  'chat.commandCenter.enabled': false,
  'workbench.editor.enablePreview': false,
  'window.commandCenter': false,
};

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function dirs(name, extensionsDir) {
  const root = makeTemp(`inheritune-cs-${name}-`);
  const d = {
    root,
    userData: path.join(root, 'user-data'),
    extensions: extensionsDir ?? path.join(root, 'extensions'),
    xdgConfig: path.join(root, 'xdg', 'config'),
    xdgData: path.join(root, 'xdg', 'data'),
    xdgCache: path.join(root, 'xdg', 'cache'),
  };
  for (const k of ['userData', 'extensions', 'xdgConfig', 'xdgData', 'xdgCache']) fs.mkdirSync(d[k], { recursive: true });
  fs.mkdirSync(path.join(d.userData, 'User'), { recursive: true });
  fs.writeFileSync(path.join(d.userData, 'User', 'settings.json'), JSON.stringify(QUIET_SETTINGS, null, 2));
  return d;
}

function envFor(d, extra) {
  // No checkout on the Python path: the extension must run the trainer from its own copy.
  const { PYTHONPATH: _unused, ...inherited } = process.env;
  return {
    ...inherited,
    XDG_CONFIG_HOME: d.xdgConfig,
    XDG_DATA_HOME: d.xdgData,
    XDG_CACHE_HOME: d.xdgCache,
    // code-server would otherwise open the URL in a browser or read a password from the environment.
    PASSWORD: '',
    HASHED_PASSWORD: '',
    ...extra,
  };
}

/** `code-server --install-extension <vsix>` into a fresh extensions folder; returns that folder. */
export async function installVsix(vsix) {
  const d = dirs('install');
  const res = await run(
    process.execPath,
    [CODE_SERVER_ENTRY, '--user-data-dir', d.userData, '--extensions-dir', d.extensions, '--install-extension', vsix],
    { env: envFor(d), timeoutMs: 120_000 },
  );
  return { extensionsDir: d.extensions, output: res.stdout + res.stderr };
}

/**
 * Start code-server. `env` reaches the extension host (it inherits the server's environment). Returns
 * { port, origin, url(folder, payload?), stop() }.
 */
export async function startCodeServer({ name, extensionsDir, env = {} }) {
  const d = dirs(name, extensionsDir);
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const logFile = path.join(LOG_DIR, `code-server-${name}.log`);
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const log = fs.openSync(logFile, 'w');
    const child = spawnTracked(
      process.execPath,
      [
        CODE_SERVER_ENTRY,
        '--bind-addr',
        `127.0.0.1:${port}`,
        '--auth',
        'none',
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        '--disable-getting-started-override',
        '--user-data-dir',
        d.userData,
        '--extensions-dir',
        d.extensions,
      ],
      { stdio: ['ignore', log, log], env: envFor(d, env) },
    );
    fs.closeSync(log);
    const origin = `http://127.0.0.1:${port}`;
    const up = await waitHealthy(origin, child, 60_000);
    if (up) {
      const server = {
        name,
        port,
        origin,
        dirs: d,
        logFile,
        /** Workbench URL for `folder`; `payload` as [[key, value], ...] (extensionDevelopmentPath, extensionTestsPath). */
        url(folder, payload) {
          let u = `${origin}/?folder=${encodeURIComponent(folder)}`;
          if (payload) u += `&payload=${encodeURIComponent(JSON.stringify(payload))}`;
          return u;
        },
        /** A path on this machine as the remote URI the workbench expects in a payload. */
        remote(p) {
          return `vscode-remote://127.0.0.1:${port}${p}`;
        },
        async stop() {
          await stopTracked(child);
          // Keep the server's own logs (extension host, ptyhost) next to its stdout.
          const logs = path.join(d.userData, 'logs');
          if (fs.existsSync(logs)) fs.cpSync(logs, path.join(LOG_DIR, `code-server-${name}-logs`), { recursive: true });
        },
      };
      return server;
    }
    await stopTracked(child, 500);
    if (attempt >= 2) throw new Error(`code-server did not come up (see ${logFile})`);
  }
}

async function waitHealthy(origin, child, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (child.exitCode !== null) return false;
    try {
      const r = await fetch(`${origin}/healthz`);
      if (r.ok) return true;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return false;
}

/**
 * "Inheritune: Install GPU Runtime (CUDA)", "Inheritune: Check GPU Runtime" and the GPU status bar item
 * ("CUDA EP ready" / "WebGPU" / "CPU only"). The work is the core's (src/gpu); this file asks, shows progress with
 * cancel, and reports. Proxy: VS Code's http.proxy / http.proxyStrictSSL / http.noProxy, else HTTPS_PROXY.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { isInherituneError } from '../errors';
import { loadInstaller } from '../gpu/loadInstaller';
import { handDownload, loadCudaEpSpec, ortBinDir, ortPackageDir } from '../gpu/metadata';
import { GpuCheckReport, gpuCheckText, runGpuCheck } from '../gpu/report';
import { abortSignalFor, log, reportError } from '../ui/log';

const TITLE = 'Install GPU runtime (CUDA)';

export interface InstallGpuArgs {
  /** Install from this .nupkg (offline). */
  from?: string;
  force?: boolean;
}

const ICON: Record<GpuCheckReport['status']['label'], string> = {
  'CUDA EP ready': '$(zap)',
  WebGPU: '$(chip)',
  'CPU only': '$(circle-slash)',
};

class GpuStatusBar implements vscode.Disposable {
  readonly item = vscode.window.createStatusBarItem('inheritune.gpuStatus', vscode.StatusBarAlignment.Right, 100);
  private running: Promise<GpuCheckReport | undefined> | undefined;

  constructor() {
    this.item.name = 'Inheritune GPU status';
    this.item.command = 'inheritune.checkGpuRuntime';
    this.item.text = '$(loading~spin) GPU';
    this.item.tooltip = 'Inheritune: checking which execution providers start here…';
    this.item.show();
  }

  /** Re-run the check (one at a time) and show the result. */
  refresh(): Promise<GpuCheckReport | undefined> {
    this.running ??= (async () => {
      try {
        const r = await runGpuCheck({});
        this.show(r);
        return r;
      } catch (e) {
        this.item.text = '$(warning) GPU ?';
        this.item.tooltip = `Inheritune: the GPU check failed: ${(e as Error).message}`;
        return undefined;
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  show(r: GpuCheckReport): void {
    this.item.text = `${ICON[r.status.label]} ${r.status.label}`;
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(`**Inheritune: ${r.status.label}**\n\n`);
    md.appendText(`${r.status.summary}\n\n`);
    md.appendMarkdown(`- onnxruntime-node ${r.ortVersion ?? '?'} (${r.platform})\n`);
    md.appendMarkdown(`- CUDA EP files: ${r.install.state}\n`);
    if (r.requirements.supported) {
      md.appendMarkdown(
        `- NVIDIA driver: ${r.requirements.driver.version ?? 'not found'}${r.requirements.driver.gpus.length ? ` (${r.requirements.driver.gpus.join(', ')})` : ''}\n`,
      );
      md.appendMarkdown(
        `- CUDA libraries: ${r.requirements.missing.length ? `missing ${r.requirements.missing.join(', ')}` : 'all found'}\n`,
      );
    }
    for (const p of r.probes) md.appendMarkdown(`- ${p.ep} session: ${p.ok ? `ok (${p.ms} ms)` : 'fails'}\n`);
    md.appendMarkdown('\nClick for the full report.');
    this.item.tooltip = md;
  }

  dispose(): void {
    this.item.dispose();
  }
}

function httpOptionsFromSettings() {
  const cfg = vscode.workspace.getConfiguration('http');
  const explicit = cfg.get<string>('proxy') || undefined;
  const strict = cfg.get<boolean>('proxyStrictSSL', true);
  const noProxy = cfg.get<string[]>('noProxy', []);
  return { proxy: { explicit, env: process.env, noProxy }, rejectUnauthorized: strict };
}

async function showReport(r: GpuCheckReport, heading: string): Promise<void> {
  log().appendLine(`--- ${heading} (${new Date().toISOString()})`);
  log().appendLine(gpuCheckText(r));
}

async function install(context: vscode.ExtensionContext, bar: GpuStatusBar, args: InstallGpuArgs): Promise<void> {
  let spec;
  let binDir: string;
  try {
    const ortDir = ortPackageDir();
    spec = loadCudaEpSpec(ortDir);
    binDir = ortBinDir(ortDir);
  } catch (e) {
    return reportError(TITLE, e);
  }
  const before = await runGpuCheck({ probe: false });
  await showReport(before, 'GPU check before install');
  if (before.install.state === 'installed' && !args.force && !args.from) {
    const pick = await vscode.window.showInformationMessage(
      `The CUDA EP is already installed (${before.install.reason}). ${before.status.summary}`,
      'Reinstall',
      'Show Log',
    );
    if (pick === 'Show Log') log().show(true);
    if (pick !== 'Reinstall') return;
    args = { ...args, force: true };
  }
  const h = handDownload(spec);
  try {
    const res = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: args.from ? `Installing the CUDA EP from ${path.basename(args.from)}` : `Downloading ${spec.packageId} ${h.version}`,
        cancellable: true,
      },
      async (progress, token) => {
        let last = 0;
        // Loaded on first use from its own bundle: the installer brings the HTTP client, which activation does not need.
        const { installCudaEp } = loadInstaller();
        return installCudaEp({
          binDir,
          spec,
          from: args.from,
          force: args.force,
          cacheDir: path.join(context.globalStorageUri.fsPath, 'gpu'),
          http: httpOptionsFromSettings(),
          signal: abortSignalFor(token),
          log: (l) => log().appendLine(`[install-gpu] ${l}`),
          onProgress: (f, message) => {
            const inc = Math.max(0, f - last) * 100;
            last = Math.max(last, f);
            progress.report({ increment: inc, message });
          },
        });
      },
    );
    log().appendLine(`[install-gpu] ${res.status}: ${res.verification}`);
    const after = await bar.refresh();
    if (after) await showReport(after, 'GPU check after install');
    const pick = await vscode.window.showInformationMessage(
      `CUDA EP ${res.status === 'installed' ? 'installed' : 'already installed'} (${res.manifest.packageId} ${res.manifest.packageVersion}). GPU status: ${after?.status.summary ?? 'unknown'}`,
      'Show Log',
    );
    if (pick === 'Show Log') log().show(true);
  } catch (e) {
    if (isInherituneError(e) && e.code === 'E_CANCELLED') {
      void vscode.window.showInformationMessage('GPU runtime install cancelled; nothing was installed.');
      return;
    }
    log().appendLine(`[error] ${TITLE}: ${(e as Error).message}`);
    const offline = isInherituneError(e) && (e.details as { kind?: string } | undefined)?.kind === 'network';
    const pick = await vscode.window.showErrorMessage(
      `${TITLE}: ${(e as Error).message}`,
      ...(offline ? ['From File…', 'Copy URL'] : []),
      'Show Log',
    );
    if (pick === 'Show Log') log().show(true);
    if (pick === 'Copy URL') await vscode.env.clipboard.writeText(h.url);
    if (pick === 'From File…') {
      const file = await pickPackage(h.fileName);
      if (file) await install(context, bar, { ...args, from: file });
    }
  }
}

async function pickPackage(fileName: string): Promise<string | undefined> {
  const uris = await vscode.window.showOpenDialog({
    title: `Choose ${fileName}`,
    canSelectMany: false,
    filters: { 'NuGet package': ['nupkg'] },
    openLabel: 'Install',
  });
  return uris?.[0]?.fsPath;
}

export function registerGpu(context: vscode.ExtensionContext): void {
  const bar = new GpuStatusBar();
  context.subscriptions.push(
    bar,
    vscode.commands.registerCommand('inheritune.installGpuRuntime', async (maybeArgs?: unknown) => {
      const args: InstallGpuArgs =
        maybeArgs && typeof maybeArgs === 'object' && !(maybeArgs instanceof vscode.Uri) ? (maybeArgs as InstallGpuArgs) : {};
      if (maybeArgs instanceof vscode.Uri && maybeArgs.fsPath.endsWith('.nupkg')) args.from = maybeArgs.fsPath;
      await install(context, bar, args);
    }),
    vscode.commands.registerCommand('inheritune.checkGpuRuntime', async () => {
      try {
        const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Checking GPU runtime' }, () =>
          bar.refresh(),
        );
        if (!r) return;
        await showReport(r, 'GPU check');
        log().show(true);
        if (
          r.status.label !== 'CUDA EP ready' &&
          r.requirements.supported &&
          r.install.state !== 'installed' &&
          r.requirements.driver.found
        ) {
          const pick = await vscode.window.showInformationMessage(`${r.status.summary}`, 'Install GPU Runtime (CUDA)');
          if (pick) await install(context, bar, {});
        }
      } catch (e) {
        await reportError('Check GPU runtime', e);
      }
    }),
  );
  void bar.refresh();
}

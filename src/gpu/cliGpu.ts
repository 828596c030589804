/**
 * `inheritune install-gpu` and `inheritune gpu-check`. Wired into the CLI by `registerGpuCommands(program, signal)`.
 * The installer and the check are loaded when one of these commands runs: with their HTTP(S), stream and
 * child-process modules (and onnx-proto, for the probe) every CLI start took ~40 ms longer (`--version` 155 → 115 ms;
 * an analysis, which loads onnx-proto anyway, reaches its forward pass ~15 ms sooner).
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { InherituneError } from '../errors';
import { loadInstaller } from './loadInstaller';
import { loadCudaEpSpec, ortBinDir, ortPackageDir } from './metadata';

function progressPrinter(quiet?: boolean) {
  let last = '';
  return {
    onProgress: (f: number, msg: string) => {
      if (quiet || !process.stderr.isTTY) return;
      const line = `  ${msg} ${Math.floor(f * 100)}%`;
      if (line !== last) {
        last = line;
        process.stderr.write(`\r\x1b[K${line}`);
      }
    },
    clear: () => {
      if (!quiet && process.stderr.isTTY && last) process.stderr.write('\r\x1b[K');
    },
  };
}

export function registerGpuCommands(program: Command, signal: AbortSignal): void {
  program
    .command('install-gpu')
    .description(
      "download and install onnxruntime-node's CUDA execution provider (the NuGet package its install script names, same version), verified and placed atomically",
    )
    .option('--from <file.nupkg>', 'install from a package file you already have (offline)')
    .option('--sha512 <hash>', 'expected SHA-512 of the --from file (base64 as nuget.org shows it, or hex)')
    .option(
      '--proxy <url>',
      'HTTPS proxy, http://[user:pass@]host:port (default: $HTTPS_PROXY, $HTTP_PROXY, $ALL_PROXY; $NO_PROXY bypasses)',
    )
    .option('--force', 'reinstall even when a verified install is present')
    .option('--feed <url>', 'NuGet v3 service index (default: the one onnxruntime-node names, nuget.org)')
    .option('--cache <dir>', 'where the package is downloaded and resumed from (default ~/.cache/inheritune/gpu)')
    .option('--keep-package', 'keep the downloaded .nupkg')
    .addOption(new Option('--target <dir>', "install here instead of onnxruntime-node's binding folder").hideHelp())
    .option('--no-check', 'skip gpu-check before and after')
    .option('--quiet', 'only errors')
    .action(
      async (o: {
        from?: string;
        sha512?: string;
        proxy?: string;
        force?: boolean;
        feed?: string;
        cache?: string;
        keepPackage?: boolean;
        target?: string;
        check: boolean;
        quiet?: boolean;
      }) => {
        if (o.sha512 && !o.from)
          throw new InherituneError('E_ARGS', "--sha512 checks a --from file; a download is checked against the feed's own hash");
        const say = (s: string) => {
          if (!o.quiet) console.log(s);
        };
        const [{ installCudaEp }, { gpuCheckText, runGpuCheck }] = await Promise.all([loadInstaller(), import('./report')]);
        const ortDir = ortPackageDir();
        const spec = loadCudaEpSpec(ortDir);
        const binDir = o.target ?? ortBinDir(ortDir);
        if (o.check && !o.target) {
          const before = await runGpuCheck({ ortDir, binDir, probe: false, signal });
          say(`Before: ${gpuCheckText(before)}\n`);
        }
        const p = progressPrinter(o.quiet);
        let res;
        try {
          res = await installCudaEp({
            binDir,
            spec,
            from: o.from,
            sha512: o.sha512,
            feedIndex: o.feed,
            force: o.force,
            cacheDir: o.cache,
            keepPackage: o.keepPackage,
            http: { proxy: { explicit: o.proxy, env: process.env } },
            signal,
            onProgress: p.onProgress,
            log: (l) => {
              p.clear();
              if (!o.quiet) process.stderr.write(`  ${l}\n`);
            },
          });
        } finally {
          p.clear();
        }
        say(
          res.status === 'installed'
            ? `install-gpu: installed ${res.manifest.packageId} ${res.manifest.packageVersion} into ${res.binDir}`
            : `install-gpu: ${res.verification}`,
        );
        if (res.status === 'installed') say(`  verified: ${res.verification}`);
        if (o.check && !o.target) {
          const after = await runGpuCheck({ ortDir, binDir, signal });
          say(`\nAfter: ${gpuCheckText(after)}`);
        }
      },
    );

  program
    .command('gpu-check')
    .description('what the CUDA execution provider needs here (driver, CUDA 12, cuDNN 9) and whether WebGPU/CUDA sessions start')
    .option('--json', 'print JSON')
    .option('--no-probe', 'do not create test sessions')
    .option('--verify', 're-hash the installed CUDA EP files against the install manifest')
    .action(async (o: { json?: boolean; probe: boolean; verify?: boolean }) => {
      const { gpuCheckText, runGpuCheck } = await import('./report');
      const r = await runGpuCheck({ probe: o.probe, verify: o.verify, signal });
      console.log(o.json ? JSON.stringify(r, null, 2) : gpuCheckText(r));
    });
}

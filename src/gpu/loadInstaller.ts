/**
 * The CUDA EP installer is its own bundle, dist/gpuInstall.js (esbuild.mjs): it carries the HTTP client (undici,
 * about 530 KB minified), which every CLI start and every activation would otherwise parse (measured:
 * `inheritune --version` 252 -> 305 ms median with it inside dist/cli.js). Only install-gpu and the Install GPU
 * Runtime command load it. From sources (tsx: tests, development) the module itself is loaded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InherituneError } from '../errors';
import type { InstallOptions, InstallResult } from './install';

export interface Installer {
  installCudaEp(o: InstallOptions): Promise<InstallResult>;
}

/** `dir`: where to look for gpuInstall.js (default: beside this bundle). */
export function loadInstaller(dir = __dirname): Installer {
  const built = path.join(dir, 'gpuInstall.js');
  // A path computed at run time, so that esbuild leaves the require alone instead of bundling the installer here.
  const file = fs.existsSync(built) ? built : path.join(__dirname, 'install');
  const mod = require(file) as Installer;
  return {
    async installCudaEp(o) {
      try {
        return await mod.installCudaEp(o);
      } catch (e) {
        // The other bundle has its own InherituneError class: give the caller one of ours, so that
        // isInherituneError and the E_CANCELLED checks see it.
        if (!(e instanceof InherituneError) && (e as Error)?.name === 'InherituneError') {
          const x = e as InherituneError;
          throw Object.assign(new InherituneError(x.code, x.message, x.details), { stack: x.stack });
        }
        throw e;
      }
    },
  };
}

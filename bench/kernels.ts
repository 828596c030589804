// Times each WebAssembly kernel of src/analysis/kernels in the built modules (kernelModules.generated.ts) against
// another build of them given as .wasm files (e.g. the modules of an earlier commit, written with
// `--write-current DIR` there), in one process: the two modules get the same data, run alternately, round by round,
// and each keeps its best time (the machine may be shared). Prints a table of ms per workload and the ratio. The
// modules are compiled by the optimising tier only (--no-liftoff; --tiered keeps V8's default): when tier-up waits
// for a busy background thread, a module can run its baseline code for seconds, which made one kernel of one module
// 0.7× or 6.8× in single runs on a loaded machine.
// Usage: node --import tsx bench/kernels.ts [--against PLAIN.wasm RELAXED.wasm] [--rounds N] [--tiered]
//        [--only SUBSTRING]
//        node --import tsx bench/kernels.ts --write-current DIR (writes this build's plain.wasm and relaxed.wasm)
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { PLAIN_WASM, RELAXED_WASM } from '../src/analysis/kernels/kernelModules.generated';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
if (!process.argv.includes('--tiered')) v8.setFlagsFromString('--no-liftoff');

type Fn = (...args: number[]) => number | undefined;
interface Mod {
  buffer(): ArrayBuffer;
  fns: Record<string, Fn>;
}

const MIB = 1 << 20;

function instantiate(bytes: Uint8Array): Mod {
  const inst = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(bytes)), {});
  const x = inst.exports as unknown as Record<string, unknown>;
  const mem = (x.memory ?? x.mem) as { buffer: ArrayBuffer; grow(pages: number): number };
  mem.grow((16 * MIB - mem.buffer.byteLength) / 65536);
  return { buffer: () => mem.buffer, fns: x as unknown as Record<string, Fn> };
}

/** The same data in every module: float64 vectors in the first 8 MiB, float32 causal attention rows after. */
function fill(m: Mod): void {
  let s = 12345;
  const rand = (): number => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  const f = new Float64Array(m.buffer(), 0, MIB);
  for (let i = 0; i < f.length; i++) f[i] = rand() - 0.5;
  const g = new Float32Array(m.buffer(), 8 * MIB, (8 * MIB) / 4);
  const T = 1024;
  for (let r = 0; r < g.length / T; r++) {
    const i = r % T;
    for (let j = 0; j < T; j++) g[r * T + j] = j <= i ? rand() / (i + 1) : 0;
  }
}

const KB = 1024;
const F32 = 8 * MIB;
/** name → one timed workload (a few ms) */
const workloads: Record<string, (f: Record<string, Fn>) => void> = {
  'dot n=1024 ×40000': (f) => {
    for (let i = 0; i < 40000; i++) f.dot(0, 16 * KB + 8, 1024);
  },
  'axpy n=1024 ×40000': (f) => {
    for (let i = 0; i < 40000; i++) f.axpy(1e-9, 0, 16 * KB + 8, 1024);
  },
  'sub2 n=1024 ×40000': (f) => {
    for (let i = 0; i < 40000; i++) f.sub2(1e-9, 0, -1e-9, 16 * KB + 8, 40 * KB, 1024);
  },
  'scale n=1024 ×40000': (f) => {
    for (let i = 0; i < 40000; i++) f.scale(i & 1 ? 2 : 0.5, 0, 1024);
  },
  'dot4 n=1024 ×20000': (f) => {
    for (let i = 0; i < 20000; i++) f.dot4(0, 16 * KB, 32 * KB + 8, 48 * KB, 64 * KB + 8, 1024, 100 * KB);
  },
  'fusedRow n=1023 ×20000': (f) => {
    for (let i = 0; i < 20000; i++) f.fusedRow(0, 16 * KB, 32 * KB + 8, 48 * KB, 64 * KB + 8, 1023, 1e-9, -1e-9, 1e-9);
  },
  'matvecRow n=1023 ×20000': (f) => {
    for (let i = 0; i < 20000; i++) f.matvecRow(0, 16 * KB + 8, 32 * KB, 1023, 1e-9);
  },
  'updateRow n=1023 ×20000': (f) => {
    for (let i = 0; i < 20000; i++) f.updateRow(0, 16 * KB + 8, 32 * KB, 1023, 1e-9, -1e-9);
  },
  'rows4 n=1023 ×20000': (f) => {
    for (let i = 0; i < 20000; i++) f.rows4(0, 16 * KB, 32 * KB + 8, 48 * KB, 64 * KB + 8, 80 * KB, 1023, 100 * KB);
  },
  'absMaxMin n=4096 ×10000': (f) => {
    for (let i = 0; i < 10000; i++) f.absMaxMin(0, 4096, 100 * KB);
  },
  'gramPanel32 256 rows, 8 tiles, p=4 ×200': (f) => {
    for (let i = 0; i < 200; i++) f.gramPanel32(F32, F32 + 8 * KB, 256, 8, 200 * KB, 8 * KB, 4, 8 * 256);
  },
  'cvt8 128 blocks ×20000': (f) => {
    for (let i = 0; i < 20000; i++) f.cvt8(0, 300 * KB, 128, 96);
  },
  'rowStats32 T=1024, 64 rows, cols ×100': (f) => {
    for (let i = 0; i < 100; i++) f.rowStats32(F32 + 4 * KB * 512, 1024, 64, 400 * KB, 420 * KB, 440 * KB, 1);
  },
  'rowExtents32 T=1024, 1024 rows ×100': (f) => {
    for (let i = 0; i < 100; i++) f.rowExtents32(F32, 1024, 1024, 500 * KB);
  },
  'promote32 n=2^18 ×50': (f) => {
    for (let i = 0; i < 50; i++) f.promote32(F32, 6 * MIB, 1 << 18);
  },
};

function main(): void {
  const args = process.argv.slice(2);
  const current = { plain: Buffer.from(PLAIN_WASM, 'base64'), relaxed: Buffer.from(RELAXED_WASM, 'base64') };
  const w = args.indexOf('--write-current');
  if (w >= 0) {
    fs.mkdirSync(args[w + 1], { recursive: true });
    fs.writeFileSync(path.join(args[w + 1], 'plain.wasm'), current.plain);
    fs.writeFileSync(path.join(args[w + 1], 'relaxed.wasm'), current.relaxed);
    return;
  }
  const a = args.indexOf('--against');
  const r = args.indexOf('--rounds');
  const rounds = r >= 0 ? Number(args[r + 1]) : 15;
  const o = args.indexOf('--only');
  const builds: [string, Record<string, Uint8Array>][] = [['current', current]];
  if (a >= 0) builds.unshift(['against', { plain: fs.readFileSync(args[a + 1]), relaxed: fs.readFileSync(args[a + 2]) }]);
  for (const variant of ['plain', 'relaxed'] as const) {
    const mods = builds.map(([, b]) => instantiate(b[variant]));
    mods.forEach(fill);
    console.log(`\n${variant === 'plain' ? 'SIMD' : 'relaxed SIMD'} build: best of ${rounds} rounds, ms`);
    console.log(`${'workload'.padEnd(40)} ${builds.map(([n]) => n.padStart(9)).join(' ')}${mods.length > 1 ? '    ratio' : ''}`);
    for (const [name, run] of Object.entries(workloads)) {
      if (variant === 'relaxed' && !name.startsWith('gramPanel32')) continue; // the builds differ only there
      if (o >= 0 && !name.includes(args[o + 1])) continue;
      const best = mods.map(() => Infinity);
      for (let round = -3; round < rounds; round++) {
        // alternate which module goes first
        const order = round & 1 ? mods.map((_, i) => mods.length - 1 - i) : mods.map((_, i) => i);
        for (const i of order) {
          const t0 = performance.now();
          run(mods[i].fns);
          const dt = performance.now() - t0;
          if (round >= 0) best[i] = Math.min(best[i], dt);
        }
      }
      const ratio = best.length > 1 ? `   ${(best[1] / best[0]).toFixed(3)}` : '';
      console.log(`${name.padEnd(40)} ${best.map((b) => b.toFixed(3).padStart(9)).join(' ')}${ratio}`);
    }
  }
}

main();

// The AssemblyScript kernels against the assembled ones they replace, bit for bit: the same random inputs in both
// modules' memories, every kernel on varied sizes and offsets, return values and the whole memory compared after each
// call. Runs once, before the assembler is deleted (its result is in the commit message of the port).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as v8 from 'node:v8';
import { assemble } from '../../src/analysis/kernels/assembler';
import { wasmKernelDefs } from '../../src/analysis/kernels/wasmDefs';
import { PLAIN_WASM, RELAXED_WASM } from '../../src/analysis/kernels/kernelModules.generated';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

type Fn = (...args: number[]) => number | undefined;
interface Mod {
  mem: { buffer: ArrayBuffer; grow(pages: number): number };
  fns: Record<string, Fn>;
}

function instantiate(bytes: Uint8Array, memName: string): Mod {
  const inst = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(bytes)), {});
  const x = inst.exports as unknown as Record<string, unknown>;
  return { mem: x[memName] as Mod['mem'], fns: x as unknown as Record<string, Fn> };
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ZONE = 65536; // bytes; zones 0..15 hold float64 data, 16..31 float32 rows
const PAGES = 32;

for (const relaxed of [false, true]) {
  test(`AssemblyScript kernels equal the assembled ones bit for bit (${relaxed ? 'relaxed SIMD' : 'SIMD'})`, () => {
    const old = instantiate(assemble(wasmKernelDefs(relaxed)), 'mem');
    const neu = instantiate(Buffer.from(relaxed ? RELAXED_WASM : PLAIN_WASM, 'base64'), 'memory');
    for (const m of [old, neu]) m.mem.grow(PAGES - m.mem.buffer.byteLength / 65536);
    const rand = rng(relaxed ? 17 : 5);
    const ri = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
    const oldBytes = (): Uint8Array => new Uint8Array(old.mem.buffer);
    const newBytes = (): Uint8Array => new Uint8Array(neu.mem.buffer);
    const refill = (): void => {
      const f = new Float64Array(old.mem.buffer, 0, (16 * ZONE) / 8);
      for (let i = 0; i < f.length; i++) {
        const r = rand();
        f[i] = r < 0.03 ? 0 : (rand() - 0.5) * 2 ** ri(-20, 20);
      }
      // float32 rows: probabilities with zero runs (causal upper triangles), some negatives and exact zeros
      const g = new Float32Array(old.mem.buffer, 16 * ZONE, (16 * ZONE) / 4);
      let run = 0;
      for (let i = 0; i < g.length; i++) {
        if (run > 0) {
          g[i] = 0;
          run--;
          continue;
        }
        const r = rand();
        if (r < 0.02) run = ri(1, 40);
        g[i] = r < 0.05 ? 0 : r < 0.07 ? -rand() : rand() * 2 ** ri(-12, 0);
      }
      newBytes().set(oldBytes());
    };
    // a byte address in f64 zone z: 8-byte aligned, odd or even double
    const at = (z: number): number => z * ZONE + 8 * ri(0, 63);
    const at32 = (z: number): number => (16 + z) * ZONE + 4 * ri(0, 31);
    const sizes = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 33, 64, 127, 1000, 4099];
    const pickN = (): number => (rand() < 0.5 ? sizes[ri(0, sizes.length - 1)] : ri(0, 300));
    const sc = (): number => (rand() - 0.5) * 6;
    let calls = 0;
    const same = (name: string, args: number[]): void => {
      const a = old.fns[name](...args);
      const b = neu.fns[name](...args);
      calls++;
      const bits = (v: number | undefined): string => (v === undefined ? 'void' : Buffer.from(Float64Array.of(v).buffer).toString('hex'));
      assert.equal(bits(b), bits(a), `${name}(${args.join(', ')}) returned ${b}, the assembled kernel ${a}`);
      if (Buffer.compare(oldBytes(), newBytes()) !== 0) {
        const o = oldBytes();
        const n = newBytes();
        let i = 0;
        while (o[i] === n[i]) i++;
        assert.fail(`${name}(${args.join(', ')}): memory differs from the assembled kernel's at byte ${i}`);
      }
    };
    const cases: Record<string, () => number[]> = {
      dot: () => [at(0), at(1), pickN()],
      axpy: () => [sc(), at(0), at(1), pickN()],
      sub2: () => [sc(), at(0), sc(), at(1), at(2), pickN()],
      scale: () => [sc(), at(0), pickN()],
      dot4: () => [at(0), at(1), at(2), at(3), at(4), pickN(), at(5)],
      fusedRow: () => [at(0), at(1), at(2), at(3), at(4), pickN(), sc(), sc(), sc()],
      matvecRow: () => [at(0), at(1), at(2), pickN(), sc()],
      updateRow: () => [at(0), at(1), at(2), pickN(), sc(), sc()],
      rows4: () => [at(0), at(1), at(2), at(3), at(4), at(5), pickN(), at(6)],
      absMaxMin: () => {
        const x = at(0);
        const n = 4 * ri(1, 300);
        const f = (v: number, i: number): void => {
          new Float64Array(old.mem.buffer)[x / 8 + i] = v;
          new Float64Array(neu.mem.buffer)[x / 8 + i] = v;
        };
        if (rand() < 0.3) f(NaN, ri(0, n - 1));
        if (rand() < 0.3) f(-0, ri(0, n - 1));
        return [x, n, at(1)];
      },
      gramPanel32: () => {
        const nrows = ri(1, 40);
        const tileBytes = nrows * 32 + 32 * ri(0, 2);
        const p = ri(1, 6);
        const ntiles = ri(1, 4);
        const pj = (16 + 0) * ZONE + 32 * ri(0, 8);
        const pk = (16 + 4) * ZONE + 32 * ri(0, 8);
        return [pj, pk, nrows, ntiles, at(8), tileBytes, p, ntiles * 256 + 16 * ri(0, 4)];
      },
      cvt8: () => [at(0), at32(1), ri(0, 12), 32 * ri(1, 4) + 16 * ri(0, 1)],
      rowStats32: () => {
        const ld = 4 * ri(1, 40);
        return [at32(0) & ~3, ld, ri(0, 24), at(0), at(1), at(2), ri(0, 1)];
      },
      rowExtents32: () => [at32(0), 4 * ri(1, 40), ri(0, 24), at(0)],
      promote32: () => [at32(0), at(0), ri(0, 300)],
    };
    for (let round = 0; round < 40; round++) {
      refill();
      for (const [name, args] of Object.entries(cases)) for (let k = 0; k < 8; k++) same(name, args());
    }
    assert.ok(calls >= 40 * 15 * 8);
  });
}

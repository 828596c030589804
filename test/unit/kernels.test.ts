// The WebAssembly kernels as built: the checked-in modules are what the AssemblyScript sources compile to, both builds
// (with and without relaxed SIMD) load and pass the self-test, and each float64 kernel agrees with its JS twin on
// varied lengths and offsets (the self-test at load covers only n ≤ 33 at fixed offsets).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as v8 from 'node:v8';
import { JsKernels } from '../../src/analysis/kernels/jsKernels';
import { PLAIN_WASM, RELAXED_WASM } from '../../src/analysis/kernels/kernelModules.generated';
import { createWasmKernels } from '../../src/analysis/kernels/wasmKernels';
import { readFileSync } from 'node:fs';

// Node 20 has relaxed SIMD behind this flag (the CLI sets it the same way, src/cli.ts).
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

test('the checked-in kernel modules are a fresh compile of src/analysis/kernels/assembly', async () => {
  // a dynamic import: the compiler (assemblyscript/asc) is an ES module that this CommonJS-compiled test cannot require
  const { compileKernels, GENERATED, kernelModulesSource } = await import('../../scripts/buildKernels.mjs');
  const fresh = await compileKernels();
  assert.equal(
    readFileSync(GENERATED, 'utf8'),
    kernelModulesSource(fresh),
    `${GENERATED} is stale: run npm run build:kernels (or npm run build) and commit it`,
  );
  assert.deepEqual(Buffer.from(PLAIN_WASM, 'base64'), Buffer.from(fresh.plain));
  assert.deepEqual(Buffer.from(RELAXED_WASM, 'base64'), Buffer.from(fresh.relaxed));
  assert.notDeepEqual(Buffer.from(fresh.plain), Buffer.from(fresh.relaxed), 'the relaxed build should use relaxed_madd');
});

test('both kernel builds load and pass the self-test against the JS kernels', () => {
  const plain = createWasmKernels('off');
  assert.ok(plain, 'the SIMD build should load');
  assert.equal(plain.relaxed, false);
  const relaxed = createWasmKernels('auto');
  assert.ok(relaxed, 'the relaxed SIMD build should load once the V8 flag is on');
  assert.equal(relaxed.relaxed, true);
});

test('float64 kernels agree with their JS twins on lengths 0…4099 at odd and even offsets', () => {
  const k = createWasmKernels('off');
  assert.ok(k);
  const js = new JsKernels();
  const N = 4200; // doubles per operand region
  const R = 12;
  k.ensure(R * N);
  js.ensure(R * N);
  let seed = 7;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648 - 0.5;
  };
  const fill = (): void => {
    for (let i = 0; i < R * N; i++) k.f[i] = js.f[i] = rand() * 4;
  };
  // relative to the sum of |terms| (the JS twins group their sums differently from the kernels' SIMD lanes)
  const close = (a: number, b: number, scale: number, what: string): void =>
    assert.ok(Math.abs(a - b) <= 1e-13 * scale + 1e-300, `${what}: wasm ${a}, js ${b}`);
  const absDot = (x: number, y: number, n: number): number => {
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.abs(js.f[x + i] * js.f[y + i]);
    return s;
  };
  for (const n of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 31, 64, 65, 127, 1000, 1001, 4096, 4099]) {
    for (const off of [0, 1]) {
      fill();
      const at = (r: number): number => r * N + off + (r % 3);
      const what = `n = ${n}, offset ${off}`;
      close(k.dot(at(0), at(1), n), js.dot(at(0), at(1), n), absDot(at(0), at(1), n), `dot ${what}`);
      close(k.sumsq(at(2), n), js.sumsq(at(2), n), absDot(at(2), at(2), n), `sumsq ${what}`);
      const scaleMv = absDot(at(5), at(6), n) + 1;
      close(k.matvecRow(at(5), at(6), at(7), n, 0.75), js.matvecRow(at(5), at(6), at(7), n, 0.75), scaleMv, `matvecRow ${what}`);
      close(
        k.fusedRow(at(0), at(1), at(2), at(3), at(4), n, 0.5, -1.25, 2),
        js.fusedRow(at(0), at(1), at(2), at(3), at(4), n, 0.5, -1.25, 2),
        4 * absDot(at(0), at(3), n) + 64 * n,
        `fusedRow ${what}`,
      );
      k.axpy(1.5, at(8), at(9), n);
      js.axpy(1.5, at(8), at(9), n);
      k.sub2(0.3, at(10), -2, at(11), at(9), n);
      js.sub2(0.3, at(10), -2, at(11), at(9), n);
      k.scale(-3, at(8), n);
      js.scale(-3, at(8), n);
      k.updateRow(at(10), at(8), at(9), n, 0.25, 4);
      js.updateRow(at(10), at(8), at(9), n, 0.25, 4);
      k.dot4(at(1), at(2), at(3), at(4), at(5), n, 11 * N + 4096);
      js.dot4(at(1), at(2), at(3), at(4), at(5), n, 11 * N + 4096);
      k.rows4(at(2), at(3), at(4), at(5), at(6), at(7), n, 11 * N + 4100);
      js.rows4(at(2), at(3), at(4), at(5), at(6), at(7), n, 11 * N + 4100);
      for (let i = 0; i < R * N; i++) {
        const a: number = k.f[i];
        const b: number = js.f[i];
        if (Math.abs(a - b) > 1e-12 * (1 + Math.abs(b)) * Math.max(1, n / 64)) assert.fail(`${what}: heap[${i}] = ${a}, JS ${b}`);
      }
    }
  }
});

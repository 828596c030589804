/**
 * The WebAssembly SIMD kernels: written in AssemblyScript (assembly/), compiled at build time into the two modules of
 * kernelModules.generated.ts (with and without relaxed SIMD), instantiated here, checked against the JS twins
 * (jsKernels.ts) on odd and even lengths, and used only if that self-test passes (it cannot under a CSP without
 * 'wasm-unsafe-eval'; the JS kernels are used then). Method arguments are heap offsets in doubles unless a comment says
 * bytes. Imports this folder only.
 */
import { JsKernels, Kernels } from './jsKernels';
import { PLAIN_WASM, RELAXED_WASM } from './kernelModules.generated';

interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

export type WasmExports = {
  mem: WasmMemory;
  dot(x: number, y: number, n: number): number;
  axpy(a: number, x: number, y: number, n: number): void;
  sub2(a: number, x: number, b: number, y: number, z: number, n: number): void;
  scale(a: number, x: number, n: number): void;
  dot4(x: number, y0: number, y1: number, y2: number, y3: number, n: number, out: number): void;
  fusedRow(g: number, w: number, v: number, u: number, p: number, n: number, vi: number, wi: number, ui: number): number;
  matvecRow(g: number, u: number, p: number, n: number, ui: number): number;
  updateRow(g: number, w: number, v: number, n: number, vi: number, wi: number): void;
  rows4(a0: number, a1: number, a2: number, a3: number, q: number, z: number, n: number, d: number): void;
  gramPanel32(pj: number, pk: number, nrows: number, ntiles: number, acc: number, tileBytes: number, p: number, accStride: number): void;
  cvt8(src: number, dst: number, nblocks: number, stride: number): void;
  absMaxMin(x: number, n: number, out: number): void;
  rowStats32(src: number, ld: number, nrows: number, col: number, col2: number, ent: number, doCols: number): void;
  rowExtents32(src: number, ld: number, nrows: number, out: number): void;
  promote32(src: number, dst: number, n: number): void;
};

export class WasmKernels implements Kernels {
  readonly kind = 'wasm' as const;
  f: Float64Array;
  private readonly x: WasmExports;

  constructor(
    exports: WasmExports,
    /** The float32 Gram tiles use relaxed SIMD multiply-add. */
    readonly relaxed: boolean,
  ) {
    this.x = exports;
    this.f = new Float64Array(exports.mem.buffer);
  }

  ensure(doubles: number): void {
    const bytes = doubles * 8;
    const have = this.x.mem.buffer.byteLength;
    if (bytes > have) {
      if (bytes > 2 ** 32 - 65536) throw new RangeError('analysis kernels: problem too large for the WebAssembly heap (4 GiB)');
      const want = Math.max(bytes, Math.min(2 ** 32 - 65536, Math.floor(have * 1.5)));
      this.x.mem.grow(Math.ceil((want - have) / 65536));
    }
    if (this.f.buffer !== this.x.mem.buffer) this.f = new Float64Array(this.x.mem.buffer);
  }

  // offsets (doubles) → byte addresses
  dot(x: number, y: number, n: number): number {
    return this.x.dot(x * 8, y * 8, n);
  }
  sumsq(x: number, n: number): number {
    return this.x.dot(x * 8, x * 8, n);
  }
  axpy(a: number, x: number, y: number, n: number): void {
    this.x.axpy(a, x * 8, y * 8, n);
  }
  sub2(a: number, x: number, b: number, y: number, z: number, n: number): void {
    this.x.sub2(a, x * 8, b, y * 8, z * 8, n);
  }
  scale(a: number, x: number, n: number): void {
    this.x.scale(a, x * 8, n);
  }
  dot4(x: number, y0: number, y1: number, y2: number, y3: number, n: number, out: number): void {
    this.x.dot4(x * 8, y0 * 8, y1 * 8, y2 * 8, y3 * 8, n, out * 8);
  }
  fusedRow(g: number, w: number, v: number, u: number, p: number, n: number, vi: number, wi: number, ui: number): number {
    return this.x.fusedRow(g * 8, w * 8, v * 8, u * 8, p * 8, n, vi, wi, ui);
  }
  matvecRow(g: number, u: number, p: number, n: number, ui: number): number {
    return this.x.matvecRow(g * 8, u * 8, p * 8, n, ui);
  }
  updateRow(g: number, w: number, v: number, n: number, vi: number, wi: number): void {
    this.x.updateRow(g * 8, w * 8, v * 8, n, vi, wi);
  }
  rows4(a0: number, a1: number, a2: number, a3: number, q: number, z: number, n: number, d: number): void {
    this.x.rows4(a0 * 8, a1 * 8, a2 * 8, a3 * 8, q * 8, z * 8, n, d * 8);
  }
  /** See gramPanel32 in assembly/gram32.ts; addresses in bytes. */
  gramPanel32(pj: number, pk: number, nrows: number, ntiles: number, acc: number, tileBytes: number, p: number, accStride: number): void {
    this.x.gramPanel32(pj, pk, nrows, ntiles, acc, tileBytes, p, accStride);
  }
  /** See cvt8 in assembly/gram32.ts; addresses in bytes. */
  cvt8(src: number, dst: number, nblocks: number, stride: number): void {
    this.x.cvt8(src, dst, nblocks, stride);
  }
  /** See assembly/f32rows.ts; addresses in bytes. */
  rowExtents32(src: number, ld: number, nrows: number, out: number): void {
    this.x.rowExtents32(src, ld, nrows, out);
  }
  /** See assembly/f32rows.ts; addresses in bytes. */
  promote32(src: number, dst: number, n: number): void {
    this.x.promote32(src, dst, n);
  }
  /** See assembly/f32rows.ts; addresses in bytes. */
  rowStats32(src: number, ld: number, nrows: number, col: number, col2: number, ent: number, doCols: boolean): void {
    this.x.rowStats32(src, ld, nrows, col, col2, ent, doCols ? 1 : 0);
  }
  /** [max |x_i| (NaN if any is NaN), min x_i] of n ≥ 2 doubles at heap offset x (out: 2 doubles of scratch). */
  absMaxMin(x: number, n: number, out: number): [number, number] {
    const n4 = n & ~3;
    let mx = 0;
    let mn = Infinity;
    let nan = false;
    if (n4 > 0) {
      this.x.absMaxMin(x * 8, n4, out * 8);
      mx = this.f[out];
      mn = this.f[out + 1];
      nan = this.f[out + 2] !== 0;
    }
    for (let i = n4; i < n; i++) {
      const v = this.f[x + i];
      if (v !== v) nan = true;
      mx = Math.max(mx, Math.abs(v));
      mn = Math.min(mn, v);
    }
    return [nan ? NaN : mx, mn];
  }
}

/** Exercises every kernel on odd and even lengths against the JS kernels. */
function selfTest(k: Kernels): boolean {
  const js = new JsKernels();
  const N = 64;
  k.ensure(16 * N);
  js.ensure(16 * N);
  const fill = (): void => {
    for (let i = 0; i < 16 * N; i++) {
      const v = Math.sin(i * 1.7) * 3 + (i % 7) * 0.25;
      k.f[i] = v;
      js.f[i] = v;
    }
  };
  const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-12 * (1 + Math.abs(b));
  for (const n of [0, 1, 2, 3, 4, 5, 6, 7, 9, 33]) {
    fill();
    const r: [number, number][] = [
      [k.dot(1, 3 * N + 2, n), js.dot(1, 3 * N + 2, n)],
      [k.sumsq(5, n), js.sumsq(5, n)],
      [k.fusedRow(0, N, 2 * N + 1, 3 * N, 4 * N + 3, n, 0.5, -1.25, 2), js.fusedRow(0, N, 2 * N + 1, 3 * N, 4 * N + 3, n, 0.5, -1.25, 2)],
      [k.matvecRow(5 * N, 6 * N + 1, 7 * N, n, -0.75), js.matvecRow(5 * N, 6 * N + 1, 7 * N, n, -0.75)],
    ];
    k.axpy(1.5, 8 * N, 9 * N + 1, n);
    js.axpy(1.5, 8 * N, 9 * N + 1, n);
    k.sub2(0.3, 10 * N, -2, 11 * N + 1, 12 * N, n);
    js.sub2(0.3, 10 * N, -2, 11 * N + 1, 12 * N, n);
    k.scale(-3, 13 * N + 1, n);
    js.scale(-3, 13 * N + 1, n);
    k.updateRow(14 * N, 8 * N + 3, 9 * N + 5, n, 0.25, 4);
    js.updateRow(14 * N, 8 * N + 3, 9 * N + 5, n, 0.25, 4);
    k.dot4(1, 2 * N, 3 * N + 1, 4 * N, 5 * N + 3, n, 15 * N);
    js.dot4(1, 2 * N, 3 * N + 1, 4 * N, 5 * N + 3, n, 15 * N);
    k.rows4(2 * N + 1, 3 * N, 4 * N + 1, 5 * N, 6 * N + 3, 7 * N + 1, n, 15 * N + 8);
    js.rows4(2 * N + 1, 3 * N, 4 * N + 1, 5 * N, 6 * N + 3, 7 * N + 1, n, 15 * N + 8);
    for (const [a, b] of r) if (!close(a, b)) return false;
    for (let i = 0; i < 16 * N; i++) if (!close(k.f[i], js.f[i])) return false;
  }
  return k instanceof WasmKernels ? selfTestWasmOnly(k) : true;
}

/** The kernels without a JS twin (float32 Gram tiles, conversion, max/min scan), on exact data. */
function selfTestWasmOnly(k: WasmKernels): boolean {
  const f = k.f;
  f.fill(0, 0, 1024);
  // absMaxMin over 13 doubles at offset 2 (max |x| = 6.5 at an odd index, min = −5.5); then a NaN
  for (let i = 0; i < 13; i++) f[2 + i] = (i % 5) - 2 + (i === 7 ? -5.5 : 0) + (i === 9 ? 4.5 : 0);
  let [mx, mn] = k.absMaxMin(2, 13, 40);
  if (mx !== 6.5 || mn !== -5.5) return false;
  f[2 + 5] = NaN;
  [mx] = k.absMaxMin(2, 12, 40);
  if (mx === mx) return false;
  // cvt8: 2 blocks of 8 doubles → floats 96 bytes apart
  for (let i = 0; i < 16; i++) f[64 + i] = 1 / (i + 3);
  f.fill(0, 128, 192);
  k.cvt8(64 * 8, 128 * 8, 2, 96);
  const g = new Float32Array(f.buffer, 128 * 8, 48);
  for (let i = 0; i < 16; i++) if (g[(i >> 3) * 24 + (i & 7)] !== Math.fround(1 / (i + 3))) return false;
  // gramPanel32: a 3-row chunk of a layout with 2 column blocks (tiles 96 bytes apart) of small
  // integers (exact sums); J blocks p = 2 (columns 0..3 and 4..7), K tiles 2
  const base = 256; // doubles; layout floats at byte 2048
  const L = new Float32Array(f.buffer, base * 8, 48);
  for (let t = 0; t < 48; t++) L[t] = ((t * 7) % 11) - 3;
  const acc = 320;
  f.fill(0, acc, acc + 2 * 70);
  k.gramPanel32(base * 8, base * 8, 3, 2, acc * 8, 96, 2, 70 * 8);
  const A = (r: number, c: number): number => L[(c >> 3) * 24 + r * 8 + (c & 7)];
  for (let b = 0; b < 2; b++) {
    for (let t = 0; t < 2; t++) {
      for (let sj = 0; sj < 4; sj++) {
        for (let c = 0; c < 8; c++) {
          let want = 0;
          for (let r = 0; r < 3; r++) want += A(r, 4 * b + sj) * A(r, 8 * t + c);
          if (f[acc + b * 70 + t * 32 + sj * 8 + c] !== want) return false;
        }
      }
    }
  }
  return true;
}

const decode = (base64: string): Uint8Array => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));

/** The module with relaxed SIMD where the engine has it (Node ≥ 22, Electron, browsers), else without. */
export function createWasmKernels(relaxedSimd: 'auto' | 'off'): WasmKernels | null {
  const WA = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
  if (!WA) return null;
  for (const relaxed of relaxedSimd === 'off' ? [false] : [true, false]) {
    try {
      const inst = new WA.Instance(new WA.Module(decode(relaxed ? RELAXED_WASM : PLAIN_WASM)), {});
      // AssemblyScript exports the memory as `memory`
      const exports = { ...inst.exports, mem: inst.exports.memory } as unknown as WasmExports;
      const k = new WasmKernels(exports, relaxed);
      if (selfTest(k)) return k;
    } catch {
      // relaxed SIMD not enabled; no SIMD support; a CSP forbids compilation; …
    }
  }
  return null;
}

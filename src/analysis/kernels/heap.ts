/**
 * The kernels in use (WebAssembly SIMD when it loads, else plain JS; selectable for tests and benchmarks) and their
 * heap: one growable float64 array, allocated with a stack discipline (callers release to a mark when done). All
 * matrices of the rank and metrics code live here, addressed by offsets in doubles. Imports only this folder.
 */
import { JsKernels, Kernels } from './jsKernels';
import { createWasmKernels, WasmKernels } from './wasmKernels';

let relaxedSimdChoice: 'auto' | 'off' = 'auto';

let kernelsCache: Kernels | null = null;
let wasmCache: Kernels | null | undefined;
let backendChoice: 'auto' | 'js' | 'wasm' = 'auto';
/** First free heap offset (doubles). */
let heapTop = 0;

/** The kernels in use (created lazily). */
export function kernels(): Kernels {
  if (kernelsCache) return kernelsCache;
  if (backendChoice !== 'js') {
    if (wasmCache === undefined) wasmCache = createWasmKernels(relaxedSimdChoice);
    if (wasmCache) return (kernelsCache = wasmCache);
    if (backendChoice === 'wasm') throw new Error('analysis kernels: the WebAssembly SIMD backend is not available');
  }
  return (kernelsCache = new JsKernels());
}

/** Selects the kernel backend ('auto': WASM SIMD when available). Returns the backend in use. */
export function setKernelBackend(choice: 'auto' | 'js' | 'wasm'): 'js' | 'wasm' {
  backendChoice = choice;
  kernelsCache = null;
  heapTop = 0;
  return kernels().kind;
}

/**
 * Tests/benchmarks: 'off' builds the kernels without relaxed SIMD. Returns whether the kernels in use now have it
 * (false on the JS backend).
 */
export function setRelaxedSimd(choice: 'auto' | 'off'): boolean {
  relaxedSimdChoice = choice;
  wasmCache = undefined;
  kernelsCache = null;
  heapTop = 0;
  const k = kernels();
  return k instanceof WasmKernels && k.relaxed;
}

/** Allocates `n` doubles on the kernel heap (16-byte aligned, staggered against 4K aliasing). */
export function heapAlloc(n: number): number {
  const k = kernels();
  const o = ((heapTop + 1) & ~1) + 6;
  heapTop = o + n;
  k.ensure(heapTop + 8);
  return o;
}

export function heapMark(): number {
  return heapTop;
}

export function heapRelease(mark: number): void {
  heapTop = mark;
}

/** Runs fn and releases everything it allocated on the heap. */
export function withHeap<R>(fn: () => R): R {
  const mark = heapTop;
  try {
    return fn();
  } finally {
    heapTop = mark;
  }
}

/**
 * Leading dimension for n-vectors stored side by side: n rounded up to even plus 10 doubles, so
 * consecutive rows never sit at the same address modulo 4 KiB when n is a power of two (4K
 * aliasing between stores to one row and loads of another).
 */
export function paddedStride(n: number): number {
  return ((n + 1) & ~1) + 10;
}

/**
 * The n×n row-major float32 matrix at a[o ...] copied onto the (WASM) kernel heap as float32 rows of ld = n rounded up
 * to a multiple of 4 (zero padded), for the f32x4 kernels; returns its heap offset (in doubles).
 */
export function heapCopyF32(a: Float32Array, o: number, n: number): number {
  if ((n & 3) !== 0) return heapCopyRowsF32(n, (i) => a.subarray(o + i * n, o + (i + 1) * n));
  const src = heapAlloc((n * n) / 2 + 2);
  const k = kernels();
  new Float32Array(k.f.buffer, k.f.byteOffset + src * 8, n * n).set(a.subarray(o, o + n * n)); // ld = n: one copy
  return src;
}

/**
 * heapCopyF32 of an n×n matrix given by rows: row i is rowOf(i) (at most n entries; the rest of the row is zero), e.g.
 * a row of a query block of a pattern, which stops at the block's last key.
 */
export function heapCopyRowsF32(n: number, rowOf: (i: number) => Float32Array): number {
  const ld = (n + 3) & ~3;
  const src = heapAlloc((ld * n) / 2 + 2);
  const k = kernels();
  const view = new Float32Array(k.f.buffer, k.f.byteOffset + src * 8, ld * n);
  for (let i = 0; i < n; i++) {
    const row = rowOf(i);
    if (row.length > n) throw new RangeError(`row ${i} has ${row.length} entries, more than n = ${n}`);
    view.set(row, i * ld);
    view.fill(0, i * ld + row.length, (i + 1) * ld);
  }
  return src;
}

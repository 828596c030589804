// Entry of the kernels module (scripts/buildKernels.mjs compiles it): every export here is a WasmExports member of
// wasmKernels.ts, with the same name and signature. The module defines its memory (16 pages, growable), has no static
// data and no imports (--runtime stub: nothing here allocates).
export { dot, axpy, sub2, scale, dot4, fusedRow, matvecRow, updateRow, rows4, absMaxMin } from './rows';
export { gramPanel32, cvt8 } from './gram32';
export { rowStats32, rowExtents32, promote32 } from './f32rows';

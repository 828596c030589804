// Types of scripts/buildKernels.mjs for the tests that import it.
export const ENTRY: string;
export const GENERATED: string;
export function compileKernels(): Promise<{ plain: Uint8Array; relaxed: Uint8Array }>;
export function kernelModulesSource(modules: { plain: Uint8Array; relaxed: Uint8Array }): string;
export function buildKernels(options?: { check?: boolean }): Promise<boolean>;

/**
 * Errors a person can act on: a code, a message that says what is wrong, where (file, tensor) and how to fix it.
 * The CLI prints `message` on one line (stack only with --verbose); the extension shows it with "Show Log".
 * At the bottom of the import graph (every folder may use it): imports nothing.
 */
export type ErrorCode =
  | 'E_NOT_FOUND'
  | 'E_HEADER'
  | 'E_JSON'
  | 'E_TENSOR'
  | 'E_OFFSETS'
  | 'E_DTYPE'
  | 'E_INDEX'
  | 'E_CONFIG'
  | 'E_ARCH'
  | 'E_SPEC'
  | 'E_ARGS'
  | 'E_EXISTS'
  | 'E_CANCELLED'
  | 'E_IO'
  | 'E_INPUT'
  | 'E_RUNTIME';

export class InherituneError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'InherituneError';
  }
}

export function isInherituneError(e: unknown): e is InherituneError {
  return e instanceof InherituneError;
}

/** Thrown by long work when its AbortSignal fires; the caller treats it as a clean stop, not a failure. */
export function cancelled(): InherituneError {
  return new InherituneError('E_CANCELLED', 'Cancelled.');
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw cancelled();
}

/** Progress callback used by all long-running core work: fraction in [0, 1] and a short human message. */
export type ProgressFn = (fraction: number, message: string) => void;

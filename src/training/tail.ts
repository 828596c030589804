/**
 * Follow a growing metrics file: read what was appended since the last poll, parse it, report the points. Handles
 *  - partial last lines (the parser holds them until their newline) and UTF-8 characters split across reads;
 *  - truncation (size below what was read: the trainer rewrites metrics.jsonl when it resumes) and replacement
 *    (a new file under the same name: the first bytes differ) by starting over with a `reset`;
 *  - a missing file (the trainer has not started writing, or deleted a stale log at the start of a fresh run).
 * The I/O is injected (`TailSource`), so the host can read through vscode.workspace.fs (Remote-SSH, virtual file
 * systems) and tests can use memory.
 */
import type { MetricPoint, SourceFormat } from '../shared/trainingProtocol';
import { MetricsParser } from './metricsParser';

export interface TailSource {
  /** Size in bytes and modification time (ms), or undefined when the file does not exist. */
  stat(): Promise<{ size: number; mtime: number } | undefined>;
  /** Bytes [start, end). */
  read(start: number, end: number): Promise<Uint8Array>;
}

export interface TailListener {
  /** Drop everything reported so far: the file was truncated or replaced. */
  onReset(): void;
  onPoints(points: MetricPoint[]): void;
  /** `waiting`: no file (yet); `live`: reading; `error`: a read failed (the next poll retries). */
  onStatus(status: 'waiting' | 'live' | 'error', error?: string): void;
}

/** Bytes compared to notice that the file was replaced by another. */
const HEAD_BYTES = 256;
/** Largest read at once (a long run's log is read in pieces, each reported as it is parsed). */
const CHUNK = 4 << 20;

export class MetricsTail {
  private offset = 0;
  private mtime = -1;
  private head = new Uint8Array(0);
  private decoder = new TextDecoder('utf-8');
  private readonly parser: MetricsParser;
  private status: 'waiting' | 'live' | 'error' | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private disposed = false;

  constructor(
    private readonly source: TailSource,
    private readonly listener: TailListener,
    format: SourceFormat = 'unknown',
  ) {
    this.parser = new MetricsParser(format);
  }

  get skipped(): number {
    return this.parser.skipped;
  }

  get format(): SourceFormat {
    return this.parser.format;
  }

  /** Bytes consumed so far. */
  get position(): number {
    return this.offset;
  }

  dispose(): void {
    this.disposed = true;
  }

  /** Read whatever is new. Calls made while a poll runs coalesce into one more poll after it. */
  poll(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.once();
        } while (this.again && !this.disposed);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Start over from byte 0 (Retry). */
  async restart(): Promise<void> {
    this.resetState();
    this.listener.onReset();
    await this.poll();
  }

  private setStatus(s: 'waiting' | 'live' | 'error', error?: string): void {
    if (s === this.status && s !== 'error') return;
    this.status = s;
    this.listener.onStatus(s, error);
  }

  private resetState(): void {
    this.offset = 0;
    this.mtime = -1;
    this.head = new Uint8Array(0);
    this.decoder = new TextDecoder('utf-8');
    this.parser.reset();
  }

  private async once(): Promise<void> {
    let st;
    try {
      st = await this.source.stat();
    } catch (e) {
      this.setStatus('error', (e as Error)?.message ?? String(e));
      return;
    }
    if (this.disposed) return;
    if (!st) {
      // Keep what was read: a run that is over stays on screen. When a file appears again it is a new one (its head
      // will differ, or it is shorter), and that resets.
      this.setStatus('waiting');
      return;
    }
    try {
      if (st.size < this.offset) {
        this.resetState();
        this.listener.onReset();
      } else if (this.offset > 0 && (st.size !== this.offset || st.mtime !== this.mtime)) {
        const n = Math.min(this.head.length, st.size);
        const now = await this.source.read(0, n);
        if (!sameBytes(now, this.head.subarray(0, n))) {
          this.resetState();
          this.listener.onReset();
        }
      }
      this.mtime = st.mtime;
      this.setStatus('live');
      while (this.offset < st.size && !this.disposed) {
        const end = Math.min(st.size, this.offset + CHUNK);
        const bytes = await this.source.read(this.offset, end);
        if (this.disposed) return;
        if (bytes.length === 0) break;
        if (this.head.length < HEAD_BYTES && this.offset < HEAD_BYTES) {
          const h = new Uint8Array(Math.min(HEAD_BYTES, this.offset + bytes.length));
          h.set(this.head);
          h.set(bytes.subarray(0, h.length - this.offset), this.offset);
          this.head = h;
        }
        this.offset += bytes.length;
        const points = this.parser.push(this.decoder.decode(bytes, { stream: true }));
        if (points.length) this.listener.onPoints(points);
      }
    } catch (e) {
      this.setStatus('error', (e as Error)?.message ?? String(e));
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

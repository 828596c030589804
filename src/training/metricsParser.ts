/**
 * Incremental parser for training metrics: the trainer's metrics.jsonl (one JSON object per line) and text logs in
 * the nanoGPT / Inheritune style (`step N: train loss X, val loss Y`, `iter N: loss X, time Yms`), including the lines
 * our own trainer prints (`grow: ... 1 -> 2 layers`, `done: ... reached`).
 *
 * Text arrives in arbitrary chunks (a file being appended to): only complete lines are parsed, the rest waits for its
 * newline. A JSON line that is already a complete object is taken without waiting (the last line of a finished file
 * may lack its newline). Pure: no I/O, no Node modules.
 */
import type { MetricEvent, MetricPoint, SourceFormat } from '../shared/trainingProtocol';

const EVENTS: ReadonlySet<string> = new Set<MetricEvent>(['step', 'eval', 'grow', 'checkpoint', 'done', 'error']);

/** Longest line kept while waiting for its newline; beyond this it is dropped as bad (a binary file, say). */
const MAX_LINE = 1 << 20;

export class MetricsParser {
  /** Lines that looked like metrics but could not be read (bad JSON, missing step, unreadable numbers). */
  skipped = 0;
  /** Complete lines seen. */
  lines = 0;
  private fmt: SourceFormat;
  private pending = '';
  /** The pending (newline-less) line was already emitted as a complete JSON object. */
  private pendingTaken = false;
  /** Text logs: the last step seen, for events that do not name one (grow, done). */
  private lastStep = 0;
  private lastTokens: number | undefined;

  constructor(format: SourceFormat = 'unknown') {
    this.fmt = format;
  }

  get format(): SourceFormat {
    return this.fmt;
  }

  reset(): void {
    this.skipped = 0;
    this.lines = 0;
    this.pending = '';
    this.pendingTaken = false;
    this.lastStep = 0;
    this.lastTokens = undefined;
  }

  /** Feed decoded text; returns the points of the lines it completed. */
  push(text: string): MetricPoint[] {
    const out: MetricPoint[] = [];
    let data = this.pending + text;
    let start = 0;
    for (;;) {
      const nl = data.indexOf('\n', start);
      if (nl < 0) break;
      const line = data.slice(start, nl);
      start = nl + 1;
      if (this.pendingTaken) {
        // Its object was emitted already; anything after it on the same line is not ours to read.
        this.pendingTaken = false;
        this.lines++;
        continue;
      }
      this.line(line, out);
    }
    data = data.slice(start);
    if (data.length > MAX_LINE) {
      this.skipped++;
      data = '';
      this.pendingTaken = false;
    }
    this.pending = data;
    if (data && !this.pendingTaken && this.fmt !== 'text') {
      const t = data.trim();
      if (t.startsWith('{') && t.endsWith('}')) {
        const p = this.json(t, false);
        if (p) {
          out.push(p);
          this.pendingTaken = true;
          if (this.fmt === 'unknown') this.fmt = 'jsonl';
        }
      }
    }
    return out;
  }

  /** End of input: parse a last line that has no newline. */
  flush(): MetricPoint[] {
    const out: MetricPoint[] = [];
    if (this.pending && !this.pendingTaken) this.line(this.pending, out);
    else if (this.pendingTaken) this.lines++;
    this.pending = '';
    this.pendingTaken = false;
    return out;
  }

  private line(raw: string, out: MetricPoint[]): void {
    const line = raw.replace(/\r$/, '');
    const t = line.trim();
    if (!t) return;
    this.lines++;
    if (t.startsWith('{')) {
      if (this.fmt === 'unknown') this.fmt = 'jsonl';
      const p = this.json(t, true);
      if (p) out.push(p);
      return;
    }
    const p = this.text(t);
    if (p === 'bad') {
      this.skipped++;
      return;
    }
    if (p) {
      if (this.fmt === 'unknown') this.fmt = 'text';
      out.push(p);
      return;
    }
    // Not a metrics line. In a JSON-lines file that is a bad line; a text log is full of other output.
    if (this.fmt === 'jsonl') this.skipped++;
  }

  private json(t: string, countBad: boolean): MetricPoint | undefined {
    let o: unknown;
    try {
      o = JSON.parse(t);
    } catch {
      // Python's json.dumps writes NaN and Infinity unless told not to.
      try {
        o = JSON.parse(t.replace(/(?<=[:,[]\s*)-?(?:NaN|Infinity)(?=\s*[,}\]])/g, 'null'));
      } catch {
        if (countBad) this.skipped++;
        return undefined;
      }
    }
    const p = o && typeof o === 'object' && !Array.isArray(o) ? fromRecord(o as Record<string, unknown>) : undefined;
    if (!p) {
      if (countBad) this.skipped++;
      return undefined;
    }
    this.lastStep = p.step;
    if (p.tokens !== undefined) this.lastTokens = p.tokens;
    return p;
  }

  /** A point, `undefined` for a line that is not about metrics, or 'bad' for a metrics line that cannot be read. */
  private text(t: string): MetricPoint | undefined | 'bad' {
    const head = /^(?:\[[^\]]*\]\s*)?(iter|step)\s+(\d+)(?:\s+step\s+(\d+))?\s*[:|,]\s*(.*)$/i.exec(t);
    if (head) {
      const step = Number(head[3] ?? head[2]);
      const kv = pairs(head[4]);
      if (!kv) return 'bad';
      const p: MetricPoint = { event: 'step', step };
      if (kv.valLoss !== undefined) {
        p.event = 'eval';
        p.valLoss = kv.valLoss;
        if (kv.trainLoss !== undefined) p.trainLoss = kv.trainLoss;
      } else if (kv.trainLoss !== undefined || kv.loss !== undefined) {
        p.trainLoss = kv.trainLoss ?? kv.loss;
      } else {
        return undefined;
      }
      if (kv.lr !== undefined) p.lr = kv.lr;
      if (kv.target !== undefined) p.target = kv.target;
      if (kv.tokens !== undefined) p.tokens = kv.tokens;
      if (kv.tokensPerS !== undefined) p.tokensPerS = kv.tokensPerS;
      const rl = /\bround\s+(\d+)\s*[,(]\s*(\d+)\s*L\b/i.exec(head[4]);
      if (/\bstart of round\b/i.test(head[4]) && p.event === 'eval') p.roundStart = true;
      if (rl) {
        p.round = Number(rl[1]);
        p.layers = Number(rl[2]);
      }
      this.lastStep = step;
      if (p.tokens !== undefined) this.lastTokens = p.tokens;
      return p;
    }
    const grow = /^grow\b.*?\b(\d+)\s*->\s*(\d+)\s+layers?/i.exec(t);
    if (grow) {
      const p: MetricPoint = {
        event: 'grow',
        step: this.lastStep,
        fromLayers: Number(grow[1]),
        toLayers: Number(grow[2]),
        layers: Number(grow[1]),
      };
      const v = /val loss\s+([-+\d.eE]+)/i.exec(t);
      const g = /target\s+([-+\d.eE]+)/i.exec(t);
      if (v && Number.isFinite(Number(v[1]))) p.valLoss = Number(v[1]);
      if (g && Number.isFinite(Number(g[1]))) p.target = Number(g[1]);
      const mode = /\((reinherit|extend)\)/i.exec(t);
      if (mode) p.mode = mode[1].toLowerCase();
      if (this.lastTokens !== undefined) p.tokens = this.lastTokens;
      return p;
    }
    const done =
      /^done:.*?final val loss\s+([-+\d.eE]+)(?:\s+vs target\s+([-+\d.eE]+))?.*?:\s*(not reached|reached)(?:\s*\(([^)]*)\))?/i.exec(t);
    if (done) {
      const p: MetricPoint = { event: 'done', step: this.lastStep, valLoss: Number(done[1]), reached: done[3].toLowerCase() === 'reached' };
      if (done[2] !== undefined) p.target = Number(done[2]);
      if (done[4]) p.stopReason = done[4];
      return p;
    }
    return undefined;
  }
}

interface TextPairs {
  loss?: number;
  trainLoss?: number;
  valLoss?: number;
  lr?: number;
  target?: number;
  tokens?: number;
  tokensPerS?: number;
}

/**
 * `train loss 4.21, val loss 4.30` / `loss 4.12, time 123.45ms, mfu 12%` / `loss: 4.1, lr: 3e-4` → numbers.
 * Returns undefined when a known key has an unreadable value (a metrics line we cannot trust).
 */
function pairs(s: string): TextPairs | undefined {
  const out: TextPairs = {};
  const re =
    /\b(train[ _]loss|val(?:idation)?[ _]loss|loss|lr|learning[ _]rate|target|tokens(?:\/s|[ _]per[ _]s)?|tok\/s)\b\s*[:=]?\s*([^\s,;()]*)/gi;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const key = m[1].toLowerCase().replace(/[ _]/g, '');
    const v = num(m[2]);
    if (v === undefined) return undefined;
    if (Number.isNaN(v)) continue; // a diverged value: nothing to plot, but the line itself is fine
    if (key === 'trainloss') out.trainLoss = v;
    else if (key === 'valloss' || key === 'validationloss') out.valLoss = v;
    else if (key === 'loss') out.loss = v;
    else if (key === 'lr' || key === 'learningrate') out.lr = v;
    else if (key === 'target') out.target = v;
    else if (key === 'tokens') out.tokens = v;
    else out.tokensPerS = v;
  }
  return out;
}

function num(s: string): number | undefined {
  const t = s.replace(/%$/, '');
  if (/^[-+]?(?:nan|inf(?:inity)?)$/i.test(t)) return NaN;
  if (!/^[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?$/i.test(t)) return undefined;
  return Number(t);
}

function finite(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** A metrics.jsonl record → point; the event is inferred for records without one (other tools' JSON lines). */
export function fromRecord(r: Record<string, unknown>): MetricPoint | undefined {
  const step = finite(r.step) ?? finite(r.iter) ?? finite(r.iter_num) ?? finite(r.global_step);
  if (step === undefined) return undefined;
  const trainLoss = finite(r.train_loss) ?? finite(r.loss);
  const valLoss = finite(r.val_loss) ?? finite(r.eval_loss);
  let event: MetricEvent;
  if (typeof r.event === 'string') {
    if (!EVENTS.has(r.event)) return undefined;
    event = r.event as MetricEvent;
  } else if (valLoss !== undefined) event = 'eval';
  else if (trainLoss !== undefined) event = 'step';
  else return undefined;
  const p: MetricPoint = { event, step };
  const set = <K extends keyof MetricPoint>(k: K, v: MetricPoint[K] | undefined) => {
    if (v !== undefined) p[k] = v;
  };
  set('tokens', finite(r.tokens));
  set('time', finite(r.time));
  set('round', finite(r.round));
  set('layers', finite(r.layers));
  set('trainLoss', trainLoss);
  set('valLoss', valLoss);
  set('lr', finite(r.lr));
  set('tokensPerS', finite(r.tokens_per_s));
  set('gradNorm', finite(r.grad_norm));
  set('target', finite(r.target) ?? finite(r.target_val_loss));
  set('fromLayers', finite(r.from_layers));
  set('toLayers', finite(r.to_layers));
  if (typeof r.reached === 'boolean') p.reached = r.reached;
  if (typeof r.stop_reason === 'string') p.stopReason = r.stop_reason;
  if (r.round_start === true) p.roundStart = true;
  if (typeof r.mode === 'string') p.mode = r.mode;
  if (typeof r.summary === 'string') p.summary = r.summary;
  if (typeof r.message === 'string') p.message = r.message;
  else if (event === 'checkpoint' && typeof r.reason === 'string') p.message = r.reason;
  return p;
}

/** Parse a whole file's text at once. */
export function parseMetricsText(
  text: string,
  format: SourceFormat = 'unknown',
): { points: MetricPoint[]; skipped: number; format: SourceFormat } {
  const p = new MetricsParser(format);
  const points = [...p.push(text), ...p.flush()];
  return { points, skipped: p.skipped, format: p.format };
}

/**
 * The forward pass that yields attention probabilities: one block graph (../graph/graph.ts), one onnxruntime session, run
 * layer by layer with that layer's weights read from the checkpoint just before (the next layer's read overlaps the
 * current run). Embeddings (+ learned positions) are gathered in JS. The LM head is never computed.
 * Imports checkpoint/, graph/, src/shared and this folder.
 */
import { promises as fsp, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { Checkpoint, nameIn, tensorOrThrow } from '../../checkpoint/checkpoint';
import { DTYPE_BYTES, toFloat32 } from '../../checkpoint/dtypes';
import { decodeStored, storedRowBytes } from '../../checkpoint/ggufStored';
import { readTensorBytes } from '../../checkpoint/safetensors';
import { cancelled, InherituneError } from '../../errors';
import { BlockGraph, buildBlockGraph, COS_INPUT, MASK_INPUT, RESID_OUTPUT, SCALE_INPUT, SIN_INPUT, X_INPUT } from '../graph/graph';
import { ropeTables } from '../graph/rope';
import type { PatternBlock } from '../graph/pattern';
import type { EpName, ExecutionProviderReport } from '../../shared/report';
import { createSession, ort } from './providers';

export interface ForwardOptions {
  ep?: EpName;
  /** Inclusive range of layers whose patterns are wanted (all layers still run up to the last one). */
  layers?: [number, number];
  /** Also deliver resid_pre/resid_post per layer. */
  wantResidual?: boolean;
  /** Checked between layers → throws cancelled(). */
  signal?: AbortSignal;
  onProgress?: (fraction: number, message: string) => void;
  /** Query rows per attention block (graph.ts; default QUERY_BLOCK_ROWS); Infinity: one block (tests, measurements). */
  queryBlockRows?: number;
}

export interface LayerOutput {
  layer: number;
  /** [batch, head, query, key] in blocks of query rows (../graph/pattern.ts: densePattern puts them together) */
  pattern: PatternBlock[];
  /** [batch, query, d] */
  residPre?: Float32Array;
  /** [batch, query, d] */
  residPost?: Float32Array;
}

export interface ForwardResult {
  executionProvider: ExecutionProviderReport;
  timings: {
    buildMs: number;
    sessionMs: number;
    /** Embedding gather + time spent waiting for layer weights (reads overlap the previous layer's run). */
    loadWeightsMs: number;
    runMs: number;
    /** session.run time per layer that ran, in layer order. */
    perLayerMs: number[];
  };
}

const now = () => performance.now();

const truncated = (file: string, what: string) =>
  new InherituneError('E_HEADER', `${file}: unexpected end of file while reading ${what}; the file is truncated or corrupt`, {
    file,
    tensor: what,
  });

/**
 * Reads tensors through file handles opened once per run. A read is handed to libuv's pool as soon as it is asked
 * for, so the next layer's weights load while the JS thread is busy inside the (synchronous) onnxruntime run.
 * F32 lands straight in the Float32Array that is fed to onnxruntime (no intermediate buffer); F16/BF16 are converted.
 */
class TensorReader {
  private readonly handles = new Map<string, FileHandle>();

  constructor(private readonly ckpt: Checkpoint) {}

  async open(): Promise<void> {
    for (const f of this.ckpt.files) if (!this.handles.has(f.file)) this.handles.set(f.file, await fsp.open(f.file, 'r'));
  }

  async close(): Promise<void> {
    const hs = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(hs.map((h) => h.close().catch(() => undefined)));
  }

  /** Bytes [begin, begin + dst.byteLength) of `file` into dst; the first read is issued synchronously. */
  private readInto(file: string, dst: Uint8Array, begin: number, what: string): Promise<void> {
    const fh = this.handles.get(file);
    if (!fh) return Promise.reject(new InherituneError('E_IO', `${file} is not open`, { file }));
    const step = (off: number): Promise<void> =>
      off >= dst.byteLength
        ? Promise.resolve()
        : fh.read(dst, off, dst.byteLength - off, begin + off).then(({ bytesRead }) => {
            if (bytesRead === 0) throw truncated(file, what);
            return step(off + bytesRead);
          });
    return step(0);
  }

  /** The tensor as float32; F32 tensors are read into `reuse` when it has the right length. */
  tensor(name: string, reuse?: Float32Array): Promise<Float32Array> {
    const t = tensorOrThrow(this.ckpt, name);
    if (t.transform) return readTensorBytes(t).then((b) => toFloat32(t.dtype, b));
    if (t.stored) {
      const stored = t.stored;
      const raw = new Uint8Array(t.end - t.begin);
      return this.readInto(t.file, raw, t.begin, name).then(() => decodeStored(stored, raw, t.file));
    }
    if (t.dtype === 'F32') {
      const n = (t.end - t.begin) / 4;
      const out = reuse?.length === n ? reuse : new Float32Array(n);
      return this.readInto(t.file, new Uint8Array(out.buffer), t.begin, name).then(() => out);
    }
    const raw = new Uint8Array(t.end - t.begin);
    return this.readInto(t.file, raw, t.begin, name).then(() => toFloat32(t.dtype, raw));
  }

  /** Rows `rows` (sorted, unique) of a 2-D tensor as float32, without reading the whole matrix. */
  async rows(name: string, rows: readonly number[]): Promise<Map<number, Float32Array>> {
    const t = tensorOrThrow(this.ckpt, name);
    if (t.transform) {
      const all = toFloat32(t.dtype, await readTensorBytes(t));
      return new Map(rows.map((r) => [r, all.subarray(r * t.shape[1], (r + 1) * t.shape[1])]));
    }
    const width = t.shape[1];
    // GGUF rows are whole blocks (the row length is a multiple of the block size), so rows decode on their own.
    if (t.stored?.transform) return rowsOf(await this.tensor(name), width, rows);
    const rowBytes = t.stored ? storedRowBytes(t.stored) : width * DTYPE_BYTES[t.dtype];
    const out = new Map<number, Float32Array>();
    // Coalesce consecutive rows into one read (positions 0..T-1 are one read).
    const runs: [number, number][] = [];
    for (const r of rows) {
      const last = runs[runs.length - 1];
      if (last && last[1] === r) last[1] = r + 1;
      else runs.push([r, r + 1]);
    }
    // Synchronous reads: a few KiB each, hundreds of them for random token ids, which need no promise each. All rows
    // land in one buffer, converted once (docs/design/performance-notes.md has the timings).
    const raw = new Uint8Array(rows.length * rowBytes);
    let at = 0;
    for (const [a, b] of runs) {
      this.readIntoSync(t.file, raw.subarray(at, at + (b - a) * rowBytes), t.begin + a * rowBytes, name);
      at += (b - a) * rowBytes;
    }
    const all = t.stored ? decodeStored(t.stored, raw, t.file) : t.dtype === 'F32' ? new Float32Array(raw.buffer) : toFloat32(t.dtype, raw);
    rows.forEach((r, i) => out.set(r, all.subarray(i * width, (i + 1) * width)));
    return out;
  }

  private readIntoSync(file: string, dst: Uint8Array, begin: number, what: string): void {
    const fh = this.handles.get(file);
    if (!fh) throw new InherituneError('E_IO', `${file} is not open`, { file });
    for (let off = 0; off < dst.byteLength;) {
      const n = readSync(fh.fd, dst, off, dst.byteLength - off, begin + off);
      if (n === 0) throw truncated(file, what);
      off += n;
    }
  }
}

function rowsOf(all: Float32Array, width: number, rows: readonly number[]): Map<number, Float32Array> {
  return new Map(rows.map((r) => [r, all.subarray(r * width, (r + 1) * width)]));
}

function validate(
  ckpt: Checkpoint,
  graph: BlockGraph,
  tokens: Int32Array,
  batch: number,
  T: number,
  opts: ForwardOptions,
): [number, number] {
  const { spec, dims } = ckpt;
  if (!Number.isInteger(batch) || batch < 1) throw new InherituneError('E_INPUT', `batch must be a positive integer (got ${batch})`);
  if (!Number.isInteger(T) || T < 1) throw new InherituneError('E_INPUT', `sequence length T must be a positive integer (got ${T})`);
  if (tokens.length !== batch * T)
    throw new InherituneError('E_INPUT', `tokens has ${tokens.length} ids but batch × T = ${batch} × ${T} = ${batch * T}`);
  const ctxKey = spec.dims.ctx?.key ?? 'max_position_embeddings';
  if (T > dims.ctx) {
    throw new InherituneError(
      'E_INPUT',
      `sequence length T = ${T} exceeds the model's context length ${dims.ctx} ("${ctxKey}" in ${ckpt.configPath}); use at most ${dims.ctx} tokens`,
      { T, limit: dims.ctx, key: ctxKey },
    );
  }
  const embName = nameIn(ckpt, graph.embedding, 0);
  const embRows = tensorOrThrow(ckpt, embName).shape[0];
  const vocabKey = spec.dims.vocab?.key ?? 'vocab_size';
  const limit = Math.min(embRows, dims.vocab);
  for (let i = 0; i < tokens.length; i++) {
    const id = tokens[i];
    if (!(id >= 0 && id < limit)) {
      throw new InherituneError(
        'E_INPUT',
        `token id ${id} at position ${i % T}${batch > 1 ? ` of sequence ${Math.floor(i / T)}` : ''} is out of range: the vocabulary has ${limit} entries ("${vocabKey}" = ${dims.vocab}, ${embName} has ${embRows} rows); was the text tokenized for another model?`,
        { id, position: i % T, sequence: Math.floor(i / T) },
      );
    }
  }
  const n = dims.numLayers;
  const range = opts.layers ?? [0, n - 1];
  if (!Number.isInteger(range[0]) || !Number.isInteger(range[1]) || range[0] < 0 || range[1] >= n || range[0] > range[1]) {
    throw new InherituneError('E_ARGS', `layer range [${range[0]}, ${range[1]}] is outside the model's layers 0..${n - 1}`);
  }
  return range;
}

/** The residual stream entering layer 0: token embeddings (+ learned positions) [batch, query, d]. */
async function embed(
  ckpt: Checkpoint,
  reader: TensorReader,
  graph: BlockGraph,
  tokens: Int32Array,
  batch: number,
  T: number,
): Promise<Float32Array> {
  const d = graph.hidden;
  const unique = [...new Set(tokens)].sort((a, b) => a - b);
  const rows = await reader.rows(nameIn(ckpt, graph.embedding, 0), unique);
  const x = new Float32Array(batch * T * d);
  for (let i = 0; i < tokens.length; i++) x.set(rows.get(tokens[i])!, i * d);
  if (graph.positions) {
    const pos = await reader.rows(
      nameIn(ckpt, graph.positions, 0),
      Array.from({ length: T }, (_, t) => t),
    );
    for (let b = 0; b < batch; b++) {
      for (let t = 0; t < T; t++) {
        const p = pos.get(t)!;
        const o = (b * T + t) * d;
        for (let j = 0; j < d; j++) x[o + j] += p[j];
      }
    }
  }
  return x;
}

/** Additive causal mask [query, key]: 0 where key ≤ query (and within the window), -inf elsewhere. */
export function causalMask(T: number, window?: number): Float32Array {
  const m = new Float32Array(T * T).fill(-Infinity);
  for (let i = 0; i < T; i++) m.fill(0, i * T + (window === undefined ? 0 : Math.max(0, i - window + 1)), i * T + i + 1);
  return m;
}

/**
 * Run the model on `tokens` ([batch*T], row-major) and call `onLayer` after each layer, in order. Layers after
 * `opts.layers[1]` are not run. Memory holds one layer's weights (two while the next one is prefetched) and one
 * layer's attention at a time.
 */
export async function runForward(
  ckpt: Checkpoint,
  tokens: Int32Array,
  batch: number,
  T: number,
  onLayer: (out: LayerOutput) => void | Promise<void>,
  opts: ForwardOptions = {},
): Promise<ForwardResult> {
  const { signal, onProgress } = opts;
  if (signal?.aborted) throw cancelled();
  const t0 = now();
  // built for this T (the attention in query blocks) when T is valid; otherwise validate() says what is wrong
  const knownT = Number.isInteger(T) && T >= 1 && T <= ckpt.dims.ctx ? T : undefined;
  const graph = buildBlockGraph(ckpt, { seqLen: knownT, queryBlockRows: opts.queryBlockRows });
  const [first, last] = validate(ckpt, graph, tokens, batch, T, opts);
  const buildMs = now() - t0;

  onProgress?.(0, `starting ${ckpt.spec.family} forward pass (${last + 1} layers, T = ${T})`);

  type Feeds = Record<string, Tensor>;
  // Two sets of weight buffers, by layer parity: layer L+1 is read into one while layer L runs on the other, and a
  // set is reused two layers later (reading into fresh 50 MB buffers every layer cost ~12k page faults each time).
  const slots: Float32Array[][] = [[], []];
  const readLayer = async (L: number): Promise<Float32Array[]> => {
    const slot = slots[L & 1];
    const arrays = await Promise.all(graph.weights.map((w, i) => reader.tensor(nameIn(ckpt, w.template, L), slot[i])));
    arrays.forEach((a, i) => (slot[i] = a));
    return arrays;
  };
  const feedsOf = (L: number, arrays: Float32Array[]): Feeds => {
    const feeds: Feeds = {};
    graph.weights.forEach((w, i) => {
      const name = nameIn(ckpt, w.template, L);
      const shape = ckpt.tensors.get(name)!.shape;
      if (shape.length !== w.shape.length || shape.some((v, k) => v !== w.shape[k])) {
        throw new InherituneError(
          'E_TENSOR',
          `${name} has shape [${shape.join(', ')}] but layer 0 has [${w.shape.join(', ')}]; every layer must have the same shapes`,
          { tensor: name },
        );
      }
      feeds[w.input] = new O.Tensor('float32', arrays[i], shape);
    });
    return feeds;
  };

  const reader = new TensorReader(ckpt);
  await reader.open();
  // Layer 0's weights are read in the background while the embedding is gathered, onnxruntime loads and the session
  // is created.
  let pending: Promise<Float32Array[]> | undefined = readLayer(0);
  const embedding = embed(ckpt, reader, graph, tokens, batch, T);
  pending.catch(() => undefined); // surfaced when awaited; never an unhandled rejection on early exit
  embedding.catch(() => undefined);
  let O: ReturnType<typeof ort>;
  let session: InferenceSession;
  let report: ExecutionProviderReport;
  let t1 = now();
  try {
    O = ort();
    t1 = now();
    // (freeDimensionOverrides would fix batch/query, but onnxruntime-node 1.30 ignores that option)
    ({ session, report } = await createSession(graph.model, (opts.ep ?? 'auto') as EpName));
  } catch (e) {
    await Promise.allSettled([pending, embedding]);
    await reader.close();
    throw e;
  }
  const sessionMs = now() - t1;
  const timings = { buildMs, sessionMs, loadWeightsMs: 0, runMs: 0, perLayerMs: [] as number[] };
  try {
    const te = now();
    let x = await embedding;
    timings.loadWeightsMs += now() - te;

    const common: Feeds = {};
    if (graph.rope) {
      const { cos, sin } = ropeTables(graph.rope(T), T);
      const rot = cos.length / T;
      common[COS_INPUT] = new O.Tensor('float32', cos, [T, rot]);
      common[SIN_INPUT] = new O.Tensor('float32', sin, [T, rot]);
    }
    const masks = new Map<number | undefined, Tensor>();
    const maskFor = (L: number) => {
      const w = graph.slidingWindow(L);
      const key = w !== undefined && w < T ? w : undefined; // a window ≥ T masks nothing extra
      let m = masks.get(key);
      if (!m) masks.set(key, (m = new O.Tensor('float32', causalMask(T, key), [T, T])));
      return m;
    };

    for (let L = 0; L <= last; L++) {
      if (signal?.aborted) throw cancelled();
      const tw = now();
      const feeds = feedsOf(L, await pending!);
      timings.loadWeightsMs += now() - tw; // only the wait: the read itself overlapped the previous layer's run
      pending = L < last ? readLayer(L + 1) : undefined; // overlaps the read of the next layer with this run
      pending?.catch(() => undefined); // surfaced when awaited; never an unhandled rejection on early exit
      const wantPattern = L >= first;
      feeds[X_INPUT] = new O.Tensor('float32', x, [batch, T, graph.hidden]);
      feeds[MASK_INPUT] = maskFor(L);
      feeds[SCALE_INPUT] = new O.Tensor('float32', Float32Array.of(graph.attnScale(L)), [1]);
      Object.assign(feeds, common);
      const tr = now();
      let out: Record<string, Tensor>;
      try {
        out = (await session.run(
          feeds,
          wantPattern ? [...graph.patternOutputs.map((p) => p.name), RESID_OUTPUT] : [RESID_OUTPUT],
        )) as Record<string, Tensor>;
      } catch (e) {
        throw new InherituneError('E_RUNTIME', `layer ${L}: onnxruntime (${report.used}) failed: ${(e as Error).message}`, {
          layer: L,
          ep: report.used,
        });
      }
      const ms2 = now() - tr;
      timings.runMs += ms2;
      timings.perLayerMs.push(ms2);
      const residPost = out[RESID_OUTPUT].data as Float32Array;
      if (wantPattern) {
        await onLayer({
          layer: L,
          pattern: graph.patternOutputs.map((p) => ({ start: p.start, end: p.end ?? T, data: out[p.name].data as Float32Array })),
          ...(opts.wantResidual ? { residPre: x, residPost } : {}),
        });
      }
      x = residPost;
      onProgress?.((L + 1) / (last + 1), `layer ${L + 1}/${last + 1} (${ms2.toFixed(0)} ms)`);
    }
  } finally {
    if (pending) await pending.catch(() => undefined); // let in-flight reads finish before their handles close
    await session.release();
    await reader.close();
  }
  return { executionProvider: report, timings };
}

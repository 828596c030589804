/**
 * One transformer block as an ONNX graph, per family and config, with the block's weights as graph INPUTS.
 *
 * The runner (forward.ts) creates one session from this graph and runs it once per layer, feeding that layer's
 * weights: memory holds one layer's weights and attention at a time, there is no 2 GB protobuf limit, and progress
 * and cancellation land between layers. What differs by layer and is not a weight travels as a small input:
 * `attn.scale` (GPT-2's 1/(layer+1)) and `attn.mask` (sliding-window layers).
 *
 * Graph inputs:   block.resid_pre [batch, query, d], attn.mask [query, key] (0 or -inf), attn.scale [1],
 *                 rope.cos / rope.sin [query, rotaryDim] (rotary families), and one input per weight tensor,
 *                 named after its spec template with the layer part dropped (`h.{i}.attn.c_attn.weight` →
 *                 `attn.c_attn.weight`).
 * Graph outputs:  block.attn.pattern [batch, head, query, key]  (run for layer L = hook `blocks.{L}.attn.pattern`)
 *                 block.resid_post   [batch, query, d]           (run for layer L = hook `blocks.{L}.resid_post`)
 * The LM head is never computed.
 *
 * Built for a known sequence length T, the attention runs in blocks of query rows (`patternOutputs`): block [s, e) only
 * meets keys [0, e), so the causal upper triangle is neither computed nor copied out, and the pattern comes out as
 * one output per block, `block.attn.pattern.{s}-{e}` [batch, head, e − s, e] (pattern.ts puts them together); about
 * half the time of the dense attention (docs/design/performance-notes.md).
 * Imports arch/ and checkpoint/ (specs, config, names) and this folder; never onnxruntime (the graph is bytes).
 */
import { ArchSpec, ModelDims, TensorTemplate, templateApplies } from '../../arch/spec';
import type { Checkpoint } from '../../checkpoint/checkpoint';
import { nameIn } from '../../checkpoint/checkpoint';
import type { ModelConfig } from '../../checkpoint/config';
import { InherituneError } from '../../errors';
import { bool, num } from './configValues';
import { attr, GraphBuilder } from './onnxBuilder';
import { RopeParams, ropeParams } from './rope';

export const X_INPUT = 'block.resid_pre';
export const MASK_INPUT = 'attn.mask';
export const SCALE_INPUT = 'attn.scale';
export const COS_INPUT = 'rope.cos';
export const SIN_INPUT = 'rope.sin';
export const PATTERN_OUTPUT = 'block.attn.pattern';
/** Query rows per attention block when the graph is built for a known T (see the header). */
export const QUERY_BLOCK_ROWS = 128;
export const RESID_OUTPUT = 'block.resid_post';

/** Default-domain opset: Gelu(approximate) needs 20, RMSNormalization needs 23 (onnxruntime ≥ 1.22). */
export const OPSET = 23;

/** Stable hook-style names (TransformerLens): what a run for layer L produces. */
export function hookName(layer: number, hook: 'attn.pattern' | 'resid_pre' | 'resid_post'): string {
  return `blocks.${layer}.${hook}`;
}

export interface WeightInput {
  /** Graph input name. */
  input: string;
  template: TensorTemplate;
  shape: number[];
}

/** One pattern output: query rows [start, end), keys [0, end), as [batch, head, end − start, end]. */
export interface PatternOutput {
  name: string;
  start: number;
  /** undefined: to the end of the sequence (the graph was built for any T: one output, [batch, head, query, key]) */
  end?: number;
}

export interface BuildOptions {
  /** Build for this sequence length: the attention then runs in blocks of query rows (see the header). */
  seqLen?: number;
  /** Query rows per block (default QUERY_BLOCK_ROWS); Infinity keeps one block. */
  queryBlockRows?: number;
}

export interface BlockGraph {
  family: string;
  model: Uint8Array;
  /** The pattern outputs in row order (one for the whole sequence unless built in query blocks). */
  patternOutputs: PatternOutput[];
  hidden: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  weights: WeightInput[];
  /** Rotary families: the frequencies for a sequence of length T (dynamic NTK depends on T). */
  rope?: (T: number) => RopeParams;
  /** The factor queries are multiplied by before q·k (1/√headDim, GPT-2 variants). */
  attnScale: (layer: number) => number;
  /** Keys further back than this many positions are masked (sliding-window attention), or undefined. */
  slidingWindow: (layer: number) => number | undefined;
  embedding: TensorTemplate;
  positions?: TensorTemplate;
  nodeCount: number;
}

type Act = 'gelu' | 'gelu_tanh' | 'relu' | 'silu' | 'quick_gelu';
const ACTIVATIONS: Record<string, Act> = {
  gelu: 'gelu',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_fast: 'gelu_tanh',
  relu: 'relu',
  silu: 'silu',
  swish: 'silu',
  quick_gelu: 'quick_gelu',
};

function activation(config: ModelConfig, key: string, fallback: string): Act {
  const v = config[key] ?? fallback;
  const a = typeof v === 'string' ? ACTIVATIONS[v] : undefined;
  if (!a)
    throw new InherituneError(
      'E_CONFIG',
      `config.json: ${key} = ${JSON.stringify(v)} is not supported by the attention forward pass; supported: ${Object.keys(ACTIVATIONS).join(', ')}`,
    );
  return a;
}

// ------------------------------------------------------------------------------------------------------------
// sliding windows
// ------------------------------------------------------------------------------------------------------------

function slidingWindowFn(config: ModelConfig, family: string): (layer: number) => number | undefined {
  const w = typeof config.sliding_window === 'number' && config.sliding_window > 0 ? config.sliding_window : undefined;
  if (w === undefined) return () => undefined;
  const types = config.layer_types;
  if (Array.isArray(types)) return (L) => (types[L] === 'sliding_attention' ? w : undefined);
  if (family === 'mistral') return () => w;
  if (family === 'qwen2' || family === 'qwen3') {
    if (!bool(config, 'use_sliding_window', false)) return () => undefined;
    const from = num(config, 'max_window_layers', 0);
    return (L) => (L >= from ? w : undefined);
  }
  return () => undefined;
}

// ------------------------------------------------------------------------------------------------------------
// the builder
// ------------------------------------------------------------------------------------------------------------

/** A per-family block builder: weight inputs by template, plus shape helpers. */
class Block {
  readonly g: GraphBuilder;
  readonly weights: WeightInput[] = [];
  /** Shape of block.resid_pre up to `query`: [batch, query] as an int64 vector. */
  readonly bt: string;
  readonly x: string;

  /** Query row blocks [start, end) when built for a known T; one open block otherwise. */
  readonly patternOutputs: PatternOutput[];

  constructor(
    readonly spec: ArchSpec,
    readonly ckpt: Checkpoint,
    readonly dims: ModelDims,
    opts: BuildOptions = {},
  ) {
    this.g = new GraphBuilder(`${spec.family}_block`);
    const T = opts.seqLen;
    const rows = opts.queryBlockRows ?? QUERY_BLOCK_ROWS;
    if (T === undefined || !(rows < T)) this.patternOutputs = [{ name: PATTERN_OUTPUT, start: 0, end: T }];
    else {
      if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`queryBlockRows must be a positive integer (got ${rows})`);
      this.patternOutputs = [];
      for (let s = 0; s < T; s += rows) {
        const e = Math.min(T, s + rows);
        this.patternOutputs.push({ name: `${PATTERN_OUTPUT}.${s}-${e}`, start: s, end: e });
      }
    }
    this.x = this.g.input(X_INPUT, ['batch', 'query', dims.hidden]); // [batch, query, d]
    this.bt = this.g.op('Shape', [this.x], { end: attr.i(2) }); // [2] = (batch, query)
  }

  /** The template whose name is `layerName` (e.g. `h.{i}.ln_1.weight`). */
  template(layerName: string): TensorTemplate {
    const t = this.spec.layer.find((x) => x.name === layerName);
    if (!t)
      throw new InherituneError(
        'E_SPEC',
        `spec ${this.spec.family}: the attention forward pass needs tensor template ${layerName}, which the spec does not list`,
      );
    return t;
  }

  /** Does this checkpoint carry the tensor (biases are optional by config: attention_bias, mlp_bias)? */
  has(layerName: string): boolean {
    const t = this.spec.layer.find((x) => x.name === layerName);
    return !!t && templateApplies(t, this.ckpt.config) && this.ckpt.tensors.has(nameIn(this.ckpt, t, 0));
  }

  /** Declare a weight input for this template and return its name. */
  weight(layerName: string): string {
    const t = this.template(layerName);
    const info = this.ckpt.tensors.get(nameIn(this.ckpt, t, 0));
    if (!info)
      throw new InherituneError('E_TENSOR', `${this.ckpt.dir}: tensor ${nameIn(this.ckpt, t, 0)} is missing`, {
        tensor: nameIn(this.ckpt, t, 0),
      });
    const input = layerName.includes('{i}.') ? layerName.split('{i}.')[1] : layerName;
    this.weights.push({ input, template: t, shape: info.shape });
    return this.g.input(input, info.shape);
  }

  optionalWeight(layerName: string): string | undefined {
    return this.has(layerName) ? this.weight(layerName) : undefined;
  }

  /** [batch, query, ...rest] as an int64 shape. */
  shapeBT(...rest: number[]): string {
    return this.g.op('Concat', [this.bt, this.g.i64(rest)], { axis: attr.i(0) });
  }

  /** Linear on 2-D activations: x [n, in] → [n, out]. `transB` for torch Linear weights [out, in]. */
  linear(x: string, w: string, b: string | undefined, transB: boolean): string {
    return this.g.op('Gemm', b ? [x, w, b] : [x, w], { transB: attr.i(transB ? 1 : 0) });
  }

  layerNorm(x: string, w: string, b: string, eps: number): string {
    return this.g.op('LayerNormalization', [x, w, b], { axis: attr.i(-1), epsilon: attr.f(eps) });
  }

  rmsNorm(x: string, w: string, eps: number): string {
    return this.g.op('RMSNormalization', [x, w], { axis: attr.i(-1), epsilon: attr.f(eps) });
  }

  act(x: string, a: Act): string {
    const g = this.g;
    switch (a) {
      case 'gelu':
        return g.op('Gelu', [x]);
      case 'gelu_tanh':
        return g.op('Gelu', [x], { approximate: attr.s('tanh') });
      case 'relu':
        return g.op('Relu', [x]);
      case 'silu':
        return g.op('Mul', [x, g.op('Sigmoid', [x])]);
      case 'quick_gelu':
        return g.op('Mul', [x, g.op('Sigmoid', [g.op('Mul', [x, g.f32([1.702], [])])])]);
    }
  }

  /** Rotate the first `rot` dims of the last axis: x [batch, query, kvHead, group, headDim]. */
  rope(x: string, cos: string, sin: string, rot: number, headDim: number): string {
    const g = this.g;
    const half = rot / 2;
    const xRot = rot === headDim ? x : g.op('Slice', [x, g.i64([0]), g.i64([rot]), g.i64([-1])]);
    const [x1, x2] = g.node('Split', [xRot, g.i64([half, half])], { axis: attr.i(-1) }, 2);
    const swapped = g.op('Concat', [x2, x1], { axis: attr.i(-1) }); // rotate_half without its sign (carried by sin)
    const out = g.op('Add', [g.op('Mul', [xRot, cos]), g.op('Mul', [swapped, sin])]);
    if (rot === headDim) return out;
    const xPass = g.op('Slice', [x, g.i64([rot]), g.i64([headDim]), g.i64([-1])]);
    return g.op('Concat', [out, xPass], { axis: attr.i(-1) });
  }

  /**
   * Causal attention core. q [batch, query, kvHead, group, headDim], k, v [batch, key, kvHead, 1, headDim]
   * (group = heads / kvHeads: grouped-query heads share a kv head without materialising repeat_kv).
   * Returns the attention output [batch*query, heads*headDim] and writes the pattern output(s), one per query block.
   */
  attention(q: string, k: string, v: string, heads: number, headDim: number): string {
    const g = this.g;
    const mask = g.input(MASK_INPUT, ['query', 'key']); // [query, key]: 0 or -inf
    const scale = g.input(SCALE_INPUT, [1]);
    const qs = g.op('Mul', [q, scale]);
    const qT = g.op('Transpose', [qs], { perm: attr.ints([0, 2, 3, 1, 4]) }); // [batch, kvHead, group, query, headDim]
    const kT = g.op('Transpose', [k], { perm: attr.ints([0, 2, 3, 4, 1]) }); // [batch, kvHead, 1, headDim, key]
    const vT = g.op('Transpose', [v], { perm: attr.ints([0, 2, 3, 1, 4]) }); // [batch, kvHead, 1, key, headDim]
    const kvHeads = this.dims.kvHeads;
    const group = heads / kvHeads;
    const b = g.op('Slice', [this.bt, g.i64([0]), g.i64([1])]); // [1] = (batch)
    const ctxs: string[] = [];
    for (const blk of this.patternOutputs) {
      // rows [s, e) against keys [0, e); a single block is the whole sequence
      const { start: s, end: e = 0 } = blk;
      const whole = this.patternOutputs.length === 1;
      const qb = whole ? qT : g.op('Slice', [qT, g.i64([s]), g.i64([e]), g.i64([3])]); // [batch, kvHead, group, e-s, headDim]
      const kb = whole ? kT : g.op('Slice', [kT, g.i64([0]), g.i64([e]), g.i64([4])]); // [batch, kvHead, 1, headDim, e]
      const vb = whole ? vT : g.op('Slice', [vT, g.i64([0]), g.i64([e]), g.i64([3])]); // [batch, kvHead, 1, e, headDim]
      const mb = whole ? mask : g.op('Slice', [mask, g.i64([s, 0]), g.i64([e, e]), g.i64([0, 1])]); // [e-s, e]
      const scores5 = g.op('MatMul', [qb, kb]); // [batch, kvHead, group, rows, keys]
      // Reshapes alias their input (no copy); Softmax writes the graph output directly, MatMul reads it in place.
      // 0 copies the input's dim at that index: [batch, heads, (kvHead·group·rows)/heads = rows, keys] (for the whole
      // sequence, index 3 of scores5 is query = key)
      const scores = g.op('Reshape', [scores5, g.i64([0, heads, -1, whole ? 0 : e])]); // [batch, head, rows, keys]
      const probs = g.op('Softmax', [g.op('Add', [scores, mb])], { axis: attr.i(-1) }, blk.name); // [batch, head, rows, keys]
      let shape5: string;
      if (whole) {
        const t = g.op('Slice', [this.bt, g.i64([1]), g.i64([2])]); // [1] = (query)
        shape5 = g.op('Concat', [b, g.i64([kvHeads, group]), t, t], { axis: attr.i(0) });
      } else {
        shape5 = g.op('Concat', [b, g.i64([kvHeads, group, e - s, e])], { axis: attr.i(0) });
      }
      const probs5 = g.op('Reshape', [probs, shape5]); // [batch, kvHead, group, rows, keys]
      ctxs.push(g.op('MatMul', [probs5, vb])); // [batch, kvHead, group, rows, headDim]
    }
    const ctx = ctxs.length === 1 ? ctxs[0] : g.op('Concat', ctxs, { axis: attr.i(3) }); // [batch, kvHead, group, query, headDim]
    const ctxT = g.op('Transpose', [ctx], { perm: attr.ints([0, 3, 1, 2, 4]) }); // [batch, query, kvHead, group, headDim]
    return g.op('Reshape', [ctxT, g.i64([-1, heads * headDim])]); // [batch*query, heads*headDim]
  }

  /** x [batch, query, d] → [batch*query, d] */
  flat(x: string): string {
    return this.g.op('Reshape', [x, this.g.i64([-1, this.dims.hidden])]); // [batch*query, d]
  }

  /** [batch*query, d] → [batch, query, d] */
  unflat(x: string, name?: string): string {
    return this.g.op('Reshape', [x, this.shapeBT(this.dims.hidden)], {}, name); // [batch, query, d]
  }

  finish(
    resid2d: string,
    extra: Omit<
      BlockGraph,
      'family' | 'model' | 'weights' | 'patternOutputs' | 'nodeCount' | 'hidden' | 'numHeads' | 'numKvHeads' | 'headDim'
    >,
  ): BlockGraph {
    const { g, dims } = this;
    this.unflat(resid2d, RESID_OUTPUT);
    for (const p of this.patternOutputs)
      g.output(p.name, p.name, p.end === undefined ? ['batch', dims.heads, 'query', 'key'] : ['batch', dims.heads, p.end - p.start, p.end]);
    g.output(RESID_OUTPUT, RESID_OUTPUT, ['batch', 'query', dims.hidden]);
    return {
      family: this.spec.family,
      model: g.encode({
        opset: OPSET,
        irVersion: 10,
        docString: `${this.spec.family} block: ${dims.heads} heads (${dims.kvHeads} kv) × ${dims.headDim}, d=${dims.hidden}`,
      }),
      hidden: dims.hidden,
      numHeads: dims.heads,
      numKvHeads: dims.kvHeads,
      headDim: dims.headDim,
      weights: this.weights,
      patternOutputs: this.patternOutputs,
      nodeCount: g.stats().nodes,
      ...extra,
    };
  }
}

function gpt2Block(ckpt: Checkpoint, opts: BuildOptions): BlockGraph {
  const { spec, config, dims } = ckpt;
  const b = new Block(spec, ckpt, dims, opts);
  const g = b.g;
  const { hidden: d, heads: H, headDim: hd } = dims;
  const eps = num(config, 'layer_norm_epsilon', 1e-5);
  const act = activation(config, 'activation_function', 'gelu_new');
  const x = b.flat(b.x); // [batch*query, d]
  const ln1 = b.layerNorm(x, b.weight('h.{i}.ln_1.weight'), b.weight('h.{i}.ln_1.bias'), eps);
  const qkv = b.linear(ln1, b.weight('h.{i}.attn.c_attn.weight'), b.weight('h.{i}.attn.c_attn.bias'), false); // Conv1D [in, out]: [batch*query, 3d]
  const [q2, k2, v2] = g.node('Split', [qkv, g.i64([d, d, d])], { axis: attr.i(1) }, 3); // 3 × [batch*query, d]
  const q = g.op('Reshape', [q2, b.shapeBT(H, 1, hd)]); // [batch, query, head, 1, headDim]
  const k = g.op('Reshape', [k2, b.shapeBT(H, 1, hd)]); // [batch, key, head, 1, headDim]
  const v = g.op('Reshape', [v2, b.shapeBT(H, 1, hd)]); // [batch, key, head, 1, headDim]
  const ctx = b.attention(q, k, v, H, hd); // [batch*query, d]
  const attnOut = b.linear(ctx, b.weight('h.{i}.attn.c_proj.weight'), b.weight('h.{i}.attn.c_proj.bias'), false);
  const h = g.op('Add', [attnOut, x]);
  const ln2 = b.layerNorm(h, b.weight('h.{i}.ln_2.weight'), b.weight('h.{i}.ln_2.bias'), eps);
  const fc = b.act(b.linear(ln2, b.weight('h.{i}.mlp.c_fc.weight'), b.weight('h.{i}.mlp.c_fc.bias'), false), act); // [batch*query, inter]
  const mlpOut = b.linear(fc, b.weight('h.{i}.mlp.c_proj.weight'), b.weight('h.{i}.mlp.c_proj.bias'), false);
  const out = g.op('Add', [h, mlpOut]); // [batch*query, d]
  const scaleWeights = bool(config, 'scale_attn_weights', true);
  const byLayer = bool(config, 'scale_attn_by_inverse_layer_idx', false);
  return b.finish(out, {
    attnScale: (L) => (scaleWeights ? 1 / Math.sqrt(hd) : 1) / (byLayer ? L + 1 : 1),
    slidingWindow: () => undefined,
    embedding: spec.pre.find((t) => t.role === 'embedding')!,
    positions: spec.pre.find((t) => t.role === 'position'),
  });
}

/**
 * The rotary tables as graph inputs (built in JS per T by ropeTables), broadcastable over batch and heads. Reading the
 * rope parameters here validates the rope config when the graph is built, not at the first layer.
 */
function ropeInputs(g: GraphBuilder, ckpt: Checkpoint) {
  const rot = ropeParams(ckpt.config, ckpt.spec.family, ckpt.dims, 1).rotaryDim;
  const cos = g.input(COS_INPUT, ['query', rot]); // [query, rotaryDim]
  const sin = g.input(SIN_INPUT, ['query', rot]);
  const cos5 = g.op('Unsqueeze', [cos, g.i64([1, 2])]); // [query, 1, 1, rotaryDim]
  const sin5 = g.op('Unsqueeze', [sin, g.i64([1, 2])]);
  return { rot, cos5, sin5 };
}

function llamaBlock(ckpt: Checkpoint, opts: BuildOptions): BlockGraph {
  const { spec, config, dims } = ckpt;
  const b = new Block(spec, ckpt, dims, opts);
  const g = b.g;
  const { heads: H, kvHeads: KV, headDim: hd } = dims;
  if (H % KV !== 0)
    throw new InherituneError('E_CONFIG', `config.json: num_attention_heads = ${H} is not a multiple of num_key_value_heads = ${KV}`);
  const G = H / KV;
  const eps = num(config, 'rms_norm_eps', 1e-6);
  const act = activation(config, 'hidden_act', 'silu');
  const P = 'model.layers.{i}.';
  const { rot, cos5, sin5 } = ropeInputs(g, ckpt);

  const x = b.flat(b.x); // [batch*query, d]
  const ln1 = b.rmsNorm(x, b.weight(`${P}input_layernorm.weight`), eps);
  const q2 = b.linear(ln1, b.weight(`${P}self_attn.q_proj.weight`), b.optionalWeight(`${P}self_attn.q_proj.bias`), true); // [batch*query, H*hd]
  const k2 = b.linear(ln1, b.weight(`${P}self_attn.k_proj.weight`), b.optionalWeight(`${P}self_attn.k_proj.bias`), true); // [batch*query, KV*hd]
  const v2 = b.linear(ln1, b.weight(`${P}self_attn.v_proj.weight`), b.optionalWeight(`${P}self_attn.v_proj.bias`), true);
  let q = g.op('Reshape', [q2, b.shapeBT(KV, G, hd)]); // [batch, query, kvHead, group, headDim]
  let k = g.op('Reshape', [k2, b.shapeBT(KV, 1, hd)]); // [batch, key, kvHead, 1, headDim]
  const v = g.op('Reshape', [v2, b.shapeBT(KV, 1, hd)]); // [batch, key, kvHead, 1, headDim]
  if (b.has(`${P}self_attn.q_norm.weight`)) {
    // qwen3: RMSNorm over each head's vector, before RoPE
    q = b.rmsNorm(q, b.weight(`${P}self_attn.q_norm.weight`), eps);
    k = b.rmsNorm(k, b.weight(`${P}self_attn.k_norm.weight`), eps);
  }
  q = b.rope(q, cos5, sin5, rot, hd);
  k = b.rope(k, cos5, sin5, rot, hd);
  const ctx = b.attention(q, k, v, H, hd); // [batch*query, H*hd]
  const attnOut = b.linear(ctx, b.weight(`${P}self_attn.o_proj.weight`), b.optionalWeight(`${P}self_attn.o_proj.bias`), true); // [batch*query, d]
  const h = g.op('Add', [x, attnOut]);
  const ln2 = b.rmsNorm(h, b.weight(`${P}post_attention_layernorm.weight`), eps);
  const gate = b.linear(ln2, b.weight(`${P}mlp.gate_proj.weight`), b.optionalWeight(`${P}mlp.gate_proj.bias`), true); // [batch*query, inter]
  const up = b.linear(ln2, b.weight(`${P}mlp.up_proj.weight`), b.optionalWeight(`${P}mlp.up_proj.bias`), true);
  const mlpOut = b.linear(
    g.op('Mul', [b.act(gate, act), up]),
    b.weight(`${P}mlp.down_proj.weight`),
    b.optionalWeight(`${P}mlp.down_proj.bias`),
    true,
  );
  const out = g.op('Add', [h, mlpOut]); // [batch*query, d]
  return b.finish(out, {
    rope: (T) => ropeParams(config, spec.family, dims, T),
    attnScale: () => 1 / Math.sqrt(hd),
    slidingWindow: slidingWindowFn(config, spec.family),
    embedding: spec.pre.find((t) => t.role === 'embedding')!,
  });
}

function gptNeoxBlock(ckpt: Checkpoint, opts: BuildOptions): BlockGraph {
  const { spec, config, dims } = ckpt;
  const b = new Block(spec, ckpt, dims, opts);
  const g = b.g;
  const { heads: H, headDim: hd } = dims;
  const eps = num(config, 'layer_norm_eps', 1e-5);
  const act = activation(config, 'hidden_act', 'gelu');
  const parallel = bool(config, 'use_parallel_residual', true);
  const P = 'gpt_neox.layers.{i}.';
  const { rot, cos5, sin5 } = ropeInputs(g, ckpt);

  const x = b.flat(b.x); // [batch*query, d]
  const ln1 = b.layerNorm(x, b.weight(`${P}input_layernorm.weight`), b.weight(`${P}input_layernorm.bias`), eps);
  const qkv = b.linear(ln1, b.weight(`${P}attention.query_key_value.weight`), b.optionalWeight(`${P}attention.query_key_value.bias`), true); // [batch*query, 3d]
  const qkv5 = g.op('Reshape', [qkv, b.shapeBT(H, 1, 3 * hd)]); // [batch, query, head, 1, 3·headDim]: per head [q_h, k_h, v_h]
  const [q0, k0, v] = g.node('Split', [qkv5, g.i64([hd, hd, hd])], { axis: attr.i(-1) }, 3); // 3 × [batch, query, head, 1, headDim]
  const q = b.rope(q0, cos5, sin5, rot, hd);
  const k = b.rope(k0, cos5, sin5, rot, hd);
  const ctx = b.attention(q, k, v, H, hd); // [batch*query, d]
  const attnOut = b.linear(ctx, b.weight(`${P}attention.dense.weight`), b.optionalWeight(`${P}attention.dense.bias`), true);
  const ln2w = b.weight(`${P}post_attention_layernorm.weight`);
  const ln2b = b.weight(`${P}post_attention_layernorm.bias`);
  const w1 = b.weight(`${P}mlp.dense_h_to_4h.weight`);
  const b1 = b.optionalWeight(`${P}mlp.dense_h_to_4h.bias`);
  const w2 = b.weight(`${P}mlp.dense_4h_to_h.weight`);
  const b2 = b.optionalWeight(`${P}mlp.dense_4h_to_h.bias`);
  const mlp = (inp: string) => b.linear(b.act(b.linear(b.layerNorm(inp, ln2w, ln2b, eps), w1, b1, true), act), w2, b2, true);
  let out: string;
  if (parallel) {
    out = g.op('Add', [g.op('Add', [mlp(x), attnOut]), x]); // x + attn(ln1(x)) + mlp(ln2(x))
  } else {
    const h = g.op('Add', [attnOut, x]);
    out = g.op('Add', [mlp(h), h]);
  }
  return b.finish(out, {
    rope: (T) => ropeParams(config, spec.family, dims, T),
    attnScale: () => 1 / Math.sqrt(hd),
    slidingWindow: () => undefined,
    embedding: spec.pre.find((t) => t.role === 'embedding')!,
  });
}

const BUILDERS: Record<string, (ckpt: Checkpoint, opts: BuildOptions) => BlockGraph> = {
  gpt2: gpt2Block,
  llama: llamaBlock,
  mistral: llamaBlock,
  qwen2: llamaBlock,
  qwen3: llamaBlock,
  gpt_neox: gptNeoxBlock,
};

/**
 * Build the block graph for this checkpoint's family and config (weights stay outside: they are inputs); for any
 * sequence length, or for `opts.seqLen` with the attention in query blocks.
 */
export function buildBlockGraph(ckpt: Checkpoint, opts: BuildOptions = {}): BlockGraph {
  const build = BUILDERS[ckpt.spec.family];
  if (!build)
    throw new InherituneError(
      'E_ARCH',
      `the attention forward pass does not support family ${ckpt.spec.family} yet; supported: ${Object.keys(BUILDERS).join(', ')}`,
    );
  return build(ckpt, opts);
}

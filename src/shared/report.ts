/**
 * The analysis report (`inheritune analyze --json`), shared by the CLI, the extension host and the webview.
 * Stable and versioned: bump REPORT_SCHEMA_VERSION on any incompatible change and document it in the README.
 */
export const REPORT_SCHEMA_VERSION = 3;

/** How k* is taken over a batch: of the batch-mean matrix, or the mean of each sequence's k*. */
export type KStarMode = 'mean' | 'per-seq';
export const K_STAR_MODES: readonly KStarMode[] = ['mean', 'per-seq'];

/**
 * onnxruntime execution providers the analysis can ask for (`auto`: the fastest that starts, src/analysis/run/
 * providers.ts), in the order the settings offer them (package.json's `inheritune.executionProvider` enum, which a
 * unit test keeps equal).
 */
export type EpName = 'auto' | 'cpu' | 'cuda' | 'webgpu' | 'dml';
export const EP_NAMES: readonly EpName[] = ['auto', 'cpu', 'cuda', 'webgpu', 'dml'];

/** Which of k* = 1 and m* = 1 makes a head degenerate. */
export type DegenerateWhen = 'kStar' | 'mStar' | 'either';
export const DEGENERATE_WHEN: readonly DegenerateWhen[] = ['kStar', 'mStar', 'either'];

export interface HeadReport {
  /**
   * Smallest k with Σ_{i≤k} σ_i² ≥ τ·Σσ² (an integer in mode mean; the mean over sequences in per-seq). Exact unless
   * kStarBounds is present; then it is the lower end of those bounds.
   */
  kStar: number;
  /**
   * Present only when k* was not resolved exactly (settings.kStarExactUpTo set and k* certified to lie above it):
   * certified lo ≤ k* ≤ hi, lo > kStarExactUpTo. In per-seq mode, the means of the sequences' bounds (an exact
   * sequence counts as [k*, k*]). Schema version ≥ 3.
   */
  kStarBounds?: [number, number];
  /** Fewest columns whose summed attention mass reaches τ of the total. */
  mStar: number;
  /** The same on squared entries. */
  mStarSquared: number;
  /** Mean row entropy normalised by log(i+1), in [0, 1]. */
  entropy: number;
  /** Mean attention on the first position. */
  sinkMass: number;
  /** Column with the largest mass in the batch-mean matrix. */
  dominantColumn: number;
}

export interface LayerReport {
  index: number;
  /** Every head degenerate (k* = 1 or m* = 1 by default). */
  lazy: boolean;
  /** Over the heads' kStar (for heads with kStarBounds, their lower ends: then these are lower bounds too). */
  maxKStar: number;
  meanKStar: number;
  /** Heads whose k* is reported as bounds (kStarBounds); absent or 0 when every k* is exact. */
  boundedHeads?: number;
  /** 1 − mean cos(h_l, h_l+1) over positions; null when not computed. */
  blockInfluence: number | null;
  /** arccos(cos(h_l, h_l+1))/π on the last token; null when not computed. */
  angularDistance: number | null;
  heads: HeadReport[];
}

/** The device an execution provider ran on; type `cpu` also marks software GPU adapters (lavapipe, SwiftShader). */
export interface AdapterReport {
  vendor: string;
  /** Device or architecture name as the driver gives it, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  device: string;
  type: 'gpu' | 'cpu' | 'unknown';
  /** One line for people: device, driver and how it was identified. */
  description: string;
}

export interface ExecutionProviderReport {
  requested: string;
  used: string;
  skipped: { name: string; reason: string }[];
  /** Absent in reports written before it existed. */
  adapter?: AdapterReport;
}

/** The input the model saw (schemaVersion ≥ 2). */
export interface ReportInput {
  /** text: --text FILE; tokens: --tokens FILE (used as given); builtin: the built-in text; random: seeded ids. */
  source: 'text' | 'tokens' | 'builtin' | 'random';
  file?: string;
  /** "tokenizer.json" or "GPT-2 BPE" when a tokenizer encoded the text (or names the pieces of a token file). */
  tokenizer?: string;
  /** Tokens the source holds: the text encoded once as `tokenizer(text)` does, or the token file's length. */
  tokenCount: number;
  /** Whether the tokenizer's special tokens (e.g. BOS) were added, as transformers' `tokenizer(text)` adds them. */
  specialTokens: boolean;
  /** The special ids placed before the text's tokens in every sequence. */
  specialTokenIds: number[];
  /** Sequence 0: its T ids and each one's text piece (decoded per token; null without a tokenizer). */
  firstSequence: { ids: number[]; pieces: string[] | null };
}

export interface AnalysisReport {
  schemaVersion: number;
  tool: { name: string; version: string };
  model: {
    architecture: string;
    family: string;
    numLayers: number;
    numHeads: number;
    numKvHeads: number;
    hiddenSize: number;
    params: number;
    path: string;
  };
  settings: {
    seqLen: number;
    batch: number;
    tau: number;
    mode: KStarMode;
    seed: number;
    degenerateWhen: DegenerateWhen;
    /**
     * k* is exact for every head whose k* is at most this rank; a head certified to lie above it gets kStarBounds
     * instead of an exact k* (the full spectrum of a high-rank head costs ~T³). null or absent: exact for every head.
     */
    kStarExactUpTo?: number | null;
    /** Where the tokens came from: "text:FILE", "tokens:FILE" or "builtin". */
    input: string;
    layers: [number, number];
  };
  /** Absent in reports of schemaVersion 1. */
  input?: ReportInput;
  executionProvider: ExecutionProviderReport;
  timings: { totalMs: number; loadMs: number; forwardMs: number; metricsMs: number; [phase: string]: number };
  /** The first layer from which every remaining layer is lazy, or floor(k/2) when none is. */
  suggestedN: number;
  layers: LayerReport[];
  createdAt: string;
}

/** k* or m* of 1 (rank 1, one column): the degenerate value, with room for the per-seq mean's rounding. */
export const RANK_ONE_MAX = 1 + 1e-9;
export function isRankOne(v: number): boolean {
  return v <= RANK_ONE_MAX;
}

/** Which rule produced suggestedN. */
export type SuggestionRule = 'lazy-tail' | 'half-depth';

export interface Suggestion {
  n: number;
  rule: SuggestionRule;
  /** The rule in words, for the verdict card and the Inherit button's tooltip. */
  because: string;
  /** First layer of the lazy tail (every layer from it to the last is lazy); null when there is none. */
  tailStart: number | null;
  lazyLayers: number[];
  /** Lazy layers that lie below n, i.e. that inheriting n layers would keep. */
  lazyBelowN: number[];
  /** Other n worth one click: before the first lazy layer, before the last lazy run, half the depth. */
  alternatives: { n: number; label: string }[];
}

/**
 * suggestedN and why: the first layer from which every remaining layer is lazy (the lazy tail), else floor(k/2), the
 * paper's default (also when the tail would leave no layer, or the report does not reach the last layer).
 */
export function explainSuggestion(layers: { index: number; lazy: boolean }[], numLayers: number): Suggestion {
  const lazy = layers.filter((l) => l.lazy).map((l) => l.index);
  const half = Math.floor(numLayers / 2);
  const last = layers[layers.length - 1];
  let tailStart: number | null = null;
  if (last?.lazy && last.index === numLayers - 1) {
    let first = layers.length - 1;
    while (first > 0 && layers[first - 1].lazy && layers[first - 1].index === layers[first].index - 1) first--;
    tailStart = layers[first].index;
  }
  const useTail = tailStart !== null && tailStart >= 1;
  const n = useTail ? tailStart! : half;
  let because: string;
  if (useTail) because = `every layer from ${tailStart} on is lazy`;
  else if (tailStart === 0) because = `every layer is lazy, so there is no lazy tail to cut: half the depth, as the paper's default`;
  else if (!last || last.index !== numLayers - 1)
    because = `the report stops before the last layer, so it cannot show a lazy tail: half the depth, as the paper's default`;
  else because = `no lazy tail (layer ${numLayers - 1} is not lazy): half the depth, as the paper's default`;
  const alternatives: { n: number; label: string }[] = [];
  const add = (m: number, label: string) => {
    if (m >= 1 && m < numLayers && m !== n && !alternatives.some((a) => a.n === m)) alternatives.push({ n: m, label });
  };
  if (lazy.length) add(lazy[0], 'before the first lazy layer');
  if (useTail) add(half, "half the depth (the paper's default)");
  else if (lazy.length) {
    // The start of the last run of lazy layers: the n a lazy tail would give if the layers after it were dropped.
    let j = lazy.length - 1;
    while (j > 0 && lazy[j - 1] === lazy[j] - 1) j--;
    add(lazy[j], `before the last lazy run (${lazy[j]}${lazy[lazy.length - 1] !== lazy[j] ? `–${lazy[lazy.length - 1]}` : ''})`);
  }
  return {
    n,
    rule: useTail ? 'lazy-tail' : 'half-depth',
    because,
    tailStart,
    lazyLayers: lazy,
    lazyBelowN: lazy.filter((i) => i < n),
    alternatives,
  };
}

/** suggestedN per the definition above (exported so the webview and the CLI agree). */
export function suggestedN(layers: { index: number; lazy: boolean }[], numLayers: number): number {
  return explainSuggestion(layers, numLayers).n;
}

/**
 * A head is degenerate when k* = 1 or m* = 1 (per `when`). In mode per-seq these are means over the sequences, each
 * ≥ 1 unless its matrix is all zero, and multiples of 1/batch: `≤ 1` means "1 for every sequence" (a zero head counts
 * too) and needs no tolerance. The core's lazy verdict and the webview's marks both use this one rule.
 */
export function isDegenerate(h: { kStar: number; mStar: number }, when: DegenerateWhen = 'either'): boolean {
  const k = h.kStar <= 1;
  const m = h.mStar <= 1;
  if (when === 'kStar') return k;
  if (when === 'mStar') return m;
  return k || m;
}

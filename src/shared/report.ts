/**
 * The analysis report (`inheritune analyze --json`), shared by the CLI, the extension host and the webview.
 * Stable and versioned: bump REPORT_SCHEMA_VERSION on any incompatible change and document it in the README.
 */
export const REPORT_SCHEMA_VERSION = 1;

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
  /** Smallest k with Σ_{i≤k} σ_i² ≥ τ·Σσ² (an integer in mode mean; the mean over sequences in per-seq). */
  kStar: number;
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
  maxKStar: number;
  meanKStar: number;
  /** 1 − mean cos(h_l, h_l+1) over positions; null when not computed. */
  blockInfluence: number | null;
  /** arccos(cos(h_l, h_l+1))/π on the last token; null when not computed. */
  angularDistance: number | null;
  heads: HeadReport[];
}

export interface ExecutionProviderReport {
  requested: string;
  used: string;
  skipped: { name: string; reason: string }[];
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
    /** Where the tokens came from: "text:FILE", "tokens:FILE" or "builtin". */
    input: string;
    layers: [number, number];
  };
  executionProvider: ExecutionProviderReport;
  timings: { totalMs: number; loadMs: number; forwardMs: number; metricsMs: number; [phase: string]: number };
  /** The first layer from which every remaining layer is lazy, or floor(k/2) when none is. */
  suggestedN: number;
  layers: LayerReport[];
  createdAt: string;
}

/** suggestedN per the definition above (exported so the webview and the CLI agree). */
export function suggestedN(layers: { index: number; lazy: boolean }[], numLayers: number): number {
  if (!layers.length || !layers[layers.length - 1].lazy || layers[layers.length - 1].index !== numLayers - 1) return Math.floor(numLayers / 2);
  let first = layers.length - 1;
  while (first > 0 && layers[first - 1].lazy && layers[first - 1].index === layers[first].index - 1) first--;
  const n = layers[first].index;
  return n >= 1 ? n : Math.floor(numLayers / 2);
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

/**
 * The analysis report (`inheritune analyze --json`), shared by the CLI, the extension host and the webview.
 * Stable and versioned: bump REPORT_SCHEMA_VERSION on any incompatible change and document it in the README.
 */
export const REPORT_SCHEMA_VERSION = 1;

export type KStarMode = 'mean' | 'per-seq';
export type EpName = 'auto' | 'cuda' | 'webgpu' | 'cpu' | 'dml';

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
    degenerateWhen: 'kStar' | 'mStar' | 'either';
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

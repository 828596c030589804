/**
 * Typed messages between the extension host and the webviews (one union per direction per panel).
 * Imported by both bundles: no vscode, no node:*. Tensors travel as ArrayBuffer; weights never travel at all.
 */
import type { AnalysisReport, EpName, KStarMode } from './report';

// ---------------------------------------------------------------------------------------------------------------
// Attention report panel (viewType inheritune.attentionReport): one checkpoint, or two side by side (compare).
// ---------------------------------------------------------------------------------------------------------------

export const REPORT_VIEW_TYPE = 'inheritune.attentionReport';
export const SAFETENSORS_VIEW_TYPE = 'inheritune.safetensorsViewer';

/** What the analysis is asked for (src/analysis/analyze.ts extends it with CLI-only options). */
export interface AnalysisSettings {
  seqLen?: number;
  batch?: number;
  tau?: number;
  mode?: KStarMode;
  ep?: EpName;
  textFile?: string;
  tokensFile?: string;
  /** Add the tokenizer's special tokens to text (default true, as transformers' `tokenizer(text)`). */
  specialTokens?: boolean;
  seed?: number;
  layers?: [number, number];
  /** k* exact up to this rank, certified bounds above it (report schema ≥ 3); undefined or null: exact everywhere. */
  kStarExactUpTo?: number | null;
}

export interface AnalysisRequest {
  /** Checkpoint folder, config.json, .safetensors or index file, as the user gave it. */
  path: string;
  settings: AnalysisSettings;
}

/** A = the checkpoint of the panel; B = the one compared with it. */
export type Side = 'a' | 'b';

export type LoadStatus = 'loading' | 'ready' | 'error';

export interface SideState {
  request: AnalysisRequest;
  status: LoadStatus;
  progress: { fraction: number; message: string };
  error?: string;
  /** True when the user cancelled (the panel offers Retry either way). */
  cancelled?: boolean;
  report?: AnalysisReport;
}

export type HeadMetric = 'kStar' | 'mStar' | 'entropy' | 'sinkMass';
export type LayerSeries = 'kStar' | 'blockInfluence' | 'angularDistance';

export interface HeadSelection {
  side: Side;
  layer: number;
  head: number;
}

/** The webview's persisted state (getState/setState); the serializer gets it back after a reload. */
export interface ReportViewState {
  version: 1;
  sides: { a: SideState; b?: SideState };
  ui: {
    metric: HeadMetric;
    series: LayerSeries;
    selected?: HeadSelection;
    /** Where the head view sits: beside the heatmap (default) or under it. */
    headDock?: 'beside' | 'below';
  };
}

export type ExportFormat = 'svg' | 'png' | 'csv' | 'json';

/** Host → report webview. */
export type ReportHostMessage =
  | { type: 'init'; sides: { a: SideState; b?: SideState } }
  | { type: 'progress'; side: Side; fraction: number; message: string }
  | { type: 'report'; side: Side; report: AnalysisReport }
  | { type: 'error'; side: Side; message: string; cancelled?: boolean }
  | { type: 'headPattern'; requestId: number; side: Side; layer: number; head: number; T: number; data: ArrayBuffer }
  | { type: 'headPatternError'; requestId: number; message: string };

/** Report webview → host. */
export type ReportWebviewMessage =
  | { type: 'ready' }
  /** Run the analysis of that side again with the same settings. */
  | { type: 'retry'; side: Side }
  | { type: 'cancel'; side: Side }
  /** Ask for new settings, then run again. */
  | { type: 'rerun'; side: Side }
  | { type: 'requestHead'; requestId: number; side: Side; layer: number; head: number }
  | { type: 'cancelHead'; requestId: number }
  | { type: 'inherit'; side: Side; layers: number }
  | { type: 'compareWith' }
  | { type: 'export'; format: ExportFormat; suggestedName: string; data: string }
  | { type: 'showLog' };

// ---------------------------------------------------------------------------------------------------------------
// .safetensors viewer (custom editor inheritune.safetensorsViewer): headers only.
// ---------------------------------------------------------------------------------------------------------------

export interface ViewerTensor {
  name: string;
  dtype: string;
  shape: number[];
  /** data_offsets[0] as in the header (relative to the start of the data buffer). */
  offset: number;
  bytes: number;
  /** Index into ViewerModel.files. */
  file: number;
}

export interface ViewerFile {
  name: string;
  size: number;
  headerLength: number;
  tensorCount: number;
}

export interface ViewerModel {
  path: string;
  /** gguf: a .gguf file (dtype is the stored ggml type, metadata its key/values as text). */
  kind: 'file' | 'index' | 'gguf';
  files: ViewerFile[];
  tensors: ViewerTensor[];
  /** `__metadata__` of the (first) file; our provenance is the JSON string under "inheritune". */
  metadata: Record<string, string>;
  /** The index file's own "metadata" object, for an index. */
  indexMetadata?: Record<string, unknown>;
  /** From config.json beside the file, when there is one. */
  config?: { architecture?: string; modelType?: string; numLayers?: number };
  gguf?: { version: number; alignment: number };
  readMs: number;
}

/** Host → viewer webview. */
export type ViewerHostMessage = { type: 'loading' } | { type: 'model'; model: ViewerModel } | { type: 'error'; message: string };

/** Viewer webview → host. */
export type ViewerWebviewMessage = { type: 'ready' } | { type: 'retry' } | { type: 'analyze' } | { type: 'inherit' } | { type: 'showLog' };

/** Persisted viewer UI (the model itself is re-read from the header, which is fast). */
export interface ViewerViewState {
  version: 1;
  filter: string;
  expanded: string[];
  scrollTop: number;
}

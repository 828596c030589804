/**
 * Typed messages between the extension host and the live training panel (viewType inheritune.trainingPanel), and the
 * metric point both sides share. Imported by both bundles: no vscode, no node:*.
 *
 * The host tails each run's file (metrics.jsonl or a text log), parses it (src/training/metricsParser.ts) and sends
 * the points; the webview only plots. The host keeps every point, so a webview that was hidden and recreated gets
 * them all again in `init`.
 */

export const TRAINING_VIEW_TYPE = 'inheritune.trainingPanel';

export type MetricEvent = 'step' | 'eval' | 'grow' | 'checkpoint' | 'done' | 'error';

/**
 * One event of a run. `step` and, where the source knows them, `tokens`, `round` and `layers` are on every point;
 * the other fields only where the event has them (names follow the trainer's metrics.jsonl, camelCased).
 */
export interface MetricPoint {
  event: MetricEvent;
  step: number;
  /** Tokens seen so far (global); absent in text logs that do not say. */
  tokens?: number;
  /** Seconds since the epoch. */
  time?: number;
  round?: number;
  layers?: number;
  trainLoss?: number;
  valLoss?: number;
  lr?: number;
  tokensPerS?: number;
  gradNorm?: number;
  /** The run's target validation loss (eval, grow and done events). */
  target?: number;
  /** grow: depth before and after. */
  fromLayers?: number;
  toLayers?: number;
  /** done: whether the target was reached, and why the run stopped. */
  reached?: boolean;
  stopReason?: string;
  /** error: the trainer's message; checkpoint: the reason. */
  message?: string;
  /** eval: taken at step 0 of a round (the inherited or grown model before training). */
  roundStart?: boolean;
  /** grow: how the next model is made (`reinherit`: fresh from the reference; `extend`: trained blocks + reference blocks). */
  mode?: string;
  /** done: the run's summary.json. */
  summary?: string;
}

/** What a file turned out to be. */
export type SourceFormat = 'jsonl' | 'text' | 'unknown';

/** How the host is following a run's file. */
export type TailStatus =
  /** The file does not exist (yet): the trainer has not started writing it. */
  | 'waiting'
  /** Following; new lines appear as they are written. */
  | 'live'
  | 'error';

export interface RunInfo {
  id: string;
  /** Short name for the legend (the run folder, or the file name). */
  label: string;
  /** Full path (or URI for non-file schemes), for tooltips and CSV. */
  path: string;
  status: TailStatus;
  format: SourceFormat;
  /** Lines that could not be parsed and were skipped. */
  skipped: number;
  /** Set when the task that writes this file has ended. */
  exitCode?: number;
  error?: string;
}

/** Host → training webview. */
export type TrainingHostMessage =
  /** Everything (first load, and after the webview was recreated). */
  | { type: 'init'; runs: RunInfo[]; points: Record<string, MetricPoint[]> }
  | { type: 'runAdded'; run: RunInfo }
  | { type: 'runRemoved'; runId: string }
  /** The file was truncated or replaced: drop the run's points (new ones follow). */
  | { type: 'reset'; runId: string }
  | { type: 'points'; runId: string; points: MetricPoint[] }
  | { type: 'runStatus'; run: RunInfo }
  /** Result of an export request. */
  | { type: 'exported'; path?: string; error?: string };

export type ExportKind = 'png' | 'svg' | 'csv';

/** Training webview → host. */
export type TrainingWebviewMessage =
  | { type: 'ready' }
  /** Ask the host to pick another metrics file or log to overlay. */
  | { type: 'addRun' }
  | { type: 'removeRun'; runId: string }
  /** Start following the file again after an error. */
  | { type: 'retry'; runId: string }
  /** `data` is text for svg/csv, a data: URL for png. */
  | { type: 'export'; format: ExportKind; suggestedName: string; data: string }
  | { type: 'showLog' };

export type XAxis = 'step' | 'tokens';

/** The webview's persisted UI state (getState/setState); the data comes from the host. */
export interface TrainingViewState {
  version: 1;
  xAxis: XAxis;
  /** EMA weight in [0, 0.99]; 0 = raw. */
  smoothing: number;
  showTrain: boolean;
  showVal: boolean;
  logY: boolean;
  /** Run ids hidden from the charts (still listed). */
  hidden: string[];
}

export const DEFAULT_TRAINING_VIEW_STATE: TrainingViewState = {
  version: 1,
  xAxis: 'step',
  smoothing: 0.6,
  showTrain: true,
  showVal: true,
  logY: false,
  hidden: [],
};

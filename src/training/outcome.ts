/** What a finished run's summary.json says, in one sentence (the end-of-run notification). No vscode. */

export interface RunSummary {
  reached?: boolean;
  stop_reason?: string;
  final_val_loss?: number;
  target?: number;
  layers?: number;
  num_rounds?: number;
  final_checkpoint?: string;
}

/** The message for a summary (pure, for tests). */
export function outcomeMessage(s: RunSummary): string {
  const v = typeof s.final_val_loss === 'number' ? s.final_val_loss.toFixed(4) : '?';
  const t = typeof s.target === 'number' ? s.target.toFixed(4) : '?';
  const rounds = s.num_rounds !== undefined ? `, ${s.num_rounds} round${s.num_rounds === 1 ? '' : 's'}` : '';
  return s.reached
    ? `Training reached the target: final val loss ${v} ≤ target ${t} with ${s.layers ?? '?'} layers${rounds}.`
    : `Training ended without reaching the target (${s.stop_reason ?? 'stopped'}): final val loss ${v} vs target ${t} with ${s.layers ?? '?'} layers${rounds}.`;
}

/** CSV export of the metrics: one row per (model, layer, head), the layer's metrics repeated on each row (tidy data). */
import type { AnalysisReport } from '../../src/shared/report';

export const CSV_COLUMNS = [
  'model',
  'layer',
  'head',
  'lazy_layer',
  'k_star',
  'm_star',
  'm_star_squared',
  'entropy',
  'sink_mass',
  'dominant_column',
  'layer_max_k_star',
  'layer_mean_k_star',
  'block_influence',
  'angular_distance',
  'tau',
  'seq_len',
  'batch',
  'mode',
] as const;

export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  const s = String(v);
  return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function reportsToCsv(entries: { label: string; report: AnalysisReport }[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const { label, report } of entries) {
    const s = report.settings;
    for (const l of report.layers) {
      l.heads.forEach((h, head) => {
        lines.push(
          [
            label,
            l.index,
            head,
            l.lazy ? 1 : 0,
            h.kStar,
            h.mStar,
            h.mStarSquared,
            h.entropy,
            h.sinkMass,
            h.dominantColumn,
            l.maxKStar,
            l.meanKStar,
            l.blockInfluence,
            l.angularDistance,
            s.tau,
            s.seqLen,
            s.batch,
            s.mode,
          ]
            .map(csvField)
            .join(','),
        );
      });
    }
  }
  return lines.join('\n') + '\n';
}

/** A file-name-safe stem, e.g. "gpt2-8L k* heatmap" → "gpt2-8L-kstar-heatmap". */
export function fileStem(s: string): string {
  return (
    s
      .replace(/\*/g, 'star')
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 80) || 'export'
  );
}

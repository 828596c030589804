/**
 * CSV export of the metrics: one row per (model, layer, head), the layer's metrics repeated on each row (tidy data).
 * k_star_lo / k_star_hi are a head's certified bounds when its k* lies above the exact rank (k_star is then k_star_lo),
 * else both equal k_star; layer_bounded_heads > 0 makes the layer's max and mean k* lower bounds.
 */
import type { AnalysisReport } from '../../src/shared/report';
import { exactUpTo, kStarRange, layerBoundedHeads } from './kStarBounds';

export const CSV_COLUMNS = [
  'model',
  'layer',
  'head',
  'lazy_layer',
  'k_star',
  'k_star_lo',
  'k_star_hi',
  'm_star',
  'm_star_squared',
  'entropy',
  'sink_mass',
  'dominant_column',
  'layer_max_k_star',
  'layer_mean_k_star',
  'layer_bounded_heads',
  'block_influence',
  'angular_distance',
  'tau',
  'seq_len',
  'batch',
  'mode',
  'k_star_exact_up_to',
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
      const bounded = layerBoundedHeads(l);
      l.heads.forEach((h, head) => {
        const [lo, hi] = kStarRange(h);
        lines.push(
          [
            label,
            l.index,
            head,
            l.lazy ? 1 : 0,
            h.kStar,
            lo,
            hi,
            h.mStar,
            h.mStarSquared,
            h.entropy,
            h.sinkMass,
            h.dominantColumn,
            l.maxKStar,
            l.meanKStar,
            bounded,
            l.blockInfluence,
            l.angularDistance,
            s.tau,
            s.seqLen,
            s.batch,
            s.mode,
            exactUpTo(report),
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

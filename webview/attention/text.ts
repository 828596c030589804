/** Wording and number formats of the report panel. */
import type { AnalysisReport, KStarMode, LayerReport } from '../../src/shared/report';
import type { HeadMetric } from '../../src/shared/protocol';
import { isDegenerate } from '../shared/heatmapModel';

export function formatMetric(metric: HeadMetric, v: number, mode: KStarMode): string {
  if (!Number.isFinite(v)) return '–';
  switch (metric) {
    case 'kStar':
      return mode === 'mean' && Number.isInteger(v) ? String(v) : v.toFixed(1);
    case 'mStar':
      return Number.isInteger(v) ? String(v) : v.toFixed(1);
    case 'entropy':
      return v.toFixed(3);
    case 'sinkMass':
      return v >= 0.9995 ? '≈1' : v.toFixed(3);
  }
}

export function headTooltip(r: AnalysisReport, l: LayerReport, head: number, model?: string): (string | [string, string])[] {
  const h = l.heads[head];
  const mode = r.settings.mode;
  const lines: (string | [string, string])[] = [`${model ? model + ' · ' : ''}Layer ${l.index} · Head ${head}`];
  lines.push(['k*', formatMetric('kStar', h.kStar, mode)]);
  lines.push(['m*', `${formatMetric('mStar', h.mStar, mode)}  (squared ${formatMetric('mStar', h.mStarSquared, mode)})`]);
  lines.push(['entropy', formatMetric('entropy', h.entropy, mode)]);
  lines.push(['sink mass', h.sinkMass.toFixed(4)]);
  lines.push(['dominant key', String(h.dominantColumn)]);
  if (l.lazy) lines.push('Lazy layer: every head is degenerate');
  else if (isDegenerate(r, h)) lines.push('Degenerate head (rank 1)');
  lines.push('Click or press Enter for the attention matrix');
  return lines;
}

export function epSummary(r: AnalysisReport): string {
  const ep = r.executionProvider;
  const skipped = ep.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  const adapter = ep.adapter ? ` · on ${ep.adapter.description}` : '';
  return `${ep.used}${ep.requested && ep.requested !== ep.used ? ` (requested ${ep.requested})` : ''}${adapter}${skipped ? ` · skipped ${skipped}` : ''}`;
}

export function inputLabel(input: string): string {
  if (input === 'builtin') return 'built-in text';
  const m = /^(text|tokens):(.*)$/.exec(input);
  if (!m) return input;
  const parts = m[2].split(/[\\/]/);
  return `${m[1]} ${parts[parts.length - 1]}`;
}

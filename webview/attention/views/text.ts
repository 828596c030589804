/** Wording and number formats of the report panel. */
import { isDegenerate, type AnalysisReport, type HeadReport, type KStarMode, type LayerReport } from '../../../src/shared/report';
import type { HeadMetric } from '../../../src/shared/protocol';
import { boundedReason, exactUpTo, kStarInterval } from '../../shared/kStarBounds';

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

/** "∈ [130, 201]": a head's certified k* bounds, each end as formatMetric writes a k*. */
export function formatKStarBounds([lo, hi]: [number, number], mode: KStarMode): string {
  return `∈ [${formatMetric('kStar', lo, mode)}, ${formatMetric('kStar', hi, mode)}]`;
}

/**
 * A head's k* for a read-out: the number when it is exact; for a head shown as bounds the interval and why
 * ("∈ [130, 201] (bounded: above the exact rank 128)"), never the lower end alone.
 */
export function kStarReadout(r: AnalysisReport, h: HeadReport): { value: string; bounded: boolean } {
  const b = kStarInterval(h);
  if (!b) return { value: formatMetric('kStar', h.kStar, r.settings.mode), bounded: false };
  return { value: `${formatKStarBounds(b, r.settings.mode)} ${boundedReason(exactUpTo(r))}`, bounded: true };
}

export function headTooltip(r: AnalysisReport, l: LayerReport, head: number, model?: string): (string | [string, string])[] {
  const h = l.heads[head];
  const mode = r.settings.mode;
  const lines: (string | [string, string])[] = [`${model ? model + ' · ' : ''}Layer ${l.index} · Head ${head}`];
  lines.push(['k*', kStarReadout(r, h).value]);
  lines.push(['m*', `${formatMetric('mStar', h.mStar, mode)}  (squared ${formatMetric('mStar', h.mStarSquared, mode)})`]);
  lines.push(['entropy', formatMetric('entropy', h.entropy, mode)]);
  lines.push(['sink mass', h.sinkMass.toFixed(4)]);
  lines.push(['dominant key', String(h.dominantColumn)]);
  if (l.lazy) lines.push('Lazy layer: every head is degenerate');
  else if (isDegenerate(h, r.settings.degenerateWhen)) lines.push('Degenerate head (rank 1)');
  lines.push('Click or press Enter for the attention matrix');
  return lines;
}

export function epSummary(r: AnalysisReport): string {
  const ep = r.executionProvider;
  const skipped = ep.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  const adapter = ep.adapter ? ` · on ${ep.adapter.description}` : '';
  return `${ep.used}${ep.requested && ep.requested !== ep.used ? ` (requested ${ep.requested})` : ''}${adapter}${skipped ? ` · skipped ${skipped}` : ''}`;
}

/** The input fact of the header: source, token count and whether special tokens were added (schema ≥ 2). */
export function inputSummary(r: AnalysisReport): { text: string; title: string } {
  const i = r.input;
  if (!i) return { text: inputLabel(r.settings.input), title: r.settings.input };
  const src =
    i.source === 'builtin' ? 'built-in text' : i.source === 'random' ? 'random ids' : `${i.source} ${(i.file ?? '').split(/[\\/]/).pop()}`;
  const first = i.specialTokens && i.firstSequence.pieces ? i.firstSequence.pieces[0] : undefined;
  const special =
    i.source === 'tokens' || i.source === 'random'
      ? ''
      : i.specialTokens
        ? ` · ${first !== undefined ? tokenText(first) : 'special tokens'} added`
        : ' · no special tokens';
  return {
    text: `${src} · ${i.tokenCount} tokens${special}`,
    title: `${r.settings.input}; ${i.tokenCount} tokens${i.tokenizer ? ` (${i.tokenizer})` : ''}; special tokens ${i.specialTokens ? `added: ids ${i.specialTokenIds.join(', ')}` : 'not added'}`,
  };
}

export function inputLabel(input: string): string {
  if (input === 'builtin') return 'built-in text';
  const m = /^(text|tokens):(.*)$/.exec(input);
  if (!m) return input;
  const parts = m[2].split(/[\\/]/);
  return `${m[1]} ${parts[parts.length - 1]}`;
}

/**
 * A token's text as the panel shows it: spaces as "·", newlines and tabs as ↵ and ⇥, other control characters and
 * the invisible or direction-changing format characters (which could reorder what is shown around them) as \xNN or
 * \u{…}. Token text comes from the checkpoint's tokenizer and is untrusted: it only ever goes into textContent or a
 * canvas fillText, never into HTML.
 */
export function tokenText(piece: string): string {
  let out = '';
  for (const ch of piece) {
    const c = ch.codePointAt(0)!;
    if (ch === ' ') out += '·';
    else if (ch === '\n') out += '↵';
    else if (ch === '\t') out += '⇥';
    else if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) out += `\\x${c.toString(16).toUpperCase().padStart(2, '0')}`;
    else if ((c >= 0x200b && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c === 0xfeff)
      out += `\\u{${c.toString(16).toUpperCase()}}`;
    else out += ch;
  }
  return out || '∅';
}

/** A token for an axis label: tokenText cut to `max` characters with an ellipsis. */
export function shortToken(piece: string, max: number): string {
  const t = [...tokenText(piece)];
  return t.length <= max ? t.join('') : t.slice(0, Math.max(1, max - 1)).join('') + '…';
}

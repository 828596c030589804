/**
 * The head view's canvas pieces that need no state of their own: the axes (position ticks, or token labels when a
 * cell is tall enough) and the whole-matrix exports (PNG, and SVG with the PNG embedded). Token text is drawn with
 * fillText only, never as HTML; the SVG export's title is XML-escaped.
 */
import type { Theme } from '../../shared/theme';
import { shortToken } from './text';

/** Margins of an exported matrix image. */
export const MARGIN_L = 40;
export const MARGIN_T = 22;

/** The visible window of the matrix on the canvas. */
export interface MatrixWindow {
  theme: Theme;
  T: number;
  /** Left and top margins and the side of the square plot, in CSS px. */
  ml: number;
  mt: number;
  size: number;
  /** Top-left visible cell (fractional). */
  vx: number;
  vy: number;
  tokens: string[] | null;
  probe: { q: number; k: number } | undefined;
  hoverPos: number | undefined;
}

/** What an export draws: the T×T raster (one pixel a cell), its title and the colour scale's top. */
export interface MatrixImage {
  theme: Theme;
  T: number;
  off: HTMLCanvasElement | undefined;
  label: string;
  max: number;
}

/** Position ticks, about 6 per axis on whole cells, and the axis names. */
export function drawTicks(ctx: CanvasRenderingContext2D, m: MatrixWindow, w: number): void {
  const t = m.theme;
  ctx.fillStyle = t.muted;
  ctx.font = `10px ${t.fontFamily}`;
  const step = niceStep(w / 6);
  const first = Math.ceil(m.vx / step) * step;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'alphabetic';
  for (let k = first; k < m.vx + w; k += step) {
    const x = m.ml + ((k + 0.5 - m.vx) / w) * m.size;
    ctx.fillText(String(k), x, m.mt - 7);
  }
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  const firstQ = Math.ceil(m.vy / step) * step;
  for (let q = firstQ; q < m.vy + w; q += step) {
    const y = m.mt + ((q + 0.5 - m.vy) / w) * m.size;
    ctx.fillText(String(q), m.ml - 6, y);
  }
  ctx.textAlign = 'left';
  ctx.textBaseline = 'alphabetic';
  ctx.fillText('key →', m.ml + m.size - 30, 10);
  ctx.save();
  ctx.translate(10, m.mt + 36);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = 'right';
  ctx.fillText('← query', 0, 0);
  ctx.restore();
}

/** A token on every visible row (query, left) and column (key, rotated on top); canvas text, never HTML. */
export function drawTokenLabels(ctx: CanvasRenderingContext2D, m: MatrixWindow, w: number, cs: number): void {
  const t = m.theme;
  const toks = m.tokens!;
  const font = Math.min(11, Math.max(9, Math.floor(cs * 0.8)));
  ctx.font = `${font}px ${t.fontFamily}`;
  const fit = (s: string, px: number) => {
    let n = 16;
    let out = shortToken(s, n);
    while (n > 2 && ctx.measureText(out).width > px) out = shortToken(s, --n);
    return out;
  };
  const k0 = Math.max(0, Math.floor(m.vx));
  const q0 = Math.max(0, Math.floor(m.vy));
  for (let k = k0; k < Math.min(m.T, m.vx + w); k++) {
    ctx.fillStyle = k === m.probe?.k || k === m.hoverPos ? t.foreground : t.muted;
    ctx.save();
    ctx.translate(m.ml + (k + 0.5 - m.vx) * cs, m.mt - 4);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    ctx.fillText(fit(toks[k], m.mt - 8), 0, 0);
    ctx.restore();
  }
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let q = q0; q < Math.min(m.T, m.vy + w); q++) {
    ctx.fillStyle = q === m.probe?.q || q === m.hoverPos ? t.foreground : t.muted;
    ctx.fillText(fit(toks[q], m.ml - 8), m.ml - 4, m.mt + (q + 0.5 - m.vy) * cs);
  }
  ctx.fillStyle = t.muted;
  ctx.font = `10px ${t.fontFamily}`;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'alphabetic';
  ctx.fillText('key →', 4, 12);
  ctx.fillText('query ↓', 4, 26);
}

/** An SVG of the matrix: the PNG raster embedded as an image (a T² grid of rects would be far too large). */
export function matrixSvg(m: MatrixImage): string {
  const png = matrixPng(m);
  const T = m.T;
  const scale = Math.max(1, Math.ceil(512 / T));
  const w = T * scale + MARGIN_L + 16;
  const hgt = T * scale + MARGIN_T + 28;
  const label = m.label;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${w}" height="${hgt}" viewBox="0 0 ${w} ${hgt}">` +
    `<title>${xmlEscape(label)} attention (T = ${T})</title>` +
    `<image width="${w}" height="${hgt}" image-rendering="pixelated" href="${png}" xlink:href="${png}"/></svg>\n`
  );
}

/** A PNG of the whole matrix (nearest-neighbour, at least 512 px) with its title. */
export function matrixPng(m: MatrixImage): string {
  const T = m.T;
  const scale = Math.max(1, Math.ceil(512 / T));
  const S = T * scale;
  const c = document.createElement('canvas');
  c.width = S + MARGIN_L + 16;
  c.height = S + MARGIN_T + 28;
  const ctx = c.getContext('2d')!;
  ctx.fillStyle = m.theme.background;
  ctx.fillRect(0, 0, c.width, c.height);
  ctx.imageSmoothingEnabled = false;
  if (m.off) ctx.drawImage(m.off, 0, 0, T, T, MARGIN_L, MARGIN_T + 20, S, S);
  ctx.fillStyle = m.theme.foreground;
  ctx.font = `600 13px ${m.theme.fontFamily}`;
  ctx.fillText(m.label, MARGIN_L, 18);
  ctx.fillStyle = m.theme.muted;
  ctx.font = `11px ${m.theme.fontFamily}`;
  ctx.fillText(`T = ${T}, max ${m.max.toFixed(4)}, √ colour scale · rows: query, columns: key`, MARGIN_L, 34);
  return c.toDataURL('image/png');
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceStep(x: number): number {
  if (x <= 1) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(x)));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

/**
 * One head's attention matrix (T×T batch mean) on a canvas: a √ colour scale, zoom (buttons, wheel, + / −), pan (drag),
 * and a read-out of (query, key, value) under the pointer or the keyboard probe (arrow keys). The matrix arrives from
 * the host as an ArrayBuffer on request; nothing else is kept.
 */
import type { HeadReport } from '../../src/shared/report';
import { attentionLut, attentionToRgba, rampStops } from '../shared/colorScale';
import { button, clear, h, icon } from '../shared/dom';
import { Theme } from '../shared/theme';

const MARGIN_L = 40;
const MARGIN_T = 22;
const ZOOMS = [1, 2, 4, 8, 16, 32, 64];

export interface HeadViewCallbacks {
  onRetry: () => void;
  onCancel: () => void;
  onExportPng: (dataUrl: string, name: string) => void;
  onExportSvg: (svgText: string, name: string) => void;
  /** A menu button (the panel's own, so every menu looks and behaves the same). */
  menu: (label: string, icon: string, items: { label: string; run: () => void }[]) => HTMLElement;
}

type Phase = { kind: 'empty' } | { kind: 'loading'; label: string } | { kind: 'error'; label: string; message: string } | { kind: 'ready'; label: string };

export class HeadView {
  readonly root: HTMLElement;
  private theme: Theme;
  private phase: Phase = { kind: 'empty' };
  private T = 0;
  private data: Float32Array | undefined;
  private max = 0;
  private head: HeadReport | undefined;
  private fileStem = 'head';
  private off: HTMLCanvasElement | undefined;
  private canvas: HTMLCanvasElement | undefined;
  private readout: HTMLElement | undefined;
  private zoomLabel: HTMLElement | undefined;
  private size = 420;
  /** View: zoom level index and the top-left visible cell. */
  private zoomIdx = 0;
  private vx = 0;
  private vy = 0;
  private probe: { q: number; k: number } | undefined;
  private lut: Uint8ClampedArray;

  constructor(theme: Theme, private readonly cb: HeadViewCallbacks) {
    this.theme = theme;
    this.lut = attentionLut(theme);
    this.root = h('div', { class: 'head-view' });
    this.renderShell();
  }

  setTheme(theme: Theme): void {
    this.theme = theme;
    this.lut = attentionLut(theme);
    if (this.data) this.paintOffscreen();
    this.renderShell();
  }

  /** The available width changed (layout). */
  setWidth(w: number): void {
    const s = Math.max(220, Math.min(640, Math.floor(w) - MARGIN_L - 8));
    if (Math.abs(s - this.size) < 4) return;
    this.size = s;
    if (this.phase.kind === 'ready') this.renderShell();
  }

  showEmpty(): void {
    this.phase = { kind: 'empty' };
    this.data = undefined;
    this.renderShell();
  }

  showLoading(label: string): void {
    this.phase = { kind: 'loading', label };
    this.renderShell();
  }

  showError(label: string, message: string): void {
    this.phase = { kind: 'error', label, message };
    this.renderShell();
  }

  /** Draw a matrix; returns after the canvas is drawn (the caller measures to the next frame). */
  showMatrix(label: string, fileStem: string, T: number, data: Float32Array, head: HeadReport | undefined): void {
    const sameShape = this.T === T;
    this.T = T;
    this.data = data;
    this.head = head;
    this.fileStem = fileStem;
    this.phase = { kind: 'ready', label };
    if (!sameShape) {
      this.zoomIdx = 0;
      this.vx = 0;
      this.vy = 0;
      this.probe = undefined;
    }
    this.paintOffscreen();
    this.renderShell();
  }

  private paintOffscreen(): void {
    const T = this.T;
    if (!this.off || this.off.width !== T) {
      this.off = document.createElement('canvas');
      this.off.width = T;
      this.off.height = T;
    }
    const ctx = this.off.getContext('2d')!;
    const img = ctx.createImageData(T, T);
    // Scale to the largest weight below the first row (row 0 is always [1, 0, …] under a causal mask).
    let max = 0;
    const d = this.data!;
    for (let i = T; i < d.length; i++) if (d[i] > max) max = d[i];
    this.max = attentionToRgba(d, this.lut, img.data, max > 0 ? max : undefined);
    ctx.putImageData(img, 0, 0);
  }

  private renderShell(): void {
    clear(this.root);
    const p = this.phase;
    if (p.kind === 'empty') {
      this.root.append(
        h(
          'div',
          { class: 'empty-state' },
          icon('layers', 28),
          h('div', { class: 'empty-title', text: 'No head selected' }),
          h('div', { class: 'empty-text', text: 'Click a cell of the heatmap, or focus it and use the arrow keys and Enter, to see that head’s attention matrix.' }),
        ),
      );
      return;
    }
    if (p.kind === 'loading') {
      this.root.append(
        h(
          'div',
          { class: 'status-inline', role: 'status' },
          h('div', { class: 'spinner', 'aria-hidden': 'true' }),
          h('div', {}, h('div', { class: 'status-title', text: `Computing the attention of ${p.label}…` }), h('div', { class: 'muted', text: 'Batch mean over the analysis inputs; runs in a worker.' })),
          button('Cancel', { secondary: true, onClick: () => this.cb.onCancel() }),
        ),
      );
      return;
    }
    if (p.kind === 'error') {
      this.root.append(
        h(
          'div',
          { class: 'status-inline error', role: 'alert' },
          icon('error', 18),
          h('div', {}, h('div', { class: 'status-title', text: `Could not compute ${p.label}` }), h('div', { class: 'error-text', text: p.message })),
          button('Retry', { icon: 'refresh', onClick: () => this.cb.onRetry() }),
        ),
      );
      return;
    }
    // ready
    const hr = this.head;
    const chips = hr
      ? h(
          'div',
          { class: 'chips' },
          chip('k*', fmt(hr.kStar)),
          chip('m*', fmt(hr.mStar)),
          chip('entropy', hr.entropy.toFixed(3)),
          chip('sink', hr.sinkMass.toFixed(3)),
          chip('dominant key', String(hr.dominantColumn)),
        )
      : null;
    this.zoomLabel = h('span', { class: 'zoom-label', text: `${ZOOMS[this.zoomIdx]}×` });
    const toolbar = h(
      'div',
      { class: 'head-toolbar' },
      h('div', { class: 'head-title', text: p.label }),
      h(
        'div',
        { class: 'toolbar-buttons' },
        button('Zoom out', { icon: 'zoomOut', iconOnly: true, secondary: true, onClick: () => this.zoomBy(-1) }),
        this.zoomLabel,
        button('Zoom in', { icon: 'zoomIn', iconOnly: true, secondary: true, onClick: () => this.zoomBy(1) }),
        button('Fit', { icon: 'fit', iconOnly: true, secondary: true, onClick: () => this.zoomTo(0) }),
        this.cb.menu('Save attention matrix', 'download', [
          { label: 'Save as PNG…', run: () => this.cb.onExportPng(this.exportPng(), this.fileStem) },
          { label: 'Save as SVG…', run: () => this.cb.onExportSvg(this.exportSvg(), this.fileStem) },
        ]),
      ),
    );
    const dpr = window.devicePixelRatio || 1;
    const W = MARGIN_L + this.size;
    const H = MARGIN_T + this.size;
    const c = h('canvas', {
      class: 'attention-canvas',
      width: Math.round(W * dpr),
      height: Math.round(H * dpr),
      tabindex: 0,
      role: 'img',
      'aria-label': `Attention matrix of ${p.label}, ${this.T} queries by ${this.T} keys. Arrow keys move a probe and read its value; plus and minus zoom.`,
    });
    c.style.width = `${W}px`;
    c.style.height = `${H}px`;
    this.canvas = c;
    this.readout = h('div', { class: 'readout', 'aria-live': 'polite' });
    this.root.append(toolbar, chips ?? '', h('div', { class: 'canvas-wrap' }, c), this.legend(), this.readout);
    this.bindCanvas(c);
    this.draw();
    this.updateReadout();
  }

  private legend(): HTMLElement {
    const stops = rampStops(this.theme);
    // A CSS gradient would need an inline style attribute (blocked by the CSP), so the bar is a tiny canvas.
    const bar = h('canvas', { class: 'legend-bar', width: 160, height: 8, 'aria-hidden': 'true' });
    const ctx = bar.getContext('2d');
    if (ctx) {
      for (let x = 0; x < 160; x++) {
        const i = Math.round((x / 159) * 255) * 4;
        ctx.fillStyle = `rgb(${this.lut[i]},${this.lut[i + 1]},${this.lut[i + 2]})`;
        ctx.fillRect(x, 0, 1, 8);
      }
    }
    void stops;
    return h('div', { class: 'attn-legend' }, h('span', { class: 'muted', text: '0' }), bar, h('span', { class: 'muted', text: `${this.max.toFixed(3)}  (√ scale)` }), h('span', { class: 'muted legend-hint', text: 'wheel or +/− zoom · drag to pan · arrows probe' }));
  }

  private visible(): number {
    return Math.max(1, this.T / ZOOMS[this.zoomIdx]);
  }

  private clampView(): void {
    const w = this.visible();
    this.vx = Math.min(Math.max(0, this.vx), this.T - w);
    this.vy = Math.min(Math.max(0, this.vy), this.T - w);
  }

  private zoomTo(idx: number, focus?: { q: number; k: number }): void {
    const i = Math.max(0, Math.min(ZOOMS.length - 1, idx));
    if (ZOOMS[i] > this.T) return;
    const before = this.visible();
    const f = focus ?? { q: this.vy + before / 2, k: this.vx + before / 2 };
    const fx = (f.k - this.vx) / before;
    const fy = (f.q - this.vy) / before;
    this.zoomIdx = i;
    const w = this.visible();
    this.vx = f.k - fx * w;
    this.vy = f.q - fy * w;
    this.clampView();
    if (this.zoomLabel) this.zoomLabel.textContent = `${ZOOMS[i]}×`;
    this.draw();
  }

  private zoomBy(d: number, focus?: { q: number; k: number }): void {
    this.zoomTo(this.zoomIdx + d, focus);
  }

  private cellAt(ev: MouseEvent): { q: number; k: number } | undefined {
    const r = this.canvas!.getBoundingClientRect();
    const x = ev.clientX - r.left - MARGIN_L;
    const y = ev.clientY - r.top - MARGIN_T;
    if (x < 0 || y < 0 || x >= this.size || y >= this.size) return undefined;
    const w = this.visible();
    return { k: Math.floor(this.vx + (x / this.size) * w), q: Math.floor(this.vy + (y / this.size) * w) };
  }

  private bindCanvas(c: HTMLCanvasElement): void {
    let drag: { x: number; y: number; vx: number; vy: number } | undefined;
    c.addEventListener('mousemove', (ev) => {
      if (drag) {
        const s = this.visible() / this.size;
        this.vx = drag.vx - (ev.clientX - drag.x) * s;
        this.vy = drag.vy - (ev.clientY - drag.y) * s;
        this.clampView();
        this.draw();
        return;
      }
      const cell = this.cellAt(ev);
      if (cell && (cell.q !== this.probe?.q || cell.k !== this.probe?.k)) {
        this.probe = cell;
        this.draw();
        this.updateReadout();
      }
    });
    c.addEventListener('mouseleave', () => {
      drag = undefined;
    });
    c.addEventListener('mousedown', (ev) => {
      if (this.zoomIdx > 0) drag = { x: ev.clientX, y: ev.clientY, vx: this.vx, vy: this.vy };
    });
    window.addEventListener('mouseup', () => (drag = undefined));
    c.addEventListener(
      'wheel',
      (ev) => {
        ev.preventDefault();
        this.zoomBy(ev.deltaY < 0 ? 1 : -1, this.cellAt(ev));
      },
      { passive: false },
    );
    c.addEventListener('keydown', (ev) => {
      const T = this.T;
      const p = this.probe ?? { q: 0, k: 0 };
      let next: { q: number; k: number } | undefined;
      switch (ev.key) {
        case '+':
        case '=':
          this.zoomBy(1, p);
          break;
        case '-':
          this.zoomBy(-1, p);
          break;
        case '0':
          this.zoomTo(0);
          break;
        case 'ArrowLeft':
          next = { q: p.q, k: Math.max(0, p.k - 1) };
          break;
        case 'ArrowRight':
          next = { q: p.q, k: Math.min(T - 1, p.k + 1) };
          break;
        case 'ArrowUp':
          next = { q: Math.max(0, p.q - 1), k: p.k };
          break;
        case 'ArrowDown':
          next = { q: Math.min(T - 1, p.q + 1), k: p.k };
          break;
        default:
          return;
      }
      ev.preventDefault();
      if (next) {
        this.probe = next;
        // Keep the probe in view.
        const w = this.visible();
        if (next.k < this.vx) this.vx = next.k;
        if (next.k >= this.vx + w) this.vx = next.k - w + 1;
        if (next.q < this.vy) this.vy = next.q;
        if (next.q >= this.vy + w) this.vy = next.q - w + 1;
        this.clampView();
        this.draw();
        this.updateReadout();
      }
    });
  }

  private updateReadout(): void {
    if (!this.readout) return;
    clear(this.readout);
    const p = this.probe;
    if (!p || !this.data) {
      this.readout.append(h('span', { class: 'muted', text: 'Hover the matrix for (query, key, value).' }));
      return;
    }
    const v = this.data[p.q * this.T + p.k];
    this.readout.append(
      h('span', { class: 'ro-key', text: 'query' }),
      h('span', { class: 'ro-val', text: String(p.q) }),
      h('span', { class: 'ro-key', text: 'key' }),
      h('span', { class: 'ro-val', text: String(p.k) }),
      h('span', { class: 'ro-key', text: 'value' }),
      h('span', { class: 'ro-val', text: p.k > p.q ? `${v.toPrecision(4)} (masked)` : v.toPrecision(5) }),
    );
  }

  /** Draw the visible window of the matrix with tick labels and the probe. */
  private draw(): void {
    const c = this.canvas;
    if (!c || !this.off) return;
    const ctx = c.getContext('2d')!;
    const dpr = c.width / (MARGIN_L + this.size);
    const t = this.theme;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = t.background;
    ctx.fillRect(0, 0, MARGIN_L + this.size, MARGIN_T + this.size);
    const w = this.visible();
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.off, this.vx, this.vy, w, w, MARGIN_L, MARGIN_T, this.size, this.size);
    ctx.strokeStyle = t.border;
    ctx.lineWidth = 1;
    ctx.strokeRect(MARGIN_L - 0.5, MARGIN_T - 0.5, this.size + 1, this.size + 1);
    // Ticks: about 6 per axis, on whole cells.
    ctx.fillStyle = t.muted;
    ctx.font = `10px ${t.fontFamily}`;
    const step = niceStep(w / 6);
    const first = Math.ceil(this.vx / step) * step;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'alphabetic';
    for (let k = first; k < this.vx + w; k += step) {
      const x = MARGIN_L + ((k + 0.5 - this.vx) / w) * this.size;
      ctx.fillText(String(k), x, MARGIN_T - 7);
    }
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    const firstQ = Math.ceil(this.vy / step) * step;
    for (let q = firstQ; q < this.vy + w; q += step) {
      const y = MARGIN_T + ((q + 0.5 - this.vy) / w) * this.size;
      ctx.fillText(String(q), MARGIN_L - 6, y);
    }
    ctx.textAlign = 'left';
    ctx.textBaseline = 'alphabetic';
    ctx.fillText('key →', MARGIN_L + this.size - 30, 10);
    ctx.save();
    ctx.translate(10, MARGIN_T + 36);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = 'right';
    ctx.fillText('← query', 0, 0);
    ctx.restore();
    // Probe outline.
    const p = this.probe;
    if (p && p.k >= this.vx - 1 && p.k < this.vx + w && p.q >= this.vy - 1 && p.q < this.vy + w) {
      const cs = this.size / w;
      ctx.strokeStyle = t.focus;
      ctx.lineWidth = 1.5;
      ctx.strokeRect(MARGIN_L + (p.k - this.vx) * cs - 0.5, MARGIN_T + (p.q - this.vy) * cs - 0.5, Math.max(3, cs) + 1, Math.max(3, cs) + 1);
    }
  }

  /** An SVG of the matrix: the PNG raster embedded as an image (a T² grid of rects would be far too large). */
  exportSvg(): string {
    const png = this.exportPng();
    const T = this.T;
    const scale = Math.max(1, Math.ceil(512 / T));
    const w = T * scale + MARGIN_L + 16;
    const hgt = T * scale + MARGIN_T + 28;
    const label = this.phase.kind === 'ready' ? this.phase.label : '';
    return (
      `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${w}" height="${hgt}" viewBox="0 0 ${w} ${hgt}">` +
      `<title>${xmlEscape(label)} attention (T = ${T})</title>` +
      `<image width="${w}" height="${hgt}" image-rendering="pixelated" href="${png}" xlink:href="${png}"/></svg>\n`
    );
  }

  /** A PNG of the whole matrix (nearest-neighbour, at least 512 px) with its title. */
  exportPng(): string {
    const T = this.T;
    const scale = Math.max(1, Math.ceil(512 / T));
    const S = T * scale;
    const c = document.createElement('canvas');
    c.width = S + MARGIN_L + 16;
    c.height = S + MARGIN_T + 28;
    const ctx = c.getContext('2d')!;
    ctx.fillStyle = this.theme.background;
    ctx.fillRect(0, 0, c.width, c.height);
    ctx.imageSmoothingEnabled = false;
    if (this.off) ctx.drawImage(this.off, 0, 0, T, T, MARGIN_L, MARGIN_T + 20, S, S);
    ctx.fillStyle = this.theme.foreground;
    ctx.font = `600 13px ${this.theme.fontFamily}`;
    ctx.fillText(this.phase.kind === 'ready' ? this.phase.label : '', MARGIN_L, 18);
    ctx.fillStyle = this.theme.muted;
    ctx.font = `11px ${this.theme.fontFamily}`;
    ctx.fillText(`T = ${T}, max ${this.max.toFixed(4)}, √ colour scale · rows: query, columns: key`, MARGIN_L, 34);
    return c.toDataURL('image/png');
  }
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function chip(k: string, v: string): HTMLElement {
  return h('span', { class: 'chip' }, h('span', { class: 'chip-key', text: k }), h('span', { class: 'chip-val', text: v }));
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

function niceStep(x: number): number {
  if (x <= 1) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(x)));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

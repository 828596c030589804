/**
 * One head's attention matrix (T×T batch mean) on a canvas: a √ colour scale, zoom (buttons, wheel, + / −), pan (drag),
 * and a read-out of (query, key, value) under the pointer or the keyboard probe (arrow keys). The matrix arrives from
 * the host as an ArrayBuffer on request; nothing else is kept.
 *
 * With the report's tokens (sequence 0), the axes show token text where a cell is tall enough for a line of text
 * (at any zoom), the read-out and the tooltip name the query and key tokens, and a token strip below highlights a
 * token's row and column on hover. Token text is untrusted: it goes only into textContent and canvas fillText.
 */
import type { HeadReport } from '../../../src/shared/report';
import { attentionLut, attentionToRgba, rampStops } from '../../shared/colorScale';
import { boundedReason, kStarInterval } from '../../shared/kStarBounds';
import { button, clear, h, icon, Tooltip } from '../../shared/dom';
import { Theme } from '../../shared/theme';
import { drawTicks, drawTokenLabels, MARGIN_L, MARGIN_T, matrixPng, matrixSvg, type MatrixImage, type MatrixWindow } from './matrixCanvas';
import { tokenText } from './text';

/** Margins when token labels may be drawn (queries on the left, keys rotated on top). */
const TOKEN_MARGIN_L = 92;
const TOKEN_MARGIN_T = 64;
/** A cell must be this many CSS px tall for a token label on its row/column. */
const TOKEN_MIN_CELL = 11;
const ZOOMS = [1, 2, 4, 8, 16, 32, 64];

export interface HeadViewCallbacks {
  onRetry: () => void;
  onCancel: () => void;
  onExportPng: (dataUrl: string, name: string) => void;
  onExportSvg: (svgText: string, name: string) => void;
  /** A menu button (the panel's own, so every menu looks and behaves the same). */
  menu: (label: string, icon: string, items: { label: string; run: () => void }[]) => HTMLElement;
  /** The panel's hover card, for the cell under the pointer. */
  tooltip?: Tooltip;
}

type Phase =
  | { kind: 'empty' }
  | { kind: 'loading'; label: string }
  | { kind: 'error'; label: string; message: string }
  | { kind: 'ready'; label: string };

export class HeadView {
  readonly root: HTMLElement;
  private theme: Theme;
  private phase: Phase = { kind: 'empty' };
  private T = 0;
  private data: Float32Array | undefined;
  private max = 0;
  private head: HeadReport | undefined;
  /** The report's kStarExactUpTo: the rank above which this head's k* may be bounds. */
  private exactUpTo: number | null = null;
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
  /** Token pieces of sequence 0 (null: positions only) and how many sequences the matrix averages. */
  private tokens: string[] | null = null;
  private batch = 1;
  /** A position hovered in the token strip: its row and column are highlighted. */
  private hoverPos: number | undefined;
  private strip: HTMLElement | undefined;
  /** A pan in progress (mouse down on a zoomed matrix); ends on mouseup anywhere. */
  private drag: { x: number; y: number; vx: number; vy: number } | undefined;
  private ml = MARGIN_L;
  private mt = MARGIN_T;

  constructor(
    theme: Theme,
    private readonly cb: HeadViewCallbacks,
  ) {
    this.theme = theme;
    this.lut = attentionLut(theme);
    this.root = h('div', { class: 'head-view' });
    // Once per view: the canvas is made anew for each matrix, the listener is not.
    window.addEventListener('mouseup', () => (this.drag = undefined));
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
    // Also fit the height of the panel (the card is sticky beside the heatmap): toolbar, chips, legend and
    // read-out take about 300 px, the token strip about 120.
    const fitH = window.innerHeight - this.mt - (this.tokens ? 420 : 300);
    const s = Math.max(220, Math.min(640, Math.floor(w) - this.ml - 8, fitH));
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
  showMatrix(
    label: string,
    fileStem: string,
    T: number,
    data: Float32Array,
    head: HeadReport | undefined,
    tokens?: { pieces: string[] | null; batch: number },
    exactUpTo: number | null = null,
  ): void {
    const sameShape = this.T === T;
    this.T = T;
    this.data = data;
    this.head = head;
    this.exactUpTo = exactUpTo;
    this.tokens = tokens?.pieces && tokens.pieces.length >= T ? tokens.pieces.slice(0, T) : null;
    this.batch = tokens?.batch ?? 1;
    this.hoverPos = undefined;
    const ml = this.tokens ? TOKEN_MARGIN_L : MARGIN_L;
    if (ml !== this.ml) this.size = Math.max(220, this.size - (ml - this.ml));
    this.ml = ml;
    this.mt = this.tokens ? TOKEN_MARGIN_T : MARGIN_T;
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
    this.drag = undefined;
    const p = this.phase;
    if (p.kind === 'empty') {
      this.root.append(
        h(
          'div',
          { class: 'empty-state' },
          icon('layers', 28),
          h('div', { class: 'empty-title', text: 'No head selected' }),
          h('div', {
            class: 'empty-text',
            text: 'Click a cell of the heatmap, or focus it and use the arrow keys and Enter, to see that head’s attention matrix.',
          }),
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
          h(
            'div',
            {},
            h('div', { class: 'status-title', text: `Computing the attention of ${p.label}…` }),
            h('div', { class: 'muted', text: 'Batch mean over the analysis inputs; runs in a worker.' }),
          ),
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
          h(
            'div',
            {},
            h('div', { class: 'status-title', text: `Could not compute ${p.label}` }),
            h('div', { class: 'error-text', text: p.message }),
          ),
          button('Retry', { icon: 'refresh', onClick: () => this.cb.onRetry() }),
        ),
      );
      return;
    }
    // ready
    const hr = this.head;
    // A k* shown as bounds: the interval in the chip, and why in a line under the chips (never lo alone).
    const kb = hr ? kStarInterval(hr) : undefined;
    const boundsText = kb ? `∈ [${fmt(kb[0])}, ${fmt(kb[1])}]` : '';
    const chips = hr
      ? h(
          'div',
          { class: 'chips' },
          kb
            ? chip('k*', boundsText, 'bounded', `certified bounds: ${boundedReason(this.exactUpTo).slice(1, -1)}`)
            : chip('k*', fmt(hr.kStar)),
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
    const W = this.ml + this.size;
    const H = this.mt + this.size;
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
    this.strip = this.tokens ? this.tokenStrip() : undefined;
    const boundsNote = kb ? h('div', { class: 'kstar-bounds-note', text: `k* ${boundsText} ${boundedReason(this.exactUpTo)}` }) : '';
    this.root.append(
      toolbar,
      chips ?? '',
      boundsNote,
      h('div', { class: 'canvas-wrap' }, c),
      this.legend(),
      this.readout,
      this.strip ?? '',
    );
    this.bindCanvas(c);
    this.draw();
    this.updateReadout();
  }

  /** One span per position of sequence 0; hovering one highlights its row (as query) and column (as key). */
  private tokenStrip(): HTMLElement {
    const toks = this.tokens!;
    const list = h('div', { class: 'token-list', role: 'list', 'aria-label': 'Tokens of sequence 0' });
    for (let i = 0; i < toks.length; i++) {
      list.append(
        h('span', {
          class: 'tok',
          role: 'listitem',
          'data-pos': i,
          title: `position ${i}: ${JSON.stringify(toks[i])}`,
          text: tokenText(toks[i]),
        }),
      );
    }
    list.addEventListener('mouseover', (ev) => {
      const pos = Number((ev.target as HTMLElement).closest('.tok')?.getAttribute('data-pos'));
      if (!Number.isInteger(pos) || pos === this.hoverPos) return;
      this.hoverPos = pos;
      this.markStrip();
      this.draw();
    });
    list.addEventListener('mouseleave', () => {
      this.hoverPos = undefined;
      this.markStrip();
      this.draw();
    });
    const note =
      this.batch > 1
        ? `Tokens of sequence 0 of ${this.batch}; the matrix is their mean. Hover a token for its row and column.`
        : 'Hover a token for its row (as query) and column (as key).';
    return h('div', { class: 'token-strip' }, h('div', { class: 'muted token-note', text: note }), list);
  }

  /** Strip classes: the hovered token, and the probe's query and key tokens. */
  private markStrip(): void {
    if (!this.strip) return;
    for (const el of Array.from(this.strip.querySelectorAll('.tok.hover, .tok.q, .tok.k'))) el.classList.remove('hover', 'q', 'k');
    const at = (i: number | undefined) => (i === undefined ? null : this.strip!.querySelector(`.tok[data-pos="${i}"]`));
    at(this.hoverPos)?.classList.add('hover');
    at(this.probe?.q)?.classList.add('q');
    at(this.probe?.k)?.classList.add('k');
  }

  /** "12 ·the" for a position (the bare number without tokens). */
  private posLabel(i: number): string {
    return this.tokens ? `${i} ${tokenText(this.tokens[i])}` : String(i);
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
    return h(
      'div',
      { class: 'attn-legend' },
      h('span', { class: 'muted', text: '0' }),
      bar,
      h('span', { class: 'muted', text: `${this.max.toFixed(3)}  (√ scale)` }),
      h('span', {
        class: 'muted legend-hint',
        text: `wheel or +/− zoom${this.tokens ? ' (token labels from ' + TOKEN_MIN_CELL + ' px a cell)' : ''} · drag to pan · arrows probe`,
      }),
    );
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
    const x = ev.clientX - r.left - this.ml;
    const y = ev.clientY - r.top - this.mt;
    if (x < 0 || y < 0 || x >= this.size || y >= this.size) return undefined;
    const w = this.visible();
    return { k: Math.floor(this.vx + (x / this.size) * w), q: Math.floor(this.vy + (y / this.size) * w) };
  }

  private bindCanvas(c: HTMLCanvasElement): void {
    c.addEventListener('mousemove', (ev) => {
      const drag = this.drag;
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
      if (cell && this.data) {
        const v = this.data[cell.q * this.T + cell.k];
        this.cb.tooltip?.show(ev.clientX, ev.clientY, [
          `query ${cell.q} → key ${cell.k}`,
          ['query', this.posLabel(cell.q)],
          ['key', this.posLabel(cell.k)],
          ['value', cell.k > cell.q ? 'masked (causal)' : v.toPrecision(5)],
        ]);
      } else this.cb.tooltip?.hide();
    });
    c.addEventListener('mouseleave', () => {
      this.drag = undefined;
      this.cb.tooltip?.hide();
    });
    c.addEventListener('mousedown', (ev) => {
      if (this.zoomIdx > 0) this.drag = { x: ev.clientX, y: ev.clientY, vx: this.vx, vy: this.vy };
    });
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
    const tok = (i: number) =>
      this.tokens ? h('span', { class: 'ro-tok', title: JSON.stringify(this.tokens[i]), text: tokenText(this.tokens[i]) }) : '';
    this.markStrip();
    this.readout.append(
      h('span', { class: 'ro-key', text: 'query' }),
      h('span', { class: 'ro-val', text: String(p.q) }),
      tok(p.q),
      h('span', { class: 'ro-key', text: 'key' }),
      h('span', { class: 'ro-val', text: String(p.k) }),
      tok(p.k),
      h('span', { class: 'ro-key', text: 'value' }),
      h('span', { class: 'ro-val', text: p.k > p.q ? `${v.toPrecision(4)} (masked)` : v.toPrecision(5) }),
    );
  }

  /** Draw the visible window of the matrix with tick labels and the probe. */
  private draw(): void {
    const c = this.canvas;
    if (!c || !this.off) return;
    const ctx = c.getContext('2d')!;
    const dpr = c.width / (this.ml + this.size);
    const t = this.theme;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = t.background;
    ctx.fillRect(0, 0, this.ml + this.size, this.mt + this.size);
    const w = this.visible();
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.off, this.vx, this.vy, w, w, this.ml, this.mt, this.size, this.size);
    ctx.strokeStyle = t.border;
    ctx.lineWidth = 1;
    ctx.strokeRect(this.ml - 0.5, this.mt - 0.5, this.size + 1, this.size + 1);
    const cs = this.size / w;
    const tokenAxes = !!this.tokens && cs >= TOKEN_MIN_CELL;
    if (tokenAxes) drawTokenLabels(ctx, this.window(), w, cs);
    else drawTicks(ctx, this.window(), w);
    // Hooks for tests: what the axes show, and the highlighted position.
    c.dataset.axes = tokenAxes ? 'tokens' : 'positions';
    c.dataset.highlight = this.hoverPos === undefined ? '' : String(this.hoverPos);
    // A token hovered in the strip: its row (as query) and column (as key).
    const hp = this.hoverPos;
    if (hp !== undefined) {
      ctx.save();
      ctx.beginPath();
      ctx.rect(this.ml, this.mt, this.size, this.size);
      ctx.clip();
      ctx.globalAlpha = 0.28;
      ctx.fillStyle = t.focus;
      ctx.fillRect(this.ml, this.mt + (hp - this.vy) * cs, this.size, Math.max(2, cs));
      ctx.fillRect(this.ml + (hp - this.vx) * cs, this.mt, Math.max(2, cs), this.size);
      ctx.restore();
    }
    // Probe outline.
    const p = this.probe;
    if (p && p.k >= this.vx - 1 && p.k < this.vx + w && p.q >= this.vy - 1 && p.q < this.vy + w) {
      ctx.strokeStyle = t.focus;
      ctx.lineWidth = 1.5;
      ctx.strokeRect(this.ml + (p.k - this.vx) * cs - 0.5, this.mt + (p.q - this.vy) * cs - 0.5, Math.max(3, cs) + 1, Math.max(3, cs) + 1);
    }
  }

  private window(): MatrixWindow {
    return {
      theme: this.theme,
      T: this.T,
      ml: this.ml,
      mt: this.mt,
      size: this.size,
      vx: this.vx,
      vy: this.vy,
      tokens: this.tokens,
      probe: this.probe,
      hoverPos: this.hoverPos,
    };
  }

  private image(): MatrixImage {
    return { theme: this.theme, T: this.T, off: this.off, label: this.phase.kind === 'ready' ? this.phase.label : '', max: this.max };
  }

  /** An SVG of the matrix: the PNG raster embedded as an image (a T² grid of rects would be far too large). */
  exportSvg(): string {
    return matrixSvg(this.image());
  }

  /** A PNG of the whole matrix (nearest-neighbour, at least 512 px) with its title. */
  exportPng(): string {
    return matrixPng(this.image());
  }
}

function chip(k: string, v: string, cls = '', title?: string): HTMLElement {
  return h(
    'span',
    { class: cls ? `chip ${cls}` : 'chip', title },
    h('span', { class: 'chip-key', text: k }),
    h('span', { class: 'chip-val', text: v }),
  );
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

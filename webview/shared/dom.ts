/** Tiny DOM helpers (no framework): build elements without innerHTML, so nothing from a report is ever parsed as HTML. */
import { readTheme, Theme, themeKindOf } from './theme';

type Attrs = Record<string, string | number | boolean | undefined | null>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = String(v);
    else if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** The current VS Code theme resolved from the CSS variables on <html>. */
export function currentTheme(): Theme {
  const cs = getComputedStyle(document.documentElement);
  return readTheme((name) => cs.getPropertyValue(`--vscode-${name}`), themeKindOf(document.body.className));
}

/** Call `fn` when VS Code switches theme (it changes the body class and the variables on <html>). */
export function onThemeChange(fn: () => void): void {
  let last = document.body.className + (document.documentElement.getAttribute('style') ?? '');
  const check = () => {
    const now = document.body.className + (document.documentElement.getAttribute('style') ?? '');
    if (now !== last) {
      last = now;
      fn();
    }
  };
  const mo = new MutationObserver(check);
  mo.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  mo.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
}

/** A button with an icon glyph and an accessible label. */
export function button(
  label: string,
  opts: {
    icon?: string;
    title?: string;
    secondary?: boolean;
    iconOnly?: boolean;
    cls?: string;
    onClick: (e: MouseEvent) => void;
    disabled?: boolean;
  },
): HTMLButtonElement {
  const b = h(
    'button',
    {
      class: ['btn', opts.secondary ? 'secondary' : '', opts.iconOnly ? 'icon-only' : '', opts.cls ?? ''].filter(Boolean).join(' '),
      type: 'button',
      title: opts.title ?? (opts.iconOnly ? label : undefined),
      'aria-label': opts.iconOnly ? label : undefined,
      disabled: opts.disabled,
    },
    opts.icon ? icon(opts.icon) : null,
    opts.iconOnly ? null : h('span', { text: label }),
  );
  b.addEventListener('click', opts.onClick);
  return b;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Inline SVG icons (codicon-like outlines; no font, no remote resource). */
const ICONS: Record<string, string> = {
  refresh: 'M13.5 8a5.5 5.5 0 1 1-1.61-3.89M13.5 2.5v3h-3',
  compare: 'M2.5 3.5h4v9h-4zM9.5 3.5h4v9h-4z',
  download: 'M8 2.5v8M4.5 7 8 10.5 11.5 7M3 13.5h10',
  layers: 'M8 2 14 5 8 8 2 5zM2 8l6 3 6-3M2 11l6 3 6-3',
  play: 'M5 3v10l8-5z',
  warning: 'M8 2 14.5 13.5h-13zM8 6.5v3.5M8 11.8v.2',
  info: 'M8 14.5a6.5 6.5 0 1 0 0-13 6.5 6.5 0 0 0 0 13zM8 7v4.5M8 4.8v.2',
  error: 'M8 14.5a6.5 6.5 0 1 0 0-13 6.5 6.5 0 0 0 0 13zM5.5 5.5l5 5M10.5 5.5l-5 5',
  zoomIn: 'M7 12.5a5.5 5.5 0 1 0 0-11 5.5 5.5 0 0 0 0 11zM11 11l3.5 3.5M4.5 7h5M7 4.5v5',
  zoomOut: 'M7 12.5a5.5 5.5 0 1 0 0-11 5.5 5.5 0 0 0 0 11zM11 11l3.5 3.5M4.5 7h5',
  fit: 'M2.5 6V2.5H6M10 2.5h3.5V6M13.5 10v3.5H10M6 13.5H2.5V10',
  close: 'M4 4l8 8M12 4l-8 8',
  chevronRight: 'M6 3.5 10.5 8 6 12.5',
  chevronDown: 'M3.5 6 8 10.5 12.5 6',
  output: 'M2.5 3.5h11v9h-11zM4.5 6.5h7M4.5 9h5',
  search: 'M7 12a5 5 0 1 0 0-10 5 5 0 0 0 0 10zM10.5 10.5 14 14',
  file: 'M4 1.5h5l3.5 3.5v9.5H4zM9 1.5V5h3.5',
  copy: 'M5.5 5.5h8v8h-8zM3 10.5H2.5v-8h8V3',
  collapse: 'M3 8h10',
  expand: 'M3 8h10M8 3v10',
};

export function icon(name: string, size = 16): SVGSVGElement {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('width', String(size));
  svg.setAttribute('height', String(size));
  svg.setAttribute('class', 'icon');
  svg.setAttribute('aria-hidden', 'true');
  const p = document.createElementNS(SVG_NS, 'path');
  p.setAttribute('d', ICONS[name] ?? ICONS.info);
  p.setAttribute('fill', 'none');
  p.setAttribute('stroke', 'currentColor');
  p.setAttribute('stroke-width', '1.2');
  p.setAttribute('stroke-linecap', 'round');
  p.setAttribute('stroke-linejoin', 'round');
  svg.append(p);
  return svg;
}

/** A hover card shared by the charts (one per page, positioned next to the pointer or the focused cell). */
export class Tooltip {
  readonly el: HTMLDivElement;
  constructor(parent: HTMLElement = document.body) {
    this.el = h('div', { class: 'tooltip', role: 'tooltip', 'aria-hidden': 'true' });
    parent.append(this.el);
  }
  show(x: number, y: number, lines: (string | [string, string])[]): void {
    clear(this.el);
    lines.forEach((l, i) => {
      if (typeof l === 'string') this.el.append(h('div', { class: i === 0 ? 'tt-title' : 'tt-line', text: l }));
      else
        this.el.append(
          h('div', { class: 'tt-row' }, h('span', { class: 'tt-key', text: l[0] }), h('span', { class: 'tt-val', text: l[1] })),
        );
    });
    this.el.classList.add('visible');
    const r = this.el.getBoundingClientRect();
    const px = Math.min(window.innerWidth - r.width - 8, x + 14);
    const py = y + 16 + r.height > window.innerHeight ? y - r.height - 10 : y + 16;
    this.el.style.left = `${Math.max(4, px) + window.scrollX}px`;
    this.el.style.top = `${Math.max(4, py) + window.scrollY}px`;
  }
  hide(): void {
    this.el.classList.remove('visible');
  }
}

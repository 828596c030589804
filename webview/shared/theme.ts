/**
 * Colours from the VS Code theme (`--vscode-*` CSS variables), resolved to concrete strings so d3 can interpolate them
 * and exported SVG/PNG files look the same outside VS Code. Pure: the caller passes the variable lookup.
 */
import { color as d3color, interpolateLab, rgb } from 'd3';

export type ThemeKind = 'light' | 'dark' | 'high-contrast' | 'high-contrast-light';

export interface Theme {
  kind: ThemeKind;
  background: string;
  foreground: string;
  muted: string;
  border: string;
  grid: string;
  focus: string;
  /** First data colour (charts.blue) and the second one (compare: charts.purple). */
  accent: string;
  accent2: string;
  /** Lazy layers. */
  warning: string;
  error: string;
  hoverBackground: string;
  hoverForeground: string;
  hoverBorder: string;
  /** Cell borders in high-contrast themes, '' otherwise. */
  contrastBorder: string;
  fontFamily: string;
  fontSize: number;
  monoFamily: string;
}

const FALLBACK_DARK: Record<string, string> = {
  'editor-background': '#1f1f1f',
  'editor-foreground': '#cccccc',
  foreground: '#cccccc',
  descriptionForeground: '#9d9d9d',
  'panel-border': '#2b2b2b',
  focusBorder: '#0078d4',
  'charts-blue': '#3794ff',
  'charts-purple': '#b180d7',
  'charts-orange': '#d18616',
  'charts-red': '#f14c4c',
  'charts-lines': '#cccccc80',
  errorForeground: '#f85149',
  'editorHoverWidget-background': '#202020',
  'editorHoverWidget-foreground': '#cccccc',
  'editorHoverWidget-border': '#454545',
};
const FALLBACK_LIGHT: Record<string, string> = {
  'editor-background': '#ffffff',
  'editor-foreground': '#3b3b3b',
  foreground: '#3b3b3b',
  descriptionForeground: '#616161',
  'panel-border': '#e5e5e5',
  focusBorder: '#005fb8',
  'charts-blue': '#1a85ff',
  'charts-purple': '#652d90',
  'charts-orange': '#d18616',
  'charts-red': '#e51400',
  'charts-lines': '#61616180',
  errorForeground: '#a1260d',
  'editorHoverWidget-background': '#f8f8f8',
  'editorHoverWidget-foreground': '#3b3b3b',
  'editorHoverWidget-border': '#c8c8c8',
};

/** Theme kind from the body classes VS Code sets on webviews. */
export function themeKindOf(classes: string): ThemeKind {
  const c = ` ${classes} `;
  if (c.includes(' vscode-high-contrast-light ')) return 'high-contrast-light';
  if (c.includes(' vscode-high-contrast ')) return 'high-contrast';
  if (c.includes(' vscode-light ')) return 'light';
  return 'dark';
}

export function isLightKind(kind: ThemeKind): boolean {
  return kind === 'light' || kind === 'high-contrast-light';
}

/** `get('editor-background')` returns the value of `--vscode-editor-background` (or ''). */
export function readTheme(get: (name: string) => string, kind: ThemeKind): Theme {
  const fb = isLightKind(kind) ? FALLBACK_LIGHT : FALLBACK_DARK;
  const v = (name: string, ...alt: string[]): string => {
    for (const n of [name, ...alt]) {
      const x = get(n).trim();
      if (x && d3color(x)) return x;
    }
    return fb[name] ?? fb[alt[0]] ?? '#808080';
  };
  const background = opaque(v('editor-background'), isLightKind(kind) ? '#ffffff' : '#1e1e1e');
  const foreground = opaque(v('editor-foreground', 'foreground'), isLightKind(kind) ? '#000000' : '#ffffff');
  const hc = kind === 'high-contrast' || kind === 'high-contrast-light';
  const contrast = get('contrastBorder').trim();
  return {
    kind,
    background,
    foreground,
    muted: opaqueOver(v('descriptionForeground'), background),
    border: opaqueOver(hc && contrast ? contrast : v('panel-border', 'widget-border'), background),
    grid: opaqueOver(v('charts-lines'), background),
    focus: v('focusBorder'),
    accent: v('charts-blue'),
    accent2: v('charts-purple'),
    warning: v('charts-orange', 'editorWarning-foreground'),
    error: v('errorForeground', 'charts-red'),
    hoverBackground: opaque(v('editorHoverWidget-background', 'editorWidget-background'), background),
    hoverForeground: v('editorHoverWidget-foreground', 'foreground'),
    hoverBorder: v('editorHoverWidget-border', 'widget-border'),
    contrastBorder: hc ? contrast || foreground : '',
    fontFamily: get('font-family').trim() || 'system-ui, -apple-system, "Segoe UI", Ubuntu, sans-serif',
    fontSize: parseFloat(get('font-size')) || 13,
    monoFamily: get('editor-font-family').trim() || 'ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace',
  };
}

/** Drop alpha (the colour as it looks over `under`); used so exported files need no CSS. */
export function opaqueOver(c: string, under: string): string {
  const a = d3color(c);
  const b = d3color(under);
  if (!a || !b) return c;
  if (a.opacity >= 1) return a.formatHex();
  return rgb(interpolateLab(rgb(b.formatHex()), rgb(a.formatHex()))(a.opacity)).formatHex();
}

function opaque(c: string, fallback: string): string {
  const a = d3color(c);
  return a ? rgb(a.formatHex()).formatHex() : fallback;
}

/** Blend a → b by t in Lab (t = 0: a). */
export function mix(a: string, b: string, t: number): string {
  return rgb(interpolateLab(a, b)(t)).formatHex();
}

/** WCAG relative luminance in [0, 1]. */
export function luminance(c: string): number {
  const x = rgb(c);
  const f = (v: number) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * f(x.r) + 0.7152 * f(x.g) + 0.0722 * f(x.b);
}

/** WCAG contrast ratio (1..21). */
export function contrastRatio(a: string, b: string): number {
  const la = luminance(a);
  const lb = luminance(b);
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

/** Text colour (foreground or background) that reads best on a fill. */
export function textOn(fill: string, theme: Theme): string {
  return contrastRatio(fill, theme.foreground) >= contrastRatio(fill, theme.background) ? theme.foreground : theme.background;
}

/**
 * Attention report webview, the entry point: one store (state/), the views that follow it (views/), the widgets they
 * are made of (widgets/), and here the host's messages, persistence (getState/setState, so the panel survives
 * hide/show and, through the host's serializer, a reload) and the paint timings the browser test reads.
 */
import type { ExportFormat, ReportHostMessage, ReportViewState, ReportWebviewMessage } from '../../src/shared/protocol';
import { currentTheme, h, onThemeChange, Tooltip } from '../shared/dom';
import { serializeSvg, svgToPng } from '../shared/exportChart';
import { onHostMessage, vscodeApi } from '../shared/vscodeApi';
import { ReportPage } from './app';
import { HeadRequests } from './headRequests';
import { initialState, PERSISTED_KEYS, toViewState, withSide, type ReportState } from './state/reportState';
import { Store } from './state/store';
import type { ViewContext } from './views/context';
import { HeadView } from './views/headView';
import { Menus } from './widgets/menu';

performance.mark('webview-start');

const api = vscodeApi<ReportWebviewMessage, ReportViewState>();
const store = new Store<ReportState>(initialState(api.getState(), currentTheme()));
const app = document.getElementById('app')!;
const announcer = h('div', { class: 'sr-only', 'aria-live': 'polite' });
document.body.append(announcer);
const tooltip = new Tooltip();
const menus = new Menus();

function exportData(format: ExportFormat, name: string, data: string): void {
  api.post({ type: 'export', format, suggestedName: `${name}.${format}`, data });
}

const headView: HeadView = new HeadView(store.state.theme, {
  onRetry: () => store.state.selected && heads.request(store.state.selected, true),
  onCancel: () => heads.cancel(),
  onExportPng: (dataUrl, name) => exportData('png', name, dataUrl),
  onExportSvg: (svgText, name) => exportData('svg', name, svgText),
  menu: (label, iconName, items) => menus.button(label, iconName, items, true),
  tooltip,
});
const heads = new HeadRequests(store, headView, api.post);
store.subscribe(['theme'], (s) => headView.setTheme(s.theme));

const ctx: ViewContext = {
  store,
  post: api.post,
  exportData,
  async exportChart(svg, format, name) {
    if (!svg) return;
    const text = serializeSvg(svg, name);
    if (format === 'svg') return exportData('svg', name, text);
    exportData('png', name, await svgToPng(text, Number(svg.getAttribute('width')), Number(svg.getAttribute('height')), 2));
  },
  menus,
  tooltip,
  announce: (text) => (announcer.textContent = text),
  select(sel) {
    store.update({ selected: sel });
    heads.request(sel);
    document.getElementById('head-card')?.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  },
};

// ------------------------------------------------------------------------------------------------------------
// Paint timings: how long drawing took, to the frame after it (read by the browser test and the benchmark).
// ------------------------------------------------------------------------------------------------------------

let perfPending: { kind: 'heatmap' | 'attention'; start: number } | undefined;
function afterPaint(): void {
  const p = perfPending;
  if (!p) return;
  perfPending = undefined;
  const flag = p.kind === 'heatmap' ? 'heatmapPainted' : 'attentionPainted';
  requestAnimationFrame(() =>
    setTimeout(() => {
      performance.measure(p.kind === 'heatmap' ? 'heatmap-paint' : 'attention-paint', { start: p.start, end: performance.now() });
      if (p.kind === 'heatmap' && !performance.getEntriesByName('heatmap-first-paint').length) {
        performance.measure('heatmap-first-paint', { start: 'webview-start', end: performance.now() });
      }
      document.body.dataset[flag] = String((Number(document.body.dataset[flag]) || 0) + 1);
    }, 0),
  );
}

const page = new ReportPage(app, ctx, headView, heads, afterPaint);

// ------------------------------------------------------------------------------------------------------------
// Persistence: soon, off the rendering path (serializing a report costs a few ms).
// ------------------------------------------------------------------------------------------------------------

let saveTimer: number | undefined;
function flushState(): void {
  window.clearTimeout(saveTimer);
  saveTimer = undefined;
  const saved = toViewState(store.state);
  if (saved) api.setState(saved);
}
store.subscribe(PERSISTED_KEYS, () => {
  if (saveTimer === undefined) saveTimer = window.setTimeout(flushState, 30);
});
window.addEventListener('pagehide', flushState);
document.addEventListener('visibilitychange', flushState);

// ------------------------------------------------------------------------------------------------------------
// Host messages
// ------------------------------------------------------------------------------------------------------------

onHostMessage<ReportHostMessage>((msg) => {
  const s = store.state;
  switch (msg.type) {
    case 'init': {
      const selected = s.selected && msg.sides[s.selected.side] ? s.selected : undefined;
      perfPending = { kind: 'heatmap', start: performance.now() };
      // The page follows `sides`; a first init after a restore with the same shape still redraws (new reports).
      store.update({ sides: msg.sides, selected });
      break;
    }
    case 'progress': {
      if (!s.sides?.[msg.side]) return;
      store.update({
        sides: withSide(s, msg.side, { status: 'loading', progress: { fraction: msg.fraction, message: msg.message }, error: undefined }),
      });
      break;
    }
    case 'report': {
      if (!s.sides?.[msg.side]) return;
      heads.clearCache();
      perfPending = { kind: 'heatmap', start: performance.now() };
      store.update({
        sides: withSide(s, msg.side, { status: 'ready', report: msg.report, error: undefined, progress: { fraction: 1, message: 'done' } }),
      });
      break;
    }
    case 'error': {
      if (!s.sides?.[msg.side]) return;
      store.update({ sides: withSide(s, msg.side, { status: 'error', error: msg.message, cancelled: msg.cancelled }) });
      break;
    }
    case 'headPattern': {
      const start = performance.now();
      if (heads.received(msg)) {
        perfPending = { kind: 'attention', start };
        afterPaint();
      }
      break;
    }
    case 'headPatternError':
      heads.failed(msg);
      break;
    default: {
      const _exhaustive: never = msg;
      void _exhaustive;
    }
  }
});

onThemeChange(() => store.update({ theme: currentTheme() }));

if (store.state.sides) {
  // Restored (hide/show or reload): draw what we have at once, then tell the host we are here.
  perfPending = { kind: 'heatmap', start: performance.now() };
  page.render();
  api.post({ type: 'ready' });
} else {
  // The host answers "ready" with the state at once; show the waiting card only if it does not.
  api.post({ type: 'ready' });
  setTimeout(() => {
    if (!store.state.sides) page.render();
  }, 150);
}

/**
 * Attention report webview: header, lazy-layer verdict, layer × head heatmap with a metric switcher, the per-layer
 * chart and one head's attention matrix on request. State (always with loading/progress/error) lives in
 * getState/setState, so the panel survives hide/show and, through the host's serializer, a reload.
 */
import { explainSuggestion, type AnalysisReport } from '../../src/shared/report';
import type { ExportFormat, HeadMetric, HeadSelection, LayerSeries, ReportHostMessage, ReportViewState, ReportWebviewMessage, Side, SideState } from '../../src/shared/protocol';
import { HEAD_METRIC_ORDER, HEAD_METRICS, LAYER_SERIES, metricDomain } from '../shared/colorScale';
import { reportsToCsv, fileStem } from '../shared/csv';
import { button, clear, currentTheme, h, icon, onThemeChange, Tooltip } from '../shared/dom';
import { serializeSvg, svgToPng } from '../shared/exportChart';
import { baseName, formatCount, formatDate, formatMs, formatRanges } from '../../src/shared/format';
import { hasSeries, verdict } from '../shared/heatmapModel';
import { onHostMessage, vscodeApi } from '../shared/vscodeApi';
import { drawHeatmap } from './heatmap';
import { HeadView } from './headView';
import { drawLayerChart } from './layerChart';
import { epSummary, inputLabel, inputSummary } from './text';

performance.mark('webview-start');

const api = vscodeApi<ReportWebviewMessage, ReportViewState>();
let state: ReportViewState | undefined = api.getState();
let theme = currentTheme();
const tooltip = new Tooltip();
const app = document.getElementById('app')!;
const announcer = h('div', { class: 'sr-only', 'aria-live': 'polite' });
document.body.append(announcer);

/** Head matrices received this session (not persisted: they can be large and are cheap to ask again). */
const patternCache = new Map<string, { T: number; data: Float32Array }>();
let headRequest: { id: number; sel: HeadSelection } | undefined;
let nextRequestId = 1;
let chartWidth = 0;
let perfPending: { kind: 'heatmap' | 'attention'; start: number } | undefined;

const headView = new HeadView(theme, {
  onRetry: () => state?.ui.selected && requestHead(state.ui.selected, true),
  onCancel: () => {
    if (headRequest) api.post({ type: 'cancelHead', requestId: headRequest.id });
    headRequest = undefined;
    headView.showEmpty();
  },
  onExportPng: (dataUrl, name) => exportData('png', name, dataUrl),
  onExportSvg: (svgText, name) => exportData('svg', name, svgText),
  menu: (label, iconName, items) => menuButton(label, iconName, items, true),
  tooltip,
});

/** Persist the state soon, off the rendering path (serializing a report costs a few ms). */
let saveTimer: number | undefined;
function save(): void {
  if (saveTimer !== undefined) return;
  saveTimer = window.setTimeout(flushState, 30);
}
function flushState(): void {
  window.clearTimeout(saveTimer);
  saveTimer = undefined;
  if (state) api.setState(state);
}
window.addEventListener('pagehide', flushState);
document.addEventListener('visibilitychange', flushState);

function entries(): { side: Side; label: string; report: AnalysisReport }[] {
  if (!state) return [];
  const out: { side: Side; label: string; report: AnalysisReport }[] = [];
  for (const side of ['a', 'b'] as Side[]) {
    const s = state.sides[side];
    if (s?.status === 'ready' && s.report) out.push({ side, label: baseName(s.report.model.path || s.request.path), report: s.report });
  }
  return out;
}

function isCompare(): boolean {
  return !!state?.sides.b;
}

// ------------------------------------------------------------------------------------------------------------
// Host messages
// ------------------------------------------------------------------------------------------------------------

onHostMessage<ReportHostMessage>((msg) => {
  switch (msg.type) {
    case 'init': {
      const ui = state?.ui ?? { metric: 'kStar' as HeadMetric, series: 'kStar' as LayerSeries };
      state = { version: 1, sides: msg.sides, ui };
      if (ui.selected && !msg.sides[ui.selected.side]) ui.selected = undefined;
      perfPending = { kind: 'heatmap', start: performance.now() };
      save();
      render();
      break;
    }
    case 'progress': {
      const s = state?.sides[msg.side];
      if (!s) return;
      s.status = 'loading';
      s.progress = { fraction: msg.fraction, message: msg.message };
      s.error = undefined;
      save();
      if (!updateProgress(msg.side)) render();
      break;
    }
    case 'report': {
      const s = state?.sides[msg.side];
      if (!s) return;
      s.status = 'ready';
      s.report = msg.report;
      s.error = undefined;
      s.progress = { fraction: 1, message: 'done' };
      patternCache.clear();
      perfPending = { kind: 'heatmap', start: performance.now() };
      save();
      render();
      break;
    }
    case 'error': {
      const s = state?.sides[msg.side];
      if (!s) return;
      s.status = 'error';
      s.error = msg.message;
      s.cancelled = msg.cancelled;
      save();
      render();
      break;
    }
    case 'headPattern': {
      if (!headRequest || headRequest.id !== msg.requestId) return;
      const start = performance.now();
      const data = new Float32Array(msg.data);
      if (data.length !== msg.T * msg.T) {
        headView.showError(headLabel(headRequest.sel), `expected ${msg.T}×${msg.T} values, got ${data.length}`);
        return;
      }
      const key = `${msg.side}:${msg.layer}:${msg.head}`;
      patternCache.set(key, { T: msg.T, data });
      while (patternCache.size > 6) patternCache.delete(patternCache.keys().next().value as string);
      showPattern(headRequest.sel, msg.T, data);
      headRequest = undefined;
      perfPending = { kind: 'attention', start };
      afterPaint();
      break;
    }
    case 'headPatternError': {
      if (!headRequest || headRequest.id !== msg.requestId) return;
      headView.showError(headLabel(headRequest.sel), msg.message);
      headRequest = undefined;
      break;
    }
    default: {
      const _exhaustive: never = msg;
      void _exhaustive;
    }
  }
});

/** Record how long drawing took, to the frame after it (read by the browser test and the benchmark). */
function afterPaint(): void {
  const p = perfPending;
  if (!p) return;
  perfPending = undefined;
  requestAnimationFrame(() =>
    setTimeout(() => {
      performance.measure(p.kind === 'heatmap' ? 'heatmap-paint' : 'attention-paint', { start: p.start, end: performance.now() });
      if (p.kind === 'heatmap' && !performance.getEntriesByName('heatmap-first-paint').length) {
        performance.measure('heatmap-first-paint', { start: 'webview-start', end: performance.now() });
      }
      document.body.dataset[p.kind === 'heatmap' ? 'heatmapPainted' : 'attentionPainted'] = String((Number(document.body.dataset[p.kind === 'heatmap' ? 'heatmapPainted' : 'attentionPainted']) || 0) + 1);
    }, 0),
  );
}

// ------------------------------------------------------------------------------------------------------------
// Actions
// ------------------------------------------------------------------------------------------------------------

function headLabel(sel: HeadSelection): string {
  const e = entries().find((x) => x.side === sel.side);
  return `${isCompare() && e ? `${sel.side.toUpperCase()} · ` : ''}layer ${sel.layer}, head ${sel.head}`;
}

function headReportOf(sel: HeadSelection) {
  return state?.sides[sel.side]?.report?.layers.find((l) => l.index === sel.layer)?.heads[sel.head];
}

function showPattern(sel: HeadSelection, T: number, data: Float32Array): void {
  const e = entries().find((x) => x.side === sel.side);
  const label = `${isCompare() && e ? e.label + ' · ' : ''}Layer ${sel.layer} · Head ${sel.head}`;
  const rep = state?.sides[sel.side]?.report;
  const tokens = rep?.input ? { pieces: rep.input.firstSequence.pieces, batch: rep.settings.batch } : undefined;
  headView.showMatrix(label, fileStem(`${e?.label ?? 'model'}-L${sel.layer}-H${sel.head}-attention`), T, data, headReportOf(sel), tokens);
}

function requestHead(sel: HeadSelection, force = false): void {
  const cached = patternCache.get(`${sel.side}:${sel.layer}:${sel.head}`);
  if (cached && !force) {
    showPattern(sel, cached.T, cached.data);
    return;
  }
  if (headRequest) api.post({ type: 'cancelHead', requestId: headRequest.id });
  headRequest = { id: nextRequestId++, sel };
  headView.showLoading(headLabel(sel));
  api.post({ type: 'requestHead', requestId: headRequest.id, side: sel.side, layer: sel.layer, head: sel.head });
}

function select(sel: HeadSelection): void {
  if (!state) return;
  state.ui.selected = sel;
  save();
  requestHead(sel);
  document.getElementById('head-card')?.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
}

function exportData(format: ExportFormat, name: string, data: string): void {
  api.post({ type: 'export', format, suggestedName: `${name}.${format}`, data });
}

async function exportChart(svg: SVGSVGElement | undefined, format: 'svg' | 'png', name: string): Promise<void> {
  if (!svg) return;
  const text = serializeSvg(svg, name);
  if (format === 'svg') return exportData('svg', name, text);
  const w = Number(svg.getAttribute('width'));
  const hgt = Number(svg.getAttribute('height'));
  exportData('png', name, await svgToPng(text, w, hgt, 2));
}

// ------------------------------------------------------------------------------------------------------------
// Rendering
// ------------------------------------------------------------------------------------------------------------

let heatmapSvg: SVGSVGElement | undefined;
let drawToken = 0;
let layerSvg: SVGSVGElement | undefined;

/**
 * The widths of the chart area and the head card, worked out from the width of #app and the layout rules in
 * attention.css (head view beside the heatmap from 760 px: 1.3fr / minmax(320px, 1fr), 16 px gap; cards have 16 px
 * padding and a 1 px border). Reading #app before the DOM changes costs no layout; measuring the new cards would
 * force one. The ResizeObserver corrects any difference.
 */
const BESIDE_MIN_WIDTH = 760;
function estimateWidths(appWidth: number): { chart: number; side: number } {
  const gap = 16;
  const inner = (w: number) => Math.max(200, Math.floor(w - 2 - 32));
  if (!headBeside() || window.innerWidth < BESIDE_MIN_WIDTH) return { chart: inner(appWidth), side: inner(appWidth) };
  const side = Math.max(320, (appWidth - gap) / 2.3);
  return { chart: inner(appWidth - gap - side), side: inner(side) };
}

function headBeside(): boolean {
  return (state?.ui.headDock ?? 'beside') === 'beside';
}
let widths: { chart: number; side: number } | undefined;

/** Width inside a chart body's horizontal padding (6 px each side). */
function contentWidth(el: HTMLElement): number {
  return Math.max(200, (el.clientWidth || 812) - 12);
}

function render(): void {
  tooltip.hide();
  widths = estimateWidths(app.clientWidth || window.innerWidth - 48);
  clear(app);
  if (!state) {
    app.append(statusCard(undefined, 'a', { request: { path: '', settings: {} }, status: 'loading', progress: { fraction: 0, message: 'Waiting for the extension…' } }));
    return;
  }
  const ready = entries();
  const pending = (['a', 'b'] as Side[]).filter((s) => state!.sides[s] && state!.sides[s]!.status !== 'ready');
  if (!ready.length) {
    app.append(...pending.map((s) => statusCard(s === 'b' || isCompare() ? s : undefined, s, state!.sides[s]!)));
    return;
  }
  app.append(header(ready));
  for (const s of pending) app.append(statusCard(s, s, state.sides[s]!));
  // In a comparison every verdict names its side, so B's verdict is never read as A's while A is still running.
  app.append(h('div', { class: `verdicts${ready.length > 1 ? ' two' : ''}` }, ...ready.map((e) => verdictBox(e.side, e.report, isCompare() ? e.label : undefined))));

  // The head card sits beside the heatmap (sticky while the page scrolls) or right under it; narrow panels stack
  // heatmap, head, per-layer chart in that order (attention.css), so the matrix is never below everything.
  const main = h('div', { class: 'col-main' });
  const side = h('div', { class: 'col-side' });
  app.append(h('div', { class: `layout ${headBeside() ? 'beside' : 'below'}` }, main, side));

  // Heatmap card.
  const metricSwitch = segmented(
    'Metric',
    HEAD_METRIC_ORDER.map((m) => ({ value: m, label: HEAD_METRICS[m].short, title: HEAD_METRICS[m].description })),
    state.ui.metric,
    (m) => {
      state!.ui.metric = m as HeadMetric;
      save();
      render();
    },
  );
  const hmBody = h('div', { class: 'chart-body', id: 'heatmap-body' });
  main.append(
    card(
      'heatmap-card',
      isCompare() ? 'Heads by layer — one colour scale' : 'Heads by layer',
      [metricSwitch, exportMenu('heatmap', () => heatmapSvg, () => `${ready.map((e) => e.label).join('-vs-')}-${HEAD_METRICS[state!.ui.metric].short}-heatmap`)],
      hmBody,
      HEAD_METRICS[state.ui.metric].description,
    ),
  );

  // Per-layer chart card.
  const seriesSwitch = segmented(
    'Series',
    (Object.keys(LAYER_SERIES) as LayerSeries[]).map((s) => ({
      value: s,
      label: LAYER_SERIES[s].short,
      title: hasSeries(ready[0].report, s) ? LAYER_SERIES[s].description : `${LAYER_SERIES[s].label} was not computed in this report`,
      disabled: !ready.some((e) => hasSeries(e.report, s)),
    })),
    state.ui.series,
    (s) => {
      state!.ui.series = s as LayerSeries;
      save();
      render();
    },
  );
  const lcBody = h('div', { class: 'chart-body', id: 'layer-body' });
  main.append(card('layers-card', 'Per layer', [seriesSwitch, exportMenu('layer chart', () => layerSvg, () => `${ready.map((e) => e.label).join('-vs-')}-${state!.ui.series}-per-layer`)], lcBody, LAYER_SERIES[state.ui.series].description));

  // Head card.
  const beside = headBeside();
  const dock = button(beside ? 'Below' : 'Beside', {
    icon: beside ? 'chevronDown' : 'chevronRight',
    secondary: true,
    cls: 'dock-toggle',
    title: beside ? 'Show the head view under the heatmap, full width' : 'Show the head view beside the heatmap',
    onClick: () => {
      state!.ui.headDock = beside ? 'below' : 'beside';
      save();
      render();
    },
  });
  side.append(card('head-card', 'Attention of one head', [dock], headView.root, 'T × T batch mean, computed on request. Rows are queries, columns keys.'));

  drawCharts();
  if (state.ui.selected && !headView.root.querySelector('canvas, .spinner, .status-inline')) {
    const sel = state.ui.selected;
    if (headReportOf(sel)) requestHead(sel);
  }
  afterPaint();
}

function drawCharts(): void {
  if (!state) return;
  const ready = entries();
  const hmBody = document.getElementById('heatmap-body');
  const lcBody = document.getElementById('layer-body');
  if (!hmBody || !lcBody || !ready.length) return;
  clear(hmBody);
  clear(lcBody);
  // Sizes: estimated at render (no forced layout), measured when redrawing after a resize.
  const est = widths;
  widths = undefined;
  chartWidth = est?.chart ?? contentWidth(hmBody);
  const sideWidth = est ? est.side + 32 : document.getElementById('head-card')?.clientWidth;
  const metric = state.ui.metric;
  const hm = drawHeatmap(hmBody, {
    theme,
    entries: ready,
    metric,
    domain: metricDomain(
      ready.map((e) => e.report),
      metric,
    ),
    width: chartWidth,
    selected: state.ui.selected,
    tooltip,
    onSelect: select,
    announce: (t) => (announcer.textContent = t),
  });
  heatmapSvg = hm.svg;
  if (sideWidth) headView.setWidth(sideWidth - 32);
  // The per-layer chart follows in the next task, so the heatmap paints first.
  const series = ready.some((e) => hasSeries(e.report, state!.ui.series)) ? state.ui.series : 'kStar';
  const token = ++drawToken;
  setTimeout(() => {
    if (token !== drawToken || !lcBody.isConnected) return;
    clear(lcBody);
    layerSvg = drawLayerChart(lcBody, { theme, entries: ready, series, geometry: hm.geometry, tooltip });
  }, 0);
}

function header(ready: { side: Side; label: string; report: AnalysisReport }[]): HTMLElement {
  const compare = isCompare();
  // Inherit acts on A: it appears with A's verdict, never with B's n while A is still running.
  const a = state!.sides.a.status === 'ready' ? state!.sides.a.report : undefined;
  const nInput = h('input', {
    class: 'n-input',
    type: 'number',
    min: 1,
    max: Math.max(1, (a?.model.numLayers ?? 2) - 1),
    value: a?.suggestedN ?? '',
    'aria-label': 'Number of layers to inherit',
  });
  const sg = a ? explainSuggestion(a.layers, a.model.numLayers) : undefined;
  const inheritBtn = button(`Inherit first n layers`, {
    icon: 'layers',
    title: sg ? `Run "Inherit First n Layers" on ${ready[0].label}: keep its first n blocks (suggested n = ${sg.n}: ${sg.because})` : '',
    onClick: () => {
      if (!a) return;
      const n = Number(nInput.value);
      if (!Number.isInteger(n) || n < 1 || n >= a.model.numLayers) {
        nInput.setCustomValidity(`1..${a.model.numLayers - 1}`);
        nInput.reportValidity();
        return;
      }
      api.post({ type: 'inherit', side: 'a', layers: n });
    },
  });
  nInput.addEventListener('input', () => nInput.setCustomValidity(''));
  const actions = h(
    'div',
    { class: 'header-actions' },
    a ? h('div', { class: 'inherit-group', role: 'group', 'aria-label': 'Inherit the first n layers' }, h('label', { class: 'n-label', text: 'n =' }), nInput, inheritBtn) : null,
    compare ? null : button('Compare with…', { icon: 'compare', secondary: true, title: 'Analyze another checkpoint (e.g. the inherited child) and show both on one colour scale', onClick: () => api.post({ type: 'compareWith' }) }),
    button('Re-run…', { icon: 'refresh', secondary: true, title: 'Adjust the settings and analyze again', onClick: () => api.post({ type: 'rerun', side: 'a' }) }),
    menuButton('Export', 'download', [
      { label: 'Metrics as CSV…', run: () => exportData('csv', fileStem(`${ready.map((e) => e.label).join('-vs-')}-attention-metrics`), reportsToCsv(ready.map((e) => ({ label: e.label, report: e.report })))) },
      {
        label: 'Report as JSON…',
        run: () => exportData('json', fileStem(`${ready.map((e) => e.label).join('-vs-')}-attention-report`), JSON.stringify(ready.length > 1 ? { a: ready[0].report, b: ready[1].report } : ready[0].report, null, 2) + '\n'),
      },
      { label: 'Heatmap as SVG…', run: () => void exportChart(heatmapSvg, 'svg', fileStem(`${ready[0].label}-heatmap`)) },
      { label: 'Heatmap as PNG…', run: () => void exportChart(heatmapSvg, 'png', fileStem(`${ready[0].label}-heatmap`)) },
      { label: 'Per-layer chart as SVG…', run: () => void exportChart(layerSvg, 'svg', fileStem(`${ready[0].label}-per-layer`)) },
      { label: 'Per-layer chart as PNG…', run: () => void exportChart(layerSvg, 'png', fileStem(`${ready[0].label}-per-layer`)) },
    ]),
  );
  const models = ready.map((e) => modelBlock(e.side, e.label, e.report, compare));
  const s = ready[0].report.settings;
  return h(
    'header',
    { class: `report-header${compare ? ' compare' : ''}` },
    h('div', { class: 'header-top' }, h('div', { class: 'eyebrow' }, icon('layers', 14), compare ? 'Attention comparison' : 'Attention report'), actions),
    ...models,
    compare ? h('div', { class: 'shared-settings muted', text: `Both analyzed with T ${s.seqLen} · batch ${s.batch} · τ ${s.tau} · ${s.mode} · input ${inputLabel(s.input)}` }) : null,
  );
}

function modelBlock(side: Side, label: string, r: AnalysisReport, compare: boolean): HTMLElement {
  const s = r.settings;
  const ep = r.executionProvider;
  const settingsText = `T ${s.seqLen} · batch ${s.batch} · τ ${s.tau} · ${s.mode}`;
  const settingsTitle = `seq length ${s.seqLen}, batch ${s.batch}, τ = ${s.tau}, k* mode ${s.mode}, seed ${s.seed}, degenerate when ${s.degenerateWhen}, layers ${s.layers[0]}–${s.layers[1]}`;
  const facts: [string, string, string?][] = [
    ['layers × heads', `${r.model.numLayers} × ${r.model.numHeads}${r.model.numKvHeads !== r.model.numHeads ? ` (${r.model.numKvHeads} kv)` : ''}`],
    ['hidden', String(r.model.hiddenSize)],
    ['parameters', formatCount(r.model.params)],
    ['execution provider', ep.used, epSummary(r)],
    ...(compare ? [] : ([['settings', settingsText, settingsTitle], ['input', inputSummary(r).text, inputSummary(r).title]] as [string, string, string][])),
    ['time', formatMs(r.timings.totalMs), Object.entries(r.timings).map(([k, v]) => `${k} ${formatMs(v)}`).join(', ')],
    ['analyzed', formatDate(r.createdAt)],
  ];
  const epText = `Execution provider ${ep.used}${ep.requested && ep.requested !== ep.used ? ` (requested ${ep.requested})` : ''}${ep.skipped.length ? `; skipped ${ep.skipped.map((x) => `${x.name}: ${x.reason}`).join('; ')}` : ''}`;
  const factList = h('dl', { class: 'facts' }, ...facts.map(([k, v, title]) => h('div', { class: 'fact', title }, h('dt', { text: k }), h('dd', { text: v }))));
  if (compare) {
    return h(
      'div',
      { class: `model-block compact side-${side}` },
      h(
        'div',
        { class: 'title-row' },
        h('span', { class: `side-badge side-${side}`, text: side.toUpperCase() }),
        h('h1', { class: 'model-name', text: label, title: r.model.path }),
        h('span', { class: 'model-arch', text: `${r.model.architecture} · ${r.model.family}` }),
        factList,
      ),
      h('div', { class: 'ep-note muted', title: epText, text: `${r.model.path} · ${epText}` }),
    );
  }
  return h(
    'div',
    { class: `model-block side-${side}` },
    h('div', { class: 'title-row' }, h('h1', { class: 'model-name', text: label, title: r.model.path }), h('span', { class: 'model-arch', text: `${r.model.architecture} · ${r.model.family}` })),
    h('div', { class: 'model-path', text: r.model.path }),
    factList,
    h('div', { class: 'ep-note muted', title: epText, text: epText }),
  );
}

function verdictBox(side: Side, r: AnalysisReport, label?: string): HTMLElement {
  const v = verdict(r);
  const sg = explainSuggestion(r.layers, r.model.numLayers);
  const k = r.model.numLayers;
  const who = label ? `${side.toUpperCase()} · ${label}: ` : '';
  // The rule that produced n, in the card's own words; the Inherit button's tooltip says the same.
  const rule = h('div', { class: 'verdict-rule', 'data-rule': sg.rule, text: `n = ${sg.n}: ${sg.because}.` });
  const below = sg.lazyBelowN.length
    ? h('div', { class: 'verdict-below', text: `Lazy layer${sg.lazyBelowN.length > 1 ? 's' : ''} below n: ${formatRanges(sg.lazyBelowN)} (inheriting ${sg.n} layers keeps ${sg.lazyBelowN.length > 1 ? 'them' : 'it'}).` })
    : null;
  // One click inherits with another n (panel A only: Inherit works on the panel's own checkpoint).
  const choices =
    side === 'a' && sg.alternatives.length
      ? h(
          'div',
          { class: 'verdict-choices', role: 'group', 'aria-label': 'Other n to inherit' },
          h('span', { class: 'muted', text: 'or inherit' }),
          ...sg.alternatives.map((alt) =>
            button(`n = ${alt.n}`, {
              secondary: true,
              cls: 'choice',
              title: `Inherit the first ${alt.n} layers: ${alt.label}`,
              onClick: () => {
                const input = document.querySelector<HTMLInputElement>('.n-input');
                if (input) input.value = String(alt.n);
                api.post({ type: 'inherit', side: 'a', layers: alt.n });
              },
            }),
          ).flatMap((b, i) => [b, h('span', { class: 'choice-label muted', text: sg.alternatives[i].label })]),
        )
      : null;
  const nBox = h('div', { class: 'verdict-n', title: `suggested n = ${sg.n}: ${sg.because}` }, h('span', { class: 'muted', text: 'suggested n' }), h('span', { class: 'big', text: String(r.suggestedN) }));
  if (!v.lazyLayers.length) {
    return h(
      'section',
      { class: 'verdict ok', 'aria-label': 'Verdict' },
      icon('info', 18),
      h('div', {}, h('div', { class: 'verdict-title', text: `${who}No lazy layers` }), h('div', { class: 'verdict-text', text: `Every layer has a head whose attention needs more than one direction at τ = ${r.settings.tau}.` }), rule, choices),
      nBox,
    );
  }
  return h(
    'section',
    { class: 'verdict lazy', 'aria-label': 'Verdict' },
    icon('warning', 18),
    h(
      'div',
      {},
      h('div', { class: 'verdict-title', text: `${who}Layer${v.lazyLayers.length > 1 ? 's' : ''} ${formatRanges(v.lazyLayers)} ${v.lazyLayers.length > 1 ? 'are' : 'is'} lazy (${v.lazyLayers.length} of ${k})` }),
      h('div', { class: 'verdict-text', text: `Every head there is degenerate (k* = 1 or m* = 1): its attention matrix is rank 1.` }),
      rule,
      below,
      choices,
    ),
    nBox,
  );
}

function statusCard(title: Side | undefined, side: Side, s: SideState): HTMLElement {
  const name = s.request.path ? baseName(s.request.path) : '';
  const who = title ? `${title.toUpperCase()} · ` : '';
  if (s.status === 'error') {
    return h(
      'section',
      { class: 'status-card error', role: 'alert', id: `status-${side}` },
      icon('error', 22),
      h(
        'div',
        { class: 'status-main' },
        h('div', { class: 'status-title', text: `${who}${s.cancelled ? 'Analysis cancelled' : 'Analysis failed'}${name ? `: ${name}` : ''}` }),
        h('div', { class: 'error-text', text: s.error ?? 'Unknown error' }),
        h(
          'div',
          { class: 'status-actions' },
          button('Retry', { icon: 'refresh', onClick: () => api.post({ type: 'retry', side }) }),
          button('Change settings…', { secondary: true, onClick: () => api.post({ type: 'rerun', side }) }),
          button('Show Log', { icon: 'output', secondary: true, onClick: () => api.post({ type: 'showLog' }) }),
        ),
      ),
    );
  }
  const pct = Math.round(Math.max(0, Math.min(1, s.progress.fraction)) * 100);
  const bar = h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct, 'aria-label': 'Analysis progress' }, h('div', { class: 'progress-fill' }));
  (bar.firstChild as HTMLElement).style.width = `${pct}%`;
  return h(
    'section',
    { class: 'status-card loading', role: 'status', id: `status-${side}` },
    h('div', { class: 'spinner', 'aria-hidden': 'true' }),
    h(
      'div',
      { class: 'status-main' },
      h('div', { class: 'status-title', text: `${who}${name ? `Analyzing ${name}` : 'Loading'}…` }),
      bar,
      h('div', { class: 'status-message muted' }, h('span', { class: 'pct', text: `${pct}%` }), ' ', h('span', { class: 'msg', text: s.progress.message })),
      name ? h('div', { class: 'status-actions' }, button('Cancel', { secondary: true, onClick: () => api.post({ type: 'cancel', side }) })) : null,
    ),
  );
}

/** Update a visible progress card in place (no full re-render per layer). */
function updateProgress(side: Side): boolean {
  const el = document.getElementById(`status-${side}`);
  const s = state?.sides[side];
  if (!el || !s || !el.classList.contains('loading')) return false;
  const pct = Math.round(Math.max(0, Math.min(1, s.progress.fraction)) * 100);
  const bar = el.querySelector('.progress') as HTMLElement;
  bar.setAttribute('aria-valuenow', String(pct));
  (bar.firstChild as HTMLElement).style.width = `${pct}%`;
  el.querySelector('.pct')!.textContent = `${pct}%`;
  el.querySelector('.msg')!.textContent = s.progress.message;
  return true;
}

function card(id: string, title: string, tools: (HTMLElement | null)[], body: HTMLElement, note?: string): HTMLElement {
  return h(
    'section',
    { class: 'card', id, 'aria-label': title },
    h('div', { class: 'card-header' }, h('h2', { text: title }), h('div', { class: 'card-tools' }, ...tools)),
    body,
    note ? h('div', { class: 'card-note muted', text: note }) : null,
  );
}

function segmented(label: string, items: { value: string; label: string; title?: string; disabled?: boolean }[], value: string, onChange: (v: string) => void): HTMLElement {
  const group = h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': label });
  const buttons = items.map((it) => {
    const b = h('button', { type: 'button', role: 'radio', 'aria-checked': String(it.value === value), class: it.value === value ? 'active' : '', title: it.title, disabled: it.disabled, tabindex: it.value === value ? 0 : -1, text: it.label });
    b.addEventListener('click', () => it.value !== value && onChange(it.value));
    return b;
  });
  group.addEventListener('keydown', (ev) => {
    if (ev.key !== 'ArrowRight' && ev.key !== 'ArrowLeft') return;
    const enabled = items.filter((i) => !i.disabled);
    const i = enabled.findIndex((x) => x.value === value);
    const next = enabled[(i + (ev.key === 'ArrowRight' ? 1 : enabled.length - 1)) % enabled.length];
    ev.preventDefault();
    onChange(next.value);
    requestAnimationFrame(() => (document.querySelector(`[aria-label="${label}"] [aria-checked="true"]`) as HTMLElement | null)?.focus());
  });
  group.append(...buttons);
  return group;
}

function exportMenu(what: string, svg: () => SVGSVGElement | undefined, name: () => string): HTMLElement {
  return menuButton(`Save ${what}`, 'download', [
    { label: 'Save as SVG…', run: () => void exportChart(svg(), 'svg', fileStem(name())) },
    { label: 'Save as PNG…', run: () => void exportChart(svg(), 'png', fileStem(name())) },
  ], true);
}

let openMenu: HTMLElement | undefined;
function closeMenu(): void {
  openMenu?.remove();
  openMenu = undefined;
}
document.addEventListener('click', (e) => {
  if (openMenu && !openMenu.contains(e.target as Node)) closeMenu();
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') closeMenu();
});

function menuButton(label: string, iconName: string, items: { label: string; run: () => void }[], iconOnly = false): HTMLElement {
  const wrap = h('div', { class: 'menu-wrap' });
  const b = button(label, {
    icon: iconName,
    secondary: true,
    iconOnly,
    onClick: (ev) => {
      ev.stopPropagation();
      if (openMenu && wrap.contains(openMenu)) return closeMenu();
      closeMenu();
      const m = h('div', { class: 'menu', role: 'menu', 'aria-label': label });
      for (const it of items) {
        const mi = h('button', { type: 'button', role: 'menuitem', class: 'menu-item', text: it.label });
        mi.addEventListener('click', () => {
          closeMenu();
          it.run();
        });
        m.append(mi);
      }
      m.addEventListener('keydown', (ev2) => {
        const all = Array.from(m.querySelectorAll<HTMLButtonElement>('.menu-item'));
        const i = all.indexOf(document.activeElement as HTMLButtonElement);
        if (ev2.key === 'ArrowDown') all[(i + 1) % all.length].focus();
        else if (ev2.key === 'ArrowUp') all[(i - 1 + all.length) % all.length].focus();
        else if (ev2.key === 'Escape') {
          closeMenu();
          b.focus();
        } else return;
        ev2.preventDefault();
      });
      wrap.append(m);
      openMenu = m;
      m.querySelector<HTMLButtonElement>('.menu-item')?.focus();
    },
  });
  b.setAttribute('aria-haspopup', 'menu');
  wrap.append(b);
  return wrap;
}

// ------------------------------------------------------------------------------------------------------------
// Start
// ------------------------------------------------------------------------------------------------------------

onThemeChange(() => {
  theme = currentTheme();
  headView.setTheme(theme);
  drawCharts();
});

let resizeTimer: number | undefined;
new ResizeObserver(() => {
  const body = document.getElementById('heatmap-body');
  if (!body || Math.abs(contentWidth(body) - chartWidth) < 8) return;
  window.clearTimeout(resizeTimer);
  resizeTimer = window.setTimeout(drawCharts, 80);
}).observe(app);

if (state) {
  // Restored (hide/show or reload): draw what we have at once, then tell the host we are here.
  perfPending = { kind: 'heatmap', start: performance.now() };
  render();
  api.post({ type: 'ready' });
} else {
  // The host answers "ready" with the state at once; show the waiting card only if it does not.
  api.post({ type: 'ready' });
  setTimeout(() => {
    if (!state) render();
  }, 150);
}

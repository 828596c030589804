/**
 * The live training panel (webview). The host tails the runs' files and sends parsed points; this page keeps them,
 * draws the charts and exports them. UI choices persist through getState/setState; the points come again from the
 * host (`init`) whenever the page is recreated.
 */
import type {
  ExportKind,
  MetricPoint,
  RunInfo,
  TrainingHostMessage,
  TrainingViewState,
  TrainingWebviewMessage,
  XAxis,
} from '../../src/shared/trainingProtocol';
import { DEFAULT_TRAINING_VIEW_STATE } from '../../src/shared/trainingProtocol';
import { fileStem } from '../shared/csv';
import { button, clear, currentTheme, h, onThemeChange, Tooltip } from '../shared/dom';
import { serializeSvg, svgToPng } from '../shared/exportChart';
import type { Theme } from '../shared/theme';
import { onHostMessage, vscodeApi } from '../shared/vscodeApi';
import { ChartRun, drawLossChart, drawSmallChart, newSvg } from './charts';
import { buildSeries, formatAxisNumber, pointsToCsv, RunSeries, summarize } from './model';

type PersistedState = TrainingViewState & { files?: string[] };

const api = vscodeApi<TrainingWebviewMessage, PersistedState>();
const root = document.getElementById('app') as HTMLElement;

let ui: PersistedState = { ...DEFAULT_TRAINING_VIEW_STATE, ...(api.getState() ?? {}) };
let runs: RunInfo[] = [];
const points = new Map<string, MetricPoint[]>();
let loaded = false;
let theme: Theme = currentTheme();
let exportNote: { text: string; error?: boolean } | undefined;

const tooltip = new Tooltip(document.body);
const lossSvg = newSvg('chart loss-chart', 'Training and validation loss');
const lrSvg = newSvg('chart small-chart', 'Learning rate');
const tpsSvg = newSvg('chart small-chart', 'Throughput, tokens per second');

function saveState(): void {
  api.setState({ ...ui, files: runs.map((r) => r.id) });
}

function post(msg: TrainingWebviewMessage): void {
  api.post(msg);
}

function totalPoints(): number {
  let n = 0;
  for (const p of points.values()) n += p.length;
  return n;
}

// ---------------------------------------------------------------------------------------------------------------
// messages
// ---------------------------------------------------------------------------------------------------------------

function onMessage(msg: TrainingHostMessage): void {
  switch (msg.type) {
    case 'init':
      runs = msg.runs;
      points.clear();
      for (const r of runs) points.set(r.id, msg.points[r.id] ?? []);
      loaded = true;
      saveState();
      break;
    case 'runAdded':
      if (!runs.some((r) => r.id === msg.run.id)) runs.push(msg.run);
      if (!points.has(msg.run.id)) points.set(msg.run.id, []);
      saveState();
      break;
    case 'runRemoved':
      runs = runs.filter((r) => r.id !== msg.runId);
      points.delete(msg.runId);
      ui.hidden = ui.hidden.filter((id) => id !== msg.runId);
      saveState();
      break;
    case 'reset':
      points.set(msg.runId, []);
      schedule('data');
      return;
    case 'points': {
      const list = points.get(msg.runId);
      if (list) for (const p of msg.points) list.push(p);
      schedule('data');
      return;
    }
    case 'runStatus': {
      const i = runs.findIndex((r) => r.id === msg.run.id);
      if (i >= 0) runs[i] = msg.run;
      schedule('data');
      return;
    }
    case 'exported':
      exportNote = msg.error ? { text: `Export failed: ${msg.error}`, error: true } : msg.path ? { text: `Saved ${msg.path}` } : undefined;
      break;
    default: {
      const _exhaustive: never = msg;
      void _exhaustive;
    }
  }
  schedule();
}

// ---------------------------------------------------------------------------------------------------------------
// rendering
// ---------------------------------------------------------------------------------------------------------------

/**
 * 'full' rebuilds the page; 'data' (new points, a status) only the run list, the notes and the charts, so a live run
 * does not reset the toolbar under the pointer (a smoothing drag, say).
 */
let pending: 'full' | 'data' | undefined;
function schedule(level: 'full' | 'data' = 'full'): void {
  const first = pending === undefined;
  if (pending !== 'full') pending = level;
  if (!first) return;
  requestAnimationFrame(() => {
    const l = pending;
    pending = undefined;
    if (l === 'data' && runListSlot?.isConnected) refreshData();
    else render();
  });
}

function runColors(t: Theme): string[] {
  const cs = getComputedStyle(document.documentElement);
  const v = (name: string, fb: string) => cs.getPropertyValue(`--vscode-charts-${name}`).trim() || fb;
  return [t.accent, t.warning, t.accent2, v('green', '#89d185'), t.error, v('yellow', '#cca700')];
}

function chartRuns(axis: XAxis): ChartRun[] {
  const colors = runColors(theme);
  return runs
    .map((r, i) => ({ run: r, color: colors[i % colors.length] }))
    .filter(({ run }) => !ui.hidden.includes(run.id))
    .map(({ run, color }) => ({
      id: run.id,
      label: run.label,
      color,
      series: buildSeries(points.get(run.id) ?? [], axis, ui.smoothing) as RunSeries,
    }));
}

function statusText(r: RunInfo): { text: string; cls: string } {
  const s = summarize(points.get(r.id) ?? []);
  if (r.status === 'error') return { text: 'read error', cls: 'bad' };
  if (s.error) return { text: 'trainer error', cls: 'bad' };
  if (s.done)
    return {
      text: s.done.reached ? 'done: target reached' : `done: ${s.done.stopReason ?? 'target not reached'}`,
      cls: s.done.reached ? 'good' : 'muted',
    };
  if (r.exitCode !== undefined)
    return { text: r.exitCode === 0 ? 'exited' : `exited with code ${r.exitCode}`, cls: r.exitCode === 0 ? 'muted' : 'bad' };
  if (r.status === 'waiting') return { text: 'waiting for the file', cls: 'muted' };
  return { text: 'live', cls: 'live' };
}

function fmtLoss(v: number | undefined): string {
  return v === undefined ? '–' : v.toFixed(4);
}

function renderRunList(): HTMLElement {
  const colors = runColors(theme);
  const list = h('ul', { class: 'runs', 'aria-label': 'Runs' });
  runs.forEach((r, i) => {
    const s = summarize(points.get(r.id) ?? []);
    const st = statusText(r);
    const hidden = ui.hidden.includes(r.id);
    const sw = h('span', { class: 'swatch', 'aria-hidden': 'true' });
    sw.style.background = colors[i % colors.length];
    const facts = [
      s.step !== undefined ? `step ${s.step}` : undefined,
      s.tokens !== undefined ? `${formatAxisNumber(s.tokens)} tokens` : undefined,
      s.layers !== undefined ? `${s.layers} layers` : undefined,
      s.round !== undefined ? `round ${s.round}` : undefined,
      s.lastVal !== undefined ? `val ${fmtLoss(s.lastVal)}` : undefined,
      s.target !== undefined ? `target ${fmtLoss(s.target)}` : undefined,
    ].filter(Boolean) as string[];
    const toggle = h('input', {
      type: 'checkbox',
      title: hidden ? 'Show this run' : 'Hide this run',
      'aria-label': `Show ${r.label}`,
    }) as HTMLInputElement;
    toggle.checked = !hidden;
    toggle.addEventListener('change', () => {
      ui.hidden = toggle.checked ? ui.hidden.filter((id) => id !== r.id) : [...ui.hidden, r.id];
      saveState();
      schedule();
    });
    const li = h(
      'li',
      { class: `run${hidden ? ' hidden' : ''}`, title: r.path },
      h('label', { class: 'run-name' }, toggle, sw, h('span', { class: 'label', text: r.label })),
      h('span', { class: `badge ${st.cls}`, text: st.text }),
      h('span', { class: 'facts', text: facts.join(' · ') || (r.status === 'waiting' ? r.path : 'no points yet') }),
      r.skipped
        ? h('span', {
            class: 'skipped',
            title: 'Lines that could not be parsed were skipped',
            text: `${r.skipped} bad line${r.skipped === 1 ? '' : 's'} skipped`,
          })
        : null,
      runs.length > 1
        ? button('Remove', {
            icon: 'close',
            iconOnly: true,
            secondary: true,
            title: `Remove ${r.label} from the panel`,
            onClick: () => post({ type: 'removeRun', runId: r.id }),
          })
        : null,
    );
    list.append(li);
    const err = r.status === 'error' ? (r.error ?? 'could not read the file') : s.error;
    if (err) {
      list.append(
        h(
          'li',
          { class: 'error-row', role: 'alert' },
          h('span', { class: 'error-text', text: `${r.label}: ${err}` }),
          r.status === 'error' ? button('Retry', { icon: 'refresh', onClick: () => post({ type: 'retry', runId: r.id }) }) : null,
          button('Show Log', { icon: 'output', secondary: true, onClick: () => post({ type: 'showLog' }) }),
        ),
      );
    }
  });
  return list;
}

function segmented<T extends string>(label: string, value: T, options: [T, string][], onChange: (v: T) => void): HTMLElement {
  const g = h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': label });
  for (const [v, text] of options) {
    const b = h('button', { type: 'button', role: 'radio', 'aria-checked': String(v === value), class: v === value ? 'active' : '', text });
    b.addEventListener('click', () => onChange(v));
    g.append(b);
  }
  return h('div', { class: 'control' }, h('span', { class: 'control-label', text: label }), g);
}

function checkbox(label: string, checked: boolean, onChange: (v: boolean) => void): HTMLElement {
  const c = h('input', { type: 'checkbox' }) as HTMLInputElement;
  c.checked = checked;
  c.addEventListener('change', () => onChange(c.checked));
  return h('label', { class: 'check' }, c, h('span', { text: label }));
}

function renderToolbar(): HTMLElement {
  const slider = h('input', {
    type: 'range',
    min: 0,
    max: 0.99,
    step: 0.01,
    value: ui.smoothing,
    'aria-label': 'Smoothing (EMA weight)',
  }) as HTMLInputElement;
  const sv = h('span', { class: 'slider-value', text: ui.smoothing.toFixed(2) });
  slider.addEventListener('input', () => {
    ui.smoothing = Number(slider.value);
    sv.textContent = ui.smoothing.toFixed(2);
    saveState();
    drawCharts();
  });
  const set = (patch: Partial<PersistedState>) => {
    ui = { ...ui, ...patch };
    saveState();
    schedule();
  };
  return h(
    'div',
    { class: 'toolbar' },
    segmented<XAxis>(
      'X axis',
      ui.xAxis,
      [
        ['step', 'Steps'],
        ['tokens', 'Tokens'],
      ],
      (v) => set({ xAxis: v }),
    ),
    h(
      'div',
      { class: 'control' },
      checkbox('Train', ui.showTrain, (v) => set({ showTrain: v })),
      checkbox('Val', ui.showVal, (v) => set({ showVal: v })),
      checkbox('Log y', ui.logY, (v) => set({ logY: v })),
    ),
    h(
      'label',
      { class: 'control smoothing', title: 'Exponential moving average of the train loss and throughput (TensorBoard-style); 0 = raw' },
      h('span', { class: 'control-label', text: 'Smoothing' }),
      slider,
      sv,
    ),
    h('div', { class: 'spacer' }),
    button('Add Run…', {
      icon: 'compare',
      secondary: true,
      title: 'Overlay another metrics.jsonl or training log (e.g. Inheritune vs random init)',
      onClick: () => post({ type: 'addRun' }),
    }),
    button('PNG', { icon: 'download', secondary: true, title: 'Export the loss chart as PNG', onClick: () => void exportAs('png') }),
    button('SVG', { icon: 'download', secondary: true, title: 'Export the loss chart as SVG', onClick: () => void exportAs('svg') }),
    button('CSV', {
      icon: 'download',
      secondary: true,
      title: 'Export every point of every run as CSV',
      onClick: () => void exportAs('csv'),
    }),
  );
}

let chartsEl: HTMLElement | undefined;
let lossWrap: HTMLElement | undefined;

function drawCharts(): void {
  if (!chartsEl || !lossWrap) return;
  const width = Math.max(320, Math.floor(lossWrap.clientWidth || root.clientWidth || 800));
  const cr = chartRuns(ui.xAxis);
  const xDomain = drawLossChart(lossSvg, cr, {
    width,
    // As tall as the visible part of the panel allows (the terminal below the editor takes its share), so the whole
    // chart, target line included, stays in view; at least 220 px.
    height: Math.max(
      220,
      Math.min(Math.round(width * 0.6), Math.floor(window.innerHeight - lossWrap.getBoundingClientRect().top - 12 + window.scrollY)),
    ),
    theme,
    axis: ui.xAxis,
    logY: ui.logY,
    showTrain: ui.showTrain,
    showVal: ui.showVal,
    showRaw: ui.smoothing > 0,
    onHover: (e) => {
      if (!e) return tooltip.hide();
      const lines: (string | [string, string])[] = [ui.xAxis === 'step' ? `Step ${Math.round(e.x)}` : `${formatAxisNumber(e.x)} tokens`];
      for (const r of e.rows) {
        lines.push([r.label + (r.layers !== undefined ? ` (${r.layers}L)` : ''), `train ${fmtLoss(r.train)} · val ${fmtLoss(r.val)}`]);
      }
      tooltip.show(e.clientX, e.clientY, lines);
    },
  });
  const half = Math.max(240, Math.floor((width - 16) / 2));
  drawSmallChart(
    lrSvg,
    cr.map((r) => ({ color: r.color, xy: r.series.lr })),
    { width: half, height: 150, theme, title: 'Learning rate', format: (v) => (v === 0 ? '0' : v.toExponential(0)), xDomain },
  );
  drawSmallChart(
    tpsSvg,
    cr.map((r) => ({ color: r.color, xy: r.series.tokensPerS })),
    { width: half, height: 150, theme, title: 'Tokens / s', format: (v) => formatAxisNumber(v), xDomain },
  );
  const n = totalPoints();
  root.setAttribute('data-points', String(n));
  root.setAttribute('data-runs', String(runs.length));
}

function render(): void {
  theme = currentTheme();
  clear(root);
  root.setAttribute('data-points', String(totalPoints()));
  if (!loaded) {
    root.append(h('div', { class: 'state loading', role: 'status', text: 'Loading training metrics…' }));
    return;
  }
  if (!runs.length) {
    root.append(
      h(
        'div',
        { class: 'state empty' },
        h('p', { text: 'No run is open. Open a metrics.jsonl or a training log (nanoGPT / Inheritune format).' }),
        button('Open Metrics File…', { icon: 'file', onClick: () => post({ type: 'addRun' }) }),
      ),
    );
    return;
  }
  runListSlot = h('div', { class: 'run-list' });
  notesSlot = h('div', { class: 'notes' });
  lossWrap = h('div', { class: 'loss-wrap' }, lossSvg);
  chartsEl = h('section', { class: 'charts' }, lossWrap, h('div', { class: 'small-charts' }, lrSvg, tpsSvg));
  root.append(h('header', { class: 'head' }, h('h1', { text: 'Training' }), runListSlot), renderToolbar(), notesSlot, chartsEl);
  refreshData();
}

let runListSlot: HTMLElement | undefined;
let notesSlot: HTMLElement | undefined;

/** The parts that change with the data. */
function refreshData(): void {
  if (!runListSlot || !notesSlot) return;
  clear(runListSlot);
  runListSlot.append(renderRunList());
  clear(notesSlot);
  if (exportNote) notesSlot.append(h('div', { class: `note${exportNote.error ? ' bad' : ''}`, role: 'status', text: exportNote.text }));
  if (!runs.some((r) => (points.get(r.id) ?? []).length > 0)) {
    const waiting = runs.every((r) => r.status === 'waiting');
    notesSlot.append(
      h('div', {
        class: 'state waiting',
        role: 'status',
        text: waiting ? 'Waiting for the trainer to write its first metrics…' : 'No points yet.',
      }),
    );
  }
  const noTokens =
    ui.xAxis === 'tokens'
      ? runs.filter(
          (r) =>
            !ui.hidden.includes(r.id) && (points.get(r.id) ?? []).length && !buildSeries(points.get(r.id) ?? [], 'tokens', 0).hasTokens,
        )
      : [];
  if (noTokens.length)
    notesSlot.append(
      h('div', {
        class: 'note',
        text: `No token counts in ${noTokens.map((r) => r.label).join(', ')} (text log): not drawn against tokens.`,
      }),
    );
  drawCharts();
}

// ---------------------------------------------------------------------------------------------------------------
// export
// ---------------------------------------------------------------------------------------------------------------

async function exportAs(format: ExportKind): Promise<void> {
  const visible = runs.filter((r) => !ui.hidden.includes(r.id));
  const stem = fileStem(`${visible.map((r) => r.label).join('-vs-') || 'training'}-${format === 'csv' ? 'metrics' : 'loss'}`);
  try {
    if (format === 'csv') {
      const data = pointsToCsv(runs.map((r) => ({ label: r.label, path: r.path, points: points.get(r.id) ?? [] })));
      post({ type: 'export', format, suggestedName: `${stem}.csv`, data });
      return;
    }
    const svgText = serializeSvg(lossSvg, `Training loss: ${visible.map((r) => r.label).join(', ')}`);
    if (format === 'svg') {
      post({ type: 'export', format, suggestedName: `${stem}.svg`, data: svgText });
      return;
    }
    const w = Number(lossSvg.getAttribute('width'));
    const hgt = Number(lossSvg.getAttribute('height'));
    post({ type: 'export', format, suggestedName: `${stem}.png`, data: await svgToPng(svgText, w, hgt, 2) });
  } catch (e) {
    exportNote = { text: `Export failed: ${(e as Error)?.message ?? String(e)}`, error: true };
    schedule();
  }
}

// ---------------------------------------------------------------------------------------------------------------

onHostMessage<TrainingHostMessage>(onMessage);
onThemeChange(() => schedule());
let resizeTimer: number | undefined;
let lastWidth = 0;
let lastHeight = window.innerHeight;
new ResizeObserver(() => {
  // The panel's width or visible height changed (drawing changes the content height, which must not redraw again).
  if (root.clientWidth === lastWidth && window.innerHeight === lastHeight) return;
  lastWidth = root.clientWidth;
  lastHeight = window.innerHeight;
  window.clearTimeout(resizeTimer);
  resizeTimer = window.setTimeout(() => drawCharts(), 60);
}).observe(root);
window.addEventListener('resize', () => {
  if (window.innerHeight === lastHeight && root.clientWidth === lastWidth) return;
  lastHeight = window.innerHeight;
  lastWidth = root.clientWidth;
  window.clearTimeout(resizeTimer);
  resizeTimer = window.setTimeout(() => drawCharts(), 60);
});
render();
post({ type: 'ready' });

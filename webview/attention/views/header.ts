/**
 * The report's header: the model(s) and their facts, and the actions (inherit the first n layers, compare, re-run,
 * export). Drawn once per report: nothing in it follows the metric, series or selection.
 */
import { explainSuggestion, type AnalysisReport } from '../../../src/shared/report';
import type { Side, SideState } from '../../../src/shared/protocol';
import { formatCount, formatDate, formatMs } from '../../../src/shared/format';
import { button, h, icon } from '../../shared/dom';
import { fileStem, reportsToCsv } from '../../shared/csv';
import { boundsNote, exactUpTo } from '../../shared/kStarBounds';
import type { ReadyEntry } from '../state/reportState';
import type { ViewContext } from './context';
import { epSummary, inputLabel, inputSummary } from './text';

export interface ChartSvgs {
  heatmap(): SVGSVGElement | undefined;
  layers(): SVGSVGElement | undefined;
}

export function reportHeader(ctx: ViewContext, ready: ReadyEntry[], sideA: SideState, compare: boolean, charts: ChartSvgs): HTMLElement {
  // Inherit acts on A: it appears with A's verdict, never with B's n while A is still running.
  const a = sideA.status === 'ready' ? sideA.report : undefined;
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
      ctx.post({ type: 'inherit', side: 'a', layers: n });
    },
  });
  nInput.addEventListener('input', () => nInput.setCustomValidity(''));
  const names = ready.map((e) => e.label).join('-vs-');
  const actions = h(
    'div',
    { class: 'header-actions' },
    a
      ? h(
          'div',
          { class: 'inherit-group', role: 'group', 'aria-label': 'Inherit the first n layers' },
          h('label', { class: 'n-label', text: 'n =' }),
          nInput,
          inheritBtn,
        )
      : null,
    compare
      ? null
      : button('Compare with…', {
          icon: 'compare',
          secondary: true,
          title: 'Analyze another checkpoint (e.g. the inherited child) and show both on one colour scale',
          onClick: () => ctx.post({ type: 'compareWith' }),
        }),
    button('Re-run…', {
      icon: 'refresh',
      secondary: true,
      title: 'Adjust the settings and analyze again',
      onClick: () => ctx.post({ type: 'rerun', side: 'a' }),
    }),
    ctx.menus.button('Export', 'download', [
      {
        label: 'Metrics as CSV…',
        run: () =>
          ctx.exportData(
            'csv',
            fileStem(`${names}-attention-metrics`),
            reportsToCsv(ready.map((e) => ({ label: e.label, report: e.report }))),
          ),
      },
      {
        label: 'Report as JSON…',
        run: () =>
          ctx.exportData(
            'json',
            fileStem(`${names}-attention-report`),
            JSON.stringify(ready.length > 1 ? { a: ready[0].report, b: ready[1].report } : ready[0].report, null, 2) + '\n',
          ),
      },
      { label: 'Heatmap as SVG…', run: () => void ctx.exportChart(charts.heatmap(), 'svg', fileStem(`${ready[0].label}-heatmap`)) },
      { label: 'Heatmap as PNG…', run: () => void ctx.exportChart(charts.heatmap(), 'png', fileStem(`${ready[0].label}-heatmap`)) },
      {
        label: 'Per-layer chart as SVG…',
        run: () => void ctx.exportChart(charts.layers(), 'svg', fileStem(`${ready[0].label}-per-layer`)),
      },
      {
        label: 'Per-layer chart as PNG…',
        run: () => void ctx.exportChart(charts.layers(), 'png', fileStem(`${ready[0].label}-per-layer`)),
      },
    ]),
  );
  const models = ready.map((e) => modelBlock(e.side, e.label, e.report, compare));
  const s = ready[0].report.settings;
  return h(
    'header',
    { class: `report-header${compare ? ' compare' : ''}` },
    h(
      'div',
      { class: 'header-top' },
      h('div', { class: 'eyebrow' }, icon('layers', 14), compare ? 'Attention comparison' : 'Attention report'),
      actions,
    ),
    ...models,
    compare
      ? h('div', {
          class: 'shared-settings muted',
          text: `Both analyzed with T ${s.seqLen} · batch ${s.batch} · τ ${s.tau} · ${s.mode} · input ${inputLabel(s.input)}`,
        })
      : null,
  );
}

function modelBlock(side: Side, label: string, r: AnalysisReport, compare: boolean): HTMLElement {
  const s = r.settings;
  const ep = r.executionProvider;
  const settingsText = `T ${s.seqLen} · batch ${s.batch} · τ ${s.tau} · ${s.mode}`;
  const rank = exactUpTo(r);
  const settingsTitle = `seq length ${s.seqLen}, batch ${s.batch}, τ = ${s.tau}, k* mode ${s.mode}${rank === null ? '' : `, k* exact up to ${rank}`}, seed ${s.seed}, degenerate when ${s.degenerateWhen}, layers ${s.layers[0]}–${s.layers[1]}`;
  // Only for reports run with kStarExactUpTo (or carrying bounds): how many heads show bounds instead of k*.
  const note = boundsNote(r);
  const kStarNote = note
    ? h('div', {
        class: 'kstar-note',
        title: 'Heads certified to lie above the exact rank get certified bounds [lo, hi] instead of an exact k* (hatched in the heatmap).',
        text: note,
      })
    : null;
  const facts: [string, string, string?][] = [
    [
      'layers × heads',
      `${r.model.numLayers} × ${r.model.numHeads}${r.model.numKvHeads !== r.model.numHeads ? ` (${r.model.numKvHeads} kv)` : ''}`,
    ],
    ['hidden', String(r.model.hiddenSize)],
    ['parameters', formatCount(r.model.params)],
    ['execution provider', ep.used, epSummary(r)],
    ...(compare
      ? []
      : ([
          ['settings', settingsText, settingsTitle],
          ['input', inputSummary(r).text, inputSummary(r).title],
        ] as [string, string, string][])),
    [
      'time',
      formatMs(r.timings.totalMs),
      Object.entries(r.timings)
        .map(([k, v]) => `${k} ${formatMs(v)}`)
        .join(', '),
    ],
    ['analyzed', formatDate(r.createdAt)],
  ];
  const epText = `Execution provider ${ep.used}${ep.requested && ep.requested !== ep.used ? ` (requested ${ep.requested})` : ''}${ep.skipped.length ? `; skipped ${ep.skipped.map((x) => `${x.name}: ${x.reason}`).join('; ')}` : ''}`;
  const factList = h(
    'dl',
    { class: 'facts' },
    ...facts.map(([k, v, title]) => h('div', { class: 'fact', title }, h('dt', { text: k }), h('dd', { text: v }))),
  );
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
      kStarNote,
      h('div', { class: 'ep-note muted', title: epText, text: `${r.model.path} · ${epText}` }),
    );
  }
  return h(
    'div',
    { class: `model-block side-${side}` },
    h(
      'div',
      { class: 'title-row' },
      h('h1', { class: 'model-name', text: label, title: r.model.path }),
      h('span', { class: 'model-arch', text: `${r.model.architecture} · ${r.model.family}` }),
    ),
    h('div', { class: 'model-path', text: r.model.path }),
    factList,
    kStarNote,
    h('div', { class: 'ep-note muted', title: epText, text: epText }),
  );
}

/**
 * Read-only .safetensors viewer: the header(s) only, never tensor data. Tensors grouped by layer in a virtualised list
 * (10 000 tensors scroll smoothly: only the visible rows exist in the DOM), totals, metadata with our provenance.
 */
import type { ViewerHostMessage, ViewerModel, ViewerViewState, ViewerWebviewMessage } from '../../src/shared/protocol';
import { button, clear, h, icon } from '../shared/dom';
import { baseName, formatBytes, formatCount, formatInt, formatMs } from '../../src/shared/format';
import { groupTensors, numel, parseProvenance, Row, rowWindow, TensorGroup, totals, visibleRows } from '../shared/tensorGroups';
import { onHostMessage, vscodeApi } from '../shared/vscodeApi';

const api = vscodeApi<ViewerWebviewMessage, ViewerViewState>();
const saved = api.getState();
const ui: ViewerViewState = saved ?? { version: 1, filter: '', expanded: [], scrollTop: 0 };
const app = document.getElementById('app')!;
const ROW_H = 26;

let model: ViewerModel | undefined;
let groups: TensorGroup[] = [];
let expanded = new Set(ui.expanded);
let rows: Row[] = [];
let active = 0;

function save(): void {
  ui.expanded = [...expanded];
  api.setState(ui);
}

onHostMessage<ViewerHostMessage>((msg) => {
  switch (msg.type) {
    case 'loading':
      renderStatus('loading');
      break;
    case 'model': {
      const t0 = performance.now();
      model = msg.model;
      groups = groupTensors(model.tensors);
      // First open: a single group is shown open; many groups start collapsed.
      if (!saved && groups.length <= 2) for (const g of groups) expanded.add(g.key);
      render();
      performance.measure('viewer-render', { start: t0, end: performance.now() });
      break;
    }
    case 'error':
      renderStatus('error', msg.message);
      break;
    default: {
      const _exhaustive: never = msg;
      void _exhaustive;
    }
  }
});

function renderStatus(kind: 'loading' | 'error', message?: string): void {
  clear(app);
  if (kind === 'loading') {
    app.append(
      h(
        'section',
        { class: 'status-card loading', role: 'status' },
        h('div', { class: 'spinner', 'aria-hidden': 'true' }),
        h('div', { class: 'status-main' }, h('div', { class: 'status-title', text: 'Reading the header…' })),
      ),
    );
    return;
  }
  app.append(
    h(
      'section',
      { class: 'status-card error', role: 'alert' },
      icon('error', 22),
      h(
        'div',
        { class: 'status-main' },
        h('div', { class: 'status-title', text: 'Cannot read this file' }),
        h('div', { class: 'error-text', text: message ?? 'Unknown error' }),
        h(
          'div',
          { class: 'status-actions' },
          button('Retry', { icon: 'refresh', onClick: () => api.post({ type: 'retry' }) }),
          button('Show Log', { icon: 'output', secondary: true, onClick: () => api.post({ type: 'showLog' }) }),
        ),
      ),
    ),
  );
}

function render(): void {
  if (!model) return;
  const m = model;
  clear(app);
  const tot = totals(m.tensors, groups);
  const name = baseName(m.path);
  const cfg = m.config;
  app.append(
    h(
      'header',
      { class: 'report-header' },
      h(
        'div',
        { class: 'header-top' },
        h(
          'div',
          { class: 'eyebrow' },
          icon('file', 14),
          m.kind === 'index'
            ? 'Sharded safetensors checkpoint'
            : m.kind === 'gguf'
              ? `GGUF v${m.gguf?.version ?? '?'} file`
              : 'Safetensors file',
        ),
        h(
          'div',
          { class: 'header-actions' },
          button('Analyze Attention', {
            icon: 'play',
            title: 'Run "Analyze Attention" on this checkpoint folder',
            onClick: () => api.post({ type: 'analyze' }),
          }),
          button('Inherit First n Layers', { icon: 'layers', secondary: true, onClick: () => api.post({ type: 'inherit' }) }),
        ),
      ),
      h(
        'div',
        { class: 'title-row' },
        h('h1', { class: 'model-name', text: name }),
        cfg?.architecture ? h('span', { class: 'model-arch', text: [cfg.architecture, cfg.modelType].filter(Boolean).join(' · ') }) : null,
      ),
      h('div', { class: 'model-path', text: m.path }),
      h(
        'dl',
        { class: 'facts' },
        fact('tensors', formatInt(tot.tensors)),
        fact('parameters', formatCount(tot.params), formatInt(tot.params)),
        fact('data', formatBytes(tot.bytes), `${formatInt(tot.bytes)} bytes`),
        fact('layers', String(cfg?.numLayers ?? tot.layers)),
        fact(
          'dtypes',
          Object.entries(tot.dtypes)
            .map(([k, v]) => `${k} ×${v}`)
            .join(', '),
        ),
        fact(
          m.files.length > 1 ? 'shards' : 'header',
          m.files.length > 1 ? String(m.files.length) : formatBytes(m.files[0]?.headerLength ?? 0),
        ),
        fact(
          'read in',
          formatMs(m.readMs),
          m.kind === 'gguf' ? 'Only the GGUF header (metadata and tensor infos) was read' : 'Only the JSON header(s) were read',
        ),
      ),
    ),
  );
  if (m.files.length > 1) app.append(filesCard(m));
  app.append(metadataCard(m));
  app.append(tensorsCard(m));
}

function fact(k: string, v: string, title?: string): HTMLElement {
  return h('div', { class: 'fact', title }, h('dt', { text: k }), h('dd', { text: v }));
}

function filesCard(m: ViewerModel): HTMLElement {
  const table = h(
    'table',
    { class: 'kv-table' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { text: 'shard' }),
        h('th', { text: 'tensors', class: 'num' }),
        h('th', { text: 'size', class: 'num' }),
        h('th', { text: 'header', class: 'num' }),
      ),
    ),
  );
  const body = h('tbody');
  for (const f of m.files)
    body.append(
      h(
        'tr',
        {},
        h('td', { class: 'mono', text: f.name }),
        h('td', { class: 'num', text: formatInt(f.tensorCount) }),
        h('td', { class: 'num', text: formatBytes(f.size) }),
        h('td', { class: 'num', text: formatBytes(f.headerLength) }),
      ),
    );
  table.append(body);
  return collapsible('files', `Shards (${m.files.length})`, table, true);
}

function metadataCard(m: ViewerModel): HTMLElement {
  const body = h('div', { class: 'metadata' });
  const prov = parseProvenance(m.metadata);
  if (prov !== undefined) {
    const p = (typeof prov === 'object' && prov && !Array.isArray(prov) ? prov : {}) as Record<string, unknown>;
    const fields = h('dl', { class: 'prov-fields' });
    for (const [k, v] of Object.entries(p)) {
      if (k === 'tool') continue;
      fields.append(
        h('dt', { text: k }),
        h('dd', {
          class: 'mono',
          text: Array.isArray(v) ? v.join('  ') : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v),
        }),
      );
    }
    body.append(
      h(
        'div',
        { class: 'provenance' },
        h(
          'div',
          { class: 'prov-title' },
          icon('layers', 14),
          `Provenance: made by ${String(p.tool ?? 'Inheritune')}`,
          p.op ? h('span', { class: 'badge', text: String(p.op) }) : null,
        ),
        typeof prov === 'string' ? h('pre', { class: 'json', text: prov }) : fields,
        typeof prov === 'string'
          ? null
          : h(
              'details',
              { class: 'json-details' },
              h('summary', { text: '__metadata__.inheritune (JSON)' }),
              h('pre', { class: 'json', text: JSON.stringify(prov, null, 2) }),
            ),
      ),
    );
  }
  const keys = Object.keys(m.metadata).filter((k) => k !== 'inheritune');
  if (m.indexMetadata)
    for (const [k, v] of Object.entries(m.indexMetadata)) keys.push(`index: ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  if (keys.length) {
    const t = h('table', { class: 'kv-table' });
    for (const k of Object.keys(m.metadata).filter((x) => x !== 'inheritune'))
      t.append(h('tr', {}, h('td', { class: 'mono key', text: k }), h('td', { class: 'mono', text: m.metadata[k] })));
    if (m.indexMetadata)
      for (const [k, v] of Object.entries(m.indexMetadata))
        t.append(
          h(
            'tr',
            {},
            h('td', { class: 'mono key', text: `index · ${k}` }),
            h('td', { class: 'mono', text: typeof v === 'string' ? v : JSON.stringify(v) }),
          ),
        );
    body.append(t);
  }
  if (prov === undefined && !keys.length) body.append(h('div', { class: 'muted', text: 'No __metadata__ in this header.' }));
  return collapsible('metadata', 'Metadata', body, prov !== undefined || keys.length > 0);
}

function collapsible(id: string, title: string, body: HTMLElement, open: boolean): HTMLElement {
  const d = h('details', { class: 'card', id: `card-${id}`, open }, h('summary', { class: 'card-header' }, h('h2', { text: title })), body);
  return d;
}

function tensorsCard(m: ViewerModel): HTMLElement {
  const filter = h('input', {
    class: 'filter',
    type: 'search',
    placeholder: 'Filter by name, dtype or shape',
    value: ui.filter,
    'aria-label': 'Filter tensors',
  });
  const count = h('span', { class: 'muted count' });
  const list = h('div', {
    class: 'vlist',
    tabindex: 0,
    role: 'grid',
    'aria-label': 'Tensors grouped by layer. Arrow keys move, Enter or Space expands a group.',
  });
  const spacer = h('div', { class: 'vlist-spacer' });
  const win = h('div', { class: 'vlist-window', role: 'rowgroup' });
  list.append(spacer, win);
  const multiFile = m.files.length > 1;
  const head = h(
    'div',
    { class: `vrow vhead${multiFile ? ' with-file' : ''}`, role: 'row' },
    h('span', { role: 'columnheader', text: 'name' }),
    h('span', { role: 'columnheader', text: 'dtype' }),
    h('span', { role: 'columnheader', text: 'shape' }),
    h('span', { role: 'columnheader', class: 'num', text: 'params' }),
    h('span', { role: 'columnheader', class: 'num', text: 'size' }),
    h('span', { role: 'columnheader', class: 'num', text: 'offset' }),
    multiFile ? h('span', { role: 'columnheader', text: 'shard' }) : null,
  );

  let viewport = 0;
  const recompute = () => {
    rows = visibleRows(groups, m.tensors, expanded, ui.filter);
    spacer.style.height = `${rows.length * ROW_H}px`;
    // As tall as its rows, up to most of the window; only the rows in view exist in the DOM.
    viewport = Math.max(ROW_H * 3, Math.min(rows.length * ROW_H + 2, Math.round(window.innerHeight * 0.7)));
    list.style.height = `${viewport}px`;
    const shown = rows.filter((r) => r.kind === 'tensor').length;
    count.textContent = ui.filter
      ? `${formatInt(rows.reduce((a, r) => a + (r.kind === 'group' ? r.matches : 0), 0))} of ${formatInt(m.tensors.length)} tensors match`
      : `${groups.length} groups · ${formatInt(shown)} of ${formatInt(m.tensors.length)} tensors shown`;
    list.setAttribute('aria-rowcount', String(rows.length));
    active = Math.min(active, Math.max(0, rows.length - 1));
    draw();
  };

  const draw = () => {
    const { start, end } = rowWindow(rows.length, ROW_H, list.scrollTop, viewport || 600);
    clear(win);
    win.style.transform = `translateY(${start * ROW_H}px)`;
    for (let i = start; i < end; i++) win.append(rowEl(m, rows[i], i, multiFile));
  };

  const toggle = (i: number) => {
    const r = rows[i];
    if (!r || r.kind !== 'group') return;
    const key = ui.filter ? `!${groups[r.group].key}` : groups[r.group].key;
    if (expanded.has(key)) expanded.delete(key);
    else expanded.add(key);
    save();
    recompute();
  };

  let saveTimer: number | undefined;
  let lastTop = -1;
  list.addEventListener('scroll', () => {
    ui.scrollTop = list.scrollTop;
    // Redraw only when the first visible row changes.
    const top = Math.floor(list.scrollTop / ROW_H);
    if (top !== lastTop) {
      lastTop = top;
      draw();
    }
    window.clearTimeout(saveTimer);
    saveTimer = window.setTimeout(save, 200);
  });
  window.addEventListener('resize', () => recompute());
  win.addEventListener('click', (ev) => {
    const rowNode = (ev.target as HTMLElement).closest('[data-row]') as HTMLElement | null;
    if (!rowNode) return;
    active = Number(rowNode.dataset.row);
    toggle(active);
    draw();
  });
  list.addEventListener('keydown', (ev) => {
    const r = rows[active];
    let handled = true;
    switch (ev.key) {
      case 'ArrowDown':
        active = Math.min(rows.length - 1, active + 1);
        break;
      case 'ArrowUp':
        active = Math.max(0, active - 1);
        break;
      case 'PageDown':
        active = Math.min(rows.length - 1, active + Math.floor(viewport / ROW_H));
        break;
      case 'PageUp':
        active = Math.max(0, active - Math.floor(viewport / ROW_H));
        break;
      case 'Home':
        active = 0;
        break;
      case 'End':
        active = rows.length - 1;
        break;
      case 'Enter':
      case ' ':
        toggle(active);
        break;
      case 'ArrowRight':
      case 'ArrowLeft':
        if (r?.kind === 'group') {
          const key = ui.filter ? `!${groups[r.group].key}` : groups[r.group].key;
          const open = ui.filter ? !expanded.has(key) : expanded.has(key);
          if ((ev.key === 'ArrowRight') !== open) toggle(active);
        } else if (r?.kind === 'tensor' && ev.key === 'ArrowLeft') {
          active = rows.findIndex((x) => x.kind === 'group' && x.group === r.group);
        }
        break;
      default:
        handled = false;
    }
    if (!handled) return;
    ev.preventDefault();
    const top = active * ROW_H;
    if (top < list.scrollTop) list.scrollTop = top;
    else if (top + ROW_H > list.scrollTop + viewport) list.scrollTop = top + ROW_H - viewport;
    draw();
  });
  filter.addEventListener('input', () => {
    ui.filter = filter.value;
    save();
    list.scrollTop = 0;
    recompute();
  });

  const tools = h(
    'div',
    { class: 'card-tools' },
    filter,
    button('Expand all', {
      icon: 'expand',
      iconOnly: true,
      secondary: true,
      onClick: () => {
        for (const g of groups) expanded.add(g.key);
        for (const g of groups) expanded.delete(`!${g.key}`);
        save();
        recompute();
      },
    }),
    button('Collapse all', {
      icon: 'collapse',
      iconOnly: true,
      secondary: true,
      onClick: () => {
        expanded = new Set(ui.filter ? groups.map((g) => `!${g.key}`) : []);
        save();
        recompute();
      },
    }),
  );
  const cardEl = h(
    'section',
    { class: 'card tensors-card', 'aria-label': 'Tensors' },
    h('div', { class: 'card-header' }, h('h2', { text: 'Tensors' }), count, tools),
    head,
    list,
  );
  // The list needs its height from layout before the first window is computed.
  requestAnimationFrame(() => {
    list.scrollTop = ui.scrollTop;
    recompute();
  });
  rows = visibleRows(groups, m.tensors, expanded, ui.filter);
  spacer.style.height = `${rows.length * ROW_H}px`;
  return cardEl;
}

function rowEl(m: ViewerModel, r: Row, i: number, multiFile: boolean): HTMLElement {
  const g = groups[r.group];
  if (r.kind === 'group') {
    const open = ui.filter ? !expanded.has(`!${g.key}`) : expanded.has(g.key);
    return h(
      'div',
      {
        class: `vrow vgroup${i === active ? ' active' : ''}${multiFile ? ' with-file' : ''}`,
        role: 'row',
        'data-row': i,
        'aria-expanded': String(open),
        'aria-rowindex': i + 1,
      },
      h(
        'span',
        { class: 'gname', role: 'gridcell' },
        icon(open ? 'chevronDown' : 'chevronRight', 14),
        h('span', { class: 'glabel', text: g.label }),
        h('span', { class: 'badge', text: formatInt(r.matches) }),
      ),
      h('span', { role: 'gridcell', class: 'muted', text: Object.keys(g.dtypes).join(', ') }),
      h('span', { role: 'gridcell' }),
      h('span', { role: 'gridcell', class: 'num', text: formatCount(g.params) }),
      h('span', { role: 'gridcell', class: 'num', text: formatBytes(g.bytes) }),
      h('span', { role: 'gridcell' }),
      multiFile ? h('span', { role: 'gridcell' }) : null,
    );
  }
  const t = m.tensors[r.tensor];
  const cut = g.layer !== null ? t.name.indexOf(`.${g.layer}.`) : -1;
  const nameCell =
    cut >= 0
      ? h(
          'span',
          { class: 'tname mono', role: 'gridcell', title: t.name },
          h('span', { class: 'tprefix', text: t.name.slice(0, cut + `.${g.layer}.`.length) }),
          t.name.slice(cut + `.${g.layer}.`.length),
        )
      : h('span', { class: 'tname mono', role: 'gridcell', title: t.name, text: t.name });
  return h(
    'div',
    {
      class: `vrow vtensor${i === active ? ' active' : ''}${multiFile ? ' with-file' : ''}`,
      role: 'row',
      'data-row': i,
      'aria-rowindex': i + 1,
    },
    nameCell,
    h('span', { role: 'gridcell', class: `dtype dtype-${t.dtype.toLowerCase()}`, text: t.dtype }),
    h('span', { role: 'gridcell', class: 'mono', text: `[${t.shape.join(', ')}]` }),
    h('span', { role: 'gridcell', class: 'num', text: formatInt(numel(t.shape)) }),
    h('span', { role: 'gridcell', class: 'num', text: formatBytes(t.bytes) }),
    h('span', { role: 'gridcell', class: 'num mono muted', text: formatInt(t.offset) }),
    multiFile ? h('span', { role: 'gridcell', class: 'mono muted', text: m.files[t.file]?.name ?? '' }) : null,
  );
}

renderStatus('loading');
api.post({ type: 'ready' });

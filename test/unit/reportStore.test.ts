/** The report webview's store and state selectors (webview/attention/state): pure, no DOM. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SideState } from '../../src/shared/protocol';
import type { AnalysisReport } from '../../src/shared/report';
import {
  initialState,
  pageShape,
  pendingSides,
  readyEntries,
  toViewState,
  withSide,
  type ReportState,
} from '../../webview/attention/state/reportState';
import { Store } from '../../webview/attention/state/store';
import { readTheme } from '../../webview/shared/theme';

const THEME = readTheme(() => '', 'dark');

describe('Store', () => {
  test('subscribers run only for the keys they follow, and are told which keys changed', () => {
    const store = new Store({ a: 1, b: 'x', c: [0] });
    const seen: string[] = [];
    store.subscribe(['a'], (s, changed) => seen.push(`a:${s.a}:${[...changed].join('')}`));
    store.subscribe(['b', 'c'], (s, changed) => seen.push(`bc:${s.b}:${[...changed].join('')}`));
    store.subscribe(undefined, (_s, changed) => seen.push(`all:${[...changed].join('')}`));
    store.update({ a: 2 });
    store.update({ b: 'y', a: 2 });
    store.update({ a: 2, b: 'y' }); // nothing changed: nobody runs
    assert.deepEqual(seen, ['a:2:a', 'all:a', 'bc:y:b', 'all:b']);
    assert.equal(store.state.a, 2);
  });

  test('changes are by identity: the same array mutated is no change, a copy is', () => {
    const store = new Store({ list: [1] });
    let n = 0;
    store.subscribe(['list'], () => n++);
    store.state.list.push(2);
    store.update({ list: store.state.list });
    assert.equal(n, 0);
    store.update({ list: [...store.state.list] });
    assert.equal(n, 1);
  });

  test('a listener may unsubscribe another, or update the store, during a notification', () => {
    const store = new Store({ x: 0, y: 0 });
    const seen: string[] = [];
    let offB: () => void = () => undefined;
    store.subscribe(['x'], (s) => {
      seen.push(`a${s.x}`);
      offB();
      if (s.x === 1) store.update({ y: 5 });
    });
    offB = store.subscribe(['x'], () => seen.push('b'));
    store.subscribe(['y'], (s) => seen.push(`y${s.y}`));
    store.update({ x: 1 });
    assert.deepEqual(seen, ['a1', 'y5']);
    assert.deepEqual(store.state, { x: 1, y: 5 });
  });
});

describe('report state', () => {
  const report = { model: { path: '/m/gpt2-12L', numLayers: 2 }, layers: [] } as unknown as AnalysisReport;
  const side = (status: SideState['status'], r?: AnalysisReport): SideState => ({
    request: { path: '/m/x', settings: {} },
    status,
    progress: { fraction: 0.5, message: 'layer 1/2' },
    report: r,
  });

  test('restored from the saved view state, and saved back in the same form', () => {
    const saved = {
      version: 1 as const,
      sides: { a: side('ready', report) },
      ui: { metric: 'entropy' as const, series: 'blockInfluence' as const, headDock: 'below' as const },
    };
    const s = initialState(saved, THEME);
    assert.equal(s.metric, 'entropy');
    assert.equal(s.headDock, 'below');
    assert.deepEqual(toViewState(s), { ...saved, ui: { ...saved.ui, selected: undefined } });
    assert.equal(toViewState(initialState(undefined, THEME)), undefined, 'nothing to save before the first init');
    assert.equal(initialState(undefined, THEME).headDock, 'beside');
  });

  test('ready entries, pending sides and the page shape', () => {
    const s: ReportState = { ...initialState(undefined, THEME), sides: { a: side('ready', report), b: side('loading') } };
    assert.deepEqual(
      readyEntries(s).map((e) => [e.side, e.label]),
      [['a', 'gpt2-12L']],
    );
    assert.deepEqual(pendingSides(s), ['b']);
    assert.equal(pageShape(s), 'a:ready|b:loading');
    assert.equal(pageShape(initialState(undefined, THEME)), 'none');
  });

  test('withSide copies: the old sides object is left as it was', () => {
    const s: ReportState = { ...initialState(undefined, THEME), sides: { a: side('loading') } };
    const next = withSide(s, 'a', { progress: { fraction: 0.75, message: 'layer 2/2' } });
    assert.notEqual(next, s.sides);
    assert.equal(next!.a.progress.fraction, 0.75);
    assert.equal(s.sides!.a.progress.fraction, 0.5);
    assert.equal(withSide(s, 'b', { status: 'error' }), s.sides, 'no side b: unchanged');
  });
});

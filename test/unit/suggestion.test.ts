import assert from 'node:assert/strict';
import { test } from 'node:test';
import { explainSuggestion, suggestedN } from '../../src/shared/report';

const layers = (k: number, lazy: number[]) => Array.from({ length: k }, (_, i) => ({ index: i, lazy: lazy.includes(i) }));

test('a lazy tail gives n at its first layer, with the first lazy layer and half the depth as alternatives', () => {
  const s = explainSuggestion(layers(30, [14, 23, 24, 25, 26, 27, 28, 29]), 30);
  assert.equal(s.n, 23);
  assert.equal(s.rule, 'lazy-tail');
  assert.equal(s.because, 'every layer from 23 on is lazy');
  assert.deepEqual(s.lazyBelowN, [14]);
  assert.deepEqual(
    s.alternatives.map((a) => a.n),
    [14, 15],
  );
});

test('lazy layers that are not a tail: half the depth, as the paper; the lazy layers below n are listed', () => {
  const s = explainSuggestion(layers(30, [14, 23, 24]), 30);
  assert.equal(s.n, 15);
  assert.equal(s.rule, 'half-depth');
  assert.match(s.because, /^no lazy tail \(layer 29 is not lazy\): half the depth, as the paper's default$/);
  assert.deepEqual(s.lazyBelowN, [14]);
  assert.deepEqual(s.alternatives, [
    { n: 14, label: 'before the first lazy layer' },
    { n: 23, label: 'before the last lazy run (23–24)' },
  ]);
  assert.equal(suggestedN(layers(30, [14, 23, 24]), 30), 15);
});

test('no lazy layers, all lazy, or a report that stops early: half the depth, each saying why', () => {
  assert.deepEqual([explainSuggestion(layers(8, []), 8).n, explainSuggestion(layers(8, []), 8).alternatives], [4, []]);
  assert.match(explainSuggestion(layers(8, [0, 1, 2, 3, 4, 5, 6, 7]), 8).because, /every layer is lazy/);
  assert.match(explainSuggestion(layers(6, [5]), 8).because, /stops before the last layer/);
});

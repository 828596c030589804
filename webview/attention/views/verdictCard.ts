/**
 * The verdict of one report: its lazy layers (or none), the rule that produced the suggested n, lazy layers below
 * n, and one-click inherit with another n (side A only: Inherit works on the panel's own checkpoint).
 */
import { explainSuggestion, type AnalysisReport } from '../../../src/shared/report';
import type { ReportWebviewMessage, Side } from '../../../src/shared/protocol';
import { formatRanges } from '../../../src/shared/format';
import { button, h, icon } from '../../shared/dom';
import { verdict } from '../../shared/heatmapModel';

/** `label`: the model's name, in a comparison (every verdict names its side there). */
export function verdictCard(
  side: Side,
  r: AnalysisReport,
  label: string | undefined,
  post: (msg: ReportWebviewMessage) => void,
): HTMLElement {
  const v = verdict(r);
  const sg = explainSuggestion(r.layers, r.model.numLayers);
  const k = r.model.numLayers;
  const who = label ? `${side.toUpperCase()} · ${label}: ` : '';
  // The rule that produced n, in the card's own words; the Inherit button's tooltip says the same.
  const rule = h('div', { class: 'verdict-rule', 'data-rule': sg.rule, text: `n = ${sg.n}: ${sg.because}.` });
  const below = sg.lazyBelowN.length
    ? h('div', {
        class: 'verdict-below',
        text: `Lazy layer${sg.lazyBelowN.length > 1 ? 's' : ''} below n: ${formatRanges(sg.lazyBelowN)} (inheriting ${sg.n} layers keeps ${sg.lazyBelowN.length > 1 ? 'them' : 'it'}).`,
      })
    : null;
  const choices =
    side === 'a' && sg.alternatives.length
      ? h(
          'div',
          { class: 'verdict-choices', role: 'group', 'aria-label': 'Other n to inherit' },
          h('span', { class: 'muted', text: 'or inherit' }),
          ...sg.alternatives
            .map((alt) =>
              button(`n = ${alt.n}`, {
                secondary: true,
                cls: 'choice',
                title: `Inherit the first ${alt.n} layers: ${alt.label}`,
                onClick: () => {
                  const input = document.querySelector<HTMLInputElement>('.n-input');
                  if (input) input.value = String(alt.n);
                  post({ type: 'inherit', side: 'a', layers: alt.n });
                },
              }),
            )
            .flatMap((b, i) => [b, h('span', { class: 'choice-label muted', text: sg.alternatives[i].label })]),
        )
      : null;
  const nBox = h(
    'div',
    { class: 'verdict-n', title: `suggested n = ${sg.n}: ${sg.because}` },
    h('span', { class: 'muted', text: 'suggested n' }),
    h('span', { class: 'big', text: String(r.suggestedN) }),
  );
  if (!v.lazyLayers.length) {
    return h(
      'section',
      { class: 'verdict ok', 'aria-label': 'Verdict' },
      icon('info', 18),
      h(
        'div',
        {},
        h('div', { class: 'verdict-title', text: `${who}No lazy layers` }),
        h('div', {
          class: 'verdict-text',
          text: `Every layer has a head whose attention needs more than one direction at τ = ${r.settings.tau}.`,
        }),
        rule,
        choices,
      ),
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
      h('div', {
        class: 'verdict-title',
        text: `${who}Layer${v.lazyLayers.length > 1 ? 's' : ''} ${formatRanges(v.lazyLayers)} ${v.lazyLayers.length > 1 ? 'are' : 'is'} lazy (${v.lazyLayers.length} of ${k})`,
      }),
      h('div', { class: 'verdict-text', text: `Every head there is degenerate (k* = 1 or m* = 1): its attention matrix is rank 1.` }),
      rule,
      below,
      choices,
    ),
    nBox,
  );
}

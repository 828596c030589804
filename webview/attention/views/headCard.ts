/**
 * The card around one head's attention matrix, with the toggle that docks it beside the heatmap or under it. The
 * HeadView inside outlives the card (the page is rebuilt when a report arrives; the matrix shown stays), so it follows
 * the theme from main.ts, not from here.
 */
import { button, h, icon } from '../../shared/dom';
import type { HeadDock } from '../state/reportState';
import { Card } from '../widgets/card';
import type { View, ViewContext } from './context';
import type { HeadView } from './headView';

export class HeadCard implements View {
  readonly root: HTMLElement;
  private readonly off: (() => void)[] = [];

  constructor(ctx: ViewContext, headView: HeadView) {
    const { store } = ctx;
    const dock = button('', {
      secondary: true,
      cls: 'dock-toggle',
      onClick: () => store.update({ headDock: store.state.headDock === 'beside' ? 'below' : 'beside' }),
    });
    setDockButton(dock, store.state.headDock);
    this.root = new Card(
      'head-card',
      'Attention of one head',
      [dock],
      headView.root,
      'T × T batch mean, computed on request. Rows are queries, columns keys.',
    ).root;
    this.off.push(
      store.subscribe(['headDock'], (s) => setDockButton(dock, s.headDock)),
      store.subscribe(['widths'], (s) => s.widths.side && headView.setWidth(s.widths.side)),
    );
  }

  dispose(): void {
    for (const f of this.off.splice(0)) f();
  }
}

/** The toggle names where the head view goes: "Below" while it is beside the heatmap, "Beside" while below. */
function setDockButton(b: HTMLButtonElement, dock: HeadDock): void {
  const beside = dock === 'beside';
  b.replaceChildren(icon(beside ? 'chevronDown' : 'chevronRight'), h('span', { text: beside ? 'Below' : 'Beside' }));
  b.title = beside ? 'Show the head view under the heatmap, full width' : 'Show the head view beside the heatmap';
}

/** A titled card of the report (heatmap, per-layer chart, head view): header with tools, a body and a note. */
import { h } from '../../shared/dom';

export class Card {
  readonly root: HTMLElement;
  private readonly noteEl: HTMLElement;

  constructor(
    id: string,
    title: string,
    tools: (HTMLElement | null)[],
    readonly body: HTMLElement,
    note = '',
  ) {
    this.noteEl = h('div', { class: 'card-note muted', text: note });
    this.root = h(
      'section',
      { class: 'card', id, 'aria-label': title },
      h('div', { class: 'card-header' }, h('h2', { text: title }), h('div', { class: 'card-tools' }, ...tools)),
      body,
      note ? this.noteEl : null,
    );
  }

  setNote(note: string): void {
    this.noteEl.textContent = note;
  }
}

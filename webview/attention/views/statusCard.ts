/** A side that is loading (progress, Cancel) or failed (the error, Retry, Change settings, Show Log). */
import type { ReportWebviewMessage, Side, SideState } from '../../../src/shared/protocol';
import { baseName } from '../../../src/shared/format';
import { button, h, icon } from '../../shared/dom';

export class StatusCard {
  root: HTMLElement;

  /** `title`: the side named on the card (in a comparison, or for B). */
  constructor(
    private readonly title: Side | undefined,
    private readonly side: Side,
    private s: SideState,
    private readonly post: (msg: ReportWebviewMessage) => void,
  ) {
    this.root = this.build();
  }

  /** Progress updates the bar and message in place; any other change rebuilds the card where it stands. */
  update(s: SideState): void {
    const inPlace = this.s.status === 'loading' && s.status === 'loading' && s.request.path === this.s.request.path;
    this.s = s;
    if (inPlace) return this.updateProgress();
    const next = this.build();
    this.root.replaceWith(next);
    this.root = next;
  }

  private updateProgress(): void {
    const pct = percent(this.s);
    const bar = this.root.querySelector('.progress') as HTMLElement;
    bar.setAttribute('aria-valuenow', String(pct));
    (bar.firstChild as HTMLElement).style.width = `${pct}%`;
    this.root.querySelector('.pct')!.textContent = `${pct}%`;
    this.root.querySelector('.msg')!.textContent = this.s.progress.message;
  }

  private build(): HTMLElement {
    const { s, side, post } = this;
    const name = s.request.path ? baseName(s.request.path) : '';
    const who = this.title ? `${this.title.toUpperCase()} · ` : '';
    if (s.status === 'error') {
      return h(
        'section',
        { class: 'status-card error', role: 'alert', id: `status-${side}` },
        icon('error', 22),
        h(
          'div',
          { class: 'status-main' },
          h('div', {
            class: 'status-title',
            text: `${who}${s.cancelled ? 'Analysis cancelled' : 'Analysis failed'}${name ? `: ${name}` : ''}`,
          }),
          h('div', { class: 'error-text', text: s.error ?? 'Unknown error' }),
          h(
            'div',
            { class: 'status-actions' },
            button('Retry', { icon: 'refresh', onClick: () => post({ type: 'retry', side }) }),
            button('Change settings…', { secondary: true, onClick: () => post({ type: 'rerun', side }) }),
            button('Show Log', { icon: 'output', secondary: true, onClick: () => post({ type: 'showLog' }) }),
          ),
        ),
      );
    }
    const pct = percent(s);
    const bar = h(
      'div',
      {
        class: 'progress',
        role: 'progressbar',
        'aria-valuemin': 0,
        'aria-valuemax': 100,
        'aria-valuenow': pct,
        'aria-label': 'Analysis progress',
      },
      h('div', { class: 'progress-fill' }),
    );
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
        h(
          'div',
          { class: 'status-message muted' },
          h('span', { class: 'pct', text: `${pct}%` }),
          ' ',
          h('span', { class: 'msg', text: s.progress.message }),
        ),
        name
          ? h('div', { class: 'status-actions' }, button('Cancel', { secondary: true, onClick: () => post({ type: 'cancel', side }) }))
          : null,
      ),
    );
  }
}

function percent(s: SideState): number {
  return Math.round(Math.max(0, Math.min(1, s.progress.fraction)) * 100);
}

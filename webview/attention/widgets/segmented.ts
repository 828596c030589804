/**
 * A segmented control (radio group): one option active, arrow keys move. `set` and `setOptions` update the buttons
 * in place, so the control keeps its focus when the value changes.
 */
import { h } from '../../shared/dom';

export interface SegmentOption<V extends string> {
  value: V;
  label: string;
  title?: string;
  disabled?: boolean;
}

export class Segmented<V extends string> {
  readonly root: HTMLElement;
  private buttons: HTMLButtonElement[] = [];
  private options: SegmentOption<V>[] = [];

  constructor(
    label: string,
    options: SegmentOption<V>[],
    private value: V,
    private readonly onChange: (v: V) => void,
  ) {
    this.root = h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': label });
    this.root.addEventListener('keydown', (ev) => {
      if (ev.key !== 'ArrowRight' && ev.key !== 'ArrowLeft') return;
      const enabled = this.options.filter((o) => !o.disabled);
      const i = enabled.findIndex((o) => o.value === this.value);
      const next = enabled[(i + (ev.key === 'ArrowRight' ? 1 : enabled.length - 1)) % enabled.length];
      ev.preventDefault();
      this.onChange(next.value);
      this.buttons[this.options.indexOf(next)]?.focus();
    });
    this.setOptions(options);
  }

  /** Replace the options (labels, titles, disabled), keeping the value. */
  setOptions(options: SegmentOption<V>[]): void {
    this.options = options;
    this.buttons = options.map((o) => {
      const b = h('button', { type: 'button', role: 'radio', title: o.title, disabled: o.disabled, text: o.label });
      b.addEventListener('click', () => o.value !== this.value && this.onChange(o.value));
      return b;
    });
    this.root.replaceChildren(...this.buttons);
    this.set(this.value);
  }

  set(value: V): void {
    this.value = value;
    this.options.forEach((o, i) => {
      const on = o.value === value;
      const b = this.buttons[i];
      b.setAttribute('aria-checked', String(on));
      b.className = on ? 'active' : '';
      b.tabIndex = on ? 0 : -1;
    });
  }
}

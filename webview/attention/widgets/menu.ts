/**
 * Drop-down menus (Export, Save chart…): a button that opens a list of actions, arrow keys move, Escape or a click
 * elsewhere closes. One Menus per page keeps which menu is open, so opening one closes the other.
 */
import { button, h } from '../../shared/dom';

export interface MenuItem {
  label: string;
  run: () => void;
}

export class Menus {
  private open: HTMLElement | undefined;

  constructor(doc: Document = document) {
    doc.addEventListener('click', (e) => {
      if (this.open && !this.open.contains(e.target as Node)) this.close();
    });
    doc.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.close();
    });
  }

  close(): void {
    this.open?.remove();
    this.open = undefined;
  }

  /** A menu button (icon only when `iconOnly`, with `label` as its accessible name). */
  button(label: string, iconName: string, items: MenuItem[], iconOnly = false): HTMLElement {
    const wrap = h('div', { class: 'menu-wrap' });
    const b = button(label, {
      icon: iconName,
      secondary: true,
      iconOnly,
      onClick: (ev) => {
        ev.stopPropagation();
        if (this.open && wrap.contains(this.open)) return this.close();
        this.close();
        const m = this.list(label, items, b);
        wrap.append(m);
        this.open = m;
        m.querySelector<HTMLButtonElement>('.menu-item')?.focus();
      },
    });
    b.setAttribute('aria-haspopup', 'menu');
    wrap.append(b);
    return wrap;
  }

  private list(label: string, items: MenuItem[], owner: HTMLButtonElement): HTMLElement {
    const m = h('div', { class: 'menu', role: 'menu', 'aria-label': label });
    for (const it of items) {
      const mi = h('button', { type: 'button', role: 'menuitem', class: 'menu-item', text: it.label });
      mi.addEventListener('click', () => {
        this.close();
        it.run();
      });
      m.append(mi);
    }
    m.addEventListener('keydown', (ev) => {
      const all = Array.from(m.querySelectorAll<HTMLButtonElement>('.menu-item'));
      const i = all.indexOf(document.activeElement as HTMLButtonElement);
      if (ev.key === 'ArrowDown') all[(i + 1) % all.length].focus();
      else if (ev.key === 'ArrowUp') all[(i - 1 + all.length) % all.length].focus();
      else if (ev.key === 'Escape') {
        this.close();
        owner.focus();
      } else return;
      ev.preventDefault();
    });
    return m;
  }
}

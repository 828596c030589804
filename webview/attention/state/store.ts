/**
 * A small typed store: one state object, `update(patch)`, and subscribers told which keys changed, so each view
 * redraws only when what it shows changed. Values are compared by identity: a change is a new value (never mutate
 * the state in place). May import nothing of the panel (views and widgets import it).
 */

export type Changed<S> = ReadonlySet<keyof S>;
export type Listener<S> = (state: Readonly<S>, changed: Changed<S>) => void;

export class Store<S extends object> {
  private current: S;
  private readonly listeners = new Set<{ keys: ReadonlySet<keyof S> | undefined; fn: Listener<S> }>();

  constructor(initial: S) {
    this.current = initial;
  }

  get state(): Readonly<S> {
    return this.current;
  }

  /** Set some keys; listeners of the keys whose value changed (by identity) run at once, in subscription order. */
  update(patch: Partial<S>): void {
    const changed = new Set<keyof S>();
    for (const k of Object.keys(patch) as (keyof S)[]) if (patch[k] !== this.current[k]) changed.add(k);
    if (!changed.size) return;
    this.current = { ...this.current, ...patch };
    // A copy: a listener may subscribe or unsubscribe others (a view rebuilt from inside a notification).
    for (const l of [...this.listeners]) {
      if (!this.listeners.has(l)) continue;
      if (!l.keys || [...changed].some((k) => l.keys!.has(k))) l.fn(this.current, changed);
    }
  }

  /** Call `fn` when one of `keys` changes (every change when `keys` is omitted); returns the unsubscribe function. */
  subscribe(keys: readonly (keyof S)[] | undefined, fn: Listener<S>): () => void {
    const entry = { keys: keys ? new Set(keys) : undefined, fn };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }
}

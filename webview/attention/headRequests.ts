/**
 * One head's attention matrix on request: ask the host (cancelling an older request), draw the answer in the head
 * view, keep the last few matrices of this session (not persisted: they can be large and are cheap to ask again).
 */
import type { HeadSelection, ReportHostMessage, ReportWebviewMessage } from '../../src/shared/protocol';
import { fileStem } from '../shared/csv';
import { exactUpTo } from '../shared/kStarBounds';
import { headReportOf, isCompare, readyEntries, type ReportStore } from './state/reportState';
import type { HeadView } from './views/headView';

type PatternMsg = Extract<ReportHostMessage, { type: 'headPattern' }>;
type PatternErrorMsg = Extract<ReportHostMessage, { type: 'headPatternError' }>;

const CACHE_SIZE = 6;

export class HeadRequests {
  private readonly cache = new Map<string, { T: number; data: Float32Array }>();
  private pending: { id: number; sel: HeadSelection } | undefined;
  private nextId = 1;

  constructor(
    private readonly store: ReportStore,
    private readonly view: HeadView,
    private readonly post: (msg: ReportWebviewMessage) => void,
  ) {}

  /** Show a head's matrix: from this session's cache, or asked of the host (`force`: ask again). */
  request(sel: HeadSelection, force = false): void {
    const cached = this.cache.get(key(sel));
    if (cached && !force) {
      this.show(sel, cached.T, cached.data);
      return;
    }
    if (this.pending) this.post({ type: 'cancelHead', requestId: this.pending.id });
    this.pending = { id: this.nextId++, sel };
    this.view.showLoading(this.label(sel));
    this.post({ type: 'requestHead', requestId: this.pending.id, side: sel.side, layer: sel.layer, head: sel.head });
  }

  cancel(): void {
    if (this.pending) this.post({ type: 'cancelHead', requestId: this.pending.id });
    this.pending = undefined;
    this.view.showEmpty();
  }

  /** A new report: the matrices of the old one no longer apply. */
  clearCache(): void {
    this.cache.clear();
  }

  /** The host's answer; true when a matrix was drawn. */
  received(msg: PatternMsg): boolean {
    if (!this.pending || this.pending.id !== msg.requestId) return false;
    const data = new Float32Array(msg.data);
    if (data.length !== msg.T * msg.T) {
      this.view.showError(this.label(this.pending.sel), `expected ${msg.T}×${msg.T} values, got ${data.length}`);
      return false;
    }
    this.cache.set(`${msg.side}:${msg.layer}:${msg.head}`, { T: msg.T, data });
    while (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
    this.show(this.pending.sel, msg.T, data);
    this.pending = undefined;
    return true;
  }

  failed(msg: PatternErrorMsg): void {
    if (!this.pending || this.pending.id !== msg.requestId) return;
    this.view.showError(this.label(this.pending.sel), msg.message);
    this.pending = undefined;
  }

  private label(sel: HeadSelection): string {
    const s = this.store.state;
    const e = readyEntries(s).find((x) => x.side === sel.side);
    return `${isCompare(s) && e ? `${sel.side.toUpperCase()} · ` : ''}layer ${sel.layer}, head ${sel.head}`;
  }

  private show(sel: HeadSelection, T: number, data: Float32Array): void {
    const s = this.store.state;
    const e = readyEntries(s).find((x) => x.side === sel.side);
    const title = `${isCompare(s) && e ? e.label + ' · ' : ''}Layer ${sel.layer} · Head ${sel.head}`;
    const rep = s.sides?.[sel.side]?.report;
    const tokens = rep?.input ? { pieces: rep.input.firstSequence.pieces, batch: rep.settings.batch } : undefined;
    this.view.showMatrix(
      title,
      fileStem(`${e?.label ?? 'model'}-L${sel.layer}-H${sel.head}-attention`),
      T,
      data,
      headReportOf(s, sel),
      tokens,
      rep ? exactUpTo(rep) : null,
    );
  }
}

function key(sel: HeadSelection): string {
  return `${sel.side}:${sel.layer}:${sel.head}`;
}

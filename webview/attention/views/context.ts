/** What every view of the report gets from the page: the store, the host, exports and the shared widgets. */
import type { ExportFormat, HeadSelection, ReportWebviewMessage } from '../../../src/shared/protocol';
import type { Tooltip } from '../../shared/dom';
import type { ReportStore } from '../state/reportState';
import type { Menus } from '../widgets/menu';

export interface ViewContext {
  store: ReportStore;
  post(msg: ReportWebviewMessage): void;
  exportData(format: ExportFormat, name: string, data: string): void;
  /** Save a chart as SVG or PNG (nothing when it is not drawn yet). */
  exportChart(svg: SVGSVGElement | undefined, format: 'svg' | 'png', name: string): Promise<void>;
  menus: Menus;
  tooltip: Tooltip;
  /** Screen-reader announcement. */
  announce(text: string): void;
  /** Select a head: ask for its attention matrix. */
  select(sel: HeadSelection): void;
}

/** A view that may be removed from the page: it stops listening to the store. */
export interface View {
  readonly root: HTMLElement;
  dispose(): void;
}

/**
 * The .safetensors viewer's model (pure; unit-tested): tensors grouped by layer, totals, and the flat row list that the
 * virtualised table draws (group headers + the tensors of expanded groups, filtered).
 */
import type { ViewerTensor } from '../../src/shared/protocol';

export interface TensorGroup {
  /** "layers.3" style key, unique; "" for tensors outside any layer. */
  key: string;
  label: string;
  /** Layer index, or null for embeddings, final norm, head and the like. */
  layer: number | null;
  /** Indices into the tensor array, in header order. */
  tensors: number[];
  params: number;
  bytes: number;
  dtypes: Record<string, number>;
}

/** `transformer.h.3.attn.c_attn.weight` → { stack: 'transformer.h', layer: 3 }; no numeric segment → null. */
export function layerOf(name: string): { stack: string; layer: number } | null {
  const m = /^(.*?)\.(\d+)(?:\.|$)/.exec(name);
  return m ? { stack: m[1], layer: Number(m[2]) } : null;
}

export function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export const OTHER_GROUP = 'other';

export function groupTensors(tensors: ViewerTensor[]): TensorGroup[] {
  const byKey = new Map<string, TensorGroup>();
  const stacks = new Map<string, number>();
  tensors.forEach((t, i) => {
    const lo = layerOf(t.name);
    const key = lo ? `${lo.stack}.${lo.layer}` : OTHER_GROUP;
    let g = byKey.get(key);
    if (!g) {
      if (lo && !stacks.has(lo.stack)) stacks.set(lo.stack, stacks.size);
      g = {
        key,
        label: lo ? `Layer ${lo.layer}` : 'Embeddings, norms and head',
        layer: lo ? lo.layer : null,
        tensors: [],
        params: 0,
        bytes: 0,
        dtypes: {},
      };
      byKey.set(key, g);
    }
    g.tensors.push(i);
    g.params += numel(t.shape);
    g.bytes += t.bytes;
    g.dtypes[t.dtype] = (g.dtypes[t.dtype] ?? 0) + 1;
  });
  // More than one stack (e.g. a vision tower beside the decoder): name the stack in the label.
  if (stacks.size > 1)
    for (const g of byKey.values()) if (g.layer !== null) g.label = `${g.key.slice(0, g.key.lastIndexOf('.'))} ${g.layer}`;
  const stackOf = (g: TensorGroup) => (g.layer === null ? -1 : stacks.get(g.key.slice(0, g.key.lastIndexOf('.')))!);
  return [...byKey.values()].sort((a, b) => stackOf(a) - stackOf(b) || (a.layer ?? -1) - (b.layer ?? -1));
}

export interface Totals {
  tensors: number;
  params: number;
  bytes: number;
  dtypes: Record<string, number>;
  layers: number;
}

export function totals(tensors: ViewerTensor[], groups: TensorGroup[]): Totals {
  const dtypes: Record<string, number> = {};
  let params = 0;
  let bytes = 0;
  for (const t of tensors) {
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
    params += numel(t.shape);
    bytes += t.bytes;
  }
  return { tensors: tensors.length, params, bytes, dtypes, layers: groups.filter((g) => g.layer !== null).length };
}

export type Row = { kind: 'group'; group: number; matches: number } | { kind: 'tensor'; group: number; tensor: number };

/**
 * Rows to draw. A filter (case-insensitive substring of the name, dtype or shape) shows matching tensors of every
 * group, expanded; without one, only the expanded groups show their tensors.
 */
export function visibleRows(groups: TensorGroup[], tensors: ViewerTensor[], expanded: ReadonlySet<string>, filter: string): Row[] {
  const f = filter.trim().toLowerCase();
  const rows: Row[] = [];
  groups.forEach((g, gi) => {
    if (!f) {
      rows.push({ kind: 'group', group: gi, matches: g.tensors.length });
      if (expanded.has(g.key)) for (const ti of g.tensors) rows.push({ kind: 'tensor', group: gi, tensor: ti });
      return;
    }
    const hits = g.tensors.filter((ti) => matches(tensors[ti], f));
    if (!hits.length) return;
    rows.push({ kind: 'group', group: gi, matches: hits.length });
    if (!expanded.has(`!${g.key}`)) for (const ti of hits) rows.push({ kind: 'tensor', group: gi, tensor: ti });
  });
  return rows;
}

function matches(t: ViewerTensor, f: string): boolean {
  return t.name.toLowerCase().includes(f) || t.dtype.toLowerCase() === f || `[${t.shape.join(', ')}]`.includes(f);
}

/** The window of rows to render for a scroll position (virtualisation), with some overscan. */
export function rowWindow(
  count: number,
  rowHeight: number,
  scrollTop: number,
  viewport: number,
  overscan = 8,
): { start: number; end: number } {
  const start = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const end = Math.min(count, Math.ceil((scrollTop + viewport) / rowHeight) + overscan);
  return { start, end };
}

/** Parse `__metadata__.inheritune` (our provenance) if it is JSON. */
export function parseProvenance(metadata: Record<string, string>): unknown {
  const raw = metadata.inheritune;
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

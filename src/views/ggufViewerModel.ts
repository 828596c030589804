/**
 * The viewer's model for a .gguf file, from its header only (metadata and tensor infos; no tensor data), so it opens
 * instantly however large the file. Tensors keep their GGUF names and show their stored ggml type (Q4_K, F16, ...);
 * shapes are in PyTorch order (the GGUF dims reversed). Long metadata arrays (the tokenizer's 50k+ tokens) are
 * summarised so the webview never receives megabytes of text.
 */
import * as path from 'node:path';
import { GgufValue, readGgufHeader } from '../checkpoint/ggufReader';
import { VALUE_TYPE_NAMES } from '../checkpoint/ggufTypes';
import type { ViewerModel, ViewerTensor } from '../shared/protocol';

const SHOWN_ITEMS = 8;
const MAX_TEXT = 2000;

function clip(s: string): string {
  return s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}… (${s.length} characters)` : s;
}

/** One metadata value as display text. */
export function ggufValueText(v: GgufValue): string {
  if (typeof v === 'string') return clip(v);
  if (typeof v !== 'object') return String(v);
  const items = Array.from(v.values as ArrayLike<unknown>);
  const shown = items
    .slice(0, SHOWN_ITEMS)
    .map((x) =>
      typeof x === 'object' && x !== null && 'itemType' in x
        ? ggufValueText(x as GgufValue)
        : JSON.stringify(typeof x === 'bigint' ? String(x) : x),
    );
  const more = items.length > SHOWN_ITEMS ? `, … (${items.length} ${VALUE_TYPE_NAMES[v.itemType]} items)` : '';
  return clip(`[${shown.join(', ')}${more}]`);
}

export function buildGgufViewerModel(file: string): ViewerModel {
  const t0 = performance.now();
  const abs = path.resolve(file);
  const g = readGgufHeader(abs);
  const tensors: ViewerTensor[] = g.tensors.map((t) => ({
    name: t.name,
    dtype: t.type.name,
    shape: [...t.dims].reverse(),
    offset: t.begin - g.dataStart,
    bytes: t.end - t.begin,
    file: 0,
  }));
  const metadata: Record<string, string> = {};
  for (const [k, kv] of g.metadata) metadata[k] = ggufValueText(kv.value);
  const arch =
    typeof g.metadata.get('general.architecture')?.value === 'string'
      ? (g.metadata.get('general.architecture')!.value as string)
      : undefined;
  const layers = arch ? g.metadata.get(`${arch}.block_count`)?.value : undefined;
  return {
    path: abs,
    kind: 'gguf',
    files: [{ name: path.basename(abs), size: g.fileSize, headerLength: g.dataStart, tensorCount: tensors.length }],
    tensors,
    metadata,
    config: {
      architecture: arch,
      modelType: typeof g.metadata.get('general.name')?.value === 'string' ? (g.metadata.get('general.name')!.value as string) : undefined,
      numLayers: typeof layers === 'number' ? layers : undefined,
    },
    gguf: { version: g.version, alignment: g.alignment },
    readMs: performance.now() - t0,
  };
}

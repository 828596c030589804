/**
 * The .safetensors viewer's model, from header(s) only: a file's header, or for an index each shard's header.
 * No tensor data is read, so it opens instantly however large the checkpoint (no vscode import; unit-tested).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { readIndex } from '../checkpoint/checkpoint';
import { InherituneError } from '../errors';
import { readHeader, SafetensorsHeader } from '../checkpoint/safetensors';
import type { ViewerModel, ViewerTensor } from '../shared/protocol';
import { buildGgufViewerModel } from './ggufViewerModel';

const LAYER_KEYS = ['num_hidden_layers', 'n_layer', 'num_layers', 'n_layers'];

async function readConfigSummary(dir: string): Promise<ViewerModel['config']> {
  try {
    const c = JSON.parse(await fsp.readFile(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const archs = c.architectures;
    const key = LAYER_KEYS.find((k) => typeof c[k] === 'number');
    return {
      architecture: Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined,
      modelType: typeof c.model_type === 'string' ? c.model_type : undefined,
      numLayers: key ? (c[key] as number) : undefined,
    };
  } catch {
    return undefined;
  }
}

export function isIndexFile(file: string): boolean {
  return file.endsWith('.index.json');
}

export async function buildViewerModel(file: string): Promise<ViewerModel> {
  if (file.toLowerCase().endsWith('.gguf')) return buildGgufViewerModel(file);
  const t0 = performance.now();
  const abs = path.resolve(file);
  const headers: SafetensorsHeader[] = [];
  let indexMetadata: Record<string, unknown> | undefined;
  let order: Map<string, string> | undefined;
  if (isIndexFile(abs)) {
    const index = await readIndex(abs);
    indexMetadata = index.metadata;
    order = index.weightMap;
    const shards = [...new Set(index.weightMap.values())].sort();
    for (const s of shards) {
      try {
        headers.push(await readHeader(s));
      } catch (e) {
        if (e instanceof InherituneError && e.code === 'E_NOT_FOUND') {
          throw new InherituneError(
            'E_INDEX',
            `${abs}: shard ${path.basename(s)} is listed in weight_map but missing from ${path.dirname(abs)}`,
            { file: s },
          );
        }
        throw e;
      }
    }
  } else {
    headers.push(await readHeader(abs));
  }
  const tensors: ViewerTensor[] = [];
  headers.forEach((h, fi) => {
    for (const t of h.tensors) {
      // For an index, only what the weight map assigns to this shard (a shard may hold strays).
      if (order && order.get(t.name) !== h.file) continue;
      tensors.push({ name: t.name, dtype: t.dtype, shape: t.shape, offset: t.begin - h.dataStart, bytes: t.end - t.begin, file: fi });
    }
  });
  const counts = headers.map(() => 0);
  for (const t of tensors) counts[t.file]++;
  return {
    path: abs,
    kind: order ? 'index' : 'file',
    files: headers.map((h, i) => ({ name: path.basename(h.file), size: h.fileSize, headerLength: h.headerLength, tensorCount: counts[i] })),
    tensors,
    metadata: headers[0]?.metadata ?? {},
    indexMetadata,
    config: await readConfigSummary(path.dirname(abs)),
    readMs: performance.now() - t0,
  };
}

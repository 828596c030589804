/** A checkpoint summary for `inheritune inspect`, the viewer and the report header. */
import * as path from 'node:path';
import { Checkpoint } from './checkpoint/checkpoint';
import { formatBytes, formatCount } from './shared/format';

export { formatBytes, formatCount };

export interface CheckpointSummary {
  path: string;
  family: string;
  architecture: string;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  hiddenSize: number;
  vocabSize: number;
  contextLength: number;
  params: number;
  bytes: number;
  dtypes: Record<string, number>;
  files: string[];
  tiedEmbeddings: boolean;
  provenance?: unknown;
  /** GGUF files: the stored ggml types (F32, Q4_K, ...) with their tensor counts and bytes, and the format version. */
  gguf?: { version: number; types: Record<string, { tensors: number; bytes: number }> };
}

export function summarize(c: Checkpoint): CheckpointSummary {
  const dtypes: Record<string, number> = {};
  for (const t of c.tensors.values()) dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
  let provenance: unknown;
  if (c.metadata.inheritune) {
    try {
      provenance = JSON.parse(c.metadata.inheritune);
    } catch {
      provenance = c.metadata.inheritune;
    }
  }
  let gguf: CheckpointSummary['gguf'];
  if (c.gguf) {
    const types: Record<string, { tensors: number; bytes: number }> = {};
    for (const t of c.gguf.tensors) {
      const e = (types[t.type.name] ??= { tensors: 0, bytes: 0 });
      e.tensors++;
      e.bytes += t.end - t.begin;
    }
    gguf = { version: c.gguf.version, types };
  }
  const archs = c.config.architectures;
  return {
    path: c.dir,
    family: c.spec.family,
    architecture: Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : c.spec.architectures[0],
    numLayers: c.dims.numLayers,
    numHeads: c.dims.heads,
    numKvHeads: c.dims.kvHeads,
    hiddenSize: c.dims.hidden,
    vocabSize: c.dims.vocab,
    contextLength: c.dims.ctx,
    params: c.numParams,
    bytes: c.totalBytes,
    dtypes,
    files: c.files.map((f) => path.basename(f.file)),
    tiedEmbeddings: c.tied,
    provenance,
    ...(gguf ? { path: c.gguf!.file, gguf } : {}),
  };
}

export function summaryText(s: CheckpointSummary): string {
  const lines = [
    `${s.path}`,
    `  ${s.architecture} (${s.family}): ${s.numLayers} layers, ${s.numHeads} heads${s.numKvHeads !== s.numHeads ? ` (${s.numKvHeads} kv)` : ''}, d = ${s.hiddenSize}, vocab ${s.vocabSize}, context ${s.contextLength}`,
    `  ${formatCount(s.params)} parameters, ${formatBytes(s.bytes)} in ${s.files.join(', ')} (${Object.entries(s.dtypes)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')})${s.tiedEmbeddings ? ', tied embeddings' : ''}`,
  ];
  if (s.gguf) {
    const types = Object.entries(s.gguf.types).map(([k, v]) => `${v.tensors} ${k} (${formatBytes(v.bytes)})`);
    lines.push(`  GGUF v${s.gguf.version} stores ${types.join(', ')}; surgery writes them as the dtypes above`);
  }
  if (s.provenance && typeof s.provenance === 'object') {
    const p = s.provenance as Record<string, unknown>;
    lines.push(
      `  made by ${p.tool ?? 'inheritune'}: ${p.op}${p.preset ? ` (preset ${p.preset})` : ''}${Array.isArray(p.layerMap) ? `, layers ${(p.layerMap as string[]).join(' ')}` : ''}`,
    );
  }
  return lines.join('\n');
}

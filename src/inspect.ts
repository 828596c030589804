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
  };
}

export function summaryText(s: CheckpointSummary): string {
  const lines = [
    `${s.path}`,
    `  ${s.architecture} (${s.family}): ${s.numLayers} layers, ${s.numHeads} heads${s.numKvHeads !== s.numHeads ? ` (${s.numKvHeads} kv)` : ''}, d = ${s.hiddenSize}, vocab ${s.vocabSize}, context ${s.contextLength}`,
    `  ${formatCount(s.params)} parameters, ${formatBytes(s.bytes)} in ${s.files.join(', ')} (${Object.entries(s.dtypes).map(([k, v]) => `${v} ${k}`).join(', ')})${s.tiedEmbeddings ? ', tied embeddings' : ''}`,
  ];
  if (s.provenance && typeof s.provenance === 'object') {
    const p = s.provenance as Record<string, unknown>;
    lines.push(`  made by ${p.tool ?? 'inheritune'}: ${p.op}${p.preset ? ` (preset ${p.preset})` : ''}${Array.isArray(p.layerMap) ? `, layers ${(p.layerMap as string[]).join(' ')}` : ''}`);
  }
  return lines.join('\n');
}

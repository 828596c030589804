/**
 * A .gguf file as a Checkpoint: config.json synthesized from the `{arch}.*` metadata through the architecture's map
 * (src/arch/gguf/*.json), tensors renamed to Hugging Face names, each carrying how to decode its stored blocks.
 * Everything downstream (validation, analysis, surgery) then treats it like a safetensors checkpoint.
 */
import * as path from 'node:path';
import { GGUF_ARCHS, ggufArchMap, ggufNameMatcher } from '../arch/ggufMap';
import { detectPrefix, isTied, readDims, specByFamily } from '../arch/spec';
import type { Checkpoint } from './checkpoint';
import type { ModelConfig } from './config';
import { DType } from './dtypes';
import { InherituneError } from '../errors';
import type { TensorInfo } from './safetensors';
import { GgufFile, metaNumber, metaString, readGgufHeader } from './ggufReader';
import { checkDecodable, GgufStored } from './ggufStored';

export interface GgufOpenOptions {
  /** Output dtype of every tensor; default: F32/F16/BF16 keep theirs, quantized tensors become F16. */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** Check that every tensor can be decoded (default true; inspect and the viewer show files we cannot decode). */
  validate?: boolean;
}

const KEEP: Record<string, DType> = { F32: 'F32', F16: 'F16', BF16: 'BF16' };

/** config.json for the file, from its metadata (and tensor shapes: vocabulary, tied output, biases). */
export function ggufConfig(g: GgufFile): { config: ModelConfig; arch: string } {
  const arch = metaString(g, 'general.architecture');
  if (arch === undefined)
    throw new InherituneError(
      'E_ARCH',
      `${g.file}: metadata has no general.architecture; this GGUF file does not say what model it holds`,
      { file: g.file },
    );
  const m = ggufArchMap(arch);
  if (!m) {
    throw new InherituneError(
      'E_ARCH',
      `${g.file}: GGUF architecture "${arch}" is not supported; supported: ${GGUF_ARCHS.map((a) => a.ggufArch).join(', ')}`,
      { file: g.file, arch },
    );
  }
  const config: ModelConfig = { ...m.config.fixed };
  for (const [key, metaKey] of Object.entries(m.config.keys)) {
    const v = g.metadata.get(`${arch}.${metaKey}`)?.value;
    if (typeof v === 'number' || typeof v === 'boolean') config[key] = v;
  }
  const byName = new Map(g.tensors.map((t) => [t.name, t]));
  const vocabT = byName.get(m.vocabFrom);
  // The embedding's rows are the vocabulary; files without one say it in metadata or in the tokenizer's token list.
  const tokens = g.metadata.get('tokenizer.ggml.tokens')?.value;
  const vocab =
    vocabT && vocabT.dims.length === 2
      ? vocabT.dims[1]
      : (metaNumber(g, `${arch}.vocab_size`) ??
        (typeof tokens === 'object' && tokens && 'values' in tokens ? tokens.values.length : undefined));
  if (vocab !== undefined) config.vocab_size = vocab;
  config.tie_word_embeddings = !byName.has(m.outputTensor);
  const match = ggufNameMatcher(m);
  for (const rule of m.tensors) if (rule.setsConfig) config[rule.setsConfig] = false;
  for (const t of g.tensors) {
    const r = match.map(t.name)?.rule;
    if (r?.setsConfig) config[r.setsConfig] = true;
  }
  const scaling = metaString(g, `${arch}.rope.scaling.type`);
  if (scaling && scaling !== 'none') {
    config.rope_scaling = {
      rope_type: scaling,
      factor: metaNumber(g, `${arch}.rope.scaling.factor`),
      original_max_position_embeddings: metaNumber(g, `${arch}.rope.scaling.original_context_length`),
    };
  }
  if (m.config.rotaryPctFrom) {
    const rot = metaNumber(g, `${arch}.${m.config.rotaryPctFrom}`);
    const hidden = config.hidden_size as number;
    const heads = config.num_attention_heads as number;
    if (rot !== undefined && hidden > 0 && heads > 0) config.rotary_pct = rot / (hidden / heads);
  }
  for (const [key, metaKey] of [
    ['bos_token_id', 'tokenizer.ggml.bos_token_id'],
    ['eos_token_id', 'tokenizer.ggml.eos_token_id'],
  ] as const) {
    const v = metaNumber(g, metaKey);
    if (v !== undefined) config[key] = v;
  }
  return { config, arch };
}

export function openGgufCheckpoint(file: string, opts: GgufOpenOptions = {}): Checkpoint {
  const g = readGgufHeader(file);
  const { config, arch } = ggufConfig(g);
  const m = ggufArchMap(arch)!;
  const spec = specByFamily(m.family);
  // Name the GGUF metadata key, not the config.json key it becomes, when a size the family needs is missing.
  for (const [key, metaKey] of Object.entries(m.config.keys)) {
    const needed = key === spec.numLayersKey || Object.values(spec.dims).some((r) => r.key === key && r.default === undefined);
    if (needed && config[key] === undefined) {
      throw new InherituneError(
        'E_CONFIG',
        `${file}: metadata ${arch}.${metaKey} is missing or not a number; ${m.family} needs it (${key}); the file is incomplete`,
        { file, key: `${arch}.${metaKey}` },
      );
    }
  }
  const dims = readDims(spec, config, file);
  const match = ggufNameMatcher(m);
  const tensors = new Map<string, TensorInfo>();
  let numParams = 0;
  const dtypes = new Set<DType>();
  for (const t of g.tensors) {
    const mapped = match.map(t.name);
    if (!mapped) {
      const why = match.refused(t.name);
      throw new InherituneError(
        'E_TENSOR',
        `${file}: tensor ${t.name} ${why ? `cannot be converted: ${why}` : `is not part of the ${arch} architecture as Inheritune maps it (src/arch/gguf/${arch}.json)`}`,
        { file, tensor: t.name },
      );
    }
    const { rule, hf } = mapped;
    let shape = [...t.dims].reverse();
    if (rule.transform === 'transpose') {
      if (shape.length !== 2)
        throw new InherituneError('E_TENSOR', `${file}: tensor ${t.name} has ${shape.length} dimensions, expected a matrix`, {
          file,
          tensor: t.name,
        });
      shape = [shape[1], shape[0]];
    }
    const stored: GgufStored = {
      kind: 'gguf',
      ggufName: t.name,
      type: t.type,
      dims: t.dims,
      transform: rule.transform,
      groups: rule.heads ? dims[rule.heads] : undefined,
    };
    if (opts.validate !== false) checkDecodable(stored, file);
    const dtype: DType = opts.dtype ?? KEEP[t.type.name] ?? 'F16';
    dtypes.add(dtype);
    tensors.set(hf, { name: hf, dtype, shape, begin: t.begin, end: t.end, file, stored });
    numParams += t.numel;
  }
  if (!config.torch_dtype) config.torch_dtype = dtypes.has('F16') ? 'float16' : dtypes.has('BF16') ? 'bfloat16' : 'float32';
  const header = {
    file,
    fileSize: g.fileSize,
    headerLength: g.dataStart,
    dataStart: g.dataStart,
    metadata: {},
    tensors: [...tensors.values()],
  };
  return {
    dir: path.dirname(file),
    configPath: file,
    config,
    spec,
    dims,
    prefix: detectPrefix(spec, new Set(tensors.keys())),
    tied: isTied(spec, config),
    files: [header],
    tensors,
    metadata: {},
    totalBytes: g.tensors.reduce((a, t) => a + (t.end - t.begin), 0),
    numParams,
    gguf: g,
  };
}

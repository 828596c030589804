/**
 * GGUF architectures → our family specs, as data (gguf/*.json beside specs/*.json): the config.json keys read from
 * `{arch}.*` metadata, and GGUF tensor names → Hugging Face names with the layout change llama.cpp's converter made
 * (rope row permutation of q/k, transposed Conv1D weights, regrouped fused qkv). No per-architecture code here.
 */
import llama from './gguf/llama.json';
import qwen2 from './gguf/qwen2.json';
import qwen3 from './gguf/qwen3.json';
import gpt2 from './gguf/gpt2.json';
import gptneox from './gguf/gptneox.json';

/** How the stored [rows, cols] matrix differs from the Hugging Face one. */
export type GgufTransform = 'unpermuteRope' | 'transpose' | 'interleaveQkv';

export interface GgufTensorRule {
  gguf: string;
  hf: string;
  transform?: GgufTransform;
  /** The dims entry (heads or kvHeads) the transform groups rows by. */
  heads?: 'heads' | 'kvHeads';
  /** A boolean config key set true when this tensor is present (attention_bias). */
  setsConfig?: string;
}

export interface GgufArchMap {
  ggufArch: string;
  family: string;
  description: string;
  config: {
    fixed: Record<string, unknown>;
    /** config.json key → metadata key below `{arch}.` */
    keys: Record<string, string>;
    /** GPT-NeoX: rotary_pct = this metadata value / head dim. */
    rotaryPctFrom?: string;
  };
  /** The tensor whose outer dimension is the vocabulary size. */
  vocabFrom: string;
  /** Absent in a file whose output is tied to the embedding. */
  outputTensor: string;
  tensors: GgufTensorRule[];
  /** GGUF tensor name → why this file cannot be converted. */
  refused: Record<string, string>;
}

export const GGUF_ARCHS: readonly GgufArchMap[] = [llama, qwen2, qwen3, gpt2, gptneox] as GgufArchMap[];

export function ggufArchMap(arch: string): GgufArchMap | undefined {
  return GGUF_ARCHS.find((a) => a.ggufArch === arch);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const templateRe = (t: string) => new RegExp('^' + escape(t).replace('\\{i\\}', '(\\d+)') + '$');

export interface MappedName {
  rule: GgufTensorRule;
  hf: string;
  layer: number;
}

/** Compiled name matching for one architecture. */
export function ggufNameMatcher(m: GgufArchMap): { map(name: string): MappedName | undefined; refused(name: string): string | undefined } {
  const rules = m.tensors.map((rule) => ({ rule, re: templateRe(rule.gguf) }));
  const refused = Object.entries(m.refused).map(([t, why]) => ({ re: templateRe(t), why }));
  return {
    map(name) {
      for (const { rule, re } of rules) {
        const x = re.exec(name);
        if (x) return { rule, hf: rule.hf.replace('{i}', x[1] ?? ''), layer: x[1] === undefined ? -1 : Number(x[1]) };
      }
      return undefined;
    },
    refused(name) {
      return refused.find((r) => r.re.test(name))?.why;
    },
  };
}

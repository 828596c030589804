/**
 * A Hugging Face tokenizer.json (and tokenizer_config.json) from a GGUF file's tokenizer metadata, for files that
 * come without tokenizer files: `tokenizer.ggml.model` gpt2 (byte-level BPE: tokens, merges, the pre-tokenizer of
 * `tokenizer.ggml.pre`) and llama (SentencePiece BPE with byte fallback; merges from the file or rebuilt from the
 * scores). It follows transformers' GGUF tokenizer conversion (integrations/gguf/gguf_tokenizer_mapping.py), which
 * the tests compare against, and llama.cpp's pre-tokenizer regexes (llama-vocab.cpp).
 */
import { InherituneError } from '../errors';
import { GgufArray, GgufFile, metaArray, metaBool, metaNumber, metaString } from './ggufReader';

export interface GgufTokenizer {
  /** tokenizer.json contents. */
  tokenizer: Record<string, unknown>;
  /** tokenizer_config.json contents. */
  config: Record<string, unknown>;
  /** "gpt2 (smollm)" etc., for reports. */
  kind: string;
}

const LLAMA3_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const byteLevel = (useRegex: boolean) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
const split = (regex: string) => ({
  type: 'Sequence',
  pretokenizers: [{ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false }, byteLevel(false)],
});

/**
 * Pre-tokenizers of byte-level vocabularies by `tokenizer.ggml.pre`. Anything else gets GPT-2's (ByteLevel with its
 * regex), as transformers does. smollm is GPT-2's split after single digits (llama.cpp's LLAMA_VOCAB_PRE_TYPE_SMOLLM,
 * SmolLM2's own tokenizer.json).
 */
const PRE_TOKENIZERS: Record<string, unknown> = {
  llama3: split(LLAMA3_SPLIT),
  'llama-v3': split(LLAMA3_SPLIT),
  'llama-bpe': split(LLAMA3_SPLIT),
  'smaug-bpe': split(LLAMA3_SPLIT),
  dbrx: split(LLAMA3_SPLIT),
  qwen2: split(QWEN2_SPLIT),
  'deepseek-r1-qwen': split(QWEN2_SPLIT),
  smollm: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true)] },
};

/** GPT-2's byte → printable character map (bytes_to_unicode). */
function bytesToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const out: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(keep.includes(b) ? b : 256 + n++);
  return out;
}

function strings(a: GgufArray | undefined, key: string, file: string): string[] {
  if (!a || !Array.isArray(a.values) || a.values.some((v) => typeof v !== 'string')) {
    throw new InherituneError(
      'E_INPUT',
      `${file}: tokenizer metadata ${key} is missing or not a list of strings; pass --tokens FILE or put a tokenizer.json beside the file`,
      { file },
    );
  }
  return a.values as string[];
}

function numbers(a: GgufArray | undefined): ArrayLike<number> | undefined {
  return a && !Array.isArray(a.values) ? (a.values as ArrayLike<number>) : undefined;
}

/** transformers' generate_merges: every split of every token into two tokens, best score first. */
function mergesFromScores(tokens: string[], scores: ArrayLike<number>): [string, string][] {
  const vocab = new Map(tokens.map((t, i) => [t, i]));
  const all: [string, string, number][] = [];
  tokens.forEach((tok, i) => {
    const local: [string, string, number][] = [];
    const chars = [...tok];
    for (let k = 1; k < chars.length; k++) {
      const l = chars.slice(0, k).join('');
      const r = chars.slice(k).join('');
      if (vocab.has(l) && vocab.has(r)) local.push([l, r, scores[i]]);
    }
    local.sort((a, b) => vocab.get(a[0])! - vocab.get(b[0])! || vocab.get(a[1])! - vocab.get(b[1])!);
    all.push(...local);
  });
  // sorted(..., key=(score, len(l), len(r)), reverse=True) is stable: ties keep their order.
  const len = (s: string) => [...s].length;
  const idx = all.map((m, i) => ({ m, i }));
  idx.sort((a, b) => b.m[2] - a.m[2] || len(b.m[0]) - len(a.m[0]) || len(b.m[1]) - len(a.m[1]) || a.i - b.i);
  return idx.map(({ m }) => [m[0], m[1]]);
}

/** The tokenizer the file describes, or undefined with the reason when its type is not one we build. */
export function ggufTokenizer(g: GgufFile): GgufTokenizer | { unsupported: string } {
  const model = metaString(g, 'tokenizer.ggml.model');
  if (model !== 'gpt2' && model !== 'llama') {
    return {
      unsupported:
        model === undefined
          ? 'the file has no tokenizer metadata'
          : `its tokenizer type "${model}" is not one Inheritune builds (gpt2, llama)`,
    };
  }
  const file = g.file;
  const tokens = strings(metaArray(g, 'tokenizer.ggml.tokens'), 'tokenizer.ggml.tokens', file);
  const types = numbers(metaArray(g, 'tokenizer.ggml.token_type'));
  const id = (k: string) => metaNumber(g, `tokenizer.ggml.${k}`);
  const tokenAt = (i: number | undefined) => (i !== undefined && i >= 0 && i < tokens.length ? tokens[i] : undefined);
  const bos = tokenAt(id('bos_token_id'));
  const eos = tokenAt(id('eos_token_id'));
  const unk = tokenAt(id('unknown_token_id'));
  const pad = tokenAt(id('padding_token_id'));
  const byteLevelVocab = model === 'gpt2';
  const alphabet = byteLevelVocab ? bytesToUnicode() : [];
  const alphabetSet = new Set(alphabet);
  const inAlphabet = (t: string) => [...t].every((c) => alphabetSet.has(c));

  const added: Record<string, unknown>[] = [];
  if (types) {
    for (let i = 0; i < tokens.length; i++) {
      // 3 = CONTROL (special, e.g. <|endoftext|>), 4 = USER_DEFINED (added, not special)
      if (types[i] === 3 && (!byteLevelVocab || inAlphabet(tokens[i])))
        added.push({ id: i, content: tokens[i], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
      else if (types[i] === 4)
        added.push({ id: i, content: tokens[i], single_word: false, lstrip: false, rstrip: false, normalized: false, special: false });
    }
  }
  const addBos = metaBool(g, 'tokenizer.ggml.add_bos_token') ?? model === 'llama';
  const addEos = metaBool(g, 'tokenizer.ggml.add_eos_token') ?? false;
  const single: unknown[] = [];
  const specials: Record<string, unknown> = {};
  if (addBos && bos !== undefined) {
    single.push({ SpecialToken: { id: bos, type_id: 0 } });
    specials[bos] = { id: bos, ids: [tokens.indexOf(bos)], tokens: [bos] };
  }
  single.push({ Sequence: { id: 'A', type_id: 0 } });
  if (addEos && eos !== undefined) {
    single.push({ SpecialToken: { id: eos, type_id: 0 } });
    specials[eos] = { id: eos, ids: [tokens.indexOf(eos)], tokens: [eos] };
  }
  const postProcessor = {
    type: 'TemplateProcessing',
    single,
    pair: [...single, ...single.map((s) => ('Sequence' in (s as object) ? { Sequence: { id: 'B', type_id: 1 } } : s))],
    special_tokens: specials,
  };

  let tokenizer: Record<string, unknown>;
  let kind: string;
  if (byteLevelVocab) {
    const utf8 = new TextEncoder();
    const vocab: Record<string, number> = {};
    tokens.forEach((t, i) => {
      vocab[inAlphabet(t) ? t : [...utf8.encode(t)].map((b) => alphabet[b]).join('')] = i;
    });
    const merges = strings(metaArray(g, 'tokenizer.ggml.merges'), 'tokenizer.ggml.merges', file).map((m) => m.split(' '));
    const pre = metaString(g, 'tokenizer.ggml.pre') ?? 'default';
    kind = `gpt2 BPE (pre-tokenizer ${pre})`;
    tokenizer = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: PRE_TOKENIZERS[pre] ?? byteLevel(true),
      post_processor: postProcessor,
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: '',
        end_of_word_suffix: '',
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab,
        merges,
      },
    };
  } else {
    const vocab: Record<string, number> = {};
    tokens.forEach((t, i) => (vocab[t] = i));
    const mergeList = metaArray(g, 'tokenizer.ggml.merges');
    const scores = numbers(metaArray(g, 'tokenizer.ggml.scores'));
    let merges: string[][];
    if (mergeList) merges = strings(mergeList, 'tokenizer.ggml.merges', file).map((m) => m.split(' '));
    else if (scores && scores.length === tokens.length) merges = mergesFromScores(tokens, scores);
    else
      throw new InherituneError(
        'E_INPUT',
        `${file}: a SentencePiece tokenizer needs tokenizer.ggml.merges or tokenizer.ggml.scores; pass --tokens FILE or put a tokenizer.json beside the file`,
        { file },
      );
    const prefix = metaBool(g, 'tokenizer.ggml.add_space_prefix') ?? true;
    kind = 'llama SentencePiece BPE';
    tokenizer = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: prefix ? 'first' : 'never', split: false },
      post_processor: postProcessor,
      decoder: {
        type: 'Sequence',
        decoders: [
          { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
          { type: 'ByteFallback' },
          { type: 'Fuse' },
          ...(prefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
        ],
      },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: unk ?? null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: true,
        byte_fallback: true,
        ignore_merges: false,
        vocab,
        merges,
      },
    };
  }
  const config: Record<string, unknown> = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    add_bos_token: addBos,
    add_eos_token: addEos,
    model_max_length: metaNumber(g, `${metaString(g, 'general.architecture')}.context_length`),
    ...(bos !== undefined ? { bos_token: bos } : {}),
    ...(eos !== undefined ? { eos_token: eos } : {}),
    ...(unk !== undefined ? { unk_token: unk } : {}),
    ...(pad !== undefined ? { pad_token: pad } : {}),
  };
  const chat = metaString(g, 'tokenizer.chat_template');
  if (chat) config.chat_template = chat;
  return { tokenizer, config, kind };
}

/**
 * Token input for the analysis: --text FILE (the checkpoint's tokenizer.json through @huggingface/tokenizers, or the
 * GPT-2 BPE ranks from gpt-tokenizer for GPT-2 checkpoints without tokenizer files), --tokens FILE (nanoGPT uint16
 * .bin, or .npy), or the built-in text.
 *
 * Text is encoded as the model sees it in use: with the special tokens transformers' `tokenizer(text)` adds (the
 * tokenizer.json post-processor, or the template transformers' Llama-style tokenizer classes build from
 * `add_bos_token` / `add_eos_token`), unless `specialTokens: false`. Each sequence is the tokenizer's prefix (e.g.
 * BOS) followed by a window of the text's tokens; sequence 0 starts at the beginning of the text, so it equals
 * `tokenizer(text)["input_ids"][:T]`, and the others start at offsets drawn from the seed.
 *
 * Token files are used as given: when a file holds exactly B×T tokens, sequence b is tokens[b·T, (b+1)·T) in order;
 * otherwise B windows are drawn from the seed.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Checkpoint } from '../checkpoint/checkpoint';
import { ggufTokenizer } from '../checkpoint/ggufTokenizer';
import { InherituneError } from '../errors';
import type { ReportInput } from '../shared/report';
import { Rng } from '../util/random';
import { DEFAULT_TEXT } from './defaultText';

export interface InputOptions {
  textFile?: string;
  tokensFile?: string;
  /** Add the tokenizer's special tokens to text (default true, as transformers' `tokenizer(text)`). */
  specialTokens?: boolean;
  batch: number;
  seqLen: number;
  seed: number;
}

export interface TokenBatch {
  tokens: Int32Array; // [batch * T]
  batch: number;
  T: number;
  /** "text:FILE (tokenizer)", "tokens:FILE", "builtin (tokenizer)" or "random (seed S)". */
  description: string;
  /** What the report records about the input (schema in src/shared/report.ts). */
  input: ReportInput;
}

export interface Encoder {
  name: string;
  /** The text's tokens without any special tokens. */
  encode: (text: string) => number[];
  /** The ids `tokenizer(text)` puts before and after the text's tokens (empty when it adds none). */
  prefix: number[];
  suffix: number[];
  /** One token as text: the decoder's piece, or its bytes as \xNN when the token is part of a UTF-8 character. */
  piece: (id: number) => string;
}

/**
 * Tokenizer classes whose transformers implementation rebuilds the post-processor from add_bos_token/add_eos_token
 * (their `update_post_processor`), with the class's default for add_bos_token. Other classes use tokenizer.json's
 * post-processor as it is.
 */
const TEMPLATE_CLASSES: Record<string, boolean> = {
  LlamaTokenizer: true,
  LlamaTokenizerFast: true,
  CodeLlamaTokenizer: true,
  CodeLlamaTokenizerFast: true,
  GemmaTokenizer: true,
  GemmaTokenizerFast: true,
  CohereTokenizerFast: true,
  GPTNeoXTokenizerFast: false,
};

function tokenContent(t: unknown): string | undefined {
  if (typeof t === 'string') return t;
  if (t && typeof t === 'object' && typeof (t as { content?: unknown }).content === 'string') return (t as { content: string }).content;
  return undefined;
}

/** GPT-2's byte-level alphabet: the printable character that stands for each byte in byte-level BPE vocabularies. */
function byteLevelDecoder(): Map<string, number> {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  return new Map(bs.map((b, i) => [String.fromCharCode(cs[i]), b]));
}

/** A piece the decoder could not make whole (part of a UTF-8 character) shown as its bytes. */
function readablePiece(decoded: string, raw: string | undefined, bytes: Map<string, number>): string {
  if (!decoded.includes('�') || raw === undefined) return decoded;
  const bs = [...raw].map((c) => bytes.get(c));
  if (bs.some((b) => b === undefined)) return decoded;
  return bs.map((b) => `\\x${b!.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}

/** Where the text's own tokens sit inside the encoding with special tokens: what comes before and after them. */
function affixes(withSpecial: number[], plain: number[]): { prefix: number[]; suffix: number[] } {
  for (let i = 0; i + plain.length <= withSpecial.length; i++) {
    if (plain.every((t, j) => withSpecial[i + j] === t))
      return { prefix: withSpecial.slice(0, i), suffix: withSpecial.slice(i + plain.length) };
  }
  return { prefix: [], suffix: [] };
}

/** An encoder from a tokenizer.json and its tokenizer_config.json (from files, or built from a .gguf's metadata). */
async function hfEncoder(
  name: string,
  tokenizerJson: unknown,
  config: Record<string, unknown>,
  where: string,
  configWhere: string,
  specialTokens: boolean,
): Promise<Encoder> {
  const { Tokenizer } = await import('@huggingface/tokenizers');
  let tok: InstanceType<typeof Tokenizer>;
  try {
    tok = new Tokenizer(tokenizerJson as never, config as never);
  } catch (e) {
    throw new InherituneError('E_INPUT', `${where}: cannot load the tokenizer (${(e as Error).message}); pass --tokens FILE instead`, {
      file: where,
    });
  }
  const encode = (t: string) => tok.encode(t, { add_special_tokens: false }).ids;
  let prefix: number[] = [];
  let suffix: number[] = [];
  if (specialTokens) {
    const cls = typeof config.tokenizer_class === 'string' ? config.tokenizer_class : '';
    if (cls in TEMPLATE_CLASSES) {
      const special = (key: string, flag: string, dflt: boolean): number[] => {
        const on = typeof config[flag] === 'boolean' ? (config[flag] as boolean) : dflt;
        if (!on) return [];
        const content = tokenContent(config[key]);
        const id = content === undefined ? undefined : tok.token_to_id(content);
        if (id === undefined)
          throw new InherituneError(
            'E_INPUT',
            `${configWhere}: ${flag} is on but ${key} ${JSON.stringify(content ?? null)} is not in ${where}; fix the tokenizer files or analyse without special tokens (--no-special-tokens)`,
            { file: where },
          );
        return [id];
      };
      prefix = special('bos_token', 'add_bos_token', TEMPLATE_CLASSES[cls]);
      suffix = special('eos_token', 'add_eos_token', false);
    } else {
      const probe = 'The quick brown fox.';
      ({ prefix, suffix } = affixes(tok.encode(probe, { add_special_tokens: true }).ids, encode(probe)));
    }
  }
  const bytes = byteLevelDecoder();
  const piece = (id: number) => readablePiece(tok.decode([id], { clean_up_tokenization_spaces: false }), tok.id_to_token(id), bytes);
  return { name, encode, prefix, suffix, piece };
}

/**
 * The checkpoint's tokenizer: tokenizer.json, else the one a .gguf's metadata describes, else GPT-2's BPE for gpt2,
 * else none.
 */
export async function loadEncoder(ckpt: Checkpoint, specialTokens = true): Promise<Encoder | undefined> {
  const tj = path.join(ckpt.dir, 'tokenizer.json');
  const json = await fsp.readFile(tj, 'utf8').catch(() => undefined);
  if (json !== undefined) {
    let tokenizerJson: unknown;
    let config: Record<string, unknown> = {};
    try {
      tokenizerJson = JSON.parse(json);
      const cfg = await fsp.readFile(path.join(ckpt.dir, 'tokenizer_config.json'), 'utf8').catch(() => undefined);
      if (cfg) config = JSON.parse(cfg) as Record<string, unknown>;
    } catch (e) {
      throw new InherituneError('E_JSON', `${tj}: invalid JSON (${(e as Error).message})`, { file: tj });
    }
    return hfEncoder('tokenizer.json', tokenizerJson, config, tj, path.join(ckpt.dir, 'tokenizer_config.json'), specialTokens);
  }
  if (ckpt.gguf) {
    // A .gguf without tokenizer files beside it: the tokenizer its metadata describes.
    const built = ggufTokenizer(ckpt.gguf);
    if ('unsupported' in built) {
      throw new InherituneError(
        'E_INPUT',
        `${ckpt.gguf.file}: cannot tokenize text: ${built.unsupported}; pass --tokens FILE or put a tokenizer.json beside the file`,
        { file: ckpt.gguf.file },
      );
    }
    return hfEncoder(`GGUF ${built.kind}`, built.tokenizer, built.config, ckpt.gguf.file, ckpt.gguf.file, specialTokens);
  }
  if (ckpt.spec.family === 'gpt2') {
    // GPT-2's tokenizer adds no special tokens by default (GPT2TokenizerFast: add_bos_token false).
    const { encode, decode } = await import('gpt-tokenizer/encoding/r50k_base');
    // gpt-tokenizer has no per-token bytes; a piece of a multi-byte character decodes to U+FFFD.
    const piece = (id: number) => decode([id]);
    return { name: 'GPT-2 BPE', encode: (t) => encode(t), prefix: [], suffix: [], piece };
  }
  return undefined;
}

/** Parse a nanoGPT uint16 .bin or a 1-D/2-D integer .npy file. */
export function parseTokenFile(file: string, buf: Uint8Array): Int32Array {
  if (file.endsWith('.npy')) return parseNpy(file, buf);
  if (buf.byteLength % 2 !== 0)
    throw new InherituneError(
      'E_INPUT',
      `${file}: ${buf.byteLength} bytes is not a whole number of uint16 tokens; a .bin must be nanoGPT's uint16 format`,
      { file },
    );
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Int32Array(buf.byteLength / 2);
  for (let i = 0; i < out.length; i++) out[i] = dv.getUint16(i * 2, true);
  return out;
}

function parseNpy(file: string, buf: Uint8Array): Int32Array {
  const bad = (why: string) => new InherituneError('E_INPUT', `${file}: not a readable .npy token file (${why})`, { file });
  if (buf.byteLength < 10 || buf[0] !== 0x93 || String.fromCharCode(...buf.subarray(1, 6)) !== 'NUMPY')
    throw bad('missing the \\x93NUMPY magic');
  const major = buf[6];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = major === 1 ? 10 + hlen : 12 + hlen;
  if (start > buf.byteLength) throw bad('header longer than the file');
  const header = new TextDecoder().decode(buf.subarray(major === 1 ? 10 : 12, start));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shape === undefined) throw bad('cannot parse the header');
  if (fortran === 'True') throw bad('Fortran order is not supported');
  const dims = shape
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const kinds: Record<string, [number, (o: number) => number]> = {
    '<u2': [2, (o) => dv.getUint16(o, true)],
    '<i2': [2, (o) => dv.getInt16(o, true)],
    '<u4': [4, (o) => dv.getUint32(o, true)],
    '<i4': [4, (o) => dv.getInt32(o, true)],
    '<i8': [8, (o) => Number(dv.getBigInt64(o, true))],
    '<u8': [8, (o) => Number(dv.getBigUint64(o, true))],
    '|u1': [1, (o) => dv.getUint8(o)],
  };
  const k = kinds[descr];
  if (!k) throw bad(`dtype ${descr}; use integer tokens (uint16, int32 or int64)`);
  if (start + n * k[0] > buf.byteLength)
    throw bad(`shape (${shape}) needs ${n * k[0]} bytes of data but the file has ${buf.byteLength - start}`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = k[1](start + i * k[0]);
    if (v < 0 || v > 0x7fffffff)
      throw new InherituneError('E_INPUT', `${file}: token ${v} at position ${i} is not a valid token id`, { file });
    out[i] = v;
  }
  return out;
}

/** Arrange a token stream into B sequences of T: in order when it holds exactly B×T, else B seeded windows. */
export function windows(stream: Int32Array, batch: number, T: number, seed: number, source: string): Int32Array {
  if (stream.length === batch * T) return stream.slice();
  if (stream.length < T) {
    throw new InherituneError(
      'E_INPUT',
      `${source}: ${stream.length} tokens, fewer than --seq-len ${T}; give more text or a smaller --seq-len`,
    );
  }
  const out = new Int32Array(batch * T);
  const rng = new Rng(seed ^ 0x5eed);
  for (let b = 0; b < batch; b++) {
    const start = Math.floor(rng.uniform() * (stream.length - T + 1));
    out.set(stream.subarray(start, start + T), b * T);
  }
  return out;
}

function checkVocab(tokens: Int32Array, vocab: number, source: string): void {
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] < 0 || tokens[i] >= vocab) {
      throw new InherituneError(
        'E_INPUT',
        `${source}: token id ${tokens[i]} at position ${i} is beyond the model's vocabulary (${vocab}); the tokens were made for another tokenizer`,
      );
    }
  }
}

/**
 * B sequences of T from a text's tokens, each the tokenizer's prefix (e.g. BOS) and then a window of the text:
 * sequence 0 from the start (so it is `tokenizer(text)["input_ids"][:T]`), the others from seeded offsets. A suffix
 * (add_eos_token) is not placed: the windows are cut from running text, as `[:T]` cuts it.
 */
export function textWindows(content: Int32Array, prefix: number[], batch: number, T: number, seed: number, source: string): Int32Array {
  const L = T - prefix.length;
  if (L < 1)
    throw new InherituneError(
      'E_INPUT',
      `${source}: --seq-len ${T} leaves no room after the ${prefix.length} special tokens; use a larger --seq-len`,
    );
  if (content.length < L) {
    throw new InherituneError(
      'E_INPUT',
      `${source}: ${content.length + prefix.length} tokens, fewer than --seq-len ${T}; give more text or a smaller --seq-len`,
    );
  }
  const out = new Int32Array(batch * T);
  const rng = new Rng(seed ^ 0x5eed);
  for (let b = 0; b < batch; b++) {
    const start = b === 0 ? 0 : Math.floor(rng.uniform() * (content.length - L + 1));
    out.set(prefix, b * T);
    out.set(content.subarray(start, start + L), b * T + prefix.length);
  }
  return out;
}

function firstSequence(tokens: Int32Array, T: number, encoder: Encoder | undefined): ReportInput['firstSequence'] {
  const ids = Array.from(tokens.subarray(0, T));
  return { ids, pieces: encoder ? ids.map((id) => encoder.piece(id)) : null };
}

export async function prepareTokens(ckpt: Checkpoint, o: InputOptions): Promise<TokenBatch> {
  const { batch, seqLen: T, seed } = o;
  const vocab = ckpt.dims.vocab;
  if (o.tokensFile) {
    const buf = await fsp.readFile(o.tokensFile).catch((e: NodeJS.ErrnoException) => {
      throw new InherituneError('E_NOT_FOUND', `${o.tokensFile}: cannot read the token file (${e.code ?? e.message})`, {
        file: o.tokensFile,
      });
    });
    const stream = parseTokenFile(o.tokensFile, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    const tokens = windows(stream, batch, T, seed, o.tokensFile);
    checkVocab(tokens, vocab, o.tokensFile);
    // Used as given; the tokenizer (when there is one) only names the pieces.
    const encoder = await loadEncoder(ckpt, false).catch(() => undefined);
    const input: ReportInput = {
      source: 'tokens',
      file: o.tokensFile,
      tokenCount: stream.length,
      specialTokens: false,
      specialTokenIds: [],
      firstSequence: firstSequence(tokens, T, encoder),
    };
    if (encoder) input.tokenizer = encoder.name;
    return { tokens, batch, T, description: `tokens:${o.tokensFile}`, input };
  }
  const special = o.specialTokens ?? true;
  const encoder = await loadEncoder(ckpt, special);
  const inputOf = (source: 'text' | 'builtin', tokens: Int32Array, count: number, enc: Encoder, file?: string): ReportInput => ({
    source,
    ...(file ? { file } : {}),
    tokenizer: enc.name,
    tokenCount: count,
    specialTokens: enc.prefix.length + enc.suffix.length > 0,
    specialTokenIds: enc.prefix.slice(),
    firstSequence: firstSequence(tokens, T, enc),
  });
  const specialNote = (enc: Encoder) => (enc.prefix.length ? ', special tokens' : '');
  if (o.textFile) {
    const text = await fsp.readFile(o.textFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new InherituneError('E_NOT_FOUND', `${o.textFile}: cannot read the text file (${e.code ?? e.message})`, { file: o.textFile });
    });
    if (!encoder) {
      throw new InherituneError(
        'E_INPUT',
        `${ckpt.dir} has no tokenizer.json to tokenize ${o.textFile}; add the tokenizer files or pass --tokens FILE`,
        { file: ckpt.dir },
      );
    }
    const content = Int32Array.from(encoder.encode(text));
    const tokens = textWindows(content, encoder.prefix, batch, T, seed, o.textFile);
    checkVocab(tokens, vocab, `${o.textFile} (${encoder.name})`);
    const count = encoder.prefix.length + content.length + encoder.suffix.length;
    return {
      tokens,
      batch,
      T,
      description: `text:${o.textFile} (${encoder.name}${specialNote(encoder)})`,
      input: inputOf('text', tokens, count, encoder, o.textFile),
    };
  }
  if (encoder) {
    const once = encoder.encode(DEFAULT_TEXT);
    let ids = once;
    if (ids.length > 0 && ids.every((t) => t < vocab) && encoder.prefix.every((t) => t < vocab)) {
      while (ids.length < T) ids = ids.concat(once);
      const tokens = textWindows(Int32Array.from(ids), encoder.prefix, batch, T, seed, 'built-in text');
      const count = encoder.prefix.length + once.length + encoder.suffix.length;
      return {
        tokens,
        batch,
        T,
        description: `builtin (${encoder.name}${specialNote(encoder)})`,
        input: inputOf('builtin', tokens, count, encoder),
      };
    }
  }
  // No usable tokenizer (synthetic checkpoints): seeded random tokens over the vocabulary.
  const rng = new Rng(seed ^ 0x70c3);
  const tokens = new Int32Array(batch * T);
  for (let i = 0; i < tokens.length; i++) tokens[i] = Math.floor(rng.uniform() * vocab);
  return {
    tokens,
    batch,
    T,
    description: `random (seed ${seed})`,
    input: {
      source: 'random',
      tokenCount: tokens.length,
      specialTokens: false,
      specialTokenIds: [],
      firstSequence: firstSequence(tokens, T, undefined),
    },
  };
}

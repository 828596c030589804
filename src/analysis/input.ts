/**
 * Token input for the analysis: --text FILE (the checkpoint's tokenizer.json through @huggingface/tokenizers, or the
 * GPT-2 BPE ranks from gpt-tokenizer for GPT-2 checkpoints without tokenizer files), --tokens FILE (nanoGPT uint16
 * .bin, or .npy), or the built-in text. When a token file holds exactly B×T tokens, sequence b is tokens[b·T, (b+1)·T)
 * in order; otherwise B windows are drawn from the seed.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Checkpoint } from '../checkpoint/checkpoint';
import { InherituneError } from '../checkpoint/errors';
import { ggufTokenizer } from '../checkpoint/gguf/tokenizer';
import { Rng } from '../surgery/init';
import { DEFAULT_TEXT } from './defaultText';

export interface InputOptions {
  textFile?: string;
  tokensFile?: string;
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
}

type Encoder = { name: string; encode: (text: string) => number[] };

/** The checkpoint's tokenizer: tokenizer.json, else the one a .gguf's metadata describes, else GPT-2's BPE for gpt2, else none. */
export async function loadEncoder(ckpt: Checkpoint): Promise<Encoder | undefined> {
  const tj = path.join(ckpt.dir, 'tokenizer.json');
  const json = await fsp.readFile(tj, 'utf8').catch(() => undefined);
  if (json !== undefined) {
    let tokenizerJson: unknown;
    let config: unknown = {};
    try {
      tokenizerJson = JSON.parse(json);
      const cfg = await fsp.readFile(path.join(ckpt.dir, 'tokenizer_config.json'), 'utf8').catch(() => undefined);
      if (cfg) config = JSON.parse(cfg);
    } catch (e) {
      throw new InherituneError('E_JSON', `${tj}: invalid JSON (${(e as Error).message})`, { file: tj });
    }
    const { Tokenizer } = await import('@huggingface/tokenizers');
    let tok: InstanceType<typeof Tokenizer>;
    try {
      tok = new Tokenizer(tokenizerJson as never, config as never);
    } catch (e) {
      throw new InherituneError('E_INPUT', `${tj}: cannot load the tokenizer (${(e as Error).message}); pass --tokens FILE instead`, { file: tj });
    }
    return { name: 'tokenizer.json', encode: (t) => tok.encode(t, { add_special_tokens: false }).ids };
  }
  if (ckpt.gguf) {
    // A .gguf without tokenizer files beside it: the tokenizer its metadata describes.
    const built = ggufTokenizer(ckpt.gguf);
    if ('unsupported' in built) {
      throw new InherituneError('E_INPUT', `${ckpt.gguf.file}: cannot tokenize text: ${built.unsupported}; pass --tokens FILE or put a tokenizer.json beside the file`, { file: ckpt.gguf.file });
    }
    const { Tokenizer } = await import('@huggingface/tokenizers');
    const tok = new Tokenizer(built.tokenizer as never, built.config as never);
    return { name: `GGUF ${built.kind}`, encode: (t) => tok.encode(t, { add_special_tokens: false }).ids };
  }
  if (ckpt.spec.family === 'gpt2') {
    const { encode } = await import('gpt-tokenizer/encoding/r50k_base');
    return { name: 'GPT-2 BPE', encode: (t) => encode(t) };
  }
  return undefined;
}

/** Parse a nanoGPT uint16 .bin or a 1-D/2-D integer .npy file. */
export function parseTokenFile(file: string, buf: Uint8Array): Int32Array {
  if (file.endsWith('.npy')) return parseNpy(file, buf);
  if (buf.byteLength % 2 !== 0) throw new InherituneError('E_INPUT', `${file}: ${buf.byteLength} bytes is not a whole number of uint16 tokens; a .bin must be nanoGPT's uint16 format`, { file });
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Int32Array(buf.byteLength / 2);
  for (let i = 0; i < out.length; i++) out[i] = dv.getUint16(i * 2, true);
  return out;
}

function parseNpy(file: string, buf: Uint8Array): Int32Array {
  const bad = (why: string) => new InherituneError('E_INPUT', `${file}: not a readable .npy token file (${why})`, { file });
  if (buf.byteLength < 10 || buf[0] !== 0x93 || String.fromCharCode(...buf.subarray(1, 6)) !== 'NUMPY') throw bad('missing the \\x93NUMPY magic');
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
  const dims = shape.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
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
  if (start + n * k[0] > buf.byteLength) throw bad(`shape (${shape}) needs ${n * k[0]} bytes of data but the file has ${buf.byteLength - start}`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = k[1](start + i * k[0]);
    if (v < 0 || v > 0x7fffffff) throw new InherituneError('E_INPUT', `${file}: token ${v} at position ${i} is not a valid token id`, { file });
    out[i] = v;
  }
  return out;
}

/** Arrange a token stream into B sequences of T: in order when it holds exactly B×T, else B seeded windows. */
export function windows(stream: Int32Array, batch: number, T: number, seed: number, source: string): Int32Array {
  if (stream.length === batch * T) return stream.slice();
  if (stream.length < T) {
    throw new InherituneError('E_INPUT', `${source}: ${stream.length} tokens, fewer than --seq-len ${T}; give more text or a smaller --seq-len`);
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
      throw new InherituneError('E_INPUT', `${source}: token id ${tokens[i]} at position ${i} is beyond the model's vocabulary (${vocab}); the tokens were made for another tokenizer`);
    }
  }
}

export async function prepareTokens(ckpt: Checkpoint, o: InputOptions): Promise<TokenBatch> {
  const { batch, seqLen: T, seed } = o;
  const vocab = ckpt.dims.vocab;
  if (o.tokensFile) {
    const buf = await fsp.readFile(o.tokensFile).catch((e: NodeJS.ErrnoException) => {
      throw new InherituneError('E_NOT_FOUND', `${o.tokensFile}: cannot read the token file (${e.code ?? e.message})`, { file: o.tokensFile });
    });
    const stream = parseTokenFile(o.tokensFile, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    const tokens = windows(stream, batch, T, seed, o.tokensFile);
    checkVocab(tokens, vocab, o.tokensFile);
    return { tokens, batch, T, description: `tokens:${o.tokensFile}` };
  }
  const encoder = await loadEncoder(ckpt);
  if (o.textFile) {
    const text = await fsp.readFile(o.textFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new InherituneError('E_NOT_FOUND', `${o.textFile}: cannot read the text file (${e.code ?? e.message})`, { file: o.textFile });
    });
    if (!encoder) {
      throw new InherituneError('E_INPUT', `${ckpt.dir} has no tokenizer.json to tokenize ${o.textFile}; add the tokenizer files or pass --tokens FILE`, { file: ckpt.dir });
    }
    const stream = Int32Array.from(encoder.encode(text));
    const tokens = windows(stream, batch, T, seed, o.textFile);
    checkVocab(tokens, vocab, `${o.textFile} (${encoder.name})`);
    return { tokens, batch, T, description: `text:${o.textFile} (${encoder.name})` };
  }
  if (encoder) {
    let ids = encoder.encode(DEFAULT_TEXT);
    if (ids.every((t) => t < vocab) && ids.length > 0) {
      while (ids.length < T) ids = ids.concat(ids);
      return { tokens: windows(Int32Array.from(ids), batch, T, seed, 'built-in text'), batch, T, description: `builtin (${encoder.name})` };
    }
  }
  // No usable tokenizer (synthetic checkpoints): seeded random tokens over the vocabulary.
  const rng = new Rng(seed ^ 0x70c3);
  const tokens = new Int32Array(batch * T);
  for (let i = 0; i < tokens.length; i++) tokens[i] = Math.floor(rng.uniform() * vocab);
  return { tokens, batch, T, description: `random (seed ${seed})` };
}

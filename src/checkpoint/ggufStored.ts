/**
 * Tensors whose bytes in the file are not the Hugging Face tensor itself: GGUF blocks (maybe quantized) in ggml
 * order, maybe with a layout change from llama.cpp's converter. Decoding gives the Hugging Face tensor as float32.
 */
import type { GgufTransform } from '../arch/ggufMap';
import { InherituneError } from '../errors';
import { canDequantize, dequantize, DEQUANT_TYPES } from './ggufDequant';
import { GgmlType } from './ggufTypes';

export interface GgufStored {
  kind: 'gguf';
  /** The tensor's name in the .gguf file. */
  ggufName: string;
  type: GgmlType;
  /** ggml dims (dims[0] innermost). */
  dims: number[];
  transform?: GgufTransform;
  /** Head count the transform groups rows by. */
  groups?: number;
}

export type StoredTensor = GgufStored;

/** Refuse a type we cannot dequantize, naming the file, tensor and type. */
export function checkDecodable(s: GgufStored, file: string): void {
  if (!canDequantize(s.type)) {
    throw new InherituneError(
      'E_DTYPE',
      `${file}: tensor ${s.ggufName} is stored as ${s.type.name}, which Inheritune cannot dequantize (supported: ${DEQUANT_TYPES.join(', ')}); ` +
        `re-quantize the model with one of those types (llama.cpp's llama-quantize, e.g. Q8_0 or Q4_K_M)`,
      { file, tensor: s.ggufName, type: s.type.name },
    );
  }
}

/** Bytes of one stored row (dims[0] values). */
export function storedRowBytes(s: GgufStored): number {
  return (s.dims[0] / s.type.blockSize) * s.type.typeSize;
}

/** The Hugging Face tensor from its stored bytes. */
export function decodeStored(s: GgufStored, raw: Uint8Array, file: string): Float32Array {
  checkDecodable(s, file);
  const x = dequantize(s.type, raw);
  if (!s.transform) return x;
  const cols = s.dims.length > 1 ? s.dims[0] : 1;
  const rows = x.length / cols;
  const out = new Float32Array(x.length);
  switch (s.transform) {
    case 'transpose':
      // stored [rows, cols] → [cols, rows]
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c];
      return out;
    case 'unpermuteRope': {
      // llama.cpp stored row h*2d + 2j + a for HF row h*2d + a*d + j (its permute: heads, 2, d → heads, d, 2).
      const n = s.groups!;
      const d = rows / n / 2;
      for (let h = 0; h < n; h++)
        for (let a = 0; a < 2; a++)
          for (let j = 0; j < d; j++)
            out.set(x.subarray((h * 2 * d + 2 * j + a) * cols, (h * 2 * d + 2 * j + a + 1) * cols), (h * 2 * d + a * d + j) * cols);
      return out;
    }
    case 'interleaveQkv': {
      // stored rows [q|k|v][head][d] → HF rows [head][q|k|v][d]
      const n = s.groups!;
      const d = rows / n / 3;
      for (let p = 0; p < 3; p++)
        for (let h = 0; h < n; h++) out.set(x.subarray((p * n + h) * d * cols, (p * n + h + 1) * d * cols), (h * 3 + p) * d * cols);
      return out;
    }
  }
}

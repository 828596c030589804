/**
 * ggml tensor types as GGUF stores them: id → name, block size (values per block) and bytes per block.
 * Sizes are known for every type so that any file's tensor ranges can be checked and shown; which types we can
 * dequantize is decided in dequant.ts. Ids and sizes follow ggml.h / ggml.c (gguf-py's GGML_QUANT_SIZES).
 */
export interface GgmlType {
  id: number;
  name: string;
  blockSize: number;
  typeSize: number;
}

const TYPES: [number, string, number, number][] = [
  [0, 'F32', 1, 4],
  [1, 'F16', 1, 2],
  [2, 'Q4_0', 32, 18],
  [3, 'Q4_1', 32, 20],
  [6, 'Q5_0', 32, 22],
  [7, 'Q5_1', 32, 24],
  [8, 'Q8_0', 32, 34],
  [9, 'Q8_1', 32, 36],
  [10, 'Q2_K', 256, 84],
  [11, 'Q3_K', 256, 110],
  [12, 'Q4_K', 256, 144],
  [13, 'Q5_K', 256, 176],
  [14, 'Q6_K', 256, 210],
  [15, 'Q8_K', 256, 292],
  [16, 'IQ2_XXS', 256, 66],
  [17, 'IQ2_XS', 256, 74],
  [18, 'IQ3_XXS', 256, 98],
  [19, 'IQ1_S', 256, 50],
  [20, 'IQ4_NL', 32, 18],
  [21, 'IQ3_S', 256, 110],
  [22, 'IQ2_S', 256, 82],
  [23, 'IQ4_XS', 256, 136],
  [24, 'I8', 1, 1],
  [25, 'I16', 1, 2],
  [26, 'I32', 1, 4],
  [27, 'I64', 1, 8],
  [28, 'F64', 1, 8],
  [29, 'IQ1_M', 256, 56],
  [30, 'BF16', 1, 2],
  [34, 'TQ1_0', 256, 54],
  [35, 'TQ2_0', 256, 66],
  [39, 'MXFP4', 32, 17],
  [40, 'NVFP4', 64, 36],
];

export const GGML_TYPES: ReadonlyMap<number, GgmlType> = new Map(
  TYPES.map(([id, name, blockSize, typeSize]) => [id, { id, name, blockSize, typeSize }]),
);

export function ggmlTypeByName(name: string): GgmlType | undefined {
  for (const t of GGML_TYPES.values()) if (t.name === name) return t;
  return undefined;
}

/** GGUF metadata value types (gguf_type in ggml's gguf.h). */
export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** Bytes of one scalar of each fixed-size value type (strings and arrays have a length prefix of 8 bytes at least). */
export const VALUE_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
export const VALUE_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(GgufValueType)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v, k.toLowerCase()]),
);

/**
 * Dequantize every tensor of a .gguf file with the TypeScript reader (stored ggml order, no layout change) and write
 * the float32 values to OUT.bin; print a JSON index (name, type, offset, count) and the ggml type table.
 * Usage: node --import tsx test/python/helpers/gguf_dump.ts FILE.gguf OUT.bin [--mapped]
 * With --mapped, the Hugging Face tensors (names mapped, layout restored) are written instead.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { openCheckpoint, readTensorF32 } from '../../../src/checkpoint/checkpoint';
import { canDequantize, dequantize } from '../../../src/checkpoint/ggufDequant';
import { readGgufHeader } from '../../../src/checkpoint/ggufReader';
import { GGML_TYPES } from '../../../src/checkpoint/ggufTypes';

async function main() {
  const [file, out, flag] = process.argv.slice(2);
  const fd = openSync(out, 'w');
  const index: { name: string; type: string; offset: number; count: number; shape?: number[] }[] = [];
  let offset = 0;
  const put = (name: string, type: string, x: Float32Array, shape?: number[]) => {
    writeSync(fd, new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
    index.push({ name, type, offset, count: x.length, shape });
    offset += x.byteLength;
  };
  if (flag === '--mapped') {
    const ckpt = await openCheckpoint(file);
    for (const name of ckpt.tensors.keys()) {
      const t = await readTensorF32(ckpt, name);
      put(name, t.dtype, t.data, t.shape);
    }
  } else {
    const g = readGgufHeader(file);
    const src = openSync(file, 'r');
    for (const t of g.tensors) {
      if (!canDequantize(t.type)) continue;
      const raw = new Uint8Array(t.end - t.begin);
      readSync(src, raw, 0, raw.length, t.begin);
      put(t.name, t.type.name, dequantize(t.type, raw));
    }
    closeSync(src);
  }
  closeSync(fd);
  console.log(JSON.stringify({ tensors: index, types: [...GGML_TYPES.values()] }));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});

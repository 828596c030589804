/**
 * Test helper: run our ONNX forward pass on a checkpoint and dump every layer's attention pattern and residuals.
 *
 *   node --import tsx test/python/helpers/dump_attention.ts CKPT TOKENS.json OUT.bin [--ep cpu] [--query-block-rows N]
 *
 * TOKENS.json: a list of equally long token lists (one per sequence). OUT.bin: float32 little-endian arrays back to
 * back; OUT.bin.json: { batch, T, heads, hidden, numLayers, executionProvider, timings, layers: [{ layer, pattern,
 * residPre, residPost }] } where each array entry is [offset in floats, length in floats].
 */
import { promises as fsp } from 'node:fs';
import { openCheckpoint } from '../../../src/checkpoint/checkpoint';
import { runForward } from '../../../src/analysis/run/forward';
import { densePattern } from '../../../src/analysis/graph/pattern';

async function main() {
  const [ckptPath, tokensPath, outPath, ...rest] = process.argv.slice(2);
  if (!ckptPath || !tokensPath || !outPath)
    throw new Error('usage: dump_attention.ts CKPT TOKENS.json OUT.bin [--ep cpu|auto|webgpu|cuda]');
  const epIdx = rest.indexOf('--ep');
  const ep = (epIdx >= 0 ? rest[epIdx + 1] : 'cpu') as 'auto' | 'cpu' | 'webgpu' | 'cuda';
  const rowsIdx = rest.indexOf('--query-block-rows');
  const queryBlockRows = rowsIdx >= 0 ? Number(rest[rowsIdx + 1]) : undefined;
  const seqs = JSON.parse(await fsp.readFile(tokensPath, 'utf8')) as number[][];
  const batch = seqs.length;
  const T = seqs[0].length;
  if (seqs.some((s) => s.length !== T)) throw new Error('all token lists must have the same length');
  const tokens = Int32Array.from(seqs.flat());
  const ckpt = await openCheckpoint(ckptPath);
  const fh = await fsp.open(outPath, 'w');
  let offset = 0;
  const write = async (a: Float32Array): Promise<[number, number]> => {
    await fh.write(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    const at = offset;
    offset += a.length;
    return [at, a.length];
  };
  const layers: { layer: number; pattern: [number, number]; residPre: [number, number]; residPost: [number, number]; blocks: number }[] =
    [];
  const result = await runForward(
    ckpt,
    tokens,
    batch,
    T,
    async (o) => {
      const pattern = await write(densePattern(o.pattern, batch, ckpt.dims.heads, T));
      layers.push({
        layer: o.layer,
        pattern,
        residPre: await write(o.residPre!),
        residPost: await write(o.residPost!),
        blocks: o.pattern.length,
      });
    },
    { ep, wantResidual: true, queryBlockRows },
  );
  await fh.close();
  const manifest = { batch, T, heads: ckpt.dims.heads, hidden: ckpt.dims.hidden, numLayers: ckpt.dims.numLayers, ...result, layers };
  await fsp.writeFile(outPath + '.json', JSON.stringify(manifest, null, 1));
}

main().catch((e) => {
  console.error(e instanceof Error ? `${e.name}: ${e.message}` : e);
  process.exit(1);
});

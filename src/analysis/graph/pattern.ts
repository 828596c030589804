/**
 * A layer's attention probabilities as the forward pass delivers them: blocks of query rows (graph.ts builds the
 * attention so when it knows T). Block [start, end) holds rows start..end-1 against keys 0..end-1 as
 * [batch, head, end − start, end]; the keys from `end` on are masked (zero) in those rows. One block [0, T) is the
 * dense [batch, head, query, key] pattern itself.
 * Imports nothing.
 */

export interface PatternBlock {
  start: number;
  end: number;
  data: Float32Array;
}

function checkBlocks(blocks: readonly PatternBlock[], batch: number, heads: number, T: number): void {
  let next = 0;
  for (const b of blocks) {
    if (b.start !== next || !(b.end > b.start) || b.end > T)
      throw new RangeError(`pattern blocks must cover rows 0..${T} in order: got [${b.start}, ${b.end}) after row ${next}`);
    if (b.data.length !== batch * heads * (b.end - b.start) * b.end) {
      throw new RangeError(
        `pattern block [${b.start}, ${b.end}) has ${b.data.length} entries, expected batch·heads·${b.end - b.start}·${b.end} = ${batch * heads * (b.end - b.start) * b.end}`,
      );
    }
    next = b.end;
  }
  if (next !== T) throw new RangeError(`pattern blocks end at row ${next}, not T = ${T}`);
}

/** Is this the whole dense pattern in one block (no copy needed)? */
export function isDense(blocks: readonly PatternBlock[], T: number): boolean {
  return blocks.length === 1 && blocks[0].start === 0 && blocks[0].end === T;
}

/**
 * The dense [batch, head, query, key] pattern. A single block is returned as it is. Otherwise the rows are copied into
 * `into` when given (its entries outside the blocks must be zero, as they are in a fresh array or in one this function
 * filled from blocks of the same layout), else into a fresh array.
 */
export function densePattern(blocks: readonly PatternBlock[], batch: number, heads: number, T: number, into?: Float32Array): Float32Array {
  checkBlocks(blocks, batch, heads, T);
  if (isDense(blocks, T)) return blocks[0].data;
  const out = into ?? new Float32Array(batch * heads * T * T);
  if (out.length !== batch * heads * T * T)
    throw new RangeError(`dense pattern buffer has ${out.length} entries, expected ${batch * heads * T * T}`);
  for (const { start, end, data } of blocks) {
    const rows = end - start;
    for (let bh = 0; bh < batch * heads; bh++) {
      for (let r = 0; r < rows; r++) {
        const src = (bh * rows + r) * end;
        out.set(data.subarray(src, src + end), (bh * T + start + r) * T);
      }
    }
  }
  return out;
}

/**
 * Row i of head `head` of a one-sequence (batch 1) blocked pattern, as a view of its block: keys 0..end-1 of the
 * block holding row i (the keys after it are zero).
 */
export function blockRowOf(blocks: readonly PatternBlock[], heads: number, head: number, T: number): (i: number) => Float32Array {
  checkBlocks(blocks, 1, heads, T);
  if (!Number.isInteger(head) || head < 0 || head >= heads) throw new RangeError(`head ${head} out of range [0, ${heads})`);
  const blockOf = new Int32Array(T);
  blocks.forEach((b, k) => blockOf.fill(k, b.start, b.end));
  return (i) => {
    const { start, end, data } = blocks[blockOf[i]];
    const o = (head * (end - start) + i - start) * end;
    return data.subarray(o, o + end);
  };
}

/** A reusable dense buffer per block layout: the zeros right of the blocks stay zero between layers. */
export class DenseScratch {
  private buf = new Float32Array(0);
  private layout = '';

  dense(blocks: readonly PatternBlock[], batch: number, heads: number, T: number): Float32Array {
    if (isDense(blocks, T)) return densePattern(blocks, batch, heads, T);
    const layout = `${batch}x${heads}x${T}:${blocks.map((b) => `${b.start}-${b.end}`).join(',')}`;
    if (layout !== this.layout) {
      this.buf = new Float32Array(batch * heads * T * T);
      this.layout = layout;
    }
    return densePattern(blocks, batch, heads, T, this.buf);
  }
}

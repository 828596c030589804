/**
 * A minimal WebAssembly binary assembler: opcodes as byte arrays, numbered locals, one exported memory. The kernels
 * (wasmDefs.ts, f32Defs.ts) are written with it; nothing here knows about them. Imports nothing.
 */

export type Code = number[];
export const I32 = 0x7f;
export const F64 = 0x7c;
export const V128 = 0x7b;

function uleb(n: number): Code {
  const o: Code = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    o.push(b);
  } while (n);
  return o;
}

function sleb(n: number): Code {
  const o: Code = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) {
      o.push(b);
      return o;
    }
    o.push(b | 0x80);
  }
}

export const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  if: [0x04, 0x40],
  end: [0x0b],
  br: (l: number): Code => [0x0c, ...uleb(l)],
  brIf: (l: number): Code => [0x0d, ...uleb(l)],
  get: (i: number): Code => [0x20, ...uleb(i)],
  set: (i: number): Code => [0x21, ...uleb(i)],
  tee: (i: number): Code => [0x22, ...uleb(i)],
  i32: (v: number): Code => [0x41, ...sleb(v)],
  f64load: (off = 0): Code => [0x2b, 3, ...uleb(off)],
  f32load: (off = 0): Code => [0x2a, 2, ...uleb(off)],
  f64promoteF32: [0xbb],
  i32store: (off = 0): Code => [0x36, 2, ...uleb(off)],
  f64store: (off = 0): Code => [0x39, 3, ...uleb(off)],
  i32add: [0x6a],
  i32sub: [0x6b],
  i32mul: [0x6c],
  i32shru: [0x76],
  i32eqz: [0x45],
  i32ltu: [0x49],
  select: [0x1b],
  i32and: [0x71],
  i32shl: [0x74],
  i32geu: [0x4f],
  f64add: [0xa0],
  f64sub: [0xa1],
  f64mul: [0xa2],
  vload: (off = 0): Code => [0xfd, 0x00, 4, ...uleb(off)],
  vstore: (off = 0): Code => [0xfd, 0x0b, 4, ...uleb(off)],
  splat: [0xfd, 0x14],
  lane: (l: number): Code => [0xfd, 0x21, l],
  vadd: [0xfd, 0xf0, 0x01],
  vsub: [0xfd, 0xf1, 0x01],
  vmul: [0xfd, 0xf2, 0x01],
  vzero: [0xfd, 0x0c, ...new Array<number>(16).fill(0)],
  load32splat: (off = 0): Code => [0xfd, 0x09, 2, ...uleb(off)],
  f32x4add: [0xfd, 0xe4, 0x01],
  f32x4mul: [0xfd, 0xe6, 0x01],
  promoteLow: [0xfd, 0x5f],
  /** swaps the two 64-bit halves of the v128 on the stack (consumes one operand twice: pass it via get twice) */
  swapHalves: [0xfd, 0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7],
  /** low 64 bits of the first operand, then the low 64 bits of the second */
  lowHalves: [0xfd, 0x0d, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23],
  demoteZero: [0xfd, 0x5e],
  f64x2eq: [0xfd, 0x47],
  vand: [0xfd, 0x4e],
  i64x2allTrue: [0xfd, 0xc3, 0x01],
  /** v128.store64_lane 0: stores the low 64 bits */
  vstore64lane0: [0xfd, 0x5b, 3, 0, 0],
  drop: [0x1a],
  load64zero: (off = 0): Code => [0xfd, 0x5d, 3, ...uleb(off)],
  vabs: [0xfd, 0xec, 0x01],
  vmin: [0xfd, 0xf4, 0x01],
  vmax: [0xfd, 0xf5, 0x01],
  f64min: [0xa4],
  vpmin: [0xfd, 0xf6, 0x01],
  vpmax: [0xfd, 0xf7, 0x01],
  vne: [0xfd, 0x48],
  vor: [0xfd, 0x50],
  vanyTrue: [0xfd, 0x53],
  f64convertI32u: [0xb8],
  f64max: [0xa5],
  vdiv: [0xfd, 0xf3, 0x01],
  f32x4gt: [0xfd, 0x44],
  f32x4pmax: [0xfd, 0xeb, 0x01],
  i32x4shrU: [0xfd, 0xad, 0x01],
  i32x4sub: [0xfd, 0xb1, 0x01],
  bitselect: [0xfd, 0x52],
  /** f64x2.convert_low_i32x4_s */
  convertLowI32: [0xfd, 0xfe, 0x01],
  /** relaxed SIMD f32x4.relaxed_madd(a, b, c) = a·b + c, fused or not (one rounding or two) */
  f32x4madd: [0xfd, 0x85, 0x02],
  /** the high 64 bits of the operand in both halves (pass the operand twice) */
  highHalves: [0xfd, 0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15],
};

/** v128.const of four equal 32-bit lanes (Int32Array or Float32Array bits) or two float64 lanes. */
export const vconst = (lanes: Int32Array | Float32Array | Float64Array): Code => [0xfd, 0x0c, ...new Uint8Array(lanes.buffer)];
export const f64x2 = (x: number): Code => vconst(Float64Array.of(x, x));
export const f32x4 = (x: number): Code => vconst(Float32Array.of(x, x, x, x));
export const i32x4 = (x: number): Code => vconst(Int32Array.of(x, x, x, x));

export interface FnDef {
  name: string;
  params: number[];
  result: number | null;
  locals: number[];
  code: Code[];
}

export function assemble(fns: FnDef[]): Uint8Array {
  const vec = (items: Code[]): Code => [...uleb(items.length), ...items.flat()];
  const section = (id: number, body: Code): Code => [id, ...uleb(body.length), ...body];
  const str = (s: string): Code => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
  const out: Code = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  out.push(...section(1, vec(fns.map((f) => [0x60, ...vec(f.params.map((t) => [t])), ...(f.result === null ? [0] : [1, f.result])]))));
  out.push(...section(3, vec(fns.map((_, i) => uleb(i)))));
  out.push(...section(5, vec([[0x00, ...uleb(16)]]))); // memory: 16 pages (1 MiB) initially, grows
  out.push(...section(7, vec([[...str('mem'), 0x02, 0], ...fns.map((f, i) => [...str(f.name), 0x00, ...uleb(i)])])));
  const bodies = fns.map((f) => {
    const b = [...vec(f.locals.map((t) => [1, t])), ...f.code.flat(), 0x0b];
    return [...uleb(b.length), ...b];
  });
  out.push(...section(10, vec(bodies)));
  return new Uint8Array(out);
}

/**
 * Loop over pairs: while ptrs[0] < end { body; ptrs += 16 }. `end` = ptrs[0] + (n & ~1)·8 must be
 * set by the caller.
 */
export function pairLoop(ptrs: number[], end: number, body: Code[]): Code[] {
  const adv: Code[] = [];
  for (const p of ptrs) adv.push(op.get(p), op.i32(16), op.i32add, op.set(p));
  return [op.block, op.loop, op.get(ptrs[0]), op.get(end), op.i32geu, op.brIf(1), ...body, ...adv, op.br(0), op.end, op.end];
}

/** end = base + ((n & mask) << 3) */
export function setEnd(end: number, base: number, n: number, mask: number): Code[] {
  return [op.get(base), op.get(n), op.i32(mask), op.i32and, op.i32(3), op.i32shl, op.i32add, op.set(end)];
}

export const ifOdd = (n: number, body: Code[]): Code[] => [op.get(n), op.i32(1), op.i32and, op.if, ...body, op.end];
export const hsum = (v: number): Code[] => [op.get(v), op.lane(0), op.get(v), op.lane(1), op.f64add];

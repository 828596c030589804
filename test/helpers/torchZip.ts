/**
 * Test helpers that write PyTorch's zip checkpoint layout from TypeScript: a pickle opcode writer and a stored
 * (uncompressed) zip writer, so the reader's malformed-input tests can build every variant from code.
 */
import { crc32 } from '../../src/gpu/zip';

/** Pickle opcodes, written one call each (protocol 2 unless `proto` says otherwise). */
export class PickleWriter {
  readonly out: number[] = [];
  op(...bytes: number[]): this {
    this.out.push(...bytes);
    return this;
  }
  u32(n: number): this {
    return this.op(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  }
  u64(n: bigint): this {
    for (let i = 0n; i < 8n; i++) this.out.push(Number((n >> (8n * i)) & 0xffn));
    return this;
  }
  proto(v = 2): this {
    return this.op(0x80, v);
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    return this.op(0x58)
      .u32(b.length)
      .op(...b);
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.op(0x4b, n);
    if (n >= 0 && n < 65536) return this.op(0x4d, n & 0xff, n >> 8);
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(n));
    return this.op(0x8a, 8, ...b);
  }
  float(x: number): this {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(x);
    return this.op(0x47, ...b);
  }
  bool(x: boolean): this {
    return this.op(x ? 0x88 : 0x89);
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...Buffer.from(`${module}\n${name}\n`, 'latin1'));
  }
  mark(): this {
    return this.op(0x28);
  }
  tuple(): this {
    return this.op(0x74);
  }
  ints(xs: number[]): this {
    this.mark();
    for (const x of xs) this.int(x);
    return this.tuple();
  }
  /** A tensor as torch.save writes it: _rebuild_tensor_v2((storage pid), offset, size, stride, False, OrderedDict()). */
  tensor(key: string, storageType: string, numel: number, shape: number[], stride?: number[], offset = 0, legacy = false): this {
    const s = stride ?? shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
    this.global('torch._utils', '_rebuild_tensor_v2').mark();
    this.mark().str('storage').global('torch', storageType).str(key).str('cpu').int(numel);
    if (legacy) this.op(0x4e); // view_metadata None
    this.tuple().op(0x51);
    this.int(offset).ints(shape).ints(s).op(0x89).global('collections', 'OrderedDict').op(0x29, 0x52);
    return this.tuple().op(0x52);
  }
  stop(): this {
    return this.op(0x2e);
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

/** A zip with every entry stored (method 0), as torch.save writes it; `method` overrides per entry for tests. */
export function storedZip(entries: { name: string; data: Uint8Array; method?: number }[]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const crc = crc32(e.data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(e.method ?? 0, 8);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(e.data.length, 18);
    lh.writeUInt32LE(e.data.length, 22);
    lh.writeUInt16LE(name.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(e.method ?? 0, 10);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(e.data.length, 20);
    cd.writeUInt32LE(e.data.length, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE(offset, 42);
    locals.push(lh, name, Buffer.from(e.data));
    central.push(cd, name);
    offset += 30 + name.length + e.data.length;
  }
  const cdBuf = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cdBuf.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cdBuf, eocd]);
}

/** A torch.save-style zip of a state dict `{ name: tensor }`, each tensor its own F32 storage. */
export function torchStateDictZip(tensors: { name: string; shape: number[]; values: Float32Array }[], archive = 'archive'): Buffer {
  const p = new PickleWriter().proto(2).global('collections', 'OrderedDict').op(0x29, 0x52).mark();
  tensors.forEach((t, i) => p.str(t.name).tensor(String(i), 'FloatStorage', t.values.length, t.shape));
  p.op(0x75).stop();
  return storedZip([
    { name: `${archive}/data.pkl`, data: p.bytes() },
    { name: `${archive}/byteorder`, data: Buffer.from('little') },
    ...tensors.map((t, i) => ({
      name: `${archive}/data/${i}`,
      data: new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength),
    })),
    { name: `${archive}/version`, data: Buffer.from('3\n') },
  ]);
}

/**
 * The legacy torch.save format (before PyTorch 1.6) of a state dict: magic number, protocol 1001, sys_info, the
 * object, the sorted storage keys (five pickles), then each storage as int64 element count + raw bytes.
 */
export function legacyStateDict(tensors: { name: string; shape: number[]; values: Float32Array }[]): Buffer {
  const magic = 0x1950a86a20f9469cfc6cn;
  const mb: number[] = [];
  for (let i = 0n; i < 10n; i++) mb.push(Number((magic >> (8n * i)) & 0xffn));
  const keys = tensors.map((_, i) => `k${i}`).sort();
  const obj = new PickleWriter().proto().global('collections', 'OrderedDict').op(0x29, 0x52).mark();
  tensors.forEach((t, i) => obj.str(t.name).tensor(`k${i}`, 'FloatStorage', t.values.length, t.shape, undefined, 0, true));
  obj.op(0x75).stop();
  const keyList = new PickleWriter().proto().op(0x5d).mark();
  for (const k of keys) keyList.str(k);
  keyList.op(0x65).stop();
  const parts: Uint8Array[] = [
    new PickleWriter()
      .proto()
      .op(0x8a, 10, ...mb)
      .stop()
      .bytes(),
    new PickleWriter().proto().int(1001).stop().bytes(),
    new PickleWriter().proto().op(0x7d).str('protocol_version').int(1001).op(0x73).str('little_endian').bool(true).op(0x73).stop().bytes(),
    obj.bytes(),
    keyList.bytes(),
  ];
  for (const k of keys) {
    const t = tensors[Number(k.slice(1))];
    const n = Buffer.alloc(8);
    n.writeBigInt64LE(BigInt(t.values.length));
    parts.push(n, new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength));
  }
  return Buffer.concat(parts);
}

/**
 * A restricted pickle reader for PyTorch checkpoints: it rebuilds plain containers and tensor *descriptions* (storage
 * key, offset, shape, stride), and nothing else. No Python callable is ever looked up or run: a GLOBAL is only a
 * (module, name) pair checked against the allow-list below, REDUCE is interpreted for the few allowed pairs, and any
 * other global or opcode stops the read with a message that names it.
 *
 * Why not pickleparser (npm): 0.2.1, published twice on one day in Dec 2024 and not since; its REDUCE calls whatever
 * the name resolver returned, BUILD does Object.assign of file data onto objects (`__proto__` keys), a missing memo
 * index silently yields undefined, and nothing bounds the stack, memo or nesting. The opcode set torch.save emits
 * (protocol 2, and 4/5 by request) is small, so the VM lives here, with every bound ours.
 *
 * Pickle is a stack machine; this VM keeps its stack, mark stack and memo in arrays/maps (no recursion), each
 * opcode consumes at least one byte, and every length is checked against the bytes left before anything is
 * allocated, so a hostile stream ends in an error in time linear in its length.
 */
import type { DType } from './dtypes';

export class PickleError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/** A Python tuple (kept apart from lists so shapes and persistent ids can be told from data). */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A Python dict or OrderedDict: keys are strings, numbers, booleans, null or tuples (by identity). */
export class PyDict {
  readonly map = new Map<PyValue, PyValue>();
  constructor(readonly ordered = false) {}
  get(key: string): PyValue | undefined {
    return this.map.get(key);
  }
}

/** A global that is allowed as a value (a storage type) or as a callable the VM interprets. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A storage record of the zip layout: `<archive>/data/<key>` holds `numel` elements of `dtype`. */
export class TorchStorage {
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly numel: number,
    readonly location: string,
  ) {}
}

/** A tensor as torch._utils._rebuild_tensor_v2 describes it: a view of a storage (offset and stride in elements). */
export class TorchTensor {
  constructor(
    readonly storage: TorchStorage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

export type PyValue =
  null | boolean | number | bigint | string | Uint8Array | PyValue[] | PyTuple | PyDict | PyGlobal | TorchStorage | TorchTensor;

/** Storage classes torch.save names in persistent ids, and the dtype of their elements. */
export const STORAGE_DTYPES: Readonly<Record<string, DType>> = {
  'torch.FloatStorage': 'F32',
  'torch.DoubleStorage': 'F64',
  'torch.HalfStorage': 'F16',
  'torch.BFloat16Storage': 'BF16',
  'torch.LongStorage': 'I64',
  'torch.IntStorage': 'I32',
  'torch.ShortStorage': 'I16',
  'torch.CharStorage': 'I8',
  'torch.ByteStorage': 'U8',
  'torch.BoolStorage': 'BOOL',
  'torch.UntypedStorage': 'U8',
};

const REBUILD_TENSOR = new Set(['torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor']);
const REBUILD_PARAMETER = new Set(['torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state']);
const ORDERED_DICT = 'collections.OrderedDict';

function allowedGlobal(q: string): boolean {
  return Object.hasOwn(STORAGE_DTYPES, q) || REBUILD_TENSOR.has(q) || REBUILD_PARAMETER.has(q) || q === ORDERED_DICT;
}

export interface PickleLimits {
  /** Largest element count of one tensor or storage (2^48: far beyond any real model, far below float64 trouble). */
  maxNumel: number;
  /** Most dimensions of a tensor. */
  maxDims: number;
  /** Most bytes in one integer (LONG1/LONG4). */
  maxLongBytes: number;
  /**
   * Most opcodes in one pickle. Each may allocate one small object, so this bounds memory where the byte length
   * alone would not (a stream of one-byte EMPTY_LIST). A state dict takes ~25 per tensor; an optimizer state as many.
   */
  maxOps: number;
}

export const DEFAULT_LIMITS: PickleLimits = { maxNumel: 2 ** 48, maxDims: 64, maxLongBytes: 16, maxOps: 5_000_000 };

const MARK = Symbol('mark');
type StackItem = PyValue | typeof MARK;

const OPNAMES: Record<number, string> = {
  0x28: 'MARK',
  0x2e: 'STOP',
  0x30: 'POP',
  0x31: 'POP_MARK',
  0x32: 'DUP',
  0x46: 'FLOAT',
  0x49: 'INT',
  0x4a: 'BININT',
  0x4b: 'BININT1',
  0x4c: 'LONG',
  0x4d: 'BININT2',
  0x4e: 'NONE',
  0x50: 'PERSID',
  0x51: 'BINPERSID',
  0x52: 'REDUCE',
  0x53: 'STRING',
  0x54: 'BINSTRING',
  0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE',
  0x58: 'BINUNICODE',
  0x61: 'APPEND',
  0x62: 'BUILD',
  0x63: 'GLOBAL',
  0x64: 'DICT',
  0x7d: 'EMPTY_DICT',
  0x65: 'APPENDS',
  0x67: 'GET',
  0x68: 'BINGET',
  0x69: 'INST',
  0x6a: 'LONG_BINGET',
  0x6c: 'LIST',
  0x5d: 'EMPTY_LIST',
  0x6f: 'OBJ',
  0x70: 'PUT',
  0x71: 'BINPUT',
  0x72: 'LONG_BINPUT',
  0x73: 'SETITEM',
  0x74: 'TUPLE',
  0x29: 'EMPTY_TUPLE',
  0x75: 'SETITEMS',
  0x47: 'BINFLOAT',
  0x80: 'PROTO',
  0x81: 'NEWOBJ',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x85: 'TUPLE1',
  0x86: 'TUPLE2',
  0x87: 'TUPLE3',
  0x88: 'NEWTRUE',
  0x89: 'NEWFALSE',
  0x8a: 'LONG1',
  0x8b: 'LONG4',
  0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE',
  0x8d: 'BINUNICODE8',
  0x8e: 'BINBYTES8',
  0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS',
  0x91: 'FROZENSET',
  0x92: 'NEWOBJ_EX',
  0x93: 'STACK_GLOBAL',
  0x94: 'MEMOIZE',
  0x95: 'FRAME',
  0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

function opName(op: number): string {
  return `${OPNAMES[op] ?? 'unknown opcode'} (0x${op.toString(16).padStart(2, '0')})`;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/**
 * Read one pickle. `what` names the stream in messages. Throws PickleError (with the byte offset) on anything
 * outside the allow-list or malformed; never runs code.
 */
export function readPickle(data: Uint8Array, limits: PickleLimits = DEFAULT_LIMITS): PyValue {
  return readPickleAt(data, 0, limits).value;
}

/**
 * Read the pickle that starts at `start` (the legacy torch.save format is several pickles back to back). Returns
 * its value, the offset just past its STOP, and the storages its persistent ids described, by key.
 */
export function readPickleAt(
  data: Uint8Array,
  start: number,
  limits: PickleLimits = DEFAULT_LIMITS,
): { value: PyValue; end: number; storages: Map<string, TorchStorage> } {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = start;
  let opAt = 0;
  const stack: StackItem[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  const storages = new Map<string, TorchStorage>();
  // Each list, dict (and tuple holding one) may sit in one container only: the result is then a tree, so no reader
  // of it can loop on a recursive structure or blow up on memo references repeated at every level.
  const placed = new WeakSet<object>();
  const mutableTuples = new WeakSet<PyTuple>();
  const isMutable = (v: PyValue) => Array.isArray(v) || v instanceof PyDict || (v instanceof PyTuple && mutableTuples.has(v));
  const adopt = (items: PyValue[]) => {
    for (const v of items) {
      if (!isMutable(v)) continue;
      if (placed.has(v as object)) fail(`a ${describe(v)} is placed in two containers: recursive or shared structures are refused`);
      placed.add(v as object);
    }
  };
  const tuple = (items: PyValue[]) => {
    const t = new PyTuple(items);
    if (items.some(isMutable)) {
      adopt(items);
      mutableTuples.add(t);
    }
    return t;
  };

  const fail = (msg: string): never => {
    throw new PickleError(msg, opAt);
  };
  const need = (n: number, what: string) => {
    if (n > data.length - pos) fail(`${what} needs ${n} bytes but the pickle has ${data.length - pos} left (truncated or corrupt)`);
  };
  const u8 = () => {
    need(1, 'a 1-byte argument');
    return data[pos++];
  };
  const u16 = () => {
    need(2, 'a 2-byte argument');
    pos += 2;
    return dv.getUint16(pos - 2, true);
  };
  const u32 = () => {
    need(4, 'a 4-byte argument');
    pos += 4;
    return dv.getUint32(pos - 4, true);
  };
  const u64 = (what: string) => {
    need(8, 'an 8-byte argument');
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(data.length - pos)) fail(`${what} length ${v} is larger than the ${data.length - pos} bytes left`);
    return Number(v);
  };
  const bytes = (n: number, what: string) => {
    need(n, what);
    pos += n;
    return data.subarray(pos - n, pos);
  };
  const line = (what: string) => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) fail(`${what}: no end of line before the end of the pickle`);
    const s = latin1.decode(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const text = (n: number) => {
    const b = bytes(n, 'a string');
    try {
      return utf8.decode(b);
    } catch {
      return fail('a string is not valid UTF-8');
    }
  };
  const pop = (): PyValue => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) fail(`${opName(data[opAt])} on an empty stack`);
    const v = stack.pop()!;
    if (v === MARK) fail('stack holds a MARK where a value was expected');
    return v as PyValue;
  };
  const top = (): PyValue => {
    const v = pop();
    stack.push(v);
    return v;
  };
  const popMark = (): PyValue[] => {
    if (!marks.length) fail(`${opName(data[opAt])} without a MARK`);
    const at = marks.pop()!;
    const items = stack.splice(at + 1) as PyValue[];
    stack.pop(); // the MARK itself
    return items;
  };
  const memoGet = (i: number): PyValue => {
    if (!memo.has(i)) fail(`memo index ${i} was never stored`);
    return memo.get(i)!;
  };
  const memoPut = (i: number) => {
    memo.set(i, top());
  };
  const dictSet = (d: PyValue, kv: PyValue[]) => {
    if (!(d instanceof PyDict)) fail(`${opName(data[opAt])} on a ${describe(d)}, not a dict`);
    if (kv.length % 2) fail(`${opName(data[opAt])} with an odd number of items`);
    adopt(kv);
    for (let i = 0; i < kv.length; i += 2) {
      const k = kv[i];
      if (!(
        k === null ||
        typeof k === 'string' ||
        typeof k === 'number' ||
        typeof k === 'boolean' ||
        typeof k === 'bigint' ||
        k instanceof PyTuple
      ))
        fail(`a dict key is a ${describe(k)}`);
      (d as PyDict).map.set(k, kv[i + 1]);
    }
  };
  const listAdd = (l: PyValue, items: PyValue[]) => {
    if (!Array.isArray(l)) fail(`${opName(data[opAt])} on a ${describe(l)}, not a list`);
    adopt(items);
    for (const x of items) (l as PyValue[]).push(x);
  };
  const global = (module: string, name: string): PyGlobal => {
    const q = `${module}.${name}`;
    if (!allowedGlobal(q))
      fail(`refused global ${q}: only tensors, storages and plain containers are read (nothing in the file is executed)`);
    return new PyGlobal(module, name);
  };
  const int = (v: PyValue, what: string): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(`${what} must be an integer (found ${describe(v)})`);
    return v as number;
  };
  const intTuple = (v: PyValue, what: string): number[] => {
    if (!(v instanceof PyTuple)) fail(`${what} must be a tuple (found ${describe(v)})`);
    const t = (v as PyTuple).items;
    if (t.length > limits.maxDims) fail(`${what} has ${t.length} dimensions (at most ${limits.maxDims})`);
    return t.map((x) => int(x, what));
  };

  const persistent = (pid: PyValue): TorchStorage => {
    if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage')
      fail(`persistent id ${describe(pid)} is not a ('storage', type, key, location, numel) record`);
    const [, type, key, location, numel, view] = (pid as PyTuple).items;
    if (view !== undefined && view !== null)
      fail(`storage ${describe(key)} is a view of another storage (legacy view_metadata), which is not read`);
    if (!(type instanceof PyGlobal) || !Object.hasOwn(STORAGE_DTYPES, type.qualified))
      fail(`persistent id names storage type ${describe(type)}`);
    if (typeof key !== 'string' || !/^[A-Za-z0-9_.]{1,64}$/.test(key)) fail(`storage key ${describe(key)} is not a short file name`);
    if (typeof location !== 'string') fail(`storage location ${describe(location)} is not a string`);
    const n = int(numel ?? null, 'storage size');
    if (n < 0 || n > limits.maxNumel) fail(`storage ${key} claims ${n} elements`);
    const dtype = STORAGE_DTYPES[(type as PyGlobal).qualified];
    const prev = storages.get(key as string);
    if (prev) {
      if (prev.dtype !== dtype || prev.numel !== n) fail(`storage ${key} is described twice with different types or sizes`);
      return prev;
    }
    const s = new TorchStorage(key as string, dtype, n, location as string);
    storages.set(key as string, s);
    return s;
  };

  const reduce = (fn: PyValue, args: PyValue): PyValue => {
    if (!(fn instanceof PyGlobal)) fail(`REDUCE calls a ${describe(fn)}; only allowed globals may be called`);
    if (!(args instanceof PyTuple)) fail(`REDUCE arguments are a ${describe(args)}, not a tuple`);
    const q = (fn as PyGlobal).qualified;
    const a = (args as PyTuple).items;
    if (REBUILD_TENSOR.has(q)) {
      if (a.length < 4) fail(`${q} with ${a.length} arguments`);
      const [storage, offset, size, stride] = a;
      if (!(storage instanceof TorchStorage)) fail(`${q}: the first argument is a ${describe(storage)}, not a storage`);
      const shape = intTuple(size, `${q}: size`);
      const strides = intTuple(stride, `${q}: stride`);
      if (strides.length !== shape.length) fail(`${q}: size has ${shape.length} dimensions but stride ${strides.length}`);
      const off = int(offset, `${q}: storage offset`);
      if (off < 0 || shape.some((d) => d < 0) || strides.some((s) => s < 0)) fail(`${q}: negative size, stride or offset`);
      let numel = 1;
      for (const d of shape) {
        numel *= d;
        if (numel > limits.maxNumel) fail(`${q}: size (${shape.join(', ')}) has more than ${limits.maxNumel} elements`);
      }
      return new TorchTensor(storage as TorchStorage, off, shape, strides);
    }
    if (REBUILD_PARAMETER.has(q)) {
      if (!(a[0] instanceof TorchTensor)) fail(`${q}: the first argument is a ${describe(a[0])}, not a tensor`);
      return a[0];
    }
    if (q === ORDERED_DICT) {
      if (a.length !== 0) fail(`${q} called with ${a.length} arguments`);
      return new PyDict(true);
    }
    return fail(`refused call of ${q}`);
  };

  for (let ops = 1; ; ops++) {
    opAt = pos;
    if (pos >= data.length) fail('the pickle ends without STOP (truncated)');
    if (ops > limits.maxOps) fail(`more than ${limits.maxOps} opcodes: far more than a checkpoint's pickle holds`);
    const op = data[pos++];
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail(`pickle protocol ${data[pos - 1]} is newer than 5`);
        break;
      case 0x95: // FRAME: a length hint; the bytes follow inline
        u64('FRAME');
        break;
      case 0x2e: // STOP
        if (marks.length) fail('STOP with an open MARK');
        if (stack.length !== 1) fail(`STOP with ${stack.length} values on the stack (expected 1)`);
        if (isMutable(stack[0] as PyValue) && placed.has(stack[0] as object)) fail('the result contains itself (a recursive structure)');
        return { value: pop(), end: pos, storages };
      case 0x28:
        marks.push(stack.length);
        stack.push(MARK);
        break;
      case 0x30:
        pop();
        break;
      case 0x31:
        popMark();
        break;
      case 0x32:
        stack.push(top());
        break;
      case 0x4e:
        stack.push(null);
        break;
      case 0x88:
        stack.push(true);
        break;
      case 0x89:
        stack.push(false);
        break;
      case 0x4a:
        need(4, 'BININT');
        stack.push(dv.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b:
        stack.push(u8());
        break;
      case 0x4d:
        stack.push(u16());
        break;
      case 0x8a: // LONG1
      case 0x8b: {
        const n = op === 0x8a ? u8() : u32();
        if (n > limits.maxLongBytes) fail(`an integer of ${n} bytes (at most ${limits.maxLongBytes})`);
        const b = bytes(n, 'LONG');
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (n > 0 && b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47:
        need(8, 'BINFLOAT');
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58:
        stack.push(text(u32()));
        break;
      case 0x8c:
        stack.push(text(u8()));
        break;
      case 0x8d:
        stack.push(text(u64('BINUNICODE8')));
        break;
      case 0x54: // BINSTRING / SHORT_BINSTRING (Python 2 str): latin-1 text
        stack.push(latin1.decode(bytes(u32(), 'BINSTRING')));
        break;
      case 0x55:
        stack.push(latin1.decode(bytes(u8(), 'SHORT_BINSTRING')));
        break;
      case 0x42:
        stack.push(bytes(u32(), 'BINBYTES').slice());
        break;
      case 0x43:
        stack.push(bytes(u8(), 'SHORT_BINBYTES').slice());
        break;
      case 0x8e:
        stack.push(bytes(u64('BINBYTES8'), 'BINBYTES8').slice());
        break;
      case 0x7d:
        stack.push(new PyDict());
        break;
      case 0x64: {
        const d = new PyDict();
        dictSet(d, popMark());
        stack.push(d);
        break;
      }
      case 0x5d:
        stack.push([]);
        break;
      case 0x6c: {
        const items = popMark();
        adopt(items);
        stack.push(items);
        break;
      }
      case 0x29:
        stack.push(new PyTuple([]));
        break;
      case 0x74:
        stack.push(tuple(popMark()));
        break;
      case 0x85:
      case 0x86:
      case 0x87: {
        const n = op - 0x84;
        const items: PyValue[] = [];
        for (let i = 0; i < n; i++) items.unshift(pop());
        stack.push(tuple(items));
        break;
      }
      case 0x61: {
        const v = pop();
        listAdd(top(), [v]);
        break;
      }
      case 0x65: {
        const items = popMark();
        listAdd(top(), items);
        break;
      }
      case 0x73: {
        const v = pop();
        const k = pop();
        dictSet(top(), [k, v]);
        break;
      }
      case 0x75: {
        const kv = popMark();
        dictSet(top(), kv);
        break;
      }
      case 0x71:
        memoPut(u8());
        break;
      case 0x72:
        memoPut(u32());
        break;
      case 0x94:
        memoPut(memo.size);
        break;
      case 0x68:
        stack.push(memoGet(u8()));
        break;
      case 0x6a:
        stack.push(memoGet(u32()));
        break;
      case 0x63: {
        const module = line('GLOBAL module');
        const name = line('GLOBAL name');
        stack.push(global(module, name));
        break;
      }
      case 0x93: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x51:
        stack.push(persistent(pop()));
        break;
      case 0x52: {
        const args = pop();
        const fn = pop();
        stack.push(reduce(fn, args));
        break;
      }
      case 0x62: {
        // BUILD: an OrderedDict's __dict__ (state_dict()._metadata) or a parameter's state; read and dropped.
        const state = pop();
        const obj = top();
        if (!(obj instanceof PyDict || obj instanceof TorchTensor)) fail(`BUILD on a ${describe(obj)}`);
        if (!(state === null || state instanceof PyDict || state instanceof PyTuple)) fail(`BUILD with a ${describe(state)} state`);
        break;
      }
      default:
        fail(`refused opcode ${opName(op)}: not part of what torch.save writes for tensors and plain containers`);
    }
  }
}

/** A short description of a value for messages (never its contents in full). */
export function describe(v: PyValue | undefined): string {
  if (v === undefined) return 'missing value';
  if (v === null) return 'None';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'number' || typeof v === 'bigint') return `number ${v}`;
  if (typeof v === 'boolean') return `bool ${v}`;
  if (v instanceof Uint8Array) return `bytes (${v.length})`;
  if (Array.isArray(v)) return `list (${v.length})`;
  if (v instanceof PyTuple) return `tuple (${v.items.length})`;
  if (v instanceof PyDict) return `dict (${v.map.size})`;
  if (v instanceof PyGlobal) return `global ${v.qualified}`;
  if (v instanceof TorchStorage) return `storage ${v.key}`;
  return `tensor [${v.shape.join(', ')}]`;
}

/**
 * A tiny ONNX graph builder over onnx-proto (the protobuf encoding is the library's, never hand-written).
 * Values are referred to by name; `op()` appends a node and returns the name of its (first) output.
 * No `vscode`, no file I/O: the result is the encoded ModelProto bytes.
 * Imports onnx-proto only.
 */
import { onnx } from 'onnx-proto';

/** A dimension: a fixed size or a symbolic name such as 'batch'. */
export type Dim = number | string;

export type ElemType = 'float32' | 'int64' | 'int32' | 'bool';

const ELEM: Record<ElemType, onnx.TensorProto.DataType> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** A typed attribute value (ONNX distinguishes 1 from 1.0, so the kind is explicit). */
export type Attr = { i: number } | { f: number } | { s: string } | { ints: number[] } | { floats: number[] };
export const attr = {
  i: (v: number): Attr => ({ i: v }),
  f: (v: number): Attr => ({ f: v }),
  s: (v: string): Attr => ({ s: v }),
  ints: (v: number[]): Attr => ({ ints: v }),
  floats: (v: number[]): Attr => ({ floats: v }),
};

function attributeProto(name: string, a: Attr): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('i' in a) return { name, type: T.INT, i: a.i };
  if ('f' in a) return { name, type: T.FLOAT, f: a.f };
  if ('s' in a) return { name, type: T.STRING, s: new TextEncoder().encode(a.s) };
  if ('ints' in a) return { name, type: T.INTS, ints: a.ints };
  return { name, type: T.FLOATS, floats: a.floats };
}

export function valueInfo(name: string, elem: ElemType, shape: readonly Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[elem],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** A tensor with raw little-endian data (exact for int64, unlike the `int64Data` varint path through Long). */
export function tensorProto(
  name: string,
  elem: ElemType,
  dims: readonly number[],
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array,
): onnx.ITensorProto {
  return {
    name,
    dataType: ELEM[elem],
    dims: [...dims],
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

export interface ModelOptions {
  /** Default-domain opset (e.g. 20 for Gelu with approximate="tanh"). */
  opset: number;
  irVersion?: number;
  producer?: string;
  docString?: string;
  /** Extra operator-set domains, e.g. { 'com.microsoft': 1 }. */
  domains?: Record<string, number>;
}

export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly names = new Set<string>();
  private readonly constCache = new Map<string, string>();
  private counter = 0;

  constructor(readonly name: string) {}

  /** A fresh value name with a readable stem (`attn.q_0`). */
  fresh(stem: string): string {
    let n = `${stem}_${this.counter++}`;
    while (this.names.has(n)) n = `${stem}_${this.counter++}`;
    this.names.add(n);
    return n;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`onnx graph ${this.name}: value name ${name} is used twice`);
    this.names.add(name);
    return name;
  }

  /** Declare a graph input and return its name. */
  input(name: string, shape: readonly Dim[], elem: ElemType = 'float32'): string {
    this.inputs.push(valueInfo(this.claim(name), elem, shape));
    return name;
  }

  /** Declare an existing value as a graph output (an Identity renames it when the name differs). */
  output(value: string, name: string, shape: readonly Dim[], elem: ElemType = 'float32'): string {
    if (value !== name) this.op('Identity', [value], {}, name);
    this.outputs.push(valueInfo(name, elem, shape));
    return name;
  }

  /** An int64 constant (shapes, axes, indices), shared when the same values are asked for again. */
  i64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `i64:${dims.join('x')}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.fresh('c_i64');
    this.initializers.push(tensorProto(name, 'int64', dims, BigInt64Array.from(values.map((v) => BigInt(v)))));
    this.constCache.set(key, name);
    return name;
  }

  /** A float32 constant; pass `dims = []` for a scalar. */
  f32(values: readonly number[] | Float32Array, dims: readonly number[] = [values.length]): string {
    const arr = values instanceof Float32Array ? values : Float32Array.from(values);
    const small = arr.length <= 16;
    const key = small ? `f32:${dims.join('x')}:${Array.from(arr).join(',')}` : '';
    const hit = small ? this.constCache.get(key) : undefined;
    if (hit) return hit;
    const name = this.fresh('c_f32');
    this.initializers.push(tensorProto(name, 'float32', dims, arr));
    if (small) this.constCache.set(key, name);
    return name;
  }

  /** Append a node with `numOutputs` outputs; returns their names (given names are used as they are). */
  node(
    opType: string,
    inputs: readonly string[],
    attrs: Record<string, Attr> = {},
    outputs: number | readonly string[] = 1,
    domain?: string,
  ): string[] {
    // '' is ONNX's "optional output not produced"
    const outs =
      typeof outputs === 'number'
        ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase()))
        : outputs.map((o) => (o === '' ? o : this.claim(o)));
    this.nodes.push({
      name: this.fresh(`n_${opType}`),
      opType,
      domain: domain ?? '',
      input: [...inputs],
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attributeProto(k, v)),
    });
    return outs;
  }

  /** Append a single-output node and return its output name. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, Attr> = {}, outName?: string, domain?: string): string {
    return this.node(opType, inputs, attrs, outName ? [outName] : 1, domain)[0];
  }

  /** The encoded ModelProto. */
  encode(o: ModelOptions): Uint8Array {
    const opsetImport: onnx.IOperatorSetIdProto[] = [{ domain: '', version: o.opset }];
    for (const [domain, version] of Object.entries(o.domains ?? {})) opsetImport.push({ domain, version });
    const model: onnx.IModelProto = {
      irVersion: o.irVersion ?? 9,
      producerName: o.producer ?? 'inheritune-studio',
      docString: o.docString,
      opsetImport,
      graph: {
        name: this.name,
        node: this.nodes,
        input: this.inputs,
        output: this.outputs,
        initializer: this.initializers,
      },
    };
    return onnx.ModelProto.encode(model).finish();
  }

  /** Counts for logs and tests. */
  stats(): { nodes: number; inputs: number; outputs: number; initializers: number } {
    return { nodes: this.nodes.length, inputs: this.inputs.length, outputs: this.outputs.length, initializers: this.initializers.length };
  }
}

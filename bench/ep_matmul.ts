// What the rank certificate's products would cost as onnxruntime sessions (docs/design/rank-on-ep.md): one layer's
// heads batched, on the CPU EP, float32 and float64: the Gram matrices AᵀA ([H,T,T]ᵀ·[H,T,T]) and one block-Krylov
// step A·V then Aᵀ·(A·V) with a block of b vectors. Prints the median of 3 runs after one warm-up, and GFLOP/s.
// Usage: node --import tsx bench/ep_matmul.ts [T ...]   (H = 9, b = 64)
import { onnx } from 'onnx-proto';
import { ort, sessionOptions } from '../src/analysis/run/providers';

const H = 9;
const BLOCK = 64;

function model(elem: number, gram: boolean): Uint8Array {
  const vi = (name: string, dims: (number | string)[]): onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType: elem, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
  const nodes: onnx.INodeProto[] = gram
    ? [
        {
          opType: 'Transpose',
          input: ['a'],
          output: ['at'],
          attribute: [{ name: 'perm', type: onnx.AttributeProto.AttributeType.INTS, ints: [0, 2, 1] }],
        },
        { opType: 'MatMul', input: ['at', 'a'], output: ['g'] },
      ]
    : [
        { opType: 'MatMul', input: ['a', 'v'], output: ['av'] },
        {
          opType: 'Transpose',
          input: ['a'],
          output: ['at'],
          attribute: [{ name: 'perm', type: onnx.AttributeProto.AttributeType.INTS, ints: [0, 2, 1] }],
        },
        { opType: 'MatMul', input: ['at', 'av'], output: ['g'] },
      ];
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'p',
      node: nodes,
      input: gram ? [vi('a', ['h', 't', 't'])] : [vi('a', ['h', 't', 't']), vi('v', ['h', 't', 'b'])],
      output: [vi('g', ['h', 't', 'n'])],
    },
  }).finish();
}

async function main(): Promise<void> {
  const O = ort();
  const Ts = process.argv.slice(2).map(Number);
  for (const T of Ts.length ? Ts : [1024, 2048]) {
    for (const [name, elem, Arr] of [
      ['float32', onnx.TensorProto.DataType.FLOAT, Float32Array],
      ['float64', onnx.TensorProto.DataType.DOUBLE, Float64Array],
    ] as const) {
      for (const gram of [true, false]) {
        const s = await O.InferenceSession.create(model(elem, gram), sessionOptions('cpu'));
        const a = new Arr(H * T * T);
        for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) for (let j = 0; j <= i; j++) a[(h * T + i) * T + j] = 1 / (i + 1);
        const feeds: Record<string, InstanceType<typeof O.Tensor>> = { a: new O.Tensor(name, a, [H, T, T]) };
        if (!gram) feeds.v = new O.Tensor(name, new Arr(H * T * BLOCK).fill(0.5), [H, T, BLOCK]);
        const times: number[] = [];
        for (let r = 0; r < 4; r++) {
          const t0 = performance.now();
          await s.run(feeds);
          if (r > 0) times.push(performance.now() - t0);
        }
        times.sort((x, y) => x - y);
        const ms = times[1];
        const flop = gram ? 2 * H * T ** 3 : 4 * H * T * T * BLOCK;
        console.log(
          `T ${T} ${name} ${gram ? 'Gram AᵀA, 9 heads' : `A·V, Aᵀ·(AV), b = ${BLOCK}, 9 heads`}: ${ms.toFixed(0)} ms, ${(flop / ms / 1e6).toFixed(1)} GFLOP/s`,
        );
        await s.release();
      }
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

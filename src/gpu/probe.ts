/**
 * Can an execution provider start here? Create a session for a one-node model (c = a + b) and run it, in a child
 * process: a GPU driver that crashes or hangs while onnxruntime initialises it takes the child down, not the CLI or
 * the extension host. In VS Code the child is the editor's own runtime with ELECTRON_RUN_AS_NODE=1.
 */
import { spawn } from 'node:child_process';
import { onnx } from 'onnx-proto';

/** The ONNX model c = a + b over float32[1] (opset 17). */
export function tinyAddModel(): Uint8Array {
  const T = onnx.TensorProto.DataType.FLOAT;
  const vi = (name: string): onnx.IValueInfoProto => ({ name, type: { tensorType: { elemType: T, shape: { dim: [{ dimValue: 1 }] } } } });
  return onnx.ModelProto.encode({
    irVersion: 8,
    producerName: 'inheritune-gpu-check',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'add',
      node: [{ opType: 'Add', input: ['a', 'b'], output: ['c'], name: 'add' }],
      input: [vi('a'), vi('b')],
      output: [vi('c')],
    },
  }).finish();
}

export type ProbeEp = 'cpu' | 'webgpu' | 'cuda';

export interface EpProbe {
  ep: ProbeEp;
  ok: boolean;
  ms: number;
  /** onnxruntime's error (first line) or why the child failed. */
  error?: string;
  /** What to do about it, when the error is one we recognise. */
  hint?: string;
  /** What the child wrote to stderr (Dawn and onnxruntime log there). */
  stderr?: string;
}

// Runs in the child: argv = [ortDir, ep]; the model arrives base64 on stdin; one result line on stdout.
const CHILD = `
const [ortDir, ep] = process.argv.slice(-2);
let b64 = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => (b64 += d));
process.stdin.on('end', async () => {
  const say = (o) => process.stdout.write('@@probe ' + JSON.stringify(o) + '\\n', () => process.exit(0));
  try {
    const ort = require(ortDir);
    const s = await ort.InferenceSession.create(Buffer.from(b64, 'base64'), { executionProviders: [ep], logSeverityLevel: 3 });
    const r = await s.run({ a: new ort.Tensor('float32', Float32Array.from([1]), [1]), b: new ort.Tensor('float32', Float32Array.from([2]), [1]) });
    const c = Array.from(r.c.data);
    if (c[0] !== 3) return say({ ok: false, error: 'the session ran but computed 1 + 2 = ' + c[0] });
    say({ ok: true });
  } catch (e) {
    say({ ok: false, error: String((e && e.message) || e) });
  }
});
`;

/** First meaningful line of an onnxruntime error, without the source-path prefix. */
export function firstLine(msg: string): string {
  const line = msg.split('\n').find((l) => l.trim()) ?? msg;
  const m = /(?:was false\.|\] :\s*\d+ : \w+ :)\s*(.+)$/.exec(line);
  const s = (m ? m[1] : line).trim();
  return s.length > 300 ? `${s.slice(0, 297)}...` : s;
}

/** Advice for the errors we know. */
export function probeHint(ep: ProbeEp, error: string, stderr: string): string | undefined {
  const all = `${error}\n${stderr}`;
  if (ep === 'webgpu') {
    if (/libvulkan\.so\.1/.test(all))
      return "WebGPU on Linux runs on Vulkan: install the Vulkan loader (`sudo apt install libvulkan1`) and your GPU's Vulkan driver (NVIDIA: part of the driver; in a container add `graphics` to NVIDIA_DRIVER_CAPABILITIES; Mesa: `mesa-vulkan-drivers`).";
    if (/No supported adapters|Failed to get a WebGPU adapter/i.test(all))
      return "Vulkan loads but offers no GPU: install the GPU's Vulkan driver (NVIDIA: the ICD file nvidia_icd.json comes with the driver; in a container add `graphics` to NVIDIA_DRIVER_CAPABILITIES), then check with `vulkaninfo --summary`.";
  }
  if (ep === 'cuda') {
    const lib = /(lib[\w.+-]+\.so(?:\.\d+)*): cannot open shared object file/.exec(all)?.[1];
    if (lib && /providers_(shared|cuda)/.test(lib)) return 'the CUDA EP files are not installed: run `inheritune install-gpu`.';
    if (lib) return `${lib} is missing: see the library list above for how to install it.`;
    if (/CUDA driver version is insufficient|cudaErrorInsufficientDriver/i.test(all))
      return 'the NVIDIA driver is too old for CUDA 12: update it.';
    if (/no CUDA-capable device|cudaErrorNoDevice/i.test(all))
      return 'no CUDA GPU is visible (in a container: --gpus all; check CUDA_VISIBLE_DEVICES).';
  }
  return undefined;
}

export interface ProbeOptions {
  /** onnxruntime-node's package folder. */
  ortDir: string;
  timeoutMs?: number;
  /** The runtime to spawn; default process.execPath (with ELECTRON_RUN_AS_NODE=1, so VS Code's works too). */
  execPath?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

export function probeEp(ep: ProbeEp, o: ProbeOptions): Promise<EpProbe> {
  const t0 = Date.now();
  const timeoutMs = o.timeoutMs ?? 60_000;
  return new Promise((resolve) => {
    const child = spawn(o.execPath ?? process.execPath, ['-e', CHILD, o.ortDir, ep], {
      env: { ...(o.env ?? process.env), ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
      signal: o.signal,
    });
    let out = '';
    let err = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (err.length < 64 << 10) err += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const done = (r: Omit<EpProbe, 'ep' | 'ms'>) => {
      clearTimeout(timer);
      const stderr = err.replace(/\x1b\[[0-9;]*m/g, '').trim();
      resolve({
        ep,
        ms: Date.now() - t0,
        ...r,
        ...(stderr ? { stderr } : {}),
        ...(r.ok ? {} : { hint: probeHint(ep, r.error ?? '', stderr) }),
      });
    };
    child.on('error', (e) =>
      done({ ok: false, error: o.signal?.aborted ? 'cancelled' : `cannot start ${o.execPath ?? process.execPath}: ${e.message}` }),
    );
    child.on('close', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith('@@probe '));
      if (line) {
        const r = JSON.parse(line.slice(8)) as { ok: boolean; error?: string };
        return done(r.ok ? { ok: true } : { ok: false, error: firstLine(r.error ?? 'unknown error') });
      }
      if (timedOut) return done({ ok: false, error: `no answer within ${timeoutMs / 1000} s (the driver may hang while initialising)` });
      done({
        ok: false,
        error: signal
          ? `the probe process crashed (${signal}) while creating the ${ep} session`
          : `the probe process exited with code ${code} without an answer`,
      });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(Buffer.from(tinyAddModel()).toString('base64'));
  });
}

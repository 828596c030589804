// The WebGPU execution provider on Mesa's lavapipe (a Vulkan driver on the CPU) against the CPU EP, through the CLI,
// on every family: batch-mean patterns to 1e-4, k* and m* identical, BI to 1e-6. And `--ep auto` with lavapipe
// installed: it runs on the CPU EP and lists webgpu as skipped (software adapter).
//
// CI installs lavapipe (.ci/run: mesa-vulkan-drivers from bookworm-backports, libvulkan1) and fails here without it;
// elsewhere the file is skipped unless the Vulkan loader opens lavapipe (a developer can point VK_ICD_FILENAMES and
// LD_LIBRARY_PATH at an unpacked copy). T and B are small: lavapipe runs a WebGPU session ~30× slower than the CPU EP.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { probeWebgpuAdapter, type WebgpuAdapter } from '../../src/analysis/run/adapter';
import { webgpuUnavailableReason } from '../../src/analysis/run/providers';
import type { AnalysisReport } from '../../src/shared/report';
import { tmpDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/cli.js');
const FAMILIES = ['gpt2', 'llama', 'mistral', 'qwen2', 'qwen3', 'gpt_neox'] as const;
const T = 48;
const B = 2;

// Mesa's Vulkan drivers want a runtime folder; a CI shell or a container may have none.
if (!process.env.XDG_RUNTIME_DIR) {
  const d = path.join(os.tmpdir(), `inheritune-xdg-${process.getuid?.() ?? 0}`);
  fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = d;
}

const dir = tmpDir('inheritune-ep-');
const cli = (...args: string[]) =>
  execFileSync('node', [CLI, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });

/** Is lavapipe what WebGPU opens here? A reason to skip when not. */
async function lavapipe(): Promise<string | undefined> {
  const noLoader = webgpuUnavailableReason();
  if (noLoader) return noLoader;
  const a: WebgpuAdapter = await probeWebgpuAdapter();
  if (a.error) return `WebGPU does not start: ${a.error}`;
  if (!/lavapipe|llvmpipe/i.test(`${a.adapter?.description}`)) return `WebGPU opens ${a.adapter?.description}, not lavapipe`;
  return undefined;
}

function f16(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (m / 1024);
  return s * 2 ** (e - 15) * (1 + m / 1024);
}

/** Every `blocks.L.attn.pattern` of a --save-patterns folder, as float32 (the file is float16). */
function readPatterns(folder: string): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const f of fs.readdirSync(folder).filter((x) => x.endsWith('.safetensors'))) {
    const buf = fs.readFileSync(path.join(folder, f));
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
    for (const [name, t] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      assert.equal(t.dtype, 'F16', name);
      const bytes = buf.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]);
      const v = new Float32Array(bytes.length / 2);
      for (let i = 0; i < v.length; i++) v[i] = f16(bytes.readUInt16LE(2 * i));
      out.set(name, v);
    }
  }
  return out;
}

/** One float16 step at x: two float32 values within 1e-4 can round to neighbouring float16 values. */
const f16Ulp = (x: number) => 2 ** (Math.max(Math.floor(Math.log2(Math.max(Math.abs(x), 2 ** -14))), -14) - 10);

describe('WebGPU on lavapipe equals the CPU EP (through the CLI)', () => {
  let skip: string | undefined;
  before(async () => {
    if (!fs.existsSync(CLI)) execFileSync('node', ['esbuild.mjs'], { cwd: ROOT, stdio: 'inherit' });
    skip = await lavapipe();
  });

  test('WebGPU opens lavapipe here (required in CI)', (t) => {
    if (skip && process.env.CI) assert.fail(`CI installs lavapipe (.ci/run) and must test WebGPU on it, but: ${skip}`);
    if (skip) return t.skip(skip);
  });

  for (const family of FAMILIES) {
    test(`${family}: patterns to 1e-4, k*/m* identical, BI to 1e-6`, (t) => {
      if (skip) return t.skip(skip);
      const ckpt = path.join(dir, family);
      cli('synth', '--family', family, '--layers', '3', '--seed', '5', '--out', ckpt, '--force');
      const run = (ep: string) => {
        const json = path.join(dir, `${family}-${ep}.json`);
        const pats = path.join(dir, `${family}-${ep}-patterns`);
        cli('analyze', ckpt, '--seq-len', String(T), '--batch', String(B), '--ep', ep, '--json', json, '--save-patterns', pats, '--quiet');
        return { rep: JSON.parse(fs.readFileSync(json, 'utf8')) as AnalysisReport, pats: readPatterns(pats) };
      };
      const gpu = run('webgpu');
      const cpu = run('cpu');
      assert.equal(gpu.rep.executionProvider.used, 'webgpu');
      assert.match(gpu.rep.executionProvider.adapter?.description ?? '', /lavapipe/, 'the report names the adapter');
      assert.equal(gpu.rep.executionProvider.adapter?.type, 'cpu');
      assert.equal(cpu.rep.executionProvider.used, 'cpu');

      let maxPattern = 0;
      assert.deepEqual([...gpu.pats.keys()].sort(), [...cpu.pats.keys()].sort());
      assert.equal(gpu.pats.size, 3);
      for (const [name, a] of gpu.pats) {
        const b = cpu.pats.get(name)!;
        assert.equal(a.length, b.length);
        for (let i = 0; i < a.length; i++) {
          const d = Math.abs(a[i] - b[i]);
          maxPattern = Math.max(maxPattern, d);
          if (d > 1e-4 + f16Ulp(Math.max(a[i], b[i]))) assert.fail(`${family} ${name}[${i}]: webgpu ${a[i]} vs cpu ${b[i]}`);
        }
      }
      let maxBi = 0;
      for (let l = 0; l < cpu.rep.layers.length; l++) {
        const lg = gpu.rep.layers[l];
        const lc = cpu.rep.layers[l];
        for (let h = 0; h < lc.heads.length; h++) {
          assert.equal(lg.heads[h].kStar, lc.heads[h].kStar, `${family} layer ${l} head ${h} k*`);
          assert.equal(lg.heads[h].mStar, lc.heads[h].mStar, `${family} layer ${l} head ${h} m*`);
        }
        assert.equal(lg.lazy, lc.lazy);
        if (lc.blockInfluence === null) assert.equal(lg.blockInfluence, null);
        else maxBi = Math.max(maxBi, Math.abs(lg.blockInfluence! - lc.blockInfluence));
      }
      assert.ok(maxBi <= 1e-6, `${family}: BI differs by ${maxBi}`);
      t.diagnostic(`${family}: max |Δ pattern| ${maxPattern.toExponential(2)} (float16 files), max |Δ BI| ${maxBi.toExponential(2)}`);
    });
  }

  test('--ep auto with lavapipe installed runs on the CPU EP and lists webgpu as skipped (software adapter)', (t) => {
    if (skip) return t.skip(skip);
    const ckpt = path.join(dir, 'llama');
    if (!fs.existsSync(ckpt)) cli('synth', '--family', 'llama', '--layers', '3', '--seed', '5', '--out', ckpt, '--force');
    const json = path.join(dir, 'auto.json');
    const text = cli('analyze', ckpt, '--seq-len', String(T), '--batch', String(B), '--ep', 'auto', '--json', json);
    const ep = (JSON.parse(fs.readFileSync(json, 'utf8')) as AnalysisReport).executionProvider;
    assert.equal(ep.requested, 'auto');
    assert.equal(ep.used, 'cpu');
    assert.equal(ep.adapter?.type, 'cpu');
    const web = ep.skipped.find((s) => s.name === 'webgpu');
    assert.ok(web, `webgpu must be listed as skipped: ${JSON.stringify(ep.skipped)}`);
    assert.match(web.reason, /^software adapter \(llvmpipe.*lavapipe/);
    assert.match(text, /execution provider: cpu on .*skipped: .*webgpu: software adapter/);
  });
});

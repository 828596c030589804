/**
 * Which device an execution provider runs on, and whether `--ep auto` may use it: auto never picks a software WebGPU
 * adapter (Mesa's lavapipe/llvmpipe, SwiftShader), which is many times slower than the CPU EP on the same cores.
 *
 * How the WebGPU adapter is found (chosen by experiment with onnxruntime-node 1.30 and Mesa 25 lavapipe): onnxruntime
 * does not expose Dawn's adapter in Node (no `env.webgpu.adapter`; its verbose log names only pointers) and Node has
 * no FFI to ask Vulkan itself. The Vulkan loader, though, logs the physical device a process opens when
 * VK_LOADER_DEBUG=driver is set (`Using "llvmpipe (LLVM 15.0.6, 256 bits)" with driver: "libvulkan_lvp.so"`). So a
 * child process creates the one-node WebGPU session of src/gpu/probe with that variable and we read the line: the
 * device Dawn really chose, with no new dependency (a second Dawn, the `webgpu` package, is 21 MB per platform). The
 * driver library tells a software rasteriser from a GPU driver (table below). Without that line (a loader older than
 * ~1.3.230, or D3D12/Metal) a Linux machine with no GPU device node (/dev/dri/renderD*, /dev/nvidia*) can only have
 * a CPU Vulkan device; otherwise the type is `unknown` and auto tries it as before. The probe takes ~0.9 s here,
 * once per process.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AdapterReport } from '../../shared/report';
import { probeEp, type EpProbe } from '../../gpu/probe';

/** Vulkan drivers by their library name: vendor, the driver's usual name, and whether it is a software rasteriser. */
const VULKAN_DRIVERS: { lib: RegExp; vendor: string; driver: string; type: 'gpu' | 'cpu' }[] = [
  { lib: /vulkan_lvp|lvp_icd/, vendor: 'Mesa', driver: 'lavapipe (software)', type: 'cpu' },
  { lib: /swiftshader/i, vendor: 'Google', driver: 'SwiftShader (software)', type: 'cpu' },
  { lib: /nvidia/i, vendor: 'NVIDIA', driver: 'NVIDIA proprietary', type: 'gpu' },
  { lib: /vulkan_nouveau/, vendor: 'NVIDIA', driver: 'Mesa NVK', type: 'gpu' },
  { lib: /vulkan_radeon/, vendor: 'AMD', driver: 'Mesa RADV', type: 'gpu' },
  { lib: /amdvlk/i, vendor: 'AMD', driver: 'AMDVLK', type: 'gpu' },
  { lib: /vulkan_intel/, vendor: 'Intel', driver: 'Mesa ANV', type: 'gpu' },
  { lib: /vulkan_freedreno/, vendor: 'Qualcomm', driver: 'Mesa Turnip', type: 'gpu' },
  { lib: /vulkan_panfrost/, vendor: 'Arm', driver: 'Mesa PanVK', type: 'gpu' },
  { lib: /vulkan_broadcom/, vendor: 'Broadcom', driver: 'Mesa V3DV', type: 'gpu' },
  { lib: /vulkan_asahi/, vendor: 'Apple', driver: 'Mesa Honeykrisp', type: 'gpu' },
  { lib: /vulkan_powervr/, vendor: 'Imagination', driver: 'Mesa PowerVR', type: 'gpu' },
  { lib: /vulkan_virtio/, vendor: 'virtio-gpu', driver: 'Mesa Venus (host GPU)', type: 'gpu' },
];
/** Device names of software rasterisers, for a driver library the table does not know. */
const SOFTWARE_DEVICE = /llvmpipe|lavapipe|swiftshader|softpipe/i;

/** The device the Vulkan loader says a process opened (the last `Using "…" with driver: "…"` line), if any. */
export function parseVulkanLoaderLog(stderr: string): { device: string; driver: string } | undefined {
  const all = [...stderr.matchAll(/Using "([^"\n]*)" with driver: "([^"\n]*)"/g)];
  const m = all[all.length - 1];
  return m ? { device: m[1], driver: m[2] } : undefined;
}

export function classifyVulkanDevice(d: { device: string; driver: string }): AdapterReport {
  const lib = path.basename(d.driver);
  const known = VULKAN_DRIVERS.find((k) => k.lib.test(lib));
  const type = known?.type ?? (SOFTWARE_DEVICE.test(d.device) ? 'cpu' : 'gpu');
  return {
    vendor: known?.vendor ?? 'unknown',
    device: d.device,
    type,
    description: `${d.device}; Vulkan driver ${lib}${known ? `, ${known.driver}` : ''}`,
  };
}

/** GPU device nodes on Linux: a hardware Vulkan driver needs one (Mesa: a DRM render node; NVIDIA: /dev/nvidiaN). */
export function gpuDeviceNodes(dev = '/dev'): string[] {
  const list = (d: string) => {
    try {
      return fs.readdirSync(d);
    } catch {
      return [];
    }
  };
  return [
    ...list(path.join(dev, 'dri'))
      .filter((f) => /^renderD\d+$/.test(f))
      .map((f) => path.join(dev, 'dri', f)),
    ...list(dev)
      .filter((f) => /^nvidia\d+$/.test(f))
      .map((f) => path.join(dev, f)),
  ];
}

export interface WebgpuAdapter {
  /** Set when the probe session started. */
  adapter?: AdapterReport;
  /** Why the WebGPU session could not start in the probe (onnxruntime's first line). */
  error?: string;
}

/** What the probe says about the WebGPU adapter (pure: the decision logic, tested on recorded loader output). */
export function webgpuAdapterFromProbe(
  probe: Pick<EpProbe, 'ok' | 'error' | 'stderr'>,
  platform: NodeJS.Platform,
  gpuNodes: string[],
): WebgpuAdapter {
  if (!probe.ok) return { error: probe.error ?? 'unknown error' };
  const used = parseVulkanLoaderLog(probe.stderr ?? '');
  if (used) return { adapter: classifyVulkanDevice(used) };
  if (platform === 'linux' && gpuNodes.length === 0) {
    return {
      adapter: {
        vendor: 'unknown',
        device: 'unknown',
        type: 'cpu',
        description: 'a Vulkan device on a machine with no GPU device node (/dev/dri/renderD*, /dev/nvidia*), so a CPU driver',
      },
    };
  }
  return {
    adapter: {
      vendor: 'unknown',
      device: 'unknown',
      type: 'unknown',
      description: 'not identified (the Vulkan loader did not name the device)',
    },
  };
}

/** Why `auto` must not use this adapter, or undefined when it may. */
export function autoSkipReason(a: WebgpuAdapter): string | undefined {
  if (a.error) return `session creation failed: ${a.error}`;
  if (a.adapter?.type === 'cpu') return `software adapter (${a.adapter.description}); the CPU EP is faster on the same cores`;
  return undefined;
}

let webgpuProbe: Promise<WebgpuAdapter> | undefined;

/** Probe the WebGPU adapter once per process (a child process; see the header). */
export function probeWebgpuAdapter(): Promise<WebgpuAdapter> {
  webgpuProbe ??= (async () => {
    let ortDir: string;
    try {
      ortDir = path.dirname(require.resolve('onnxruntime-node/package.json'));
    } catch (e) {
      return { error: `cannot locate onnxruntime-node (${(e as Error).message})` };
    }
    const probe = await probeEp('webgpu', { ortDir, timeoutMs: 60_000, env: { ...process.env, VK_LOADER_DEBUG: 'driver' } });
    return webgpuAdapterFromProbe(probe, process.platform, gpuDeviceNodes());
  })();
  return webgpuProbe;
}

/** The CPU, for the CPU EP: vendor and model from the OS. */
export function cpuAdapter(): AdapterReport {
  const cpus = os.cpus();
  const model = cpus[0]?.model?.trim() || 'unknown CPU';
  let vendor = 'unknown';
  try {
    vendor = /^vendor_id\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1].trim() ?? vendor;
  } catch {
    if (process.platform === 'darwin') vendor = 'Apple';
  }
  return { vendor, device: model, type: 'cpu', description: `${model}, ${cpus.length} logical cores (${os.arch()})` };
}

/** The first NVIDIA GPU the driver lists, for the CUDA EP. */
export function cudaAdapter(procDir = '/proc/driver/nvidia/gpus'): AdapterReport {
  try {
    for (const bus of fs.readdirSync(procDir).sort()) {
      const model = /^Model:\s*(.+)$/m.exec(fs.readFileSync(path.join(procDir, bus, 'information'), 'utf8'))?.[1].trim();
      if (model) return { vendor: 'NVIDIA', device: model, type: 'gpu', description: `${model} (PCI ${bus}), CUDA` };
    }
  } catch {
    /* not Linux, or no driver information: say what we know */
  }
  return { vendor: 'NVIDIA', device: 'unknown', type: 'gpu', description: 'an NVIDIA GPU (CUDA; model not readable)' };
}

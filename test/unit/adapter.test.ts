// Which adapter an execution provider runs on, and the rule that `--ep auto` never picks a software WebGPU adapter.
// The decision logic on recorded Vulkan loader output; the real lavapipe run is in epAgreement.test.ts.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  autoSkipReason,
  classifyVulkanDevice,
  cpuAdapter,
  cudaAdapter,
  gpuDeviceNodes,
  parseVulkanLoaderLog,
  webgpuAdapterFromProbe,
} from '../../src/analysis/run/adapter';
import { tmpDir } from '../helpers/tmp';

// Recorded here: onnxruntime-node 1.30's WebGPU session on Mesa 25.0.7 lavapipe (bookworm-backports), Vulkan loader
// 1.3.239, VK_LOADER_DEBUG=driver (the lines around the one that matters).
const LAVAPIPE_LOG = `DRIVER:           Found ICD manifest file /usr/share/vulkan/icd.d/lvp_icd.json, version "1.0.0"
DRIVER:           Found ICD manifest file /usr/share/vulkan/icd.d/radeon_icd.json, version "1.0.0"
INFO | DRIVER:    linux_read_sorted_physical_devices:
INFO | DRIVER:         Original order:
INFO | DRIVER:               [0] llvmpipe (LLVM 15.0.6, 256 bits)
INFO | DRIVER:         Sorted order:
INFO | DRIVER:               [0] llvmpipe (LLVM 15.0.6, 256 bits)
DEBUG | DRIVER:   Copying old device 0 into new device 0
Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.
DRIVER:           vkCreateDevice layer callstack setup to:
DRIVER:              <Application>
DRIVER:                ||
DRIVER:              <Loader>
DRIVER:                ||
DRIVER:              <Device>
DRIVER:                  Using "llvmpipe (LLVM 15.0.6, 256 bits)" with driver: "libvulkan_lvp.so"`;

const usingLine = (device: string, driver: string) => `DRIVER:                  Using "${device}" with driver: "${driver}"`;

test('lavapipe: the device the loader opened is a software adapter, and auto skips it with that reason', () => {
  assert.deepEqual(parseVulkanLoaderLog(LAVAPIPE_LOG), { device: 'llvmpipe (LLVM 15.0.6, 256 bits)', driver: 'libvulkan_lvp.so' });
  const a = webgpuAdapterFromProbe({ ok: true, stderr: LAVAPIPE_LOG }, 'linux', []);
  assert.equal(a.adapter?.type, 'cpu');
  assert.equal(a.adapter?.vendor, 'Mesa');
  assert.equal(a.adapter?.device, 'llvmpipe (LLVM 15.0.6, 256 bits)');
  assert.match(autoSkipReason(a)!, /^software adapter \(llvmpipe \(LLVM 15\.0\.6, 256 bits\); Vulkan driver libvulkan_lvp\.so, lavapipe/);
  // The loader line decides even where a GPU node exists (a GPU without a Vulkan driver: Dawn falls back to lavapipe).
  assert.equal(webgpuAdapterFromProbe({ ok: true, stderr: LAVAPIPE_LOG }, 'linux', ['/dev/dri/renderD128']).adapter?.type, 'cpu');
});

test('SwiftShader, and an unknown driver named like a software rasteriser, are software too', () => {
  const sw = classifyVulkanDevice({ device: 'SwiftShader Device (Subzero) (0x0000C0DE)', driver: '/opt/chrome/libvk_swiftshader.so' });
  assert.equal(sw.type, 'cpu');
  assert.equal(sw.vendor, 'Google');
  assert.match(autoSkipReason({ adapter: sw })!, /software adapter \(SwiftShader Device/);
  assert.equal(classifyVulkanDevice({ device: 'llvmpipe (LLVM 19.1.7, 256 bits)', driver: '/usr/lib/libvulkan_custom.so' }).type, 'cpu');
});

test('GPU drivers are GPUs: auto may use them, and the adapter names vendor and device', () => {
  const cases: [string, string, string][] = [
    ['NVIDIA H100 80GB HBM3', 'libGLX_nvidia.so.0', 'NVIDIA'],
    ['AMD Radeon RX 7900 XTX (RADV NAVI31)', '/usr/lib/x86_64-linux-gnu/libvulkan_radeon.so', 'AMD'],
    ['Intel(R) Arc(tm) A770 Graphics (DG2)', 'libvulkan_intel.so', 'Intel'],
    ['Virtio-GPU Venus (NVIDIA GeForce RTX 4090)', 'libvulkan_virtio.so', 'virtio-gpu'],
  ];
  for (const [device, driver, vendor] of cases) {
    const a = webgpuAdapterFromProbe(
      { ok: true, stderr: `${LAVAPIPE_LOG.split('\n').slice(0, 7).join('\n')}\n${usingLine(device, driver)}` },
      'linux',
      ['/dev/dri/renderD128'],
    );
    assert.equal(a.adapter?.type, 'gpu', device);
    assert.equal(a.adapter?.vendor, vendor);
    assert.equal(a.adapter?.device, device);
    assert.equal(autoSkipReason(a), undefined, device);
  }
  // The last device opened counts (the loader logs each vkCreateDevice).
  const two = `${usingLine('llvmpipe (LLVM 15.0.6, 256 bits)', 'libvulkan_lvp.so')}\n${usingLine('AMD Radeon Pro W7900 (RADV NAVI31)', 'libvulkan_radeon.so')}`;
  assert.equal(parseVulkanLoaderLog(two)?.driver, 'libvulkan_radeon.so');
});

test('without the loader line: no GPU device node on Linux means a CPU driver; otherwise unknown and auto tries it', () => {
  const none = webgpuAdapterFromProbe({ ok: true, stderr: 'Warning: something else' }, 'linux', []);
  assert.equal(none.adapter?.type, 'cpu');
  assert.match(autoSkipReason(none)!, /software adapter \(.*no GPU device node/);
  const gpu = webgpuAdapterFromProbe({ ok: true }, 'linux', ['/dev/nvidia0']);
  assert.equal(gpu.adapter?.type, 'unknown');
  assert.equal(autoSkipReason(gpu), undefined);
  assert.equal(webgpuAdapterFromProbe({ ok: true }, 'win32', []).adapter?.type, 'unknown');
});

test("a probe that could not start WebGPU: auto skips with onnxruntime's reason", () => {
  const a = webgpuAdapterFromProbe(
    { ok: false, error: 'Failed to get a WebGPU adapter: No supported adapters', stderr: LAVAPIPE_LOG },
    'linux',
    [],
  );
  assert.equal(a.adapter, undefined);
  assert.equal(autoSkipReason(a), 'session creation failed: Failed to get a WebGPU adapter: No supported adapters');
});

test('GPU device nodes: DRM render nodes and /dev/nvidiaN, not card nodes or nvidiactl', () => {
  const dev = tmpDir('inheritune-dev-');
  fs.mkdirSync(path.join(dev, 'dri'));
  for (const f of ['dri/card0', 'dri/renderD128', 'nvidia0', 'nvidiactl', 'nvidia-uvm']) fs.writeFileSync(path.join(dev, f), '');
  assert.deepEqual(gpuDeviceNodes(dev), [path.join(dev, 'dri/renderD128'), path.join(dev, 'nvidia0')]);
  assert.deepEqual(gpuDeviceNodes(path.join(dev, 'absent')), []);
});

test('the CPU EP names the CPU; the CUDA EP the first GPU the NVIDIA driver lists', () => {
  const c = cpuAdapter();
  assert.equal(c.type, 'cpu');
  assert.ok(c.device.length > 0 && c.description.includes(c.device));
  const proc = tmpDir('inheritune-nv-');
  fs.mkdirSync(path.join(proc, '0000:01:00.0'));
  fs.writeFileSync(path.join(proc, '0000:01:00.0', 'information'), 'Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   \t\t 42\n');
  assert.deepEqual(cudaAdapter(proc), {
    vendor: 'NVIDIA',
    device: 'NVIDIA H100 80GB HBM3',
    type: 'gpu',
    description: 'NVIDIA H100 80GB HBM3 (PCI 0000:01:00.0), CUDA',
  });
  assert.equal(cudaAdapter(path.join(proc, 'absent')).device, 'unknown');
});

/**
 * The shared libraries an ELF file asks the loader for (DT_NEEDED) and its RUNPATH: read from the installed CUDA
 * provider library itself, so gpu-check lists what THIS build needs (libcudart.so.12, libcudnn.so.9, ...) rather
 * than a list that goes stale with the next onnxruntime. 64-bit little-endian only (linux/x64); reads a few KiB
 * through `readAt`, never the whole file.
 * Hand-written because the npm ELF readers either parse a Buffer of the whole file (elfy, readelf.js: hundreds of
 * MB for the CUDA provider library) or hand back raw section bytes (@bugsplat/elfy), leaving the .dynamic parsing
 * that is most of this file; readelf/objdump (binutils) are not installed on every machine gpu-check runs on.
 */
import * as fs from 'node:fs';

export type ReadAt = (offset: number, length: number) => Buffer;

export interface ElfDynamic {
  needed: string[];
  soname?: string;
  runpath?: string;
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const DT = { NULL: 0, NEEDED: 1, STRTAB: 5, STRSZ: 10, SONAME: 14, RPATH: 15, RUNPATH: 29 };

/** undefined when this is not a 64-bit little-endian ELF with a dynamic section. */
export function readElfDynamic(readAt: ReadAt): ElfDynamic | undefined {
  const h = readAt(0, 64);
  if (h.length < 64 || h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2 || h[5] !== 1) return undefined;
  const phoff = Number(h.readBigUInt64LE(0x20));
  const phentsize = h.readUInt16LE(0x36);
  const phnum = h.readUInt16LE(0x38);
  if (phentsize < 56 || phnum === 0 || phnum > 4096) return undefined;
  const ph = readAt(phoff, phentsize * phnum);
  const loads: { vaddr: number; offset: number; filesz: number }[] = [];
  let dyn: { offset: number; size: number } | undefined;
  for (let i = 0; i < phnum; i++) {
    const b = i * phentsize;
    if (b + 56 > ph.length) break;
    const type = ph.readUInt32LE(b);
    const offset = Number(ph.readBigUInt64LE(b + 8));
    const vaddr = Number(ph.readBigUInt64LE(b + 16));
    const filesz = Number(ph.readBigUInt64LE(b + 32));
    if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
    if (type === PT_DYNAMIC) dyn = { offset, size: filesz };
  }
  if (!dyn || dyn.size > 1 << 20) return undefined;
  const d = readAt(dyn.offset, dyn.size);
  const entries: [number, number][] = [];
  for (let o = 0; o + 16 <= d.length; o += 16) {
    const tag = Number(d.readBigInt64LE(o));
    if (tag === DT.NULL) break;
    entries.push([tag, Number(d.readBigUInt64LE(o + 8))]);
  }
  const strtabVaddr = entries.find(([t]) => t === DT.STRTAB)?.[1];
  const strsz = entries.find(([t]) => t === DT.STRSZ)?.[1];
  if (strtabVaddr === undefined || strsz === undefined || strsz > 16 << 20) return undefined;
  const seg = loads.find((l) => strtabVaddr >= l.vaddr && strtabVaddr < l.vaddr + l.filesz);
  // Shared objects linked at 0 have vaddr == file offset; otherwise map through the PT_LOAD segment.
  const strOff = seg ? strtabVaddr - seg.vaddr + seg.offset : strtabVaddr;
  const strtab = readAt(strOff, strsz);
  const str = (i: number): string => {
    const end = strtab.indexOf(0, i);
    return strtab.toString('utf8', i, end < 0 ? strtab.length : end);
  };
  const out: ElfDynamic = { needed: [] };
  for (const [t, v] of entries) {
    if (t === DT.NEEDED) out.needed.push(str(v));
    else if (t === DT.SONAME) out.soname = str(v);
    else if (t === DT.RUNPATH || (t === DT.RPATH && out.runpath === undefined)) out.runpath = str(v);
  }
  return out;
}

export function readElfDynamicFile(file: string): ElfDynamic | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const readAt: ReadAt = (offset, length) => {
      const b = Buffer.alloc(length);
      const n = fs.readSync(fd, b, 0, length, offset);
      return b.subarray(0, n);
    };
    return readElfDynamic(readAt);
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

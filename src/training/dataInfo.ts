/**
 * What a Start Training data choice is, before the trainer sees it: a train.bin/val.bin folder (and its token count),
 * or text the trainer will tokenize (the files it would read and their bytes, with the trainer's own suffix list and
 * walk: trainer/inheritune_trainer/textdata.py). The form's defaults and estimates come from this. No vscode.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DataInfo } from '../shared/startTrainingProtocol';

export const TEXT_SUFFIXES = ['.txt', '.md', '.jsonl', '.parquet'] as const;
const MAX_FILES = 100_000;

async function stat(p: string) {
  return fs.stat(p).catch(() => undefined);
}

async function walk(dir: string, out: { bytes: number; files: number }): Promise<void> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (out.files >= MAX_FILES || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await walk(p, out);
    else if (e.isFile() && (TEXT_SUFFIXES as readonly string[]).includes(path.extname(e.name).toLowerCase())) {
      out.files++;
      out.bytes += (await stat(p))?.size ?? 0;
    }
  }
}

/** Describe `paths` (relative ones against `base`). */
export async function describeData(paths: string[], base = process.cwd()): Promise<DataInfo> {
  const abs = paths.map((p) => path.resolve(base, p));
  if (!abs.length) return { paths, kind: 'empty', bytes: 0, files: 0, error: 'no data chosen' };
  if (abs.length === 1) {
    const s = await stat(abs[0]);
    if (s?.isDirectory()) {
      const train = await stat(path.join(abs[0], 'train.bin'));
      if (train?.isFile()) {
        const val = await stat(path.join(abs[0], 'val.bin'));
        if (!val?.isFile()) return { paths, kind: 'missing', bytes: 0, files: 0, error: `${paths[0]} has train.bin but no val.bin` };
        let itemsize = 2;
        try {
          const meta = JSON.parse(await fs.readFile(path.join(abs[0], 'meta.json'), 'utf8')) as { dtype?: string };
          if (meta.dtype === 'uint32') itemsize = 4;
        } catch {
          /* no meta.json: uint16 */
        }
        const bytes = train.size + val.size;
        return { paths, kind: 'bin', bytes, files: 2, tokens: Math.floor(bytes / itemsize) };
      }
    }
  }
  const acc = { bytes: 0, files: 0 };
  for (let i = 0; i < abs.length; i++) {
    const s = await stat(abs[i]);
    if (!s) return { paths, kind: 'missing', bytes: 0, files: 0, error: `${paths[i]} does not exist` };
    if (s.isDirectory()) await walk(abs[i], acc);
    else if ((TEXT_SUFFIXES as readonly string[]).includes(path.extname(abs[i]).toLowerCase())) {
      acc.files++;
      acc.bytes += s.size;
    } else
      return {
        paths,
        kind: 'missing',
        bytes: 0,
        files: 0,
        error: `${paths[i]}: not a text file the trainer reads (${TEXT_SUFFIXES.join(', ')})`,
      };
  }
  if (!acc.files)
    return {
      paths,
      kind: 'empty',
      bytes: 0,
      files: 0,
      error: `no train.bin/val.bin and no ${TEXT_SUFFIXES.join(' / ')} files in ${paths.join(', ')}`,
    };
  return { paths, kind: 'text', ...acc };
}

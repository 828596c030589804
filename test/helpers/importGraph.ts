/**
 * The import graph of the TypeScript sources, folder by folder (test/unit/architecture.test.ts). A node is a file's
 * folder (src/analysis/rank, webview/shared, ...), except for files directly in src/, which are each their own node
 * (cli.ts and extension.ts sit on top, errors.ts and version.ts at the bottom). Only relative imports count; `import
 * type` counts too (a type-only cycle still ties the folders together).
 */
import { readdirSync } from 'node:fs';
import * as path from 'node:path';

export interface Edge {
  from: string;
  to: string;
  /** One file-level import that makes this edge: "src/a/x.ts -> src/b/y.ts". */
  via: string;
}

/** Every .ts file under `dir` (relative to `root`, with forward slashes). */
export function tsFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...tsFiles(root, rel));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** The relative module specifiers a source imports, re-exports, import()s or require()s. */
export function importSpecifiers(source: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;
  for (let m = re.exec(source); m; m = re.exec(source)) out.push(m[1]);
  return out;
}

export function nodeOf(file: string): string {
  const dir = path.posix.dirname(file);
  return dir === 'src' ? file : dir;
}

/** Folder-level edges (self-edges dropped) from file-level imports. `read` gives a file's source. */
export function folderEdges(files: string[], read: (file: string) => string): Edge[] {
  const known = new Set(files);
  const edges = new Map<string, Edge>();
  for (const file of files) {
    for (const spec of importSpecifiers(read(file))) {
      const base = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      const target = [`${base}.ts`, `${base}/index.ts`, base].find((t) => known.has(t));
      if (!target) continue; // not a source file of the graph (json, css, node_modules, ...)
      const from = nodeOf(file);
      const to = nodeOf(target);
      if (from === to) continue;
      const key = `${from}\0${to}`;
      if (!edges.has(key)) edges.set(key, { from, to, via: `${file} -> ${target}` });
    }
  }
  return [...edges.values()];
}

/** The cycles of the graph: each strongly connected component with more than one node, as a closed path of edges. */
export function cycles(edges: Edge[]): Edge[][] {
  const adj = new Map<string, Edge[]>();
  for (const e of edges) {
    if (!adj.has(e.from)) adj.set(e.from, []);
    adj.get(e.from)!.push(e);
  }
  // Tarjan's strongly connected components
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const comps: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const e of adj.get(v) ?? []) {
      if (!index.has(e.to)) {
        visit(e.to);
        low.set(v, Math.min(low.get(v)!, low.get(e.to)!));
      } else if (onStack.has(e.to)) low.set(v, Math.min(low.get(v)!, index.get(e.to)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) comps.push(comp);
    }
  };
  const nodes = new Set(edges.flatMap((e) => [e.from, e.to]));
  for (const v of nodes) if (!index.has(v)) visit(v);
  // one closed path per component, for the message: breadth-first from its first node back to itself
  return comps.map((comp) => {
    const inComp = new Set(comp);
    const start = comp[0];
    const prev = new Map<string, Edge>();
    const queue = [start];
    while (queue.length) {
      const v = queue.shift()!;
      for (const e of adj.get(v) ?? []) {
        if (!inComp.has(e.to)) continue;
        if (e.to === start) {
          const pathBack = [e];
          for (let at = v; at !== start; at = prev.get(at)!.from) pathBack.unshift(prev.get(at)!);
          return pathBack;
        }
        if (!prev.has(e.to)) {
          prev.set(e.to, e);
          queue.push(e.to);
        }
      }
    }
    return [];
  });
}

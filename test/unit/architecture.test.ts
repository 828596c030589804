/**
 * The shape of the tree: no import cycles between folders, and one definition of each rule shared by the analysis,
 * the CLI, the extension and the webview (src/shared/report.ts). Both read the sources as they are on disk.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { EP_NAMES, K_STAR_MODES } from '../../src/shared/report';
import { cycles, folderEdges, importSpecifiers, tsFiles, type Edge } from '../helpers/importGraph';

const ROOT = path.resolve(__dirname, '../..');
const read = (f: string): string => readFileSync(path.join(ROOT, f), 'utf8');
const SOURCES = [...tsFiles(ROOT, 'src'), ...tsFiles(ROOT, 'webview')];

describe('folder imports', () => {
  test('the folders of src/ and webview/ import each other without cycles', () => {
    const found = cycles(folderEdges(SOURCES, read));
    const text = found.map((c) => c.map((e) => `  ${e.from} -> ${e.to}   (${e.via})`).join('\n')).join('\n\n');
    assert.equal(found.length, 0, `folder import cycles (move the shared piece to a folder both may import):\n${text}`);
  });

  test('the check finds a cycle and names the imports that close it', () => {
    const files: Record<string, string> = {
      'src/a/x.ts': "import { y } from '../b/y';",
      'src/b/y.ts': "import type { z } from '../c/z';\nexport const y = 1;",
      'src/c/z.ts': "export { x } from '../a/x';",
      'src/d/w.ts': "import { y } from '../b/y';",
    };
    const found = cycles(folderEdges(Object.keys(files), (f) => files[f]));
    assert.equal(found.length, 1);
    const names = (c: Edge[]) => c.map((e) => e.from).sort();
    assert.deepEqual(names(found[0]), ['src/a', 'src/b', 'src/c']);
    assert.ok(found[0].some((e) => e.via === 'src/c/z.ts -> src/a/x.ts'));
  });

  test('import specifiers: static, re-export, dynamic, require; relative only', () => {
    const src =
      "import a from './a';\nimport type { B } from '../b';\nexport * from './c';\nconst d = await import('./d');\nrequire('../e');\nimport 'vscode';\nimport './side';";
    assert.deepEqual(importSpecifiers(src), ['./a', '../b', './c', './d', '../e', './side']);
  });

  test('imports flow one way: entry points -> commands -> tasks -> views -> ui -> core -> shared', () => {
    // A folder may import folders of a lower layer, and core folders each other (the cycle test keeps those acyclic).
    const LAYERS: [number, string[]][] = [
      [6, ['src/extension.ts', 'src/cli.ts']],
      [5, ['src/commands']],
      [4, ['src/tasks']],
      [3, ['src/views']],
      [2, ['src/ui', 'webview/attention', 'webview/training', 'webview/safetensors', 'webview/startTraining']],
      [
        1,
        [
          'src/analysis',
          'src/arch',
          'src/checkpoint',
          'src/surgery',
          'src/training',
          'src/gpu',
          'src/fixtures',
          'src/inspect.ts',
          'webview/shared',
        ],
      ],
      [0, ['src/shared', 'src/util', 'src/errors.ts', 'src/version.ts']],
    ];
    const rank = new Map(LAYERS.flatMap(([r, names]) => names.map((n) => [n, r] as const)));
    const top = (node: string): string => node.split('/').slice(0, 2).join('/');
    for (const e of folderEdges(SOURCES, read)) {
      const [from, to] = [top(e.from), top(e.to)];
      if (from === to) continue;
      for (const n of [from, to]) assert.ok(rank.has(n), `${n} is in no layer of this test: add it where it belongs (${e.via})`);
      const ok =
        rank.get(to)! < rank.get(from)! || (rank.get(to) === 1 && rank.get(from) === 1 && from.startsWith('src/') && to.startsWith('src/'));
      assert.ok(ok, `${from} must not import ${to}, a layer above or beside it (${e.via})`);
    }
  });

  test('src/analysis subfolders sit in layers: kernels <- rank <- metrics <- run; graph apart', () => {
    const edges = folderEdges(SOURCES, read).filter((e) => e.from.startsWith('src/analysis/') && e.to.startsWith('src/analysis/'));
    const layer: Record<string, number> = {
      'src/analysis/kernels': 0,
      'src/analysis/rank': 1,
      'src/analysis/graph': 1,
      'src/analysis/metrics': 2,
      'src/analysis/run': 3,
    };
    for (const e of edges) {
      if (!(e.from in layer) || !(e.to in layer)) continue;
      assert.ok(
        layer[e.to] < layer[e.from] || (e.from === 'src/analysis/run' && e.to === 'src/analysis/graph'),
        `${e.from} must not import ${e.to} (${e.via})`,
      );
    }
  });
});

describe('one definition of each shared rule', () => {
  /** Where `pattern` occurs in the sources (and test helpers), as "file:line". */
  const where = (pattern: RegExp, files = SOURCES): string[] => {
    const out: string[] = [];
    for (const f of files) {
      read(f)
        .split('\n')
        .forEach((line, i) => {
          if (pattern.test(line)) out.push(`${f}:${i + 1}`);
        });
    }
    return out;
  };
  const only = (pattern: RegExp, file: string, what: string): void => {
    const at = where(pattern);
    assert.deepEqual(
      at.map((a) => a.replace(/:\d+$/, '')),
      [file],
      `${what} must be defined once, in ${file}; found at ${at.join(', ') || 'nowhere'}. Import it from there.`,
    );
  };

  test('types and lists of src/shared/report.ts', () => {
    only(/^\s*(export\s+)?type\s+EpName\s*=/, 'src/shared/report.ts', 'EpName');
    only(/^\s*(export\s+)?(const|let|var)\s+EP_NAMES\b/, 'src/shared/report.ts', 'EP_NAMES');
    only(/^\s*(export\s+)?type\s+KStarMode\s*=/, 'src/shared/report.ts', 'KStarMode');
    only(/^\s*(export\s+)?type\s+DegenerateWhen\s*=/, 'src/shared/report.ts', 'DegenerateWhen');
    only(/^\s*(export\s+)?(function|const|let)\s+isDegenerate\b/, 'src/shared/report.ts', 'isDegenerate');
    only(/^\s*(export\s+)?(interface|type)\s+ExecutionProviderReport\b/, 'src/shared/report.ts', 'ExecutionProviderReport');
  });

  test('no spelled-out copies of the shared unions', () => {
    // The unions themselves, written out as types or option lists anywhere but their definition.
    const copies = [
      /'kStar'\s*\|\s*'mStar'\s*\|\s*'either'/,
      /\['kStar',\s*'mStar',\s*'either'\]/,
      /'mean'\s*\|\s*'per-seq'/,
      /\['mean',\s*'per-seq'\]/,
      /'auto'\s*\|\s*'c(uda|pu)'/,
      /\['auto',\s*'c(uda|pu)'/,
    ];
    for (const re of copies) {
      const at = where(re).filter((a) => !a.startsWith('src/shared/report.ts:'));
      assert.deepEqual(at, [], `${re} is spelled out again at ${at.join(', ')}; import the type or list from src/shared/report.ts`);
    }
  });

  test('the settings offer exactly the shared lists (package.json enums)', () => {
    const pkg = JSON.parse(read('package.json')) as {
      contributes: {
        configuration: { properties: Record<string, { enum?: string[] }> } | { properties: Record<string, { enum?: string[] }> }[];
      };
    };
    const conf = pkg.contributes.configuration;
    const props = Object.assign({}, ...(Array.isArray(conf) ? conf : [conf]).map((c) => c.properties)) as Record<
      string,
      { enum?: string[] }
    >;
    assert.deepEqual(props['inheritune.analysis.executionProvider'].enum, [...EP_NAMES]);
    assert.deepEqual(props['inheritune.analysis.mode'].enum, [...K_STAR_MODES]);
  });

  test('random generators and hook names live in one place', () => {
    only(/\bclass\s+Rng\b/, 'src/util/random.ts', 'Rng');
    only(/\bclass\s+Xorshift\b/, 'src/util/random.ts', 'Xorshift');
    only(/\bfunction\s+hookName\b/, 'src/analysis/graph/graph.ts', 'hookName');
    const spelled = where(/`blocks\.\$\{[^}]+\}\.(attn\.pattern|resid_pre|resid_post)`/).filter(
      (a) => !a.startsWith('src/analysis/graph/graph.ts:'),
    );
    assert.deepEqual(spelled, [], `hook names spelled out at ${spelled.join(', ')}; use hookName from src/analysis/graph/graph.ts`);
  });
});

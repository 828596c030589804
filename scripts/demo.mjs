#!/usr/bin/env node
// The main job on a built-in demo checkpoint: make a seeded 8-layer GPT-2-shaped reference whose last three layers
// are planted lazy, inherit half of its layers, inspect both, and analyze both (when the analysis engine is built).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'demo-out');
const cli = path.join(root, 'dist', 'cli.js');
mkdirSync(out, { recursive: true });

function run(...args) {
  console.log(`\n$ inheritune ${args.map((a) => (a.startsWith(root) ? path.relative(root, a) : a)).join(' ')}`);
  const r = spawnSync('node', [cli, ...args], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const ref = path.join(out, 'demo-gpt2-8L');
const child = path.join(out, 'demo-gpt2-8L-inherit-4L');
run(
  'synth',
  '--family',
  'gpt2',
  '--layers',
  '8',
  '--hidden',
  '64',
  '--heads',
  '4',
  '--vocab',
  '50257',
  '--context',
  '256',
  '--lazy',
  '5-7',
  '--seed',
  '42',
  '--out',
  ref,
  '--force',
);
run('inherit', ref, '--layers', '4', '--out', child, '--force');
run('inspect', ref);
run('inspect', child);
const hasAnalyze = /^\s+analyze /m.test(spawnSync('node', [cli, '--help'], { encoding: 'utf8' }).stdout);
if (hasAnalyze) {
  run('analyze', ref, '--seq-len', '128', '--batch', '2', '--json', path.join(out, 'demo-gpt2-8L.report.json'));
  run('analyze', child, '--seq-len', '128', '--batch', '2', '--json', path.join(out, 'demo-gpt2-8L-inherit-4L.report.json'));
}
console.log(`\nDemo outputs are in ${path.relative(process.cwd(), out) || '.'}/`);
if (!existsSync(child)) process.exit(1);

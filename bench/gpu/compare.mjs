#!/usr/bin/env node
// Compare two `inheritune analyze --json` reports (e.g. WebGPU vs CPU): are k* and m* identical per head, and how far
// apart is every other per-head / per-layer number (max |Δ|)? Also the execution provider each used and its timings.
// Usage: node compare.mjs A.json B.json   (exit 0 when k*, m* and the lazy-layer verdicts are identical, 3 if not)
import { readFileSync } from 'node:fs';

const [fa, fb] = process.argv.slice(2);
if (!fa || !fb) {
  console.error('usage: node compare.mjs A.json B.json');
  process.exit(2);
}
const A = JSON.parse(readFileSync(fa, 'utf8'));
const B = JSON.parse(readFileSync(fb, 'utf8'));
const name = (r, f) => `${r.executionProvider?.used ?? '?'} (${f})`;

console.log(`A = ${name(A, fa)}   B = ${name(B, fb)}`);
for (const [label, r] of [
  ['A', A],
  ['B', B],
]) {
  const t = r.timings ?? {};
  const skipped = (r.executionProvider?.skipped ?? []).map((s) => `${s.name}: ${s.reason}`).join('; ');
  console.log(
    `  ${label} timings: ${Object.entries(t)
      .map(([k, v]) => `${k} ${(v / 1000).toFixed(2)} s`)
      .join(', ')}${skipped ? `   (skipped ${skipped})` : ''}`,
  );
}
if (A.layers.length !== B.layers.length) {
  console.log(`different layer counts: ${A.layers.length} vs ${B.layers.length}`);
  process.exit(3);
}

const EXACT = ['kStar', 'mStar'];
const mismatches = [];
let heads = 0;
const maxAbs = {};
const bump = (k, a, b) => {
  if (typeof a !== 'number' || typeof b !== 'number') return;
  const d = Math.abs(a - b);
  if (!(k in maxAbs) || d > maxAbs[k].d) maxAbs[k] = { d, a, b };
};
let lazyDiff = 0;
for (let l = 0; l < A.layers.length; l++) {
  const la = A.layers[l];
  const lb = B.layers[l];
  if (la.lazy !== lb.lazy) lazyDiff++;
  for (const k of ['maxKStar', 'meanKStar', 'blockInfluence', 'angularDistance']) bump(`layer.${k}`, la[k], lb[k]);
  for (let h = 0; h < la.heads.length; h++) {
    heads++;
    const ha = la.heads[h];
    const hb = lb.heads[h];
    for (const k of EXACT) if (ha[k] !== hb[k]) mismatches.push(`layer ${la.index} head ${h} ${k}: ${ha[k]} vs ${hb[k]}`);
    for (const k of Object.keys(ha)) if (!EXACT.includes(k)) bump(`head.${k}`, ha[k], hb[k]);
  }
}
const same = mismatches.length === 0 && lazyDiff === 0 && A.suggestedN === B.suggestedN;
console.log(
  `k*/m*: ${mismatches.length === 0 ? 'IDENTICAL' : 'DIFFER'} over ${heads} heads (${mismatches.length} of ${heads * EXACT.length} values differ)`,
);
for (const m of mismatches.slice(0, 12)) console.log(`  ${m}`);
if (mismatches.length > 12) console.log(`  ... ${mismatches.length - 12} more`);
console.log(`lazy layers: ${lazyDiff === 0 ? 'same' : `${lazyDiff} differ`}; suggested n: ${A.suggestedN} vs ${B.suggestedN}`);
console.log('max |Δ| of everything else:');
for (const [k, v] of Object.entries(maxAbs)) console.log(`  ${k.padEnd(24)} ${v.d.toExponential(3)}   (${v.a} vs ${v.b})`);
process.exit(same ? 0 : 3);

import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { writeFolderAtomically } from '../../src/checkpoint/writer';
import { writeSynthCheckpoint } from '../../src/fixtures/synth';
import { analyzeCheckpoint } from '../../src/analysis/analyze';
import { defaultOutDir, freeOutDir } from '../../src/surgery/inputs';
import { tmpDir } from '../helpers/tmp';

const modeOf = async (p: string) => (await fsp.stat(p)).mode & 0o777;

test('an output folder gets the mode a plain mkdir gives under the umask (0755 under 022, 0750 under 027)', async () => {
  const dir = tmpDir();
  const old = process.umask(0o022);
  try {
    await writeFolderAtomically(path.join(dir, 'out'), false, async (tmp) => fsp.writeFile(path.join(tmp, 'a.txt'), 'x'));
    assert.equal((await modeOf(path.join(dir, 'out'))).toString(8), '755');
    // Replacing an existing folder (force) gives the new one the same mode.
    await writeFolderAtomically(path.join(dir, 'out'), true, async (tmp) => fsp.writeFile(path.join(tmp, 'b.txt'), 'y'));
    assert.equal((await modeOf(path.join(dir, 'out'))).toString(8), '755');
    assert.ok(existsSync(path.join(dir, 'out', 'b.txt')) && !existsSync(path.join(dir, 'out', 'a.txt')));
    process.umask(0o027);
    await writeFolderAtomically(path.join(dir, 'out2'), false, async () => undefined);
    assert.equal((await modeOf(path.join(dir, 'out2'))).toString(8), '750');
  } finally {
    process.umask(old);
  }
});

test('synth and --save-patterns folders are 0755 under umask 022 too', async () => {
  const dir = tmpDir();
  const old = process.umask(0o022);
  try {
    const ck = path.join(dir, 'ck');
    await writeSynthCheckpoint(ck, { family: 'gpt2', numLayers: 2, seed: 1 });
    assert.equal((await modeOf(ck)).toString(8), '755');
    await analyzeCheckpoint(ck, { seqLen: 8, batch: 1, ep: 'cpu', savePatterns: path.join(dir, 'patterns') });
    assert.equal((await modeOf(path.join(dir, 'patterns'))).toString(8), '755');
  } finally {
    process.umask(old);
  }
});

test('the default output name is made free: -inherit-15L, then -inherit-15L-2, -3', () => {
  const base = defaultOutDir('/m/ref', 15);
  assert.equal(base, path.join('/m', 'ref-inherit-15L'));
  const taken = new Set<string>();
  assert.equal(
    freeOutDir(base, (p) => taken.has(p)),
    base,
  );
  taken.add(base);
  assert.equal(
    freeOutDir(base, (p) => taken.has(p)),
    `${base}-2`,
  );
  taken.add(`${base}-2`);
  assert.equal(
    freeOutDir(base, (p) => taken.has(p)),
    `${base}-3`,
  );
});

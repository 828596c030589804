import assert from 'node:assert/strict';
import { promises as fsp, utimesSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { cachedReport, clearReportCache, rememberReport, requestKey } from '../../src/views/reportCache';
import type { AnalysisReport } from '../../src/shared/report';
import { tmpDir } from '../helpers/tmp';

test('a report is reused for the same checkpoint files, input and settings, and only then', async () => {
  const dir = tmpDir();
  const ck = path.join(dir, 'ck');
  await fsp.mkdir(ck);
  await fsp.writeFile(path.join(ck, 'config.json'), '{}');
  await fsp.writeFile(path.join(ck, 'model.safetensors'), 'x'.repeat(100));
  const text = path.join(dir, 'in.txt');
  await fsp.writeFile(text, 'hello');
  clearReportCache();
  const k = await requestKey(ck, { textFile: text });
  rememberReport(k, { createdAt: 'r1' } as AnalysisReport);
  // The same request, spelled with the defaults or through config.json: a hit.
  assert.equal(
    cachedReport(await requestKey(path.join(ck, 'config.json'), { textFile: text, batch: 4, tau: 0.9, specialTokens: true }))?.createdAt,
    'r1',
  );
  // Other settings, input or weights: a miss.
  assert.equal(cachedReport(await requestKey(ck, { textFile: text, specialTokens: false })), undefined);
  assert.equal(cachedReport(await requestKey(ck, { textFile: text, seqLen: 64 })), undefined);
  assert.equal(cachedReport(await requestKey(ck, {})), undefined);
  await fsp.writeFile(text, 'hello again');
  assert.equal(cachedReport(await requestKey(ck, { textFile: text })), undefined, 'the input file changed');
  await fsp.writeFile(text, 'hello');
  const t = new Date('2020-01-01T00:00:00Z');
  utimesSync(text, t, t);
  assert.equal(cachedReport(await requestKey(ck, { textFile: text })), undefined, 'the input file has another mtime');
  const k2 = await requestKey(ck, { textFile: text });
  rememberReport(k2, { createdAt: 'r2' } as AnalysisReport);
  await fsp.writeFile(path.join(ck, 'model.safetensors'), 'y'.repeat(100));
  utimesSync(path.join(ck, 'model.safetensors'), t, t);
  assert.equal(cachedReport(await requestKey(ck, { textFile: text })), undefined, 'the weights were rewritten');
});

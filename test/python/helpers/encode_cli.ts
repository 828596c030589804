// Prints the token ids our analysis input gives for a text: node --import tsx encode_cli.ts CKPT TEXT_FILE[.json]
import { readFileSync } from 'node:fs';
import { loadEncoder } from '../../../src/analysis/input';
import { openCheckpoint } from '../../../src/checkpoint/checkpoint';

(async () => {
  const ck = await openCheckpoint(process.argv[2]);
  const enc = await loadEncoder(ck);
  if (!enc) throw new Error('no encoder');
  const text = readFileSync(process.argv[3], 'utf8');
  // TEXT_FILE.json: a list of texts, encoded one by one (one process for many texts).
  const ids = process.argv[3].endsWith('.json') ? (JSON.parse(text) as string[]).map((t) => enc.encode(t)) : enc.encode(text);
  process.stdout.write(JSON.stringify({ name: enc.name, ids }));
})().catch((e) => {
  process.stderr.write(String(e?.stack ?? e));
  process.exit(1);
});

// Prints the token ids our analysis input gives for a text: node --import tsx encode_cli.ts CKPT TEXT_FILE
import { readFileSync } from 'node:fs';
import { loadEncoder } from '../../../src/analysis/input';
import { openCheckpoint } from '../../../src/checkpoint/checkpoint';

(async () => {
  const ck = await openCheckpoint(process.argv[2]);
  const enc = await loadEncoder(ck);
  if (!enc) throw new Error('no encoder');
  process.stdout.write(JSON.stringify({ name: enc.name, ids: enc.encode(readFileSync(process.argv[3], 'utf8')) }));
})().catch((e) => {
  process.stderr.write(String(e?.stack ?? e));
  process.exit(1);
});

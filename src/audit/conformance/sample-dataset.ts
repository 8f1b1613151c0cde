import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { SeedStream } from '../../trainer/index.js';

/**
 * The dataset `aicert trainer check` uses when it is given none: small, generated, the same every
 * time, in the JSONL format of the example trainers (examples/fashion-mnist/records.ts), one image
 * per line: {"label":N,"pixels":"<base64 of 784 bytes, 28×28 grey levels>"}. Each of the 10
 * classes is a band of bright rows at its own height plus noise, so a classifier can learn it.
 * A trainer that reads another format is checked with --data.
 */
export const SAMPLE_RECORDS = 240;
const SIDE = 28;
const CLASSES = 10;

export async function writeSampleDataset(path: string): Promise<void> {
  const stream = new SeedStream(createHash('sha256').update('aicert trainer check sample').digest(), 'sample');
  const lines: string[] = [];
  for (let r = 0; r < SAMPLE_RECORDS; r++) {
    const label = r % CLASSES;
    const pixels = Buffer.alloc(SIDE * SIDE);
    for (let y = 0; y < SIDE; y++) {
      const band = Math.abs(y - (2 + label * 2.4)) < 2;
      for (let x = 0; x < SIDE; x++) pixels[y * SIDE + x] = (band ? 160 : 0) + stream.uniform(96);
    }
    lines.push(JSON.stringify({ label, pixels: pixels.toString('base64') }));
  }
  await writeFile(path, `${lines.join('\n')}\n`);
}

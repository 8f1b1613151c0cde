/**
 * Builds the example's dataset files, data/train.jsonl and data/test.jsonl, from the Fashion-MNIST
 * files of Debian's `dataset-fashion-mnist` package (`apt-get install dataset-fashion-mnist`,
 * which puts gzipped IDX files in /usr/share/datasets/fashion-mnist). It keeps the first N images
 * of each split in the original order, so re-running it gives the same bytes. The output is
 * committed; the demo does not run this script.
 *
 *   node dist/examples/fashion-mnist/make-dataset.js [--source DIR] [--out DIR] [--train N] [--test N]
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../../src/errors.js';
import { writeFileAtomic } from '../../src/util/atomic-write.js';
import { integerOption, parseOptions, runMain } from './cli.js';
import { CLASS_COUNT, IMAGE_PIXELS, encodeRecord } from './records.js';

const USAGE = `usage: make-dataset [--source DIR] [--out DIR] [--train N] [--test N]
  --source DIR  Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist)
  --out DIR     where train.jsonl and test.jsonl go (default examples/fashion-mnist/data)
  --train N     first N training images (default 3000)
  --test N      first N test images (default 500)`;

/** The full dataset has 60,000 + 10,000 images; its gzipped files inflate to about 55 MB. */
const MAX_INFLATED_BYTES = 64 * 1024 * 1024;
const IDX_UBYTE = 0x08;

/**
 * The dimensions and data of an IDX file of unsigned bytes: a 4-byte magic (0, 0, type 0x08,
 * dimension count), one big-endian uint32 per dimension, then the data.
 */
function readIdx(path: string, expectedDimensions: number): { dims: number[]; data: Buffer } {
  let bytes: Buffer;
  try {
    bytes = gunzipSync(readFileSync(path), { maxOutputLength: MAX_INFLATED_BYTES });
  } catch (err) {
    const hint = (err as NodeJS.ErrnoException).code === 'ENOENT' ? ' (apt-get install dataset-fashion-mnist)' : '';
    throw new InputError('example.bad-source', `cannot read ${path}: ${(err as Error).message}${hint}`);
  }
  const headerLength = 4 + 4 * expectedDimensions;
  if (
    bytes.length < headerLength ||
    bytes[0] !== 0 ||
    bytes[1] !== 0 ||
    bytes[2] !== IDX_UBYTE ||
    bytes[3] !== expectedDimensions
  ) {
    throw new InputError(
      'example.bad-source',
      `${path} is not an IDX file of ${expectedDimensions}-dimensional unsigned bytes`,
    );
  }
  const dims = Array.from({ length: expectedDimensions }, (_, i) => bytes.readUInt32BE(4 + 4 * i));
  const data = bytes.subarray(headerLength);
  if (data.length !== dims.reduce((a, b) => a * b, 1)) {
    throw new InputError(
      'example.bad-source',
      `${path}: dimensions [${dims.join(', ')}] do not match its ${data.length} data bytes`,
    );
  }
  return { dims, data };
}

/** The first `count` images of a split as JSONL, one record per line, each line LF-terminated. */
function splitToJsonl(source: string, prefix: string, count: number): string {
  const images = readIdx(join(source, `${prefix}-images-idx3-ubyte.gz`), 3);
  const labels = readIdx(join(source, `${prefix}-labels-idx1-ubyte.gz`), 1);
  const [available, rows, columns] = images.dims as [number, number, number];
  if (rows * columns !== IMAGE_PIXELS || labels.dims[0] !== available) {
    throw new InputError(
      'example.bad-source',
      `${source}: ${prefix} images and labels do not match Fashion-MNIST's layout`,
    );
  }
  if (count > available)
    throw new InputError('example.usage', `${prefix} has only ${available} images, ${count} asked for`);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const label = labels.data[i]!;
    if (label >= CLASS_COUNT) throw new InputError('example.bad-source', `${prefix} label ${i} is ${label}`);
    lines.push(encodeRecord(label, images.data.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS)) + '\n');
  }
  return lines.join('');
}

await runMain('make-dataset', async () => {
  const options = parseOptions({
    source: { type: 'string' },
    out: { type: 'string' },
    train: { type: 'string' },
    test: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const source = options.source ?? '/usr/share/datasets/fashion-mnist';
  const out = options.out ?? 'examples/fashion-mnist/data';
  mkdirSync(out, { recursive: true });
  for (const [split, prefix, count] of [
    ['train', 'train', integerOption(options.train, '--train', 3000)],
    ['test', 't10k', integerOption(options.test, '--test', 500)],
  ] as const) {
    await writeFileAtomic(join(out, `${split}.jsonl`), splitToJsonl(source, prefix, count));
    process.stderr.write(`wrote ${count} ${split} images to ${join(out, `${split}.jsonl`)}\n`);
  }
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { ggufFile, pb, safetensorsFile, safetensorsOf } from '../measure/formats/builders.js';
import { CLI, scratchDir, writeTree } from '../measure/helpers.js';

/**
 * Issue 16, item 7 (format parsers): checking model formats took 20 to 80 times the header's size
 * in memory (1.4 GB for an 18 MB ONNX header): every tensor was collected before it was checked,
 * headers were parsed as whole JSON documents, and tensor descriptions were copied by spreading.
 * The check `aicert measure` runs now keeps no tensor, and the parsers hold the header's bytes and
 * a few compact values per tensor (docs/model-formats.md, "Memory").
 *
 * The bound: `aicert measure` of a 16 MiB adversarial header (the shape that costs each parser
 * most: as many tiny tensors as fit) may use at most 12 bytes of memory per header byte above
 * what it uses to measure a tiny file. Memory is the child's peak resident set (VmHWM), read by
 * the child itself at exit; no timing is asserted.
 */

const HEADER_BYTES = 16 * 2 ** 20;
const BOUND_PER_HEADER_BYTE = 12;
const MIB = 2 ** 20;

const dir = scratchDir('attack-memory');
const reportRss = join(dir, 'report-rss.mjs');
// The peak of this process's own memory map (VmHWM). Not getrusage's maxRSS: that also counts
// the pages of the parent it was forked from, i.e. of this test, before the exec.
writeFileSync(
  reportRss,
  "import { readFileSync } from 'node:fs';\n" +
    "process.on('exit', () => { const m = /VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8')); " +
    "process.stderr.write('\\nmaxrss-kib ' + m[1] + '\\n'); });\n",
);

/** Runs `aicert measure PATH`; its exit status and peak RSS in bytes. */
function measureRss(path: string): Promise<{ status: number | null; rss: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', pathToFileURL(reportRss).href, CLI, 'measure', path], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status) => {
      const kib = /maxrss-kib (\d+)/.exec(stderr)?.[1];
      if (kib === undefined) reject(new Error(`no RSS report from the child: ${stderr}`));
      else resolve({ status, rss: Number(kib) * 1024, stderr });
    });
  });
}

function varint(value: number): Buffer {
  const out: number[] = [];
  let n = value;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

/** ModelProto{ir_version, graph{initializer × n}} from pre-encoded initializer fields. */
function onnxOfInitializers(initializers: Buffer[]): Buffer {
  const graph = Buffer.concat(initializers);
  return Buffer.concat([pb([[1, 9]]), Buffer.from([0x3a]), varint(graph.length), graph]);
}

/** As many copies of `one(i)` as fit in `bytes`, at most `max`. */
function repeated(bytes: number, one: (i: number) => Buffer, max = Number.POSITIVE_INFINITY): Buffer[] {
  const parts: Buffer[] = [];
  for (let size = 0, i = 0; size < bytes && i < max; i++) {
    const part = one(i);
    parts.push(part);
    size += part.length;
  }
  return parts;
}

/** Adversarial model files, each a header of about 16 MiB: name → path to measure, expected exit status. */
function adversarialModels(): Array<{ name: string; path: string; status: number }> {
  const models: Array<{ name: string; path: string; status: number }> = [];
  const add = (name: string, file: string, bytes: Buffer, status = 0) => {
    writeFileSync(join(dir, file), bytes);
    models.push({ name, path: join(dir, file), status });
  };
  // 1,000,000 FLOAT tensors of shape [0]: the tensor limit, about 15 MB.
  add(
    'ONNX: a million empty tensors',
    'tiny-tensors.onnx',
    onnxOfInitializers(
      repeated(
        HEADER_BYTES,
        (i) =>
          pb([
            [
              5,
              [
                [1, 0],
                [2, 1],
                [8, `t${i}`],
              ],
            ],
          ]),
        1_000_000,
      ),
    ),
  );
  // Tensors of 64 dimensions (the rank limit), each a 64-element packed-free dims list.
  const rank64 = pb([[5, [...Array.from({ length: 64 }, (): [number, number] => [1, 1]), [2, 1]]]]);
  add('ONNX: tensors of rank 64', 'rank-64.onnx', onnxOfInitializers(repeated(HEADER_BYTES, () => rank64)));
  const entries = repeated(HEADER_BYTES, (i) =>
    Buffer.from(`${i === 0 ? '' : ','}"t${i}":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`),
  );
  add(
    'safetensors: a header of empty tensors',
    'tiny-tensors.safetensors',
    safetensorsFile(Buffer.concat([Buffer.from('{'), ...entries, Buffer.from('}')]), Buffer.alloc(0)),
  );
  const tensors = Array.from({ length: 450_000 }, (_, i) => ({
    name: `t${i}`,
    dims: [0],
    type: 0,
    data: Buffer.alloc(0),
  }));
  add('GGUF: empty tensors', 'tiny-tensors.gguf', ggufFile({ tensors }));
  // A weight map naming 16 MiB of tensors, all "in" one shard that holds one: refused, after reading it all.
  const index = join(dir, 'index');
  const mapped = repeated(HEADER_BYTES, (i) => Buffer.from(`${i === 0 ? '' : ','}"t${i}":"model.safetensors"`));
  writeTree(index, {
    'model.safetensors.index.json': Buffer.concat([
      Buffer.from('{"weight_map":{"t0x":"model.safetensors",'),
      ...mapped,
      Buffer.from('}}'),
    ]),
    'model.safetensors': safetensorsOf([{ name: 't0x', dtype: 'U8', shape: [1], data: Buffer.alloc(1) }]),
  });
  models.push({ name: 'safetensors index: a 16 MiB weight map', path: index, status: 2 });
  return models;
}

describe('attack: model headers made to exhaust memory', () => {
  it(`aicert measure stays within ${BOUND_PER_HEADER_BYTE} bytes per header byte above its own footprint`, async () => {
    const tiny = join(dir, 'tiny.bin');
    writeFileSync(tiny, 'x');
    const baseline = await measureRss(tiny);
    assert.equal(baseline.status, 0, baseline.stderr);
    console.log(`# aicert measure of a 1-byte file: ${(baseline.rss / MIB).toFixed(0)} MiB RSS`);
    const failures: string[] = [];
    for (const model of adversarialModels()) {
      const bytes = model.path.endsWith('index')
        ? statSync(join(model.path, 'model.safetensors.index.json')).size
        : statSync(model.path).size;
      const run = await measureRss(model.path);
      assert.equal(run.status, model.status, `${model.name}: ${run.stderr}`);
      const growth = run.rss - baseline.rss;
      console.log(
        `# ${model.name}: ${(bytes / MIB).toFixed(1)} MiB, RSS ${(run.rss / MIB).toFixed(0)} MiB, ${(growth / bytes).toFixed(1)} bytes per header byte`,
      );
      if (growth > BOUND_PER_HEADER_BYTE * bytes)
        failures.push(
          `${model.name}: ${(growth / MIB).toFixed(0)} MiB above the baseline for ${(bytes / MIB).toFixed(1)} MiB`,
        );
    }
    assert.deepEqual(failures, []);
  });
});

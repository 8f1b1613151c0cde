import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, scratchDir } from '../helpers.js';

const dir = scratchDir('data-cli');
const dataset = join(dir, 'train.jsonl');
const records = [
  '{"text":"the quick brown fox"}',
  '{"text":"jumps over"}',
  '{"text":"the lazy dog"}',
  '{"text":"jumps over"}',
];
writeFileSync(dataset, records.map((r) => `${r}\n`).join(''));

async function roots(): Promise<{ orderRoot: string; setRoot: string; records: number; distinctRecords: number }> {
  const result = await runCli(['data', 'root', '--dataset', dataset, '--json']);
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
}

describe('aicert data', () => {
  it('root prints both roots and the record counts, as text and as JSON', async () => {
    const json = await roots();
    assert.equal(json.records, 4);
    assert.equal(json.distinctRecords, 3);
    assert.match(json.orderRoot, /^[0-9a-f]{64}$/);
    assert.match(json.setRoot, /^[0-9a-f]{64}$/);
    const text = await runCli(['data', 'root', '--dataset', dataset]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`order root  ${json.orderRoot}`));
    assert.match(text.stdout, new RegExp(`set root    ${json.setRoot}`));
    assert.match(text.stdout, /records {5}4 \(3 distinct\)/);
  });

  it('prove + check-proof: an inclusion proof is valid (exit 0) for the record and the set root', async () => {
    const { setRoot } = await roots();
    const out = join(dir, 'fox.proof.json');
    const prove = await runCli(['data', 'prove', '--dataset', dataset, '--record', records[0]!, '--out', out]);
    assert.equal(prove.status, 0, prove.stderr);
    assert.equal(prove.stdout, '');
    assert.match(prove.stderr, /record found: inclusion proof/);
    const proof = JSON.parse(readFileSync(out, 'utf8'));
    assert.deepEqual([proof.type, proof.tree, proof.treeSize, proof.version], ['inclusion', 'set', 3, 1]);
    const check = await runCli(['data', 'check-proof', out, '--root', setRoot, '--record', records[0]!]);
    assert.equal(check.status, 0, check.stderr);
    assert.match(check.stdout, /^valid: /);
    // Upper-case hex roots are accepted too.
    assert.equal((await runCli(['data', 'check-proof', out, '--root', setRoot.toUpperCase()])).status, 0);
  });

  it('an order-tree proof gives the position in the file and checks against the order root only', async () => {
    const { orderRoot, setRoot } = await roots();
    const out = join(dir, 'order.proof.json');
    const recordFile = join(dir, 'record.txt');
    writeFileSync(recordFile, `${records[1]}\r\n`); // the trailing newline is not part of the record
    const prove = await runCli([
      'data',
      'prove',
      '--dataset',
      dataset,
      '--record-file',
      recordFile,
      '--tree',
      'order',
      '--out',
      out,
    ]);
    assert.equal(prove.status, 0, prove.stderr);
    assert.equal(JSON.parse(readFileSync(out, 'utf8')).index, 1);
    assert.equal(
      (await runCli(['data', 'check-proof', out, '--root', orderRoot, '--record-file', recordFile])).status,
      0,
    );
    assert.equal((await runCli(['data', 'check-proof', out, '--root', setRoot])).status, 1);
  });

  it('an absent record gets a non-inclusion proof that checks (exit 0) and fails for a present record (exit 1)', async () => {
    const { setRoot } = await roots();
    const absent = '{"text":"a copyrighted novel"}';
    const prove = await runCli(['data', 'prove', '--dataset', dataset, '--record', absent]);
    assert.equal(prove.status, 0, prove.stderr);
    assert.match(prove.stderr, /not in the dataset: non-inclusion proof/);
    const out = join(dir, 'absent.proof.json');
    writeFileSync(out, prove.stdout);
    assert.equal(JSON.parse(prove.stdout).type, 'non-inclusion');
    const check = await runCli(['data', 'check-proof', out, '--root', setRoot, '--record', absent, '--json']);
    assert.equal(check.status, 0, check.stderr);
    assert.equal(JSON.parse(check.stdout).valid, true);
    const wrong = await runCli(['data', 'check-proof', out, '--root', setRoot, '--record', records[2]!]);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /another record/);
  });

  it('check-proof: another root or an altered proof is invalid (1); malformed input is 2', async () => {
    const { setRoot } = await roots();
    const out = join(dir, 'dog.proof.json');
    assert.equal(
      (await runCli(['data', 'prove', '--dataset', dataset, '--record', records[2]!, '--out', out])).status,
      0,
    );
    const other = await runCli(['data', 'check-proof', out, '--root', 'ab'.repeat(32)]);
    assert.equal(other.status, 1);
    assert.match(other.stderr, /\[proof\.invalid\]/);
    const otherJson = await runCli(['data', 'check-proof', out, '--root', 'ab'.repeat(32), '--json']);
    assert.equal(otherJson.status, 1);
    assert.equal(JSON.parse(otherJson.stdout).valid, false);

    const proof = JSON.parse(readFileSync(out, 'utf8'));
    const altered = join(dir, 'altered.json');
    writeFileSync(altered, JSON.stringify({ ...proof, index: (proof.index + 1) % proof.treeSize }));
    assert.equal((await runCli(['data', 'check-proof', altered, '--root', setRoot])).status, 1);

    for (const [name, content] of [
      ['not-json.json', '{"format":'],
      ['wrong-schema.json', JSON.stringify({ ...proof, path: 'none' })],
      ['long-path.json', JSON.stringify({ ...proof, path: Array.from({ length: 65 }, () => 'ab'.repeat(32)) })],
    ] as const) {
      const path = join(dir, name);
      writeFileSync(path, content);
      const result = await runCli(['data', 'check-proof', path, '--root', setRoot]);
      assert.equal(result.status, 2, `${name}: ${result.stderr}`);
      assert.match(result.stderr, /\[proof\.malformed\]/);
    }
    assert.equal((await runCli(['data', 'check-proof', out, '--root', 'xyz'])).status, 2);
    assert.equal((await runCli(['data', 'check-proof', join(dir, 'missing.json'), '--root', setRoot])).status, 2);
  });

  it('bad datasets and usage are exit 2 with a clear message, and no proof file is written', async () => {
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"ok":1}\nnot json\n');
    const out = join(dir, 'never.json');
    const result = await runCli(['data', 'prove', '--dataset', bad, '--record', 'x', '--out', out]);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /JSONL line 2 .*\[dataset\.jsonl-invalid\]/);
    assert.ok(!readdirSync(dir).some((name) => name.includes('never')));
    const both = await runCli(['data', 'prove', '--dataset', dataset, '--record', 'x', '--record-file', bad]);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /exactly one of --record and --record-file/);
    writeFileSync(join(dir, 'data.bin'), 'x\n'); // it exists: a missing file is reported as missing (attack-data-missing.test.ts)
    const unknown = await runCli(['data', 'root', '--dataset', join(dir, 'data.bin')]);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /--format/);
  });

  it('--help explains records, trees and exit codes with examples', async () => {
    const help = await runCli(['data', 'check-proof', '--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Exit status: 0 the proof is valid, 1 it is not/);
    const prove = await runCli(['data', 'prove', '--help']);
    assert.match(prove.stdout, /SHA-256\(0x00 \|\| record\)/);
    assert.match(prove.stdout, /Examples:/);
  });
});

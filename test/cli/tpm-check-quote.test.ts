import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const fixture = fileURLToPath(new URL('../../../test/evidence/fixtures/tpm2-quote-ecc.json', import.meta.url));
const NONCE = '0011223344556677';
const aicert = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });

test('check-quote: a valid quote lists every check as ok, reports the counters, exits 0', () => {
  const r = aicert('tpm', 'check-quote', fixture, '--nonce', NONCE, '--pcr', '0-7,23');
  assert.equal(r.status, 0, r.stderr);
  for (const id of [
    'ak.attributes',
    'quote.signature',
    'quote.magic',
    'quote.type',
    'quote.nonce',
    'quote.selection',
    'pcr.digest',
  ]) {
    assert.match(r.stdout, new RegExp(`ok\\s+${id.replace('.', '\\.')}`));
  }
  assert.match(r.stdout, /VERIFIED/);
  assert.match(r.stdout, /resetCount\s+2/);
  assert.match(r.stdout, /sha256:23\s+98513120/);
});

test('check-quote: a wrong nonce or another PCR list exits 1 naming the failed check; later checks are skipped', () => {
  const wrongNonce = aicert('tpm', 'check-quote', fixture, '--nonce', '0011223344556678');
  assert.equal(wrongNonce.status, 1, wrongNonce.stderr);
  assert.match(wrongNonce.stdout, /failed\s+quote\.nonce/);
  assert.match(wrongNonce.stdout, /skipped\s+pcr\.digest/);
  assert.match(wrongNonce.stdout, /NOT VERIFIED \(quote\.nonce\)/);
  const otherPcrs = aicert('tpm', 'check-quote', fixture, '--nonce', NONCE, '--pcr', '0-7');
  assert.equal(otherPcrs.status, 1, otherPcrs.stderr);
  assert.match(otherPcrs.stdout, /failed\s+quote\.selection/);
});

test('check-quote: a tampered attestation exits 1; a malformed or missing file exits 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aicert-check-quote-'));
  try {
    const json = JSON.parse(readFileSync(fixture, 'utf8'));
    const attest = Buffer.from(json.attest, 'base64');
    attest[attest.length - 1]! ^= 1;
    writeFileSync(join(dir, 'attest.json'), JSON.stringify({ ...json, attest: attest.toString('base64') }));
    const tampered = aicert('tpm', 'check-quote', join(dir, 'attest.json'), '--nonce', NONCE);
    assert.equal(tampered.status, 1, tampered.stderr);
    assert.match(tampered.stdout, /failed\s+quote\.signature/);

    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...json, version: 7 }));
    const bad = aicert('tpm', 'check-quote', join(dir, 'bad.json'), '--nonce', NONCE);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /quote-file\.malformed/);
    const missing = aicert('tpm', 'check-quote', join(dir, 'missing.json'), '--nonce', NONCE);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /file\.unreadable/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('check-quote --json prints the same checks and the vouched facts as JSON', () => {
  const r = aicert('tpm', 'check-quote', fixture, '--nonce', NONCE, '--json');
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.verified, true);
  assert.equal(report.checks.length, 7);
  assert.ok(report.checks.every((c: { status: string }) => c.status === 'ok'));
  assert.equal(report.quote.resetCount, 2);
  assert.equal(report.quote.clock, '7986');
  assert.equal(report.quote.pcrs.sha256['23'], '9851312028952521510e8eaab5be94e7dc24b5fc292b2e9781173cf11ffa9878');
  const run = aicert('tpm', 'check-quote', fixture, '--nonce', '00', '--json');
  assert.equal(run.status, 1, run.stderr);
  const failed = JSON.parse(run.stdout);
  assert.equal(failed.verified, false);
  assert.deepEqual(
    failed.checks.map((c: { status: string }) => c.status),
    ['ok', 'ok', 'ok', 'ok', 'failed', 'skipped', 'skipped'],
  );
});

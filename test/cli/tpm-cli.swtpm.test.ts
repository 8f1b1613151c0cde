import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The `aicert tpm …` commands as a user runs them, against a simulator the CLI itself starts. */
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

describe('aicert tpm commands', () => {
  let home: string;
  let env: NodeJS.ProcessEnv;
  const aicert = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8' });

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'aicert-cli-'));
    env = { ...process.env, AICERT_HOME: home };
    delete env.AICERT_TPM;
    const started = aicert('tpm', 'simulator', 'start');
    assert.equal(started.status, 0, started.stderr);
    const address = /export AICERT_TPM='([^']+)'/.exec(started.stdout)?.[1];
    assert.ok(address, started.stdout);
    env.AICERT_TPM = address;
  });
  after(async () => {
    aicert('tpm', 'simulator', 'stop');
    await rm(home, { recursive: true, force: true });
  });

  test('simulator status prints the address; a second start is refused while it runs', () => {
    const status = aicert('tpm', 'simulator', 'status');
    assert.equal(status.stdout.trim(), env.AICERT_TPM);
    const again = aicert('tpm', 'simulator', 'start');
    assert.equal(again.status, 3);
    assert.match(again.stderr, /already running/);
  });

  test('tpm info names the manufacturer, the banks and the EK certificate issuer', () => {
    const r = aicert('tpm', 'info', '--json');
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.manufacturer, 'IBM');
    assert.deepEqual(
      info.pcrBanks.map((b: { hashAlg: string }) => b.hashAlg),
      ['sha256'],
    );
    const rsa = info.ekCertificates.find((e: { kind: string }) => e.kind === 'rsa');
    assert.equal(rsa.present, true);
    assert.equal(rsa.issuer, 'CN=swtpm-localca');
    const text = aicert('tpm', 'info');
    assert.match(text.stdout, /EK certificate \(RSA\)\s+NV 0x1c00002: subject "CN=unknown", issuer "CN=swtpm-localca"/);
  });

  test('tpm pcrs reads the requested PCRs; a bad list is a usage error', () => {
    const r = aicert('tpm', 'pcrs', '--pcr', '0-2,23', '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(Object.keys(JSON.parse(r.stdout).sha256), ['0', '1', '2', '23']);
    const bad = aicert('tpm', 'pcrs', '--pcr', '5-30');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /PCRs are 0-23/);
  });

  test('tpm quote writes a quote file that check-quote accepts for its nonce only', async () => {
    const out = join(home, 'quote.json');
    const q = aicert('tpm', 'quote', '--nonce', '00112233', '--pcr', '0-7,23', '--out', out);
    assert.equal(q.status, 0, q.stderr);
    const file = JSON.parse(await readFile(out, 'utf8'));
    assert.deepEqual(Object.keys(file.pcrs.sha256), ['0', '1', '2', '3', '4', '5', '6', '7', '23']);
    assert.equal(aicert('tpm', 'check-quote', out, '--nonce', '00112233', '--pcr', '0-7,23').status, 0);
    const wrong = aicert('tpm', 'check-quote', out, '--nonce', '00112234');
    assert.equal(wrong.status, 1);
    assert.match(wrong.stdout, /quote\.nonce/);
    assert.equal(aicert('tpm', 'check-quote', join(home, 'missing.json'), '--nonce', '00').status, 2);
  });

  test('a quote with a bad nonce argument writes nothing', () => {
    const out = join(home, 'never.json');
    const r = aicert('tpm', 'quote', '--nonce', 'xyz', '--out', out);
    assert.equal(r.status, 2);
    assert.equal(existsSync(out), false);
  });

  test('without a TPM, commands exit 3 and name the ways to choose one', () => {
    const r = spawnSync(process.execPath, [CLI, 'tpm', 'info', '--tpm', `swtpm:unix:${join(home, 'nothing.sock')}`], {
      env,
      encoding: 'utf8',
    });
    assert.equal(r.status, 3);
    assert.match(r.stderr, /cannot connect/);
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { certifiedRun, type RunOptions } from '../../src/run/certified-run.js';
import { verifyCertificate, type VerifyOptions } from '../../src/verify/verify-certificate.js';
import { enrollWithNewCa } from '../fixtures/enrolled-ak.js';
import { loadTrustAnchors, NO_TRUST_ANCHORS, type TrustAnchors } from '../../src/evidence/ak-trust.js';
import { parsePolicy } from '../../src/evidence/policy.js';
import type { VerificationReport } from '../../src/verify/report.js';

/**
 * End-to-end: real runs on a swtpm, enrolled with an aicert attestation CA, then verified; and
 * each way of tampering with a certificate (or its run) fails verification at its named check.
 */
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('../../src/tpm/client.js', import.meta.url));

let work: string;
let sim: Simulator;
let anchors: TrustAnchors;
let code: string;
let data: string;

/** A trivial "training" program: the model is a digest of the data. */
const TRAIN = `const fs=require('fs'),c=require('crypto');const [d,o]=process.argv.slice(1);fs.mkdirSync(o,{recursive:true});fs.writeFileSync(o+'/weights.bin',c.createHash('sha256').update(fs.readFileSync(d)).digest());fs.writeFileSync(o+'/config.json','{"layers":1}');`;

function runOptions(name: string, command?: string[]): RunOptions {
  const output = join(work, name, 'model');
  return {
    code,
    data: [data],
    output,
    certificatePath: `${output}.aicert.json`,
    tpm: sim.address,
    pcr: 23,
    command: command ?? [process.execPath, '-e', TRAIN, data, output],
    certifyFailure: false,
    log: () => undefined,
  };
}

async function verify(cert: unknown, options: Partial<VerifyOptions> = {}): Promise<VerificationReport> {
  const bytes = Buffer.from(typeof cert === 'string' ? cert : JSON.stringify(cert));
  return (await verifyCertificate(bytes, 'test', { trust: anchors, allowUntrustedAk: false, ...options })).report;
}

function firstFailure(r: VerificationReport): string | undefined {
  return r.checks.find((c) => c.status === 'failed')?.id;
}

async function expectFailure(cert: unknown, check: string, options: Partial<VerifyOptions> = {}): Promise<void> {
  const r = await verify(cert, options);
  assert.equal(r.verdict === 'verified', false, `expected ${check} to fail, but the certificate verified`);
  assert.equal(firstFailure(r), check, JSON.stringify(r.checks.at(-1)));
}

const b64json = (b64: string) => JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
const tob64 = (v: unknown) => Buffer.from(JSON.stringify(v, null, 2)).toString('base64');

describe('certified runs on swtpm', () => {
  let good: any;
  let goodPath: string;
  let other: any;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-run-'));
    process.env.AICERT_HOME = join(work, 'home');
    sim = await startSimulator();
    code = join(work, 'code');
    await mkdir(code);
    await writeFile(join(code, 'train.js'), TRAIN);
    data = join(work, 'train.jsonl');
    await writeFile(data, '{"x":1,"y":0}\n{"x":2,"y":1}\n{"x":3,"y":0}\n');
    const ca = join(work, 'ca');
    await enrollWithNewCa(sim, ca);
    anchors = await loadTrustAnchors(join(ca, 'ca.pem'));
    const a = await certifiedRun(runOptions('a'));
    goodPath = a.certificatePath!;
    good = JSON.parse(await readFile(goodPath, 'utf8'));
    const b = await certifiedRun(runOptions('b'));
    other = JSON.parse(await readFile(b.certificatePath!, 'utf8'));
  });
  after(async () => {
    await sim?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('a run on an enrolled TPM verifies at trust level ca, with the local copies re-hashed', async () => {
    const r = await verify(good, { model: join(work, 'a', 'model'), data: [data], code });
    assert.equal(r.verdict, 'verified', JSON.stringify(r.checks.filter((c) => c.status === 'failed')));
    assert.equal(r.exitStatus, 0);
    assert.equal(r.akTrust?.level, 'ca');
    for (const id of [
      'quote.start',
      'quote.end',
      'quote.binding',
      'quote.continuity',
      'eventlog.replay',
      'statement.eventlog',
      'artifact.model',
      'artifact.data',
      'artifact.code',
    ]) {
      assert.equal(r.checks.find((c) => c.id === id)?.status, 'ok', id);
    }
  });

  test('the CLI verifies it too, and prints each check (exit 0)', () => {
    const r = spawnSync(
      process.execPath,
      [CLI, 'verify', goodPath, '--trust', join(work, 'ca', 'ca.pem'), '--model', join(work, 'a', 'model')],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /ok\s+quote\.binding/);
    assert.match(r.stdout, /verdict: VERIFIED/);
  });

  test('a flipped byte of the model, the data or the code fails its artifact check', async () => {
    const flip = async (src: string, file: string) => {
      const copy = join(work, `flip-${Math.random().toString(16).slice(2)}`);
      await cp(src, copy, { recursive: true });
      const target = file ? join(copy, file) : copy;
      const bytes = await readFile(target);
      bytes[0]! ^= 0x01;
      await writeFile(target, bytes);
      return copy;
    };
    await expectFailure(good, 'artifact.model', { model: await flip(join(work, 'a', 'model'), 'weights.bin') });
    await expectFailure(good, 'artifact.data', { data: [await flip(data, '')] });
    await expectFailure(good, 'artifact.code', { code: await flip(code, 'train.js') });
  });

  test('an edited statement field breaks the end quote binding', async () => {
    const cert = structuredClone(good);
    const statement = b64json(cert.statement.payload);
    statement.subject[0].digest.sha256 = 'ab'.repeat(32);
    cert.statement.payload = tob64(statement);
    await expectFailure(cert, 'quote.binding');
  });

  test('an edited event fails eventlog.content; dropped, reordered or duplicated events fail the replay', async () => {
    const edited = structuredClone(good);
    edited.evidence.tpm.eventLog[3].content.name = 'other.jsonl';
    await expectFailure(edited, 'eventlog.content');

    const renumber = (log: any[]) => log.map((r, i) => ({ ...r, recnum: i }));
    const dropped = structuredClone(good);
    dropped.evidence.tpm.eventLog = renumber(dropped.evidence.tpm.eventLog.filter((_: unknown, i: number) => i !== 3));
    await expectFailure(dropped, 'eventlog.replay');

    const reordered = structuredClone(good);
    const log = reordered.evidence.tpm.eventLog;
    [log[2], log[3]] = [log[3], log[2]];
    reordered.evidence.tpm.eventLog = renumber(log);
    await expectFailure(reordered, 'eventlog.replay');

    const duplicated = structuredClone(good);
    const d = duplicated.evidence.tpm.eventLog;
    d.splice(3, 0, structuredClone(d[3]));
    duplicated.evidence.tpm.eventLog = renumber(d);
    await expectFailure(duplicated, 'eventlog.replay');

    const misnumbered = structuredClone(good);
    misnumbered.evidence.tpm.eventLog[2].recnum = 7;
    await expectFailure(misnumbered, 'eventlog.sequence');
  });

  test('a changed PCR value fails the quote digest', async () => {
    const cert = structuredClone(good);
    cert.evidence.tpm.quotes[1].pcrs.sha256['23'] = '00'.repeat(32);
    await expectFailure(cert, 'pcr.digest');
    const boot = structuredClone(good);
    boot.evidence.tpm.quotes[0].pcrs.sha256['0'] = '11'.repeat(32);
    await expectFailure(boot, 'pcr.digest');
  });

  test('the end quote of another run fails the binding', async () => {
    const cert = structuredClone(good);
    cert.evidence.tpm.quotes[1] = other.evidence.tpm.quotes[1];
    await expectFailure(cert, 'quote.binding');
    const start = structuredClone(good);
    start.evidence.tpm.quotes[0] = other.evidence.tpm.quotes[0];
    await expectFailure(start, 'quote.binding');
  });

  test('start and end quotes swapped fail (as bound to the wrong data, or out of order)', async () => {
    const swapped = structuredClone(good);
    const [s, e] = swapped.evidence.tpm.quotes;
    swapped.evidence.tpm.quotes = [
      { ...e, phase: 'start' },
      { ...s, phase: 'end' },
    ];
    await expectFailure(swapped, 'quote.binding');
    const relabelled = structuredClone(good);
    relabelled.evidence.tpm.quotes = [e, s];
    const r = await verify(relabelled);
    assert.equal(r.verdict, 'unusable');
    assert.equal(firstFailure(r), 'bundle.schema');
  });

  test('an AK with no trusted certificate fails ak.trust unless explicitly allowed', async () => {
    await expectFailure(good, 'ak.trust', { trust: NO_TRUST_ANCHORS });
    const stripped = structuredClone(good);
    delete stripped.evidence.tpm.akCertificateChain;
    await expectFailure(stripped, 'ak.trust');
    const allowed = await verify(stripped, { allowUntrustedAk: true });
    assert.equal(allowed.verdict, 'verified');
    assert.equal(allowed.akTrust?.level, 'untrusted');
    assert.equal(allowed.akTrust?.acceptedUntrusted, true);
  });

  test('a boot PCR that differs from the policy fails policy.boot; a disallowed dataset fails policy.inputs', async () => {
    const bootPolicy = parsePolicy(`version: 1\nbootPcrs:\n  "0": "${'ff'.repeat(32)}"\n`);
    await expectFailure(good, 'policy.boot', { policy: bootPolicy });
    const zeroBoot = parsePolicy(`version: 1\npcr: 23\nbootPcrs:\n  "0": "${'00'.repeat(32)}"\n`);
    assert.equal((await verify(good, { policy: zeroBoot })).verdict, 'verified');
    const dataPolicy = parsePolicy(`version: 1\nallow:\n  datasets: ["sha256:${'cd'.repeat(32)}"]\n`);
    await expectFailure(good, 'policy.inputs', { policy: dataPolicy });
  });

  test('a reboot between the quotes fails quote.continuity', async () => {
    // The command power-cycles the TPM, which only an unconfined command can reach (test/security/attack-command-forgery.swtpm.test.ts).
    const output = join(work, 'reboot', 'model');
    const script = `import { Tpm } from ${JSON.stringify(CLIENT)}; import { mkdirSync, writeFileSync } from 'node:fs'; const t = await Tpm.open(${JSON.stringify(sim.address)}); await t.powerCycle(); await t.close(); mkdirSync(${JSON.stringify(output)}, { recursive: true }); writeFileSync(${JSON.stringify(output)} + '/weights.bin', 'w');`;
    const o = runOptions('reboot', [process.execPath, '--input-type=module', '-e', script]);
    const result = await certifiedRun({ ...o, isolation: 'none' });
    await expectFailure(JSON.parse(await readFile(result.certificatePath!, 'utf8')), 'quote.continuity');
  });

  test('a failed command gets no certificate, unless --certify-failure, whose certificate never verifies', async () => {
    const failing = runOptions('fail', [process.execPath, '-e', 'process.exit(3)']);
    const r = await certifiedRun(failing);
    assert.equal(r.outcome.exitCode, 3);
    assert.equal(r.certificatePath, undefined);
    assert.equal(existsSync(failing.certificatePath), false);
    const certified = await certifiedRun({ ...failing, certifyFailure: true });
    assert.ok(certified.certificatePath);
    await expectFailure(JSON.parse(await readFile(certified.certificatePath, 'utf8')), 'run.exit');
  });

  test('aicert run refuses a second run on the same TPM while one is in progress', async () => {
    const slow = runOptions('slow', [
      process.execPath,
      '-e',
      `setTimeout(()=>{require('fs').mkdirSync(process.argv[1],{recursive:true});require('fs').writeFileSync(process.argv[1]+'/w','x')},1500)`,
      join(work, 'slow', 'model'),
    ]);
    const first = certifiedRun(slow);
    await new Promise((r) => setTimeout(r, 300));
    await assert.rejects(
      certifiedRun(runOptions('second')),
      (err: any) => err.code === 'run.tpm-busy' && err.exitStatus === 3,
    );
    assert.ok((await first).certificatePath);
  });

  test('a non-empty --output is refused before anything runs: a stale model must not be certified', async () => {
    const o = runOptions('a');
    await assert.rejects(certifiedRun(o), (err: any) => err.code === 'usage.output-not-empty' && err.exitStatus === 2);
  });

  test('a TPM that is unreachable makes aicert run exit 3 and write nothing', () => {
    const out = join(work, 'nottpm', 'model');
    const r = spawnSync(
      process.execPath,
      [
        CLI,
        'run',
        '--tpm',
        `swtpm:unix:${join(work, 'no-such.sock')}`,
        '--code',
        code,
        '--data',
        data,
        '--output',
        out,
        '--',
        process.execPath,
        '-e',
        TRAIN,
        data,
        out,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /cannot connect/);
    assert.equal(existsSync(join(work, 'nottpm')), false);
  });
});

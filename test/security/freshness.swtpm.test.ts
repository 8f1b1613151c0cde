import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import type { VerificationReport } from '../../src/verify/report.js';
import type { CelRecord } from '../../src/protocol/event-log.js';
import { makeSecurityFixtures, type CertifiedFile, type SecurityFixtures } from './swtpm-fixtures.js';
import { planFor, recertifyNv, requote } from './tpm-forger.js';
import { parsePolicy } from '../../src/evidence/policy.js';
import { parse, serialize, type Json } from './tamper-corpus.js';

/**
 * Freshness and replay: quotes and logs of other runs and other boots never bind to a
 * certificate. Each quote's qualifying data is fixed by this run (the start quote by its input
 * commitment, which holds a fresh TPM nonce; the end quote by its exact statement bytes), and
 * both quotes must come from one boot with the clock moving forward.
 */
type Cert = Record<string, any>;

describe('freshness and replay', () => {
  let fx: SecurityFixtures;
  let beforeBoot: CertifiedFile;
  let afterBoot: CertifiedFile;
  let nvBeforeBoot: CertifiedFile;

  before(async () => {
    fx = await makeSecurityFixtures();
    beforeBoot = await fx.run('before-boot');
    nvBeforeBoot = await fx.run('nv-before-boot', { register: 'nv' });
    await fx.simA.powerCycle();
    afterBoot = await fx.run('after-boot');
  });
  after(async () => fx?.stop());

  const verify = async (cert: Cert | Buffer, policy?: string): Promise<VerificationReport> =>
    (
      await verifyCertificate(Buffer.isBuffer(cert) ? cert : serialize(cert as Json), 'replay', {
        trust: fx.anchors,
        allowUntrustedAk: false,
        ...(policy !== undefined && { policy: parsePolicy(policy) }),
      })
    ).report;
  const firstFailure = (r: VerificationReport) => r.checks.find((c) => c.status === 'failed');
  const rejectedAt = async (cert: Cert, check: string) => {
    const r = await verify(cert);
    assert.equal(r.verdict === 'verified', false, 'the replayed evidence verified');
    assert.equal(firstFailure(r)?.id, check, JSON.stringify(firstFailure(r)));
  };
  const cert = (c: CertifiedFile): Cert => parse(c.bytes) as Cert;
  const quotes = (c: Cert) => c.evidence.tpm.quotes;

  test('every genuine certificate verifies, before and after the power cycle', async () => {
    for (const c of [fx.good, fx.other, beforeBoot, afterBoot])
      assert.equal((await verify(c.bytes)).verdict, 'verified');
    const resets = await Promise.all(
      [beforeBoot, afterBoot].map(async (c) => (await verify(c.bytes)).facts?.resetCount),
    );
    assert.equal(resets[1], (resets[0] as number) + 1, 'the power cycle shows as resetCount + 1');
  });

  test('two runs on identical inputs commit to different data (a fresh TPM nonce in each session)', () => {
    const commitment = (c: Cert) =>
      c.evidence.tpm.eventLog.find((r: CelRecord) => r.content.type === 'commitment').digests[0].digest;
    assert.notEqual(commitment(cert(fx.good)), commitment(cert(fx.other)));
    assert.notEqual(
      cert(fx.good).evidence.tpm.eventLog[0].content.nonce,
      cert(fx.other).evidence.tpm.eventLog[0].content.nonce,
    );
  });

  test('a start quote from another run fails quote.binding', async () => {
    const c = cert(fx.good);
    quotes(c)[0] = quotes(cert(fx.other))[0];
    await rejectedAt(c, 'quote.binding');
  });

  test('an old end quote paired with a new statement fails quote.binding', async () => {
    const c = cert(afterBoot);
    quotes(c)[1] = quotes(cert(fx.good))[1];
    await rejectedAt(c, 'quote.binding');
  });

  test("an earlier run's statement and end quote in a later certificate fail quote.continuity (the end quote is older)", async () => {
    const later = cert(fx.other);
    later.statement = cert(fx.good).statement;
    quotes(later)[1] = quotes(cert(fx.good))[1];
    await rejectedAt(later, 'quote.continuity');
  });

  test('the event log of a run before a power cycle, with the quotes of a run after it, fails quote.binding', async () => {
    const c = cert(afterBoot);
    c.evidence.tpm.eventLog = cert(beforeBoot).evidence.tpm.eventLog;
    await rejectedAt(c, 'quote.binding');
  });

  test('a start quote from before a power cycle with an end quote from after it fails quote.continuity', async () => {
    const old = cert(beforeBoot);
    const records = old.evidence.tpm.eventLog as CelRecord[];
    const payload = Buffer.from(old.statement.payload, 'base64');
    // The log replayed onto the new boot and the end quote taken there: the start quote stays the old boot's.
    const { quotes: fresh } = await requote(fx.simA.address, 23, planFor(records, payload));
    quotes(old)[1] = fresh[1];
    await rejectedAt(old, 'quote.continuity');
  });

  test('the pcr23 fallback: whoever can reach the TPM replays a whole run onto a new boot and it verifies, flagged in the report and refused by a default policy', async () => {
    // PCR 23 is resettable at locality 0: a program on the host resets it, extends an old log and
    // quotes it. Without a policy the replay verifies (the report shows the boot, resetCount, the
    // quotes come from, and says the register is a resettable PCR); a policy refuses PCR registers
    // unless it says `register: any`, and only one pinning a dedicated image (policy.boot) would
    // also stop a replay onto that image.
    const old = cert(beforeBoot);
    const records = old.evidence.tpm.eventLog as CelRecord[];
    const { quotes: fresh } = await requote(
      fx.simA.address,
      23,
      planFor(records, Buffer.from(old.statement.payload, 'base64')),
    );
    old.evidence.tpm.quotes = fresh;
    const replayed = await verify(old);
    assert.equal(replayed.verdict, 'verified');
    assert.notEqual(replayed.facts?.resetCount, (await verify(beforeBoot.bytes)).facts?.resetCount);
    assert.match(replayed.checks.find((c) => c.id === 'register')!.reason, /^WARNING: .*PCR 23 .*resettable/);
    assert.equal(replayed.facts?.register, 'PCR 23');
    const refused = await verify(old, 'version: 1\n');
    assert.equal(firstFailure(refused)?.id, 'policy.register', JSON.stringify(firstFailure(refused)));
    assert.equal((await verify(old, 'version: 1\nregister: any\n')).verdict, 'verified');
  });

  test('the default NV register: the same replay onto a new boot is refused (the index that held the log is gone, and no other has its Name)', async () => {
    assert.equal((await verify(nvBeforeBoot.bytes)).verdict, 'verified');
    const old = cert(nvBeforeBoot);
    const records = old.evidence.tpm.eventLog as CelRecord[];
    // The forger replays the log into an index of its own on the new boot and has the genuine AK
    // certify it and quote the boot PCRs over the run's own nonces.
    const forged = await recertifyNv(fx.simA.address, planFor(records, Buffer.from(old.statement.payload, 'base64')));
    const kept = cert(nvBeforeBoot);
    kept.evidence.tpm.quotes = forged.quotes;
    kept.evidence.tpm.nv.certifications = forged.nv.certifications;
    await rejectedAt(kept, 'nv.name');
    // With its own index's public area the certifications check, but the run's session event
    // (committed to by the nonces) names the run's index, not the forger's.
    const substituted = cert(nvBeforeBoot);
    substituted.evidence.tpm.quotes = forged.quotes;
    substituted.evidence.tpm.nv = forged.nv;
    // Records name their register outside their digests, so it moves them to its index too.
    const forgedIndex = Buffer.from(forged.nv.public, 'base64').readUInt32BE(0);
    for (const r of substituted.evidence.tpm.eventLog) r.nv_index = forgedIndex;
    assert.notEqual(forged.nvName, records[0]!.content.nvName);
    await rejectedAt(substituted, 'eventlog.content');
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import type { VerificationReport } from '../../src/verify/report.js';
import type { CelRecord } from '../../src/protocol/event-log.js';
import { makeSecurityFixtures, type CertifiedFile, type SecurityFixtures } from './swtpm-fixtures.js';
import { planFor, requote } from './tpm-forger.js';
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

  before(async () => {
    fx = await makeSecurityFixtures();
    beforeBoot = await fx.run('before-boot');
    await fx.simA.powerCycle();
    afterBoot = await fx.run('after-boot');
  });
  after(async () => fx?.stop());

  const verify = async (cert: Cert | Buffer): Promise<VerificationReport> =>
    (
      await verifyCertificate(Buffer.isBuffer(cert) ? cert : serialize(cert as Json), 'replay', {
        trust: fx.anchors,
        allowUntrustedAk: false,
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

  test('residual risk: whoever can reach the TPM can replay a whole run onto a new boot and have it verify', async () => {
    // PCR 23 is resettable at locality 0: a program on the host resets it, extends an old log and
    // quotes it. Only a policy pinning a dedicated image where nothing else reaches the TPM
    // (policy.boot) stops this; the report shows the boot (resetCount) the quotes come from.
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
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import {
  createAkCertificate,
  createCaCertificate,
  generateCaKeys,
  SIGNING_ALGORITHM,
} from '../../src/ca/certificates.js';
import { parseCertificateDer, type ParsedCertificate } from '../../src/pki/x509-path.js';
import {
  decideAkTrust,
  evaluateAkTrust,
  loadTrustAnchors,
  meetsTrustLevel,
  withPinnedAks,
  type TrustAnchors,
} from '../../src/evidence/ak-trust.js';
import { objectName, parsePublic, type PublicArea } from '../../src/tpm/public.js';
import { akPublicFor } from '../tpm/helpers.js';

const NOW = new Date('2030-06-01T00:00:00Z');
const DAY = 24 * 60 * 60 * 1000;

async function makeCa(now = NOW) {
  const keys = await generateCaKeys();
  const certificate = await createCaCertificate(keys, now);
  return { keys, certificate, anchor: toCertificate(certificate) };
}

function toCertificate(cert: x509.X509Certificate): ParsedCertificate {
  return parseCertificateDer(Buffer.from(cert.rawData), 'test certificate');
}

async function issue(ca: Awaited<ReturnType<typeof makeCa>>, akPublic: PublicArea, now = NOW): Promise<Buffer> {
  const cert = await createAkCertificate({ akPublic, caCertificate: ca.certificate, caKey: ca.keys.privateKey, now });
  return Buffer.from(cert.rawData);
}

const anchorsOf = (...roots: ParsedCertificate[]): TrustAnchors => ({ roots, pinnedAks: [] });

/** The same key under different object attributes: a different Name. */
function withAttributes(area: PublicArea, attrs: number): PublicArea {
  const bytes = Buffer.from(area.bytes);
  bytes.writeUInt32BE(attrs >>> 0, 4);
  return parsePublic(bytes);
}

const ca = await makeCa();
const ak = akPublicFor('ecc').area;
const akChain = [await issue(ca, ak), Buffer.from(ca.certificate.rawData)];

test('an AK certificate issued by a trusted CA for this AK gives trust level ca', () => {
  const trust = evaluateAkTrust(ak, akChain, anchorsOf(ca.anchor), NOW);
  assert.equal(trust.level, 'ca', trust.reason);
  assert.match(trust.subject!, /^CN=aicert AK [0-9a-f]{32}$/);
  assert.equal(trust.issuer, 'CN=aicert attestation CA');
  assert.match(trust.reason, /chains to the trusted root "CN=aicert attestation CA"/);
  // The leaf alone also chains: the CA certificate in the chain is only a convenience.
  assert.equal(evaluateAkTrust(ak, akChain.slice(0, 1), anchorsOf(ca.anchor), NOW).level, 'ca');
});

test('an RSA-2048 AK is certified and trusted the same way', async () => {
  const rsa = akPublicFor('rsa').area;
  const trust = evaluateAkTrust(rsa, [await issue(ca, rsa)], anchorsOf(ca.anchor), NOW);
  assert.equal(trust.level, 'ca', trust.reason);
});

test('the same chain is untrusted when the verifier trusts another CA', async () => {
  const other = await makeCa();
  const trust = evaluateAkTrust(ak, akChain, anchorsOf(other.anchor), NOW);
  assert.equal(trust.level, 'untrusted');
  assert.match(trust.reason, /^AK certificate chain does not reach a trusted root: /);
  assert.equal(trust.subject, undefined);
});

test('an expired or not yet valid AK certificate is untrusted', () => {
  const leaf = parseCertificateDer(akChain[0]!, 'leaf');
  const after = new Date(leaf.notAfter.getTime() + DAY);
  const expired = evaluateAkTrust(ak, akChain, anchorsOf(ca.anchor), after);
  assert.equal(expired.level, 'untrusted');
  assert.match(expired.reason, /is not valid at/);
  const before = new Date(leaf.notBefore.getTime() - DAY);
  assert.equal(evaluateAkTrust(ak, akChain, anchorsOf(ca.anchor), before).level, 'untrusted');
  // Valid for a year from issuance.
  assert.ok(leaf.notAfter.getTime() - NOW.getTime() >= 364 * DAY);
});

test('an AK certificate expired because its CA expired is untrusted', async () => {
  const old = await makeCa(new Date('2010-01-01T00:00:00Z'));
  const chain = [await issue(old, ak, new Date('2019-12-25T00:00:00Z'))];
  const leaf = parseCertificateDer(chain[0]!, 'leaf');
  assert.ok(leaf.notAfter <= old.certificate.notAfter, 'an AK certificate never outlives its CA');
  const trust = evaluateAkTrust(ak, chain, anchorsOf(old.anchor), NOW);
  assert.equal(trust.level, 'untrusted');
  assert.match(trust.reason, /not valid at/);
});

test('a certificate for another key does not vouch for this AK', () => {
  const otherAk = akPublicFor('ecc', generateKeyPairSync('ec', { namedCurve: 'prime256v1' })).area;
  const trust = evaluateAkTrust(otherAk, akChain, anchorsOf(ca.anchor), NOW);
  assert.equal(trust.level, 'untrusted');
  assert.match(trust.reason, /certifies a different key than the attestation key/);
});

test('a certificate naming another AK Name (same key, other attributes) is untrusted', () => {
  const sameKeyOtherName = withAttributes(ak, ak.public.objectAttributes & ~0x400 /* noDA */);
  assert.notDeepEqual(objectName(sameKeyOtherName), objectName(ak));
  const trust = evaluateAkTrust(sameKeyOtherName, akChain, anchorsOf(ca.anchor), NOW);
  assert.equal(trust.level, 'untrusted');
  assert.match(trust.reason, /was issued for the AK Name/);
});

test('an issuer that is not a CA cannot certify an AK', async () => {
  const keys = await generateCaKeys();
  const notCa = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=aicert attestation CA',
    notBefore: new Date(NOW.getTime() - DAY),
    notAfter: new Date(NOW.getTime() + 400 * DAY),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
  });
  const chain = [
    Buffer.from(
      (await createAkCertificate({ akPublic: ak, caCertificate: notCa, caKey: keys.privateKey, now: NOW })).rawData,
    ),
  ];
  const trust = evaluateAkTrust(ak, chain, anchorsOf(toCertificate(notCa)), NOW);
  assert.equal(trust.level, 'untrusted');
  assert.match(trust.reason, /not a CA certificate/);
});

test('a pinned AK Name gives trust level pinned, with or without a failing chain', async () => {
  const pinned = withPinnedAks(anchorsOf(), [objectName(ak)]);
  const bare = evaluateAkTrust(ak, [], pinned, NOW);
  assert.equal(bare.level, 'pinned');
  assert.match(bare.reason, /is pinned$/);
  const other = await makeCa();
  const withChain = evaluateAkTrust(ak, akChain, withPinnedAks(anchorsOf(other.anchor), [objectName(ak)]), NOW);
  assert.equal(withChain.level, 'pinned');
  assert.match(withChain.reason, /its certificate chain was not accepted/);
  // A valid chain outranks the pin.
  assert.equal(evaluateAkTrust(ak, akChain, withPinnedAks(anchorsOf(ca.anchor), [objectName(ak)]), NOW).level, 'ca');
  // Pinning another Name does nothing for this AK.
  assert.equal(evaluateAkTrust(ak, [], withPinnedAks(anchorsOf(), [Buffer.alloc(34, 1)]), NOW).level, 'untrusted');
});

test('no chain and no pin, or no roots at all, is untrusted with the reason', () => {
  const none = evaluateAkTrust(ak, [], anchorsOf(ca.anchor), NOW);
  assert.equal(none.level, 'untrusted');
  assert.match(none.reason, /carries no AK certificate/);
  const noRoots = evaluateAkTrust(ak, akChain, anchorsOf(), NOW);
  assert.equal(noRoots.level, 'untrusted');
  assert.match(noRoots.reason, /no trusted AK roots were given/);
});

test('random or mutated chain bytes never throw: the AK is untrusted with a reason', () => {
  const leaf = akChain[0]!;
  assertProperty(
    fc.property(
      fc.oneof(
        fc.array(fc.uint8Array({ maxLength: 600 }), { minLength: 1, maxLength: 10 }),
        fc.tuple(fc.nat(leaf.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
          const mutated = Buffer.from(leaf);
          mutated[i] = mutated[i]! ^ x;
          return [mutated];
        }),
      ),
      (chain) => {
        const trust = evaluateAkTrust(ak, chain, anchorsOf(ca.anchor), NOW);
        assert.equal(trust.level, 'untrusted');
        assert.ok(trust.reason.length > 0);
      },
    ),
    { numRuns: 300 },
  );
});

test('trust levels are ordered untrusted < pinned < ca', () => {
  assert.ok(meetsTrustLevel('ca', 'ca'));
  assert.ok(meetsTrustLevel('ca', 'pinned'));
  assert.ok(meetsTrustLevel('pinned', 'untrusted'));
  assert.ok(!meetsTrustLevel('pinned', 'ca'));
  assert.ok(!meetsTrustLevel('untrusted', 'pinned'));
});

test('loadTrustAnchors reads a PEM file of CA certificates and a YAML trust file with relative roots and pins', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'aicert-trust-'));
  try {
    const other = await makeCa();
    await writeFile(join(dir, 'ca.pem'), ca.certificate.toString('pem') + '\n' + other.certificate.toString('pem'));
    const pem = await loadTrustAnchors(join(dir, 'ca.pem'));
    assert.equal(pem.roots.length, 2);
    assert.equal(evaluateAkTrust(ak, akChain, pem, NOW).level, 'ca');

    const pin = objectName(ak).toString('hex');
    await writeFile(
      join(dir, 'trust.yaml'),
      `version: 1\nakRoots:\n  - ca.pem\npinnedAks:\n  - ${pin.toUpperCase()}\n`,
    );
    const file = await loadTrustAnchors(join(dir, 'trust.yaml'));
    assert.equal(file.roots.length, 2);
    assert.deepEqual(file.pinnedAks, [objectName(ak)]);
    assert.equal(evaluateAkTrust(ak, [], file, NOW).level, 'pinned');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('unusable trust files are input errors (exit 2) that say what is wrong', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'aicert-trust-'));
  const cases: Array<[string, RegExp]> = [
    ['version: 2\nakRoots: [ca.pem]\n', /version/],
    ['version: 1\n', /at least one of akRoots or pinnedAks/],
    ['version: 1\nakRoots: [missing.pem]\n', /no such file/],
    ['version: 1\nakRoots: [ca.pem]\nextra: 1\n', /extra/],
    ['version: 1\npinnedAks: [000b1234]\n', /pinnedAks\.0/],
    ['version: 1\nakRoots: [a.pem]\nakRoots: [b.pem]\n', /not valid YAML/],
    ['version: 1\nakRoots: [\n', /not valid YAML/],
    ['just text\n', /not valid/],
  ];
  try {
    await writeFile(join(dir, 'ca.pem'), ca.certificate.toString('pem'));
    for (const [i, [text, message]] of cases.entries()) {
      await writeFile(join(dir, `t${i}.yaml`), text);
      await assert.rejects(loadTrustAnchors(join(dir, `t${i}.yaml`)), (err: Error & { exitStatus?: number }) => {
        assert.equal(err.exitStatus, 2, err.message);
        assert.match(err.message, message);
        return true;
      });
    }
    await assert.rejects(loadTrustAnchors(join(dir, 'absent.pem')), { code: 'file.unreadable' });
    await writeFile(join(dir, 'big.yaml'), 'x'.repeat(1024 * 1024 + 1));
    await assert.rejects(loadTrustAnchors(join(dir, 'big.yaml')), { code: 'file.too-large' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('random trust file contents are refused with an input error, never a crash', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'aicert-trust-'));
  const path = join(dir, 'trust.yaml');
  try {
    await assertProperty(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
        ),
        async (text) => {
          await writeFile(path, text);
          try {
            await loadTrustAnchors(path);
          } catch (err) {
            assert.equal((err as { exitStatus?: number }).exitStatus, 2, String(err));
          }
        },
      ),
      { numRuns: 100 },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('decideAkTrust, the one decision of verify and attest: CA or pinned (anchors or policy), else ak.trust', () => {
  const none = anchorsOf();
  const o = { trust: none, allowUntrustedAk: false, now: NOW };
  assert.equal(decideAkTrust(ak, akChain, { ...o, trust: anchorsOf(ca.anchor) }).level, 'ca');
  // A policy's pinnedAks vouch for the AK exactly as a trust file's pins do.
  assert.equal(decideAkTrust(ak, [], { ...o, pinnedAks: [objectName(ak)] }).level, 'pinned');
  assert.equal(decideAkTrust(ak, [], { ...o, trust: { roots: [], pinnedAks: [objectName(ak)] } }).level, 'pinned');
  assert.throws(
    () => decideAkTrust(ak, akChain, o, "the serving host's attestation key"),
    (err: Error & { code?: string }) =>
      err.code === 'ak.trust' && /^the serving host's attestation key is not trusted: /.test(err.message),
  );
  const accepted = decideAkTrust(ak, [], { ...o, allowUntrustedAk: true });
  assert.equal(accepted.level, 'untrusted');
  assert.match(accepted.reason, /^UNTRUSTED attestation key accepted/);
});

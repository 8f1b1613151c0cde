import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { AicertError } from '../../src/errors.js';
import {
  allowsCodeSigning,
  parseCertificateDer,
  parseCertificatesPem,
  validateCertificatePath,
} from '../../src/pki/x509-path.js';
import { CA_USAGE, CODE_SIGNING, issue, pem, SIGNING_USAGE, threeLevelChain, x509 } from '../cert/pki.js';

const now = new Date();
const DAY = 86_400_000;
const untrusted = (err: AicertError) => err.code === 'x509.untrusted' && err.exitStatus === 1;

test('a leaf chains through an intermediate to the trusted root', async () => {
  const { root, intermediate, leaf } = await threeLevelChain();
  const path = validateCertificatePath(leaf.certificate, [intermediate.certificate], [root.certificate], now);
  assert.deepEqual(
    path.map((c) => c.der),
    [leaf.certificate, intermediate.certificate, root.certificate].map((c) => c.der),
  );
  // Trusting the intermediate directly is also a valid anchor.
  assert.equal(validateCertificatePath(leaf.certificate, [], [intermediate.certificate], now).length, 2);
  // A trusted leaf is its own path.
  assert.equal(validateCertificatePath(leaf.certificate, [], [leaf.certificate], now).length, 1);
});

test('the path is refused without the intermediate, with another root, or at a time outside validity', async () => {
  const { root, intermediate, leaf } = await threeLevelChain();
  const otherRoot = await issue({ name: 'other root', ca: true, keyUsage: CA_USAGE });
  assert.throws(() => validateCertificatePath(leaf.certificate, [], [root.certificate], now), untrusted);
  assert.throws(
    () => validateCertificatePath(leaf.certificate, [intermediate.certificate], [otherRoot.certificate], now),
    untrusted,
  );
  assert.throws(
    () =>
      validateCertificatePath(
        leaf.certificate,
        [intermediate.certificate],
        [root.certificate],
        new Date(now.getTime() + 400 * DAY),
      ),
    untrusted,
  );
});

test('an issuer that is not a CA, or whose key usage forbids certificate signing, is refused', async () => {
  const root = await issue({ name: 'root', ca: true, keyUsage: CA_USAGE });
  for (const spec of [
    { name: 'not a CA', ca: false, keyUsage: CA_USAGE },
    { name: 'no basic constraints', keyUsage: CA_USAGE },
    { name: 'CA without keyCertSign', ca: true, keyUsage: SIGNING_USAGE },
  ]) {
    const intermediate = await issue(spec, root);
    const leaf = await issue({ name: 'leaf', keyUsage: SIGNING_USAGE }, intermediate);
    assert.throws(
      () => validateCertificatePath(leaf.certificate, [intermediate.certificate], [root.certificate], now),
      (err: AicertError) => untrusted(err) && /not a CA|does not allow signing certificates/.test(err.message),
      spec.name,
    );
  }
});

test('an expired intermediate is refused even when root and leaf are valid', async () => {
  const root = await issue({ name: 'root', ca: true, keyUsage: CA_USAGE });
  const intermediate = await issue(
    {
      name: 'expired',
      ca: true,
      keyUsage: CA_USAGE,
      notBefore: new Date(now.getTime() - 10 * DAY),
      notAfter: new Date(now.getTime() - DAY),
    },
    root,
  );
  const leaf = await issue({ name: 'leaf', keyUsage: SIGNING_USAGE }, intermediate);
  assert.throws(
    () => validateCertificatePath(leaf.certificate, [intermediate.certificate], [root.certificate], now),
    (err: AicertError) => untrusted(err) && /not valid at/.test(err.message),
  );
});

test('pathLenConstraint 0 on an intermediate forbids another CA below it', async () => {
  const root = await issue({ name: 'root', ca: true, keyUsage: CA_USAGE });
  const first = await issue({ name: 'first', ca: true, pathLength: 0, keyUsage: CA_USAGE }, root);
  const second = await issue({ name: 'second', ca: true, keyUsage: CA_USAGE }, first);
  const leaf = await issue({ name: 'leaf', keyUsage: SIGNING_USAGE }, second);
  assert.throws(
    () => validateCertificatePath(leaf.certificate, [first.certificate, second.certificate], [root.certificate], now),
    (err: AicertError) => untrusted(err) && /allows 0 intermediate/.test(err.message),
  );
  // A leaf directly below the constrained CA is within the limit.
  const leafOfFirst = await issue({ name: 'leaf', keyUsage: SIGNING_USAGE }, first);
  assert.equal(
    validateCertificatePath(leafOfFirst.certificate, [first.certificate], [root.certificate], now).length,
    3,
  );
});

test('a critical extension the validator does not process makes a certificate unusable', async () => {
  const root = await issue({ name: 'root', ca: true, keyUsage: CA_USAGE });
  const leaf = await issue(
    {
      name: 'leaf',
      keyUsage: SIGNING_USAGE,
      extraExtensions: [new x509.Extension('1.3.6.1.4.1.99999.1', true, new Uint8Array([0x05, 0x00]))],
    },
    root,
  );
  assert.throws(
    () => validateCertificatePath(leaf.certificate, [], [root.certificate], now),
    (err: AicertError) => untrusted(err) && /critical extension 1\.3\.6\.1\.4\.1\.99999\.1/.test(err.message),
  );
});

test('intermediates are found in any order, and unrelated extra certificates are skipped', async () => {
  const { root, intermediate, leaf } = await threeLevelChain();
  const stranger = await issue({ name: 'stranger', ca: true, keyUsage: CA_USAGE });
  const path = validateCertificatePath(
    leaf.certificate,
    [stranger.certificate, intermediate.certificate],
    [root.certificate],
    now,
  );
  assert.equal(path.length, 3);
});

test('allowsCodeSigning: digitalSignature key usage or the codeSigning extended key usage', async () => {
  const root = await issue({ name: 'root', ca: true, keyUsage: CA_USAGE });
  const cases: Array<[Parameters<typeof issue>[0], boolean]> = [
    [{ name: 'ku', keyUsage: SIGNING_USAGE }, true],
    [{ name: 'eku', keyUsage: x509.KeyUsageFlags.keyEncipherment, extendedKeyUsage: [CODE_SIGNING] }, true],
    [{ name: 'eku only', extendedKeyUsage: [CODE_SIGNING] }, true],
    [{ name: 'neither', keyUsage: x509.KeyUsageFlags.keyEncipherment, extendedKeyUsage: ['1.3.6.1.5.5.7.3.1'] }, false],
    [{ name: 'none' }, false],
  ];
  for (const [spec, allowed] of cases) {
    assert.equal(allowsCodeSigning((await issue(spec, root)).certificate), allowed, spec.name);
  }
});

test('certificate parsing is exact: trailing bytes and non-certificates are refused; PEM files may hold several', async () => {
  const { root, intermediate } = await threeLevelChain();
  assert.throws(
    () => parseCertificateDer(Buffer.concat([root.certificate.der, Buffer.from([0])]), 'x'),
    (e: AicertError) => e.code === 'x509.parse',
  );
  assert.throws(
    () => parseCertificateDer(Buffer.from('not a certificate'), 'x'),
    (e: AicertError) => e.code === 'x509.parse',
  );
  const both = parseCertificatesPem(`junk\n${pem(root.certificate)}${pem(intermediate.certificate)}`, 'file');
  assert.deepEqual(
    both.map((c) => c.der),
    [root.certificate.der, intermediate.certificate.der],
  );
  assert.throws(
    () => parseCertificatesPem('-----BEGIN PUBLIC KEY-----\n', 'file'),
    (e: AicertError) => e.code === 'x509.parse',
  );
});

test('property: parseCertificateDer on random or mutated bytes returns or throws x509.parse, nothing else', async () => {
  const { leaf } = await threeLevelChain();
  const der = leaf.certificate.der;
  assertProperty(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 600 }),
        fc.tuple(fc.nat(der.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
          const changed = Buffer.from(der);
          changed[i]! ^= x;
          return changed;
        }),
      ),
      (bytes) => {
        try {
          parseCertificateDer(bytes, 'x');
        } catch (err) {
          assert.ok(err instanceof AicertError && err.code === 'x509.parse', String(err));
        }
      },
    ),
    { numRuns: 1000 },
  );
});

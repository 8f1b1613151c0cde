import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import {
  describeEkCertificate,
  extractEkCertificateDer,
  validateEkCertificate,
  TCG_EK_CERTIFICATE_EKU,
} from '../../src/evidence/ek-certificate.js';
import { parsePublic2b, type PublicArea } from '../../src/tpm/public.js';
import { ekPublicFor, mutatedBytes, parsesOrRefuses, softwareKey } from '../tpm/helpers.js';

const fixture = (name: string) =>
  readFileSync(new URL(`../../../test/evidence/fixtures/swtpm-ek/${name}`, import.meta.url));
const swtpm = {
  rsaCert: fixture('ek-rsa-cert.der'),
  eccCert: fixture('ek-ecc-p384-cert.der'),
  rsaEk: parsePublic2b(fixture('ek-rsa.pub')),
  eccEk: parsePublic2b(fixture('ek-ecc-p384.pub')),
  root: fixture('root.pem').toString(),
  intermediate: fixture('intermediate.pem').toString(),
};
/** The swtpm fixtures are valid from 2026-11-27 to 9999. */
const AT = new Date('2027-06-01T00:00:00Z');

const failsWith = (fn: () => unknown, code: string, pattern?: RegExp) =>
  assert.throws(fn, (err: Error & { code?: string }) => {
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });

test("swtpm's RSA and P-384 EK certificates validate against its local CA and describe the TPM", () => {
  for (const [cert, ekPublic] of [
    [swtpm.rsaCert, swtpm.rsaEk],
    [swtpm.eccCert, swtpm.eccEk],
  ] as const) {
    const v = validateEkCertificate(cert, {
      ekPublic,
      roots: [swtpm.root],
      intermediates: [swtpm.intermediate],
      at: AT,
    });
    assert.deepEqual(v.chain, ['CN=unknown', 'CN=swtpm-localca', 'CN=swtpm-localca-rootca']);
    assert.equal(v.tpmManufacturer, 'id:00001014');
    assert.equal(v.tpmModel, 'swtpm');
    assert.equal(v.tpmVersion, 'id:20191023');
  }
  const info = describeEkCertificate(swtpm.rsaCert);
  assert.equal(info.subject, 'CN=unknown');
  assert.equal(info.issuer, 'CN=swtpm-localca');
});

test("swtpm's EK certificate fails with its own reason: missing intermediate, other root, date, other EK", async () => {
  const base = { ekPublic: swtpm.rsaEk, roots: [swtpm.root], intermediates: [swtpm.intermediate], at: AT };
  failsWith(() => validateEkCertificate(swtpm.rsaCert, { ...base, intermediates: [] }), 'ek.chain');
  const other = await makeCa('CN=Some Other Root');
  failsWith(() => validateEkCertificate(swtpm.rsaCert, { ...base, roots: [other.cert.toString('pem')] }), 'ek.chain');
  failsWith(
    () => validateEkCertificate(swtpm.rsaCert, { ...base, at: new Date('2026-01-01T00:00:00Z') }),
    'ek.expired',
    /not valid at 2026-01-01/,
  );
  failsWith(
    () => validateEkCertificate(swtpm.rsaCert, { ...base, ekPublic: ekPublicFor('rsa').area }),
    'ek.key-mismatch',
  );
  failsWith(
    () => validateEkCertificate(swtpm.rsaCert, { ...base, ekPublic: swtpm.eccEk }),
    'ek.key-usage',
    /keyAgreement/,
  );
});

// ---- generated PKIs, to reach each check on its own ----

const SIGNING = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const YEAR = 365 * 24 * 3600 * 1000;
const NOW = new Date('2030-01-01T00:00:00Z');

interface Ca {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

async function makeCa(
  name: string,
  o: { issuer?: Ca; ca?: boolean; pathLength?: number; usages?: x509.KeyUsageFlags; notAfter?: Date } = {},
): Promise<Ca> {
  const keys = (await webcrypto.subtle.generateKey(SIGNING, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    subject: name,
    issuer: o.issuer?.cert.subject ?? name,
    notBefore: new Date(NOW.getTime() - YEAR),
    notAfter: o.notAfter ?? new Date(NOW.getTime() + YEAR),
    signingAlgorithm: SIGNING,
    publicKey: keys.publicKey,
    signingKey: (o.issuer?.keys ?? keys).privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(o.ca ?? true, o.pathLength, true),
      new x509.KeyUsagesExtension(o.usages ?? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { cert, keys };
}

interface EkCertOptions {
  usages?: x509.KeyUsageFlags | null;
  eku?: string[] | null;
  notBefore?: Date;
  notAfter?: Date;
  extra?: x509.Extension[];
  subject?: string;
}

async function makeEkCert(issuer: Ca, ek: PublicArea, spki: Buffer, o: EkCertOptions = {}): Promise<Buffer> {
  const extensions: x509.Extension[] = [
    new x509.SubjectAlternativeNameExtension(
      [{ type: 'dn', value: '2.23.133.2.1=id:414D4400, 2.23.133.2.2=TEST, 2.23.133.2.3=id:00010002' }],
      true,
    ),
    new x509.BasicConstraintsExtension(false, undefined, true),
  ];
  const defaultUsage = ek.public.type === 0x0001 ? x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.keyAgreement;
  if (o.usages !== null) extensions.push(new x509.KeyUsagesExtension(o.usages ?? defaultUsage, true));
  if (o.eku !== null) extensions.push(new x509.ExtendedKeyUsageExtension(o.eku ?? [TCG_EK_CERTIFICATE_EKU]));
  extensions.push(...(o.extra ?? []));
  const cert = await x509.X509CertificateGenerator.create({
    subject: o.subject ?? 'CN=Test EK',
    issuer: issuer.cert.subject,
    notBefore: o.notBefore ?? new Date(NOW.getTime() - YEAR),
    notAfter: o.notAfter ?? new Date(NOW.getTime() + YEAR),
    signingAlgorithm: SIGNING,
    publicKey: Uint8Array.from(spki),
    signingKey: issuer.keys.privateKey,
    extensions,
  });
  return Buffer.from(cert.rawData);
}

async function pki() {
  const root = await makeCa('CN=Test EK Root');
  const intermediate = await makeCa('CN=Test EK Intermediate', { issuer: root, pathLength: 0 });
  const rsa = {
    ek: ekPublicFor('rsa').area,
    spki: softwareKey('rsa').publicKey.export({ type: 'spki', format: 'der' }),
  };
  const ecc = {
    ek: ekPublicFor('ecc-p384').area,
    spki: softwareKey('ecc-p384').publicKey.export({ type: 'spki', format: 'der' }),
  };
  const options = { roots: [root.cert.toString('pem')], intermediates: [intermediate.cert.toString('pem')], at: NOW };
  return { root, intermediate, rsa, ecc, options };
}

test('generated chains: a well-formed RSA and ECC EK certificate validates; an absent EKU is allowed', async () => {
  const { intermediate, rsa, ecc, options } = await pki();
  const v = validateEkCertificate(await makeEkCert(intermediate, rsa.ek, rsa.spki), { ...options, ekPublic: rsa.ek });
  assert.equal(v.tpmManufacturer, 'id:414D4400');
  assert.deepEqual(v.chain, ['CN=Test EK', 'CN=Test EK Intermediate', 'CN=Test EK Root']);
  validateEkCertificate(await makeEkCert(intermediate, ecc.ek, ecc.spki), { ...options, ekPublic: ecc.ek });
  validateEkCertificate(await makeEkCert(intermediate, rsa.ek, rsa.spki, { eku: null }), {
    ...options,
    ekPublic: rsa.ek,
  });
});

test('generated chains: the EK certificate itself fails with ek.expired, ek.key-usage, ek.eku', async () => {
  const { intermediate, rsa, ecc, options } = await pki();
  const check = (ek: typeof rsa, code: string, pattern?: RegExp) =>
    failsWith(() => validateEkCertificate(bytes, { ...options, ekPublic: ek.ek }), code, pattern);
  let bytes = await makeEkCert(intermediate, rsa.ek, rsa.spki, { notAfter: new Date(NOW.getTime() - 1000) });
  check(rsa, 'ek.expired');
  bytes = await makeEkCert(intermediate, rsa.ek, rsa.spki, { notBefore: new Date(NOW.getTime() + 1000) });
  check(rsa, 'ek.expired');
  bytes = await makeEkCert(intermediate, rsa.ek, rsa.spki, { usages: x509.KeyUsageFlags.digitalSignature });
  check(rsa, 'ek.key-usage', /keyEncipherment/);
  bytes = await makeEkCert(intermediate, rsa.ek, rsa.spki, { usages: null });
  check(rsa, 'ek.key-usage');
  bytes = await makeEkCert(intermediate, ecc.ek, ecc.spki, { usages: x509.KeyUsageFlags.keyEncipherment });
  check(ecc, 'ek.key-usage', /keyAgreement/);
  bytes = await makeEkCert(intermediate, rsa.ek, rsa.spki, { eku: ['1.3.6.1.5.5.7.3.1'] });
  check(rsa, 'ek.eku', /2\.23\.133\.8\.1/);
  bytes = await makeEkCert(intermediate, rsa.ek, ecc.spki);
  failsWith(() => validateEkCertificate(bytes, { ...options, ekPublic: rsa.ek }), 'ek.key-mismatch');
});

test('generated chains: issuer problems fail ek.chain with the reason', async () => {
  const { root, rsa, options } = await pki();
  const leafUnder = async (ca: Ca) => makeEkCert(ca, rsa.ek, rsa.spki);
  const under = async (intermediate: Ca, pattern: RegExp, extraOptions: object = {}) =>
    failsWith(
      () =>
        validateEkCertificate(leaf, {
          ...options,
          intermediates: [intermediate.cert.toString('pem')],
          ekPublic: rsa.ek,
          ...extraOptions,
        }),
      'ek.chain',
      pattern,
    );
  let leaf: Buffer;

  const notCa = await makeCa('CN=Not A CA', { issuer: root, ca: false });
  leaf = await leafUnder(notCa);
  await under(notCa, /not a CA/);

  const noCertSign = await makeCa('CN=No CertSign', { issuer: root, usages: x509.KeyUsageFlags.digitalSignature });
  leaf = await leafUnder(noCertSign);
  await under(noCertSign, /signing certificates/);

  const expired = await makeCa('CN=Expired CA', { issuer: root, notAfter: new Date(NOW.getTime() - 1000) });
  leaf = await leafUnder(expired);
  await under(expired, /not valid at/);

  // The root allows no intermediate below it, and the chain has one.
  const strictRoot = await makeCa('CN=Strict Root', { pathLength: 0 });
  const belowStrict = await makeCa('CN=Below Strict', { issuer: strictRoot });
  leaf = await leafUnder(belowStrict);
  await under(belowStrict, /allows 0 intermediate/, { roots: [strictRoot.cert.toString('pem')] });

  // Same issuer name, other key: the signature does not verify.
  const impostor = await makeCa('CN=Test EK Intermediate', { issuer: root });
  leaf = await leafUnder(impostor);
  failsWith(() => validateEkCertificate(leaf, { ...options, ekPublic: rsa.ek }), 'ek.chain');

  const critical = new x509.Extension('1.2.3.4.5', true, new Uint8Array([0x05, 0x00]));
  const intermediate = await makeCa('CN=Test EK Intermediate 2', { issuer: root });
  leaf = await makeEkCert(intermediate, rsa.ek, rsa.spki, { extra: [critical] });
  await under(intermediate, /critical extension 1\.2\.3\.4\.5/);
});

test('EK certificates with an empty subject (usual for hardware TPMs) validate', async () => {
  const { intermediate, rsa, options } = await pki();
  const leaf = await makeEkCert(intermediate, rsa.ek, rsa.spki, { subject: '' });
  assert.deepEqual(validateEkCertificate(leaf, { ...options, ekPublic: rsa.ek }).chain, [
    '',
    'CN=Test EK Intermediate',
    'CN=Test EK Root',
  ]);
});

test('an EK certificate with an empty subject under a bad issuer fails ek.chain with a readable reason', async () => {
  const { root, rsa, options } = await pki();
  const noCertSign = await makeCa('CN=No CertSign', { issuer: root, usages: x509.KeyUsageFlags.digitalSignature });
  const leaf = await makeEkCert(noCertSign, rsa.ek, rsa.spki, { subject: '' });
  failsWith(
    () =>
      validateEkCertificate(leaf, { ...options, intermediates: [noCertSign.cert.toString('pem')], ekPublic: rsa.ek }),
    'ek.chain',
    /empty subject/,
  );
});

// ---- getting the DER out of NV ----

test('EK certificate DER comes out of NV bytes: raw, behind the 10 01 00 header, or padded', () => {
  const der = swtpm.rsaCert;
  assert.deepEqual(extractEkCertificateDer(der), der);
  const header = Buffer.from([0x10, 0x01, 0x00, der.length >> 8, der.length & 0xff]);
  assert.deepEqual(extractEkCertificateDer(Buffer.concat([header, der])), der);
  assert.deepEqual(extractEkCertificateDer(Buffer.concat([header, der, Buffer.alloc(40, 0xff)])), der);
  assert.deepEqual(extractEkCertificateDer(Buffer.concat([der, Buffer.alloc(100)])), der);
  assert.deepEqual(extractEkCertificateDer(Buffer.concat([der, Buffer.alloc(100, 0xff)])), der);
});

test('NV bytes that are not a certificate are refused with ek.malformed', () => {
  const der = swtpm.rsaCert;
  failsWith(() => extractEkCertificateDer(Buffer.concat([der, Buffer.from('junk')])), 'ek.malformed', /not padding/);
  failsWith(() => extractEkCertificateDer(der.subarray(0, der.length - 1)), 'ek.malformed', /announces/);
  failsWith(
    () => extractEkCertificateDer(Buffer.from([0x10, 0x01, 0x00, 0xff, 0xff, 0x30])),
    'ek.malformed',
    /header announces/,
  );
  failsWith(() => extractEkCertificateDer(Buffer.from([0x31, 0x00])), 'ek.malformed', /SEQUENCE/);
  failsWith(() => extractEkCertificateDer(Buffer.from([0x30, 0x80, 0x00, 0x00])), 'ek.malformed');
  failsWith(() => extractEkCertificateDer(Buffer.alloc(20000, 0x30)), 'ek.malformed', /limit/);
  failsWith(() => describeEkCertificate(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00])), 'ek.malformed');
});

test('mutated and random NV bytes give a description or an aicert error, never a crash', () => {
  assertProperty(
    fc.property(mutatedBytes([swtpm.rsaCert, swtpm.eccCert]), (bytes) =>
      parsesOrRefuses(() =>
        validateEkCertificate(bytes, {
          ekPublic: swtpm.rsaEk,
          roots: [swtpm.root],
          intermediates: [swtpm.intermediate],
          at: AT,
        }),
      ),
    ),
    { numRuns: 300 },
  );
});

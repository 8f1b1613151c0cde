import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CA_FILES, initCa, openCa } from '../../src/ca/ca-directory.js';
import { createAkCertificate, TCG_AK_CERTIFICATE_EKU } from '../../src/ca/certificates.js';
import { objectName, publicKeyObject } from '../../src/tpm/public.js';
import { akPublicFor } from '../tpm/helpers.js';

const FIXTURES = new URL('../../../test/evidence/fixtures/swtpm-ek/', import.meta.url).pathname;
const EK_ROOT = join(FIXTURES, 'root.pem');
const EK_INTERMEDIATE = join(FIXTURES, 'intermediate.pem');

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'aicert-ca-dir-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

test('ca init writes a 0600 P-256 key, a self-signed CA certificate, the EK roots and an empty issuance log', async () => {
  const dir = join(work, 'ca');
  const ca = await initCa(dir, [EK_ROOT], { ekIntermediatePemFiles: [EK_INTERMEDIATE] });
  assert.deepEqual((await readdir(dir)).sort(), ['ca.key', 'ca.pem', 'ek-intermediates', 'ek-roots', 'issued']);
  assert.equal((await stat(join(dir, CA_FILES.key))).mode & 0o777, 0o600);
  assert.match(await readFile(join(dir, CA_FILES.key), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  assert.deepEqual(await readdir(join(dir, CA_FILES.issued)), []);
  assert.deepEqual(await readdir(join(dir, CA_FILES.ekRoots)), ['01-root.pem']);
  assert.deepEqual(await readdir(join(dir, CA_FILES.ekIntermediates)), ['01-intermediate.pem']);
  assert.equal(ca.ekRoots.length, 1);
  assert.equal(ca.ekIntermediates.length, 1);

  const cert = new X509Certificate(await readFile(join(dir, CA_FILES.certificate)));
  assert.equal(cert.subject, 'CN=aicert attestation CA');
  assert.equal(cert.issuer, cert.subject);
  assert.ok(cert.ca);
  assert.ok(cert.verify(cert.publicKey), 'self-signed');
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const text = openssl(['x509', '-in', join(dir, CA_FILES.certificate), '-noout', '-ext', 'basicConstraints,keyUsage']);
  assert.match(text, /Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
  assert.match(text, /Key Usage: critical\s+Certificate Sign, CRL Sign/);

  const reopened = await openCa(dir);
  assert.equal(reopened.certificatePem, ca.certificatePem);
});

test('an AK certificate carries the AK key, its Name and the TCG AK purpose, and OpenSSL verifies it', async () => {
  const ca = await openCa(join(work, 'ca'));
  const ak = akPublicFor('ecc');
  const now = new Date();
  const issued = await createAkCertificate({ akPublic: ak.area, caCertificate: ca.certificate, caKey: ca.key, now });
  const leafFile = join(work, 'ak.pem');
  await writeFile(leafFile, issued.toString('pem'));
  const leaf = new X509Certificate(await readFile(leafFile));
  const name = objectName(ak.area).toString('hex');
  assert.equal(leaf.subject, `CN=aicert AK ${name.slice(4, 36)}`);
  assert.equal(leaf.subjectAltName, `URI:urn:aicert:ak-name:${name}`);
  assert.equal(leaf.ca, false);
  assert.ok(leaf.publicKey.equals(publicKeyObject(ak.area.public)));
  assert.deepEqual(leaf.keyUsage, [TCG_AK_CERTIFICATE_EKU], 'Node lists the extended key usage here');
  const text = openssl(['x509', '-in', leafFile, '-noout', '-ext', 'keyUsage,basicConstraints']);
  assert.match(text, /Key Usage: critical\s+Digital Signature/);
  assert.match(text, /Basic Constraints: critical\s+CA:FALSE/);
  assert.match(openssl(['verify', '-CAfile', join(work, 'ca', CA_FILES.certificate), leafFile]), /: OK/);
  assert.ok(new Date(leaf.validTo).getTime() - now.getTime() > 364 * 24 * 3600 * 1000, 'valid for about a year');
});

test('ca init refuses a directory that is not empty and leaves it untouched', async () => {
  const dir = join(work, 'busy');
  await mkdir(dir);
  await writeFile(join(dir, 'keep.txt'), 'mine');
  await assert.rejects(initCa(dir, [EK_ROOT]), { code: 'ca.exists', exitStatus: 2 });
  assert.deepEqual(await readdir(dir), ['keep.txt']);
  await assert.rejects(initCa(join(work, 'ca'), [EK_ROOT]), { code: 'ca.exists' }, 'never overwrites a CA');
  const empty = join(work, 'empty');
  await mkdir(empty);
  await initCa(empty, [EK_ROOT]);
  assert.ok(existsSync(join(empty, CA_FILES.key)));
});

test('ca init refuses EK "roots" that are not CA certificates, and no roots at all', async () => {
  const ekCert = new X509Certificate(await readFile(join(FIXTURES, 'ek-rsa-cert.der')));
  await writeFile(join(work, 'ek.pem'), ekCert.toString());
  await assert.rejects(initCa(join(work, 'not-ca'), [join(work, 'ek.pem')]), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ca.ek-root');
    assert.match(err.message, /is not a CA certificate/);
    return true;
  });
  assert.equal(existsSync(join(work, 'not-ca')), false);
  await assert.rejects(initCa(join(work, 'no-roots'), []), { code: 'ca.no-ek-roots' });
  await assert.rejects(initCa(join(work, 'missing'), [join(work, 'nope.pem')]), { code: 'file.unreadable' });
});

test('openCa refuses a directory without a CA, and a key that does not match ca.pem', async () => {
  await assert.rejects(openCa(join(work, 'nowhere')), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ca.not-found');
    assert.match(err.message, /aicert ca init/);
    return true;
  });
  const a = join(work, 'a');
  const b = join(work, 'b');
  await initCa(a, [EK_ROOT]);
  await initCa(b, [EK_ROOT]);
  await copyFile(join(b, CA_FILES.key), join(a, CA_FILES.key));
  await assert.rejects(openCa(a), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ca.key');
    assert.match(err.message, /does not match ca\.pem/);
    return true;
  });
});

function openssl(args: string[]): string {
  const run = spawnSync('openssl', args, { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout;
}

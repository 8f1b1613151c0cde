import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { akCertificateChainPath, loadAkCertificateChain } from '../../src/ca/ak-store.js';
import { CA_FILES, initCa, type AttestationCa } from '../../src/ca/ca-directory.js';
import { enrollAk, httpCaEndpoint, openCaEndpoint, type CaEndpoint } from '../../src/ca/enroll-client.js';
import { EnrollmentAuthority, SESSION_LIFETIME_MS, type IssuanceRecord } from '../../src/ca/enrollment.js';
import type { EnrollChallenge, EnrollStart } from '../../src/ca/protocol.js';
import { startCaServer, type CaServer } from '../../src/ca/server.js';
import { decodeBase64Strict, encodeBase64 } from '../../src/util/base64.js';
import { parseCertificatesPem } from '../../src/pki/x509-path.js';
import { evaluateAkTrust } from '../../src/evidence/ak-trust.js';
import { Tpm } from '../../src/tpm/client.js';
import type { LoadedObject } from '../../src/tpm/commands/create-primary.js';
import { TPM_CAP, TPM_RH } from '../../src/tpm/constants.js';
import { AK_TEMPLATE, createAk, createEk, readEkCertificate } from '../../src/tpm/keys.js';
import { objectName, public2b, type PublicArea, type TpmPublic } from '../../src/tpm/public.js';
import { TpmResponseError } from '../../src/tpm/response-code.js';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { ekPublicFor } from '../tpm/helpers.js';

const FIXTURES = new URL('../../../test/evidence/fixtures/swtpm-ek/', import.meta.url).pathname;
/** The root of another swtpm's local CA: same subject as the simulator's, different key. */
const FOREIGN_EK_ROOT = join(FIXTURES, 'root.pem');

describe('AK enrollment with a software TPM', () => {
  let sim: Simulator;
  let tpm: Tpm;
  let work: string;
  let simIntermediate: string;
  let ekCertificate: Buffer;

  before(async () => {
    sim = await startSimulator();
    tpm = await Tpm.open(sim.address);
    work = await mkdtemp(join(tmpdir(), 'aicert-enroll-'));
    simIntermediate = join(sim.dir, 'ca', 'issuercert.pem');
    ekCertificate = (await readEkCertificate(tpm, 'rsa'))!;
  });
  after(async () => {
    await tpm?.close();
    await sim?.stop();
    delete process.env.AICERT_HOME;
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** A fresh CA and a fresh $AICERT_HOME for one test. */
  async function freshCa(
    name: string,
    ekRoots = [sim.caRootFile],
    ekIntermediates = [simIntermediate],
  ): Promise<AttestationCa> {
    process.env.AICERT_HOME = join(work, `${name}-home`);
    return initCa(join(work, name), ekRoots, { ekIntermediatePemFiles: ekIntermediates });
  }

  async function transientHandles(): Promise<number[]> {
    const pages = await tpm.getCapability(TPM_CAP.HANDLES, 0x80000000, 32);
    return pages.flatMap((p) => (p.capability === TPM_CAP.HANDLES ? p.handles : []));
  }

  async function issuedRecords(ca: AttestationCa): Promise<string[]> {
    return readdir(join(ca.dir, CA_FILES.issued));
  }

  /** Runs `use` with the RSA EK and the AK loaded, flushing both afterwards. */
  async function withEkAndAk<T>(use: (ek: LoadedObject, ak: LoadedObject) => Promise<T>): Promise<T> {
    const ek = await createEk(tpm, 'rsa');
    return tpm.withTransient(ek.handle, async () => {
      const ak = await createAk(tpm);
      return tpm.withTransient(ak.handle, () => use(ek, ak));
    });
  }

  function startRequest(ekPublic: PublicArea, akPublic: PublicArea): EnrollStart {
    return {
      ekCertificate: encodeBase64(ekCertificate),
      ekPublic: encodeBase64(public2b(ekPublic.bytes)),
      akPublic: encodeBase64(public2b(akPublic.bytes)),
    };
  }

  function activate(ek: LoadedObject, ak: LoadedObject, challenge: EnrollChallenge): Promise<Buffer> {
    return tpm.activateCredential(
      ak.handle,
      ek.handle,
      decodeBase64Strict(challenge.credentialBlob, 'blob'),
      decodeBase64Strict(challenge.encryptedSecret, 'secret'),
    );
  }

  async function assertEnrolled(ca: AttestationCa, endpoint: CaEndpoint): Promise<void> {
    const enrolled = await enrollAk({ tpm, endpoint });
    const ak = await createAk(tpm);
    await tpm.flushContext(ak.handle);
    assert.deepEqual(enrolled.akName, ak.name);
    assert.equal(enrolled.chainPath, join(process.env.AICERT_HOME!, 'ak', ak.name.toString('hex'), 'chain.pem'));
    assert.deepEqual(await loadAkCertificateChain(ak.name), enrolled.chain);
    assert.equal(enrolled.chain.length, 2, 'AK certificate, then the CA certificate');
    const trust = evaluateAkTrust(
      ak.public,
      enrolled.chain,
      { roots: parseCertificatesPem(ca.certificatePem, 'ca'), pinnedAks: [] },
      new Date(),
    );
    assert.equal(trust.level, 'ca', trust.reason);
    const [record] = await issuedRecords(ca);
    const logged = JSON.parse(await readFile(join(ca.dir, CA_FILES.issued, record!), 'utf8')) as IssuanceRecord;
    assert.equal(logged.akName, ak.name.toString('hex'));
    assert.match(logged.ek.issuer, /swtpm-localca/);
    assert.deepEqual(await transientHandles(), [], 'enrollment flushes the EK and the AK');
  }

  test('enrolls in DIR mode: EK chains to the simulator root, credential activated, chain stored', async () => {
    const ca = await freshCa('dir-mode');
    await assertEnrolled(ca, await openCaEndpoint(ca.dir));
  });

  test('enrolls over HTTP, with the EK intermediate sent by the client instead of held by the CA', async () => {
    const ca = await freshCa('http-mode', [sim.caRootFile], []);
    const server = await startCaServer(new EnrollmentAuthority(ca));
    try {
      const endpoint = await openCaEndpoint(server.url);
      // Without the intermediate the EK certificate does not chain.
      await assert.rejects(enrollAk({ tpm, endpoint }), { code: 'ek.chain' });
      const intermediate = parseCertificatesPem(await readFile(simIntermediate, 'utf8'), 'intermediate')[0]!.der;
      const enrolled = await enrollAk({ tpm, endpoint, ekIntermediates: [intermediate] });
      assert.ok(existsSync(enrolled.chainPath));
      assert.equal((await issuedRecords(ca)).length, 1);
    } finally {
      await server.close();
    }
  });

  test("a TPM whose EK does not chain to the CA's EK roots gets no certificate", async () => {
    const ca = await freshCa('foreign-root', [FOREIGN_EK_ROOT], []);
    const server = await startCaServer(new EnrollmentAuthority(ca));
    try {
      for (const endpoint of [await openCaEndpoint(ca.dir), httpCaEndpoint(server.url)]) {
        await assert.rejects(enrollAk({ tpm, endpoint }), (err: Error & { code?: string; exitStatus?: number }) => {
          assert.equal(err.code, 'ek.chain', err.message);
          assert.equal(err.exitStatus, 1);
          assert.match(err.message, /EK certificate: the certificate chain does not lead to a trusted CA/);
          return true;
        });
      }
      const ak = await createAk(tpm);
      await tpm.flushContext(ak.handle);
      assert.equal(existsSync(akCertificateChainPath(ak.name)), false, 'no certificate stored');
      assert.equal(await loadAkCertificateChain(ak.name), undefined);
      assert.deepEqual(await issuedRecords(ca), [], 'no certificate issued');
      assert.deepEqual(await transientHandles(), []);
    } finally {
      await server.close();
    }
  });

  test('a wrong activation secret gets no certificate, and burns the session', async () => {
    const ca = await freshCa('wrong-secret');
    const authority = new EnrollmentAuthority(ca);
    await withEkAndAk(async (ek, ak) => {
      const challenge = await authority.start(startRequest(ek.public, ak.public));
      const secret = await activate(ek, ak, challenge);
      const wrong = Buffer.from(secret);
      wrong[0]! ^= 1;
      await assert.rejects(authority.finish({ session: challenge.session, secret: encodeBase64(wrong) }), {
        code: 'enroll.activation',
      });
      await assert.rejects(authority.finish({ session: challenge.session, secret: encodeBase64(randomBytes(16)) }), {
        code: 'enroll.session',
      });
      // Even the right secret is refused now: one attempt per credential.
      await assert.rejects(authority.finish({ session: challenge.session, secret: encodeBase64(secret) }), {
        code: 'enroll.session',
      });
    });
    assert.deepEqual(await issuedRecords(ca), []);
  });

  test("a credential made for another key's Name cannot be activated with this AK: no certificate", async () => {
    const ca = await freshCa('other-name');
    const authority = new EnrollmentAuthority(ca);
    // Another restricted signing key in the same TPM, from a different template (other unique seed).
    const other = await tpm.createPrimary(
      TPM_RH.ENDORSEMENT,
      { ...AK_TEMPLATE, unique: { x: Buffer.alloc(32, 7), y: Buffer.alloc(32, 7) } } as TpmPublic,
      'other AK',
    );
    await tpm.flushContext(other.handle);
    await withEkAndAk(async (ek, ak) => {
      assert.notDeepEqual(objectName(other.public), ak.name);
      const challenge = await authority.start(startRequest(ek.public, other.public));
      await assert.rejects(activate(ek, ak, challenge), (err: Error) => {
        assert.ok(err instanceof TpmResponseError, String(err));
        assert.match(err.message, /ActivateCredential/);
        return true;
      });
      await assert.rejects(authority.finish({ session: challenge.session, secret: encodeBase64(randomBytes(32)) }), {
        code: 'enroll.activation',
      });
    });
    assert.deepEqual(await issuedRecords(ca), []);
    assert.deepEqual(await transientHandles(), []);
  });

  test('a finished session cannot be replayed, and an expired one is refused', async () => {
    const ca = await freshCa('sessions');
    let now = new Date();
    const authority = new EnrollmentAuthority(ca, { now: () => now });
    await withEkAndAk(async (ek, ak) => {
      const first = await authority.start(startRequest(ek.public, ak.public));
      const secret = await activate(ek, ak, first);
      const issued = await authority.finish({ session: first.session, secret: encodeBase64(secret) });
      assert.equal(issued.akName, ak.name.toString('hex'));
      await assert.rejects(authority.finish({ session: first.session, secret: encodeBase64(secret) }), {
        code: 'enroll.session',
      });

      const second = await authority.start(startRequest(ek.public, ak.public));
      assert.equal(Date.parse(second.expiresAt) - now.getTime(), SESSION_LIFETIME_MS);
      const secondSecret = await activate(ek, ak, second);
      now = new Date(now.getTime() + SESSION_LIFETIME_MS + 1000);
      await assert.rejects(authority.finish({ session: second.session, secret: encodeBase64(secondSecret) }), {
        code: 'enroll.session-expired',
      });
    });
    assert.equal((await issuedRecords(ca)).length, 1);
  });

  test('the CA refuses an EK public that is not the certified one, and keys that are not AKs', async () => {
    const ca = await freshCa('bad-keys');
    const authority = new EnrollmentAuthority(ca);
    const softwareEk = ekPublicFor('rsa').area;
    await withEkAndAk(async (ek, ak) => {
      await assert.rejects(authority.start(startRequest(softwareEk, ak.public)), { code: 'ek.key-mismatch' });
      await assert.rejects(authority.start(startRequest(ek.public, ek.public)), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ak.attributes');
        assert.match(err.message, /sign/);
        return true;
      });
      await assert.rejects(
        authority.start({
          ...startRequest(ek.public, ak.public),
          ekCertificate: encodeBase64(Buffer.from('not a certificate')),
        }),
        {
          code: 'ek.malformed',
        },
      );
      await assert.rejects(authority.start({ ...startRequest(ek.public, ak.public), extra: 1 }), {
        code: 'enroll.malformed',
      });
    });
    assert.deepEqual(await issuedRecords(ca), []);
  });

  test('--ek ecc on a TPM without an ECC P-256 EK certificate says so', async () => {
    const ca = await freshCa('ecc');
    await assert.rejects(
      enrollAk({ tpm, endpoint: await openCaEndpoint(ca.dir), ek: 'ecc' }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'enroll.no-ek-certificate');
        assert.match(err.message, /0x1c0000a; try --ek rsa/);
        return true;
      },
    );
  });
});

describe('the CA over HTTP', () => {
  let work: string;
  let server: CaServer;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-ca-http-'));
    server = await startCaServer(new EnrollmentAuthority(await initCa(join(work, 'ca'), [FOREIGN_EK_ROOT])));
  });
  after(async () => {
    await server?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const post = (path: string, body: string, type = 'application/json') =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': type }, body });

  async function expectError(response: Response, status: number, code: string): Promise<string> {
    assert.equal(response.status, status);
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, code);
    return body.error.message;
  }

  test('unknown endpoints, wrong methods and wrong content types are clear 4xx errors', async () => {
    await expectError(await fetch(`${server.url}/v1/other`), 404, 'http.not-found');
    await expectError(await fetch(`${server.url}/v1/enroll/start`), 405, 'http.method');
    await expectError(await post('/v1/enroll/start', '{}', 'text/plain'), 415, 'http.content-type');
  });

  test('bodies over the limit are refused with 413, malformed ones with 400', async () => {
    await expectError(
      await post('/v1/enroll/start', JSON.stringify({ pad: 'x'.repeat(100_000) })),
      413,
      'http.too-large',
    );
    await expectError(await post('/v1/enroll/start', '{"ekCertificate": '), 400, 'enroll.malformed');
    const message = await expectError(
      await post('/v1/enroll/start', '{"ekCertificate": "AA=="}'),
      400,
      'enroll.malformed',
    );
    assert.match(message, /ekPublic/);
    await expectError(
      await post('/v1/enroll/finish', JSON.stringify({ session: 'ab'.repeat(32), secret: 'AAAA' })),
      403,
      'enroll.session',
    );
  });

  test('the client reports a refusal as not verified (403) and bad input as a usage error', async () => {
    const endpoint = httpCaEndpoint(server.url);
    await assert.rejects(
      endpoint.finish({ session: 'ab'.repeat(32), secret: 'AAAA' }),
      (err: Error & { exitStatus?: number; code?: string }) => {
        assert.equal(err.code, 'enroll.session');
        assert.equal(err.exitStatus, 1);
        assert.match(err.message, /^the CA refused the enrollment: unknown enrollment session/);
        return true;
      },
    );
    await assert.rejects(endpoint.finish({ session: 'xyz', secret: 'AAAA' }), {
      code: 'enroll.malformed',
      exitStatus: 2,
    });
    await assert.rejects(httpCaEndpoint('http://127.0.0.1:1').finish({ session: 'ab'.repeat(32), secret: 'AA==' }), {
      code: 'enroll.unreachable',
      exitStatus: 3,
    });
  });
});

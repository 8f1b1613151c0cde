import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { validateEkCertificate } from '../../src/evidence/ek-certificate.js';
import { Tpm } from '../../src/tpm/client.js';
import { PASSWORD, type TpmCommand } from '../../src/tpm/command.js';
import { TPM_CAP, TPM_CC, TPMA_OBJECT } from '../../src/tpm/constants.js';
import { makeCredential, makeCredentialForName } from '../../src/tpm/credential.js';
import { createAk, createEk, readEkCertificate } from '../../src/tpm/keys.js';
import { objectName, type PublicArea } from '../../src/tpm/public.js';
import { TpmResponseError } from '../../src/tpm/response-code.js';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { akPublicFor } from './helpers.js';

const TPM_RC_RETRY = 0x922;
/** Persistent handles and NV index swtpm_setup uses for its high-range ECC P-384 EK. */
const SWTPM_P384_EK = 0x81010016;
const SWTPM_P384_EK_CERT = 0x01c00016;

/**
 * Credential activation against a real TPM: aicert's software MakeCredential, the TPM's
 * ActivateCredential. And the EK certificate, read from NV, validated against swtpm's CA.
 */
describe('credential activation and EK certificates on swtpm', () => {
  let sim: Simulator;
  let tpm: Tpm;

  before(async () => {
    sim = await startSimulator();
    tpm = await Tpm.open(sim.address);
  });
  after(async () => {
    await tpm?.close();
    await sim?.stop();
  });

  /** Runs ActivateCredential for the aicert AK under the EK `ek` (transient or persistent). */
  async function activate(
    ek: { handle: number; public: PublicArea },
    make: (akPublic: PublicArea) => { credentialBlob: Buffer; encryptedSecret: Buffer },
  ) {
    const ak = await createAk(tpm);
    return tpm.withTransient(ak.handle, async () => {
      const { credentialBlob, encryptedSecret } = make(ak.public);
      if (!(ek.public.public.objectAttributes & TPMA_OBJECT.userWithAuth)) {
        return tpm.activateCredential(ak.handle, ek.handle, credentialBlob, encryptedSecret);
      }
      // swtpm's high-range P-384 EK has a PolicyOR policy (TCG EK profile 2.x) but also
      // userWithAuth with an empty password: authorize it with a password session instead.
      // The first use of that persistent ECC key answers TPM_RC_RETRY (0x922) on swtpm; the
      // TPM asks the caller to send the command again. (Tpm.execute does not retry by itself.)
      for (let attempt = 1; ; attempt++) {
        try {
          return await tpm.execute(activateWithPasswords(ak.handle, ek.handle, credentialBlob, encryptedSecret));
        } catch (err) {
          if (!(err instanceof TpmResponseError && err.responseCode === TPM_RC_RETRY && attempt < 3)) throw err;
        }
      }
    });
  }

  function activateWithPasswords(akHandle: number, ekHandle: number, blob: Buffer, secret: Buffer): TpmCommand<Buffer> {
    return {
      name: 'ActivateCredential',
      code: TPM_CC.ActivateCredential,
      handles: [akHandle, ekHandle],
      authorizations: [PASSWORD, PASSWORD],
      parameters: (w) => w.tpm2b(blob).tpm2b(secret),
      parse: (r) => r.tpm2b('certInfo', 64),
    };
  }

  const ekKinds = [
    ['RSA-2048 EK (TCG L-1)', async () => createEk(tpm, 'rsa')],
    ['ECC P-256 EK (TCG L-2)', async () => createEk(tpm, 'ecc')],
    [
      "swtpm's persistent ECC P-384 EK (AES-256, SHA-384)",
      async () => ({ handle: SWTPM_P384_EK, public: (await tpm.readPublic(SWTPM_P384_EK)).public, persistent: true }),
    ],
  ] as const;

  for (const [label, loadEk] of ekKinds) {
    test(`${label}: the TPM releases the secret to the AK it was made for, and to no other Name`, async () => {
      const ek = await loadEk();
      const run = async () => {
        const secret = randomBytes(16);
        const released = await activate(ek, (akPublic) => makeCredential(ek.public, akPublic, secret));
        assert.deepEqual(released, secret);

        // The same blob construction for another AK's Name: the TPM's integrity check refuses it.
        const otherName = objectName(akPublicFor('ecc').area);
        await assert.rejects(
          activate(ek, () => makeCredentialForName(ek.public, otherName, secret)),
          (err: unknown) => err instanceof TpmResponseError && /ActivateCredential/.test(err.message),
        );
      };
      if ('persistent' in ek) await run();
      else await tpm.withTransient(ek.handle, run);
    });
  }

  test('a credential made for another EK is refused', async () => {
    const rsaEk = await createEk(tpm, 'rsa');
    await tpm.withTransient(rsaEk.handle, async () => {
      const otherEk = (await tpm.readPublic(SWTPM_P384_EK)).public;
      await assert.rejects(
        activate(rsaEk, (akPublic) => makeCredential(otherEk, akPublic, randomBytes(16))),
        (err: unknown) => err instanceof TpmResponseError,
      );
    });
  });

  test("the EK certificates in NV validate against the simulator's CA, with the EK's own public key", async () => {
    const [root, intermediate] = sim.caCertificates;
    const rsaEk = await createEk(tpm, 'rsa');
    const rsaPublic = rsaEk.public;
    await tpm.flushContext(rsaEk.handle);
    const rsaCert = await readEkCertificate(tpm, 'rsa');
    assert.ok(rsaCert, 'swtpm_setup --create-ek-cert stores an RSA EK certificate');
    const v = validateEkCertificate(rsaCert, { ekPublic: rsaPublic, roots: [root!], intermediates: [intermediate!] });
    assert.deepEqual(v.chain, ['CN=unknown', 'CN=swtpm-localca', 'CN=swtpm-localca-rootca']);

    const p384Cert = await tpm.nvRead(SWTPM_P384_EK_CERT);
    const p384Public = (await tpm.readPublic(SWTPM_P384_EK)).public;
    validateEkCertificate(p384Cert, { ekPublic: p384Public, roots: [root!], intermediates: [intermediate!] });

    // Another swtpm's CA (same names, other keys), or another EK's key: refused, each for its own reason.
    const other = await startSimulator();
    try {
      assert.throws(
        () =>
          validateEkCertificate(rsaCert, {
            ekPublic: rsaPublic,
            roots: [other.caCertificates[0]!],
            intermediates: [other.caCertificates[1]!],
          }),
        { code: 'ek.chain' },
      );
    } finally {
      await other.stop();
    }
    const p256Ek = await createEk(tpm, 'ecc');
    await tpm.flushContext(p256Ek.handle);
    assert.throws(
      () =>
        validateEkCertificate(p384Cert, { ekPublic: p256Ek.public, roots: [root!], intermediates: [intermediate!] }),
      { code: 'ek.key-mismatch' },
    );
  });

  test('no transient object is left loaded', async () => {
    const pages = await tpm.getCapability(TPM_CAP.HANDLES, 0x80000000, 32);
    assert.deepEqual(
      pages.flatMap((p) => (p.capability === TPM_CAP.HANDLES ? p.handles : [])),
      [],
    );
  });
});

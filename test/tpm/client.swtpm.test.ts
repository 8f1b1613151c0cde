import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Tpm } from '../../src/tpm/client.js';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { TPM_ALG, TPM_CAP, TPM_PT, TPM_PT_PCR } from '../../src/tpm/constants.js';
import { AK_TEMPLATE, createAk, createEk, EK_CERTIFICATE_INDEX, readEkCertificate } from '../../src/tpm/keys.js';
import { TpmResponseError } from '../../src/tpm/response-code.js';
import { publicKeyObject } from '../../src/tpm/public.js';

const SHA256 = TPM_ALG.SHA256;
const ALL_PCRS = [...Array(24).keys()];

/** Transient handles (0x80xxxxxx) currently loaded: every test must leave none behind. */
async function transientHandles(tpm: Tpm): Promise<number[]> {
  const pages = await tpm.getCapability(TPM_CAP.HANDLES, 0x80000000, 32);
  return pages.flatMap((p) => (p.capability === TPM_CAP.HANDLES ? p.handles : []));
}

/** tpm2-tools' TCTI string for the same simulator. */
function tcti(sim: Simulator): string {
  return `swtpm:path=${sim.address.slice('swtpm:unix:'.length)}`;
}

for (const transport of ['unix', 'tcp'] as const) {
  describe(`TPM client against swtpm over ${transport}`, () => {
    let sim: Simulator;
    let tpm: Tpm;

    before(async () => {
      sim = await startSimulator({ transport });
      tpm = await Tpm.open(sim.address);
    });
    after(async () => {
      await tpm?.close();
      await sim?.stop();
    });

    test('GetRandom returns the requested number of bytes, different each time', async () => {
      const a = await tpm.getRandom(32);
      const b = await tpm.getRandom(32);
      assert.equal(a.length, 32);
      assert.notDeepEqual(a, b);
    });

    test('GetCapability reports the SHA-256 bank, limits and PCR attributes', async () => {
      const banks = await tpm.pcrBanks();
      assert.deepEqual(banks, [{ hashAlg: SHA256, pcrs: ALL_PCRS }]);
      const props = await tpm.properties();
      assert.equal(props.get(TPM_PT.FAMILY_INDICATOR), 0x322e3000); // "2.0\0"
      assert.ok((props.get(TPM_PT.NV_BUFFER_MAX) ?? 0) >= 512);
      const pcrProps = await tpm.pcrProperties();
      assert.deepEqual(pcrProps.get(TPM_PT_PCR.RESET_L0), [16, 23]);
    });

    test('PCR_Read of 24 PCRs takes several calls and returns each PCR', async () => {
      const values = await tpm.pcrRead(SHA256, ALL_PCRS);
      assert.deepEqual(
        [...values.keys()].sort((a, b) => a - b),
        ALL_PCRS,
      );
      // Fresh TPM: PCRs 17-22 start all-0xFF, PCR 0 is zero (no firmware measured anything).
      assert.deepEqual(values.get(0), Buffer.alloc(32));
      assert.deepEqual(values.get(17), Buffer.alloc(32, 0xff));
    });

    test('PCR_Extend gives SHA-256(old ‖ digest) and PCR_Reset brings it back to zero', async () => {
      const before = (await tpm.pcrRead(SHA256, [23])).get(23)!;
      const digest = randomBytes(32);
      await tpm.pcrExtend(23, [{ hashAlg: SHA256, digest }]);
      const afterExtend = (await tpm.pcrRead(SHA256, [23])).get(23)!;
      assert.deepEqual(afterExtend, createHash('sha256').update(before).update(digest).digest());
      await tpm.pcrReset(23);
      assert.deepEqual((await tpm.pcrRead(SHA256, [23])).get(23), Buffer.alloc(32));
    });

    test('PCR_Reset of a boot PCR fails with a readable TPM_RC_LOCALITY', async () => {
      await assert.rejects(tpm.pcrReset(10), (err: unknown) => {
        assert.ok(err instanceof TpmResponseError);
        assert.equal(err.responseCode, 0x907);
        assert.equal(err.message, 'TPM_RC_LOCALITY (0x907) in PCR_Reset(10)');
        assert.equal(err.exitStatus, 3);
        return true;
      });
    });

    test('the RSA EK from the TCG template has the Name of the EK swtpm_setup persisted', async () => {
      const persisted = await tpm.readPublic(0x81010001);
      const ek = await createEk(tpm, 'rsa');
      await tpm.flushContext(ek.handle);
      assert.deepEqual(ek.name, persisted.name);
      assert.deepEqual(ek.public.bytes, persisted.public.bytes);
    });

    test('the ECC P-256 EK template creates a key whose Name matches its public area', async () => {
      const ek = await createEk(tpm, 'ecc');
      await tpm.flushContext(ek.handle);
      assert.equal(ek.public.public.type, TPM_ALG.ECC);
      assert.equal(ek.name.length, 34);
    });

    test('the AK is a deterministic restricted P-256 signing primary under the endorsement hierarchy', async () => {
      const a = await createAk(tpm);
      await tpm.flushContext(a.handle);
      const b = await createAk(tpm);
      await tpm.flushContext(b.handle);
      assert.deepEqual(a.name, b.name);
      assert.equal(a.public.public.objectAttributes, AK_TEMPLATE.objectAttributes);
      const key = publicKeyObject(a.public.public);
      assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    });

    test('NV_ReadPublic and chunked NV_Read return the EK certificate, whose key is the EK', async () => {
      const nv = await tpm.nvReadPublic(EK_CERTIFICATE_INDEX.rsa);
      const der = await readEkCertificate(tpm, 'rsa');
      assert.equal(der?.length, nv.dataSize);
      // Smaller chunks than the TPM allows: the certificate then takes ⌈size/100⌉ reads.
      assert.deepEqual(await tpm.nvRead(EK_CERTIFICATE_INDEX.rsa, 100), der);
      const cert = new X509Certificate(der!);
      const ek = await createEk(tpm, 'rsa');
      await tpm.flushContext(ek.handle);
      assert.ok(cert.publicKey.equals(publicKeyObject(ek.public.public)));
      // No certificate at the low-range ECC index on swtpm: reported as absent, not as an error.
      assert.equal(await readEkCertificate(tpm, 'ecc'), undefined);
    });

    test('Quote returns a TPMS_ATTEST and an ECDSA signature the AK public key verifies', async () => {
      const ak = await createAk(tpm);
      const nonce = randomBytes(32);
      const q = await tpm.withTransient(ak.handle, (h) => tpm.quote(h, nonce, [{ hashAlg: SHA256, pcrs: [0, 23] }]));
      assert.equal(q.attest.readUInt32BE(0), 0xff544347);
      assert.equal(q.signature.readUInt16BE(0), TPM_ALG.ECDSA);
      // extraData sits after magic, type and qualifiedSigner.
      const signerSize = q.attest.readUInt16BE(6);
      const extraSize = q.attest.readUInt16BE(8 + signerSize);
      assert.deepEqual(q.attest.subarray(10 + signerSize, 10 + signerSize + extraSize), nonce);
    });

    test('policy session + ActivateCredential are reachable (bad blob is refused by the TPM, nothing leaks)', async () => {
      const ak = await createAk(tpm);
      const ek = await createEk(tpm, 'rsa');
      await assert.rejects(
        tpm.activateCredential(ak.handle, ek.handle, randomBytes(40), randomBytes(256)),
        (err: unknown) => err instanceof TpmResponseError && /in ActivateCredential$/.test(err.message),
      );
      await tpm.flushContext(ak.handle);
      await tpm.flushContext(ek.handle);
    });

    test('every test flushed its transient objects', async () => {
      assert.deepEqual(await transientHandles(tpm), []);
    });

    test('a power cycle through the control channel clears PCRs', async () => {
      await tpm.pcrExtend(16, [{ hashAlg: SHA256, digest: randomBytes(32) }]);
      await sim.powerCycle();
      assert.deepEqual((await tpm.pcrRead(SHA256, [16])).get(16), Buffer.alloc(32));
    });
  });
}

describe('tpm2-tools sees what our client does', () => {
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

  test('tpm2_pcrread reads the value our PCR_Extend produced', async () => {
    await tpm.pcrExtend(23, [{ hashAlg: SHA256, digest: randomBytes(32) }]);
    const ours = (await tpm.pcrRead(SHA256, [23])).get(23)!.toString('hex');
    const r = spawnSync('tpm2_pcrread', ['-T', tcti(sim), 'sha256:23'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`23 ?: 0x${ours}`, 'i'));
  });

  test('tpm2_nvread returns the same EK certificate bytes as our chunked NV_Read', async () => {
    const ours = await readEkCertificate(tpm, 'rsa');
    const r = spawnSync('tpm2_nvread', ['-T', tcti(sim), '-C', 'o', `0x${EK_CERTIFICATE_INDEX.rsa.toString(16)}`], {
      maxBuffer: 1 << 20,
    });
    assert.equal(r.status, 0, r.stderr?.toString());
    assert.deepEqual(r.stdout, ours);
  });
});

describe('device transport', () => {
  test('a TPM character device answers GetRandom', {
    skip: !existsSync('/dev/tpmrm0') && 'no /dev/tpmrm0 on this machine',
  }, async () => {
    const tpm = await Tpm.open('device:/dev/tpmrm0');
    try {
      assert.equal((await tpm.getRandom(16)).length, 16);
    } finally {
      await tpm.close();
    }
  });
});

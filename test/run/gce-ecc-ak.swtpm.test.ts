import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { certifiedRun } from '../../src/run/certified-run.js';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import { loadTrustAnchors, NO_TRUST_ANCHORS } from '../../src/evidence/ak-trust.js';
import { GCE_AK_INDICES } from '../../src/tpm/cloud-ak.js';
import { TPM_ALG, TPM_ECC_CURVE, TPM_RH, TPMA_OBJECT as A } from '../../src/tpm/constants.js';
import { marshalPublic, objectName, parsePublic2b, type TpmPublic } from '../../src/tpm/public.js';
import { pem } from '../cert/pki.js';
import { makeVendorCa, vendorAkCertificate, withTpm, writeNvIndex } from '../fixtures/cloud-vtpm.js';

/**
 * Google Cloud's ECC AK (`aicert ak use --cloud gce --key ecc`): the template at NV 0x01c10003,
 * the certificate at 0x01c10002, as go-tpm-tools' client/handles.go and template.go define them
 * (NIST P-256, ECDSA-SHA256, restricted signing, attributes 0x50072). No recorded ECC attestation
 * is public, so swtpm is provisioned with that layout by tpm2-tools and a test vendor CA.
 */
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const TRAIN = `const fs=require('fs');const o=process.argv[1];fs.mkdirSync(o,{recursive:true});fs.writeFileSync(o+'/w.bin','w');`;

const GCE_ECC_AK_TEMPLATE: TpmPublic = {
  type: TPM_ALG.ECC,
  nameAlg: TPM_ALG.SHA256,
  objectAttributes: A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.userWithAuth | A.restricted | A.sign,
  authPolicy: Buffer.alloc(0),
  parameters: {
    symmetric: { algorithm: TPM_ALG.NULL },
    scheme: { algorithm: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA256 },
    curve: TPM_ECC_CURVE.NIST_P256,
    kdf: { algorithm: TPM_ALG.NULL },
  },
  unique: { x: Buffer.alloc(0), y: Buffer.alloc(0) },
};

describe("Google Cloud's ECC vendor AK", () => {
  let work: string;
  let sim: Simulator;
  let root: string;
  let intermediate: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-gce-ecc-'));
    sim = await startSimulator();
    const ca = await makeVendorCa('Google test EK/AK CA');
    const template = marshalPublic(GCE_ECC_AK_TEMPLATE);
    await writeNvIndex(sim, GCE_AK_INDICES.ecc.template, template);
    const akPublic = await withTpm(sim, async (tpm) => {
      const ak = await tpm.createPrimary(TPM_RH.ENDORSEMENT, template, 'test GCE ECC AK');
      await tpm.flushContext(ak.handle);
      return ak.public;
    });
    await writeNvIndex(sim, GCE_AK_INDICES.ecc.certificate, await vendorAkCertificate(ca, akPublic), 32);
    root = join(work, 'root.pem');
    intermediate = join(work, 'intermediate.pem');
    await writeFile(root, pem(ca.root.certificate));
    await writeFile(intermediate, pem(ca.intermediate.certificate));
    await mkdir(join(work, 'code'));
    await writeFile(join(work, 'code', 'train.js'), TRAIN);
    await writeFile(join(work, 'data.jsonl'), '{"x":1}\n');
  });
  after(async () => {
    await sim?.stop();
    await rm(work, { recursive: true, force: true });
  });

  test('ak use --key ecc selects it; a run quotes and certifies with it; ca with the vendor root, untrusted without', async () => {
    const home = join(work, 'home');
    const env = { ...process.env, AICERT_HOME: home };
    const use = spawnSync(
      process.execPath,
      [CLI, 'ak', 'use', '--cloud', 'gce', '--key', 'ecc', '--intermediates', intermediate, '--tpm', sim.address],
      { encoding: 'utf8', env },
    );
    assert.equal(use.status, 0, use.stderr);
    const rsa = spawnSync(process.execPath, [CLI, 'ak', 'use', '--cloud', 'gce', '--tpm', sim.address], {
      encoding: 'utf8',
      env: { ...env, AICERT_HOME: join(work, 'home-rsa') },
    });
    assert.equal(rsa.status, 3, 'this TPM has only the ECC layout');
    assert.match(rsa.stderr, /ak\.cloud-missing|template at NV 0x01c10001/);

    const output = join(work, 'run', 'model');
    const saved = process.env.AICERT_HOME;
    process.env.AICERT_HOME = home;
    let bytes: Buffer;
    try {
      const result = await certifiedRun({
        code: join(work, 'code'),
        data: [join(work, 'data.jsonl')],
        output,
        certificatePath: `${output}.aicert.json`,
        tpm: sim.address,
        command: [process.execPath, '-e', TRAIN, output],
        certifyFailure: false,
        log: () => undefined,
      });
      bytes = await readFile(result.certificatePath!);
    } finally {
      process.env.AICERT_HOME = saved;
    }
    const evidence = JSON.parse(bytes.toString('utf8')).evidence.tpm;
    const ak = parsePublic2b(Buffer.from(evidence.akPublic, 'base64'));
    assert.equal(ak.public.type, TPM_ALG.ECC, 'the certificate names an ECC AK');
    const again = await withTpm(sim, async (tpm) => {
      const primary = await tpm.createPrimary(TPM_RH.ENDORSEMENT, marshalPublic(GCE_ECC_AK_TEMPLATE), 'again');
      await tpm.flushContext(primary.handle);
      return primary.public;
    });
    assert.ok(objectName(ak).equals(objectName(again)), "it is the template's key");

    const ok = (await verifyCertificate(bytes, 'ecc', { trust: await loadTrustAnchors(root), allowUntrustedAk: false }))
      .report;
    assert.equal(ok.verdict, 'verified', JSON.stringify(ok.checks.filter((c) => c.status === 'failed')));
    assert.equal(ok.akTrust?.level, 'ca');
    const refused = (await verifyCertificate(bytes, 'ecc', { trust: NO_TRUST_ANCHORS, allowUntrustedAk: false }))
      .report;
    assert.equal(refused.checks.find((c) => c.status === 'failed')?.id, 'ak.trust');
  });
});

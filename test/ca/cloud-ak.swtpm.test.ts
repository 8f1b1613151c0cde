import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { certifiedRun } from '../../src/run/certified-run.js';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import { loadTrustAnchors, NO_TRUST_ANCHORS } from '../../src/evidence/ak-trust.js';
import { objectName, parsePublic2b, type PublicArea } from '../../src/tpm/public.js';
import { AZURE_AK_CERTIFICATE_INDEX, AZURE_AK_HANDLE } from '../../src/tpm/cloud-ak.js';
import { pem } from '../cert/pki.js';
import {
  makeVendorCa,
  provisionAzure,
  provisionGce,
  vendorAkCertificate,
  writeNvIndex,
  type VendorCa,
} from '../fixtures/cloud-vtpm.js';

/**
 * `aicert ak use --cloud azure|gce` on swtpms provisioned with the vendors' layouts (by
 * tpm2-tools, test/fixtures/cloud-vtpm.ts): the vendor AK becomes the run's AK, and the
 * certificate verifies at trust level `ca` with the vendor root as --trust, and only with it.
 */
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const TRAIN = `const fs=require('fs');const o=process.argv[1];fs.mkdirSync(o,{recursive:true});fs.writeFileSync(o+'/weights.bin','w');`;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function aicert(args: string[], home: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, AICERT_HOME: home } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('cloud vTPM AKs (aicert ak use --cloud)', () => {
  let work: string;
  let code: string;
  let data: string;
  let vtpm: Simulator;
  let plain: Simulator;
  let azureCa: VendorCa;
  let gceCa: VendorCa;
  let azureAk: PublicArea;
  let gceAk: PublicArea;
  const files: Record<string, string> = {};

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-cloud-ak-'));
    code = join(work, 'code');
    await mkdir(code);
    await writeFile(join(code, 'train.js'), TRAIN);
    data = join(work, 'data.jsonl');
    await writeFile(data, '{"x":1}\n');
    [vtpm, plain] = await Promise.all([startSimulator(), startSimulator()]);
    azureCa = await makeVendorCa('Azure test vTPM');
    gceCa = await makeVendorCa('Google test EK/AK CA');
    azureAk = await provisionAzure(vtpm, azureCa);
    gceAk = await provisionGce(vtpm, gceCa);
    for (const [name, ca] of [
      ['azure', azureCa],
      ['gce', gceCa],
    ] as const) {
      files[`${name}-root`] = join(work, `${name}-root.pem`);
      files[`${name}-intermediate`] = join(work, `${name}-intermediate.pem`);
      await writeFile(files[`${name}-root`]!, pem(ca.root.certificate));
      await writeFile(files[`${name}-intermediate`]!, pem(ca.intermediate.certificate));
    }
  });
  after(async () => {
    await Promise.all([vtpm?.stop(), plain?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** `aicert ak use`, then a certified run in-process under the same AICERT_HOME. */
  async function useAndRun(home: string, cloud: 'azure' | 'gce', name: string): Promise<Buffer> {
    const use = await aicert(
      ['ak', 'use', '--cloud', cloud, '--intermediates', files[`${cloud}-intermediate`]!, '--tpm', vtpm.address],
      home,
    );
    assert.equal(use.status, 0, use.stderr);
    const output = join(work, name, 'model');
    const saved = process.env.AICERT_HOME;
    process.env.AICERT_HOME = home;
    try {
      const result = await certifiedRun({
        code,
        data: [data],
        output,
        certificatePath: `${output}.aicert.json`,
        tpm: vtpm.address,
        command: [process.execPath, '-e', TRAIN, output],
        certifyFailure: false,
        log: () => undefined,
      });
      return readFile(result.certificatePath!);
    } finally {
      process.env.AICERT_HOME = saved;
    }
  }

  for (const cloud of ['azure', 'gce'] as const) {
    test(`${cloud}: the vendor AK signs the run and verifies at level ca with the vendor root, not without it`, async () => {
      const home = join(work, `home-${cloud}`);
      const bytes = await useAndRun(home, cloud, `run-${cloud}`);
      const vendorAk = cloud === 'azure' ? azureAk : gceAk;
      const evidence = JSON.parse(bytes.toString('utf8')).evidence.tpm;
      const certified = parsePublic2b(Buffer.from(evidence.akPublic, 'base64'));
      assert.ok(objectName(certified).equals(objectName(vendorAk)), 'the certificate names the vendor AK');
      assert.equal(evidence.akCertificateChain.length, 2, 'AK certificate and the vendor intermediate');

      const trust = await loadTrustAnchors(files[`${cloud}-root`]!);
      const ok = (await verifyCertificate(bytes, 'cloud', { trust, allowUntrustedAk: false })).report;
      assert.equal(ok.verdict, 'verified', JSON.stringify(ok.checks.filter((c) => c.status === 'failed')));
      assert.equal(ok.akTrust?.level, 'ca');
      assert.match(ok.akTrust!.reason, /empty subject.*chains to the trusted root "CN=.* root"/);

      for (const [what, anchors] of [
        ['no roots', NO_TRUST_ANCHORS],
        ['the other vendor root', await loadTrustAnchors(files[`${cloud === 'azure' ? 'gce' : 'azure'}-root`]!)],
      ] as const) {
        const refused = (await verifyCertificate(bytes, 'cloud', { trust: anchors, allowUntrustedAk: false })).report;
        assert.equal(refused.verdict, 'not verified', what);
        assert.equal(refused.checks.find((c) => c.status === 'failed')?.id, 'ak.trust', what);
      }

      const show = await aicert(['ak', 'show', '--tpm', vtpm.address], home);
      assert.equal(show.status, 0, show.stderr);
      assert.match(show.stdout, new RegExp(`AK Name\\s+${objectName(vendorAk).toString('hex')}`));
      assert.match(show.stdout, new RegExp(`AK\\s+the ${cloud} vTPM's AK`));
    });
  }

  test('aicert verify --trust VENDOR-ROOT.pem accepts the Azure run (exit 0) and names trust level ca', async () => {
    const home = join(work, 'home-cli');
    await useAndRun(home, 'azure', 'run-cli');
    const r = await aicert(
      ['verify', join(work, 'run-cli', 'model.aicert.json'), '--trust', files['azure-root']!],
      home,
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /ok\s+ak\.trust.*chains to the trusted root/);
  });

  test("ak use --default goes back to aicert's own AK", async () => {
    const home = join(work, 'home-default');
    await useAndRun(home, 'gce', 'run-default');
    const back = await aicert(['ak', 'use', '--default'], home);
    assert.equal(back.status, 0, back.stderr);
    assert.equal(existsSync(join(home, 'ak', 'selected.json')), false);
    const show = await aicert(['ak', 'show', '--tpm', vtpm.address], home);
    assert.match(show.stdout, /AK\s+aicert's own/);
    assert.doesNotMatch(show.stdout, new RegExp(objectName(gceAk).toString('hex')));
  });

  test('a TPM without the vendor layout: ak use exits 3 naming what is missing, and stores nothing', async () => {
    const home = join(work, 'home-missing');
    for (const cloud of ['azure', 'gce']) {
      const r = await aicert(['ak', 'use', '--cloud', cloud, '--tpm', plain.address], home);
      assert.equal(r.status, 3, r.stderr);
      assert.match(
        r.stderr,
        cloud === 'azure' ? /NV 0x01c101d0.*\[ak\.cloud-missing\]/ : /NV 0x01c10001.*\[ak\.cloud-missing\]/,
      );
    }
    assert.equal(existsSync(home), false);
  });

  test('a selected vendor AK that this TPM lacks stops the run (exit 3), it never falls back silently', async () => {
    const home = join(work, 'home-moved');
    const use = await aicert(['ak', 'use', '--cloud', 'azure', '--tpm', vtpm.address], home);
    assert.equal(use.status, 0, use.stderr);
    const output = join(work, 'moved', 'model');
    const r = await aicert(
      [
        'run',
        '--tpm',
        plain.address,
        '--code',
        code,
        '--data',
        data,
        '--output',
        output,
        '--',
        process.execPath,
        '-e',
        TRAIN,
        output,
      ],
      home,
    );
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /\[ak\.selection-unavailable\]/);
    assert.equal(existsSync(`${output}.aicert.json`), false);
  });

  test('an NV certificate for another key is refused (exit 3) and nothing is stored', async () => {
    const other = await startSimulator();
    try {
      // The Azure layout, but the certificate at 0x01C101D0 certifies the Google AK of the other TPM.
      const { spawnSync } = await import('node:child_process');
      const tcti = `swtpm:path=${other.address.slice('swtpm:unix:'.length)}`;
      const ctx = join(work, 'other-ak.ctx');
      for (const args of [
        [
          'tpm2_createprimary',
          '-C',
          'e',
          '-G',
          'rsa2048:rsassa-sha256:null',
          '-a',
          'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign',
          '-c',
          ctx,
        ],
        ['tpm2_evictcontrol', '-C', 'o', '-c', ctx, `0x${AZURE_AK_HANDLE.toString(16)}`],
      ]) {
        const r = spawnSync(args[0]!, ['-T', tcti, ...args.slice(1)], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
      }
      await writeNvIndex(other, AZURE_AK_CERTIFICATE_INDEX, await vendorAkCertificate(azureCa, gceAk));
      const home = join(work, 'home-mismatch');
      const r = await aicert(['ak', 'use', '--cloud', 'azure', '--tpm', other.address], home);
      assert.equal(r.status, 3, r.stderr);
      assert.match(r.stderr, /certifies a different key than the azure AK.*\[ak\.cloud-certificate\]/);
      assert.equal(existsSync(join(home, 'ak', 'selected.json')), false);
    } finally {
      await other.stop();
    }
  });

  test('usage: ak use needs exactly one of --cloud and --default (exit 2)', async () => {
    const home = join(work, 'home-usage');
    for (const args of [
      ['ak', 'use'],
      ['ak', 'use', '--cloud', 'gce', '--default'],
      ['ak', 'use', '--cloud', 'aws'],
    ]) {
      const r = await aicert(args, home);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    }
  });
});

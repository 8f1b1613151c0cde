import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { parsePolicy } from '../../src/evidence/policy.js';
import { verifyCertificate, type VerifyOptions } from '../../src/verify/verify-certificate.js';
import { launchChromium, openFile, type Browser } from '../report/browser.js';
import { makeSecurityFixtures, type SecurityFixtures } from '../security/swtpm-fixtures.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const PAGE = join(root, 'dist/web/aicert-verifier.html');

interface Outcome {
  verdict: string;
  failedCheck: string;
  /** check id → status, as the page's checklist shows it. */
  checks: Record<string, string>;
  /** The reason the page gives for `artifact.model`. */
  modelReason: string;
}

type FilePayload = { name: string; mimeType: string; buffer: Buffer };

interface PageInputs {
  trust?: FilePayload[];
  policy?: FilePayload[];
  /** A directory (the folder input) or files (the files input). */
  modelFolder?: string;
  modelFiles?: FilePayload[];
}

/** Opens a fresh page, picks `inputs`, then the certificate, and reads what the page computed. */
async function verifyInBrowser(browser: Browser, certificate: Buffer, inputs: PageInputs): Promise<Outcome> {
  const loaded = await openFile(browser, PAGE);
  const page: Page = loaded.page;
  try {
    if (inputs.trust) await page.setInputFiles('#trust', inputs.trust);
    if (inputs.policy) await page.setInputFiles('#policy', inputs.policy);
    if (inputs.modelFolder) await page.setInputFiles('#model-folder', inputs.modelFolder);
    if (inputs.modelFiles) await page.setInputFiles('#model-files', inputs.modelFiles);
    await page.setInputFiles('#certificate', {
      name: 'model.aicert.json',
      mimeType: 'application/json',
      buffer: certificate,
    });
    // Only the certificate's change event starts a verification: the others find no certificate yet.
    await page.waitForFunction(() => Number(document.getElementById('result')!.dataset.runs ?? 0) >= 1);
    const outcome = await page.$eval('#result', (e) => {
      const el = e as HTMLElement;
      const checks: Record<string, string> = {};
      for (const row of el.querySelectorAll<HTMLElement>('tr[data-check]'))
        checks[row.dataset.check!] = ['ok', 'failed', 'skipped'].find((s) => row.classList.contains(s)) ?? '';
      return {
        verdict: el.dataset.verdict ?? '',
        failedCheck: el.dataset.failedCheck ?? '',
        checks,
        modelReason: el.querySelector('tr[data-check="artifact.model"] td:last-child')?.textContent ?? '',
        text: el.textContent ?? '',
      };
    });
    assert.deepEqual(loaded.errors, [], 'no console errors');
    assert.deepEqual(loaded.requests, [page.url()], 'no request but the page itself');
    if (outcome.verdict === 'error') return { ...outcome, failedCheck: `${outcome.failedCheck}: ${outcome.text}` };
    return outcome;
  } finally {
    await page.close();
  }
}

async function cli(bytes: Buffer, options: VerifyOptions): Promise<Omit<Outcome, 'modelReason'>> {
  const { report } = await verifyCertificate(bytes, 'model.aicert.json', options);
  return {
    verdict: report.verdict,
    failedCheck: report.checks.find((c) => c.status === 'failed')?.id ?? '',
    checks: Object.fromEntries(report.checks.map((c) => [c.id, c.status])),
  };
}

const pem = (name: string, text: string): FilePayload => ({ name, mimeType: 'text/plain', buffer: Buffer.from(text) });

/**
 * The browser verifier's optional inputs (issue 15): the model files, re-measured in the page
 * with the CLI's manifest code for `artifact.model`; a YAML trust file and a policy, read by the
 * CLI's parsers. Each case is checked against `verifyCertificate` in Node, check by check.
 */
describe('the verifier in the browser: model files, trust files, policy', () => {
  let fx: SecurityFixtures;
  let browser: Browser;
  let work: string;
  let caPem: string;

  before(async () => {
    execFileSync(process.execPath, [join(root, 'scripts/build-web.mjs')], { stdio: 'pipe' });
    fx = await makeSecurityFixtures();
    browser = await launchChromium();
    work = await mkdtemp(join(tmpdir(), 'aicert-web-inputs-'));
    caPem = fx.anchors.roots.map((r) => r.node.toString()).join('');
  });
  after(async () => {
    await browser?.close();
    await fx?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('the certified model folder passes artifact.model in the page; one changed byte fails it, as in the CLI', async () => {
    const model = join(work, 'model');
    await cp(fx.good.model, model, { recursive: true });
    const trust = [pem('ca.pem', caPem)];
    const started = performance.now();
    const genuine = await verifyInBrowser(browser, fx.good.bytes, { trust, modelFolder: model });
    console.log(`certified model re-hashed and verified in the page in ${Math.round(performance.now() - started)} ms`);
    const genuineCli = await cli(fx.good.bytes, { trust: fx.anchors, allowUntrustedAk: false, model });
    assert.equal(genuine.verdict, 'verified', genuine.failedCheck);
    assert.equal(genuine.checks['artifact.model'], 'ok');
    assert.deepEqual(genuine.checks, genuineCli.checks);

    // The same files picked one by one (no folder) give the same manifest.
    const names = await readdir(model);
    const files = await Promise.all(
      names.map(async (name) => ({
        name,
        mimeType: 'application/octet-stream',
        buffer: await readFile(join(model, name)),
      })),
    );
    const picked = await verifyInBrowser(browser, fx.good.bytes, { trust, modelFiles: files });
    assert.equal(picked.checks['artifact.model'], 'ok', picked.modelReason);

    const weights = join(model, 'weights.bin');
    const bytes = await readFile(weights);
    bytes[0]! ^= 0x01;
    await writeFile(weights, bytes);
    const tampered = await verifyInBrowser(browser, fx.good.bytes, { trust, modelFolder: model });
    const tamperedCli = await cli(fx.good.bytes, { trust: fx.anchors, allowUntrustedAk: false, model });
    assert.deepEqual(
      { verdict: tampered.verdict, failedCheck: tampered.failedCheck },
      { verdict: 'not verified', failedCheck: 'artifact.model' },
    );
    assert.deepEqual(
      { verdict: tamperedCli.verdict, failedCheck: tamperedCli.failedCheck },
      { verdict: tampered.verdict, failedCheck: tampered.failedCheck },
    );
    assert.match(tampered.modelReason, /changed: weights\.bin/);
  });

  test('a YAML trust file works as with --trust: pinned AK Names alone, or the PEM files it names', async () => {
    const { run } = await verifyCertificate(fx.good.bytes, 'model.aicert.json', {
      trust: fx.anchors,
      allowUntrustedAk: false,
    });
    const pinned = pem('trust.yaml', `version: 1\npinnedAks: [${run!.akName}]\n`);
    const byPin = await verifyInBrowser(browser, fx.good.bytes, { trust: [pinned] });
    assert.equal(byPin.verdict, 'verified', byPin.failedCheck);

    const naming = pem('trust.yaml', 'version: 1\nakRoots: [certs/ca.pem]\n');
    const withRoot = await verifyInBrowser(browser, fx.good.bytes, { trust: [naming, pem('ca.pem', caPem)] });
    assert.equal(withRoot.verdict, 'verified', withRoot.failedCheck);

    const missing = await verifyInBrowser(browser, fx.good.bytes, { trust: [naming] });
    assert.equal(missing.verdict, 'error');
    assert.match(missing.failedCheck, /^trust\.invalid: .*names certs\/ca\.pem: pick that PEM file too/);

    const malformed = await verifyInBrowser(browser, fx.good.bytes, { trust: [pem('trust.yaml', 'version: 2\n')] });
    assert.match(malformed.failedCheck, /^trust\.invalid: /);
  });

  test('a policy is checked in the page as with --policy: passing and failing at the same check as the CLI', async () => {
    const trust = [pem('ca.pem', caPem)];
    const lenient = 'version: 1\nregister: any\nisolation: any\n';
    const strict = `${lenient}allow:\n  datasets: [sha256:${'00'.repeat(32)}]\n`;
    for (const [text, verdict, failedCheck] of [
      [lenient, 'verified', ''],
      [strict, 'not verified', 'policy.inputs'],
    ] as const) {
      const page = await verifyInBrowser(browser, fx.good.bytes, { trust, policy: [pem('policy.yaml', text)] });
      const node = await cli(fx.good.bytes, { trust: fx.anchors, allowUntrustedAk: false, policy: parsePolicy(text) });
      assert.deepEqual({ verdict: page.verdict, failedCheck: page.failedCheck }, { verdict, failedCheck });
      assert.deepEqual(page.checks, node.checks);
    }
    // Over the CLI's bound for a policy file (1 MiB): refused before it is read, as readBoundedFile does.
    const huge = await verifyInBrowser(browser, fx.good.bytes, {
      trust,
      policy: [pem('policy.yaml', `#${' '.repeat(1024 * 1024)}`)],
    });
    assert.equal(huge.verdict, 'error');
    assert.match(
      huge.failedCheck,
      /^file\.too-large: error: the policy policy\.yaml is 1048577 bytes, over the 1048576-byte limit/,
    );
  });
});

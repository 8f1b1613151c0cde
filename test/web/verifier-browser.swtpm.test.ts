import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import { launchChromium, openFile, type Browser, type LoadedPage } from '../report/browser.js';
import { makeSecurityFixtures, type SecurityFixtures } from '../security/swtpm-fixtures.js';
import type { Mutant } from '../security/tamper-corpus.js';
import { allTamperMutants } from '../security/tamper-mutants.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const PAGE = join(root, 'dist/web/aicert-verifier.html');

interface Outcome {
  verdict: string;
  failedCheck: string;
}

/** Drops `bytes` on the page's certificate input and reads the verdict the page computed. */
async function verifyInBrowser(page: Page, name: string, bytes: Buffer, allowUntrustedAk: boolean): Promise<Outcome> {
  const runs = await page.$eval('#result', (e) => Number((e as HTMLElement).dataset.runs ?? 0));
  await page.$eval(
    '#allow-untrusted',
    (e, on) => {
      (e as HTMLInputElement).checked = on;
    },
    allowUntrustedAk,
  );
  await page.setInputFiles('#certificate', { name, mimeType: 'application/json', buffer: bytes });
  await page.waitForFunction((n) => Number(document.getElementById('result')!.dataset.runs ?? 0) > n, runs);
  return page.$eval('#result', (e) => ({
    verdict: (e as HTMLElement).dataset.verdict ?? '',
    failedCheck: (e as HTMLElement).dataset.failedCheck ?? '',
  }));
}

/**
 * The verifier in the browser (issue 15, item 2): dist/web/aicert-verifier.html, opened from
 * file:// in Debian's Chromium, agrees with the CLI's verifyCertificate on every certificate of
 * the tamper corpus: the verdict and the first failing check.
 */
describe('the verifier in the browser', () => {
  let fx: SecurityFixtures;
  let mutants: Mutant[];
  let browser: Browser;
  let loaded: LoadedPage;

  before(async () => {
    execFileSync(process.execPath, [join(root, 'scripts/build-web.mjs')], { stdio: 'pipe' });
    fx = await makeSecurityFixtures();
    mutants = await allTamperMutants(fx);
    browser = await launchChromium();
    loaded = await openFile(browser, PAGE);
    const pem = fx.anchors.roots.map((r) => r.node.toString()).join('');
    await loaded.page.setInputFiles('#trust', { name: 'ca.pem', mimeType: 'text/plain', buffer: Buffer.from(pem) });
  });
  after(async () => {
    await browser?.close();
    await fx?.stop();
  });

  test('the page is one file that loads nothing and logs no error', () => {
    console.log(`page size: ${statSync(PAGE).size} bytes`);
    assert.deepEqual(loaded.requests, [loaded.page.url()]);
    assert.deepEqual(loaded.errors, []);
    const text = readFileSync(PAGE, 'utf8');
    assert.doesNotMatch(text, /<script[^>]*\ssrc=|<link\b|<iframe\b/);
    assert.match(text, /content="default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'; style-src 'unsafe-inline'"/);
  });

  test('the genuine certificates verify in the page, as in the CLI', async () => {
    for (const cert of [fx.good, fx.other, fx.trainer, fx.foreign, fx.nvGood, fx.nvOther]) {
      const started = performance.now();
      const outcome = await verifyInBrowser(loaded.page, 'good.aicert.json', cert.bytes, false);
      console.log(`${cert.path}: ${outcome.verdict} in the page in ${Math.round(performance.now() - started)} ms`);
      assert.deepEqual(outcome, { verdict: 'verified', failedCheck: '' }, cert.path);
    }
  });

  test('browser and CLI agree on every mutant of the tamper corpus: verdict and first failing check', async () => {
    // Both sides verify without model files (verifier-inputs.swtpm.test.ts compares those).
    const disagreements: string[] = [];
    let rejected = 0;
    for (const m of mutants) {
      const allowUntrustedAk = m.options?.allowUntrustedAk ?? false;
      const { report } = await verifyCertificate(m.bytes, 'mutant.aicert.json', {
        trust: fx.anchors,
        allowUntrustedAk,
      });
      const cli: Outcome = {
        verdict: report.verdict,
        failedCheck: report.checks.find((c) => c.status === 'failed')?.id ?? '',
      };
      const page = await verifyInBrowser(loaded.page, 'mutant.aicert.json', m.bytes, allowUntrustedAk);
      if (cli.verdict !== 'verified') rejected++;
      if (page.verdict !== cli.verdict || page.failedCheck !== cli.failedCheck)
        disagreements.push(`${m.family} / ${m.name}: CLI ${JSON.stringify(cli)}, page ${JSON.stringify(page)}`);
    }
    console.log(`${mutants.length} mutants, ${rejected} rejected by the CLI, ${disagreements.length} disagreements`);
    assert.ok(mutants.length >= 200 && rejected > 100);
    assert.deepEqual(disagreements, []);
    assert.deepEqual(loaded.errors, []);
  });
});

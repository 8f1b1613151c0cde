import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { auditRun } from '../../src/audit/audit-run.js';
import { NO_TRUST_ANCHORS } from '../../src/evidence/ak-trust.js';
import { certifiedRun } from '../../src/run/certified-run.js';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import { cachedToyTrainer } from '../audit/fixtures/in-process-trainer.js';
import {
  auditOptions,
  certifyToyRun,
  scratchDirectory,
  writeDataset,
  type ToyRun,
} from '../audit/fixtures/toy-runs.js';
import { launchChromium, openFile, pngSize, type Browser } from './browser.js';

/**
 * The report in a real browser (Debian's Chromium through playwright-core): certificates made on
 * a swtpm (the audit's toy trainer, 60 steps, audited; the same certificate tampered; a trainer
 * run of 10,000 events) are turned into pages by the `aicert report` command, and each page is
 * opened from a file:// URL. A page must load with no console error (a CSP violation is one) and
 * request nothing but itself, and show the verdict `aicert verify` reaches.
 */
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const STEPS = 60;
/** Checkpoints of the long run: with session, environment, 2 inputs, command, commitment, exit and 2 outputs, 10,000 events. */
const LONG_CHECKPOINTS = 9_991;

/** A protocol trainer that writes `n` one-weight checkpoints, then the last one's weights as the model. */
function manyCheckpointsTrainer(n: number): string {
  return (
    "const fs=require('fs'),p=require('path');const o=process.argv[1];const t=process.env.AICERT_TRANSCRIPT;" +
    'const st=(v)=>{const h={};const d=[];let off=0;' +
    "for(const k of Object.keys(v).sort()){const b=Buffer.alloc(4);b.writeFloatLE(v[k]);h[k]={dtype:'F32',shape:[1],data_offsets:[off,off+4]};off+=4;d.push(b);}" +
    'const j=Buffer.from(JSON.stringify(h));const l=Buffer.alloc(8);l.writeBigUInt64LE(BigInt(j.length));return Buffer.concat([l,j,...d]);};' +
    "const put=(f,b)=>{fs.writeFileSync(f+'.tmp',b);fs.renameSync(f+'.tmp',f);};" +
    `for(let i=0;i<${n};i++)put(p.join(t,'checkpoints',String(i).padStart(6,'0')+'.safetensors'),st({w:i,'optimizer/w':i/2}));` +
    `fs.mkdirSync(o,{recursive:true});put(p.join(o,'model.safetensors'),st({w:${n - 1}}));`
  );
}

describe('aicert report in Chromium', () => {
  let work: string;
  let sim: Simulator;
  let browser: Browser;
  let honest: ToyRun;
  let auditPath: string;
  let longCertificate: string;

  before(async () => {
    browser = await launchChromium();
    work = await scratchDirectory('aicert-report-browser-');
    process.env.AICERT_HOME = join(work, 'home');
    sim = await startSimulator();
    const dataset = await writeDataset(work);
    honest = await certifyToyRun(work, sim.address, dataset, 'honest', STEPS);
    const audit = await auditRun(
      auditOptions(honest, cachedToyTrainer(join(work, 'cache')).run, { random: 4, members: 40 }),
    );
    auditPath = join(work, 'honest.audit.json');
    await writeFile(auditPath, JSON.stringify(audit, null, 2));

    const long = join(work, 'long');
    await mkdir(long);
    const started = performance.now();
    const result = await certifiedRun({
      code: join(work, 'code'),
      data: [dataset],
      output: join(long, 'model'),
      certificatePath: join(long, 'model.aicert.json'),
      tpm: sim.address,
      pcr: 23,
      command: [process.execPath, '-e', manyCheckpointsTrainer(LONG_CHECKPOINTS), join(long, 'model')],
      certifyFailure: false,
      trainer: {
        transcript: join(long, 'transcript'),
        checkpointEvery: 1,
        holdoutFraction: 0.1,
        dataset,
        challenge: createHash('sha256').update('report browser long run').digest(),
      },
      log: () => undefined,
    });
    if (!result.certificatePath) throw new Error(`the long run failed: exit ${result.outcome.exitCode}`);
    longCertificate = result.certificatePath;
    console.log(
      `certified a run of ${LONG_CHECKPOINTS} checkpoints in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  });
  after(async () => {
    await browser?.close();
    await sim?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const report = (certificate: string, out: string, ...args: string[]) =>
    spawnSync(process.execPath, [CLI, 'report', certificate, '--allow-untrusted-ak', '--html', out, ...args], {
      encoding: 'utf8',
    });

  test('the audited run: VERIFIED, every section and chart, no console error, no request but the file itself', async () => {
    const out = join(work, 'honest.html');
    const r = report(honest.certificatePath, out, '--audit', auditPath, '--data', honest.dataset);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /verdict: VERIFIED/);
    const { page, requests, errors, loadMs } = await openFile(browser, out);
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, [pathToFileURL(out).href]);
    assert.equal(await page.locator('#verdict-text').textContent(), 'VERIFIED');
    assert.ok(await page.locator('#verdict-text').isVisible());
    for (const id of ['checks', 'training', 'platform', 'timeline', 'audit', 'endorsement'])
      assert.ok(await page.locator(`section#${id}`).isVisible(), `section ${id}`);
    assert.ok((await page.locator('svg.chart').count()) >= 3, 'the event strip and the audit charts');
    assert.equal(
      await page.locator('#audit-verdict').textContent(),
      (JSON.parse(await readFile(auditPath, 'utf8')) as { verdict: string }).verdict.toUpperCase(),
    );
    assert.match((await page.locator('#platform').textContent()) ?? '', /UNTRUSTED|untrusted/);
    const png = await page.screenshot({ fullPage: false });
    const { width, height } = pngSize(png);
    assert.ok(width >= 1000 && height >= 800, `screenshot ${width}×${height}`);
    console.log(
      `audited run: page loaded in ${loadMs.toFixed(0)} ms; screenshot ${width}×${height}, ${png.length} bytes`,
    );
    await page.close();
  });

  test('a tampered certificate: NOT VERIFIED, exit 1, the page names the check `aicert verify` fails', async () => {
    const cert = JSON.parse(honest.certificate.toString('utf8'));
    const exit = cert.evidence.tpm.eventLog.find((r: { content: { type: string } }) => r.content.type === 'exit');
    exit.content.durationMs += 1; // the run claims another duration than the TPM measured
    const path = join(work, 'tampered.aicert.json');
    await writeFile(path, JSON.stringify(cert));
    const expected = (
      await verifyCertificate(await readFile(path), path, { trust: NO_TRUST_ANCHORS, allowUntrustedAk: true })
    ).report.checks.find((c) => c.status === 'failed')!;
    const out = join(work, 'tampered.html');
    const r = report(path, out);
    assert.equal(r.status, 1, r.stderr);
    const { page, requests, errors } = await openFile(browser, out);
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, [pathToFileURL(out).href]);
    assert.equal(await page.locator('#verdict-text').textContent(), 'NOT VERIFIED');
    const failed = page.locator('#failed-check-id');
    assert.ok(await failed.isVisible());
    assert.equal(await failed.textContent(), expected.id);
    assert.ok(await page.locator(`tr.check.failed[data-check="${expected.id}"]`).isVisible());
    assert.ok((await page.locator('.claimed-tag').count()) >= 1, 'the run is shown as claims');
    const png = await page.screenshot();
    assert.ok(pngSize(png).width > 0);
    console.log(`tampered certificate: failing check ${expected.id} shown`);
    await page.close();
  });

  test('a 10,000-event log: the page renders with its events folded (render time printed, not asserted)', async () => {
    const out = join(work, 'long.html');
    const r = report(longCertificate, out);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const html = await readFile(out, 'utf8');
    const { page, requests, errors, loadMs } = await openFile(browser, out);
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, [pathToFileURL(out).href]);
    assert.equal(await page.locator('#verdict-text').textContent(), 'VERIFIED');
    assert.match((await page.locator('#timeline').textContent()) ?? '', /10,000 in \d+ runs of one type/);
    const folded = page.locator('tr.folded summary');
    assert.match((await folded.first().textContent()) ?? '', /more checkpoint events/);
    const started = performance.now();
    await folded.first().click();
    await page.locator('pre.folded-events').first().waitFor({ state: 'visible' });
    const unfoldMs = performance.now() - started;
    const png = await page.screenshot({ fullPage: true });
    console.log(
      `10,000-event page: ${(html.length / 1e6).toFixed(2)} MB, loaded in ${loadMs.toFixed(0)} ms, unfolded in ${unfoldMs.toFixed(0)} ms, full-page screenshot ${pngSize(png).height} px high`,
    );
    await page.close();
  });

  test('the 10,000-event certificate verifies in the browser verifier as in the CLI (time printed, not asserted)', async () => {
    spawnSync(process.execPath, [join(ROOT, 'scripts/build-web.mjs')], { stdio: 'pipe' });
    const bytes = await readFile(longCertificate);
    const { report: cli } = await verifyCertificate(bytes, 'model.aicert.json', {
      trust: NO_TRUST_ANCHORS,
      allowUntrustedAk: true,
    });
    const { page, requests, errors } = await openFile(browser, join(ROOT, 'dist/web/aicert-verifier.html'));
    await page.locator('#allow-untrusted').check();
    await page.setInputFiles('#certificate', {
      name: 'model.aicert.json',
      mimeType: 'application/json',
      buffer: bytes,
    });
    await page.waitForFunction(() => document.getElementById('result')!.dataset.state === 'done', undefined, {
      timeout: 120_000,
    });
    const result = await page.$eval('#result', (e) => ({ ...(e as HTMLElement).dataset }));
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, [page.url()]);
    assert.equal(cli.verdict, 'verified');
    assert.equal(result.verdict, cli.verdict, result.failedCheck);
    console.log(
      `10,000-event certificate verified in the browser verifier in ${result.ms} ms (some 30,000 digests of the event log, by crypto.subtle.digest)`,
    );
    await page.close();
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { Tpm } from '../../src/tpm/client.js';
import { TPM_ALG } from '../../src/tpm/constants.js';
import { certifiedRun, type RunOptions } from '../../src/run/certified-run.js';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import { collectReport } from '../../src/report/collect-report.js';
import { renderReport } from '../../src/report/render-report.js';
import { loadTrustAnchors, type TrustAnchors } from '../../src/evidence/ak-trust.js';
import { parsePolicy } from '../../src/evidence/policy.js';
import { parseTcgLog } from '../../src/evidence/boot-log/tcg-log.js';
import { extractBootFacts } from '../../src/evidence/boot-log/boot-facts.js';
import { EV_NO_ACTION } from '../../src/evidence/boot-log/tcg-event-types.js';
import { enrollWithNewCa } from '../fixtures/enrolled-ak.js';
import { EVENTLOG_DIR, readEventLogFixture } from '../evidence/boot-log/fixtures.js';

/**
 * A boot event log carried in the certificate and judged by facts (issue 12, item 2). swtpm has
 * no firmware, so no log: the test extends the events of a real log (Ubuntu 24.04 on a Google
 * Cloud SEV-SNP VM: shim, GRUB, kernel, Secure Boot off) into the swtpm's PCRs, so the quotes
 * cover exactly the values the real machine's TPM held, and runs with `--boot-log` that file.
 */
const FIXTURE = 'ubuntu-2404-amd-sevsnp.bin';
const TRAIN = `const fs=require('fs');const o=process.argv[1];fs.mkdirSync(o,{recursive:true});fs.writeFileSync(o+'/weights.bin','w');`;

describe('the boot event log in the certificate', () => {
  let work: string;
  let sim: Simulator;
  let anchors: TrustAnchors;
  let certificate: Buffer;
  const log = parseTcgLog(readEventLogFixture(FIXTURE));
  const facts = extractBootFacts(log.events, 'sha256');

  const verify = (bytes: Buffer, policy = 'version: 1\n') =>
    verifyCertificate(bytes, 'test', { trust: anchors, allowUntrustedAk: false, policy: parsePolicy(policy) });
  const check = (report: { checks: Array<{ id: string; status: string; reason: string }> }, id: string) =>
    report.checks.find((c) => c.id === id);
  const refusedAt = async (bytes: Buffer, policy: string, id: string, reason: RegExp) => {
    const { report } = await verify(bytes, policy);
    assert.equal(report.verdict, 'not verified');
    const failed = report.checks.find((c) => c.status === 'failed');
    assert.equal(failed?.id, id, JSON.stringify(failed));
    assert.match(failed!.reason, reason);
  };
  const withBootLog = (edit: (log: Buffer) => Buffer | undefined): Buffer => {
    const cert = JSON.parse(certificate.toString('utf8'));
    const edited = edit(Buffer.from(cert.evidence.tpm.bootLog, 'base64'));
    if (edited) cert.evidence.tpm.bootLog = edited.toString('base64');
    else delete cert.evidence.tpm.bootLog;
    return Buffer.from(JSON.stringify(cert));
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-bootlog-'));
    process.env.AICERT_HOME = join(work, 'home');
    sim = await startSimulator();
    const tpm = await Tpm.open(sim.address);
    try {
      for (const event of log.events)
        if (event.type !== EV_NO_ACTION)
          await tpm.pcrExtend(event.pcr, [{ hashAlg: TPM_ALG.SHA256, digest: event.digests.get('sha256')! }]);
    } finally {
      await tpm.close();
    }
    const code = join(work, 'code');
    await mkdir(code);
    await writeFile(join(code, 'train.js'), TRAIN);
    const data = join(work, 'train.jsonl');
    await writeFile(data, '{"x":1}\n');
    await enrollWithNewCa(sim, join(work, 'ca'));
    anchors = await loadTrustAnchors(join(work, 'ca', 'ca.pem'));
    const output = join(work, 'run', 'model');
    const options: RunOptions = {
      code,
      data: [data],
      output,
      certificatePath: `${output}.aicert.json`,
      tpm: sim.address,
      command: [process.execPath, '-e', TRAIN, output],
      certifyFailure: false,
      bootLog: EVENTLOG_DIR + FIXTURE,
      log: () => undefined,
    };
    const result = await certifiedRun(options);
    certificate = await readFile(result.certificatePath!);
  });
  after(async () => {
    await sim?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('the run carries the log, the quotes cover the PCRs it extends, and its facts satisfy a policy', async () => {
    const tpm = JSON.parse(certificate.toString('utf8')).evidence.tpm;
    assert.deepEqual(Buffer.from(tpm.bootLog, 'base64'), readEventLogFixture(FIXTURE));
    for (const q of tpm.quotes)
      assert.deepEqual(Object.keys(q.pcrs.sha256).map(Number), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14]);
    const policy = [
      'version: 1',
      'bootLog:',
      '  secureBoot: false',
      `  bootApplications: [${facts.bootApplications.map((a) => `"${a.digest}"`).join(', ')}]`,
      `  kernels: ["${facts.kernels[0]!.digest}"]`,
      '  forbiddenCmdline: ["init", "nomodeset", "ima_appraise=off"]',
      '',
    ].join('\n');
    const { report } = await verify(certificate, policy);
    assert.equal(report.verdict, 'verified', JSON.stringify(report.checks.find((c) => c.status === 'failed')));
    for (const id of ['bootlog.format', 'boot.eventlog', 'boot.facts', 'policy.secureboot', 'policy.bootapps'])
      assert.equal(check(report, id)?.status, 'ok', id);
    assert.equal(check(report, 'policy.kernel')?.status, 'ok');
    assert.equal(check(report, 'policy.cmdline')?.status, 'ok');
    assert.match(check(report, 'boot.eventlog')!.reason, /PCRs 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14/);
    assert.match(
      check(report, 'boot.facts')!.reason,
      /Secure Boot off; 2 boot applications; kernel \/vmlinuz-6\.8\.0-1010-gcp/,
    );
  });

  test('the verified run carries the boot facts, and the report shows them on what it ran', async () => {
    const verification = await verify(certificate);
    assert.deepEqual(verification.run?.boot, facts);
    const page = renderReport(collectReport(certificate, 'model.aicert.json', verification));
    const platform = page.slice(page.indexOf('<section id="platform"'), page.indexOf('<section id="timeline"'));
    assert.ok(platform.includes('<dt>Secure Boot</dt><dd><strong class="bad">off</strong></dd>'));
    for (const a of facts.bootApplications) assert.ok(platform.includes(a.digest), a.digest);
    assert.ok(platform.includes(facts.kernels[0]!.path) && platform.includes(facts.kernels[0]!.digest));
    assert.ok(platform.includes(facts.kernelCommandLines[0]!));
  });

  test('Secure Boot off is refused at policy.secureboot', async () => {
    await refusedAt(
      certificate,
      'version: 1\nbootLog:\n  secureBoot: true\n',
      'policy.secureboot',
      /Secure Boot was off/,
    );
  });

  test('a kernel the policy does not list is refused at policy.kernel', async () => {
    const other = 'ab'.repeat(32);
    await refusedAt(
      certificate,
      `version: 1\nbootLog:\n  kernels: ["${other}"]\n`,
      'policy.kernel',
      new RegExp(`kernels not in bootLog.kernels: ${facts.kernels[0]!.digest} \\(/vmlinuz-6.8.0-1010-gcp\\)`),
    );
  });

  test('a forbidden kernel command-line flag is refused at policy.cmdline', async () => {
    await refusedAt(
      certificate,
      'version: 1\nbootLog:\n  forbiddenCmdline: ["nomodeset", "panic"]\n',
      'policy.cmdline',
      /forbidden flags: panic=-1/,
    );
  });

  test('a boot application the policy does not list is refused at policy.bootapps', async () => {
    await refusedAt(
      certificate,
      `version: 1\nbootLog:\n  bootApplications: ["${facts.bootApplications[0]!.digest}"]\n`,
      'policy.bootapps',
      /grubx64\.efi/,
    );
  });

  test('a log that does not replay to the quoted PCRs is refused at boot.eventlog', async () => {
    const grub = Buffer.from(facts.bootApplications[1]!.digest, 'hex');
    const forged = withBootLog((bytes) => {
      const copy = Buffer.from(bytes);
      const at = copy.indexOf(grub);
      copy[at] = copy[at]! ^ 1;
      return copy;
    });
    await refusedAt(forged, 'version: 1\n', 'boot.eventlog', /PCR 4 replays to [0-9a-f]{64}, the quote says/);
  });

  test('a log whose kernel command line was rewritten contradicts its digest: boot.facts', async () => {
    const forged = withBootLog((bytes) => {
      const copy = Buffer.from(bytes);
      const at = copy.indexOf('panic=-1', copy.indexOf('kernel_cmdline: '));
      copy.write('panic=+1', at, 'latin1');
      return copy;
    });
    await refusedAt(forged, 'version: 1\n', 'boot.facts', /"kernel_cmdline:" text does not hash to its digest/);
  });

  test('removing the log, or a malformed one, does not slip through', async () => {
    await refusedAt(
      withBootLog(() => undefined),
      'version: 1\n',
      'quote.selection',
      /./,
    );
    const { report } = await verify(withBootLog((bytes) => bytes.subarray(0, 100)));
    assert.equal(check(report, 'bootlog.format')?.status, 'failed');
    assert.match(check(report, 'bootlog.format')!.reason, /not a TCG binary event log/);
  });

  test('a policy that requires boot facts refuses a certificate without a boot log', async () => {
    // The same run's evidence minus its log fails earlier (quote.selection); policy checks alone:
    const { checkBootLog } = await import('../../src/evidence/policy.js');
    const results = checkBootLog(parsePolicy('version: 1\nbootLog:\n  secureBoot: true\n'), undefined);
    assert.deepEqual(
      results.map((r) => [r.id, r.status]),
      [
        ['policy.secureboot', 'failed'],
        ['policy.bootapps', 'skipped'],
        ['policy.kernel', 'skipped'],
        ['policy.cmdline', 'skipped'],
      ],
    );
    assert.match(results[0]!.reason, /carries no boot event log/);
  });
});

import type { Command } from 'commander';
import { X509Certificate } from 'node:crypto';
import { readBoundedFile } from '../util/bounded-file.js';
import { MAX_CERTIFICATE_BYTES, parseCertificate, type AicertCertificate } from '../cert/certificate.js';
import { decodeBase64Strict } from '../util/base64.js';
import { objectName, parsePublic2b } from '../tpm/public.js';
import { parseAttest } from '../tpm/attest.js';
import { readClaimedEvent, type ArtifactEvent, type RunEvent } from '../protocol/run-events.js';

/** `aicert inspect CERT`: what a certificate claims, readably. Inspecting is not verifying. */
export function registerInspectCommand(program: Command): void {
  program
    .command('inspect')
    .description('show what a certificate claims: inputs, outputs, times, platform, AK, event log (does not verify)')
    .argument('<certificate>', 'the .aicert.json file')
    .option('--json', 'print the summary as JSON')
    .action(async (path: string, flags: { json?: boolean }) => {
      const cert = parseCertificate(await readBoundedFile(path, MAX_CERTIFICATE_BYTES, 'certificate'));
      const summary = summarize(cert);
      process.stdout.write(flags.json ? JSON.stringify(summary, null, 2) + '\n' : formatSummary(path, summary));
    });
}

function summarize(cert: AicertCertificate) {
  const tpm = cert.evidence.tpm;
  // Claims only: events that are not well formed are listed in the log below but not summarized.
  const events = tpm.eventLog.map((r) => readClaimedEvent(r.content)).filter((e): e is RunEvent => e !== undefined);
  const session = events.find((e) => e.type === 'session');
  const exit = events.find((e) => e.type === 'exit');
  const artifacts = (type: 'input' | 'output') =>
    events
      .filter((e): e is ArtifactEvent => e.type === type)
      .map((e) => ({
        role: e.role,
        name: e.name,
        sha256: e.digest.sha256,
        files: e.files,
        bytes: e.bytes,
        ...(e.git && { git: e.git }),
      }));
  const akPublic = parsePublic2b(decodeBase64Strict(tpm.akPublic, 'akPublic'));
  const chain = (tpm.akCertificateChain ?? []).map(
    (c) => new X509Certificate(decodeBase64Strict(c, 'akCertificateChain')),
  );
  const clocks = tpm.quotes.map((q) => {
    const a = parseAttest(decodeBase64Strict(q.attest, 'attest'));
    return { phase: q.phase, clockMs: a.clockInfo.clock.toString(), resetCount: a.clockInfo.resetCount };
  });
  return {
    verified: false,
    note: 'inspect shows claims only; run `aicert verify` to check them',
    session: session?.sessionId,
    startedAt: session?.startedAt,
    finishedAt: exit?.finishedAt,
    exit: exit && { success: exit.success, exitCode: exit.exitCode, signal: exit.signal, durationMs: exit.durationMs },
    inputs: artifacts('input'),
    outputs: artifacts('output'),
    platform: events.find((e) => e.type === 'environment'),
    ak: {
      name: objectName(akPublic).toString('hex'),
      certificate: chain[0]
        ? { subject: chain[0].subject, issuer: chain[0].issuer, notAfter: new Date(chain[0].validTo).toISOString() }
        : null,
    },
    register: tpm.nv ? 'NV extend index' : `PCR ${tpm.pcr} (--register pcr23)`,
    ...(tpm.pcr !== undefined && { pcr: tpm.pcr }),
    quotes: clocks,
    eventLog: tpm.eventLog.map((r) => ({ recnum: r.recnum, type: r.content.type, digest: r.digests[0]!.digest })),
  };
}

function formatSummary(path: string, s: ReturnType<typeof summarize>): string {
  const out = [`certificate ${path}  (claims only: run \`aicert verify\` to check them)`];
  out.push(`run         ${s.session ?? '?'}  ${s.startedAt ?? '?'} → ${s.finishedAt ?? '?'}`);
  if (s.exit)
    out.push(
      `exit        ${s.exit.success ? 'success' : `FAILED (${s.exit.signal ?? `status ${s.exit.exitCode}`})`} after ${(s.exit.durationMs / 1000).toFixed(1)} s`,
    );
  for (const i of s.inputs)
    out.push(
      `input       ${i.role.padEnd(10)} ${i.name}  sha256:${i.sha256}  (${i.files} files, ${i.bytes} bytes${i.git?.commit ? `, git ${i.git.commit.slice(0, 12)}${i.git.dirty ? ' DIRTY' : ''}` : ''})`,
    );
  for (const o of s.outputs)
    out.push(`output      ${o.role.padEnd(10)} ${o.name}  sha256:${o.sha256}  (${o.files} files, ${o.bytes} bytes)`);
  const p = s.platform;
  if (p)
    out.push(
      `platform    ${p.os.platform} ${p.os.release} ${p.os.arch}, node ${p.node}, TPM ${p.tpm.manufacturer} fw ${p.tpm.firmware}`,
    );
  out.push(`AK          ${s.ak.name}`);
  out.push(
    `AK cert     ${s.ak.certificate ? `${s.ak.certificate.subject} (issuer ${s.ak.certificate.issuer})` : 'none: untrusted unless a verifier pins this AK'}`,
  );
  out.push(
    `register    ${s.register}; quotes: ${s.quotes.map((q) => `${q.phase} clock ${q.clockMs} ms, resetCount ${q.resetCount}`).join('; ')}`,
  );
  out.push('event log:');
  for (const e of s.eventLog) out.push(`  ${String(e.recnum).padStart(3)}  ${e.type.padEnd(11)} ${e.digest}`);
  return out.join('\n') + '\n';
}

/**
 * The verifier in the browser (dist/web/aicert-verifier.html, docs/report.md): the user drops a
 * certificate and a trust file, and the page runs `verifyCertificate`, the very code of
 * `aicert verify`, with WebCrypto behind its crypto backend. Nothing is sent anywhere.
 */
import { parseCertificate } from '../cert/certificate.js';
import type { TrustAnchors } from '../evidence/ak-trust.js';
import { parseCertificatesPem } from '../pki/x509-path.js';
import { checklistTable } from '../report/section-checks.js';
import { setCryptoBackend } from '../util/crypto-backend.js';
import { decodeBase64Strict } from '../util/base64.js';
import { verifyCertificate } from '../verify/verify-certificate.js';
import type { VerificationReport } from '../verify/report.js';
import { preverifyCertificates } from './node-crypto-shim.js';
import { webCryptoBackend } from './webcrypto-backend.js';

setCryptoBackend(webCryptoBackend);

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

async function readFile(input: HTMLInputElement): Promise<{ name: string; bytes: Uint8Array } | undefined> {
  const file = input.files?.[0];
  return file && { name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) };
}

/** The AK chain a certificate carries, if it can be read: certificate signatures are checked before the core runs. */
function shippedChain(bytes: Uint8Array): Uint8Array[] {
  try {
    const chain = parseCertificate(bytes).evidence.tpm.akCertificateChain ?? [];
    return chain.map((c, i) => decodeBase64Strict(c, `akCertificateChain[${i}]`));
  } catch {
    return [];
  }
}

export async function verifyInPage(
  certificate: { name: string; bytes: Uint8Array },
  trustPem: string | undefined,
  allowUntrustedAk: boolean,
): Promise<VerificationReport> {
  const trust: TrustAnchors = {
    roots: trustPem ? parseCertificatesPem(trustPem, 'the trust file') : [],
    pinnedAks: [],
  };
  await preverifyCertificates([...shippedChain(certificate.bytes), ...trust.roots.map((r) => r.der)]);
  const { report } = await verifyCertificate(certificate.bytes, certificate.name, { trust, allowUntrustedAk });
  return report;
}

async function run(): Promise<void> {
  const out = $('result');
  const certificate = await readFile($<HTMLInputElement>('certificate'));
  if (!certificate) return;
  const trust = await readFile($<HTMLInputElement>('trust'));
  out.dataset.state = 'running';
  const started = performance.now();
  try {
    const report = await verifyInPage(
      certificate,
      trust && new TextDecoder().decode(trust.bytes),
      $<HTMLInputElement>('allow-untrusted').checked,
    );
    const failed = report.checks.find((c) => c.status === 'failed');
    out.dataset.verdict = report.verdict;
    out.dataset.failedCheck = failed?.id ?? '';
    out.dataset.ms = String(Math.round(performance.now() - started));
    out.innerHTML = `<p class="verdict ${report.verdict.replace(' ', '-')}">${report.verdict.toUpperCase()}</p>${checklistTable(report.checks).toString()}`;
  } catch (err) {
    out.dataset.verdict = 'error';
    out.dataset.failedCheck = (err as { code?: string }).code ?? '';
    out.textContent = `error: ${(err as Error).message}`;
  }
  out.dataset.state = 'done';
  out.dataset.runs = String(Number(out.dataset.runs ?? 0) + 1);
}

for (const id of ['certificate', 'trust', 'allow-untrusted']) $(id).addEventListener('change', () => void run());

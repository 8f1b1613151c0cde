/**
 * The verifier in the browser (dist/web/aicert-verifier.html, docs/report.md): the user drops a
 * certificate, trust files, optionally a policy and the model files, and the page runs
 * `verifyCertificate`, the very code of `aicert verify`, with WebCrypto behind its crypto backend.
 * Nothing is sent anywhere.
 */
import { MAX_CERTIFICATE_BYTES, parseCertificate } from '../cert/certificate.js';
import { InputError } from '../errors.js';
import { MAX_TRUST_FILE_BYTES, NO_TRUST_ANCHORS } from '../evidence/ak-trust.js';
import { MAX_POLICY_BYTES } from '../evidence/policy.js';
import { checklistTable } from '../report/section-checks.js';
import { setCryptoBackend } from '../util/crypto-backend.js';
import { decodeBase64Strict } from '../util/base64.js';
import { verifyCertificate } from '../verify/verify-certificate.js';
import type { VerificationReport } from '../verify/report.js';
import { droppedModelName, measureDroppedModel, type DroppedFile } from './dropped-model.js';
import { preverifyCertificates } from './node-crypto-shim.js';
import { policyFromFile, trustFromFiles, type PickedFile } from './page-trust.js';
import { webCryptoBackend } from './webcrypto-backend.js';

setCryptoBackend(webCryptoBackend);

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** The picked files, each refused before it is read when it is over the CLI's bound for its kind. */
async function readFiles(input: HTMLInputElement, maxBytes: number, what: string): Promise<PickedFile[]> {
  return Promise.all(
    [...(input.files ?? [])].map(async (file) => {
      if (file.size > maxBytes)
        throw new InputError(
          'file.too-large',
          `${what} ${file.name} is ${file.size} bytes, over the ${maxBytes}-byte limit`,
        );
      return { name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) };
    }),
  );
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

/** What the user picked, as `aicert verify` takes it from its flags. */
export interface PageInputs {
  trustFiles: readonly PickedFile[];
  policy?: PickedFile;
  /** The model's files (a dropped folder or files), re-hashed for `artifact.model`. */
  model?: readonly DroppedFile[];
  allowUntrustedAk: boolean;
}

export async function verifyInPage(certificate: PickedFile, inputs: PageInputs): Promise<VerificationReport> {
  const trust = inputs.trustFiles.length > 0 ? trustFromFiles(inputs.trustFiles) : NO_TRUST_ANCHORS;
  const policy = inputs.policy && policyFromFile(inputs.policy);
  await preverifyCertificates([...shippedChain(certificate.bytes), ...trust.roots.map((r) => r.der)]);
  const model = inputs.model?.length ? inputs.model : undefined;
  const { report } = await verifyCertificate(certificate.bytes, certificate.name, {
    trust,
    allowUntrustedAk: inputs.allowUntrustedAk,
    ...(policy && { policy }),
    ...(model && { model: droppedModelName(model), measureModel: () => measureDroppedModel(model) }),
  });
  return report;
}

/** The model files: the folder when one was picked, else the files picked one by one. */
function modelFiles(): DroppedFile[] {
  const folder = [...($<HTMLInputElement>('model-folder').files ?? [])];
  return folder.length > 0 ? folder : [...($<HTMLInputElement>('model-files').files ?? [])];
}

async function run(): Promise<void> {
  const out = $('result');
  const input = $<HTMLInputElement>('certificate');
  if (!input.files?.length) return;
  out.dataset.state = 'running';
  const started = performance.now();
  try {
    const [certificate] = await readFiles(input, MAX_CERTIFICATE_BYTES, 'the certificate');
    const [policy] = await readFiles($<HTMLInputElement>('policy'), MAX_POLICY_BYTES, 'the policy');
    const report = await verifyInPage(certificate!, {
      trustFiles: await readFiles($<HTMLInputElement>('trust'), MAX_TRUST_FILE_BYTES, 'the trust file'),
      ...(policy && { policy }),
      model: modelFiles(),
      allowUntrustedAk: $<HTMLInputElement>('allow-untrusted').checked,
    });
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

for (const id of ['certificate', 'trust', 'policy', 'model-folder', 'model-files', 'allow-untrusted'])
  $(id).addEventListener('change', () => void run());

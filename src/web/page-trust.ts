/**
 * The trust anchors and policy the user picks in the browser verifier, read by the parsers of
 * `aicert verify --trust` and `--policy` (src/evidence/ak-trust.ts, src/evidence/policy.ts). A
 * page cannot open the files a YAML trust file names, so the user picks them with it; each must
 * be among the picked files (matched by file name).
 */
import { InputError } from '../errors.js';
import { isPemTrustFile, MAX_TRUST_FILE_BYTES, parseTrustFile, type TrustAnchors } from '../evidence/ak-trust.js';
import { MAX_POLICY_BYTES, parsePolicy, type Policy } from '../evidence/policy.js';
import { parseCertificatesPem, type ParsedCertificate } from '../pki/x509-path.js';

export interface PickedFile {
  name: string;
  bytes: Uint8Array;
}

function text(file: PickedFile, limit: number, what: string): string {
  if (file.bytes.length > limit)
    throw new InputError(
      'file.too-large',
      `${what} ${file.name} is ${file.bytes.length} bytes, over the ${limit}-byte limit`,
    );
  return new TextDecoder('utf-8', { fatal: false }).decode(file.bytes);
}

const baseName = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/**
 * The anchors of the picked trust files: every PEM file's certificates, and every YAML trust
 * file's pinned AK Names; the roots a YAML trust file names must be picked too.
 */
export function trustFromFiles(files: readonly PickedFile[]): TrustAnchors {
  const pem = new Map<string, string>();
  const yaml: PickedFile[] = [];
  for (const file of files) {
    const content = text(file, MAX_TRUST_FILE_BYTES, 'the trust file');
    if (isPemTrustFile(content)) pem.set(file.name, content);
    else yaml.push(file);
  }
  const pinnedAks: Buffer[] = [];
  for (const file of yaml) {
    const parsed = parseTrustFile(text(file, MAX_TRUST_FILE_BYTES, 'the trust file'), `the trust file ${file.name}`);
    for (const root of parsed.akRoots)
      if (!pem.has(baseName(root)))
        throw new InputError(
          'trust.invalid',
          `the trust file ${file.name} names ${root}: pick that PEM file too (the page cannot open files itself)`,
        );
    pinnedAks.push(...parsed.pinnedAks);
  }
  const roots = new Map<string, ParsedCertificate>();
  for (const [name, content] of pem)
    for (const cert of parseCertificatesPem(content, `the trust file ${name}`))
      roots.set(cert.der.toString('hex'), cert);
  return { roots: [...roots.values()], pinnedAks };
}

/** The picked policy, as `aicert verify --policy` reads it. */
export function policyFromFile(file: PickedFile): Policy {
  return parsePolicy(text(file, MAX_POLICY_BYTES, 'the policy'), `the policy ${file.name}`);
}

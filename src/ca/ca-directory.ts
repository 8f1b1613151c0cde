import { createPrivateKey, createPublicKey, KeyObject, webcrypto } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { x509, type X509 } from '../pki/x509-lib.js';
import { EnvironmentError, InputError } from '../errors.js';
import { readCertificateFiles } from '../pki/key-files.js';
import { readBoundedFile } from '../util/bounded-file.js';
import { describeCertificate, parseCertificatesPem, type ParsedCertificate } from '../pki/x509-path.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { createCaCertificate, generateCaKeys, SIGNING_ALGORITHM } from './certificates.js';

/**
 * An attestation CA lives in one directory:
 *   ca.key               P-256 private key, PKCS#8 PEM, mode 0600
 *   ca.pem               the self-signed CA certificate (what verifiers pass to --trust)
 *   ek-roots/            EK root certificates: TPMs whose EK certificate chains to one enroll
 *   ek-intermediates/    optional EK intermediate CA certificates that help build those chains
 *   issued/<serial>.json issuance log: one record per AK certificate issued
 */
export const CA_FILES = {
  key: 'ca.key',
  certificate: 'ca.pem',
  ekRoots: 'ek-roots',
  ekIntermediates: 'ek-intermediates',
  issued: 'issued',
} as const;

export interface AttestationCa {
  dir: string;
  key: webcrypto.CryptoKey;
  certificate: X509.X509Certificate;
  certificatePem: string;
  ekRoots: ParsedCertificate[];
  ekIntermediates: ParsedCertificate[];
}

export interface InitCaOptions {
  ekIntermediatePemFiles?: readonly string[];
  now?: Date;
}

/**
 * Creates a new CA in `dir` (which must not exist, or be empty) trusting the EK roots in
 * `ekRootPemFiles`. Refuses to overwrite an existing CA; on failure removes what it created.
 */
export async function initCa(
  dir: string,
  ekRootPemFiles: readonly string[],
  options: InitCaOptions = {},
): Promise<AttestationCa> {
  if (ekRootPemFiles.length === 0)
    throw new InputError('ca.no-ek-roots', 'an attestation CA needs at least one EK root certificate (--ek-roots PEM)');
  const roots = await readCaCertificates(ekRootPemFiles, 'EK root');
  const intermediates = await readCaCertificates(options.ekIntermediatePemFiles ?? [], 'EK intermediate');
  const created = await prepareEmptyDirectory(dir);
  try {
    const keys = await generateCaKeys();
    const keyPem = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' });
    await writeFileAtomic(join(dir, CA_FILES.key), keyPem, { mode: 0o600 });
    const certificate = await createCaCertificate(keys, options.now ?? new Date());
    await writeFileAtomic(join(dir, CA_FILES.certificate), certificate.toString('pem') + '\n');
    await copyCertificates(dir, CA_FILES.ekRoots, roots);
    await copyCertificates(dir, CA_FILES.ekIntermediates, intermediates);
    await mkdir(join(dir, CA_FILES.issued), { mode: 0o700 });
  } catch (err) {
    if (created) await rm(dir, { recursive: true, force: true });
    else for (const entry of Object.values(CA_FILES)) await rm(join(dir, entry), { recursive: true, force: true });
    throw err;
  }
  return openCa(dir);
}

/** Loads the CA in `dir`, checking that its key and certificate belong together. */
export async function openCa(dir: string): Promise<AttestationCa> {
  const keyPem = await readBoundedFile(join(dir, CA_FILES.key), 64 * 1024, 'CA key').catch((err: unknown) => {
    throw new InputError(
      'ca.not-found',
      `${dir} is not an aicert attestation CA (run \`aicert ca init ${dir} --ek-roots PEM\`): ${(err as Error).message}`,
    );
  });
  const certificatePem = (await readBoundedFile(join(dir, CA_FILES.certificate), 64 * 1024, 'CA certificate')).toString(
    'utf8',
  );
  const [caCert] = parseCertificatesPem(certificatePem, join(dir, CA_FILES.certificate));
  let pkcs8: Buffer;
  try {
    const privateKey = createPrivateKey(keyPem);
    if (!createPublicKey(privateKey).equals(caCert!.node.publicKey)) throw new Error('the key does not match ca.pem');
    pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  } catch (err) {
    throw new InputError('ca.key', `the CA key ${join(dir, CA_FILES.key)} is unusable: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const key = await webcrypto.subtle.importKey('pkcs8', pkcs8, SIGNING_ALGORITHM, false, ['sign']);
  const ekRoots = await readCertificateDirectory(join(dir, CA_FILES.ekRoots));
  if (ekRoots.length === 0)
    throw new InputError('ca.no-ek-roots', `the CA in ${dir} has no EK root certificates in ${CA_FILES.ekRoots}/`);
  return {
    dir,
    key,
    certificate: new (x509().X509Certificate)(Uint8Array.from(caCert!.der)),
    certificatePem,
    ekRoots,
    ekIntermediates: await readCertificateDirectory(join(dir, CA_FILES.ekIntermediates)),
  };
}

/** EK roots and intermediates must be CA certificates: an EK certificate given by mistake is refused. */
async function readCaCertificates(
  files: readonly string[],
  what: string,
): Promise<Array<{ file: string; certificates: ParsedCertificate[] }>> {
  const out = [];
  for (const file of files) {
    const certificates = await readCertificateFiles([file]);
    const notCa = certificates.find((c) => !c.basicConstraints?.ca);
    if (notCa)
      throw new InputError(
        'ca.ek-root',
        `the ${what} ${file} holds ${describeCertificate(notCa)}, which is not a CA certificate`,
      );
    out.push({ file, certificates });
  }
  return out;
}

/** Makes sure `dir` exists and is empty; returns whether it was created here. */
async function prepareEmptyDirectory(dir: string): Promise<boolean> {
  const existing = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new EnvironmentError('ca.dir', `cannot use ${dir}: ${err.message}`);
  });
  if (existing && existing.length > 0) {
    throw new InputError(
      'ca.exists',
      `${dir} is not empty; an attestation CA is created in a new or empty directory (an existing CA is never overwritten)`,
    );
  }
  if (existing) return false;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return true;
}

async function copyCertificates(
  dir: string,
  sub: string,
  files: Array<{ file: string; certificates: ParsedCertificate[] }>,
): Promise<void> {
  await mkdir(join(dir, sub), { recursive: true });
  for (const [i, { file, certificates }] of files.entries()) {
    const pem = certificates.map((c) => c.node.toString()).join('');
    await writeFileAtomic(
      join(dir, sub, `${String(i + 1).padStart(2, '0')}-${basename(file).replace(/\.(pem|crt|cer)$/i, '')}.pem`),
      pem,
    );
  }
}

async function readCertificateDirectory(path: string): Promise<ParsedCertificate[]> {
  const names = await readdir(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw new EnvironmentError('ca.dir', `cannot read ${path}: ${err.message}`);
  });
  const files = [];
  for (const name of names.filter((n) => n.endsWith('.pem')).sort()) {
    if ((await stat(join(path, name))).isFile()) files.push(join(path, name));
  }
  return readCertificateFiles(files);
}

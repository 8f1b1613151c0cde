import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { InputError } from '../errors.js';
import { readBoundedFile } from '../util/bounded-file.js';
import { parseCertificatesPem, type ParsedCertificate } from './x509-path.js';

/** Reading keys, certificates and signature files named on the command line, size-bounded. */

/** Key and certificate files are a few KB; a CA bundle such as certifi's is ~300 KB. */
const MAX_PEM_BYTES = 4 * 1024 * 1024;

/** A PEM private key (PKCS#8 or SEC1 "EC PRIVATE KEY"); encrypted keys are refused with a hint. */
export async function readPrivateKeyFile(path: string): Promise<KeyObject> {
  const pem = await readBoundedFile(path, MAX_PEM_BYTES, 'private key');
  try {
    return createPrivateKey(pem);
  } catch (err) {
    const encrypted = pem.includes('ENCRYPTED');
    throw new InputError(
      'key.unreadable',
      encrypted
        ? `the private key ${path} is encrypted; decrypt it first, e.g. openssl pkey -in ${path} -out plain.pem`
        : `${path} is not a PEM private key: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** A PEM public key (SubjectPublicKeyInfo). */
export async function readPublicKeyFile(path: string): Promise<KeyObject> {
  const pem = await readBoundedFile(path, MAX_PEM_BYTES, 'public key');
  try {
    return createPublicKey(pem);
  } catch (err) {
    throw new InputError('key.unreadable', `${path} is not a PEM public key: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Every certificate of one or more PEM files, in order. */
export async function readCertificateFiles(paths: readonly string[]): Promise<ParsedCertificate[]> {
  const all: ParsedCertificate[] = [];
  for (const path of paths) {
    const pem = await readBoundedFile(path, MAX_PEM_BYTES, 'certificate file');
    all.push(...parseCertificatesPem(pem.toString('utf8'), path));
  }
  return all;
}

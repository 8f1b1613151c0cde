import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { InputError } from '../errors.js';
import { parseCertificatesPem, type Certificate } from './x509-path.js';

/** Reading keys, certificates and signature files named on the command line, size-bounded. */

/** Key and certificate files are a few KB; a CA bundle such as certifi's is ~300 KB. */
const MAX_PEM_BYTES = 4 * 1024 * 1024;

/** Reads a file after checking it is a regular file of at most `maxBytes`. */
export async function readBoundedFile(path: string, maxBytes: number, what: string): Promise<Buffer> {
  const stats = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new InputError('file.unreadable', `cannot read ${what} ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  if (!stats.isFile()) throw new InputError('file.unreadable', `${what} ${path} is not a regular file`);
  if (stats.size > maxBytes) {
    throw new InputError('file.too-large', `${what} ${path} is ${stats.size} bytes, over the ${maxBytes}-byte limit`);
  }
  return readFile(path).catch((err: Error) => {
    throw new InputError('file.unreadable', `cannot read ${what} ${path}: ${err.message}`);
  });
}

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
    throw new InputError('key.unreadable', `${path} is not a PEM public key: ${(err as Error).message}`, { cause: err });
  }
}

/** Every certificate of one or more PEM files, in order. */
export async function readCertificateFiles(paths: readonly string[]): Promise<Certificate[]> {
  const all: Certificate[] = [];
  for (const path of paths) {
    const pem = await readBoundedFile(path, MAX_PEM_BYTES, 'certificate file');
    all.push(...parseCertificatesPem(pem.toString('utf8'), path));
  }
  return all;
}

import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { parseCertificatesPem } from '../pki/x509-path.js';
import { aicertHome } from '../util/state-dir.js';
import { writeFileAtomic } from '../util/atomic-write.js';

/**
 * Enrolled AK certificate chains in aicert's state directory:
 *   $AICERT_HOME/ak/<AK Name hex>/chain.pem   the AK certificate, then its CA certificate(s)
 * The AK itself needs no storage: it is a primary key the TPM recreates from its template.
 */
const CHAIN_FILE = 'chain.pem';
const MAX_CHAIN_FILE_BYTES = 256 * 1024;

export function akCertificateChainPath(akName: Uint8Array): string {
  return join(aicertHome(), 'ak', Buffer.from(akName).toString('hex'), CHAIN_FILE);
}

/** Stores the chain (PEM) atomically; returns its path. */
export async function storeAkCertificateChain(akName: Uint8Array, chainPem: string): Promise<string> {
  const path = akCertificateChainPath(akName);
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, chainPem);
  return path;
}

/** The stored chain for `akName` as DER certificates, leaf first; undefined if the AK was never enrolled. */
export async function loadAkCertificateChain(akName: Uint8Array): Promise<Buffer[] | undefined> {
  const path = akCertificateChainPath(akName);
  const stats = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new InputError('ak.chain-unreadable', `cannot read the AK certificate chain ${path}: ${err.message}`);
  });
  if (!stats) return undefined;
  if (!stats.isFile() || stats.size > MAX_CHAIN_FILE_BYTES) {
    throw new InputError(
      'ak.chain-unreadable',
      `${path} is not an AK certificate chain (not a file of at most ${MAX_CHAIN_FILE_BYTES} bytes); enroll the AK again`,
    );
  }
  return parseCertificatesPem(await readFile(path, 'utf8'), path).map((c) => c.der);
}

/**
 * src/pki/x509-lib.ts for the verifier page: the bundle holds @peculiar/x509 already, and a page
 * has no `require` to load it later (scripts/build-web.mjs maps x509-lib.js to this file).
 */
import 'reflect-metadata';
import * as X509 from '@peculiar/x509';

export type { X509 };

export function x509(): typeof X509 {
  return X509;
}

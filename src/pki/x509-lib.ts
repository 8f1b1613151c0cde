/**
 * @peculiar/x509, loaded on first use. Its CommonJS build, with tsyringe and the ASN.1 schemas it
 * pulls in, took about 0.16 s of CPU to load: every CLI process paid it at start-up (each
 * `aicert … --help`, every usage error), though most commands never parse a certificate. The
 * verifier page (scripts/build-web.mjs) bundles src/web/x509-lib-static.ts in this module's place.
 */
import { createRequire } from 'node:module';
import type * as X509 from '@peculiar/x509';

export type { X509 };

let loaded: typeof X509 | undefined;

export function x509(): typeof X509 {
  if (loaded === undefined) {
    const require = createRequire(import.meta.url);
    require('reflect-metadata'); // @peculiar/x509 resolves its providers through tsyringe, which needs it first
    loaded = require('@peculiar/x509') as typeof X509;
  }
  return loaded;
}

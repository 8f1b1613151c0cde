#!/usr/bin/env node
// Builds the verifier in the browser (docs/report.md): dist/src/web/verifier-app.js (compiled by
// tsc first) and the verification core it imports, bundled by esbuild into one script inlined in
// dist/web/aicert-verifier.html, so the page works from file:// with nothing to load.
// `node:crypto` is mapped to src/web/node-crypto-shim.ts; other Node built-ins, which the
// verification never calls in the page, and the dataset and code measurement (--data, --code,
// which the page does not offer) to a stub that throws when called.
// Usage: node scripts/build-web.mjs   (run by npm run build)
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/web/aicert-verifier.html');

/** Modules of the verification core the page never calls: bundled as stubs that throw when called. */
const PAGE_UNUSED = /\/measure\/(dataset\/dataset-content|code)\.js$/;

const nodeBuiltins = {
  name: 'node-builtins',
  setup(b) {
    b.onResolve({ filter: /^node:crypto$/ }, () => ({ path: join(root, 'dist/src/web/node-crypto-shim.js') }));
    // The CLI loads @peculiar/x509 on first use through require(); the page bundles it instead.
    b.onResolve({ filter: /(^|\/)x509-lib\.js$/ }, () => ({ path: join(root, 'dist/src/web/x509-lib-static.js') }));
    b.onResolve({ filter: /^node:buffer$/ }, () => ({ path: join(root, 'node_modules/buffer/index.js') }));
    b.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: 'node-stub' }));
    // Dataset and code measurement read the disk (and the Parquet decoders instantiate WebAssembly
    // when loaded, which the page's CSP forbids): the page offers neither --data nor --code.
    b.onResolve({ filter: PAGE_UNUSED }, (a) => ({ path: a.path, namespace: 'node-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, (a) => ({
      // CommonJS, so that any named import resolves (to a function that throws when called).
      contents: `const fail = (name) => () => { throw new Error(${JSON.stringify(a.path)} + ' ' + String(name) + ' is not available in the browser'); };
module.exports = new Proxy({}, { get: (_, name) => name === '__esModule' ? false : fail(name) });`,
      loader: 'js',
    }));
  },
};

const result = await build({
  entryPoints: [join(root, 'dist/src/web/verifier-app.js')],
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  write: false,
  legalComments: 'none',
  inject: [join(root, 'scripts/web-globals.mjs')],
  define: { 'import.meta.url': '"file:///aicert-verifier"' },
  plugins: [nodeBuiltins],
  logLevel: 'warning',
});
const script = result.outputFiles[0].text.replaceAll('</script', '<\\/script');
const scriptHash = createHash('sha256').update(script).digest('base64');
const template = await readFile(join(root, 'scripts/web-verifier.html'), 'utf8');
const page = template
  .replace('%CSP%', `default-src 'none'; script-src 'sha256-${scriptHash}'; style-src 'unsafe-inline'`)
  .replace('/* %SCRIPT% */', () => script);
await mkdir(dirname(out), { recursive: true });
await writeFile(`${out}.tmp`, page);
await rename(`${out}.tmp`, out);
// stderr: `npm pack --json` runs this build in prepack, and its stdout must stay pure JSON.
console.error(`${out}: ${page.length} bytes`);

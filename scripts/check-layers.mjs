#!/usr/bin/env node
// Checks the layering of src/ (docs/architecture.md, "Layers"): every relative import between
// folders must point to a lower layer, so the folder graph has no cycles.
// Usage: node scripts/check-layers.mjs [--graph]   (--graph prints the folder import graph)
// Plain JavaScript with no dependencies, so it also runs before `npm ci`.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Bottom up; folders on one line are one layer and may import each other only if listed in SAME_LAYER_ALLOWED. */
export const LAYERS = [
  ['(root)'], // errors.ts, version.ts
  ['util'],
  ['pki'],
  ['tpm', 'measure'],
  ['evidence'],
  ['protocol'],
  ['cert', 'ca', 'trainer'],
  ['run', 'verify', 'audit', 'serve'],
  ['report'],
  ['web'], // the verifier in the browser: a page, not imported by the CLI
  ['cli'],
];
/** Same-layer imports that are part of the design: an audit, and a serving session, start by verifying the certificate. */
const SAME_LAYER_ALLOWED = new Set(['audit -> verify', 'serve -> verify']);
/** Entry points of the package: they re-export from any layer. */
const ENTRY_POINTS = new Set(['index.ts', 'tpm/index.ts', 'measure/index.ts', 'trainer/index.ts']);

const IMPORT =
  /(?:^|\s)(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function sourceFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function folderOf(src, path) {
  const parts = relative(src, path).split('/');
  return parts.length > 1 ? parts[0] : '(root)';
}

/** Every import from one folder of src/ into another: [{ from, to, file, specifier }]. */
export function folderImports(src) {
  const edges = [];
  for (const file of sourceFiles(src)) {
    if (ENTRY_POINTS.has(relative(src, file))) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const specifier = m[1] ?? m[2];
      const target = resolve(dirname(file), specifier).replace(/\.js$/, '.ts');
      const from = folderOf(src, file);
      const to = folderOf(src, target);
      if (from !== to) edges.push({ from, to, file: relative(src, file), specifier });
    }
  }
  return edges;
}

/** The imports that break the layering, each as a sentence. */
export function layerViolations(src) {
  const layerOf = new Map(LAYERS.flatMap((folders, i) => folders.map((f) => [f, i])));
  const problems = [];
  for (const e of folderImports(src)) {
    const [from, to] = [layerOf.get(e.from), layerOf.get(e.to)];
    if (from === undefined) problems.push(`src/${e.file}: folder ${e.from} has no layer in scripts/check-layers.mjs`);
    else if (to === undefined) problems.push(`src/${e.file}: imports ${e.specifier}, folder ${e.to} has no layer`);
    else if (to > from || (to === from && !SAME_LAYER_ALLOWED.has(`${e.from} -> ${e.to}`))) {
      problems.push(
        `src/${e.file}: ${e.from} imports ${e.specifier} from ${e.to}, which is ${to > from ? 'above' : 'beside'} it`,
      );
    }
  }
  return problems;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const src = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src');
  if (process.argv.includes('--graph')) {
    const counts = new Map();
    for (const e of folderImports(src))
      counts.set(`${e.from} -> ${e.to}`, (counts.get(`${e.from} -> ${e.to}`) ?? 0) + 1);
    for (const [edge, n] of [...counts].sort()) console.log(`${edge} (${n})`);
  }
  const problems = layerViolations(src);
  for (const p of problems) console.error(p);
  console.log(
    problems.length === 0 ? 'layers: no folder imports a folder above it' : `layers: ${problems.length} violations`,
  );
  process.exit(problems.length === 0 ? 0 : 1);
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface LayerCheck {
  layerViolations(src: string): string[];
}
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const load = async () => (await import(join(REPO, 'scripts/check-layers.mjs'))) as LayerCheck;

test('no folder of src/ imports a folder above it (docs/architecture.md, "Layers")', async () => {
  assert.deepEqual((await load()).layerViolations(join(REPO, 'src')), []);
});

test('the layer check reports an upward import, a same-layer import and an unknown folder', async (t) => {
  const src = await mkdtemp(join(tmpdir(), 'aicert-layers-'));
  t.after(() => rm(src, { recursive: true, force: true }));
  const put = async (path: string, text: string) => {
    await mkdir(join(src, path, '..'), { recursive: true });
    await writeFile(join(src, path), text);
  };
  await put('util/codec.ts', "import { main } from '../cli/main.js';\n");
  await put('run/run.ts', "import type { Report } from '../verify/report.js';\n");
  await put('verify/report.ts', 'export type Report = 1;\n');
  await put('audit/audit.ts', "import { verify } from '../verify/report.js';\n");
  await put('cli/main.ts', "const m = await import('../newfolder/x.js');\n");
  await put('newfolder/x.ts', 'export {};\n');
  const problems = (await load()).layerViolations(src);
  assert.equal(problems.length, 3, problems.join('\n'));
  assert.match(problems.join('\n'), /util\/codec\.ts: util imports \.\.\/cli\/main\.js from cli, which is above it/);
  assert.match(
    problems.join('\n'),
    /run\/run\.ts: run imports \.\.\/verify\/report\.js from verify, which is beside it/,
  );
  assert.match(problems.join('\n'), /folder newfolder has no layer/);
});

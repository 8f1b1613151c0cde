/**
 * `aicert measure PATH...`: content manifests (OMS v1.0) of models, datasets or any directory.
 * Logic lives in src/measure/; this file turns flags into options and manifests into output.
 * Nothing is printed on stdout until every PATH is measured, so a failure leaves no partial output.
 */
import { type Command, Option } from 'commander';
import { isAbsolute, relative, resolve } from 'node:path';
import { InputError } from '../errors.js';
import { HashPool } from '../measure/hash-pool.js';
import {
  listMeasuredFiles,
  manifestOfFiles,
  resolveMeasureOptions,
  type Manifest,
  type MeasureOptions,
} from '../measure/manifest.js';
import type { FileRecord } from '../measure/walker.js';
import type { ModelDescription } from '../measure/formats/model-description.js';
import { renderDescriptionText } from './describe-output.js';
import { formatBytes, ProgressBar } from './progress.js';

interface MeasureFlags {
  json?: boolean;
  hash: 'sha256' | 'blake3';
  shardSize?: number;
  ignore?: string[];
  allowSymlinks?: boolean;
  ignoreGitPaths: boolean;
  describe?: boolean;
  checkFormats: boolean;
}

/** One measured PATH as printed. Further per-path sections (e.g. `--describe`) go here and in the renderers. */
interface MeasuredPath {
  path: string;
  manifest: Manifest;
  /** With --describe: the model's tensors (src/measure/formats/). */
  description?: ModelDescription;
}

export function registerMeasureCommand(program: Command): void {
  program
    .command('measure')
    .description('hash model, dataset or code directories into OMS v1.0 manifests: per-file digests and a root digest')
    .argument('<path...>', 'directories or single files to measure (each gets its own manifest)')
    .option('--json', 'print only JSON on stdout: an array with one manifest per PATH')
    .addOption(
      new Option('--hash <algorithm>', 'per-file digest (the root is always SHA-256, as OMS requires)')
        .choices(['sha256', 'blake3'])
        .default('sha256'),
    )
    .option(
      '--shard-size <bytes>',
      'use the OMS "shards" method: one digest per byte range of this size (e.g. 1000000000, 1GB, 512MiB); ' +
        'lets one huge file be hashed on all cores',
      parseByteCount,
    )
    .option(
      '--ignore <path>',
      'leave out this file or directory (relative to the current directory, like model_signing --ignore-paths); repeatable',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--allow-symlinks', 'follow symbolic links (they must stay inside PATH) instead of refusing them')
    .option(
      '--describe',
      'also parse the model files strictly (safetensors, sharded index, GGUF, ONNX external data) and print their tensors, parameters and dtypes',
    )
    .option(
      '--no-check-formats',
      'hash model files without parsing them first (by default a corrupt safetensors/GGUF/ONNX header or a missing shard is an error)',
    )
    .option(
      '--no-ignore-git-paths',
      'include top-level .git, .gitattributes, .github and .gitignore (left out by default)',
    )
    .addHelpText(
      'after',
      `
Manifests follow the OpenSSF model-signing (OMS) v1.0 rules: files sorted by POSIX path, one
SHA-256 per file (equal to the Hugging Face Hub LFS oid), root = SHA-256 over the concatenated
raw digests, i.e. the digest \`model_signing digest\` prints and an OMS signature's subject.
Symbolic links are refused unless --allow-symlinks. A file that changes while it is hashed is
an error. Model files (.safetensors, .safetensors.index.json, .gguf, .onnx) are parsed strictly
before hashing, so a corrupt header, a missing shard or an external-data path that escapes the
model is an error rather than a digest of broken bytes; --no-check-formats skips that.
A progress bar appears on stderr when it is a terminal and the work takes over 1 s.

Exit status: 0 measured, 2 unusable input (missing, unreadable, symlink, changed file), 3 environment.

Examples:
  aicert measure ./llama-3-8b
  aicert measure ./model --json | jq -r '.[0].rootDigest'
  aicert measure ./model-00001-of-00002.safetensors --shard-size 1GB
  aicert measure ./model --hash blake3 --ignore ./model/README.md
  aicert measure ./model --describe      # also list tensors, parameters, dtypes
`,
    )
    .action(measureAction);
}

async function measureAction(paths: string[], flags: MeasureFlags): Promise<void> {
  const results = await measureEach(paths, flags);
  process.stdout.write(flags.json ? renderJson(results) : renderText(results));
}

/** Measures every PATH with one shared pool; throws on the first failure. */
async function measureEach(paths: string[], flags: MeasureFlags): Promise<MeasuredPath[]> {
  const ignores = ignoresByRoot(paths, flags.ignore ?? []);
  const pool = new HashPool();
  const progress = new ProgressBar();
  try {
    const results: MeasuredPath[] = [];
    for (const [index, path] of paths.entries()) {
      const options: MeasureOptions = {
        algorithm: flags.hash,
        ...(flags.shardSize === undefined ? {} : { shardSize: flags.shardSize }),
        ignore: ignores[index]!,
        allowSymlinks: flags.allowSymlinks ?? false,
        ignoreGitPaths: flags.ignoreGitPaths,
        pool,
        onProgress: (done, total) => progress.update(path, done, total),
      };
      const settings = resolveMeasureOptions(options);
      const files = await listMeasuredFiles(path, settings);
      // Checked first, on the same listing: a malformed model file fails before any hashing.
      const description = await describeFormats(path, files, settings.allowSymlinks, flags);
      results.push({
        path,
        manifest: await manifestOfFiles(files, settings, pool),
        ...(description && { description }),
      });
    }
    return results;
  } finally {
    progress.finish();
    await pool.close();
  }
}

/** With --describe, the model's description (it must have model files); otherwise only the check. */
async function describeFormats(
  path: string,
  files: readonly FileRecord[],
  allowSymlinks: boolean,
  flags: MeasureFlags,
): Promise<ModelDescription | undefined> {
  if (!flags.checkFormats && !flags.describe) return undefined;
  const { checkListedFiles, describeListedFiles, requireModelFiles } = await import('../measure/formats/describe.js');
  if (flags.describe) return requireModelFiles(path, describeListedFiles(path, files, allowSymlinks));
  // The check alone keeps no tensor: its memory does not grow with a header's tensor count.
  checkListedFiles(path, files, allowSymlinks);
  return undefined;
}

/**
 * Turns --ignore paths (relative to the current directory, as in model_signing) into paths
 * relative to each PATH they fall in. One that falls in no PATH is a usage error: silently
 * ignoring nothing would change a digest without saying so.
 */
function ignoresByRoot(paths: string[], ignores: string[]): string[][] {
  const perRoot = paths.map(() => [] as string[]);
  for (const ignore of ignores) {
    let used = false;
    paths.forEach((path, index) => {
      const inside = relative(resolve(path), resolve(ignore));
      if (inside === '' || inside === '..' || inside.startsWith('../') || isAbsolute(inside)) return;
      perRoot[index]!.push(inside.split('\\').join('/'));
      used = true;
    });
    if (!used) {
      throw new InputError(
        'measure.ignore-outside',
        `--ignore ${ignore} is not inside any PATH being measured (ignore paths are relative to the current directory)`,
      );
    }
  }
  return perRoot;
}

/** "1000000000", "1GB", "512MiB", "64k" → bytes (decimal units for k/M/G, binary for Ki/Mi/Gi). */
export function parseByteCount(text: string): number {
  const match = /^(\d+)\s*([kmgt]i?)?b?$/i.exec(text.trim());
  const units: Record<string, number> = {
    k: 1e3,
    m: 1e6,
    g: 1e9,
    t: 1e12,
    ki: 2 ** 10,
    mi: 2 ** 20,
    gi: 2 ** 30,
    ti: 2 ** 40,
  };
  const value = match ? Number(match[1]) * (match[2] ? units[match[2].toLowerCase()]! : 1) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InputError(
      'measure.bad-shard-size',
      `--shard-size must be a positive byte count such as 1000000000 or 1GB, got ${text}`,
    );
  }
  return value;
}

function renderJson(results: MeasuredPath[]): string {
  return `${JSON.stringify(
    results.map(({ path, manifest, description }) => ({ path, ...manifest, ...(description && { description }) })),
    null,
    2,
  )}\n`;
}

function renderText(results: MeasuredPath[]): string {
  return results
    .map(({ path, manifest, description }) => {
      const bytes = manifest.entries.reduce((sum, entry) => sum + entry.size, 0);
      const method = manifest.method === 'shards' ? `shards of ${manifest.shardSize} bytes` : 'files';
      const lines = [
        `${path}: ${count(manifest.entries.length, 'entry', 'entries')}, ${formatBytes(bytes)}, ${method}, ${manifest.hashAlgorithm}`,
        ...manifest.entries.map((entry) => `${entry.digest}  ${printableName(entry.name)}`),
        `root sha256:${manifest.rootDigest}`,
      ];
      return `${lines.join('\n')}\n${description ? `\n${renderDescriptionText(description)}` : ''}`;
    })
    .join('\n');
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Names with control characters (a newline in a file name) are shown JSON-quoted so each entry stays one line. */
function printableName(name: string): string {
  return /[\u0000-\u001f\u007f]/.test(name) ? JSON.stringify(name) : name;
}

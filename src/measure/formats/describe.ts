import { basename, dirname, join, posix, resolve } from 'node:path';
import { InputError } from '../../errors.js';
import { compareNames, DEFAULT_IGNORED_GIT_PATHS } from '../manifest.js';
import { listModelFiles, type FileRecord } from '../walker.js';
import { readGgufHeader } from './gguf.js';
import { modelFormatOf, REFERENCING_FORMATS } from './model-file-names.js';
import {
  totalsOf,
  type FileTensor,
  type ModelComponent,
  type ModelDescription,
  type ModelFormat,
  type TensorDescription,
} from './model-description.js';
import { readOnnxModel } from './onnx.js';
import { readSafetensorsHeader } from './safetensors.js';
import { readSafetensorsIndex } from './safetensors-index.js';

export interface DescribeOptions {
  /** Follow symbolic links that stay inside the model directory instead of refusing them. */
  allowSymlinks?: boolean;
  /** Relative POSIX paths inside a directory to leave out; default: the OMS git paths. */
  ignorePaths?: readonly string[];
}

export { modelFormatOf };

/**
 * Parses the model at `path` strictly and lists its tensors. `path` is one model file
 * (.safetensors, .safetensors.index.json, .gguf, .onnx) or a directory, in which every such file
 * is described (shards listed in an index are described through the index, not again on their
 * own). Any format violation, missing shard or external-data escape is an InputError.
 */
export async function describeModel(path: string, options: DescribeOptions = {}): Promise<ModelDescription> {
  const allowSymlinks = options.allowSymlinks ?? false;
  const files = await listModelFiles(path, {
    ignore: new Set(options.ignorePaths ?? DEFAULT_IGNORED_GIT_PATHS),
    allowSymlinks,
  });
  return requireModelFiles(path, describeListedFiles(path, files, allowSymlinks));
}

export function requireModelFiles(path: string, description: ModelDescription | undefined): ModelDescription {
  if (!description) {
    throw new InputError(
      'describe.no-model-files',
      `${path} is not and holds no model file aicert understands (.safetensors, .safetensors.index.json, .gguf, .onnx)`,
    );
  }
  return description;
}

/**
 * The model files among `files` (the walker's listing of `path`) parsed strictly, or undefined
 * when there are none. `aicert measure` runs it on the listing it hashes, so a corrupt header, a
 * missing shard or a referenced file left out of the listing is reported before anything is
 * hashed, and datasets and code measure as before.
 */
export function describeListedFiles(
  path: string,
  files: readonly FileRecord[],
  allowSymlinks: boolean,
): ModelDescription | undefined {
  const { root, components } = listedComponents(path, files, allowSymlinks, true);
  if (components.length === 0) return undefined;
  return { root, components, totals: totalsOf(components) };
}

/** The components of a listing, in entry order, each checked against the listing. */
function listedComponents(
  path: string,
  files: readonly FileRecord[],
  allowSymlinks: boolean,
  keepTensors: boolean,
): { root: string; components: ModelComponent[] } {
  const listing = listedModels(path, files);
  const { root, entries } = listing;
  // Indexes first: the shards they list belong to them.
  const components: ModelComponent[] = [];
  const claimed = new Set<string>();
  for (const { name, format } of entries.filter((e) => e.format === 'safetensors-sharded')) {
    const component = describeEntry(root, name, format, allowSymlinks, keepTensors);
    for (const file of component.files) claimed.add(file.name);
    components.push(component);
  }
  for (const { name, format } of entries) {
    if (format !== 'safetensors-sharded' && !claimed.has(name)) {
      components.push(describeEntry(root, name, format, allowSymlinks, keepTensors));
    }
  }
  for (const component of components) requireMeasured(component, listing, path);
  components.sort((a, b) => compareNames(a.entry, b.entry));
  return { root, components };
}

/**
 * The check `aicert measure` runs before hashing: every model file among `files` parsed strictly
 * as describeListedFiles does, and every file it refers to in the listing, but no tensor kept, so
 * that memory does not grow with a header's tensor count (docs/model-formats.md, "Memory").
 */
export function checkListedFiles(path: string, files: readonly FileRecord[], allowSymlinks: boolean): void {
  listedComponents(path, files, allowSymlinks, false);
}

/**
 * Every file a listed model refers to (the shards of a safetensors index, ONNX external data)
 * must be in the listing too, or measuring fails (`measure.reference-not-measured`): a manifest
 * that leaves out a model's weights (an ignored path such as `.github/`, an `--ignore`, or the
 * file beside a single model file) would let them be replaced under a valid digest or signature.
 * Parses only the formats that refer to other files; `measurePath` runs it on every listing.
 */
export function requireReferencedFilesMeasured(
  path: string,
  files: readonly FileRecord[],
  allowSymlinks: boolean,
): void {
  const listing = listedModels(path, files);
  for (const { name, format } of listing.entries) {
    if (REFERENCING_FORMATS.has(format))
      requireMeasured(describeEntry(listing.root, name, format, allowSymlinks, false), listing, path);
  }
}

interface ListedModels {
  /** The directory that entry names are relative to. */
  root: string;
  /** The listing is one file, named by its own name here. */
  single: boolean;
  names: ReadonlySet<string>;
  /** The model entry files, sorted by name. */
  entries: Array<{ name: string; format: ModelFormat }>;
}

function listedModels(path: string, files: readonly FileRecord[]): ListedModels {
  // A single file is listed as '.'; its entry is its own name, beside it.
  const single = files.length === 1 && files[0]!.name === '.';
  const names = single ? [basename(path)] : files.map(({ name }) => name);
  const entries = names
    .map((name) => ({ name, format: modelFormatOf(name) }))
    .filter((e): e is { name: string; format: ModelFormat } => e.format !== undefined)
    .sort((a, b) => compareNames(a.name, b.name));
  return { root: single ? dirname(resolve(path)) : resolve(path), single, names: new Set(names), entries };
}

function requireMeasured(component: ModelComponent, listing: ListedModels, path: string): void {
  for (const { name } of component.files) {
    if (listing.names.has(name)) continue;
    const why = listing.single
      ? `${path} is measured as one file, which leaves out the files beside it; measure the directory`
      : `it is left out of the measurement of ${path} (an ignored path: ${ignoredHint(name)}); ` +
        'every file a model refers to must be measured';
    throw new InputError('measure.reference-not-measured', `${component.entry} refers to ${name}, but ${why}`);
  }
}

/** The default ignores are the likely cause when the first component names one of them. */
function ignoredHint(name: string): string {
  const top = name.split('/')[0]!;
  return DEFAULT_IGNORED_GIT_PATHS.includes(top)
    ? `${top} is one of the git paths left out by default; keep the model's files out of it`
    : 'see the ignore paths';
}

/**
 * Describes the model entry file `entry` (a POSIX path relative to `root`). With `keepTensors`
 * false (a format check) every tensor is checked but none is kept: the component lists its
 * files and metadata, and no tensors.
 */
function describeEntry(
  root: string,
  entry: string,
  format: ModelFormat,
  allowSymlinks: boolean,
  keepTensors = true,
): ModelComponent {
  const path = join(root, ...entry.split('/'));
  // Files an entry refers to are named relative to the entry's directory; report them from the root.
  const fromRoot = (name: string) => posix.join(posix.dirname(entry), name);
  switch (format) {
    case 'safetensors': {
      const header = readSafetensorsHeader(path, { keepTensors });
      return {
        format,
        entry,
        files: [{ name: entry, size: header.fileSize }],
        metadata: header.metadata,
        tensors: header.tensors.map(locatedIn(entry)),
      };
    }
    case 'safetensors-sharded': {
      const index = readSafetensorsIndex(path, { allowSymlinks });
      const shards = index.shards.map((shard) => ({ ...shard, name: fromRoot(shard.name) }));
      return {
        format,
        entry,
        files: sortedByName([
          { name: entry, size: index.fileSize },
          ...shards.map((shard) => ({ name: shard.name, size: shard.header.fileSize })),
        ]),
        metadata: index.metadata,
        tensors: keepTensors ? shards.flatMap((shard) => shard.header.tensors.map(locatedIn(shard.name))) : [],
      };
    }
    case 'gguf': {
      const header = readGgufHeader(path, { keepTensors });
      return {
        format,
        entry,
        files: [{ name: entry, size: header.fileSize }],
        metadata: { 'gguf.version': String(header.version), ...header.metadata },
        tensors: header.tensors.map(locatedIn(entry)),
      };
    }
    case 'onnx': {
      // One name per external file, not one string per tensor.
      const externalNames = new Map<string, string>();
      const externalName = (file: string) =>
        externalNames.get(file) ?? externalNames.set(file, fromRoot(file)).get(file)!;
      const model = readOnnxModel(path, { allowSymlinks, keepTensors });
      return {
        format,
        entry,
        files: sortedByName([
          { name: entry, size: model.fileSize },
          ...model.externalFiles.map((file) => ({ name: fromRoot(file.name), size: file.size })),
        ]),
        metadata: model.metadata,
        tensors: model.tensors.map((tensor) => {
          const { location } = tensor;
          const file = location && (location.external ? externalName(location.file) : entry);
          return described(tensor, location && { file: file!, start: location.start, end: location.end });
        }),
      };
    }
  }
}

/** A header's tensors, placed in `file` (relative to the description's root). */
function locatedIn(file: string): (tensor: FileTensor) => TensorDescription {
  return (tensor) => described(tensor, { file, start: tensor.start, end: tensor.end });
}

/**
 * A tensor's description as an object literal. Not by rest and spread (`{ ...tensor, location }`):
 * V8 gives such copies three times the memory (403 against 131 bytes a tensor, measured), and a
 * model may have a million tensors.
 */
function described(
  tensor: Omit<TensorDescription, 'location'>,
  location: TensorDescription['location'],
): TensorDescription {
  return { name: tensor.name, dtype: tensor.dtype, shape: tensor.shape, parameters: tensor.parameters, location };
}

function sortedByName<T extends { name: string }>(items: T[]): T[] {
  return items.sort((a, b) => compareNames(a.name, b.name));
}

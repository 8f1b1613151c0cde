import type { ModelFormat } from './model-description.js';

/**
 * Which files are model entry files, by name: the formats aicert parses (docs/model-formats.md).
 * Kept apart from the parsers so that a listing can be sorted out by name without loading them.
 */
const ENTRY_SUFFIXES: ReadonlyArray<[string, ModelFormat]> = [
  ['.safetensors.index.json', 'safetensors-sharded'],
  ['.safetensors', 'safetensors'],
  ['.gguf', 'gguf'],
  ['.onnx', 'onnx'],
];

/** Formats whose entry file names other files that hold the model's bytes (shards, external data). */
export const REFERENCING_FORMATS: ReadonlySet<ModelFormat> = new Set(['safetensors-sharded', 'onnx']);

/** The format a file name announces, if it is a model entry file. */
export function modelFormatOf(name: string): ModelFormat | undefined {
  return ENTRY_SUFFIXES.find(([suffix]) => name.endsWith(suffix))?.[1];
}

/** Is a file of this name a model entry file that can name other files? */
export function mayReferToOtherFiles(name: string): boolean {
  const format = modelFormatOf(name);
  return format !== undefined && REFERENCING_FORMATS.has(format);
}

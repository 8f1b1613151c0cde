/** What `describeModel` reports: the tensors of each model found, with totals. */

export type ModelFormat = 'safetensors' | 'safetensors-sharded' | 'gguf' | 'onnx';

export interface TensorDescription {
  name: string;
  /** The format's own dtype name: F16, BF16, Q4_K (GGUF), FLOAT16 (ONNX), ... */
  dtype: string;
  /** As the format stores it (GGUF lists the innermost dimension first). */
  shape: number[];
  /** Element count. */
  parameters: number;
  /**
   * Where the tensor's bytes are: a file relative to the description's root and the absolute
   * byte range [start, end) in it; null when the format keeps them in typed protobuf fields
   * (small ONNX constants).
   */
  location: { file: string; start: number; end: number } | null;
}

/** A tensor as a single-file header lists it: its bytes are [start, end) of that file. */
export interface FileTensor extends Omit<TensorDescription, 'location'> {
  start: number;
  end: number;
}

export interface ModelComponent {
  format: ModelFormat;
  /** The file that was parsed (.safetensors, .safetensors.index.json, .gguf, .onnx), relative to the root. */
  entry: string;
  /** Every file holding the component's header or tensor bytes, relative to the root, sorted. */
  files: Array<{ name: string; size: number }>;
  /** safetensors `__metadata__`, index `metadata`, GGUF key/values, ONNX producer fields. */
  metadata: Record<string, string>;
  tensors: TensorDescription[];
}

export interface Totals {
  tensors: number;
  parameters: number;
  /** Bytes of tensor data (sum of byte ranges). */
  bytes: number;
}

export interface ModelDescription {
  /** Absolute directory that all file names are relative to. */
  root: string;
  components: ModelComponent[];
  totals: Totals & { byDtype: Record<string, Totals> };
}

export function totalsOf(components: readonly ModelComponent[]): ModelDescription['totals'] {
  const all: Totals = { tensors: 0, parameters: 0, bytes: 0 };
  const byDtype: Record<string, Totals> = {};
  for (const component of components) {
    for (const tensor of component.tensors) {
      const bytes = tensor.location ? tensor.location.end - tensor.location.start : 0;
      const dtypeTotals = byDtype[tensor.dtype] ?? { tensors: 0, parameters: 0, bytes: 0 };
      byDtype[tensor.dtype] = dtypeTotals;
      for (const totals of [all, dtypeTotals]) {
        totals.tensors++;
        totals.parameters += tensor.parameters;
        totals.bytes += bytes;
      }
    }
  }
  return { ...all, byDtype };
}

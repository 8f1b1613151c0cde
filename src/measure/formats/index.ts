/**
 * Model formats understood strictly (docs/model-formats.md): safetensors (single and sharded), GGUF headers,
 * ONNX external data; a typed description of a model's tensors; per-tensor digests.
 *
 *   const description = await describeModel('./llama');     // throws InputError on any violation
 *   const digests = await tensorDigests(description, pool);  // SHA-256 per tensor byte range
 */
export { describeModel, modelFormatOf } from './describe.js';
export type { DescribeOptions } from './describe.js';
export type { ModelComponent, ModelDescription, ModelFormat, TensorDescription, Totals } from './model-description.js';
export {
  readSafetensorsHeader,
  SAFETENSORS_DTYPE_BITS,
  SAFETENSORS_MAX_HEADER_BYTES,
  SAFETENSORS_MAX_TENSORS,
} from './safetensors.js';
export type { SafetensorsHeader, SafetensorsReadOptions, SafetensorsTensor } from './safetensors.js';
export { readSafetensorsIndex, SAFETENSORS_INDEX_MAX_BYTES } from './safetensors-index.js';
export type { SafetensorsShard, ShardedSafetensors } from './safetensors-index.js';
export { readGgufHeader, GGUF_MAX_HEADER_BYTES } from './gguf.js';
export type { GgufHeader, GgufReadOptions, GgufTensor } from './gguf.js';
export { readOnnxModel } from './onnx.js';
export type { OnnxModel, OnnxReadOptions, OnnxTensor } from './onnx.js';
export { tensorDigests, checkTensorDigests } from './tensor-digests.js';
export type { TensorCheck, TensorDigest } from './tensor-digests.js';

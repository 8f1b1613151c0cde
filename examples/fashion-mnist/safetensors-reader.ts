import { closeSync, openSync, readSync } from 'node:fs';
import { InputError } from '../../src/errors.js';
import { readSafetensorsHeader } from '../../src/measure/formats/safetensors.js';
import type { NamedTensor } from './safetensors-writer.js';

/** The example's models are about 200 KB; refuse anything absurdly larger before reading it. */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

/**
 * Reads every tensor of a safetensors file whose tensors are all F32. The header is checked by
 * aicert's strict parser (exact coverage of the data buffer, sizes matching shapes), so the byte
 * ranges read here are known to be in the file.
 */
export function readF32Tensors(path: string): NamedTensor[] {
  const header = readSafetensorsHeader(path);
  if (header.fileSize > MAX_FILE_BYTES) {
    throw new InputError('example.model-too-large', `${path} is ${header.fileSize} bytes, more than the ${MAX_FILE_BYTES}-byte limit`);
  }
  const fd = openSync(path, 'r');
  try {
    return header.tensors.map(({ name, dtype, shape, start, end }) => {
      if (dtype !== 'F32') throw new InputError('example.bad-model', `${path}: tensor "${name}" is ${dtype}, expected F32`);
      const bytes = Buffer.alloc(end - start);
      if (readSync(fd, bytes, 0, bytes.length, start) !== bytes.length) {
        throw new InputError('example.bad-model', `${path} changed while it was being read`);
      }
      const data = new Float32Array(bytes.length / 4);
      for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(4 * i);
      return { name, shape, data };
    });
  } finally {
    closeSync(fd);
  }
}

import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { InputError } from '../../errors.js';
import { withModelFile } from './open-model-file.js';
import { resolveReferencedFile } from './referenced-file.js';
import { JsonMemberReader } from './json-member-reader.js';
import { readSafetensorsHeader, SAFETENSORS_MAX_TENSORS, type SafetensorsHeader } from './safetensors.js';
import { isPlainObject } from '../../util/strict-json.js';

/**
 * A sharded safetensors model: `*.safetensors.index.json` = {metadata?, weight_map: {tensor →
 * shard file name}} beside the shards. Checked both ways: every shard named exists (a plain file
 * name in the index's directory), every mapped tensor is in the shard it is mapped to, and every
 * tensor of every shard is mapped (to that shard).
 */

/** Index files of the largest public models are a few MB. */
export const SAFETENSORS_INDEX_MAX_BYTES = 64 * 1024 * 1024;

export interface SafetensorsShard {
  /** File name as the index writes it. */
  name: string;
  path: string;
  header: SafetensorsHeader;
}

export interface ShardedSafetensors {
  /** Size of the index file. */
  fileSize: number;
  /** The index's `metadata` object with string and number values as strings (e.g. total_size). */
  metadata: Record<string, string>;
  /** In order of first appearance in the weight map. */
  shards: SafetensorsShard[];
}

function fail(code: string, path: string, message: string): InputError {
  return new InputError(`safetensors-index.${code}`, `${path}: ${message}`);
}

export function readSafetensorsIndex(indexPath: string, options: { allowSymlinks: boolean }): ShardedSafetensors {
  const { tensorToShard, metadata, fileSize } = readIndexJson(indexPath);
  if (tensorToShard.size === 0) throw fail('bad-weight-map', indexPath, '"weight_map" is empty');

  const directory = dirname(indexPath);
  const shards: SafetensorsShard[] = [];
  for (const name of new Set(tensorToShard.values())) {
    const file = resolveReferencedFile(directory, name, {
      format: 'safetensors-index',
      allowSymlinks: options.allowSymlinks,
      plainName: true,
    });
    shards.push({ name, path: file.path, header: readSafetensorsHeader(file.path) });
  }

  const mappedCount = new Map<string, number>();
  for (const shard of tensorToShard.values()) mappedCount.set(shard, (mappedCount.get(shard) ?? 0) + 1);
  for (const shard of shards) {
    const inShard = new Set(shard.header.tensors.map((t) => t.name));
    for (const tensor of inShard) {
      const mappedTo = tensorToShard.get(tensor);
      if (mappedTo === undefined) {
        throw fail('unmapped-tensor', indexPath, `tensor "${tensor}" of shard ${shard.name} is not in the weight map`);
      }
      if (mappedTo !== shard.name) {
        throw fail(
          'tensor-in-wrong-shard',
          indexPath,
          `tensor "${tensor}" is mapped to ${mappedTo} but is (also) stored in ${shard.name}`,
        );
      }
    }
    // Every tensor of the shard is mapped to it (above), so the map names more tensors for it
    // exactly when one is missing; only then is the map searched for which (one pass, not one per shard).
    if (mappedCount.get(shard.name) !== inShard.size) {
      for (const [tensor, mappedTo] of tensorToShard) {
        if (mappedTo === shard.name && !inShard.has(tensor)) {
          throw fail(
            'missing-tensor',
            indexPath,
            `tensor "${tensor}" is mapped to ${shard.name}, which does not hold it`,
          );
        }
      }
    }
  }
  return { fileSize, metadata: stringValues(metadata, indexPath), shards };
}

/** The weight map (tensor → shard name) and metadata, read member by member (json-member-reader.ts). */
function readIndexJson(indexPath: string): { tensorToShard: Map<string, string>; metadata: unknown; fileSize: number } {
  const bytes = withModelFile(indexPath, 'safetensors-index', ({ fd, size }) => {
    if (size > SAFETENSORS_INDEX_MAX_BYTES) {
      throw fail('too-large', indexPath, `the index is ${size} bytes; the limit is ${SAFETENSORS_INDEX_MAX_BYTES}`);
    }
    return readFileSync(fd);
  });
  const badWeightMap = () =>
    fail('bad-weight-map', indexPath, '"weight_map" must be an object mapping tensor names to shard file names');
  const reader = new JsonMemberReader(bytes, (problem, detail) =>
    fail(problem === 'duplicate-key' ? 'duplicate-key' : 'not-json', indexPath, `the index: ${detail}`),
  );
  const tensorToShard = new Map<string, string>();
  // One string per shard name, however many tensors name it.
  const shardNames = new Map<string, string>();
  let weightMap = false;
  let metadata: unknown;
  reader.readObject((key) => {
    if (key === 'weight_map') {
      weightMap = reader.readMembers((tensor) => {
        const shard = reader.value();
        if (typeof shard !== 'string') throw badWeightMap();
        if (tensorToShard.size >= SAFETENSORS_MAX_TENSORS) {
          throw fail('too-many-tensors', indexPath, `"weight_map" maps more than ${SAFETENSORS_MAX_TENSORS} tensors`);
        }
        tensorToShard.set(tensor, shardNames.get(shard) ?? shardNames.set(shard, shard).get(shard)!);
      });
      if (!weightMap) {
        reader.value(); // a syntax error in it is one, not a bad weight map
        throw badWeightMap();
      }
    } else if (key === 'metadata') {
      metadata = reader.value();
    } else {
      reader.value();
    }
  });
  if (!weightMap) throw badWeightMap();
  return { tensorToShard, metadata, fileSize: bytes.length };
}

function stringValues(metadata: unknown, indexPath: string): Record<string, string> {
  if (metadata === undefined) return {};
  if (!isPlainObject(metadata)) throw fail('bad-metadata', indexPath, '"metadata" must be an object');
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value === 'string' || typeof value === 'number') out[key] = String(value);
  }
  return out;
}

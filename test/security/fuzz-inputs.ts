/**
 * The inputs of the fuzz targets (fuzz-targets.ts): mutants of genuine seeds as bytes, as JSON
 * documents and as nested protobuf messages, and a runner that hands each case to a file parser.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { readProtobufFields } from '../../src/util/protobuf-wire.js';
import { mutatedBytes } from '../tpm/helpers.js';
import type { Json } from './tamper-corpus.js';

export const u16be = (n: number) => Buffer.from([n >> 8, n & 0xff]);
export const u32be = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
const LENGTH_BOMBS = [
  Buffer.alloc(2, 0xff),
  Buffer.alloc(4, 0xff),
  Buffer.alloc(8, 0xff),
  u32be(0x7fffffff),
  Buffer.from([0xff, 0xff, 0xff, 0x7f]),
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
  u16be(0x8000),
];

/**
 * Random bytes and mutants of the seeds: truncated, overwritten, spliced (helpers.ts), bits
 * flipped, a huge length written over any position, a slice duplicated.
 */
export function bytesFrom(seeds: Buffer[]): fc.Arbitrary<Buffer> {
  const seed = fc.constantFrom(...seeds);
  const flipped = seed.chain((s) =>
    fc.array(fc.tuple(fc.nat(Math.max(0, s.length - 1)), fc.nat(7)), { minLength: 1, maxLength: 3 }).map((flips) => {
      const out = Buffer.from(s);
      for (const [at, bit] of flips) if (at < out.length) out[at]! ^= 1 << bit;
      return out;
    }),
  );
  const bombed = seed.chain((s) =>
    fc.tuple(fc.nat(Math.max(0, s.length - 1)), fc.constantFrom(...LENGTH_BOMBS)).map(([at, bomb]) => {
      const out = Buffer.from(s);
      bomb.copy(out, at, 0, Math.min(bomb.length, out.length - at));
      return out;
    }),
  );
  const duplicated = seed.chain((s) =>
    fc.tuple(fc.nat(s.length), fc.nat(s.length)).map(([a, b]) => {
      const [from, to] = a < b ? [a, b] : [b, a];
      return Buffer.concat([s.subarray(0, to), s.subarray(from, to), s.subarray(to)]);
    }),
  );
  return fc.oneof(
    { weight: 4, arbitrary: mutatedBytes(seeds) },
    { weight: 2, arbitrary: flipped },
    { weight: 2, arbitrary: bombed },
    { weight: 1, arbitrary: duplicated },
  );
}

/** The seeds with one value replaced, deleted or nested (the whole document replaced at the root). */
export function editedJson(seeds: Json[]): fc.Arbitrary<Json> {
  const paths = (root: Json): Array<Array<string | number>> => {
    const out: Array<Array<string | number>> = [];
    const walk = (node: Json, path: Array<string | number>) => {
      out.push(path);
      if (node && typeof node === 'object')
        for (const [k, v] of Array.isArray(node) ? node.map((v, i) => [i, v] as const) : Object.entries(node))
          walk(v, [...path, k]);
    };
    walk(root, []);
    return out;
  };
  const replacement = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
    fc.constantFrom<Json>(null, -1, 0, 1e308, -0, 2 ** 53, 2 ** 64, 1.5, '', 'x'.repeat(1000), [], {}, [
      [[[[[[[[[[]]]]]]]]]],
    ]),
  );
  return fc.constantFrom(...seeds).chain((seed) =>
    fc.tuple(fc.constantFrom(...paths(seed)), fc.option(replacement, { nil: undefined })).map(([path, value]) => {
      if (path.length === 0) return value ?? null;
      const copy = structuredClone(seed);
      const parent = path.slice(0, -1).reduce<Json>((n, k) => (n as Record<string | number, Json>)[k]!, copy) as Record<
        string | number,
        Json
      >;
      const key = path.at(-1)!;
      if (value === undefined) {
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete parent[key];
      } else parent[key] = value;
      return copy;
    }),
  );
}

/** JSON documents: the seeds with one value replaced, deleted or nested, as text; plus byte mutants of the text. */
export function jsonFrom(seeds: Json[]): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 3, arbitrary: editedJson(seeds).map((doc) => Buffer.from(JSON.stringify(doc, null, 1))) },
    { weight: 2, arbitrary: bytesFrom(seeds.map((s) => Buffer.from(JSON.stringify(s, null, 1)))) },
    { weight: 1, arbitrary: fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
  );
}

/**
 * Protobuf messages in which one length-delimited field up to `depth` levels down is replaced by a
 * mutant of its bytes and every enclosing length re-encoded, so a change of length reaches the
 * inner parser (a quote, a PCR map entry, the boot log) instead of breaking the outer framing.
 */
export function nestedProtobufFrom(seeds: Buffer[], depth = 4): fc.Arbitrary<Buffer> {
  const path = (message: Buffer, choices: number[]) => {
    const steps: Array<{ parent: Buffer; at: number; length: number }> = [];
    let current = message;
    for (const choice of choices) {
      let values: Buffer[];
      try {
        values = readProtobufFields(current, 'seed').flatMap((f) => (f.wireType === 2 ? [f.value] : []));
      } catch {
        break; // a leaf that is not itself a message
      }
      const value = values[choice % Math.max(1, values.length)];
      if (!value) break;
      steps.push({ parent: current, at: value.byteOffset - current.byteOffset, length: value.length });
      current = value;
    }
    return { steps, leaf: current };
  };
  const varint = (n: number) => {
    const out: number[] = [];
    for (let v = n; ; v = Math.floor(v / 128)) {
      if (v < 128) return Buffer.from([...out, v]);
      out.push((v % 128) | 0x80);
    }
  };
  return fc
    .tuple(fc.constantFrom(...seeds), fc.array(fc.nat(), { minLength: 1, maxLength: depth }))
    .chain(([seed, choices]) => {
      const { steps, leaf } = path(seed, choices);
      return bytesFrom([leaf]).map((mutant) =>
        steps.reduceRight((inner, { parent, at, length }) => {
          // Real messages encode lengths minimally, so the length varint is the bytes before the value.
          const lengthAt = at - varint(length).length;
          return Buffer.concat([
            parent.subarray(0, lengthAt),
            varint(inner.length),
            inner,
            parent.subarray(at + length),
          ]);
        }, mutant),
      );
    });
}

/** Writes each case to one scratch file, so file-based parsers read it from disk as they would a model. */
export function fileRunner(dir: string, name: string, parse: (path: string) => unknown): (bytes: Buffer) => unknown {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  return (bytes: Buffer) => {
    writeFileSync(path, bytes);
    return parse(path);
  };
}

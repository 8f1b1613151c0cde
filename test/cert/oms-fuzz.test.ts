/**
 * Property tests of the parsers that read untrusted OMS bytes: random and mutated inputs end in
 * a result or an AicertError (a reason for the user), never another exception or a hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { AicertError } from '../../src/errors.js';
import { parseOmsBundle } from '../../src/cert/oms/bundle.js';
import { parseOmsStatement } from '../../src/cert/oms/statement.js';
import { verifyOmsBundle } from '../../src/cert/oms/verify.js';
import { caTrust, keyTrust, REFERENCE, REFERENCE_VECTORS } from './oms-fixtures.js';

const bundles = REFERENCE_VECTORS.map((v) => ({ v, bytes: readFileSync(join(REFERENCE, v.dir, 'model.sig')) }));

/** Runs `f`; anything thrown must be an AicertError. Returns whether `f` succeeded. */
function onlyAicertErrors(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (err) {
    assert.ok(err instanceof AicertError, `unexpected ${String(err)}`);
    return false;
  }
}

/** Byte-level mutations: overwrite, insert or delete a few bytes at random places. */
const mutation = fc.array(
  fc.record({
    at: fc.nat(),
    kind: fc.constantFrom('set', 'insert', 'delete'),
    value: fc.integer({ min: 0, max: 255 }),
  }),
  { minLength: 1, maxLength: 4 },
);

function mutate(bytes: Buffer, edits: Array<{ at: number; kind: string; value: number }>): Buffer {
  let out = Buffer.from(bytes);
  for (const { at, kind, value } of edits) {
    const i = at % (out.length + 1);
    if (kind === 'set' && i < out.length) out[i] = value;
    else if (kind === 'insert') out = Buffer.concat([out.subarray(0, i), Buffer.from([value]), out.subarray(i)]);
    else if (kind === 'delete') out = Buffer.concat([out.subarray(0, i), out.subarray(i + 1)]);
  }
  return out;
}

test('property: parseOmsBundle on random bytes throws only AicertErrors', () => {
  assertProperty(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      onlyAicertErrors(() => parseOmsBundle(bytes));
    }),
    { numRuns: 1000 },
  );
});

test('property: mutated reference bundles are parsed or refused with an AicertError, and never verify when a signed part changed', () => {
  assertProperty(
    fc.property(fc.constantFrom(...bundles), mutation, ({ v, bytes }, edits) => {
      const mutated = mutate(bytes, edits);
      onlyAicertErrors(() => parseOmsBundle(mutated));
      const verified = onlyAicertErrors(() => verifyOmsBundle(mutated, v.trust));
      if (verified) {
        // Only edits that leave the signed content intact (JSON whitespace, key hint case...) may verify.
        const original = JSON.parse(bytes.toString());
        const edited = JSON.parse(mutated.toString());
        assert.equal(edited.dsseEnvelope.payload.replace(/=+$/, ''), original.dsseEnvelope.payload.replace(/=+$/, ''));
        assert.equal(
          edited.dsseEnvelope.signatures[0].sig.replace(/=+$/, ''),
          original.dsseEnvelope.signatures[0].sig.replace(/=+$/, ''),
        );
      }
    }),
    { numRuns: 600 },
  );
});

test('property: JSON-level edits of a bundle (any value at any place) end in a result or an AicertError', () => {
  const original = JSON.parse(bundles[2]!.bytes.toString());
  const paths: string[][] = [];
  const walk = (value: unknown, path: string[]) => {
    paths.push(path);
    if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
  };
  walk(original, []);
  assertProperty(
    fc.property(fc.constantFrom(...paths), fc.jsonValue(), fc.boolean(), (path, value, remove) => {
      const copy = structuredClone(original);
      let target: Record<string, unknown> = copy;
      for (const key of path.slice(0, -1)) target = target[key] as Record<string, unknown>;
      const last = path[path.length - 1];
      const edited = last === undefined ? value : copy;
      if (last !== undefined) {
        if (remove) delete target[last];
        else target[last] = value;
      }
      const bytes = Buffer.from(JSON.stringify(edited) ?? '');
      onlyAicertErrors(() => verifyOmsBundle(bytes, keyTrust));
      onlyAicertErrors(() => verifyOmsBundle(bytes, caTrust));
    }),
    { numRuns: 600 },
  );
});

test('property: parseOmsStatement on mutated and random payloads throws only AicertErrors', () => {
  const payloads = bundles.map(({ bytes }) => parseOmsBundle(bytes).envelope.payload);
  assertProperty(
    fc.property(fc.constantFrom(...payloads), mutation, (payload, edits) => {
      onlyAicertErrors(() => parseOmsStatement(mutate(payload, edits)));
    }),
    { numRuns: 1000 },
  );
  assertProperty(
    fc.property(fc.jsonValue(), (value) => {
      onlyAicertErrors(() => parseOmsStatement(Buffer.from(JSON.stringify(value) ?? 'null')));
    }),
    { numRuns: 500 },
  );
});

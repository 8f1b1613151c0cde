/** Assertions shared by the model-format parser tests: typed refusals, and no crash on any bytes. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { assertProperty } from '../../util/property.js';
import { AicertError, InputError } from '../../../src/errors.js';

/** `fn` throws an AicertError with this code (and, if given, a message matching `messagePart`). */
export function throwsCode(fn: () => unknown, code: string, messagePart?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AicertError, `expected an AicertError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (messagePart) assert.match(err.message, messagePart);
    return true;
  });
}

/** Writes bytes to `path` and parses them with `read`, which may refuse them only with an InputError. */
export function parsesOrRefuses(path: string, read: (path: string) => unknown): (bytes: Uint8Array) => void {
  return (bytes) => {
    writeFileSync(path, bytes);
    try {
      read(path);
    } catch (err) {
      assert.ok(err instanceof InputError, `not an InputError: ${String(err)}`);
    }
  };
}

/** Property: `parse` holds for `good` with one to four of its bytes set to random values. */
export function assertMutationsOf(good: Uint8Array, parse: (bytes: Uint8Array) => void, numRuns: number): void {
  assertProperty(
    fc.property(
      fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      (mutations) => {
        const bytes = Buffer.from(good);
        for (const [at, value] of mutations) bytes[at] = value;
        parse(bytes);
      },
    ),
    { numRuns },
  );
}

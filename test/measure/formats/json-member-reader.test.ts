import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assertProperty } from '../../util/property.js';
import { JsonMemberReader, type JsonValue } from '../../../src/measure/formats/json-member-reader.js';
import { parseJsonObject, type JsonProblem } from '../../../src/util/strict-json.js';

/**
 * The member-by-member reader of model headers must accept exactly what the strict reader it
 * replaces accepted (JSON.parse, an object at the top, no repeated key, valid UTF-8) and read
 * the same values, except that it refuses nesting deeper than 16 levels, which no model header
 * has. Property cases are reproducible: AICERT_TEST_SEED=N.
 */
const seed = Number(process.env.AICERT_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`# json-member-reader property seed ${seed} (AICERT_TEST_SEED=${seed} reproduces)`);

class Refused extends Error {
  constructor(readonly problem: JsonProblem) {
    super(problem);
  }
}
const refuse = (problem: JsonProblem) => new Refused(problem);

type Outcome = { value: JsonValue } | { problem: JsonProblem };

function viaReader(bytes: Buffer): Outcome {
  try {
    const reader = new JsonMemberReader(bytes, refuse);
    const object: Record<string, JsonValue> = {};
    reader.readObject((key) =>
      Object.defineProperty(object, key, {
        value: reader.value(),
        enumerable: true,
        writable: true,
        configurable: true,
      }),
    );
    return { value: object };
  } catch (err) {
    if (err instanceof Refused) return { problem: err.problem };
    throw err;
  }
}

function viaReference(bytes: Buffer): Outcome {
  try {
    return { value: parseJsonObject(bytes, refuse) as JsonValue };
  } catch (err) {
    if (err instanceof Refused) return { problem: err.problem };
    throw err;
  }
}

function agree(bytes: Buffer): void {
  const mine = viaReader(bytes);
  const reference = viaReference(bytes);
  const text = JSON.stringify(bytes.toString('latin1'));
  assert.equal(
    'value' in mine,
    'value' in reference,
    `${text}: reader ${JSON.stringify(mine)}, reference ${JSON.stringify(reference)}`,
  );
  if ('value' in mine && 'value' in reference) assert.deepStrictEqual(mine.value, reference.value, text);
}

describe('JsonMemberReader agrees with the strict JSON reader', () => {
  const cases = [
    '{}',
    ' {} ',
    '{"a":1}',
    '{"a":-0}',
    '{"a":1e400}',
    '{"a":0.5e-3}',
    '{"a":1E+2}',
    '{"a":-12.5e10}',
    '{"a":01}',
    '{"a":1.}',
    '{"a":.5}',
    '{"a":+1}',
    '{"a":- 1}',
    '{"a":1e}',
    '{"a":--1}',
    '{"a":0x10}',
    '{"a":"\\u0041"}',
    '{"a":"\\ud800"}',
    '{"a":"\\x"}',
    '{"a":"\\/"}',
    '{"a":"tab\there"}',
    '{"a":"nl\nhere"}',
    '{"a":1,"\\u0061":2}',
    '{"a":{"b":1,"b":2}}',
    '{"a":[{"c":1,"c":1}]}',
    '{"__proto__":1}',
    '{"a":{"__proto__":{"x":1}}}',
    '{"a":1}x',
    '{"a":1},',
    '{"a":1',
    '{"a" 1}',
    '{"a":1,}',
    '{,}',
    '{"a":[1,]}',
    '{"a":[,1]}',
    '[]',
    '"s"',
    '1',
    '',
    '{"a":true,"b":false,"c":null}',
    '{"a":tru}',
    '{"a":nul}',
    '{"a":True}',
    '{"a":[]}',
    '{"a":[[], {}, [[]]]}',
    '{\t"a"\r\n:\n1 }',
    '{"a":"é"}',
    '{"é":"\u{1F600}"}',
  ];
  for (const text of cases) it(`${JSON.stringify(text)}`, () => agree(Buffer.from(text, 'utf8')));

  it('invalid UTF-8 inside and outside strings: refused as not UTF-8', () => {
    for (const bytes of [
      [0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d],
      [0x7b, 0xc3, 0x7d],
      [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d],
    ]) {
      const mine = viaReader(Buffer.from(bytes));
      assert.deepEqual(mine, { problem: 'not-utf8' });
      agree(Buffer.from(bytes));
    }
  });

  it('nesting: 16 levels below the top are read, 17 refused (the reference reader would build them)', () => {
    const nested = (depth: number) => Buffer.from(`{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`);
    assert.ok('value' in viaReader(nested(16)));
    assert.deepEqual(viaReader(nested(17)), { problem: 'not-json' });
    assert.deepEqual(viaReader(nested(100_000)), { problem: 'not-json' });
  });

  it('random JSON objects, serialized with random whitespace (property)', () => {
    const whitespace = fc.constantFrom('', ' ', '\n', '\t', '\r\n  ');
    assertProperty(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 8 })),
        fc.array(whitespace, { minLength: 1, maxLength: 8 }),
        (object, spaces) => {
          // JSON.stringify's indentation puts whitespace between tokens, never inside them.
          const text = JSON.stringify(object, null, spaces.join('').replace(/[^ ]/g, ' ') || undefined);
          agree(Buffer.from(`${spaces[0]}${text}${spaces.at(-1)}`, 'utf8'));
        },
      ),
      { seed, numRuns: 500 },
    );
  });

  it('JSON texts with one to three bytes replaced (property)', () => {
    const alphabet = fc.constantFrom(
      ...'{}[]":,\\ue0-+.1aE \n'.split('').map((c) => c.charCodeAt(0)),
      0x00,
      0x1f,
      0x80,
      0xc3,
      0xff,
    );
    const sample = Buffer.from(
      JSON.stringify({
        a: [1, -2.5e3, 'x\\y', { b: null, c: [true, false] }],
        'd\u00e9': { e: '', f: 0 },
        g: '\u0001',
      }),
    );
    assertProperty(
      fc.property(fc.array(fc.tuple(fc.nat(sample.length - 1), alphabet), { minLength: 1, maxLength: 3 }), (edits) => {
        const bytes = Buffer.from(sample);
        for (const [at, byte] of edits) bytes[at] = byte;
        agree(bytes);
      }),
      { seed, numRuns: 3000 },
    );
  });
});

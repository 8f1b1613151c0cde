/**
 * The structural JSON validator (json-syntax.ts) accepts exactly what the serial reference
 * accepts: UTF-8 that a fatal TextDecoder decodes (dropping a leading byte order mark) and that
 * JSON.parse then parses.
 */
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isJsonText } from '../../../src/measure/dataset/json-syntax.js';
import { assertProperty } from '../../util/property.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The serial rule (records.ts): decodes as UTF-8 and parses as JSON. */
function referenceAccepts(bytes: Buffer): boolean {
  try {
    JSON.parse(utf8.decode(bytes));
    return true;
  } catch {
    return false;
  }
}

function validatorAccepts(bytes: Buffer): boolean {
  return isUtf8(bytes) && isJsonText(bytes, 0, bytes.length);
}

/** Bytes that matter to JSON's grammar, to splice into valid texts. */
const SPLICE = [
  '"',
  '\\',
  '\\u',
  '\\x',
  '0',
  '-',
  '.',
  'e',
  '+',
  ',',
  ':',
  '[',
  ']',
  '{',
  '}',
  ' ',
  '\t',
  '\r',
  '\x00',
  '\x1f',
  'tru',
  'nul',
  '\u2028',
  '\ufeff',
];

describe('isJsonText', () => {
  it('accepts every JSON text JSON.stringify writes, with whitespace around (property)', () => {
    assertProperty(
      fc.property(fc.jsonValue(), fc.constantFrom('', ' ', '\t', '\r', ' \r\t'), (value, space) => {
        const text = Buffer.from(`${space}${JSON.stringify(value, null, space.length > 1 ? 1 : undefined)}${space}`);
        assert.equal(validatorAccepts(text), true, text.toString());
      }),
    );
  });

  it('agrees with JSON.parse on mutated texts (property)', () => {
    assertProperty(
      fc.property(
        fc.jsonValue({ maxDepth: 3 }),
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.constantFrom(...SPLICE)), { minLength: 1, maxLength: 3 }),
        (value, edits) => {
          let text = Buffer.from(JSON.stringify(value));
          for (const [at, cut, insert] of edits) {
            const position = at % (text.length + 1);
            const removed = Math.min(cut % 3, text.length - position);
            text = Buffer.concat([text.subarray(0, position), Buffer.from(insert), text.subarray(position + removed)]);
          }
          assert.equal(validatorAccepts(text), referenceAccepts(text), JSON.stringify(text.toString('latin1')));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('agrees with JSON.parse on short strings over the grammar bytes and invalid UTF-8 (property)', () => {
    const piece = fc.oneof(fc.constantFrom(...SPLICE, '1', 'true', 'null', '"a"', '\xff', '\xc3'), fc.string());
    assertProperty(
      fc.property(fc.array(piece, { maxLength: 8 }), (pieces) => {
        const text = Buffer.concat(
          pieces.map((p) => (p === '\xff' || p === '\xc3' ? Buffer.from([p.charCodeAt(0)]) : Buffer.from(p))),
        );
        assert.equal(validatorAccepts(text), referenceAccepts(text), JSON.stringify(text.toString('latin1')));
      }),
      { numRuns: 3000 },
    );
  });

  it('examples: numbers, escapes, literals, nesting, a leading byte order mark', () => {
    const cases: Array<[string, boolean]> = [
      ['{"a":[1,-0.5e+3,true,false,null,"\\u00e9\\n"]}', true],
      ['\ufeff{"bom":1}', true],
      ['{"a":1,}', false],
      ['[1,]', false],
      ['01', false],
      ['1.', false],
      ['.5', false],
      ['1e', false],
      ['"\t"', false],
      ['"\\u12"', false],
      ['{"a" 1}', false],
      ['[1 2]', false],
      ['{} {}', false],
      ['', false],
      ['[[[[[[[[[[]]]]]]]]]]', true],
      ['[[[[[[[[[[]]]]]]]]]', false],
    ];
    for (const [text, expected] of cases) {
      assert.equal(validatorAccepts(Buffer.from(text)), expected, text);
      assert.equal(referenceAccepts(Buffer.from(text)), expected, `reference: ${text}`);
    }
  });

  it('deep nesting needs no recursion: 1,000,000 brackets', () => {
    const depth = 1_000_000;
    const text = Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`);
    assert.equal(isJsonText(text, 0, text.length), true);
    assert.equal(isJsonText(text, 0, text.length - 1), false);
  });
});

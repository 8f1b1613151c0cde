import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import type { AicertError } from '../../src/errors.js';
import { parseStatement, serializeStatement, STATEMENT_V1_TYPE, type Statement } from '../../src/cert/intoto.js';

const predicate = z.strictObject({ n: z.number() });
const expected = { predicateType: 'https://example.com/p/v1', predicate };

const good: Statement<{ n: number }> = {
  _type: STATEMENT_V1_TYPE,
  subject: [{ name: 'model', digest: { sha256: 'ab'.repeat(32) } }],
  predicateType: 'https://example.com/p/v1',
  predicate: { n: 1 },
};

const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

test('a Statement v1 round-trips through serializeStatement and parseStatement', () => {
  assert.deepEqual(parseStatement(serializeStatement(good), expected, 'x'), good);
});

test('parseStatement names what is wrong: JSON, statement shape, predicate type, predicate', () => {
  const cases: Array<[Uint8Array, string]> = [
    [Buffer.from('{'), 'x.not-json'],
    [Buffer.from([0xff, 0xfe]), 'x.not-json'],
    [bytes({ ...good, _type: 'https://in-toto.io/Statement/v0.1' }), 'x.shape'],
    [bytes({ ...good, extra: true }), 'x.shape'],
    [bytes({ ...good, subject: [] }), 'x.shape'],
    [bytes({ ...good, subject: [{ name: 'no digest, uri or content' }] }), 'x.shape'],
    [bytes({ ...good, subject: [{ name: 'm', digest: {} }] }), 'x.shape'],
    [bytes({ ...good, subject: [{ name: 'm', digest: { sha256: 'ab' }, unknownField: 1 }] }), 'x.shape'],
    [bytes({ ...good, predicateType: 'https://example.com/other/v1' }), 'x.predicate-type'],
    [bytes({ ...good, predicate: { n: 'one' } }), 'x.predicate'],
    [bytes({ ...good, predicate: undefined }), 'x.predicate'],
  ];
  for (const [input, code] of cases) {
    assert.throws(
      () => parseStatement(input, expected, 'x'),
      (err: AicertError) => err.code === code,
      `${code}: ${Buffer.from(input).toString()}`,
    );
  }
});

test('resource descriptors may name a resource by uri or content instead of digest', () => {
  const byUri = { ...good, subject: [{ uri: 'https://example.com/m' }, { content: 'aGk=' }] };
  assert.equal(parseStatement(bytes(byUri), expected, 'x').subject.length, 2);
});

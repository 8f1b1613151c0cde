import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assertProperty } from './property.js';
import { findDuplicateKey, parseJsonObject } from '../../src/util/strict-json.js';

const fail = (problem: string) => new Error(problem);
const problemOf = (text: string | Buffer) => {
  try {
    parseJsonObject(typeof text === 'string' ? Buffer.from(text) : text, fail);
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  }
};

describe('strict JSON objects', () => {
  it('find keys repeated in one object, at any depth, through escapes; not across objects', () => {
    assert.equal(findDuplicateKey('{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}'), undefined);
    assert.equal(findDuplicateKey('{"a":1,"b":2,"a":3}'), 'a');
    assert.equal(findDuplicateKey('{"x":{"k":1,"k":2}}'), 'k');
    assert.equal(findDuplicateKey('{"x":[1,{"k":"}","k":"{"}]}'), 'k');
    assert.equal(findDuplicateKey('{"A":1,"\\u0041":2}'), 'A');
    assert.equal(findDuplicateKey('{"q\\"":1,"q\\"":2}'), 'q"');
    assert.equal(findDuplicateKey('{"v":"a","w":"a"}'), undefined); // equal values are not keys
  });

  it('never report a duplicate in serialized JSON, and always find one spliced in (property)', () => {
    assertProperty(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue(), { minKeys: 1 }), (object) => {
        const text = JSON.stringify(object);
        assert.equal(findDuplicateKey(text), undefined);
        const key = Object.keys(object)[0]!;
        const spliced = `${text.slice(0, -1)},${JSON.stringify(key)}:null}`;
        assert.equal(findDuplicateKey(spliced), key);
      }),
      { numRuns: 300 },
    );
  });

  it('classify what is wrong: UTF-8, JSON, top-level object, duplicates', () => {
    assert.equal(problemOf('{"a": 1}'), 'ok');
    assert.equal(problemOf(Buffer.from([0x7b, 0xff, 0x7d])), 'not-utf8');
    assert.equal(problemOf('{"a": '), 'not-json');
    assert.equal(problemOf('[1]'), 'not-object');
    assert.equal(problemOf('null'), 'not-object');
    assert.equal(problemOf('{"a":1,"a":1}'), 'duplicate-key');
  });
});

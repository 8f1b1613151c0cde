import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { kdfa, kdfe } from '../../src/tpm/kdf.js';

const vectors = (file: string) =>
  JSON.parse(
    readFileSync(new URL(`../../../test/tpm/fixtures/go-tpm-vectors/${file}`, import.meta.url), 'utf8'),
  ) as Array<Record<string, string | number>>;
const hex = (s: unknown) => Buffer.from(String(s), 'hex');

test('kdfa reproduces every go-tpm KDFa vector (SHA-1/256/384/512, odd bit lengths)', () => {
  const all = vectors('kdfa.json');
  assert.ok(all.length >= 100);
  for (const v of all) {
    const out = kdfa(Number(v.HashAlg), hex(v.Key), String(v.Label), hex(v.ContextU), hex(v.ContextV), Number(v.Bits));
    assert.equal(out.toString('hex'), v.Result, String(v.Name));
  }
});

test('kdfe reproduces every go-tpm KDFe vector', () => {
  const all = vectors('kdfe.json');
  assert.ok(all.length >= 100);
  for (const v of all) {
    const out = kdfe(Number(v.HashAlg), hex(v.Z), String(v.Label), hex(v.ContextU), hex(v.ContextV), Number(v.Bits));
    assert.equal(out.toString('hex'), v.Result, String(v.Name));
  }
});

test('KDFs refuse unknown hashes and absurd output lengths', () => {
  assert.throws(() => kdfa(0x0012, Buffer.alloc(1), 'X', Buffer.alloc(0), Buffer.alloc(0), 128), RangeError);
  assert.throws(() => kdfa(0x000b, Buffer.alloc(1), 'X', Buffer.alloc(0), Buffer.alloc(0), -8), RangeError);
  assert.throws(() => kdfe(0x000b, Buffer.alloc(1), 'X', Buffer.alloc(0), Buffer.alloc(0), 2 ** 31), RangeError);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, verify as cryptoVerify } from 'node:crypto';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { AicertError } from '../../src/errors.js';
import { decodeBase64Strict, encodeBase64 } from '../../src/util/base64.js';
import {
  dsseEnvelopeToJson,
  pae,
  parseDsseEnvelope,
  signDsse,
  verifyDsseSignature,
  type DsseEnvelope,
} from '../../src/cert/dsse.js';

test('PAE matches the DSSE specification golden vector', () => {
  assert.equal(
    pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString('latin1'),
    'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
  );
});

test('PAE counts bytes, not characters, and keeps binary payloads intact', () => {
  const payload = Buffer.from([0x00, 0xff, 0x20, 0x0a]);
  const encoded = pae('tÿpe', payload);
  assert.deepEqual(encoded, Buffer.concat([Buffer.from('DSSEv1 5 tÿpe 4 ', 'utf8'), payload]));
  assert.equal(pae('', Buffer.alloc(0)).toString(), 'DSSEv1 0  0 ');
});

const keyPairs = {
  'P-256': generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  'P-384': generateKeyPairSync('ec', { namedCurve: 'P-384' }),
  'P-521': generateKeyPairSync('ec', { namedCurve: 'P-521' }),
  Ed25519: generateKeyPairSync('ed25519'),
};

for (const [name, pair] of Object.entries(keyPairs)) {
  test(`${name}: a signed envelope verifies, and fails after any change to type, payload or signature`, () => {
    const envelope = signDsse('application/vnd.in-toto+json', Buffer.from('{"a":1}'), [
      { privateKey: pair.privateKey },
    ]);
    const [signature] = envelope.signatures;
    assert.ok(signature);
    assert.equal(verifyDsseSignature(envelope, signature, pair.publicKey), true);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    assert.equal(
      verifyDsseSignature(envelope, signature, name === 'P-256' ? other : keyPairs['P-256'].publicKey),
      false,
    );
    assert.equal(
      verifyDsseSignature({ ...envelope, payloadType: 'application/json' }, signature, pair.publicKey),
      false,
    );
    assert.equal(
      verifyDsseSignature({ ...envelope, payload: Buffer.from('{"a":2}') }, signature, pair.publicKey),
      false,
    );
    for (let i = 0; i < signature.sig.length; i++) {
      const sig: Buffer = Buffer.from(signature.sig);
      sig[i]! ^= 0x01;
      assert.equal(verifyDsseSignature(envelope, { keyid: '', sig }, pair.publicKey), false, `byte ${i} flipped`);
    }
    // Non-canonical encodings of the same ECDSA signature are refused (DER only, no trailing bytes).
    assert.equal(
      verifyDsseSignature(
        envelope,
        { keyid: '', sig: Buffer.concat([signature.sig, Buffer.from([0])]) },
        pair.publicKey,
      ),
      false,
    );
  });
}

test('ECDSA signatures are DER over the SHA-2 digest that matches the curve', () => {
  for (const [curve, digest, wrong] of [
    ['P-256', 'sha256', 'sha384'],
    ['P-384', 'sha384', 'sha256'],
    ['P-521', 'sha512', 'sha256'],
  ] as const) {
    const { privateKey, publicKey } = keyPairs[curve];
    const sig = signDsse('t', Buffer.from('x'), [{ privateKey }]).signatures[0]!.sig;
    assert.equal(sig[0], 0x30, 'a DER SEQUENCE');
    const message = pae('t', Buffer.from('x'));
    assert.equal(cryptoVerify(digest, message, { key: publicKey, dsaEncoding: 'der' }, sig), true, curve);
    assert.equal(cryptoVerify(wrong, message, { key: publicKey, dsaEncoding: 'der' }, sig), false, curve);
  }
});

test('envelope JSON round-trips and keyid null (model_signing < 1.1) is read as empty', () => {
  const envelope = signDsse('t', Buffer.from('payload'), [{ privateKey: keyPairs['P-256'].privateKey, keyid: 'k1' }]);
  const json = dsseEnvelopeToJson(envelope);
  assert.deepEqual(parseDsseEnvelope(json), envelope);
  const legacy = { ...json, signatures: [{ sig: json.signatures[0]!.sig, keyid: null }] };
  assert.equal(parseDsseEnvelope(legacy).signatures[0]!.keyid, '');
});

test('parseDsseEnvelope refuses unknown fields, missing fields and lax base64 with a dsse/base64 code', () => {
  const good = dsseEnvelopeToJson(signDsse('t', Buffer.from('p'), [{ privateKey: keyPairs['P-256'].privateKey }]));
  const cases: Array<[unknown, string]> = [
    [{ ...good, extra: 1 }, 'dsse.shape'],
    [{ ...good, signatures: [] }, 'dsse.shape'],
    [{ ...good, signatures: [{ sig: good.signatures[0]!.sig, other: 'x' }] }, 'dsse.shape'],
    [{ payloadType: 't', signatures: good.signatures }, 'dsse.shape'],
    [{ ...good, payload: `${good.payload}\n` }, 'base64.invalid'],
    [{ ...good, signatures: [{ sig: 'MEUC IQ==' }] }, 'base64.invalid'],
    [[], 'dsse.shape'],
  ];
  // 'cA' is unpadded standard-looking base64 of "p", valid in the URL-safe reading: accepted.
  assert.deepEqual(parseDsseEnvelope({ ...good, payload: 'cA' }).payload, Buffer.from('p'));
  for (const [json, code] of cases) {
    assert.throws(
      () => parseDsseEnvelope(json),
      (err: AicertError) => err.code === code,
      JSON.stringify(json),
    );
  }
});

test('property: parseDsseEnvelope only ever returns or throws an AicertError', () => {
  const envelope: DsseEnvelope = signDsse('t', Buffer.from('p'), [{ privateKey: keyPairs['P-256'].privateKey }]);
  const base = dsseEnvelopeToJson(envelope);
  assertProperty(
    fc.property(
      fc.oneof(
        fc.anything(),
        fc.record({ payload: fc.string(), payloadType: fc.string(), signatures: fc.anything() }),
        fc.constant(base),
      ),
      (json) => {
        try {
          parseDsseEnvelope(json);
        } catch (err) {
          assert.ok(err instanceof AicertError, String(err));
        }
      },
    ),
    { numRuns: 2000 },
  );
});

test('base64: standard and URL-safe (padded or not) decode; any other text is refused', () => {
  assertProperty(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const standard = encodeBase64(bytes);
      const url = Buffer.from(bytes).toString('base64url');
      assert.deepEqual(decodeBase64Strict(standard, 'x'), Buffer.from(bytes));
      assert.deepEqual(decodeBase64Strict(url, 'x'), Buffer.from(bytes));
      assert.deepEqual(decodeBase64Strict(url + '='.repeat((4 - (url.length % 4)) % 4), 'x'), Buffer.from(bytes));
      if (bytes.length % 3 !== 0) {
        // Setting an unused low bit of the last character changes no decoded byte: must be refused.
        const unpadded = standard.replace(/=+$/, '');
        const last = unpadded[unpadded.length - 1]!;
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
        const stray = alphabet[alphabet.indexOf(last) | 1]!;
        const mutated = unpadded.slice(0, -1) + stray + standard.slice(unpadded.length);
        assert.throws(() => decodeBase64Strict(mutated, 'x'), /canonical/);
      }
    }),
    { numRuns: 500 },
  );
  for (const bad of ['QQ=', 'QQ===', 'Q', 'QQ==QQ==', 'Q Q=', 'QQ==\n', 'a+b-', 'ab/_', '====', 'QUJD*']) {
    assert.throws(
      () => decodeBase64Strict(bad, 'x'),
      (err: AicertError) => err.code === 'base64.invalid',
      bad,
    );
  }
  // URL-safe may omit padding; standard may not.
  assert.deepEqual(decodeBase64Strict('-_8', 'x'), Buffer.from([0xfb, 0xff]));
  assert.throws(() => decodeBase64Strict('+/8', 'x'), /padding/);
});

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  checkReceiptSignature,
  encodeReceipt,
  parseReceipt,
  receiptJcs,
  signReceipt,
  type UnsignedReceipt,
} from '../../src/serve/receipt.js';
import { canonicalize } from '../../src/util/jcs.js';
import { assertProperty } from '../util/property.js';

const hex = (bytes: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));
const unsignedReceipt: fc.Arbitrary<UnsignedReceipt> = fc.record({
  v: fc.constant(1 as const),
  sessionId: hex(16),
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  time: fc.string({ maxLength: 64, unit: 'grapheme' }),
  // Any method and target a client may send, quotes, escapes and lone surrogates included.
  request: fc.record({
    method: fc.string({ maxLength: 32, unit: 'binary' }),
    target: fc.string({ maxLength: 200, unit: 'binary' }),
    sha256: hex(32),
  }),
  response: fc.record({ status: fc.integer({ min: 100, max: 599 }), sha256: hex(32) }),
});

describe('receipts', () => {
  it('receiptJcs writes the same bytes as the general RFC 8785 canonicalize, with and without a signature', () => {
    assertProperty(
      fc.property(unsignedReceipt, fc.base64String({ minLength: 88, maxLength: 88 }), (r, signature) => {
        assert.equal(receiptJcs(r), canonicalize(r));
        assert.equal(receiptJcs({ ...r, signature }), canonicalize({ ...r, signature }));
      }),
      { numRuns: 500 },
    );
  });

  it('a signed receipt survives its header encoding and verifies; any edited field does not', () => {
    const key = generateKeyPairSync('ed25519');
    const session = { sessionId: 'ab'.repeat(16), receiptKey: key.publicKey };
    const receipt = signReceipt(
      {
        v: 1,
        sessionId: session.sessionId,
        seq: 7,
        time: '2026-12-06T16:00:00.000Z',
        request: { method: 'POST', target: '/predict?"x"', sha256: 'cd'.repeat(32) },
        response: { status: 200, sha256: 'ef'.repeat(32) },
      },
      key.privateKey,
    );
    const parsed = parseReceipt(encodeReceipt(receipt));
    assert.deepEqual(parsed, receipt);
    checkReceiptSignature(parsed, session);
    const edits = [
      { seq: 8 },
      { time: '2026-12-06T16:00:01.000Z' },
      { request: { ...receipt.request, target: '/predict' } },
      { request: { ...receipt.request, sha256: 'cc'.repeat(32) } },
      { response: { ...receipt.response, status: 500 } },
    ];
    for (const edit of edits)
      assert.throws(
        () => checkReceiptSignature({ ...receipt, ...edit }, session),
        (err: Error & { code?: string }) => err.code === 'receipt.signature',
        JSON.stringify(edit),
      );
  });
});

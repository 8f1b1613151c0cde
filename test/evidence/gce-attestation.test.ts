import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NO_TRUST_ANCHORS } from '../../src/evidence/ak-trust.js';
import { parseTcgLog } from '../../src/evidence/boot-log/tcg-log.js';
import { parseGceAttestation } from '../../src/evidence/gce-attestation.js';
import { AicertError } from '../../src/errors.js';
import { TPM_ALG } from '../../src/tpm/constants.js';
import { readProtobufFields } from '../../src/util/protobuf-wire.js';
import { verifyGceAttestation } from '../../src/verify/gce-attestation.js';
import { assertProperty } from '../util/property.js';
import { firstFailure, fixture, googleOptions, RECORDINGS, replayedLogRegions, signedRegions } from './gce-fixtures.js';

/**
 * go-tpm-tools' recorded Google Cloud attestations (test/fixtures/gce-attestations/README.md),
 * verified by aicert's own verifiers: the AK certificate chains to Google's root, every quote's
 * signature, nonce and PCR digest hold; a changed byte of a quote, a signature or a PCR value
 * fails at a named check (sampled here; every byte in gce-attestation-flips.slow.test.ts).
 */
describe('Google Cloud attestations recorded by go-tpm-tools', () => {
  for (const { file, nonce } of RECORDINGS) {
    test(`${file} verifies: Google AK certificate, three quotes over the nonce, one boot`, async () => {
      const result = await verifyGceAttestation(fixture(file), await googleOptions(nonce));
      assert.deepEqual(
        result.checks.filter((c) => c.status !== 'ok'),
        [],
      );
      const verified = result.verified!;
      assert.equal(verified.akTrust.level, 'ca');
      assert.match(verified.akTrust.reason, /tpm_ek_v1_cloud_host_root-signer/);
      assert.deepEqual(
        verified.quotes.map((q) => q.selection[0]!.hashAlg),
        [TPM_ALG.SHA1, TPM_ALG.SHA256, TPM_ALG.SHA384],
      );
      for (const q of verified.quotes) assert.deepEqual(q.selection[0]!.pcrs, [...Array(24).keys()]);
      // The boot log replays in every bank to the quoted PCRs 0-9 (go-tpm-tools' replay), SHA-256 first.
      assert.deepEqual(
        verified.bootLogs.map((b) => [b.bank, b.pcrs]),
        ['sha256', 'sha1', 'sha384'].map((bank) => [bank, [...Array(10).keys()]]),
      );
      assert.equal(verified.bootLogs[0]!.facts.secureBoot, true);
    });
  }

  test("the wrong nonce fails quote.nonce; the other recording's nonce too", async () => {
    const options = await googleOptions(Buffer.alloc(0));
    const [withNonce, without] = RECORDINGS;
    assert.equal(await firstFailure(fixture(withNonce.file), { ...options, nonce: without.nonce }), 'quote.nonce');
    assert.equal(await firstFailure(fixture(without.file), { ...options, nonce: withNonce.nonce }), 'quote.nonce');
    assert.equal(
      await firstFailure(fixture(withNonce.file), { ...options, nonce: Buffer.from([0x90, 0x0a]) }),
      'quote.nonce',
    );
  });

  test("without Google's root, without its intermediate, or after the AK certificate expired: ak.trust", async () => {
    const { file, nonce } = RECORDINGS[0];
    const google = await googleOptions(nonce);
    const { intermediates: _, ...noIntermediates } = google;
    assert.equal(await firstFailure(fixture(file), { ...google, trust: NO_TRUST_ANCHORS }), 'ak.trust');
    assert.equal(await firstFailure(fixture(file), noIntermediates), 'ak.trust');
    assert.equal(await firstFailure(fixture(file), { ...google, at: new Date('2052-01-01T00:00:00Z') }), 'ak.trust');
  });

  test('a flipped byte of a quote, a signature or a PCR value fails at its named check (seeded sample)', async () => {
    const { file, nonce } = RECORDINGS[0];
    const bytes = fixture(file);
    const options = await googleOptions(nonce);
    const regions = signedRegions(bytes);
    await assertProperty(
      fc.asyncProperty(fc.nat({ max: regions.length - 1 }), fc.nat({ max: 1_000_000 }), async (r, where) => {
        const { what, offset, length, check } = regions[r]!;
        const i = where % length;
        const copy = Buffer.from(bytes);
        copy[offset + i]! ^= 0x01;
        assert.equal(await firstFailure(copy, options), check, `${what}, byte ${i}`);
      }),
      { numRuns: 40 },
    );
  });

  test("a flipped byte of the boot log's PCR indices, digests or sizes fails bootlog.format or boot.eventlog (seeded sample)", async () => {
    const { file, nonce } = RECORDINGS[0];
    const bytes = fixture(file);
    const options = await googleOptions(nonce);
    const regions = replayedLogRegions(bytes);
    await assertProperty(
      fc.asyncProperty(fc.nat({ max: regions.length - 1 }), fc.nat({ max: 1_000_000 }), async (r, where) => {
        const { what, offset, length } = regions[r]!;
        const copy = Buffer.from(bytes);
        copy[offset + (where % length)]! ^= 0x01;
        const failed = await firstFailure(copy, options);
        assert.ok(
          failed === 'bootlog.format' || failed === 'boot.eventlog',
          `${what}, byte ${where % length}: ${failed}`,
        );
      }),
      { numRuns: 30 },
    );
  });

  test('a truncated or extended boot log fails (bootlog.format or boot.eventlog)', async () => {
    const { nonce } = RECORDINGS[0];
    const options = await googleOptions(nonce);
    const parsed = parseGceAttestation(fixture(RECORDINGS[0].file));
    const log = parsed.eventLog;
    // Re-encode the attestation with another log: ak_pub, quotes, event_log, ak_cert, as go-tpm-tools orders them.
    const field = (n: number, value: Buffer) =>
      Buffer.concat([Buffer.from([(n << 3) | 2]), varint(value.length), value]);
    const original = fixture(RECORDINGS[0].file);
    const withLog = (other: Buffer) => {
      const at = original.indexOf(log);
      const head = field(3, log).subarray(0, field(3, log).length - log.length);
      const start = at - head.length;
      assert.ok(original.subarray(start, at).equals(head), 'event_log header found');
      return Buffer.concat([original.subarray(0, start), field(3, other), original.subarray(at + log.length)]);
    };
    assert.equal(await firstFailure(withLog(log), options), undefined, 'the re-encoding itself verifies');
    const last = parseTcgLog(log).events.at(-1)!;
    const lastStart = log.length - last.data.length - 4 - 3 * 2 - 20 - 32 - 48 - 12;
    assert.equal(
      await firstFailure(withLog(log.subarray(0, lastStart)), options),
      'boot.eventlog',
      'last event dropped',
    );
    assert.equal(await firstFailure(withLog(log.subarray(0, log.length - 1)), options), 'bootlog.format', 'cut short');
    const repeated = Buffer.concat([log, log.subarray(lastStart)]);
    assert.equal(await firstFailure(withLog(repeated), options), 'boot.eventlog', 'last event twice');
  });
});

function varint(value: number): Buffer {
  const out: number[] = [];
  let n = value;
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

describe('protobuf wire reader', () => {
  const malformed = (bytes: number[]) => () => readProtobufFields(Buffer.from(bytes), 'test message');
  test('reads varint and length-delimited fields as views', () => {
    const fields = readProtobufFields(Buffer.from([0x08, 0x96, 0x01, 0x12, 0x02, 0xab, 0xcd]), 'test');
    assert.deepEqual(fields[0], { field: 1, wireType: 0, value: 150n });
    assert.deepEqual(fields[1], { field: 2, wireType: 2, value: Buffer.from([0xab, 0xcd]) });
  });
  test('refuses truncation, overlong varints, groups and field 0, naming the offset', () => {
    const named = /\[protobuf\.malformed\]|at byte \d+/;
    for (const [bytes, why] of [
      [[0x12, 0x05, 0x01], /announces 5 bytes.* at byte 0/],
      [[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], /longer than 10 bytes at byte 1/],
      [[0x08], /varint runs past the end at byte 1/],
      [[0x0b], /wire type 3/],
      [[0x00, 0x00], /field number 0/],
    ] as const) {
      assert.throws(malformed([...bytes]), (err: AicertError) => {
        assert.equal(err.code, 'protobuf.malformed');
        assert.match(err.message, why);
        assert.match(err.message, named);
        return true;
      });
    }
  });
  test('an attestation with a field twice, or a PCR given twice, is refused (gce.malformed)', () => {
    const bytes = fixture(RECORDINGS[0].file);
    const akPub = readProtobufFields(bytes, 't').find((f) => f.field === 1)!.value as Buffer;
    const twice = Buffer.concat([bytes, Buffer.from([0x0a, (akPub.length & 0x7f) | 0x80, akPub.length >> 7]), akPub]);
    assert.throws(() => parseGceAttestation(twice), /ak_pub occurs 2 times/);
  });
  test('a message with more fields than go-tpm-tools writes is refused before they are all read', () => {
    // 10,000 empty fields in an Attestation; 65 PCR map entries in a quote's PCRs message.
    const many = Buffer.alloc(20_000).fill(Buffer.from([0x20, 0x00]));
    assert.throws(() => parseGceAttestation(many), /more than 1000 fields/);
    const { attest, signature } = parseGceAttestation(fixture(RECORDINGS[0].file)).quotes[0]!;
    const field = (n: number, value: Buffer) =>
      Buffer.concat([Buffer.from([(n << 3) | 2]), varint(value.length), value]);
    const pcrs = Buffer.alloc(65 * 2).fill(Buffer.from([0x12, 0x00]));
    const quote = Buffer.concat([field(1, attest), field(2, signature), field(3, pcrs)]);
    assert.throws(
      () => parseGceAttestation(Buffer.concat([field(2, quote), fixture(RECORDINGS[0].file)])),
      (err: AicertError) =>
        err.code === 'protobuf.malformed' && /tpm\.PCRs quotes\[0\]: more than 64 fields/.test(err.message),
    );
  });
  test('random bytes, and random truncations of a recording, fail only with InputErrors', () => {
    const recording = fixture(RECORDINGS[0].file);
    assertProperty(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.nat({ max: recording.length }), (random, cut) => {
        for (const input of [Buffer.from(random), recording.subarray(0, cut)]) {
          try {
            parseGceAttestation(input);
          } catch (err) {
            if (!(err instanceof AicertError) || err.exitStatus !== 2) throw err;
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { firstFailure, fixture, googleOptions, RECORDINGS, replayedLogRegions, signedRegions } from './gce-fixtures.js';

/**
 * Every byte of every quote and signature of a recorded Google Cloud attestation, and the first
 * and last byte of every PCR value, flipped one at a time: each change fails verification at its
 * named check (about 1,200 verifications, tens of seconds).
 */
test('every flipped byte of the quotes and signatures of gce-cos-85-nonce9009.pb fails at its named check', async () => {
  const { file, nonce } = RECORDINGS[0];
  const bytes = fixture(file);
  const options = await googleOptions(nonce);
  let flipped = 0;
  for (const { what, offset, length, check } of signedRegions(bytes)) {
    const positions = check === 'pcr.digest' ? [0, length - 1] : [...Array(length).keys()];
    for (const i of positions) {
      const copy = Buffer.from(bytes);
      copy[offset + i]! ^= 0x01;
      assert.equal(await firstFailure(copy, options), check, `${what}, byte ${i}`);
      flipped++;
    }
  }
  assert.ok(flipped > 1000, `${flipped} bytes flipped`);
});

test('600 seeded flips of the boot log bytes that replay depends on fail bootlog.format or boot.eventlog', async () => {
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
    { numRuns: 600 },
  );
});

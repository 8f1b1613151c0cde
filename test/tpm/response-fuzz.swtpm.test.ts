import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { randomBytes } from 'node:crypto';
import { decodeResponse, encodeCommand, type TpmCommand } from '../../src/tpm/command.js';
import { TPM_ALG, TPM_CAP, TPM_PT, TPM_RH, TPM_SE } from '../../src/tpm/constants.js';
import { AicertError } from '../../src/errors.js';
import { parseTpmAddress } from '../../src/tpm/address.js';
import { SwtpmSocketTransport } from '../../src/tpm/transport/swtpm-socket.js';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { AK_TEMPLATE, EK_CERTIFICATE_INDEX } from '../../src/tpm/keys.js';
import { getCapability } from '../../src/tpm/commands/get-capability.js';
import { getRandom } from '../../src/tpm/commands/get-random.js';
import { pcrRead } from '../../src/tpm/commands/pcr-read.js';
import { createPrimary } from '../../src/tpm/commands/create-primary.js';
import { readPublic } from '../../src/tpm/commands/read-public.js';
import { nvReadPublic } from '../../src/tpm/commands/nv-read-public.js';
import { nvRead } from '../../src/tpm/commands/nv-read.js';
import { quote } from '../../src/tpm/commands/quote.js';
import { startAuthSession } from '../../src/tpm/commands/start-auth-session.js';
import { policySecret } from '../../src/tpm/commands/policy-secret.js';
import { flushContext } from '../../src/tpm/commands/flush-context.js';

/**
 * Real responses captured from swtpm, then truncated, bit-flipped and replaced by random bytes:
 * the decoder must return or raise an aicert error, never crash or read out of bounds.
 */
interface Sample {
  cmd: TpmCommand<unknown>;
  response: Buffer;
}

function decodesSafely(sample: Sample, bytes: Buffer): void {
  try {
    decodeResponse(sample.cmd, bytes);
  } catch (err) {
    if (!(err instanceof AicertError))
      throw new Error(`${sample.cmd.name}: decoder crashed with ${String(err)}`, { cause: err });
  }
}

describe('TPM response decoding over malformed bytes', () => {
  let sim: Simulator;
  const samples: Sample[] = [];

  before(async () => {
    sim = await startSimulator();
    const address = parseTpmAddress(sim.address);
    assert.equal(address.kind, 'swtpm');
    const transport = new SwtpmSocketTransport(address.kind === 'swtpm' ? address.data : (undefined as never));
    const run = async <R>(cmd: TpmCommand<R>): Promise<R> => {
      const response = await transport.send(encodeCommand(cmd));
      samples.push({ cmd: cmd as TpmCommand<unknown>, response });
      return decodeResponse(cmd, response);
    };
    await run(getCapability(TPM_CAP.TPM_PROPERTIES, TPM_PT.FAMILY_INDICATOR, 64));
    await run(getCapability(TPM_CAP.PCRS, 0, 1));
    await run(getCapability(TPM_CAP.PCR_PROPERTIES, 0, 32));
    await run(getCapability(TPM_CAP.HANDLES, 0x81000000, 32));
    await run(getRandom(16));
    await run(pcrRead([{ hashAlg: TPM_ALG.SHA256, pcrs: [0, 1, 2, 3, 4, 5, 6, 7, 23] }]));
    const ak = await run(createPrimary(TPM_RH.ENDORSEMENT, AK_TEMPLATE, 'AK'));
    await run(readPublic(ak.handle));
    await run(quote(ak.handle, randomBytes(32), [{ hashAlg: TPM_ALG.SHA256, pcrs: [0, 23] }]));
    await run(nvReadPublic(EK_CERTIFICATE_INDEX.rsa));
    await run(nvRead(EK_CERTIFICATE_INDEX.rsa, 64, 0));
    const session = await run(startAuthSession(TPM_SE.POLICY, randomBytes(16)));
    await run(policySecret(TPM_RH.ENDORSEMENT, session.handle));
    await run(flushContext(session.handle));
    await run(flushContext(ak.handle));
  });
  after(async () => sim?.stop());

  test('every captured response decodes as captured', () => {
    assert.equal(samples.length, 15);
    for (const s of samples) decodeResponse(s.cmd, s.response);
  });

  test('every truncation of every response is an error, not a crash', () => {
    for (const s of samples) {
      for (let n = 0; n < s.response.length; n++) {
        assert.throws(
          () => decodeResponse(s.cmd, s.response.subarray(0, n)),
          AicertError,
          `${s.cmd.name} truncated to ${n}`,
        );
      }
    }
  });

  test('a trailing byte is rejected', () => {
    for (const s of samples) {
      const longer = Buffer.concat([s.response, Buffer.of(0)]);
      longer.writeUInt32BE(longer.length, 2);
      assert.throws(() => decodeResponse(s.cmd, longer), AicertError, s.cmd.name);
    }
  });

  test('random byte mutations never crash the decoder', () => {
    assertProperty(
      fc.property(
        fc.nat({ max: samples.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        (which, edits) => {
          const sample = samples[which]!;
          const bytes = Buffer.from(sample.response);
          for (const [pos, value] of edits) bytes[pos % bytes.length] = value;
          decodesSafely(sample, bytes);
        },
      ),
      { numRuns: 5000 },
    );
  });

  test('random bytes with a valid header never crash the decoder', () => {
    assertProperty(
      fc.property(fc.nat({ max: samples.length - 1 }), fc.uint8Array({ maxLength: 600 }), (which, body) => {
        const bytes = Buffer.concat([Buffer.alloc(10), body]);
        bytes.writeUInt16BE(0x8001 + (body.length & 1), 0);
        bytes.writeUInt32BE(bytes.length, 2);
        decodesSafely(samples[which]!, bytes);
      }),
      { numRuns: 5000 },
    );
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { Tpm } from '../../src/tpm/client.js';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { TPM_ST, TPMA_NV } from '../../src/tpm/constants.js';
import { createAk } from '../../src/tpm/keys.js';
import { parseAttest } from '../../src/tpm/attest.js';
import { parseSignature, verifyTpmSignature } from '../../src/tpm/signature.js';
import { nvName } from '../../src/tpm/nv-public.js';
import { EXTEND_INDEX_ATTRIBUTES, NvExtendIndex, writtenPublic } from '../../src/tpm/nv-extend-index.js';
import { nvDefineSpace } from '../../src/tpm/commands/nv-define-space.js';
import { nvExtend } from '../../src/tpm/commands/nv-extend.js';
import { nvReadPublic } from '../../src/tpm/commands/nv-read-public.js';
import { nvUndefineSpace } from '../../src/tpm/commands/nv-undefine-space.js';
import { PASSWORD } from '../../src/tpm/command.js';
import { TpmResponseError } from '../../src/tpm/response-code.js';

/** tpm2-tools' TCTI string for the same simulator. */
function tcti(sim: Simulator): string {
  return `swtpm:path=${sim.address.slice('swtpm:unix:'.length)}`;
}
const hex = (n: number) => `0x${n.toString(16)}`;
const extend = (value: Buffer, digest: Buffer) => createHash('sha256').update(value).update(digest).digest();

describe('the NV extend index (NV_DefineSpace, NV_Extend, NV_Read, NV_ReadPublic, NV_Certify, NV_UndefineSpace)', () => {
  let sim: Simulator;
  let tpm: Tpm;

  before(async () => {
    sim = await startSimulator({ transport: 'unix' });
    tpm = await Tpm.open(sim.address);
  });
  after(async () => {
    await tpm?.close();
    await sim?.stop();
  });

  test('the Name aicert computes is the one the TPM and tpm2_nvreadpublic report, before and after the first write', async () => {
    const nv = await NvExtendIndex.define(tpm);
    try {
      const before = await tpm.execute(nvReadPublic(nv.index));
      assert.equal(before.attributes, EXTEND_INDEX_ATTRIBUTES);
      assert.deepEqual(before.name, nv.name);
      const tools = spawnSync('tpm2_nvreadpublic', ['-T', tcti(sim), hex(nv.index)], { encoding: 'utf8' });
      assert.equal(tools.status, 0, tools.stderr);
      assert.match(tools.stdout, new RegExp(`name: ${nv.name.toString('hex')}`, 'i'));
      assert.match(tools.stdout, new RegExp(`value: 0x${EXTEND_INDEX_ATTRIBUTES.toString(16)}\\b`, 'i'));
      assert.match(tools.stdout, /policywrite\|/);
      await nv.extend(randomBytes(32));
      const after = await tpm.execute(nvReadPublic(nv.index));
      assert.equal(after.attributes, EXTEND_INDEX_ATTRIBUTES | TPMA_NV.WRITTEN);
      assert.deepEqual(after.name, nvName(writtenPublic(nv.definedPublic)));
      assert.deepEqual(after.name, nv.name);
      assert.notDeepEqual(after.name, before.name, 'TPMA_NV_WRITTEN is part of the Name');
    } finally {
      await nv.undefine();
    }
  });

  test('NV_Extend with the policy key extends like a PCR; tpm2_nvread reads the same value', async () => {
    const nv = await NvExtendIndex.define(tpm);
    try {
      let expected: Buffer = Buffer.alloc(32);
      for (let i = 0; i < 4; i++) {
        const digest = randomBytes(32);
        await nv.extend(digest);
        expected = extend(expected, digest);
      }
      assert.deepEqual(await nv.read(), expected);
      const tools = spawnSync('tpm2_nvread', ['-T', tcti(sim), '-C', hex(nv.index), hex(nv.index)]);
      assert.equal(tools.status, 0, tools.stderr?.toString());
      assert.deepEqual(tools.stdout, expected);
    } finally {
      await nv.undefine();
    }
  });

  test('nobody without the policy key can extend it: not with a password, not with tpm2_nvextend', async () => {
    const nv = await NvExtendIndex.define(tpm);
    try {
      await nv.extend(randomBytes(32));
      const value = await nv.read();
      await assert.rejects(tpm.execute(nvExtend(nv.index, randomBytes(32), PASSWORD)), TpmResponseError);
      const tools = spawnSync('tpm2_nvextend', ['-T', tcti(sim), '-C', hex(nv.index), '-i-', hex(nv.index)], {
        input: 'forged event',
      });
      assert.notEqual(tools.status, 0, 'tpm2_nvextend with the index password must fail');
      const owner = spawnSync('tpm2_nvextend', ['-T', tcti(sim), '-C', 'o', '-i-', hex(nv.index)], {
        input: 'forged event',
      });
      assert.notEqual(owner.status, 0, 'tpm2_nvextend with owner authorization must fail');
      assert.deepEqual(await nv.read(), value, 'the value did not move');
    } finally {
      await nv.undefine();
    }
  });

  test('deleted and defined again with the same public area, the index has the same Name but cannot be written', async () => {
    const nv = await NvExtendIndex.define(tpm);
    await nv.extend(randomBytes(32));
    await nv.undefine();
    // A forger re-creates the index exactly, so that its Name matches once written …
    await tpm.execute(nvDefineSpace(nv.definedPublic));
    try {
      assert.deepEqual((await tpm.execute(nvReadPublic(nv.index))).name, nvName(nv.definedPublic));
      // … but without the run's key the policy cannot be met: the index stays unwritten.
      const other = await NvExtendIndex.define(tpm);
      await other.undefine();
      await assert.rejects(tpm.execute(nvExtend(nv.index, randomBytes(32), PASSWORD)), TpmResponseError);
      const tools = spawnSync('tpm2_nvread', ['-T', tcti(sim), '-C', hex(nv.index), hex(nv.index)]);
      assert.notEqual(tools.status, 0, 'an unwritten extend index cannot be read');
      assert.match(tools.stderr.toString(), /0x14a|before being initialized/i); // TPM_RC_NV_UNINITIALIZED
    } finally {
      await tpm.execute(nvUndefineSpace(nv.index));
    }
  });

  test('NV_Certify by the AK: a signed TPMS_ATTEST of type NV with the Name, the value and the qualifying data', async () => {
    const nv = await NvExtendIndex.define(tpm);
    try {
      await nv.extend(randomBytes(32));
      const qualifyingData = randomBytes(32);
      const ak = await createAk(tpm);
      const { attest, signature } = await tpm.withTransient(ak.handle, (h) => nv.certify(h, qualifyingData));
      assert.equal((await verifyTpmSignature(ak.public, attest, parseSignature(signature))).ok, true);
      const parsed = parseAttest(attest);
      assert.equal(parsed.type, TPM_ST.ATTEST_NV);
      assert.equal(parsed.body, 'nv');
      if (parsed.body !== 'nv') return;
      assert.deepEqual(parsed.extraData, qualifyingData);
      assert.deepEqual(parsed.nv.indexName, nv.name);
      assert.equal(parsed.nv.offset, 0);
      assert.deepEqual(parsed.nv.nvContents, await nv.read());
    } finally {
      await nv.undefine();
    }
  });

  test('two indices defined at once get separate handles; NV_UndefineSpace removes them', async () => {
    const [a, b] = await Promise.all([NvExtendIndex.define(tpm), NvExtendIndex.define(tpm)]);
    assert.notEqual(a!.index, b!.index);
    assert.notDeepEqual(a!.definedPublic.authPolicy, b!.definedPublic.authPolicy, 'each index has its own key');
    await a!.undefine();
    await b!.undefine();
    for (const nv of [a!, b!]) await assert.rejects(tpm.execute(nvReadPublic(nv.index)), TpmResponseError);
  });
});

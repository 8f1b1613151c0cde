import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyQuote } from '../../src/evidence/quote.js';
import type { PcrValues } from '../../src/tpm/pcr-selection.js';
import { claimedSelection, parseQuoteFile, toQuoteFile } from '../../src/evidence/quote-file.js';
import { attestPcrs } from '../../src/tpm/attest-pcrs.js';
import { Tpm } from '../../src/tpm/client.js';
import { TPM_ALG, TPM_CAP } from '../../src/tpm/constants.js';
import { parsePublic2b, public2b } from '../../src/tpm/public.js';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';

/**
 * Real quotes from swtpm through aicert's client, checked by aicert's verifier and by
 * tpm2-tools, and quotes made by tpm2-tools checked by aicert's verifier.
 */
const SHA256 = TPM_ALG.SHA256;
const PCRS = [0, 1, 2, 3, 4, 5, 6, 7, 23];
const SELECTION = [{ hashAlg: SHA256, pcrs: PCRS }];

/**
 * The PCR file tpm2_checkquote reads with `-f`: tpm2-tools' "serialized" format (what
 * `tpm2_pcrread -F serialized` writes), little-endian copies of its in-memory structures:
 * TPML_PCR_SELECTION (u32 count, 16 × {u16 hash, u8 sizeofSelect, u8[4] select, pad}), then
 * u32 number of TPML_DIGESTs, each (u32 count, 8 × {u16 size, u8[64]}). One SHA-256 bank here.
 */
function tpm2SerializedPcrs(values: Buffer[]): Buffer {
  const selection = Buffer.alloc(4 + 16 * 8);
  selection.writeUInt32LE(1, 0);
  selection.writeUInt16LE(SHA256, 4);
  selection.writeUInt8(3, 6);
  for (const pcr of PCRS) selection[7 + (pcr >> 3)]! |= 1 << (pcr & 7);
  const lists: Buffer[] = [];
  for (let i = 0; i < values.length; i += 8) {
    const chunk = values.slice(i, i + 8);
    const list = Buffer.alloc(4 + 8 * 66);
    list.writeUInt32LE(chunk.length, 0);
    chunk.forEach((v, j) => {
      list.writeUInt16LE(v.length, 4 + j * 66);
      v.copy(list, 6 + j * 66);
    });
    lists.push(list);
  }
  const count = Buffer.alloc(4);
  count.writeUInt32LE(lists.length);
  return Buffer.concat([selection, count, ...lists]);
}

describe('quotes from a real TPM (swtpm)', () => {
  let sim: Simulator;
  let work: string;

  /** swtpm serves one client at a time, so each step opens and closes its own connection. */
  async function withTpm<T>(use: (tpm: Tpm) => Promise<T>): Promise<T> {
    const tpm = await Tpm.open(sim.address);
    try {
      return await use(tpm);
    } finally {
      await tpm.close();
    }
  }

  function tpm2(tool: string, args: string[]) {
    const port = /:(\d+)$/.exec(sim.address)![1];
    return spawnSync(tool, args, {
      encoding: 'utf8',
      cwd: work,
      env: { ...process.env, TPM2TOOLS_TCTI: `swtpm:host=127.0.0.1,port=${port}` },
    });
  }

  /** A quote from `aicert`'s own client, round-tripped through the quote file format. */
  async function ourQuote(nonce: Buffer) {
    const q = await withTpm((tpm) => attestPcrs(tpm, nonce, SELECTION));
    return parseQuoteFile(JSON.stringify(toQuoteFile(q)));
  }

  before(async () => {
    sim = await startSimulator({ transport: 'tcp' });
    work = await mkdtemp(join(tmpdir(), 'aicert-quote-test-'));
    await withTpm((tpm) =>
      tpm.pcrExtend(23, [{ hashAlg: SHA256, digest: createHash('sha256').update('aicert test').digest() }]),
    );
  });
  after(async () => {
    await sim?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('a quote from our client verifies, and the PCR values it vouches for are what PCR_Read says', async () => {
    const nonce = Buffer.from('5eed'.repeat(16), 'hex');
    const q = await ourQuote(nonce);
    const v = await verifyQuote(q, { nonce, selection: SELECTION });
    const now = await withTpm((tpm) => tpm.pcrRead(SHA256, PCRS));
    assert.deepEqual(v.pcrs.get(SHA256), now);
    assert.equal(v.safe, true);
    assert.ok(v.clock > 0n);
  });

  test('our quote fails with its own reason on a wrong nonce, a flipped attest byte, a changed PCR and another selection', async () => {
    const nonce = Buffer.from('01020304', 'hex');
    const q = await ourQuote(nonce);
    const code = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
        return 'verified';
      } catch (err) {
        return (err as { code?: string }).code;
      }
    };
    assert.equal(
      await code(() => verifyQuote(q, { nonce: Buffer.from('01020305', 'hex'), selection: SELECTION })),
      'quote.nonce',
    );
    const attest = Buffer.from(q.attest);
    attest[attest.length - 40]! ^= 1;
    assert.equal(await code(() => verifyQuote({ ...q, attest }, { nonce, selection: SELECTION })), 'quote.signature');
    const pcrs: PcrValues = new Map([
      [SHA256, new Map([...q.pcrs.get(SHA256)!].map(([i, v]) => [i, i === 23 ? Buffer.alloc(32, 1) : v]))],
    ]);
    assert.equal(await code(() => verifyQuote({ ...q, pcrs }, { nonce, selection: SELECTION })), 'pcr.digest');
    assert.equal(
      await code(() => verifyQuote(q, { nonce, selection: [{ hashAlg: SHA256, pcrs: [0, 23] }] })),
      'quote.selection',
    );
  });

  test('tpm2_checkquote accepts our quote (signature, nonce and PCR values) and rejects a wrong nonce or PCR value', async () => {
    const nonce = Buffer.from('a1b2c3d4e5f60718', 'hex');
    const q = await ourQuote(nonce);
    await writeFile(join(work, 'ak.pub'), public2b(q.akPublic.bytes));
    await writeFile(join(work, 'quote.msg'), q.attest);
    await writeFile(join(work, 'quote.sig'), q.signature);
    await writeFile(join(work, 'pcrs.bin'), tpm2SerializedPcrs(PCRS.map((i) => q.pcrs.get(SHA256)!.get(i)!)));
    const check = (nonceHex: string, pcrFile = 'pcrs.bin') =>
      tpm2('tpm2_checkquote', [
        '-u',
        'ak.pub',
        '-m',
        'quote.msg',
        '-s',
        'quote.sig',
        '-g',
        'sha256',
        '-q',
        nonceHex,
        '-f',
        pcrFile,
      ]);

    const ok = check(nonce.toString('hex'));
    assert.equal(ok.status, 0, ok.stderr);
    const wrongNonce = check('a1b2c3d4e5f60719');
    assert.notEqual(wrongNonce.status, 0);
    assert.match(wrongNonce.stderr, /nonce/i);
    await writeFile(
      join(work, 'tampered.bin'),
      tpm2SerializedPcrs(PCRS.map((i) => (i === 23 ? Buffer.alloc(32, 7) : q.pcrs.get(SHA256)!.get(i)!))),
    );
    assert.notEqual(check(nonce.toString('hex'), 'tampered.bin').status, 0);
  });

  test('end to end: `aicert tpm quote` writes a file that `aicert tpm check-quote` and tpm2_checkquote both accept', async () => {
    const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
    const aicert = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', cwd: work });
    const made = aicert(
      'tpm',
      'quote',
      '--tpm',
      sim.address,
      '--nonce',
      'c0ffee01',
      '--pcr',
      '0-7,23',
      '--out',
      'cli-quote.json',
    );
    assert.equal(made.status, 0, made.stderr);
    assert.equal(aicert('tpm', 'check-quote', 'cli-quote.json', '--nonce', 'c0ffee01', '--pcr', '0-7,23').status, 0);
    const wrong = aicert('tpm', 'check-quote', 'cli-quote.json', '--nonce', 'c0ffee02');
    assert.equal(wrong.status, 1);
    assert.match(wrong.stdout, /failed\s+quote\.nonce/);

    const q = parseQuoteFile(await readFile(join(work, 'cli-quote.json'), 'utf8'));
    await writeFile(join(work, 'cli-ak.pem'), toQuoteFile(q).akPublicPem);
    await writeFile(join(work, 'cli.msg'), q.attest);
    await writeFile(join(work, 'cli.sig'), q.signature);
    await writeFile(join(work, 'cli-pcrs.bin'), tpm2SerializedPcrs(PCRS.map((i) => q.pcrs.get(SHA256)!.get(i)!)));
    const checked = tpm2('tpm2_checkquote', [
      '-u',
      'cli-ak.pem',
      '-m',
      'cli.msg',
      '-s',
      'cli.sig',
      '-g',
      'sha256',
      '-q',
      'c0ffee01',
      '-f',
      'cli-pcrs.bin',
    ]);
    assert.equal(checked.status, 0, checked.stderr);
    assert.notEqual(
      tpm2('tpm2_checkquote', ['-u', 'cli-ak.pem', '-m', 'cli.msg', '-s', 'cli.sig', '-g', 'sha256', '-q', 'c0ffee02'])
        .status,
      0,
    );
  });

  test('a quote made by tpm2_quote (aicert AK attributes, created with tpm2_createprimary) passes our verifier and fails on a wrong nonce', async () => {
    const flush = () => tpm2('tpm2_flushcontext', ['-t']);
    const run = (tool: string, args: string[]) => {
      const r = tpm2(tool, args);
      assert.equal(r.status, 0, `${tool}: ${r.stderr}`);
      flush(); // swtpm has no resource manager and holds only 3 transient objects
      return r;
    };
    run('tpm2_createprimary', [
      '-C',
      'e',
      '-g',
      'sha256',
      '-G',
      'ecc256:ecdsa-sha256:null',
      '-a',
      'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign|noda',
      '-c',
      'tak.ctx',
    ]);
    run('tpm2_readpublic', ['-c', 'tak.ctx', '-o', 'tak.pub', '-f', 'tss']);
    run('tpm2_quote', [
      '-c',
      'tak.ctx',
      '-l',
      `sha256:${PCRS.join(',')}`,
      '-q',
      'feedface00',
      '-m',
      'tq.msg',
      '-s',
      'tq.sig',
      '-g',
      'sha256',
    ]);

    const pcrs = await withTpm((tpm) => tpm.pcrRead(SHA256, PCRS));
    const file = toQuoteFile({
      attest: await readFile(join(work, 'tq.msg')),
      signature: await readFile(join(work, 'tq.sig')),
      akPublic: parsePublic2b(await readFile(join(work, 'tak.pub'))),
      nonce: Buffer.from('feedface00', 'hex'),
      pcrs: new Map([[SHA256, pcrs]]),
    });
    const q = parseQuoteFile(JSON.stringify(file));
    const v = await verifyQuote(q, { nonce: Buffer.from('feedface00', 'hex'), selection: claimedSelection(q.pcrs) });
    assert.deepEqual(v.pcrs.get(SHA256), pcrs);
    await assert.rejects(() => verifyQuote(q, { nonce: Buffer.from('feedface01', 'hex'), selection: SELECTION }), {
      code: 'quote.nonce',
    });

    // tpm2-tools' AK with the same template under the same TPM is aicert's AK: a primary is deterministic.
    const ours = await ourQuote(Buffer.from('00', 'hex'));
    assert.deepEqual(q.akName, ours.akName);
  });

  test('a power cycle through the control channel increments resetCount, clears the PCRs, and the verifier reports it', async () => {
    const before = await verifyQuote(await ourQuote(Buffer.from('aa', 'hex')), {
      nonce: Buffer.from('aa', 'hex'),
      selection: SELECTION,
    });
    assert.notDeepEqual(before.pcrs.get(SHA256)!.get(23), Buffer.alloc(32));
    await sim.powerCycle();
    const afterCycle = await verifyQuote(await ourQuote(Buffer.from('bb', 'hex')), {
      nonce: Buffer.from('bb', 'hex'),
      selection: SELECTION,
    });
    assert.equal(afterCycle.resetCount, before.resetCount + 1);
    assert.equal(afterCycle.restartCount, 0);
    assert.deepEqual(afterCycle.pcrs.get(SHA256)!.get(23), Buffer.alloc(32));
  });

  test('no transient object is left loaded', async () => {
    const handles = await withTpm((tpm) => tpm.getCapability(TPM_CAP.HANDLES, 0x80000000, 32));
    assert.deepEqual(
      handles.flatMap((p) => (p.capability === TPM_CAP.HANDLES ? p.handles : [])),
      [],
    );
  });
});

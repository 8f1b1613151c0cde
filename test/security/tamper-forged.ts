/**
 * Mutants that need more than the certificate bytes:
 *   forged    — made with the genuine TPM (tpm-forger.ts) or a software key, consistent in
 *               every respect but one, so each check behind the quotes has to catch its case;
 *   artifacts — local copies of the model, data and code that differ from what was certified.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TPM_ALG, TPMA_OBJECT } from '../../src/tpm/constants.js';
import { AK_TEMPLATE } from '../../src/tpm/keys.js';
import { public2b } from '../../src/tpm/public.js';
import { eventDigest, type CelRecord } from '../../src/protocol/event-log.js';
import type { RunEvent } from '../../src/protocol/run-events.js';
import { buildRunStatement } from '../../src/cert/run-statement.js';
import {
  buildDatasetTrees,
  datasetCommitment,
  type DatasetCommitment,
} from '../../src/measure/dataset/dataset-tree.js';
import { serializeStatement } from '../../src/cert/intoto.js';
import { akPublicFor, buildQuoteAttest, signAsTpm } from '../tpm/helpers.js';
import { planFor, requote, type Requote } from './tpm-forger.js';
import { parse, serialize, type Json, type Mutant } from './tamper-corpus.js';
import type { SecurityFixtures } from './swtpm-fixtures.js';

interface Forgery {
  /** Edits the records (contents, numbers, order) in place. */
  edit?: (records: CelRecord[]) => void;
  /** Recompute every record digest from its content (default true). */
  recompute?: boolean;
  /** Rewrite the commitment to list the digests before it (default true). */
  recommit?: boolean;
  /** The statement: rebuilt from the records (default), the original one, or these bytes. */
  statement?: 'rebuild' | 'original' | Buffer;
  plan?: (plan: Requote) => Requote;
  /** Verifier options for the mutant. */
  options?: Mutant['options'];
}

export async function forgedMutants(fx: SecurityFixtures): Promise<Mutant[]> {
  const out: Mutant[] = [];
  const forge = async (name: string, base: Buffer, f: Forgery, expect: string[]) => {
    out.push({
      family: 'forged',
      name,
      bytes: await forgeCertificate(fx, base, f),
      base,
      expect,
      ...(f.options && { options: f.options }),
    });
  };
  const good = fx.good.bytes;
  const originalPayload = Buffer.from((parse(good).statement as Record<string, Json>).payload as string, 'base64');
  const payloadText = originalPayload.toString('utf8');
  const byType = (records: CelRecord[], type: string) => records.find((r) => r.content.type === type)!.content;

  await forge(
    'a statement with an edited subject, re-quoted',
    good,
    { statement: Buffer.from(payloadText.replace(/("sha256": ")[0-9a-f]/, '$1f')) },
    ['statement.eventlog'],
  );
  await forge(
    'a statement repeating "buildType" (the last one matches the log), re-quoted',
    good,
    {
      statement: Buffer.from(
        payloadText.replace('"buildType":', '"buildType": "https://example.com/other",\n      "buildType":'),
      ),
    },
    ['statement.schema'],
  );
  await forge(
    'a statement holding 1e999, re-quoted',
    good,
    { statement: Buffer.from(payloadText.replace(/"bytes": \d+/, '"bytes": 1e999')) },
    ['statement.schema'],
  );
  await forge(
    'a statement nested 5000 deep, re-quoted',
    good,
    {
      statement: Buffer.from(
        payloadText.replace('"role": "model"', `"role": "model", "deep": ${'['.repeat(5000)}${']'.repeat(5000)}`),
      ),
    },
    ['statement.schema'],
  );
  await forge(
    'a dataset digest changed and replayed, the original statement kept',
    good,
    {
      edit: (r) =>
        void ((r.find((x) => x.content.role === 'dataset')!.content.digest as { sha256: string }).sha256 = 'ab'.repeat(
          32,
        )),
      statement: 'original',
    },
    ['statement.eventlog'],
  );
  await forge(
    'an event edited and replayed, the commitment not updated',
    good,
    { edit: (r) => void (r.find((x) => x.content.role === 'dataset')!.content.name = 'other.jsonl'), recommit: false },
    ['eventlog.content'],
  );
  await forge('the session naming PCR 16', good, { edit: (r) => void (byType(r, 'session').pcr = 16) }, [
    'eventlog.content',
  ]);
  await forge(
    "the session naming another TPM's AK",
    good,
    { edit: (r) => void (byType(r, 'session').akName = byType(recordsOf(fx.foreign.bytes), 'session').akName) },
    ['eventlog.content'],
  );
  await forge('a record claiming PCR 16', good, { edit: (r) => void (r[2]!.pcr = 16) }, ['eventlog.sequence']);
  await forge(
    'records numbered with a gap',
    good,
    {
      edit: (r) => {
        for (const [i, x] of r.entries()) x.recnum = i < 3 ? i : i + 1;
      },
    },
    ['eventlog.sequence'],
  );
  await forge(
    'the exit recorded as a failure',
    good,
    { edit: (r) => Object.assign(byType(r, 'exit'), { exitCode: 1, success: false }) },
    ['run.exit'],
  );
  await forge('the end quote taken before the start quote', good, { plan: (p) => ({ ...p, endFirst: true }) }, [
    'quote.continuity',
  ]);
  await forge(
    'the TPM power-cycled between the quotes, the log replayed on the new boot',
    good,
    { plan: (p) => ({ ...p, rebootBetween: true }) },
    ['quote.continuity'],
  );
  await forge('quotes over PCR 23 alone (no boot PCRs)', good, { plan: (p) => ({ ...p, pcrs: [23] }) }, [
    'quote.selection',
  ]);
  await forge(
    'the start quote over the session nonce',
    good,
    { plan: (p) => ({ ...p, startNonce: Buffer.from(String(byType(recordsOf(good), 'session').nonce), 'hex') }) },
    ['quote.binding'],
  );
  await forge(
    'the end quote over SHA-256(statement) without the DSSE PAE',
    good,
    { plan: (p) => ({ ...p, endNonce: createHash('sha256').update(originalPayload).digest() }) },
    ['quote.binding'],
  );
  await forge(
    'the end quote over the commitment (as a start quote)',
    good,
    { plan: (p) => ({ ...p, endNonce: p.startNonce }) },
    ['quote.binding'],
  );
  // Issue 16, item 2: the dataset file's digest kept, its record roots those of another file (the
  // data without its first record, so a non-inclusion proof for that record would check).
  const otherRoots = await rootsWithoutFirstRecord(fx);
  const datasetTrees = (r: CelRecord[]) =>
    r.find((x) => x.content.role === 'dataset')!.content.records as Array<Record<string, unknown>>;
  await forge(
    "dataset record roots of another file beside the dataset's own digest, re-quoted (verify --data)",
    good,
    { edit: (r) => void Object.assign(datasetTrees(r)[0]!, otherRoots), options: { data: [fx.data] } },
    ['artifact.data'],
  );
  const unrestricted = { ...AK_TEMPLATE, objectAttributes: AK_TEMPLATE.objectAttributes & ~TPMA_OBJECT.restricted };
  await forge(
    'quotes by an unrestricted TPM signing key (accepted as untrusted AK)',
    good,
    { plan: (p) => ({ ...p, template: unrestricted }), options: { allowUntrustedAk: true } },
    ['ak.attributes'],
  );

  const trainer = fx.trainer.bytes;
  const commitment = (r: CelRecord[]) => byType(r, 'commitment').trainer as Record<string, unknown>;
  await forge(
    'trainer run: a seed not derived from the inputs',
    trainer,
    { edit: (r) => void (commitment(r).seed = 'cd'.repeat(32)) },
    ['trainer.commitment'],
  );
  await forge('trainer run: r not hex', trainer, { edit: (r) => void (commitment(r).r = 'not hex') }, [
    'trainer.commitment',
  ]);
  await forge('trainer run: another protocol version', trainer, { edit: (r) => void (commitment(r).protocol = 2) }, [
    'trainer.commitment',
  ]);
  await forge(
    'trainer run: checkpoints numbered 0 and 2',
    trainer,
    { edit: (r) => void (r.filter((x) => x.content.type === 'checkpoint')[1]!.content.index = 2) },
    ['trainer.commitment'],
  );

  for (const withChain of [false, true]) out.push(softwareForgery(fx, withChain));
  return out;
}

async function rootsWithoutFirstRecord(fx: SecurityFixtures): Promise<DatasetCommitment> {
  const path = join(fx.work, 'dataset-without-its-first-record.jsonl');
  await writeFile(path, (await readFile(fx.data, 'utf8')).split('\n').slice(1).join('\n'));
  return datasetCommitment(await buildDatasetTrees(path));
}

function recordsOf(bytes: Buffer): CelRecord[] {
  return ((parse(bytes).evidence as Record<string, Json>).tpm as Record<string, Json>)
    .eventLog as unknown as CelRecord[];
}

/** Applies the forgery to `base`, has the genuine TPM quote it, and returns the certificate file. */
async function forgeCertificate(fx: SecurityFixtures, base: Buffer, f: Forgery): Promise<Buffer> {
  const cert = parse(base);
  const tpm = (cert.evidence as Record<string, Json>).tpm as Record<string, Json>;
  const records = structuredClone(tpm.eventLog) as unknown as CelRecord[];
  f.edit?.(records);
  const commitmentIndex = records.findIndex((r) => r.content.type === 'commitment');
  const redigest = (r: CelRecord) => (r.digests[0]!.digest = eventDigest(r.content).toString('hex'));
  if (f.recompute !== false) records.forEach(redigest);
  if (f.recommit !== false) {
    records[commitmentIndex]!.content.events = records.slice(0, commitmentIndex).map((r) => r.digests[0]!.digest);
    redigest(records[commitmentIndex]!);
  }
  const original = Buffer.from((cert.statement as Record<string, Json>).payload as string, 'base64');
  const payload =
    f.statement === 'original'
      ? original
      : Buffer.isBuffer(f.statement)
        ? f.statement
        : serializeStatement(buildRunStatement(records as CelRecord<RunEvent>[]));
  const plan = (f.plan ?? ((p) => p))(planFor(records, payload));
  const { quotes, akPublic } = await requote(fx.simA.address, 23, plan);
  (cert.statement as Record<string, Json>).payload = payload.toString('base64');
  tpm.eventLog = records as unknown as Json;
  tpm.quotes = quotes as unknown as Json;
  tpm.akPublic = akPublic;
  if (f.plan && plan.template) delete tpm.akCertificateChain;
  return serialize(cert);
}

/**
 * The prior system's flaw (research/aicert.md): quotes signed by a key the forger made in
 * software, in an AK-shaped public area, bound to the right data. Only ak.trust stands in the way.
 */
function softwareForgery(fx: SecurityFixtures, withForgerChain: boolean): Mutant {
  const base = fx.good.bytes;
  const cert = parse(base);
  const tpm = (cert.evidence as Record<string, Json>).tpm as Record<string, Json>;
  const records = tpm.eventLog as unknown as CelRecord[];
  const key = akPublicFor('ecc');
  const payload = Buffer.from((cert.statement as Record<string, Json>).payload as string, 'base64');
  const plan = planFor(records, payload);
  const quotes = (tpm.quotes as unknown as Array<{ pcrs: { sha256: Record<string, string> } }>).map((q, i) => {
    const pcrs = [0, 1, 2, 3, 4, 5, 6, 7, 23];
    const pcrDigest = createHash('sha256')
      .update(Buffer.concat(pcrs.map((p) => Buffer.from(q.pcrs.sha256[String(p)]!, 'hex'))))
      .digest();
    const attest = buildQuoteAttest({
      extraData: i === 0 ? plan.startNonce : plan.endNonce,
      clock: BigInt(1000 + i),
      selection: [{ hashAlg: TPM_ALG.SHA256, pcrs }],
      pcrDigest,
    });
    return {
      phase: i === 0 ? 'start' : 'end',
      attest: attest.toString('base64'),
      signature: signAsTpm(key, attest).toString('base64'),
      pcrs: q.pcrs,
    };
  });
  tpm.quotes = quotes as unknown as Json;
  tpm.akPublic = public2b(key.area.bytes).toString('base64');
  if (withForgerChain) tpm.akCertificateChain = fx.chains.forgerSelfSigned.map((d) => d.toString('base64'));
  else delete tpm.akCertificateChain;
  return {
    family: 'forged',
    name: `quotes forged with a software key${withForgerChain ? " and the forger's own certificate" : ''} (the prior system's flaw)`,
    bytes: serialize(cert),
    base,
    expect: ['ak.trust'],
  };
}

/** Local copies that differ from the certified model, data and code, by content or by name only. */
export async function artifactMutants(fx: SecurityFixtures): Promise<Mutant[]> {
  const out: Mutant[] = [];
  const dir = join(fx.work, 'artifact-mutants');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  let n = 0;
  const copyOf = async (source: string, change: (copy: string) => Promise<void>) => {
    const copy = join(dir, String(n++), source.split('/').at(-1)!);
    await mkdir(join(copy, '..'), { recursive: true });
    await cp(source, copy, { recursive: true });
    await change(copy);
    return copy;
  };
  const model = async (name: string, change: (copy: string) => Promise<void>) =>
    out.push({
      family: 'artifacts',
      name: `model copy: ${name}`,
      bytes: fx.good.bytes,
      base: fx.good.bytes,
      options: { model: await copyOf(fx.good.model, change) },
      expect: ['artifact.model'],
    });
  const data = async (name: string, change: (copy: string) => Promise<void>) =>
    out.push({
      family: 'artifacts',
      name: `data copy: ${name}`,
      bytes: fx.good.bytes,
      base: fx.good.bytes,
      options: { data: [await copyOf(fx.data, change)] },
      expect: ['artifact.data'],
    });
  const edit = async (path: string, f: (b: Buffer) => Buffer) => writeFile(path, f(await readFile(path)));

  await model('one bit of the weights flipped', (c) => edit(join(c, 'weights.bin'), (b) => ((b[0]! ^= 1), b)));
  await model('the weights one byte shorter', (c) => edit(join(c, 'weights.bin'), (b) => b.subarray(1)));
  await model('a byte appended to the weights', (c) =>
    edit(join(c, 'weights.bin'), (b) => Buffer.concat([b, Buffer.of(0)])),
  );
  await model('an extra file', (c) => writeFile(join(c, 'extra.bin'), 'x'));
  await model('config.json missing', (c) => rm(join(c, 'config.json')));
  await model('weights.bin renamed with a Cyrillic "е"', (c) =>
    rename(join(c, 'weights.bin'), join(c, 'w\u0435ights.bin')),
  );
  await model('config.json renamed with a zero-width space', (c) =>
    rename(join(c, 'config.json'), join(c, 'con\u200bfig.json')),
  );
  await model('config.json renamed to upper case', (c) => rename(join(c, 'config.json'), join(c, 'CONFIG.json')));
  await data('one record changed', (c) => edit(c, (b) => Buffer.from(b.toString().replace('"x":2', '"x":5'))));
  await data('a record with a Cyrillic "х" for "x"', (c) =>
    edit(c, (b) => Buffer.from(b.toString().replace('"x":2', '"\u0445":2'))),
  );
  await data('two records swapped', (c) =>
    edit(c, (b) =>
      Buffer.from(
        b
          .toString()
          .split('\n')
          .map((l, i, a) => (i === 0 ? a[1] : i === 1 ? a[0] : l))
          .join('\n'),
      ),
    ),
  );
  await data('a blank line appended', (c) => edit(c, (b) => Buffer.concat([b, Buffer.from('\n')])));
  await data('CRLF line ends', (c) => edit(c, (b) => Buffer.from(b.toString().replace(/\n/g, '\r\n'))));
  const code = await copyOf(fx.code, (c) => rename(join(c, 'train.js'), join(c, 'tr\u0430in.js')));
  out.push({
    family: 'artifacts',
    name: 'code copy: train.js renamed with a Cyrillic "а"',
    bytes: fx.good.bytes,
    base: fx.good.bytes,
    options: { code },
    expect: ['artifact.code'],
  });
  const codeEdited = await copyOf(fx.code, (c) =>
    edit(join(c, 'train.js'), (b) => Buffer.concat([b, Buffer.from('\n')])),
  );
  out.push({
    family: 'artifacts',
    name: 'code copy: a newline appended to train.js',
    bytes: fx.good.bytes,
    base: fx.good.bytes,
    options: { code: codeEdited },
    expect: ['artifact.code'],
  });
  return out;
}

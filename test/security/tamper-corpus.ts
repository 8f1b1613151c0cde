/**
 * The tamper corpus: mutants of genuine certificates, generated programmatically so that every
 * field is attacked — base64 blobs bit by bit, event-log records, every JSON leaf of the
 * statement, the events and the file, quotes replayed from other runs, substituted keys and
 * chains, truncations, duplicate keys, non-canonical encodings and Unicode look-alikes.
 *
 * Each mutant must end in a report whose first failed check names the defence, unless it is
 * declared `equivalent`: a change the verifier provably does not rely on (whitespace and key
 * order outside the signed payload, another spelling of the same JSON value or base64 bytes),
 * whose decoded evidence the runner proves identical to the original's.
 */
import { createHash } from 'node:crypto';
import { AK_NAME_URI_PREFIX } from '../../src/evidence/ak-trust.js';
import type { Json } from '../cert/json-edits.js';

export type { Json };
type JsonObject = { [key: string]: Json };
type Path = Array<string | number>;

export interface Mutant {
  family: string;
  name: string;
  bytes: Buffer;
  /** The certificate this mutant was made from (for the equivalence proof). */
  base: Buffer;
  /** Verifier options that differ from the default (trust CA A, no untrusted AKs). */
  options?: { allowUntrustedAk?: boolean; model?: string; data?: string[]; code?: string };
  /** When given: the first failed check must be one of these. */
  expect?: string[];
  /**
   * A change the verifier does not rely on. `evidence`: the decoded evidence (JSON values,
   * base64-decoded bytes) is identical; `anchor-copy`: identical except for chain certificates
   * that are the verifier's own trust anchor.
   */
  equivalent?: { reason: string; same: 'evidence' | 'anchor-copy' };
}

/** Genuine certificate files the corpus is made from. */
export interface CorpusSources {
  good: Buffer;
  other: Buffer;
  trainer: Buffer;
  foreign: Buffer;
  chains: { akAByUntrustedCa: Buffer[]; akAByForger: Buffer[]; forgerSelfSigned: Buffer[]; akAByLookalikeCa: Buffer[] };
}

// ------------------------------------------------------------------ JSON helpers

export function parse(bytes: Buffer): JsonObject {
  return JSON.parse(bytes.toString('utf8')) as JsonObject;
}

/** How `aicert run` writes a certificate: two-space JSON and a final newline. */
export function serialize(value: Json): Buffer {
  return Buffer.from(JSON.stringify(value, null, 2) + '\n');
}

function at(root: Json, path: Path): Json {
  return path.reduce<Json>((node, key) => (node as Record<string | number, Json>)[key]!, root);
}

function setAt(root: Json, path: Path, value: Json | undefined): void {
  const parent = at(root, path.slice(0, -1)) as Record<string | number, Json>;
  const key = path[path.length - 1]!;
  if (value === undefined) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else parent[key] = value;
}

/** Paths of every primitive value under `root`. */
function leaves(root: Json, base: Path = []): Path[] {
  if (root === null || typeof root !== 'object') return [base];
  const entries: Array<[string | number, Json]> = Array.isArray(root)
    ? root.map((v, i) => [i, v])
    : Object.entries(root);
  return entries.flatMap(([k, v]) => leaves(v, [...base, k]));
}

/**
 * A small edit that keeps a value's form where it can (a hex digit for a hex digit, a letter
 * for a letter), so that edits reach the checks behind the schema.
 */
export function editLeaf(value: Json): Json {
  if (typeof value === 'number') return value + 1;
  if (typeof value === 'boolean') return !value;
  if (value === null) return 0;
  if (typeof value !== 'string') return value;
  if (value.length === 0) return 'x';
  const i = Math.floor(value.length / 2);
  const c = value[i]!;
  const swap = /[0-9]/.test(c)
    ? String((Number(c) + 1) % 10)
    : /[a-f]/.test(c)
      ? c === 'f'
        ? 'a'
        : String.fromCharCode(c.charCodeAt(0) + 1)
      : /[a-z]/i.test(c)
        ? c === 'z'
          ? 'a'
          : c === 'Z'
            ? 'A'
            : String.fromCharCode(c.charCodeAt(0) + 1)
        : c === 'x'
          ? 'y'
          : 'x';
  return value.slice(0, i) + swap + value.slice(i + 1);
}

function pathName(path: Path): string {
  return path
    .map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`))
    .join('')
    .slice(1);
}

const clone = <T>(v: T): T => structuredClone(v);

function statementOf(cert: JsonObject): JsonObject {
  return JSON.parse(
    Buffer.from((cert.statement as JsonObject).payload as string, 'base64').toString('utf8'),
  ) as JsonObject;
}

function withPayload(cert: JsonObject, payload: Buffer): JsonObject {
  const c = clone(cert);
  (c.statement as JsonObject).payload = payload.toString('base64');
  return c;
}

function tpmOf(cert: JsonObject): JsonObject {
  return (cert.evidence as JsonObject).tpm as JsonObject;
}

function logOf(cert: JsonObject): JsonObject[] {
  return tpmOf(cert).eventLog as JsonObject[];
}

function renumber(log: JsonObject[]): JsonObject[] {
  return log.map((r, i) => ({ ...r, recnum: i }));
}

/** The record digest aicert computes: SHA-256 of the JCS form (keys sorted, no whitespace). */
function recordDigest(content: Json): string {
  return createHash('sha256').update(jcs(content)).digest('hex');
}

/** RFC 8785 for the values this corpus edits (written here, independent of the code under test). */
export function jcs(value: Json): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(jcs).join(',')}]`;
  const keys = Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${keys.map((k) => `${JSON.stringify(k)}:${jcs(value[k]!)}`).join(',')}}`;
}

// ------------------------------------------------------------------ the corpus

/** Every mutant that needs no TPM and no files: pure functions of the genuine certificates. */
export function generateTamperCorpus(s: CorpusSources): Mutant[] {
  const out: Mutant[] = [];
  const good = parse(s.good);
  const add = (family: string, name: string, value: Json | Buffer, extra: Partial<Mutant> = {}) =>
    out.push({
      family,
      name,
      bytes: Buffer.isBuffer(value) ? value : serialize(value),
      base: extra.base ?? s.good,
      ...extra,
    });

  bitFlips(good, add);
  eventLogEdits(good, parse(s.other), add);
  leafEdits(good, parse(s.trainer), s.trainer, add);
  quoteSwaps(good, parse(s.other), parse(s.foreign), parse(s.trainer), add);
  keySubstitutions(good, parse(s.foreign), s.chains, add);
  truncations(s.good, good, add);
  duplicateKeys(s.good, add);
  encodings(s.good, good, add);
  lookalikes(good, add);
  whitespace(s.good, good, add);
  return out;
}

type Add = (family: string, name: string, value: Json | Buffer, extra?: Partial<Mutant>) => void;

const BLOBS: Path[] = [
  ['statement', 'payload'],
  ['evidence', 'tpm', 'akPublic'],
  ['evidence', 'tpm', 'akCertificateChain', 0],
  ['evidence', 'tpm', 'akCertificateChain', 1],
  ['evidence', 'tpm', 'quotes', 0, 'attest'],
  ['evidence', 'tpm', 'quotes', 0, 'signature'],
  ['evidence', 'tpm', 'quotes', 1, 'attest'],
  ['evidence', 'tpm', 'quotes', 1, 'signature'],
];
const FLIPS_PER_BLOB = 16;

/** Bit flips spread over every base64 blob: the first byte, the last, and evenly between. */
function bitFlips(good: JsonObject, add: Add): void {
  for (const path of BLOBS) {
    const bytes = Buffer.from(at(good, path) as string, 'base64');
    const positions = new Set(
      Array.from({ length: FLIPS_PER_BLOB }, (_, i) => Math.round((i * (bytes.length - 1)) / (FLIPS_PER_BLOB - 1))),
    );
    for (const position of positions) {
      const flipped = Buffer.from(bytes);
      const bit = position % 8;
      flipped[position]! ^= 1 << bit;
      const c = clone(good);
      setAt(c, path, flipped.toString('base64'));
      add('bit-flip', `${pathName(path)}: byte ${position} bit ${bit}`, c);
    }
  }
}

/** Deleted, duplicated, reordered, foreign and renumbered event-log records. */
function eventLogEdits(good: JsonObject, other: JsonObject, add: Add): void {
  const log = logOf(good);
  const withLog = (records: JsonObject[]) => {
    const c = clone(good);
    tpmOf(c).eventLog = records;
    return c;
  };
  for (let i = 0; i < log.length; i++) {
    const type = (log[i]!.content as JsonObject).type;
    add(
      'event-log',
      `record ${i} (${type}) deleted, the rest renumbered`,
      withLog(renumber(log.filter((_, j) => j !== i))),
    );
    add('event-log', `record ${i} (${type}) deleted, numbers kept`, withLog(log.filter((_, j) => j !== i)));
    add(
      'event-log',
      `record ${i} (${type}) duplicated`,
      withLog(renumber([...log.slice(0, i + 1), clone(log[i]!), ...log.slice(i + 1)])),
    );
    if (i + 1 < log.length)
      add(
        'event-log',
        `records ${i} and ${i + 1} swapped`,
        withLog(renumber([...log.slice(0, i), log[i + 1]!, log[i]!, ...log.slice(i + 2)])),
      );
    // The content edited and its digest recomputed, as a forger without the TPM would.
    const edited = clone(log);
    const content = edited[i]!.content as JsonObject;
    content.note = 'edited';
    (edited[i]!.digests as JsonObject[])[0]!.digest = recordDigest(content);
    add('event-log', `record ${i} (${type}) edited with its digest recomputed`, withLog(edited));
  }
  add('event-log', 'records reversed', withLog(renumber([...log].reverse())));
  add('event-log', 'first record moved to the end', withLog(renumber([...log.slice(1), log[0]!])));
  add('event-log', 'only the session record left', withLog([log[0]!]));
  add('event-log', 'empty event log', withLog([]), { expect: ['bundle.schema'] });
  add('event-log', "another run's output record appended", withLog(renumber([...log, logOf(other).at(-1)!])));
  add('event-log', "another run's session record in place of this one's", withLog([logOf(other)[0]!, ...log.slice(1)]));
  add('event-log', "another run's whole event log", withLog(logOf(other)), { expect: ['quote.binding'] });
  add('event-log', 'records numbered from 1', withLog(log.map((r, i) => ({ ...r, recnum: i + 1 }))));
  add('event-log', 'a record moved to PCR 16', withLog(log.map((r, i) => (i === 2 ? { ...r, pcr: 16 } : r))));
  add(
    'event-log',
    'a record with two digests',
    withLog(log.map((r, i) => (i === 2 ? { ...r, digests: [...(r.digests as Json[]), ...(r.digests as Json[])] } : r))),
  );
  add(
    'event-log',
    'a record with a SHA-1 digest',
    withLog(log.map((r, i) => (i === 2 ? { ...r, digests: [{ hashAlg: 'sha1', digest: 'aa'.repeat(20) }] } : r))),
  );
  add(
    'event-log',
    'a record of another content type',
    withLog(log.map((r, i) => (i === 2 ? { ...r, content_type: 'cel' } : r))),
  );
  add(
    'event-log',
    'a record of an unknown event type',
    withLog(log.map((r, i) => (i === 2 ? { ...r, content: { ...(r.content as JsonObject), type: 'note' } } : r))),
  );
}

/**
 * Every JSON leaf edited once: the statement's (inside the signed payload), every event's
 * content, and the certificate file's own; plus the trainer-protocol parts of a trainer run.
 */
function leafEdits(good: JsonObject, trainer: JsonObject, trainerBytes: Buffer, add: Add): void {
  const statement = statementOf(good);
  for (const path of leaves(statement)) {
    const edited = clone(statement);
    setAt(edited, path, editLeaf(at(statement, path)));
    add(
      'statement-leaf',
      `statement ${pathName(path)} edited`,
      withPayload(good, Buffer.from(JSON.stringify(edited, null, 2))),
    );
  }
  const outer = clone(good);
  for (const record of logOf(outer)) record.content = null; // content leaves are edited below
  for (const path of leaves(outer)) {
    if (path[0] === 'statement' && path[1] === 'payload') continue; // bit-flipped and leaf-edited above
    if (path.at(-1) === 'content') continue;
    const c = clone(good);
    setAt(c, path, editLeaf(at(good, path)));
    add('file-leaf', `${pathName(path)} edited`, c);
  }
  for (const [base, bytes, only] of [
    [good, undefined, undefined],
    [
      trainer,
      trainerBytes,
      (r: JsonObject) =>
        ['commitment', 'checkpoint'].includes((r.content as JsonObject).type as string) ||
        (r.content as JsonObject).role === 'transcript',
    ],
  ] as const) {
    logOf(base).forEach((record, i) => {
      if (only && !only(record)) return;
      for (const path of leaves(record.content as Json)) {
        if (only && (record.content as JsonObject).type === 'commitment' && path[0] !== 'trainer') continue;
        const c = clone(base);
        const content = logOf(c)[i]!.content as JsonObject;
        setAt(content, path, editLeaf(at(content, path)));
        add(
          'event-leaf',
          `${bytes ? 'trainer run: ' : ''}event ${i} (${(record.content as JsonObject).type}) ${pathName(path)} edited`,
          c,
          bytes ? { base: bytes } : {},
        );
      }
    });
  }
}

/** Quotes swapped, replayed from other runs and TPMs, duplicated, dropped; PCR values edited. */
function quoteSwaps(good: JsonObject, other: JsonObject, foreign: JsonObject, trainer: JsonObject, add: Add): void {
  const quotes = tpmOf(good).quotes as JsonObject[];
  const [start, end] = quotes as [JsonObject, JsonObject];
  const withQuotes = (q: Json[]) => {
    const c = clone(good);
    tpmOf(c).quotes = q;
    return c;
  };
  const phase = (q: JsonObject, p: string) => ({ ...q, phase: p });
  const from = (cert: JsonObject, i: number) => (tpmOf(cert).quotes as JsonObject[])[i]!;
  const replay = ['quote.binding'];
  add('quotes', 'start and end swapped, phases relabelled', withQuotes([phase(end, 'start'), phase(start, 'end')]), {
    expect: replay,
  });
  add('quotes', 'start and end swapped with their phases', withQuotes([end, start]), { expect: ['bundle.schema'] });
  add('quotes', 'the start quote used as the end quote too', withQuotes([start, phase(start, 'end')]), {
    expect: replay,
  });
  add('quotes', 'the end quote used as the start quote too', withQuotes([phase(end, 'start'), end]), {
    expect: replay,
  });
  add('quotes', "another run's start quote (same TPM)", withQuotes([from(other, 0), end]), { expect: replay });
  add('quotes', "another run's end quote (same TPM)", withQuotes([start, from(other, 1)]), { expect: replay });
  add('quotes', 'both quotes of another run (same TPM)', withQuotes([from(other, 0), from(other, 1)]), {
    expect: replay,
  });
  add('quotes', "a trainer run's quotes (same TPM)", withQuotes([from(trainer, 0), from(trainer, 1)]), {
    expect: replay,
  });
  add('quotes', "another TPM's start quote", withQuotes([from(foreign, 0), end]), { expect: ['quote.signature'] });
  add('quotes', "another TPM's quotes", withQuotes([from(foreign, 0), from(foreign, 1)]), {
    expect: ['quote.signature'],
  });
  add('quotes', 'only the start quote', withQuotes([start]), { expect: ['bundle.schema'] });
  add('quotes', 'three quotes', withQuotes([start, end, end]), { expect: ['bundle.schema'] });
  add('quotes', 'no quotes', withQuotes([]), { expect: ['bundle.schema'] });
  const pcrEdit = (name: string, i: 0 | 1, edit: (pcrs: Record<string, string>) => void, expect = ['pcr.digest']) => {
    const c = clone(good);
    edit(((tpmOf(c).quotes as JsonObject[])[i]!.pcrs as JsonObject).sha256 as Record<string, string>);
    add('quotes', name, c, { expect });
  };
  pcrEdit('start quote without PCR 0', 0, (p) => delete p['0']);
  pcrEdit('end quote without PCR 23', 1, (p) => delete p['23']);
  pcrEdit('end quote with an unquoted PCR 8 added', 1, (p) => (p['8'] = '00'.repeat(32)));
  pcrEdit("end quote carrying the start quote's PCR values", 1, (p) =>
    Object.assign(p, (start.pcrs as JsonObject).sha256 as JsonObject),
  );
  pcrEdit(
    'start quote PCR 23 set to the end value',
    0,
    (p) => (p['23'] = ((end.pcrs as JsonObject).sha256 as Record<string, string>)['23']!),
  );
  pcrEdit('end quote PCR 23 in upper-case hex', 1, (p) => (p['23'] = p['23']!.toUpperCase()), ['bundle.schema']);
  pcrEdit('end quote PCR 23 of 31 bytes', 1, (p) => (p['23'] = p['23']!.slice(2)), ['bundle.schema']);
  pcrEdit('end quote with PCR 24', 1, (p) => (p['24'] = '00'.repeat(32)), ['bundle.schema']);
  const c = clone(good);
  ((tpmOf(c).quotes as JsonObject[])[1]!.pcrs as JsonObject).sha1 = { '23': '00'.repeat(20) };
  add('quotes', 'end quote with a SHA-1 bank added', c, { expect: ['bundle.schema'] });
}

/** Another AK, another CA, a forger's chains, and chains rearranged. */
function keySubstitutions(good: JsonObject, foreign: JsonObject, chains: CorpusSources['chains'], add: Add): void {
  const tpm = tpmOf(good);
  const [leaf, ca] = tpm.akCertificateChain as [string, string];
  const foreignTpm = tpmOf(foreign);
  const b64 = (ders: Buffer[]) => ders.map((d) => d.toString('base64'));
  const withTpm = (patch: JsonObject, drop: string[] = []) => {
    const c = clone(good);
    const t = tpmOf(c);
    Object.assign(t, patch);
    for (const key of drop) delete t[key];
    return c;
  };
  const trust = ['ak.trust'];
  add('keys', "another TPM's AK, this chain", withTpm({ akPublic: foreignTpm.akPublic! }), { expect: trust });
  add(
    'keys',
    "another TPM's AK with its own trusted chain",
    withTpm({ akPublic: foreignTpm.akPublic!, akCertificateChain: foreignTpm.akCertificateChain! }),
    { expect: ['quote.signature'] },
  );
  add(
    'keys',
    "another TPM's trusted chain for this AK",
    withTpm({ akCertificateChain: foreignTpm.akCertificateChain! }),
    { expect: trust },
  );
  add(
    'keys',
    'this AK certified by an untrusted attestation CA',
    withTpm({ akCertificateChain: b64(chains.akAByUntrustedCa) }),
    { expect: trust },
  );
  add(
    'keys',
    "this AK certified by a forger's self-made CA",
    withTpm({ akCertificateChain: b64(chains.akAByForger) }),
    { expect: trust },
  );
  add(
    'keys',
    "this AK certified by a forger's CA named like the trusted one",
    withTpm({ akCertificateChain: b64(chains.akAByLookalikeCa) }),
    { expect: trust },
  );
  add(
    'keys',
    "the forger's certificate for this AK without its root",
    withTpm({ akCertificateChain: b64(chains.akAByForger.slice(0, 1)) }),
    { expect: trust },
  );
  add(
    'keys',
    'a self-signed certificate as the AK certificate',
    withTpm({ akCertificateChain: b64(chains.forgerSelfSigned) }),
    { expect: trust },
  );
  add('keys', 'no AK certificate chain', withTpm({}, ['akCertificateChain']), { expect: trust });
  add('keys', 'chain reversed (CA first)', withTpm({ akCertificateChain: [ca, leaf] }), { expect: trust });
  add('keys', 'only the CA certificate', withTpm({ akCertificateChain: [ca] }), { expect: trust });
  add('keys', 'the AK certificate twice', withTpm({ akCertificateChain: [leaf, leaf, ca] }), { expect: trust });
  add('keys', 'the CA certificate twice', withTpm({ akCertificateChain: [leaf, ca, ca] }), { expect: trust });
  add(
    'keys',
    "an unused certificate appended (another TPM's AK certificate)",
    withTpm({ akCertificateChain: [leaf, ca, (foreignTpm.akCertificateChain as string[])[0]!] }),
    { expect: trust },
  );
  add(
    'keys',
    "the forger's root appended",
    withTpm({ akCertificateChain: [leaf, ca, chains.forgerSelfSigned[0]!.toString('base64')] }),
    { expect: trust },
  );
  add('keys', 'a chain of nine certificates', withTpm({ akCertificateChain: Array.from({ length: 9 }, () => leaf) }), {
    expect: ['bundle.schema'],
  });
  add('keys', 'an empty chain', withTpm({ akCertificateChain: [] }), { expect: ['bundle.schema'] });
  const signed = clone(good);
  (signed.statement as JsonObject).signatures = [
    { keyid: 'forger', sig: Buffer.from('a signature nobody checks').toString('base64') },
  ];
  add('keys', 'a DSSE signature added to the statement envelope', signed, { expect: ['statement.signatures'] });
  add(
    'keys',
    'the AK Name URI prefix as the AK public key',
    withTpm({ akPublic: Buffer.from(AK_NAME_URI_PREFIX).toString('base64') }),
    { expect: ['ak.public'] },
  );
  add('keys', 'the chain without the CA certificate', withTpm({ akCertificateChain: [leaf] }), {
    equivalent: {
      reason:
        "the CA certificate the chain carried is the verifier's own trust anchor; the path validated, AK certificate → anchor, is the same",
      same: 'anchor-copy',
    },
  });
}

/** The file cut at many lengths, and each binary blob cut short. */
function truncations(bytes: Buffer, good: JsonObject, add: Add): void {
  const lengths = new Set<number>();
  for (let n = 0; n <= 24; n++) lengths.add(n);
  for (let i = 1; i < 48; i++) lengths.add(Math.floor((i * bytes.length) / 48));
  for (let n = bytes.length - 24; n < bytes.length - 1; n++) lengths.add(n);
  for (const n of [...lengths].sort((a, b) => a - b))
    add('truncation', `file cut to ${n} of ${bytes.length} bytes`, bytes.subarray(0, n), { expect: ['bundle.schema'] });
  add('truncation', 'file without its final newline', bytes.subarray(0, bytes.length - 1), {
    equivalent: { reason: 'only the whitespace after the JSON text is gone', same: 'evidence' },
  });
  for (const path of BLOBS) {
    const blob = Buffer.from(at(good, path) as string, 'base64');
    for (const keep of [blob.length - 1, Math.floor(blob.length / 2), 1]) {
      const c = clone(good);
      setAt(c, path, blob.subarray(0, keep).toString('base64'));
      add('truncation', `${pathName(path)} cut to ${keep} of ${blob.length} bytes`, c);
    }
  }
}

/** A member repeated in each object of the file, with the same and with another value. */
function duplicateKeys(bytes: Buffer, add: Add): void {
  const text = bytes.toString('utf8');
  const keys = [
    'mediaType',
    'payloadType',
    'payload',
    'signatures',
    'pcr',
    'akPublic',
    'phase',
    'attest',
    'signature',
    '23',
    'recnum',
    'hashAlg',
    'content_type',
    'type',
    'name',
    'sha256',
    'exitCode',
    'success',
  ];
  for (const key of keys) {
    const line = new RegExp(`^(\\s*)"${key}": ([^\\n{[]*?|\\[\\]),?$`, 'm').exec(text);
    if (!line) throw new Error(`duplicateKeys: no one-line member "${key}" in the certificate`);
    const [, indent, value] = line as unknown as [string, string, string];
    const altered = value === '[]' ? '[{"sig":"c2ln"}]' : JSON.stringify(editLeaf(JSON.parse(value) as Json));
    for (const [variant, repeated] of [
      ['the same value', value],
      ['another value', altered],
    ] as const) {
      const copy = `${indent}"${key}": ${repeated},\n`;
      add(
        'duplicate-key',
        `"${key}" repeated with ${variant}`,
        Buffer.from(text.slice(0, line.index) + copy + text.slice(line.index)),
        { expect: ['bundle.schema'] },
      );
    }
  }
}

/** Other spellings of the same bytes and values; and spellings that are not allowed. */
function encodings(bytes: Buffer, good: JsonObject, add: Add): void {
  const same = (reason: string) => ({ equivalent: { reason, same: 'evidence' as const } });
  for (const path of BLOBS) {
    const text = at(good, path) as string;
    const decoded = Buffer.from(text, 'base64');
    const variant = (name: string, value: string, extra: Partial<Mutant> = {}) => {
      const c = clone(good);
      setAt(c, path, value);
      add('encoding', `${pathName(path)}: ${name}`, c, extra);
    };
    variant(
      'URL-safe alphabet without padding',
      decoded.toString('base64url'),
      same('RFC 4648 §5 base64url of the same bytes, which DSSE requires verifiers to accept'),
    );
    const padded = decoded.toString('base64url') + '='.repeat((4 - (decoded.toString('base64url').length % 4)) % 4);
    if (padded !== text)
      variant('URL-safe alphabet with padding', padded, same('RFC 4648 §5 base64url of the same bytes, padded'));
    if (text.endsWith('=')) {
      // Without + or /, the text is also valid unpadded base64url; with them it is standard base64, which needs its padding.
      variant(
        'standard alphabet without its padding',
        text.replace(/=+$/, ''),
        /[+/]/.test(text)
          ? {}
          : same('the text has neither + nor /, so it reads as unpadded base64url of the same bytes'),
      );
    }
    variant('line breaks every 64 characters', text.replace(/(.{64})/g, '$1\n'));
    variant('a trailing space', `${text} `);
    variant('an extra "="', `${text}=`);
    variant('a "=" in the middle', `${text.slice(0, 8)}=${text.slice(8)}`);
    // With one + or / only, replacing it gives plain base64url of the same bytes, not a mix.
    if ((text.match(/[+/]/g) ?? []).length >= 2)
      variant(
        'standard and URL-safe alphabets mixed',
        text.replace(/[+/]/, (c) => (c === '+' ? '-' : '_')),
      );
    const strayBits = withStrayBits(text);
    if (strayBits) variant('non-zero bits after the last byte', strayBits);
  }
  const text = bytes.toString('utf8');
  const replaceFirst = (search: string | RegExp, by: string) => {
    const next = text.replace(search, by);
    if (next === text) throw new Error(`encodings: ${String(search)} not found`);
    return Buffer.from(next);
  };
  const numberForms: Array<[string, RegExp, string[]]> = [
    [
      'evidence.tpm.pcr',
      /("pcr": )23(,\n\s*"akPublic")/,
      ['23.0', '2.3e1', '23E0', '230e-1', '0.23e+2', '23.000000000000001'],
    ],
    ['recnum 1', /("recnum": )1(,)/, ['1.0', '1e0', '10E-1']],
    ['recnum 0', /("recnum": )0(,)/, ['-0', '0.0', '0e7']],
    ['exit event exitCode', /("exitCode": )0(,)/, ['0.0', '-0', '0E+3']],
    ['an input event files count', /("files": )1(,)/, ['1.0', '1e0']],
  ];
  for (const [where, search, forms] of numberForms) {
    for (const form of forms)
      add(
        'encoding',
        `${where} written ${form}`,
        replaceFirst(search, `$1${form}$2`),
        same(`${form} is the same JSON number`),
      );
  }
  const memory = /"memoryBytes": (\d+)/.exec(text)![1]!;
  add(
    'encoding',
    'environment memoryBytes in exponent form',
    replaceFirst(
      `"memoryBytes": ${memory}`,
      `"memoryBytes": ${memory.slice(0, 1)}.${memory.slice(1)}e${memory.length - 1}`,
    ),
    same('the same JSON number in exponent form'),
  );
  for (const [form, expect] of [
    ['"23"', 'bundle.schema'],
    ['23.5', 'bundle.schema'],
    ['1e400', 'bundle.schema'],
    ['-23', 'bundle.schema'],
    ['023', 'bundle.schema'],
    ['+23', 'bundle.schema'],
    ['0x17', 'bundle.schema'],
    ['NaN', 'bundle.schema'],
    ['23.', 'bundle.schema'],
    ['null', 'bundle.schema'],
  ] as const) {
    add('encoding', `evidence.tpm.pcr written ${form}`, replaceFirst(/("pcr": )23(,\n\s*"akPublic")/, `$1${form}$2`), {
      expect: [expect],
    });
  }
  for (const [form, expect] of [
    ['1e400', 'bundle.schema'],
    ['0.5', 'eventlog.content'],
    ['"0"', 'eventlog.content'],
    ['false', 'eventlog.content'],
  ] as const) {
    add('encoding', `exit event exitCode written ${form}`, replaceFirst(/("exitCode": )0(,)/, `$1${form}$2`), {
      expect: [expect],
    });
  }
  const mediaType = 'application/vnd.aicert.certificate.v1+json';
  add(
    'encoding',
    'mediaType with its first letter escaped',
    replaceFirst(`"${mediaType}"`, `"\\u0061${mediaType.slice(1)}"`),
    same('\\u0061 is "a": the same JSON string'),
  );
  add(
    'encoding',
    'mediaType with "/" escaped',
    replaceFirst(`"${mediaType}"`, `"${mediaType.replace('/', '\\/')}"`),
    same('\\/ is "/": the same JSON string'),
  );
  add(
    'encoding',
    'mediaType with its first letter escaped as "A"',
    replaceFirst(`"${mediaType}"`, `"\\u0041${mediaType.slice(1)}"`),
    { expect: ['bundle.schema'] },
  );
  add(
    'encoding',
    'the key "mediaType" escaped',
    replaceFirst('"mediaType"', '"\\u006dediaType"'),
    same('an escaped key names the same member'),
  );
  add(
    'encoding',
    'an event name escaped',
    replaceFirst(/"name": "train\.jsonl"/, '"name": "\\u0074rain.jsonl"'),
    same('the event content is the same JSON string, and its digest is over the canonical form'),
  );
  add(
    'encoding',
    'the akPublic text with an escaped character',
    replaceFirst(
      `"akPublic": "${tpmOf(good).akPublic as string}"`,
      `"akPublic": "\\u00${(tpmOf(good).akPublic as string).charCodeAt(0).toString(16)}${(tpmOf(good).akPublic as string).slice(1)}"`,
    ),
    same('an escaped character in a JSON string is the same string'),
  );
  add('encoding', 'an invalid escape \\x61', replaceFirst(`"${mediaType}"`, `"\\x61${mediaType.slice(1)}"`), {
    expect: ['bundle.schema'],
  });
  add('encoding', 'a cut \\u escape', replaceFirst(`"${mediaType}"`, `"\\u00${mediaType.slice(1)}"`), {
    expect: ['bundle.schema'],
  });
  add(
    'encoding',
    'a lone surrogate in an event name',
    replaceFirst(/"name": "train\.jsonl"/, '"name": "train\\ud800.jsonl"'),
    { expect: ['eventlog.content'] },
  );
  add('encoding', 'a NUL in an event name', replaceFirst(/"name": "train\.jsonl"/, '"name": "train\\u0000.jsonl"'), {
    expect: ['eventlog.content'],
  });
  add(
    'encoding',
    'a byte-order mark before the JSON',
    Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]),
    same('RFC 8259 §8.1 lets a parser ignore a byte-order mark; the UTF-8 decoder drops it'),
  );
  const invalid = Buffer.from(bytes);
  invalid[text.indexOf('certificate.v1')] = 0xff;
  add('encoding', 'an invalid UTF-8 byte in the mediaType', invalid, { expect: ['bundle.schema'] });
  add(
    'encoding',
    'an overlong UTF-8 "/" in the mediaType',
    Buffer.concat([
      Buffer.from(text.slice(0, text.indexOf('/vnd.aicert'))),
      Buffer.from([0xc0, 0xaf]),
      Buffer.from(text.slice(text.indexOf('/vnd.aicert') + 1)),
    ]),
    { expect: ['bundle.schema'] },
  );
  add('encoding', 'the file in UTF-16', Buffer.from(text, 'utf16le'), { expect: ['bundle.schema'] });
}

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** The same text with the unused low bits of its last character set (lax decoders ignore them). */
function withStrayBits(text: string): string | undefined {
  const data = text.replace(/=+$/, '');
  if (data.length === text.length) return undefined; // no padding: no unused bits
  const last = BASE64_ALPHABET.indexOf(data.at(-1)!);
  return `${data.slice(0, -1)}${BASE64_ALPHABET[last | 1]}${text.slice(data.length)}`;
}

/**
 * Look-alike characters in names and paths: Cyrillic letters, full-width and division slashes,
 * zero-width and bidirectional controls, decomposed accents. Each is other bytes, so the
 * digests bound to the original names no longer match.
 */
const LOOKALIKES: Array<[string, (s: string) => string]> = [
  ['a Cyrillic "а"', (s) => s.replace(/a/, '\u0430')],
  ['a Cyrillic "е"', (s) => s.replace(/e/, '\u0435')],
  ['a Greek "ο"', (s) => s.replace(/o/, '\u03bf')],
  ['a zero-width space', (s) => `${s.slice(0, 2)}\u200b${s.slice(2)}`],
  ['a right-to-left override', (s) => `\u202e${s}`],
  ['a full-width "／"', (s) => (s.includes('/') ? s.replace('/', '\uff0f') : `x\uff0f${s}`)],
  ['a division slash "∕"', (s) => (s.includes('/') ? s.replace('/', '\u2215') : `x\u2215${s}`)],
  ['a combining acute accent', (s) => `${s.slice(0, 1)}\u0301${s.slice(1)}`],
];

function lookalikes(good: JsonObject, add: Add): void {
  const text = serialize(good).toString('utf8');
  const log = logOf(good);
  const targets: Array<[string, string]> = [];
  const input = (role: string) => log.find((r) => (r.content as JsonObject).role === role)!.content as JsonObject;
  targets.push(['dataset input name', `"name": ${JSON.stringify(input('dataset').name)}`]);
  targets.push(['code input file name', `"name": ${JSON.stringify((input('code').entries as JsonObject[])[0]!.name)}`]);
  targets.push([
    'model output file name',
    `"name": ${JSON.stringify((input('model').entries as JsonObject[])[0]!.name)}`,
  ]);
  targets.push([
    'command output name',
    `"output": ${JSON.stringify((log.find((r) => (r.content as JsonObject).type === 'command')!.content as JsonObject).output)}`,
  ]);
  const argv = (log.find((r) => (r.content as JsonObject).type === 'command')!.content as JsonObject).argv as string[];
  targets.push(["the command's output path argument", JSON.stringify(argv.at(-1))]);
  for (const [what, original] of targets) {
    if (!text.includes(original)) throw new Error(`lookalikes: ${original} not found`);
    for (const [how, change] of LOOKALIKES) {
      const quoted = /"[^"]*"$/.exec(original)![0];
      const changed = original.replace(quoted, `"${change(quoted.slice(1, -1))}"`);
      if (changed === original) continue; // the name has no such letter
      add('lookalike', `${what} with ${how}`, Buffer.from(text.replace(original, changed)), {
        expect: ['eventlog.content'],
      });
    }
  }
  const statement = statementOf(good);
  const subject = JSON.stringify((statement.subject as JsonObject[])[0]!.name);
  const statementText = JSON.stringify(statement, null, 2);
  for (const [how, change] of LOOKALIKES) {
    if (change(subject.slice(1, -1)) === subject.slice(1, -1)) continue;
    add(
      'lookalike',
      `statement subject name with ${how}`,
      withPayload(good, Buffer.from(statementText.replace(subject, `"${change(subject.slice(1, -1))}"`))),
      { expect: ['quote.binding'] },
    );
  }
  add(
    'lookalike',
    'mediaType with a Cyrillic "а"',
    Buffer.from(text.replace('application/vnd', '\u0430pplication/vnd')),
    { expect: ['bundle.schema'] },
  );
  add(
    'lookalike',
    'the key "mediaType" with a Cyrillic "е"',
    Buffer.from(text.replace('"mediaType"', '"m\u0435diaType"')),
    { expect: ['bundle.schema'] },
  );
  add(
    'lookalike',
    'phase "start" with a Cyrillic "а"',
    Buffer.from(text.replace('"phase": "start"', '"phase": "st\u0430rt"')),
    { expect: ['bundle.schema'] },
  );
  add(
    'lookalike',
    'event type "input" with a Cyrillic "і"',
    Buffer.from(text.replace('"type": "input"', '"type": "\u0456nput"')),
    { expect: ['bundle.schema'] },
  );
}

/**
 * Whitespace and member order outside the signed payload: equivalent, since the statement is
 * signed as bytes and event digests are over canonical JSON. The same inside the payload is not.
 */
function whitespace(bytes: Buffer, good: JsonObject, add: Add): void {
  const same = (reason: string) => ({ equivalent: { reason, same: 'evidence' as const } });
  const text = bytes.toString('utf8');
  const outside = 'whitespace between JSON tokens carries no value';
  add('whitespace', 'compact JSON', Buffer.from(JSON.stringify(good)), same(outside));
  add('whitespace', 'four-space indentation', Buffer.from(JSON.stringify(good, null, 4)), same(outside));
  add('whitespace', 'tab indentation', Buffer.from(JSON.stringify(good, null, '\t')), same(outside));
  add('whitespace', 'CRLF line ends', Buffer.from(text.replace(/\n/g, '\r\n')), same(outside));
  add('whitespace', 'blank lines and spaces around the document', Buffer.from(`\n \t${text}\n\n  \n`), same(outside));
  add(
    'whitespace',
    'spaces before every colon and comma',
    Buffer.from(text.replace(/": /g, '" : ').replace(/,\n/g, ' ,\n')),
    same(outside),
  );
  const reorder = (value: Json, depth: number, maxDepth: number): Json => {
    if (value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v) => reorder(v, depth + 1, maxDepth));
    const entries = Object.entries(value).map(([k, v]) => [k, reorder(v, depth + 1, maxDepth)] as const);
    return Object.fromEntries(depth < maxDepth ? entries.reverse() : entries);
  };
  add(
    'key-order',
    'members of the certificate file reversed (event contents kept)',
    serialize(reorder(good, 0, 5)),
    same("the file's objects are unordered JSON"),
  );
  add(
    'key-order',
    'members of every object reversed, event contents too',
    serialize(reorder(good, 0, 99)),
    same('event digests are over the canonical (sorted) form of the content'),
  );
  const sorted = (value: Json): Json =>
    value === null || typeof value !== 'object'
      ? value
      : Array.isArray(value)
        ? value.map(sorted)
        : Object.fromEntries(
            Object.keys(value)
              .sort()
              .map((k) => [k, sorted(value[k]!)]),
          );
  add('key-order', 'members of every object sorted', serialize(sorted(good)), same('JSON objects are unordered'));
  const statement = statementOf(good);
  add(
    'whitespace',
    'the signed statement re-serialized compactly',
    withPayload(good, Buffer.from(JSON.stringify(statement))),
    { expect: ['quote.binding'] },
  );
  add(
    'whitespace',
    'the signed statement with a trailing newline',
    withPayload(
      good,
      Buffer.concat([Buffer.from((good.statement as JsonObject).payload as string, 'base64'), Buffer.from('\n')]),
    ),
    { expect: ['quote.binding'] },
  );
  add(
    'key-order',
    'the signed statement with its members reversed',
    withPayload(good, Buffer.from(JSON.stringify(reorder(statement, 0, 99), null, 2))),
    { expect: ['quote.binding'] },
  );
}

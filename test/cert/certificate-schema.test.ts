import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parseCertificate, CERTIFICATE_MEDIA_TYPE } from '../../src/cert/certificate.js';
import { EVENT_TYPES } from '../../src/evidence/event-log.js';
import { InputError } from '../../src/errors.js';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import { NO_TRUST_ANCHORS } from '../../src/evidence/ak-trust.js';
import { makeRealCertificates, type RealCertificates } from './real-certificates.js';

/**
 * schemas/certificate.v1.schema.json (the published JSON Schema of the certificate file) and
 * parseCertificate (what aicert accepts) must agree: on real certificates, and on every
 * mutation of one, they accept or reject together. So neither can drift from the other.
 */
const SCHEMA_PATH = fileURLToPath(new URL('../../../schemas/certificate.v1.schema.json', import.meta.url));

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Container = Json[] | { [key: string]: Json };

function compileSchema() {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  return ajv.compile(JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as object);
}
const validateSchema = compileSchema();

/** Whether parseCertificate accepts the JSON; any error other than bundle.schema is a bug. */
function codeAccepts(value: Json): boolean {
  try {
    parseCertificate(Buffer.from(JSON.stringify(value)));
    return true;
  } catch (err) {
    if (err instanceof InputError && err.code === 'bundle.schema') return false;
    throw err;
  }
}

function schemaErrors(): string {
  return JSON.stringify(validateSchema.errors?.slice(0, 3));
}

// ---- mutations --------------------------------------------------------------------------

const HEX64 = 'ab'.repeat(32);
/** Values chosen to sit on and around every bound and constant of the format. */
const INTERESTING: Json[] = [
  null, true, false, 0, -1, 1, 22, 23, 24, 1.5, -0, 2 ** 53 - 1, 2 ** 53, 1e300,
  '', 'a', 'start', 'end', 'sha256', 'sha1', 'aicert', 'phase', CERTIFICATE_MEDIA_TYPE, 'application/vnd.in-toto+json',
  ...EVENT_TYPES, 'Session', HEX64, HEX64.toUpperCase(), HEX64.slice(1), `${HEX64}0`,
  'a'.repeat(8192), 'a'.repeat(8193), '\u{1F600}'.repeat(8192), '\u{1F600}'.repeat(8193),
  [], {}, ['x'], { type: 'session' }, { sig: 'c2ln' }, { sig: 'c2ln', keyid: null },
];
const KEYS = ['extra', 'type', 'sha256', 'sha1', '0', '7', '19', '23', '24', '01', '-1', 'keyid', 'sig', 'phase', 'akCertificateChain', 'akPin', 'signatures', 'content', 'recnum'];
const LENGTHS = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17];
const OPS = ['delete', 'replace', 'addKey', 'duplicate', 'resize', 'swap', 'tweakString', 'tweakNumber', 'copyNode'] as const;

const mutationArb = fc.record({
  op: fc.constantFrom(...OPS),
  path: fc.nat(),
  other: fc.nat(),
  value: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...INTERESTING) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json> }),
  key: fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 6 }).filter((k) => k !== '__proto__')),
  length: fc.constantFrom(...LENGTHS),
  char: fc.constantFrom('0', 'f', 'g', 'A', '=', '+', ' ', '\n', '\u{1F600}'),
});
type Mutation = typeof mutationArb extends fc.Arbitrary<infer T> ? T : never;

interface Site {
  parent: Container | undefined;
  key: string | number;
  value: Json;
}

/**
 * Every node a mutation may hit. Inside an event's `content` only the object itself and its
 * `type` matter to the format (the digest protects the rest), so the walk stops there.
 */
function sites(root: Json): Site[] {
  const out: Site[] = [{ parent: undefined, key: '', value: root }];
  const walk = (node: Json) => {
    if (node === null || typeof node !== 'object') return;
    const entries: Array<[string | number, Json]> = Array.isArray(node) ? node.map((v, i) => [i, v]) : Object.entries(node);
    for (const [key, value] of entries) {
      out.push({ parent: node, key, value });
      if (key !== 'content') walk(value);
      else if (value !== null && typeof value === 'object' && !Array.isArray(value) && 'type' in value) {
        out.push({ parent: value, key: 'type', value: value.type! });
      }
    }
  };
  walk(root);
  return out;
}

function put(site: Site, value: Json): Json | undefined {
  if (!site.parent) return value;
  (site.parent as Record<string | number, Json>)[site.key] = value;
  return undefined;
}

/** Applies one mutation in place; returns a new root when the root itself was replaced. */
function mutate(root: Json, m: Mutation): Json {
  const all = sites(root);
  const site = all[m.path % all.length]!;
  const { value } = site;
  const replaced = (next: Json) => put(site, next) ?? root;
  switch (m.op) {
    case 'delete':
      if (!site.parent) return root;
      if (Array.isArray(site.parent)) site.parent.splice(site.key as number, 1);
      else delete site.parent[site.key as string];
      return root;
    case 'replace':
      return replaced(structuredClone(m.value));
    case 'copyNode':
      return replaced(structuredClone(all[m.other % all.length]!.value));
    case 'addKey':
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) value[m.key] = structuredClone(m.value);
      return root;
    case 'duplicate':
      if (Array.isArray(value) && value.length > 0) value.push(structuredClone(value[m.other % value.length]!));
      return root;
    case 'resize':
      if (Array.isArray(value) && value.length > 0) {
        const template = value.slice();
        value.length = 0;
        for (let i = 0; i < m.length; i++) value.push(structuredClone(template[i % template.length]!));
      }
      return root;
    case 'swap':
      if (Array.isArray(value) && value.length > 1) {
        const i = m.other % value.length;
        const j = (i + 1) % value.length;
        [value[i], value[j]] = [value[j]!, value[i]!];
      }
      return root;
    case 'tweakString':
      if (typeof value === 'string') {
        const at = m.other % (value.length + 1);
        return replaced(m.other % 3 === 0 ? value.slice(0, at) + value.slice(at + 1) : value.slice(0, at) + m.char + value.slice(at));
      }
      return root;
    case 'tweakNumber':
      if (typeof value === 'number') return replaced([value + 1, value - 1, -value, value + 0.5][m.other % 4]!);
      return root;
  }
}

// ---- tests ------------------------------------------------------------------------------

describe('the JSON Schema of the certificate file', () => {
  let real: RealCertificates;
  before(async () => {
    real = await makeRealCertificates();
  });

  test('real certificates (a success and a certified failure) pass both the JSON Schema and parseCertificate', () => {
    for (const [name, bytes] of Object.entries(real)) {
      const json = JSON.parse(bytes.toString('utf8')) as Json;
      assert.equal(validateSchema(json), true, `${name}: ${schemaErrors()}`);
      assert.doesNotThrow(() => parseCertificate(bytes), name);
    }
    const success = JSON.parse(real.success.toString('utf8'));
    assert.ok(success.evidence.tpm.akCertificateChain?.length > 0, 'the success certificate carries an AK certificate chain');
  });

  test('on random mutations of a real certificate, the JSON Schema and parseCertificate accept and reject together', () => {
    const original = JSON.parse(real.success.toString('utf8')) as Json;
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (mutations) => {
        let json = structuredClone(original);
        for (const m of mutations) json = mutate(json, m);
        const bySchema = validateSchema(json);
        const byCode = codeAccepts(json);
        assert.equal(bySchema, byCode, `schema ${bySchema ? 'accepts' : `rejects (${schemaErrors()})`}, parseCertificate ${byCode ? 'accepts' : 'rejects'}`);
        if (byCode) accepted++;
        else rejected++;
      }),
      { numRuns: 500 },
    );
    // Both outcomes must be common, or the agreement would say little.
    assert.ok(rejected >= 100 && accepted >= 25, `accepted ${accepted}, rejected ${rejected}`);
  });

  test('both refuse quotes in the wrong order, and accept the boundary sizes of each list', () => {
    const cert = JSON.parse(real.success.toString('utf8'));
    const swapped = structuredClone(cert);
    swapped.evidence.tpm.quotes.reverse();
    assert.equal(validateSchema(swapped), false);
    assert.equal(codeAccepts(swapped), false);

    const atBounds = structuredClone(cert);
    const blob = atBounds.evidence.tpm.akCertificateChain[0];
    atBounds.evidence.tpm.akCertificateChain = Array.from({ length: 8 }, () => blob);
    atBounds.statement.signatures = Array.from({ length: 16 }, () => ({ sig: 'c2ln' }));
    atBounds.evidence.tpm.akPublic = 'A'.repeat(8192);
    assert.equal(validateSchema(atBounds), true, schemaErrors());
    assert.equal(codeAccepts(atBounds), true);
  });

  test('both accept an event log of 100,000 records and refuse one of 100,001', () => {
    const cert = JSON.parse(real.success.toString('utf8'));
    const record = { recnum: 0, pcr: 23, digests: [{ hashAlg: 'sha256', digest: HEX64 }], content_type: 'aicert', content: { type: 'checkpoint' } };
    cert.evidence.tpm.eventLog = Array.from({ length: 100_000 }, () => record);
    assert.equal(validateSchema(cert), true, schemaErrors());
    assert.equal(codeAccepts(cert), true);
    cert.evidence.tpm.eventLog.push(record);
    assert.equal(validateSchema(cert), false);
    assert.equal(codeAccepts(cert), false);
  });

  describe('known gaps (bugs reported to the lead; these fail until fixed)', () => {
    // zod 4 skips "__proto__" members: a record drops them unchecked, a loose object drops them
    // from its output. The JSON Schema (any standard validator) checks them like any other key.
    test('parseCertificate refuses a "__proto__" PCR index, as the JSON Schema does', { todo: 'certificate.ts: z.record skips __proto__ keys' }, () => {
      const cert = JSON.parse(real.success.toString('utf8'));
      const text = JSON.stringify(cert).replace('"sha256":{"0":', '"sha256":{"__proto__":"not a pcr value","0":');
      assert.equal(validateSchema(JSON.parse(text)), false);
      assert.throws(() => parseCertificate(Buffer.from(text)), /bundle\.schema|not a valid aicert certificate/);
    });

    test('an event that gains a "__proto__" member no longer verifies', { todo: 'parsed event content drops __proto__, so its digest is checked without it' }, async () => {
      const cert = JSON.parse(real.success.toString('utf8'));
      // Any JSON reader other than zod's output sees this claim inside a "verified" event.
      const text = JSON.stringify(cert).replace('"content":{"type":"command",', '"content":{"__proto__":{"claim":"unverified text"},"type":"command",');
      assert.notEqual(text, JSON.stringify(cert));
      const report = await verifyCertificate(Buffer.from(text), 'test', { trust: NO_TRUST_ANCHORS, allowUntrustedAk: true });
      assert.notEqual(report.verdict, 'verified');
    });
  });
});

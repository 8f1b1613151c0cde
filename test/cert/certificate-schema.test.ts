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
import { allPaths, applyEdit, boundaryValues, catalogueEdits, editArbitrary, valueAt, type CatalogueOptions, type Json, type JsonPath } from './json-edits.js';

/**
 * schemas/certificate.v1.schema.json (the published JSON Schema of the certificate file) and
 * parseCertificate (what aicert accepts) must agree: on real certificates, and on every
 * mutation of one, they accept or reject together. So neither can drift from the other.
 */
const SCHEMA_PATH = fileURLToPath(new URL('../../../schemas/certificate.v1.schema.json', import.meta.url));

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

const BASE_EDITS: CatalogueOptions = {
  values: boundaryValues([CERTIFICATE_MEDIA_TYPE, 'application/vnd.in-toto+json', 'start', 'end', 'sha256', 'sha1', 'aicert', ...EVENT_TYPES, 'Session']),
  keys: ['extra', 'type', 'keyid', 'sig', 'phase', 'sha1', 'akCertificateChain', 'akPin', '0', '9', '10', '19', '20', '23', '24', '01', '1.0', '-1'],
  arrayLengths: [0, 1, 2, 3, 7, 8, 9, 15, 16, 17],
  stringLengths: [0, 1, 63, 64, 65, 8191, 8192, 8193],
};

/**
 * The paths worth editing once each: one element of each list (both quotes, whose order
 * matters), one PCR value per quote, and of an event's content only its `type` (the content
 * digest, not the schema, protects the rest).
 */
function representativePaths(root: Json): JsonPath[] {
  const seen = new Set<string>();
  return allPaths(root).filter((path) => {
    const content = path.indexOf('content');
    if (content >= 0 && path.length > content + 1 && path[content + 1] !== 'type') return false;
    const generic = path.map((k, i) => (typeof k === 'number' ? (path[i - 1] === 'quotes' ? k : 0) : path[i - 1] === 'sha256' ? '#' : k));
    const id = JSON.stringify(generic);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** Whether the two agree on `json`; the message says how they differ. */
function agreement(json: Json): { same: boolean; accepted: boolean; message: string } {
  const bySchema = validateSchema(json);
  const byCode = codeAccepts(json);
  return {
    same: bySchema === byCode,
    accepted: byCode,
    message: `the JSON Schema ${bySchema ? 'accepts' : `rejects (${schemaErrors()})`}, parseCertificate ${byCode ? 'accepts' : 'rejects'}`,
  };
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

  /** The real certificate with the optional parts it lacks: DSSE signatures, with and without keyid. */
  function base(): Json {
    const cert = JSON.parse(real.success.toString('utf8'));
    cert.statement.signatures = [{ sig: 'c2ln' }, { keyid: null, sig: 'c2ln' }];
    return cert as Json;
  }

  test('on every catalogued edit of a real certificate, the JSON Schema and parseCertificate accept and reject together', () => {
    const root = base();
    assert.equal(agreement(root).accepted, true);
    const disagreements: string[] = [];
    let checked = 0;
    for (const path of representativePaths(root)) {
      for (const edit of catalogueEdits(valueAt(root, path)!, BASE_EDITS)) {
        const result = agreement(applyEdit(root, path, edit));
        checked++;
        if (!result.same) disagreements.push(`${path.join('.') || '(root)'} ${JSON.stringify(edit).slice(0, 80)}: ${result.message}`);
      }
    }
    assert.deepEqual(disagreements.slice(0, 5), [], `${disagreements.length} of ${checked} edits`);
  });

  test('on random combinations of edits anywhere in a real certificate, they accept and reject together', () => {
    const root = base();
    let accepted = 0;
    let rejected = 0;
    const step = fc.record({ path: fc.nat(), edit: editArbitrary(BASE_EDITS) });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 3 }), (steps) => {
        let json = root;
        for (const { path, edit } of steps) {
          const paths = allPaths(json);
          json = applyEdit(json, paths[path % paths.length]!, edit);
        }
        const result = agreement(json);
        assert.ok(result.same, result.message);
        if (result.accepted) accepted++;
        else rejected++;
      }),
      { numRuns: 300 },
    );
    // Both outcomes must be common, or agreeing would say little.
    assert.ok(rejected >= 60 && accepted >= 30, `accepted ${accepted}, rejected ${rejected}`);
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
    const record = { recnum: 0, pcr: 23, digests: [{ hashAlg: 'sha256', digest: 'ab'.repeat(32) }], content_type: 'aicert', content: { type: 'checkpoint' } };
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

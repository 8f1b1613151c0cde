import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initCa, type AttestationCa } from '../../src/ca/ca-directory.js';
import { enrollAk, httpCaEndpoint } from '../../src/ca/enroll-client.js';
import { DEFAULT_ENROLLMENT_LIMITS, EnrollmentAuthority, type EnrollmentLimits } from '../../src/ca/enrollment.js';
import { ENROLL_START_PATH, type EnrollStart } from '../../src/ca/protocol.js';
import { clientKey } from '../../src/ca/rate-limit.js';
import { startCaServer, type CaServer } from '../../src/ca/server.js';
import { Tpm } from '../../src/tpm/client.js';
import { createEk, readEkCertificate } from '../../src/tpm/keys.js';
import { public2b } from '../../src/tpm/public.js';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { encodeBase64 } from '../../src/util/base64.js';
import { akPublicFor } from '../tpm/helpers.js';

/**
 * Issue 16, item 7: the attestation CA kept up to 1,024 enrollment sessions for five minutes
 * and then refused everyone. EK certificates are public, so anyone could fill the table with
 * start requests (no TPM needed: the secret is never returned) and lock genuine TPMs out for
 * five minutes. Now starts are rate-limited per client address and per EK, a client holds at
 * most 16 sessions and an EK 4 (a further start for it ends its oldest session). The attacks run
 * against a real HTTP server on loopback, from their own source addresses (127.0.0.2 and up);
 * genuine enrollments come from a swtpm through 127.0.0.1.
 */

const FIXTURES = new URL('../../../test/evidence/fixtures/swtpm-ek/', import.meta.url).pathname;
/** A public EK certificate, its EK public area, and any attestation key: all an attacker needs. */
const PUBLIC_EK: EnrollStart = {
  ekCertificate: encodeBase64(readFileSync(join(FIXTURES, 'ek-rsa-cert.der'))),
  ekPublic: encodeBase64(readFileSync(join(FIXTURES, 'ek-rsa.pub'))),
  akPublic: encodeBase64(public2b(akPublicFor('ecc').area.bytes)),
};
/** The figure: about a thousand start requests. */
const FLOOD = 1100;

let work: string;
let sim: Simulator;
let tpm: Tpm;
let ca: AttestationCa;

interface Answer {
  status: number;
  retryAfter: string | undefined;
  code: string | undefined;
}

/** POSTs `body` to the CA from the loopback address `from`. */
function post(server: CaServer, path: string, body: unknown, from: string, agent: Agent): Promise<Answer> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, server.url),
      {
        method: 'POST',
        localAddress: from,
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (res) => {
        let answer = '';
        res.on('data', (chunk: Buffer) => (answer += chunk.toString('utf8')));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            retryAfter: res.headers['retry-after'],
            code: res.statusCode === 200 ? undefined : JSON.parse(answer).error.code,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

/** `count` start requests from `from`, one after another; how many were answered with each status. */
async function flood(
  server: CaServer,
  from: string,
  count: number,
  body: EnrollStart = PUBLIC_EK,
): Promise<Map<number, number>> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, localAddress: from } as ConstructorParameters<
    typeof Agent
  >[0]);
  const statuses = new Map<number, number>();
  try {
    for (let i = 0; i < count; i++) {
      const answer = await post(server, ENROLL_START_PATH, body, from, agent);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (answer.status === 429) {
        assert.equal(answer.code, 'enroll.rate-limited');
        assert.match(answer.retryAfter ?? '', /^\d+$/);
      } else {
        assert.equal(answer.status, 200, `start ${i}: HTTP ${answer.status} ${answer.code}`);
      }
    }
  } finally {
    agent.destroy();
  }
  return statuses;
}

async function withServer<T>(
  limits: Partial<EnrollmentLimits>,
  use: (server: CaServer, authority: EnrollmentAuthority) => Promise<T>,
): Promise<T> {
  const authority = new EnrollmentAuthority(ca, { limits });
  const server = await startCaServer(authority);
  try {
    return await use(server, authority);
  } finally {
    await server.close();
  }
}

/** A genuine enrollment of the swtpm's AK, from 127.0.0.1. */
async function enrollGenuine(server: CaServer): Promise<void> {
  const enrolled = await enrollAk({ tpm, endpoint: httpCaEndpoint(server.url) });
  assert.equal(enrolled.chain.length, 2);
}

describe('attack: enrollment sessions started from a public EK certificate lock genuine TPMs out', () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-ca-flood-'));
    process.env.AICERT_HOME = join(work, 'home');
    sim = await startSimulator();
    tpm = await Tpm.open(sim.address);
    ca = await initCa(join(work, 'ca'), [sim.caRootFile, join(FIXTURES, 'root.pem')], {
      ekIntermediatePemFiles: [join(sim.dir, 'ca', 'issuercert.pem'), join(FIXTURES, 'intermediate.pem')],
    });
  });
  after(async () => {
    await tpm?.close();
    await sim?.stop();
    delete process.env.AICERT_HOME;
    await rm(work, { recursive: true, force: true });
  });

  it(`one client, ${FLOOD} starts: ${DEFAULT_ENROLLMENT_LIMITS.clientRate.burst} accepted, the rest 429; the EK holds 4 sessions; a genuine TPM enrolls`, async () => {
    await withServer({}, async (server, authority) => {
      const started = Date.now();
      const statuses = await flood(server, '127.0.0.2', FLOOD);
      const refill = Math.ceil(((Date.now() - started) / 60_000) * DEFAULT_ENROLLMENT_LIMITS.clientRate.perMinute);
      const accepted = statuses.get(200) ?? 0;
      assert.ok(
        accepted >= DEFAULT_ENROLLMENT_LIMITS.clientRate.burst &&
          accepted <= DEFAULT_ENROLLMENT_LIMITS.clientRate.burst + refill,
        `accepted ${accepted}`,
      );
      assert.equal(statuses.get(429), FLOOD - accepted);
      assert.equal(authority.sessionsPending, DEFAULT_ENROLLMENT_LIMITS.pendingPerEk);
      await enrollGenuine(server);
    });
  });

  it('forty clients, one EK: starts for the EK are bounded by its rate, its sessions by 4; a genuine TPM enrolls', async () => {
    await withServer({}, async (server, authority) => {
      const started = Date.now();
      let accepted = 0;
      for (let i = 3; i < 43; i++) accepted += (await flood(server, `127.0.0.${i}`, 30)).get(200) ?? 0;
      const refill = Math.ceil(((Date.now() - started) / 60_000) * DEFAULT_ENROLLMENT_LIMITS.ekRate.perMinute);
      assert.ok(accepted <= DEFAULT_ENROLLMENT_LIMITS.ekRate.burst + refill, `accepted ${accepted}`);
      assert.equal(authority.sessionsPending, DEFAULT_ENROLLMENT_LIMITS.pendingPerEk);
      await enrollGenuine(server);
    });
  });

  it("sessions started in a genuine TPM's own name do not lock it out: the oldest make way", async () => {
    const ek = await createEk(tpm, 'rsa');
    await tpm.flushContext(ek.handle);
    const ownName: EnrollStart = {
      ekCertificate: encodeBase64((await readEkCertificate(tpm, 'rsa'))!),
      ekPublic: encodeBase64(public2b(ek.public.bytes)),
      akPublic: PUBLIC_EK.akPublic,
    };
    await withServer({}, async (server, authority) => {
      const statuses = await flood(server, '127.0.0.2', DEFAULT_ENROLLMENT_LIMITS.clientRate.burst, ownName);
      assert.equal(statuses.get(200), DEFAULT_ENROLLMENT_LIMITS.clientRate.burst);
      assert.equal(authority.sessionsPending, DEFAULT_ENROLLMENT_LIMITS.pendingPerEk);
      await enrollGenuine(server);
    });
  });

  it('one client holds at most pendingPerClient sessions', async () => {
    await withServer({ pendingPerClient: 3, pendingPerEk: 8 }, async (server, authority) => {
      const statuses = await flood(server, '127.0.0.2', 6);
      assert.deepEqual([statuses.get(200), statuses.get(429)], [3, 3]);
      assert.equal(authority.sessionsPending, 3);
      await enrollGenuine(server);
    });
  });
});

describe('clientKey', () => {
  it('is the IPv4 address, or the /64 prefix of an IPv6 address', () => {
    assert.equal(clientKey('192.0.2.7'), '192.0.2.7');
    assert.equal(clientKey('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(clientKey('2001:db8:0:1:aaaa::1'), '2001:db8:0:1::/64');
    assert.equal(clientKey('2001:db8:0:1:bbbb:cccc:dddd:eeee'), '2001:db8:0:1::/64');
    assert.equal(clientKey('::1'), '0:0:0:0::/64');
    assert.equal(clientKey(undefined), 'unknown');
  });
});

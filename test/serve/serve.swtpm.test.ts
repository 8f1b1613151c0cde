/**
 * Attested serving end to end (docs/serving.md): real swtpm with an enrolled AK, real certified
 * runs, `aicert serve` terminating real TLS in front of a real HTTP inference server (a child
 * process), the CLI's `attest` and `receipt verify`, and attackers: a TLS-terminating proxy with
 * its own certificate, replayed and spliced attestations, a TPM restart, a removed register,
 * edited receipts, the certificate of another model, and an inference server that crashes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { certifiedRun } from '../../src/run/certified-run.js';
import { loadTrustAnchors, type TrustAnchors } from '../../src/evidence/ak-trust.js';
import { startServe, type RunningServe } from '../../src/serve/serve.js';
import { attestConnection } from '../../src/serve/attest-connection.js';
import { AttestedClient } from '../../src/serve/client.js';
import { generateSessionKeys } from '../../src/serve/tls-identity.js';
import { verifyTrainingCertificate } from '../../src/serve/training-certificate.js';
import { verifyAttestation, type TrainingCertificate } from '../../src/serve/verify-attestation.js';
import { verifyReceipt } from '../../src/serve/verify-receipt.js';
import { encodeReceipt, type Receipt } from '../../src/serve/receipt.js';
import { enrollWithNewCa } from '../fixtures/enrolled-ak.js';
import { loadPolicy } from '../../src/evidence/policy.js';
import { TRAIN } from '../security/swtpm-fixtures.js';
import { freePort } from '../util/free-port.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** The inference server: answers POST /predict with a digest of the input; GET /crash kills it. */
const UPSTREAM =
  "const http=require('http'),c=require('crypto');http.createServer((q,s)=>{const b=[];q.on('data',d=>b.push(d));" +
  "q.on('end',()=>{if(q.url==='/crash')process.exit(7);s.setHeader('content-type','application/json');" +
  "s.end(JSON.stringify({prediction:c.createHash('sha256').update(Buffer.concat(b)).digest('hex').slice(0,8)}))})})" +
  ".listen(Number(process.env.PORT),'127.0.0.1')";

describe('aicert serve: attested TLS, receipts, and the attacks they stop', () => {
  let work: string;
  let sim: Simulator;
  let anchors: TrustAnchors;
  let caPem: string;
  const previousHome = process.env.AICERT_HOME;
  const models: Record<'a' | 'b', { certificate: string; model: string; bytes: Buffer }> = {} as never;
  let trainingA: TrainingCertificate;

  async function serve(model: 'a' | 'b' = 'a'): Promise<RunningServe> {
    const port = await freePort();
    return startServe({
      certificate: models[model].certificate,
      model: models[model].model,
      tpm: sim.address,
      host: '127.0.0.1',
      port: 0,
      upstream: `http://127.0.0.1:${port}`,
      command: [process.execPath, '-e', UPSTREAM],
      verify: { trust: anchors, allowUntrustedAk: false },
      log: () => undefined,
    });
  }

  const endpoint = (s: RunningServe) => new URL(`https://127.0.0.1:${s.port}`);
  // Asynchronous: the serving session runs in this process and must answer while the CLI waits.
  const cli = (args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [CLI, ...args], { env: process.env }, (_err, stdout, stderr) =>
        resolve({ status: child.exitCode, stdout, stderr }),
      );
    });

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-serve-'));
    process.env.AICERT_HOME = join(work, 'home');
    sim = await startSimulator();
    await enrollWithNewCa(sim, join(work, 'ca'));
    caPem = join(work, 'ca', 'ca.pem');
    anchors = await loadTrustAnchors(caPem);
    const code = join(work, 'code');
    await mkdir(code);
    await writeFile(join(code, 'train.js'), TRAIN);
    for (const name of ['a', 'b'] as const) {
      const data = join(work, `${name}.jsonl`);
      await writeFile(data, `{"x":"${name}"}\n`);
      const output = join(work, name, 'model');
      const result = await certifiedRun({
        code,
        data: [data],
        output,
        certificatePath: `${output}.aicert.json`,
        tpm: sim.address,
        command: [process.execPath, '-e', TRAIN, data, output],
        certifyFailure: false,
        log: () => undefined,
      });
      const certificate = result.certificatePath!;
      models[name] = { certificate, model: output, bytes: await readFile(certificate) };
    }
    trainingA = await verifyTrainingCertificate(models.a.bytes, 'a', { trust: anchors, allowUntrustedAk: false });
    assert.ok(trainingA.run, 'the training certificate of model a verifies');
  });

  after(async () => {
    await sim?.stop();
    if (previousHome === undefined) delete process.env.AICERT_HOME;
    else process.env.AICERT_HOME = previousHome;
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('honest: `aicert attest` exits 0, attested answers carry receipts that `aicert receipt verify` accepts', async () => {
    const s = await serve();
    try {
      const saved = join(work, 'attestation.json');
      const attest = await cli([
        'attest',
        endpoint(s).origin,
        '--certificate',
        models.a.certificate,
        '--trust',
        caPem,
        '--save',
        saved,
      ]);
      assert.equal(attest.status, 0, attest.stdout + attest.stderr);
      assert.match(attest.stdout, /ok\s+channel\.binding/);
      assert.match(attest.stdout, /ok\s+model\.certified/);
      assert.match(attest.stdout, /verdict: VERIFIED/);

      const client = await AttestedClient.create({ certificate: models.a.certificate, trust: anchors });
      try {
        const answers = [];
        for (const x of ['1', '2', '3']) {
          const r = await client.fetch(new URL('/predict', endpoint(s)), { method: 'POST', body: `{"x":${x}}` });
          assert.equal(r.status, 200);
          const body = Buffer.from(await r.arrayBuffer());
          assert.match(body.toString(), /^\{"prediction":"[0-9a-f]{8}"\}$/);
          assert.equal(r.receipt.sessionId, s.sessionId);
          answers.push({ receipt: r.receipt, body });
        }
        assert.deepEqual(
          answers.map((a) => a.receipt.seq),
          [1, 2, 3],
          'one receipt per answer, numbered in order',
        );
        const { receipt, body } = answers[1]!;
        await writeFile(join(work, 'receipt.json'), JSON.stringify(receipt));
        await writeFile(join(work, 'answer.json'), body);
        const verify = await cli([
          'receipt',
          'verify',
          join(work, 'receipt.json'),
          '--attestation',
          saved,
          '--trust',
          caPem,
          '--response',
          join(work, 'answer.json'),
        ]);
        assert.equal(verify.status, 0, verify.stdout + verify.stderr);
        assert.match(verify.stdout, /ok\s+receipt\.signature/);
        assert.match(verify.stdout, /ok\s+receipt\.response/);
        // The same receipt for another answer is refused.
        await writeFile(join(work, 'other-answer.json'), '{"prediction":"00000000"}');
        const wrong = await cli(
          ['receipt', 'verify', join(work, 'receipt.json'), '--attestation', saved, '--trust', caPem].concat([
            '--response',
            join(work, 'other-answer.json'),
          ]),
        );
        assert.equal(wrong.status, 1, wrong.stdout + wrong.stderr);
        assert.match(wrong.stdout, /FAILED\s+receipt\.response/);
      } finally {
        client.close();
      }
    } finally {
      await s.stop();
    }
  });

  test('refused: a model directory that differs from the certificate; serve exits 1 naming the file', async () => {
    const copy = join(work, 'tampered-model');
    await cp(models.a.model, copy, { recursive: true });
    await writeFile(join(copy, 'weights.bin'), randomBytes(32));
    const r = await cli(
      ['serve', '--certificate', models.a.certificate, '--model', copy, '--tpm', sim.address].concat([
        '--trust',
        caPem,
        '--listen',
        '127.0.0.1:0',
        '--',
        process.execPath,
        '-e',
        UPSTREAM,
      ]),
    );
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /artifact\.model/);
    assert.match(r.stderr, /weights\.bin/);
  });

  test('refused at certificate.binding: the certificate of another model', async () => {
    const s = await serve('a');
    try {
      const r = await cli(['attest', endpoint(s).origin, '--certificate', models.b.certificate, '--trust', caPem]);
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /FAILED\s+certificate\.binding/);
    } finally {
      await s.stop();
    }
  });

  test('refused at channel.binding: a man in the middle that terminates TLS with its own certificate', async () => {
    const s = await serve();
    const keys = await generateSessionKeys('0'.repeat(32));
    const mitm: TlsServer = createTlsServer(
      { key: keys.tls.key.export({ type: 'pkcs8', format: 'pem' }), cert: keys.tls.certificatePem },
      (inbound) => {
        const outbound = connect({ host: '127.0.0.1', port: s.port, rejectUnauthorized: false });
        inbound.pipe(outbound).pipe(inbound);
        inbound.on('error', () => outbound.destroy());
        outbound.on('error', () => inbound.destroy());
      },
    );
    await new Promise<void>((r) => mitm.listen(0, '127.0.0.1', r));
    try {
      const port = (mitm.address() as { port: number }).port;
      const c = await attestConnection(new URL(`https://127.0.0.1:${port}`), {
        training: trainingA,
        trust: anchors,
        allowUntrustedAk: false,
      });
      c.socket.destroy();
      assert.equal(c.attestation, undefined);
      assert.equal(c.report.checks.find((x) => x.status === 'failed')?.id, 'channel.binding');
      const client = await AttestedClient.create({ certificate: models.a.bytes, trust: anchors });
      try {
        await assert.rejects(client.fetch(`https://127.0.0.1:${port}/predict`, { method: 'POST', body: '{}' }), {
          code: 'channel.binding',
        });
      } finally {
        client.close();
      }
    } finally {
      mitm.close();
      await s.stop();
    }
  });

  test('refused at channel.binding: socat as the man in the middle (openssl-listen → openssl)', async (t) => {
    if (spawnSync('socat', ['-V']).status !== 0) return t.skip('socat is not installed (apt-get install socat)');
    const s = await serve();
    const keys = await generateSessionKeys('0'.repeat(32));
    const dir = await mkdtemp(join(tmpdir(), 'aicert-socat-'));
    const pem = join(dir, 'mitm.pem');
    await writeFile(pem, keys.tls.key.export({ type: 'pkcs8', format: 'pem' }) + keys.tls.certificatePem, {
      mode: 0o600,
    });
    const port = await freePort();
    const listen = `OPENSSL-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork,cert=${pem},verify=0`;
    const socat = spawn('socat', [listen, `OPENSSL:127.0.0.1:${s.port},verify=0`], { stdio: 'ignore' });
    try {
      const origin = new URL(`https://127.0.0.1:${port}`);
      let c: Awaited<ReturnType<typeof attestConnection>> | undefined;
      // socat needs a moment to listen; a refused connection is retried, any other outcome is the answer.
      for (let i = 0; i < 50 && c === undefined; i++) {
        c = await attestConnection(origin, { training: trainingA, trust: anchors, allowUntrustedAk: false }).catch(
          async (e: NodeJS.ErrnoException) => {
            if (e.code !== 'ECONNREFUSED' && !/ECONNREFUSED/.test(String(e.message))) throw e;
            await new Promise((r) => setTimeout(r, 100));
            return undefined;
          },
        );
      }
      assert.ok(c, 'socat never listened');
      c.socket.destroy();
      assert.equal(c.attestation, undefined);
      assert.equal(c.report.checks.find((x) => x.status === 'failed')?.id, 'channel.binding');
      const r = await cli(['attest', origin.origin, '--certificate', models.a.certificate, '--trust', caPem]);
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /FAILED\s+channel\.binding/);
    } finally {
      socat.kill();
      await rm(dir, { recursive: true, force: true });
      await s.stop();
    }
  });

  test('refused: a replayed attestation (nonce.freshness) and one from another serving session', async () => {
    const s1 = await serve();
    const s2 = await serve();
    const o = { training: trainingA, trust: anchors, allowUntrustedAk: false };
    try {
      const first = await attestConnection(endpoint(s1), o);
      assert.ok(first.attestation, 'the first attestation verifies');
      const doc = JSON.parse(first.document.toString());
      // The same answer presented again, on the same connection, to a client that asked another nonce.
      const replay = await verifyAttestation(first.document, 'replay', {
        ...o,
        live: { ...doc.channel, nonce: randomBytes(32).toString('hex') },
      });
      assert.equal(replay.report.checks.find((x) => x.status === 'failed')?.id, 'nonce.freshness');
      first.socket.destroy();

      const second = await attestConnection(endpoint(s2), o);
      second.socket.destroy();
      assert.ok(second.attestation, 'the other session attests on its own');
      // Session 2's evidence and log spliced into session 1's answer (its nonce and channel kept).
      const other = JSON.parse(second.document.toString());
      const spliced = { ...doc, tpm: { ...doc.tpm, opened: other.tpm.opened, nvPublic: other.tpm.nvPublic } };
      const splicedResult = await verifyAttestation(Buffer.from(JSON.stringify(spliced)), 'spliced', {
        ...o,
        live: { ...doc.channel, nonce: doc.nonce },
      });
      assert.equal(splicedResult.attestation, undefined);
      assert.match(
        splicedResult.report.checks.find((x) => x.status === 'failed')!.id,
        /^(quote|nv)\.(binding|current|opened)$/,
      );
      const logSpliced = { ...doc, eventLog: other.eventLog };
      const logResult = await verifyAttestation(Buffer.from(JSON.stringify(logSpliced)), 'log spliced', {
        ...o,
        live: { ...doc.channel, nonce: doc.nonce },
      });
      assert.equal(logResult.attestation, undefined);
      assert.match(logResult.report.checks.find((x) => x.status === 'failed')!.id, /^(quote\.binding|eventlog\.\w+)$/);
    } finally {
      await s1.stop();
      await s2.stop();
    }
  });

  test('receipts: an edit of any field, or another session’s attestation, is refused', async () => {
    const s1 = await serve();
    const s2 = await serve();
    const o = { training: trainingA, trust: anchors, allowUntrustedAk: false };
    try {
      const client = await AttestedClient.create({ certificate: models.a.bytes, trust: anchors });
      let receipt: Receipt;
      try {
        receipt = (await client.fetch(new URL('/predict', endpoint(s1)), { method: 'POST', body: '{"x":9}' })).receipt;
      } finally {
        client.close();
      }
      const a1 = await attestConnection(endpoint(s1), o);
      const a2 = await attestConnection(endpoint(s2), o);
      a1.socket.destroy();
      a2.socket.destroy();
      const check = (r: unknown, doc: Buffer) =>
        verifyReceipt(JSON.stringify(r), doc, {
          certificate: models.a.bytes,
          certificateName: 'a',
          trust: anchors,
          allowUntrustedAk: false,
        });
      assert.equal((await check(receipt, a1.document)).exitStatus, 0, 'the receipt verifies with its own attestation');
      const other = await check(receipt, a2.document);
      assert.equal(other.checks.find((c) => c.status === 'failed')?.id, 'receipt.session');

      const hex = (h: string) => (h[0] === '0' ? '1' : '0') + h.slice(1);
      const edits: Array<[string, (r: Receipt) => unknown]> = [
        ['sessionId', (r) => ({ ...r, sessionId: hex(r.sessionId) })],
        ['seq', (r) => ({ ...r, seq: r.seq + 1 })],
        ['time', (r) => ({ ...r, time: new Date(Date.parse(r.time) + 1000).toISOString() })],
        ['request.method', (r) => ({ ...r, request: { ...r.request, method: 'GET' } })],
        ['request.target', (r) => ({ ...r, request: { ...r.request, target: '/other' } })],
        ['request.sha256', (r) => ({ ...r, request: { ...r.request, sha256: hex(r.request.sha256) } })],
        ['response.status', (r) => ({ ...r, response: { ...r.response, status: 500 } })],
        ['response.sha256', (r) => ({ ...r, response: { ...r.response, sha256: hex(r.response.sha256) } })],
        [
          'signature',
          (r) => {
            const signature = Buffer.from(r.signature, 'base64');
            signature[0]! ^= 1;
            return { ...r, signature: signature.toString('base64') };
          },
        ],
        ['v', (r) => ({ ...r, v: 2 })],
        ['extra field', (r) => ({ ...r, note: 'x' })],
      ];
      for (const [field, edit] of edits) {
        const result = await check(edit(receipt), a1.document);
        const failed = result.checks.find((c) => c.status === 'failed')?.id;
        assert.notEqual(result.exitStatus, 0, `an edited ${field} is refused`);
        assert.match(failed ?? '', /^receipt\.(signature|session|schema)$/, `${field}: failed at ${failed}`);
      }
      // The header form decodes to the same receipt.
      assert.equal((await check(receipt, a1.document)).exitStatus, 0);
      assert.ok(encodeReceipt(receipt).length > 0);
    } finally {
      await s1.stop();
      await s2.stop();
    }
  });

  test('refused at quote.continuity after a TPM restart, by attestConnection and by attestedFetch', async () => {
    const s = await serve();
    const o = { training: trainingA, trust: anchors, allowUntrustedAk: false };
    try {
      const before = await attestConnection(endpoint(s), o);
      before.socket.destroy();
      assert.ok(before.attestation);
      await sim.powerCycle();
      const afterRestart = await attestConnection(endpoint(s), o);
      afterRestart.socket.destroy();
      assert.equal(afterRestart.report.checks.find((x) => x.status === 'failed')?.id, 'quote.continuity');
      const client = await AttestedClient.create({ certificate: models.a.bytes, trust: anchors });
      try {
        await assert.rejects(client.fetch(new URL('/predict', endpoint(s)), { method: 'POST', body: '{}' }), {
          code: 'quote.continuity',
        });
      } finally {
        client.close();
      }
    } finally {
      await s.stop();
    }
  });

  test('refused at quote.continuity: a TPM restart between the attestation of a pinned connection and its use', async () => {
    const s = await serve();
    const url = new URL('/predict', endpoint(s));
    // One client re-attests when asked (reattest), the other before every reuse (maxAttestationAgeMs 0).
    const asked = await AttestedClient.create({ certificate: models.a.bytes, trust: anchors });
    const always = await AttestedClient.create({ certificate: models.a.bytes, trust: anchors, maxAttestationAgeMs: 0 });
    try {
      for (const client of [asked, always]) {
        const before = await client.fetch(url, { method: 'POST', body: '{}' });
        assert.equal(before.status, 200, 'the pinned connection attested before the restart');
      }
      await sim.powerCycle();
      asked.reattest();
      for (const client of [asked, always])
        await assert.rejects(client.fetch(url, { method: 'POST', body: '{}' }), { code: 'quote.continuity' });
    } finally {
      asked.close();
      always.close();
      await s.stop();
    }
  });

  test('refused: the serving register removed, then another index defined at its handle, between attestation and use', async () => {
    const s = await serve();
    const url = new URL('/predict', endpoint(s));
    const client = await AttestedClient.create({ certificate: models.a.bytes, trust: anchors, maxAttestationAgeMs: 0 });
    const tcti = `swtpm:path=${sim.address.slice('swtpm:unix:'.length)}`;
    const tools = (args: string[]) => {
      const r = spawnSync(args[0]!, [...args.slice(1), '-T', tcti], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    };
    try {
      const before = await client.fetch(url, { method: 'POST', body: '{}' });
      const index = `0x${before.attestation.log.session.nvIndex.toString(16)}`;
      tools(['tpm2_nvundefine', '-C', 'o', index]); // the owner removes the session's register
      await assert.rejects(client.fetch(url, { method: 'POST', body: '{}' }), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'attestation.refused', err.message);
        assert.match(err.message, /cannot be attested/);
        return true;
      });
      // ... and defines a register of its own at the same handle: the TPM certifies it, under another Name.
      tools(['tpm2_nvdefine', index, '-C', 'o', '-s', '32', '-a', 'ownerread|ownerwrite|authread|authwrite']);
      const zeros = join(work, 'zeros.bin');
      await writeFile(zeros, Buffer.alloc(32));
      tools(['tpm2_nvwrite', index, '-C', 'o', '-i', zeros]);
      await assert.rejects(client.fetch(url, { method: 'POST', body: '{}' }), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'nv.name', err.message); // the TPM certifies the impostor: not the attested Name
        return true;
      });
    } finally {
      client.close();
      await s.stop();
    }
  });

  test("a policy's pinnedAks vouches for the serving AK as in `aicert verify`; without the pin, ak.trust refuses", async () => {
    const s = await serve();
    try {
      const probe = await attestConnection(endpoint(s), {
        training: trainingA,
        trust: anchors,
        allowUntrustedAk: false,
      });
      probe.socket.destroy();
      assert.ok(probe.attestation);
      const policyFile = join(work, 'pinned-policy.yaml');
      await writeFile(
        policyFile,
        `version: 1\nminAkTrust: pinned\npinnedAks: ["${probe.attestation.akName}"]\nisolation: any\nregister: any\n`,
      );
      const policy = await loadPolicy(policyFile);
      const none = { roots: [], pinnedAks: [] };
      const training = await verifyTrainingCertificate(models.a.bytes, 'a', {
        trust: none,
        allowUntrustedAk: false,
        policy,
      });
      assert.ok(training.run, 'the training certificate verifies with the pin and no CA');
      const pinned = await attestConnection(endpoint(s), { training, trust: none, allowUntrustedAk: false, policy });
      pinned.socket.destroy();
      assert.equal(pinned.report.verdict, 'verified', JSON.stringify(pinned.report.checks.at(-1)));
      assert.equal(pinned.attestation?.akTrust.level, 'pinned');
      const unpinned = await attestConnection(endpoint(s), { training, trust: none, allowUntrustedAk: false });
      unpinned.socket.destroy();
      assert.equal(unpinned.report.checks.find((x) => x.status === 'failed')?.id, 'ak.trust');
      const client = await AttestedClient.create({ certificate: models.a.bytes, trust: none, policy: policyFile });
      try {
        const answer = await client.fetch(new URL('/predict', endpoint(s)), { method: 'POST', body: '{}' });
        assert.equal(answer.attestation.akTrust.level, 'pinned');
      } finally {
        client.close();
      }
      const cli_ = await cli([
        'attest',
        endpoint(s).origin,
        '--certificate',
        models.a.certificate,
        '--policy',
        policyFile,
      ]);
      assert.equal(cli_.status, 0, cli_.stdout + cli_.stderr);
      assert.match(cli_.stdout, /AK trust: pinned/);
    } finally {
      await s.stop();
    }
  });

  test('upstream crash: serve ends with an error, clients get errors, never unsigned answers', async () => {
    const s = await serve();
    const client = await AttestedClient.create({ certificate: models.a.bytes, trust: anchors });
    try {
      const ok = await client.fetch(new URL('/predict', endpoint(s)), { method: 'POST', body: '{}' });
      assert.equal(ok.status, 200);
      // The crash request's answer, if any arrives, is a signed error; it is never a prediction.
      const crashed = await client.fetch(new URL('/crash', endpoint(s)), { method: 'POST', body: '' }).then(
        (r) => r,
        (err: Error) => err,
      );
      if (!(crashed instanceof Error)) {
        assert.equal(crashed.status, 502);
        assert.ok(crashed.receipt, 'the error carries a receipt');
      }
      await assert.rejects(s.done, { code: 'serve.upstream-exit' });
      await assert.rejects(client.fetch(new URL('/predict', endpoint(s)), { method: 'POST', body: '{}' }));
    } finally {
      client.close();
      await s.stop();
    }
  });

  test('upstream crash under the CLI: `aicert serve` exits non-zero', async () => {
    const upstreamPort = await freePort();
    const listenPort = await freePort();
    const child = spawn(
      process.execPath,
      [CLI, 'serve', '--certificate', models.a.certificate, '--model', models.a.model, '--tpm', sim.address]
        .concat([
          '--trust',
          caPem,
          '--listen',
          `127.0.0.1:${listenPort}`,
          '--upstream',
          `http://127.0.0.1:${upstreamPort}`,
        ])
        .concat(['--', process.execPath, '-e', UPSTREAM]),
      { stdio: ['ignore', 'pipe', 'pipe'], env: process.env },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => resolve(d.toString().split(' ')[0]!));
      child.on('exit', () => reject(new Error(`serve exited: ${stderr}`)));
    });
    const client = await AttestedClient.create({ certificate: models.a.bytes, trust: anchors });
    try {
      await client.fetch(new URL('/crash', url), { method: 'POST' }).catch(() => undefined);
    } finally {
      client.close();
    }
    const status = await exited;
    assert.notEqual(status, 0, stderr);
    assert.match(stderr, /inference server exited/);
  });
});

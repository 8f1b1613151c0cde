/**
 * Real certificates for the security tests, made on two throw-away swtpms: TPM A's AK is enrolled
 * with attestation CA A (the verifier's trust anchor) and, separately, with CA B (untrusted);
 * TPM B's AK is enrolled with CA A. Runs on A give the certificates that are mutated, runs on B
 * give a genuine certificate from another TPM, and a forger's own CA certifies A's AK key.
 *
 * The corpus's main certificates measure into PCR 23 (`--register pcr23`, the fallback whose
 * checks the PCR families exercise); `nvGood` and `nvOther` use the default register, an NV
 * extend index, for the NV families (tamper-nv.ts) and the replay forgery (freshness).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyObject, webcrypto } from 'node:crypto';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { Tpm } from '../../src/tpm/client.js';
import { createAk } from '../../src/tpm/keys.js';
import { objectName, publicKeyObject } from '../../src/tpm/public.js';
import { initCa } from '../../src/ca/ca-directory.js';
import { enrollAk, openCaEndpoint } from '../../src/ca/enroll-client.js';
import { certifiedRun, type RunOptions, type TrainerOptions } from '../../src/run/certified-run.js';
import { parseCertificateDer } from '../../src/pki/x509-path.js';
import { loadTrustAnchors, AK_NAME_URI_PREFIX, type TrustAnchors } from '../../src/evidence/ak-trust.js';
import { CA_USAGE, issue, x509, type Issued } from '../cert/pki.js';
import { TRIVIAL_TRAINER } from '../fixtures/trivial-trainer.js';

/** A toy training program: the "model" is a digest of the data (so runs on equal data agree). */
export const TRAIN =
  "const fs=require('fs'),c=require('crypto');const [d,o]=process.argv.slice(1);fs.mkdirSync(o,{recursive:true});" +
  "fs.writeFileSync(o+'/weights.bin',c.createHash('sha256').update(fs.readFileSync(d)).digest());fs.writeFileSync(o+'/config.json','{\"layers\":1}');";

export interface CertifiedFile {
  path: string;
  bytes: Buffer;
  /** The model directory the run wrote. */
  model: string;
}

export interface SecurityFixtures {
  work: string;
  simA: Simulator;
  simB: Simulator;
  /** The verifier's anchors: CA A. */
  anchors: TrustAnchors;
  caA: string;
  code: string;
  data: string;
  /** Runs on TPM A (register pcr23). */
  good: CertifiedFile;
  other: CertifiedFile;
  trainer: CertifiedFile;
  /** A run on TPM B (its AK certified by CA A too). */
  foreign: CertifiedFile;
  /** Runs on TPM A with the default register, an NV extend index. */
  nvGood: CertifiedFile;
  nvOther: CertifiedFile;
  /** DER chains. */
  chains: {
    /** A's AK certified by CA B, which the verifier does not trust. */
    akAByUntrustedCa: Buffer[];
    /** A's AK key certified by a forger's self-made root (with A's AK Name in it), and that root. */
    akAByForger: Buffer[];
    /** The forger's root alone, self-signed, as if it were the AK certificate. */
    forgerSelfSigned: Buffer[];
    /** A's AK key certified by a forger root that copies CA A's subject name. */
    akAByLookalikeCa: Buffer[];
  };
  /** Runs a certified run on TPM A (or B) with the toy trainer (register pcr23 unless given) and returns its certificate. */
  run(name: string, options?: Partial<RunOptions> & { on?: 'A' | 'B' }): Promise<CertifiedFile>;
  stop(): Promise<void>;
}

export async function makeSecurityFixtures(): Promise<SecurityFixtures> {
  const work = await mkdtemp(join(tmpdir(), 'aicert-security-'));
  const previousHome = process.env.AICERT_HOME;
  process.env.AICERT_HOME = join(work, 'home');
  const simA = await startSimulator();
  const simB = await startSimulator();
  const stop = async () => {
    await simA.stop();
    await simB.stop();
    if (previousHome === undefined) delete process.env.AICERT_HOME;
    else process.env.AICERT_HOME = previousHome;
    await rm(work, { recursive: true, force: true });
  };
  try {
    const ekRoots = [simA.caRootFile, simB.caRootFile];
    const ekIntermediates = [join(simA.dir, 'ca', 'issuercert.pem'), join(simB.dir, 'ca', 'issuercert.pem')];
    const caA = join(work, 'ca-a');
    const caB = join(work, 'ca-b');
    await initCa(caA, ekRoots, { ekIntermediatePemFiles: ekIntermediates });
    await initCa(caB, ekRoots, { ekIntermediatePemFiles: ekIntermediates });
    // The last enrollment of an AK is the chain its runs carry: CA B first, then CA A.
    const akAByUntrustedCa = (await enroll(simA, caB)).chain;
    await enroll(simA, caA);
    await enroll(simB, caA);

    const code = join(work, 'code');
    await mkdir(code);
    await writeFile(join(code, 'train.js'), TRAIN);
    const data = join(work, 'train.jsonl');
    await writeFile(data, '{"x":1,"y":0}\n{"x":2,"y":1}\n{"x":3,"y":0}\n');

    const run = async (
      name: string,
      options: Partial<RunOptions> & { on?: 'A' | 'B' } = {},
    ): Promise<CertifiedFile> => {
      const dir = join(work, 'runs', name);
      await mkdir(dir, { recursive: true });
      const output = join(dir, 'model');
      const { on, ...rest } = options;
      const result = await certifiedRun({
        code,
        data: [data],
        output,
        certificatePath: `${output}.aicert.json`,
        tpm: (on === 'B' ? simB : simA).address,
        register: 'pcr',
        pcr: 23,
        command: [process.execPath, '-e', TRAIN, data, output],
        certifyFailure: false,
        log: () => undefined,
        ...rest,
      });
      if (!result.certificatePath) throw new Error(`the ${name} run wrote no certificate`);
      return { path: result.certificatePath, bytes: await readFile(result.certificatePath), model: output };
    };
    const good = await run('good');
    const other = await run('other');
    const foreign = await run('foreign', { on: 'B' });
    const nvGood = await run('nv-good', { register: 'nv' });
    const nvOther = await run('nv-other', { register: 'nv' });
    const trainerOutput = join(work, 'runs', 'trainer', 'model');
    const trainerOptions: TrainerOptions = {
      transcript: `${trainerOutput}.transcript`,
      checkpointEvery: 1,
      holdoutFraction: 0.1,
      dataset: data,
    };
    const trainer = await run('trainer', {
      trainer: trainerOptions,
      command: [process.execPath, '-e', TRIVIAL_TRAINER, trainerOutput],
    });

    const forger = await forgerChains(simA, await readFile(join(caA, 'ca.pem'), 'utf8'));
    return {
      work,
      simA,
      simB,
      anchors: await loadTrustAnchors(join(caA, 'ca.pem')),
      caA,
      code,
      data,
      good,
      other,
      trainer,
      foreign,
      nvGood,
      nvOther,
      chains: { akAByUntrustedCa, ...forger },
      run,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function enroll(sim: Simulator, ca: string) {
  const tpm = await Tpm.open(sim.address);
  try {
    return await enrollAk({ tpm, endpoint: await openCaEndpoint(ca) });
  } finally {
    await tpm.close();
  }
}

/** Certificates a forger can make for A's AK key without the attestation CA's private key. */
async function forgerChains(sim: Simulator, caPem: string) {
  const tpm = await Tpm.open(sim.address);
  let ak: Awaited<ReturnType<typeof createAk>>;
  try {
    ak = await createAk(tpm);
    await tpm.flushContext(ak.handle);
  } finally {
    await tpm.close();
  }
  const spki = publicKeyObject(ak.public.public).export({ type: 'spki', format: 'der' });
  const akKey = await webcrypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'verify',
  ]);
  const akUri = `${AK_NAME_URI_PREFIX}${objectName(ak.public).toString('hex')}`;
  const root = await issue({ name: 'aicert attestation CA', ca: true, keyUsage: CA_USAGE });
  const caSubject = new x509.X509Certificate(caPem).subject;
  const lookalike = await issueRoot(caSubject);
  return {
    akAByForger: [await certifyAk(akKey, akUri, root), root.certificate.der],
    forgerSelfSigned: [root.certificate.der],
    akAByLookalikeCa: [await certifyAk(akKey, akUri, lookalike), lookalike.certificate.der],
  };
}

async function issueRoot(subject: string): Promise<Issued> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: subject,
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + 365 * 86_400_000),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(CA_USAGE, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certificate: parseCertificateDer(new Uint8Array(cert.rawData), subject),
    privateKey: KeyObject.from(keys.privateKey),
    keys,
  };
}

async function certifyAk(akKey: CryptoKey, akUri: string, issuer: Issued): Promise<Buffer> {
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=aicert AK',
    issuer: issuer.certificate.node.subject,
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + 365 * 86_400_000),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    publicKey: akKey,
    signingKey: issuer.keys.privateKey,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: akUri }]),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
    ],
  });
  return Buffer.from(cert.rawData);
}

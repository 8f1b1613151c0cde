import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator } from '../../src/tpm/simulator.js';
import { Tpm } from '../../src/tpm/client.js';
import { initCa } from '../../src/ca/ca-directory.js';
import { enrollAk, openCaEndpoint } from '../../src/ca/enroll-client.js';
import { certifiedRun, type RunOptions } from '../../src/run/certified-run.js';

/** Certificate files made by real runs, as bytes. */
export interface RealCertificates {
  /** A successful run on an enrolled AK: every field of the format is present. */
  success: Buffer;
  /** A failed run certified with --certify-failure, whose command wrote no model. */
  failureWithoutOutput: Buffer;
}

/** A trivial training command: the "model" is a digest of the data. */
const TRAIN =
  "const fs=require('fs'),c=require('crypto');const [d,o]=process.argv.slice(1);fs.mkdirSync(o,{recursive:true});" +
  "fs.writeFileSync(o+'/weights.bin',c.createHash('sha256').update('w').update(fs.readFileSync(d)).digest());";

/**
 * Makes real certificates on a throw-away swtpm whose AK is enrolled with a throw-away aicert
 * CA, then stops the simulator and removes every file it made (AICERT_HOME included).
 */
export async function makeRealCertificates(): Promise<RealCertificates> {
  const work = await mkdtemp(join(tmpdir(), 'aicert-cert-schema-'));
  const previousHome = process.env.AICERT_HOME;
  process.env.AICERT_HOME = join(work, 'home');
  const sim = await startSimulator();
  try {
    const ca = join(work, 'ca');
    await initCa(ca, [sim.caRootFile], { ekIntermediatePemFiles: [join(sim.dir, 'ca', 'issuercert.pem')] });
    const tpm = await Tpm.open(sim.address);
    try {
      await enrollAk({ tpm, endpoint: await openCaEndpoint(ca) });
    } finally {
      await tpm.close();
    }
    const code = join(work, 'code');
    await mkdir(code);
    await writeFile(join(code, 'train.js'), TRAIN);
    const data = join(work, 'train.jsonl');
    await writeFile(data, '{"x":1,"y":0}\n{"x":2,"y":1}\n');
    const run = async (name: string, command: string[], certifyFailure: boolean): Promise<Buffer> => {
      const output = join(work, name, 'model');
      // certifiedRun does not create the certificate's directory, and a failing command makes none.
      await mkdir(join(work, name));
      const options: RunOptions = {
        code,
        data: [data],
        output,
        certificatePath: `${output}.aicert.json`,
        tpm: sim.address,
        pcr: 23,
        command,
        certifyFailure,
        log: () => undefined,
      };
      const result = await certifiedRun(options);
      if (!result.certificatePath) throw new Error(`the ${name} run wrote no certificate`);
      return readFile(result.certificatePath);
    };
    const output = join(work, 'success', 'model');
    return {
      success: await run('success', [process.execPath, '-e', TRAIN, data, output], false),
      failureWithoutOutput: await run('failure', [process.execPath, '-e', 'process.exit(3)'], true),
    };
  } finally {
    await sim.stop();
    if (previousHome === undefined) delete process.env.AICERT_HOME;
    else process.env.AICERT_HOME = previousHome;
    await rm(work, { recursive: true, force: true });
  }
}

/** The statement a certificate carries, decoded from its DSSE payload. */
export function statementOf(certificate: Buffer): Record<string, unknown> {
  const { statement } = JSON.parse(certificate.toString('utf8')) as { statement: { payload: string } };
  return JSON.parse(Buffer.from(statement.payload, 'base64').toString('utf8')) as Record<string, unknown>;
}

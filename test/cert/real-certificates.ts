import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { enrollWithNewCa } from '../fixtures/enrolled-ak.js';
import { certifiedRun, type RunOptions } from '../../src/run/certified-run.js';
import { TRIVIAL_TRAINER } from '../fixtures/trivial-trainer.js';

/** Certificate files made by real runs, as bytes. */
export interface RealCertificates {
  /** A successful run on an enrolled AK, so the certificate carries an AK certificate chain. */
  success: Buffer;
  /** A successful --trainer run: trainer commitment, checkpoint events, transcript output. */
  trainer: Buffer;
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
  let sim: Simulator | undefined;
  try {
    sim = await startSimulator();
    const address = sim.address;
    const ca = join(work, 'ca');
    await enrollWithNewCa(sim, ca);
    const code = join(work, 'code');
    await mkdir(code);
    await writeFile(join(code, 'train.js'), TRAIN);
    const data = join(work, 'train.jsonl');
    await writeFile(data, '{"x":1,"y":0}\n{"x":2,"y":1}\n');
    const run = async (
      name: string,
      command: string[],
      certifyFailure: boolean,
      trainer?: RunOptions['trainer'],
    ): Promise<Buffer> => {
      const output = join(work, name, 'model');
      const options: RunOptions = {
        ...(trainer && { trainer }),
        code,
        data: [data],
        output,
        certificatePath: `${output}.aicert.json`,
        tpm: address,
        pcr: 23,
        command,
        certifyFailure,
        log: () => undefined,
      };
      const result = await certifiedRun(options);
      if (!result.certificatePath) throw new Error(`the ${name} run wrote no certificate`);
      return readFile(result.certificatePath);
    };
    const trainer = {
      transcript: join(work, 'trainer', 'transcript'),
      checkpointEvery: 10,
      holdoutFraction: 0.1,
      dataset: data,
    };
    return {
      success: await run('success', [process.execPath, '-e', TRAIN, data, join(work, 'success', 'model')], false),
      trainer: await run(
        'trainer',
        [process.execPath, '-e', TRIVIAL_TRAINER, join(work, 'trainer', 'model')],
        false,
        trainer,
      ),
      failureWithoutOutput: await run('failure', [process.execPath, '-e', 'process.exit(3)'], true),
    };
  } finally {
    await sim?.stop();
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

import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { mkdir, readdir } from 'node:fs/promises';
import { EnvironmentError, InputError, UsageError } from '../errors.js';
import { Tpm } from '../tpm/client.js';
import { objectName, public2b } from '../tpm/public.js';
import { environmentEvent } from '../protocol/environment-event.js';
import { HashPool } from '../measure/hash-pool.js';
import { eventDigest } from '../protocol/event-log.js';
import { encodeBase64 } from '../util/base64.js';
import { pae } from '../cert/dsse.js';
import { IN_TOTO_PAYLOAD_TYPE, serializeStatement } from '../cert/intoto.js';
import { buildRunStatement } from '../cert/run-statement.js';
import {
  CERTIFICATE_MEDIA_TYPE,
  serializeCertificate,
  type AicertCertificate,
  type CertificateNvCertification,
  type CertificateQuote,
} from '../cert/certificate.js';
import { marshalNvPublic, nvName } from '../tpm/nv-public.js';
import { writtenPublic } from '../tpm/nv-extend-index.js';
import type { QuoteResult } from '../tpm/commands/quote.js';
import { loadAkCertificateChain } from '../ca/ak-store.js';
import { loadRunAk } from '../ca/ak-selection.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { createHash } from 'node:crypto';
import { AttestedSession, type RegisterChoice } from './attested-session.js';
import { findBootLog } from './boot-log.js';
import { lockTpm } from './tpm-lock.js';
import { executeCommand, type CommandOutcome } from './execute.js';
import { checkExecutable, planIsolation, type IsolationMode, type NetworkMode } from './isolation.js';
import { aicertHome } from '../util/state-dir.js';
import {
  measureCodeArtifact,
  measureConfigArtifact,
  measureDatasetArtifact,
  measureModelArtifact,
  measureTranscriptArtifact,
} from '../protocol/artifacts.js';
import type {
  ArtifactEvent,
  CheckpointEvent,
  CommandEvent,
  CommitmentEvent,
  ExitEvent,
  SessionEvent,
} from '../protocol/run-events.js';
import { CheckpointWatcher } from './checkpoint-watcher.js';
import { finalModelProblem, measureModelTensors } from '../protocol/model-tensors.js';
import { TRANSCRIPT_CHECKPOINTS } from '../protocol/transcript-layout.js';
import { TRAINER_PROTOCOL, trainerSeed, type TrainerCommitment } from '../protocol/trainer-commitment.js';
import type { PcrAttestation } from '../tpm/attest-pcrs.js';
import { AICERT_VERSION } from '../version.js';
import { NvIndexRecorder, reclaimLeakedNvIndices } from './nv-index-records.js';
import { shardOf } from '../protocol/group-commitment.js';
import type { GroupParticipant } from './group/participant.js';
import type { GroupAddress } from './group/group-address.js';
import { openGroup } from './group/open-group.js';

export interface RunOptions {
  code: string;
  data: string[];
  baseModel?: string;
  /** The directory the training command writes the model into. */
  output: string;
  /** Where to write the certificate; default `<output>.aicert.json`. */
  certificatePath: string;
  tpm: string;
  /**
   * The measurement register: `nv` (default), a fresh NV extend index only this run can write,
   * or `pcr`, the application PCR `pcr` (default 23), which anyone who reaches the TPM can reset.
   */
  register?: 'nv' | 'pcr';
  /** The application PCR of `register: 'pcr'`; not used by an NV register. */
  pcr?: number;
  command: string[];
  configFile?: string;
  certifyFailure: boolean;
  /** How the command is confined (run/isolation.ts); default `namespaces`. `none` is recorded in the certificate. */
  isolation?: IsolationMode;
  /** Under `namespaces` isolation: `host` keeps the host's network (recorded in the certificate); default `none`. */
  network?: NetworkMode;
  /** Run the command as a protocol trainer (docs/trainer-protocol.md). */
  trainer?: TrainerOptions;
  /** The firmware's boot event log to carry (`--boot-log`); default: Linux's, when there is one. */
  bootLog?: string;
  /** Progress lines (stderr in the CLI). */
  log: (line: string) => void;
  /** This node's place in a multi-node run (docs/distributed.md, run/group/). */
  group?: GroupAddress;
}

export interface TrainerOptions {
  /** The transcript directory (must not exist yet, or be empty). */
  transcript: string;
  checkpointEvery: number;
  holdoutFraction: number;
  /**
   * Sizes the hold-out from the record count of the trainer's dataset (as measured) before the
   * commitment: its fraction replaces `holdoutFraction`, its warning is logged. The CLI passes the
   * audit's rule (audit/holdout-size.ts); without it `holdoutFraction` is used as given.
   */
  sizeHoldout?: (records: number) => { fraction: number; warning?: string };
  /** The record file trained on: one of the --data paths, or a file inside one. */
  dataset: string;
  /** Randomness for the seed given by a verifier; default 32 bytes from the TPM. */
  challenge?: Buffer;
}

export interface RunResult {
  outcome: CommandOutcome;
  /** Absent when the command failed and --certify-failure was not given, and on ranks other than 0 of a group. */
  certificatePath?: string;
}

/**
 * A certified training run (docs/architecture.md §4), step by step. Any TPM error aborts the run with
 * exit status 3 and no certificate; the certificate is written atomically at the very end.
 */
export async function certifiedRun(o: RunOptions): Promise<RunResult> {
  checkOptions(o);
  checkExecutable(o.command[0]!);
  const isolation = planIsolation({
    mode: o.isolation ?? 'namespaces',
    network: o.network,
    tpm: o.tpm,
    stateDirectory: aicertHome(),
    needed: [
      o.code,
      ...o.data,
      ...(o.baseModel ? [o.baseModel] : []),
      ...(o.configFile ? [o.configFile] : []),
      o.output,
      ...(o.trainer ? [o.trainer.transcript] : []),
    ],
  });
  if (o.network === 'host' && o.isolation !== 'none')
    o.log(
      "note: --network host: the training command shares the host's network (recorded in the certificate; a policy refuses it unless it sets network: host)",
    );
  if (o.isolation === 'none')
    o.log(
      'WARNING: --isolation none: the training command can reach the TPM and could forge this run; the certificate records that',
    );
  const register: RegisterChoice = o.register === 'pcr' ? { kind: 'pcr', pcr: o.pcr ?? 23 } : { kind: 'nv' };
  if (register.kind === 'pcr')
    o.log(
      `WARNING: --register pcr23: events are measured into PCR ${register.pcr}, which anyone who can reach the TPM can reset to forge a run; the certificate says so and a policy refuses it unless it sets register: any`,
    );
  const pool = new HashPool();
  let tpm: Tpm | undefined;
  let session: AttestedSession | undefined;
  let unlock: (() => Promise<void>) | undefined;
  let recorder: NvIndexRecorder | undefined;
  let group: GroupParticipant | undefined;
  try {
    group = o.group && (await openGroup(o.group));
    tpm = await Tpm.open(o.tpm);
    const { ak, source: akSource, selection } = await loadRunAk(tpm);
    if (ak.transient) await tpm.flushContext(ak.handle);
    const akName = objectName(ak.public);
    if (selection) o.log(`attesting with the ${selection.cloud} vTPM's AK (aicert ak use)`);
    // Locked by the TPM's own identity (its AK's Name), not by the spelling of its address.
    unlock = await lockTpm(akName, o.tpm);
    const akChain = await loadAkCertificateChain(akName);
    if (!akChain)
      o.log(
        `note: this AK (${akName.toString('hex').slice(0, 16)}…) has no certificate; verifiers will treat it as untrusted. Run \`aicert ak enroll\` or \`aicert ak use --cloud\` first.`,
      );

    const bootLog = await findBootLog(o.bootLog, o.log);
    if (register.kind === 'nv') {
      // Holding the TPM's lock: indices recorded for this TPM by runs that died (SIGKILL) are leaks.
      for (const leak of await reclaimLeakedNvIndices(tpm, akName).catch((err: Error) => {
        o.log(`WARNING: could not reclaim NV indices of killed runs: ${err.message}`);
        return [];
      }))
        o.log(`reclaimed NV index 0x${leak.index.toString(16)}, left defined by the killed run ${leak.pid}`);
      recorder = new NvIndexRecorder(akName);
    }
    session = await AttestedSession.begin(tpm, register, akSource, recorder);
    if (session.nv) o.log(`measuring into a fresh NV extend index 0x${session.nv.index.toString(16)}`);
    const started = await sessionEvent(tpm, session, akName);
    await session.extend(started);
    await session.extend(await environmentEvent(tpm));
    const inputs = await measureInputs(o, pool);
    for (const input of inputs) await session.extend(input);
    await session.extend({
      type: 'command',
      argv: o.command,
      output: basename(o.output),
      isolation: isolation.record,
    } satisfies CommandEvent);
    const events = session.records.map((r) => r.digests[0]!.digest);
    // r of the trainer's seed: this node's (rank 0 of a group gives it to the group), or the group's.
    const ownR = (group?.rank ?? 0) === 0 ? await trainerR(tpm, o.trainer) : undefined;
    const joined =
      group &&
      (await group.join({
        member: {
          rank: group.rank,
          akName: started.akName,
          sessionId: started.sessionId,
          events,
          data: shardOf(inputs),
        },
        akPublic: ak.public,
        quote: (qualifyingData) => session!.quote(qualifyingData),
        random: (bytes) => tpm!.getRandom(bytes),
        ...(o.trainer && { trainer: { r: ownR?.value } }),
      }));
    const r = ownR ?? groupR(joined?.commitment.trainer);
    const trainer = o.trainer && (await commitTrainer(o.trainer, o.data, inputs, o.log, r!));
    const commitment = {
      type: 'commitment',
      events,
      ...(trainer && { trainer: trainer.commitment }),
      ...(joined && { group: joined.binding }),
    } satisfies CommitmentEvent;
    await session.extend(commitment);
    o.log('inputs measured and committed; taking the start quote');
    const startQuote = await session.quote(eventDigest(commitment), bootLog?.pcrs);
    const startCertify = session.nv && (await session.certify(eventDigest(commitment)));
    if (group) {
      o.log(`rank ${group.rank}: start quote taken; waiting for every node's`);
      await group.barrier();
    }

    o.log(`running: ${o.command.join(' ')}`);
    const checkpoints: CheckpointEvent[] = [];
    const watcher =
      trainer &&
      new CheckpointWatcher(join(o.trainer!.transcript, TRANSCRIPT_CHECKPOINTS), pool, (event) => {
        checkpoints.push(event);
        return session!.extend(event);
      });
    watcher?.start();
    const outcome = await executeCommand(
      isolation.wrap(o.command),
      { ...process.env, ...trainer?.environment },
      group?.failed,
    );
    if (watcher) o.log(`${await watcher.finish()} checkpoints measured as they were written`);
    const success = outcome.exitCode === 0 && outcome.signal === null;
    await session.extend({
      type: 'exit',
      exitCode: outcome.exitCode,
      signal: outcome.signal,
      success,
      durationMs: outcome.durationMs,
      finishedAt: new Date().toISOString(),
    } satisfies ExitEvent);
    await group?.finished(success);
    if (!success && !o.certifyFailure) return { outcome };

    if (existsSync(o.output)) {
      o.log(`measuring the outputs in ${o.output}`);
      const model = await measureModelArtifact(o.output, 'model', 'output', pool);
      if (trainer) await recordFinalModel(model, checkpoints, o, pool);
      await session.extend(model);
    } else if (success) {
      throw new InputError('run.no-output', `the command succeeded but wrote nothing to ${o.output}`);
    }
    if (o.trainer && existsSync(o.trainer.transcript)) {
      o.log(`measuring the transcript in ${o.trainer.transcript}`);
      await session.extend(await measureTranscriptArtifact(o.trainer.transcript, pool));
    }

    const statement = serializeStatement(buildRunStatement(session.records));
    const binding = createHash('sha256').update(pae(IN_TOTO_PAYLOAD_TYPE, statement)).digest();
    const endQuote = await session.quote(binding, bootLog?.pcrs);
    const endCertify = session.nv && (await session.certify(binding));
    const certificate: AicertCertificate = {
      mediaType: CERTIFICATE_MEDIA_TYPE,
      statement: { payloadType: IN_TOTO_PAYLOAD_TYPE, payload: encodeBase64(statement), signatures: [] },
      evidence: {
        tpm: {
          ...(session.nv
            ? {
                nv: {
                  public: encodeBase64(marshalNvPublic(writtenPublic(session.nv.definedPublic))),
                  certifications: [certificationJson('start', startCertify!), certificationJson('end', endCertify!)],
                },
              }
            : { pcr: (session.register as { pcr: number }).pcr }),
          akPublic: encodeBase64(public2b(ak.public.bytes)),
          ...(akChain && { akCertificateChain: akChain.map(encodeBase64) }),
          quotes: [quoteJson('start', startQuote), quoteJson('end', endQuote)],
          ...(bootLog && { bootLog: encodeBase64(bootLog.bytes) }),
          eventLog: session.records,
        },
      },
    };
    const whole = group ? await group.deliver(certificate) : certificate;
    if (!whole) return { outcome };
    try {
      await mkdir(dirname(resolve(o.certificatePath)), { recursive: true });
      await writeFileAtomic(o.certificatePath, serializeCertificate(whole));
    } catch (err) {
      // writeFileAtomic leaves no partial file and any old certificate as it was.
      const why =
        (err as NodeJS.ErrnoException).code === 'ENOSPC' ? 'the disk is full (ENOSPC)' : (err as Error).message;
      throw new EnvironmentError(
        'run.write-certificate',
        `cannot write the certificate ${o.certificatePath}: ${why}; nothing was written there`,
        { cause: err },
      );
    }
    await group?.written();
    return { outcome, certificatePath: o.certificatePath };
  } catch (err) {
    await group?.close((err as Error).message);
    throw err;
  } finally {
    await group?.close();
    await pool.close();
    // The NV index is removed whatever happened: the certificate, if any, carries its evidence.
    const closed = await (session?.close() ?? Promise.resolve()).then(
      () => true,
      (err: Error) => {
        o.log(`WARNING: could not remove the NV index: ${err.message}`);
        return false;
      },
    );
    // A removed index needs no record; one still defined keeps it, for the next run to reclaim.
    if (closed) await recorder?.remove();
    await tpm?.close();
    await unlock?.();
  }
}

function checkOptions(o: RunOptions): void {
  if (o.group && o.group.rank > 0 && o.trainer?.challenge)
    throw new UsageError(
      'usage.challenge',
      "--challenge is rank 0's: the group's trainer seed mixes in the r rank 0 fixes; drop it on the other ranks",
    );
  if (o.group && o.certifyFailure)
    throw new UsageError('usage.group-failure', 'a group run never certifies a failure: drop --certify-failure');
  if (o.command.length === 0)
    throw new UsageError(
      'usage.command',
      'no training command given; put it after `--`, e.g. aicert run … -- python train.py',
    );
  for (const [what, path] of [
    ['--code', o.code],
    ...o.data.map((d) => ['--data', d]),
    ...(o.baseModel ? [['--base-model', o.baseModel]] : []),
  ] as const) {
    if (!existsSync(path)) throw new UsageError('usage.missing-input', `${what} ${path} does not exist`);
  }
  if (o.data.length === 0)
    throw new UsageError(
      'usage.data',
      'at least one --data PATH is required: a certificate names the data the model was trained on',
    );
  if (existsSync(o.output) && (!statSync(o.output).isDirectory() || readdirSync(o.output).length > 0)) {
    throw new UsageError(
      'usage.output-not-empty',
      `--output ${o.output} already exists and is not an empty directory; a stale model there would be certified as this run's output`,
    );
  }
}

async function sessionEvent(tpm: Tpm, session: AttestedSession, akName: Buffer): Promise<SessionEvent> {
  const register = session.nv
    ? { nvIndex: session.nv.index, nvName: nvName(writtenPublic(session.nv.definedPublic)).toString('hex') }
    : { pcr: (session.register as { pcr: number }).pcr };
  return {
    type: 'session',
    sessionId: (await tpm.getRandom(16)).toString('hex'),
    nonce: (await tpm.getRandom(32)).toString('hex'),
    startedAt: new Date().toISOString(),
    ...register,
    akName: akName.toString('hex'),
    aicertVersion: AICERT_VERSION,
  };
}

async function measureInputs(o: RunOptions, pool: HashPool): Promise<ArtifactEvent[]> {
  const inputs: ArtifactEvent[] = [];
  o.log(`measuring code ${o.code}`);
  inputs.push(await measureCodeArtifact(o.code, pool));
  for (const d of o.data) {
    o.log(`measuring dataset ${d}`);
    inputs.push(await measureDatasetArtifact(d, pool));
  }
  if (o.baseModel) {
    o.log(`measuring base model ${o.baseModel}`);
    inputs.push(await measureModelArtifact(o.baseModel, 'base-model', 'input', pool));
  }
  if (o.configFile) inputs.push(await measureConfigArtifact(o.configFile));
  return inputs;
}

interface TrainerRandomness {
  value: Buffer;
  source: TrainerCommitment['rSource'];
}

/** r of a trainer run's seed: the verifier's challenge, else 32 bytes from the TPM; undefined without --trainer. */
async function trainerR(tpm: Tpm, t: TrainerOptions | undefined): Promise<TrainerRandomness | undefined> {
  if (!t) return undefined;
  if (t.challenge) return { value: t.challenge, source: 'challenge' };
  return { value: await tpm.getRandom(32), source: 'tpm' };
}

/** A node of rank ≥ 1 of a trainer group run mixes in the r rank 0 fixed in the group commitment. */
function groupR(trainer: { r: string } | undefined): TrainerRandomness | undefined {
  return trainer && { value: Buffer.from(trainer.r, 'hex'), source: 'group' };
}

/**
 * Fixes the trainer's seed before it starts: s from the inputs' content digests and fresh
 * randomness (the TPM's, or a verifier's challenge), plus the protocol parameters, all of which
 * go into the commitment event. Returns the environment the trainer runs with.
 */
async function commitTrainer(
  t: TrainerOptions,
  data: string[],
  inputs: ArtifactEvent[],
  log: (line: string) => void,
  randomness: TrainerRandomness,
) {
  const dataset = resolve(t.dataset);
  const owner = data.map((d) => resolve(d)).find((d) => dataset === d || dataset.startsWith(`${d}/`));
  if (!owner)
    throw new UsageError(
      'usage.trainer-dataset',
      `the trainer's dataset ${t.dataset} is not one of the --data inputs (or a file inside one)`,
    );
  if (existsSync(t.transcript) && (await readdir(t.transcript)).length > 0) {
    throw new UsageError(
      'usage.transcript',
      `the transcript directory ${t.transcript} is not empty; a run writes a fresh transcript`,
    );
  }
  await mkdir(join(t.transcript, TRANSCRIPT_CHECKPOINTS), { recursive: true });
  const path = relative(owner, dataset) || '.';
  let holdoutFraction = t.holdoutFraction;
  if (t.sizeHoldout) {
    const input = inputs.find((e) => e.role === 'dataset' && e.name === basename(owner));
    const records = input?.records?.find((r) => r.path === path)?.records;
    if (records === undefined)
      throw new UsageError(
        'usage.trainer-dataset',
        `the trainer's dataset ${t.dataset} is not a record file (JSONL, CSV or text) of the --data input ${basename(owner)}`,
      );
    const choice = t.sizeHoldout(records);
    holdoutFraction = choice.fraction;
    log(`holding out ${holdoutFraction} of ${records} records for the audit's memorization test`);
    if (choice.warning) log(choice.warning);
  }
  if (holdoutFraction === 0) {
    log(
      "WARNING: --holdout 0: no record is held out, so the audit's memorization test cannot run and `aicert audit` will fail this run at memorization; certify with --holdout > 0 (e.g. 0.1) to make it auditable",
    );
  }
  const seed = trainerSeed(inputs, randomness.value);
  const commitment: TrainerCommitment = {
    protocol: TRAINER_PROTOCOL,
    seed: seed.toString('hex'),
    r: randomness.value.toString('hex'),
    rSource: randomness.source,
    checkpointEvery: t.checkpointEvery,
    holdoutFraction,
    dataset: { input: basename(owner), path },
  };
  const environment = {
    AICERT_TRAINER_PROTOCOL: String(TRAINER_PROTOCOL),
    AICERT_TRAINER_MODE: 'train',
    AICERT_SEED: commitment.seed,
    AICERT_TRANSCRIPT: resolve(t.transcript),
    AICERT_CHECKPOINT_EVERY: String(t.checkpointEvery),
    AICERT_HOLDOUT_FRACTION: String(holdoutFraction),
    AICERT_DATASET: dataset,
  };
  return { commitment, environment };
}

/**
 * A trainer run's model output also lists its tensors, so that a verifier can hold it against
 * the last checkpoint's weights (`trainer.final`). When it cannot be compared, or differs, the
 * certificate is still written (it records what happened) but will not verify: say so now.
 */
async function recordFinalModel(
  model: ArtifactEvent,
  checkpoints: CheckpointEvent[],
  o: RunOptions,
  pool: HashPool,
): Promise<void> {
  const measured = await measureModelTensors(o.output, pool);
  if ('tensors' in measured) model.tensors = measured.tensors;
  else o.log(`WARNING: ${measured.unavailable}`);
  const problem = finalModelProblem(checkpoints, [model]);
  if (problem) o.log(`WARNING: ${problem}; \`aicert verify\` will refuse this certificate at trainer.final`);
}

function certificationJson(phase: 'start' | 'end', c: QuoteResult): CertificateNvCertification {
  return { phase, attest: encodeBase64(c.attest), signature: encodeBase64(c.signature) };
}

function quoteJson(phase: 'start' | 'end', q: PcrAttestation): CertificateQuote {
  const sha256 = q.pcrs.get(0x000b);
  if (!sha256) throw new EnvironmentError('tpm.malformed', 'quote has no SHA-256 PCR values');
  return {
    phase,
    attest: encodeBase64(q.attest),
    signature: encodeBase64(q.signature),
    pcrs: { sha256: Object.fromEntries([...sha256].map(([pcr, v]) => [String(pcr), v.toString('hex')])) },
  };
}

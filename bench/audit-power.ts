/**
 * `npm run bench -- audit-power [flags]`: how often the memorization test passes honest runs and
 * catches runs that consistently leave half their data unused, for the two example trainers
 * (TF.js, PyTorch), a deliberately weak memorizer (the PyTorch trainer at a twentieth of its
 * learning rate, batch 32) and a strong one (the audit tests' sparse toy MLP). Prints, per
 * trainer, the verdicts of N honest and N dropped runs with Wilson 95 % intervals, and the power
 * the audit estimated.
 *
 * What it exercises (docs/audit.md, "Measured power"): the real trainer programs in train mode,
 * each run a separate process with the protocol's environment, on a slice of the example data;
 * then, in this process, the audit's own code on the transcript: the update ranking, the segment
 * selection sized to the run (audit-size.ts), the memorization samples, the per-segment
 * Mann–Whitney tests, their combination, the power and the outcome (memorization.ts). Not
 * exercised: the TPM, the certificate, replay, and the example trainers' loss mode: their
 * per-record losses are computed here from the checkpoints (the softmax cross-entropy of the
 * 784-64-10 MLP that both loss modes compute; the examples' tests hold loss mode to that
 * reference). The toy trainer runs in this process through its protocol entry point, loss mode
 * included. A dropped run trains on a copy of the dataset in which a random half of the records is
 * replaced by other records, while the losses are taken on the claimed dataset: the consistent
 * data subtraction that replay cannot see, since the same loader would serve train and replay.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { auditSize } from '../src/audit/audit-size.js';
import { DEFAULT_TOP_Q } from '../src/audit/detection-probability.js';
import {
  DEFAULT_MEMBERS,
  DEFAULT_REQUIRED_POWER,
  DEFAULT_UNUSED_FRACTION,
  decideMemorization,
  MEMORIZATION_ALPHA,
  memorizationSamples,
  memorizationTest,
  type MemorizationVerdict,
} from '../src/audit/memorization.js';
import { selectSegments } from '../src/audit/segment-selection.js';
import { rankingScores, segmentUpdateNorms } from '../src/audit/update-norms.js';
import {
  readBatches,
  readCheckpointFile,
  readLosses,
  readTranscriptMeta,
  SeedStream,
  splitHoldout,
  type Checkpoint,
} from '../src/trainer/index.js';
import { checkpointPath } from '../src/protocol/transcript-layout.js';
import { readImageSet, type ImageSet } from '../examples/fashion-mnist/records.js';
import { runToyTrainer } from '../test/audit/fixtures/toy-trainer.js';
import { writeToyDataset } from '../test/audit/fixtures/toy-data.js';
import { TOY_DATA } from '../test/audit/fixtures/toy-runs.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLE_DATA = join(REPO, 'examples/fashion-mnist/data');
const PIXELS = 784;
const HIDDEN = 64;
const CLASSES = 10;

const HELP = `npm run bench -- audit-power [flags]

  --runs N            honest runs and dropped runs per trainer (default 100 each)
  --trainers LIST     comma-separated: tfjs, pytorch, weak, toy (default all four)
  --records N         records of the claimed dataset (default 600)
  --holdout F         held-out fraction of the runs (default 0.3)
  --epochs E          epochs of the example trainers (default 2)
  --batch-size B      batch size of the example trainers (default 8)
  --learning-rate LR  initial learning rate of the example trainers (default: theirs)
  --k K               checkpoint every K steps (default 10, aicert run's default)
  --drop F            fraction of records a dropped run leaves unused (default 0.5); with 0 the
                      "dropped" runs are honest runs with other seeds (all 3,000 records usable)
  --json              print the figures as JSON as well

Each run is one train-mode run (1-5 s) plus the audit's memorization test in this process.
`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      runs: { type: 'string', default: '100' },
      trainers: { type: 'string', default: 'tfjs,pytorch,weak,toy' },
      records: { type: 'string', default: '600' },
      holdout: { type: 'string', default: '0.3' },
      epochs: { type: 'string', default: '2' },
      'batch-size': { type: 'string', default: '8' },
      'learning-rate': { type: 'string' },
      k: { type: 'string', default: '10' },
      drop: { type: 'string', default: '0.5' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const runs = Number(values.runs);
  const records = Number(values.records);
  const holdout = Number(values.holdout);
  const k = Number(values.k);
  const drop = Number(values.drop);
  const epochs = values.epochs;
  const batch = values['batch-size'];
  const rate = values['learning-rate'];
  const exampleFlags = ['--epochs', epochs, '--batch-size', batch, ...(rate ? ['--learning-rate', rate] : [])];
  const python = '/usr/bin/python3';
  const pytorch = join(REPO, 'examples/pytorch-fashion-mnist/train.py');
  const work = mkdtempSync(join(tmpdir(), 'aicert-bench-power-'));
  const makers: Record<string, () => Trainer | Promise<Trainer>> = {
    tfjs: () =>
      exampleTrainer('tfjs', ['node', join(REPO, 'dist/examples/fashion-mnist/train.js')], 'tfjs', exampleFlags),
    pytorch: () => exampleTrainer('pytorch', [python, pytorch], 'pytorch', exampleFlags),
    weak: () =>
      exampleTrainer('weak (pytorch, lr 0.01, batch 32)', [python, pytorch], 'pytorch', [
        '--epochs',
        epochs,
        '--batch-size',
        '32',
        '--learning-rate',
        '0.01',
      ]),
    toy: () => toyTrainer(work, records),
  };
  try {
    const summaries = [];
    for (const name of values.trainers.split(',')) {
      const make = makers[name];
      if (!make) throw new Error(`unknown trainer ${name}; known: ${Object.keys(makers).join(', ')}`);
      const trainer = await make();
      if (records * (1 + drop) > trainer.lines.length)
        throw new Error(`--records ${records}: ${trainer.name} has only ${trainer.lines.length} records`);
      const claimed = join(work, `claimed-${name}.jsonl`);
      writeFileSync(claimed, `${trainer.lines.slice(0, records).join('\n')}\n`);
      await trainer.load(claimed);
      const outcomes: Record<'honest' | 'dropped', Trial[]> = { honest: [], dropped: [] };
      for (const kind of ['honest', 'dropped'] as const) {
        for (let r = 0; r < runs; r++) {
          const label = `aicert bench audit-power/${name}/${kind}/${r}`;
          const setup = { work, records, claimed, holdout, k };
          const trial = await runTrial(trainer, label, kind === 'dropped' ? drop : 0, setup);
          outcomes[kind].push(trial);
          const v = trial.verdict;
          process.stderr.write(
            `${name} ${kind} ${r}: ${v.outcome}, AUC ${v.auc.toFixed(3)} ± ${v.aucStandardError.toFixed(3)}, power(50 %) ${powerAt(v, 0.5).toFixed(3)}, unused ≤ ${v.unusedBound.toFixed(2)}, Z ${v.z.toFixed(2)}, ${trial.segments} segments, ${trial.seconds.toFixed(1)} s\n`,
          );
        }
      }
      summaries.push(summarize(`${trainer.name} [${trainer.settings}]`, outcomes));
    }
    print(summaries, { runs, records, holdout, k, drop, epochs, batch });
    if (values.json) process.stdout.write(`${JSON.stringify(summaries, null, 2)}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A trainer under test: trains one run, and gives per-record losses under a checkpoint. */
interface Trainer {
  name: string;
  /** Its settings, for the printout. */
  settings: string;
  /** The record lines of the data: the claimed dataset is the first n, replacements come after. */
  lines: string[];
  /** Called once with the claimed dataset's path. */
  load(claimed: string): Promise<void>;
  train(dataset: string, env: Record<string, string>, dir: string): Promise<void>;
  /** Losses of `records` of the claimed dataset under the checkpoint file. */
  losses(checkpoint: string, records: readonly number[]): Promise<number[]>;
}

/** A Fashion-MNIST example trainer run as a child process; losses from its MLP checkpoints here. */
function exampleTrainer(name: string, command: string[], layout: 'tfjs' | 'pytorch', flags: string[]): Trainer {
  let images: ImageSet | undefined;
  const lines = readFileSync(join(EXAMPLE_DATA, 'train.jsonl'), 'utf8').trimEnd().split('\n');
  return {
    name,
    settings: flags.join(' '),
    lines,
    load: async (claimed) => {
      images = readImageSet(claimed);
    },
    train: (dataset, env, dir) =>
      spawnTrainer([...command, '--data', EXAMPLE_DATA, '--out', join(dir, 'model'), ...flags], {
        ...env,
        AICERT_DATASET: dataset,
      }),
    losses: async (checkpoint, records) => mlpLosses(await readCheckpointFile(checkpoint), layout, images!, records),
  };
}

/** The audit tests' toy trainer (sparse records, 32 classes): a strong memorizer, run in this process. */
async function toyTrainer(work: string, records: number): Promise<Trainer> {
  const source = join(work, 'toy-all.jsonl');
  await writeToyDataset(source, { ...TOY_DATA, records: 2 * records });
  const lines = readFileSync(source, 'utf8').trimEnd().split('\n');
  let claimed = '';
  let calls = 0;
  const args = ['--steps', '300', '--batch', '8', '--lr', '0.1'];
  return {
    name: 'toy (sparse MLP, strong memorizer)',
    settings: args.join(' '),
    lines,
    load: async (path) => {
      claimed = path;
    },
    train: (dataset, env, dir) =>
      runToyTrainer({ ...env, AICERT_DATASET: dataset }, [...args, '--out', join(dir, 'model')]),
    losses: async (checkpoint, ids) => {
      const base = join(work, `toy-loss-${calls++}`);
      writeFileSync(`${base}.records.json`, JSON.stringify(ids));
      await runToyTrainer(
        {
          AICERT_TRAINER_PROTOCOL: '1',
          AICERT_TRAINER_MODE: 'loss',
          AICERT_SEED: '00'.repeat(32),
          AICERT_TRANSCRIPT: dirname(dirname(checkpoint)),
          AICERT_CHECKPOINT_EVERY: '10',
          AICERT_HOLDOUT_FRACTION: '0',
          AICERT_DATASET: claimed,
          AICERT_CHECKPOINT: checkpoint,
          AICERT_RECORDS: `${base}.records.json`,
          AICERT_OUTPUT: `${base}.losses.json`,
        },
        args,
      );
      const losses = await readLosses(`${base}.losses.json`, ids.length);
      rmSync(`${base}.records.json`);
      rmSync(`${base}.losses.json`);
      return losses;
    },
  };
}

interface Trial {
  verdict: MemorizationVerdict;
  segments: number;
  seconds: number;
}

interface Setup {
  work: string;
  records: number;
  claimed: string;
  holdout: number;
  k: number;
}

async function runTrial(trainer: Trainer, label: string, drop: number, s: Setup): Promise<Trial> {
  const started = Date.now();
  const seed = createHash('sha256').update(label).digest();
  const dir = join(s.work, 'run');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'transcript/checkpoints'), { recursive: true });
  let dataset = s.claimed;
  if (drop > 0) {
    // A fixed random part of the records is never trained: the trainer's data holds other records there.
    const count = Math.round(drop * s.records);
    const swapped = new SeedStream(seed, 'bench/dropped').permutation(s.records).slice(0, count);
    const lines = trainer.lines.slice(0, s.records);
    swapped.forEach((record, j) => {
      lines[record] = trainer.lines[s.records + j]!;
    });
    dataset = join(dir, 'trained.jsonl');
    writeFileSync(dataset, `${lines.join('\n')}\n`);
  }
  const transcript = join(dir, 'transcript');
  await trainer.train(
    dataset,
    {
      AICERT_TRAINER_PROTOCOL: '1',
      AICERT_TRAINER_MODE: 'train',
      AICERT_SEED: seed.toString('hex'),
      AICERT_TRANSCRIPT: transcript,
      AICERT_CHECKPOINT_EVERY: String(s.k),
      AICERT_HOLDOUT_FRACTION: String(s.holdout),
    },
    dir,
  );
  const meta = await readTranscriptMeta(transcript);
  const batches = await readBatches(transcript);
  const { heldOut } = splitHoldout(seed, s.records, s.holdout);
  const auditSeed = createHash('sha256').update(`${label}/audit`).digest();
  const norms = await segmentUpdateNorms(transcript, Math.ceil(meta.steps / meta.k) + 1);
  const size = auditSize(norms.length, DEFAULT_TOP_Q, undefined);
  const selected = selectSegments(rankingScores(norms), size.topQ, size.random, auditSeed);
  const audited = selected.map(({ index }) => ({
    index,
    batches: batches.slice(index * meta.k, Math.min((index + 1) * meta.k, meta.steps)),
  }));
  const samples = memorizationSamples(audited, heldOut, DEFAULT_MEMBERS, auditSeed);
  const results = [];
  for (const [j, { index }] of selected.entries()) {
    const sample = samples[j]!;
    if (sample.members.length === 0) continue;
    const ids = [...sample.members, ...sample.heldOut];
    const before = await trainer.losses(checkpointPath(transcript, index), ids);
    const after = await trainer.losses(checkpointPath(transcript, index + 1), ids);
    results.push(memorizationTest(sample, before, after));
  }
  const verdict = decideMemorization(results, {
    alpha: MEMORIZATION_ALPHA,
    unusedFraction: DEFAULT_UNUSED_FRACTION,
    requiredPower: DEFAULT_REQUIRED_POWER,
  });
  return { verdict, segments: results.length, seconds: (Date.now() - started) / 1000 };
}

function spawnTrainer(command: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000);
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command.join(' ')} exited ${code}: ${stderr}`)),
    );
  });
}

/** Softmax cross-entropy of each record under a 784-64-10 ReLU MLP checkpoint, in float64. */
function mlpLosses(c: Checkpoint, layout: 'tfjs' | 'pytorch', data: ImageSet, records: readonly number[]): number[] {
  const t = (name: string) => {
    const tensor = c.get(name);
    if (!tensor) throw new Error(`checkpoint lacks ${name}`);
    return tensor.data;
  };
  const tf = layout === 'tfjs';
  const w1 = t(tf ? 'dense1.kernel' : 'fc1.weight');
  const b1 = t(tf ? 'dense1.bias' : 'fc1.bias');
  const w2 = t(tf ? 'dense2.kernel' : 'fc2.weight');
  const b2 = t(tf ? 'dense2.bias' : 'fc2.bias');
  // Index of weight (input i, output o): row-major [in, out] for TF.js, [out, in] for PyTorch.
  const at1 = tf ? (i: number, o: number) => i * HIDDEN + o : (i: number, o: number) => o * PIXELS + i;
  const at2 = tf ? (i: number, o: number) => i * CLASSES + o : (i: number, o: number) => o * HIDDEN + i;
  const hidden = new Float64Array(HIDDEN);
  const logits = new Float64Array(CLASSES);
  return records.map((r) => {
    const x = data.pixels.subarray(r * PIXELS, (r + 1) * PIXELS);
    for (let o = 0; o < HIDDEN; o++) {
      let sum = b1[o]!;
      for (let i = 0; i < PIXELS; i++) if (x[i]) sum += (x[i]! / 255) * w1[at1(i, o)]!;
      hidden[o] = Math.max(sum, 0);
    }
    let max = Number.NEGATIVE_INFINITY;
    for (let o = 0; o < CLASSES; o++) {
      let sum = b2[o]!;
      for (let i = 0; i < HIDDEN; i++) sum += hidden[i]! * w2[at2(i, o)]!;
      logits[o] = sum;
      max = Math.max(max, sum);
    }
    let total = 0;
    for (let o = 0; o < CLASSES; o++) total += Math.exp(logits[o]! - max);
    return max + Math.log(total) - logits[data.labels[r]!]!;
  });
}

interface Summary {
  trainer: string;
  honest: Counts;
  dropped: Counts;
}

interface Counts {
  runs: number;
  passed: number;
  inconclusive: number;
  failed: number;
  /** Runs whose estimated power (against the policy's unused fraction) was at least the required power. */
  powered: number;
  medianAuc: number;
  medianPower50: number;
  medianPower20: number;
  medianSegments: number;
  /** Runs that would pass with --unused-fraction 1 (rule out only that nothing was trained). */
  passedAtAll: number;
}

function summarize(trainer: string, outcomes: Record<'honest' | 'dropped', Trial[]>): Summary {
  const counts = (trials: Trial[]): Counts => ({
    runs: trials.length,
    passed: trials.filter((t) => t.verdict.outcome === 'passed').length,
    inconclusive: trials.filter((t) => t.verdict.outcome === 'inconclusive').length,
    failed: trials.filter((t) => t.verdict.outcome === 'failed').length,
    powered: trials.filter((t) => t.verdict.powered).length,
    medianAuc: median(trials.map((t) => t.verdict.auc)),
    medianPower50: median(trials.map((t) => powerAt(t.verdict, 0.5))),
    medianPower20: median(trials.map((t) => powerAt(t.verdict, 0.2))),
    medianSegments: median(trials.map((t) => t.segments)),
    passedAtAll: trials.filter((t) => t.verdict.p <= t.verdict.alpha && powerAt(t.verdict, 1) >= DEFAULT_REQUIRED_POWER)
      .length,
  });
  return { trainer, honest: counts(outcomes.honest), dropped: counts(outcomes.dropped) };
}

function powerAt(v: MemorizationVerdict, f: number): number {
  return v.power.find((p) => p.unusedFraction === f)?.power ?? Number.NaN;
}

function print(summaries: Summary[], c: Record<string, unknown>): void {
  const out = [
    `audit-power: ${JSON.stringify(c)}; α = ${MEMORIZATION_ALPHA}, required power ${DEFAULT_REQUIRED_POWER} against ${100 * DEFAULT_UNUSED_FRACTION} % unused`,
  ];
  for (const s of summaries) {
    const h = s.honest;
    const d = s.dropped;
    out.push(
      `${s.trainer}:`,
      `  honest : passed ${h.passed}/${h.runs} ${ci(h.passed, h.runs)}, inconclusive ${h.inconclusive}, failed ${h.failed} (false failures ${ci(h.failed, h.runs)}); power ≥ ${DEFAULT_REQUIRED_POWER} in ${h.powered}; median AUC ${h.medianAuc.toFixed(3)}, power(50 %) ${h.medianPower50.toFixed(3)}, power(20 %) ${h.medianPower20.toFixed(3)}, ${h.medianSegments} segments; would pass with --unused-fraction 1: ${h.passedAtAll}`,
      `  dropped: detected (not passed) ${d.runs - d.passed}/${d.runs} ${ci(d.runs - d.passed, d.runs)}: inconclusive ${d.inconclusive}, failed ${d.failed}, passed ${d.passed}; median AUC ${d.medianAuc.toFixed(3)}, power(50 %) ${d.medianPower50.toFixed(3)}; would pass with --unused-fraction 1: ${d.passedAtAll}`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Wilson score interval for k successes in n trials, 95 %. */
export function wilson(k: number, n: number, z = 1.959964): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n;
  const denominator = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denominator;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

function ci(k: number, n: number): string {
  const [lo, hi] = wilson(k, n);
  return `(${(100 * (k / n)).toFixed(1)} %, 95 % CI ${(100 * lo).toFixed(1)}–${(100 * hi).toFixed(1)} %)`;
}

function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

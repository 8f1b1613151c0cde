import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { readBoundedFile } from '../util/bounded-file.js';
import { MAX_CERTIFICATE_BYTES } from '../cert/certificate.js';
import { loadTrustAnchors, NO_TRUST_ANCHORS } from '../evidence/ak-trust.js';
import { auditRun, DEFAULT_MEMBERS } from '../audit/audit-run.js';
import { DEFAULT_REQUIRED_POWER, DEFAULT_UNUSED_FRACTION } from '../audit/memorization.js';
import type { Tolerance } from '../audit/audit-report.js';
import {
  DEFAULT_RANDOM_SEGMENTS,
  DEFAULT_TOP_Q,
  detectionProbability,
  REFERENCE_FAKE_FRACTION,
} from '../audit/detection-probability.js';
import { formatAuditReport } from '../audit/format-audit-report.js';
import { commandTrainer } from '../audit/trainer-invocation.js';
import { writeFileAtomic } from '../util/atomic-write.js';

interface AuditFlags {
  transcript: string;
  data: string;
  code?: string;
  q: string;
  random?: string;
  tolerance: string;
  unusedFraction: string;
  minPower: string;
  seed?: string;
  members: string;
  timeout: string;
  trust?: string;
  allowUntrustedAk?: boolean;
  json?: boolean;
  out?: string;
}

const DEFAULT_TIMEOUT_SECONDS = 3600;

export function registerAuditCommand(program: Command): void {
  program
    .command('audit')
    .description(
      're-execute chosen segments of a certified trainer run and test that its claimed data was learned (proof of training)',
    )
    .argument('<certificate>', 'the .aicert.json of a run made with `aicert run --trainer`')
    .argument('[command...]', 'the training command, after --: it is run in init, replay and loss modes')
    .requiredOption('--transcript <dir>', "the run's transcript directory (checkpoints, batches.jsonl, meta.json)")
    .requiredOption('--data <path>', "your copy of the trainer's dataset (the --data input the run committed to)")
    .option('--code <dir>', 'your copy of the training code: re-hashed against the certificate before it is run')
    .option('--q <n>', 'replay the Q segments with the largest updates', String(DEFAULT_TOP_Q))
    .option(
      '--random <m>',
      `and m segments drawn at random with the audit seed (default: sized to the run, at most ${DEFAULT_RANDOM_SEGMENTS})`,
    )
    .option(
      '--tolerance <mode>',
      'exact (same digest), calibrated (measured on this machine), or a relative δ such as 1e-4',
      'exact',
    )
    .option('--seed <hex>', 'the audit seed, 64 hex digits (default: 32 fresh random bytes, printed in the report)')
    .option(
      '--members <n>',
      'records per segment and group in the memorization test (held-out records are shared out among the segments)',
      String(DEFAULT_MEMBERS),
    )
    .option(
      '--unused-fraction <f>',
      'a pass must rule out that this fraction of the claimed records went unused (1: only that none was trained)',
      String(DEFAULT_UNUSED_FRACTION),
    )
    .option(
      '--min-power <p>',
      'the power against --unused-fraction below which the verdict is inconclusive (exit 1)',
      String(DEFAULT_REQUIRED_POWER),
    )
    .option('--timeout <seconds>', 'stop a trainer call that runs longer than this', String(DEFAULT_TIMEOUT_SECONDS))
    .option('--trust <file>', 'trusted AK CA certificates (PEM), or a YAML trust file listing several')
    .option('--allow-untrusted-ak', 'accept an attestation key nothing vouches for (testing only; labelled UNTRUSTED)')
    .option('--json', 'print the report as JSON')
    .option(
      '--out <file>',
      'also write the JSON report to this file (for `aicert endorse`), atomically, when the audit passed or failed',
    )
    .addHelpText(
      'after',
      `
What it does (docs/audit.md): verifies the certificate; checks that every checkpoint in the
transcript has the digest the TPM recorded while the run wrote it and that batches.jsonl is the
data order derived from the committed seed; checks that init mode reproduces checkpoint 0; replays
the top-Q segments by update norm plus m segments drawn with the audit seed, accepting each on an
identical digest (--tolerance exact) or within a relative distance δ (a number, or measured
first with --tolerance calibrated); then, for each audited segment, ranks with a one-sided
Mann-Whitney U the loss drop of the records it claims to have trained on against held-out
records, and combines the segments weighted by their information (van Elteren, alpha = 0.01).
A pass needs power >= --min-power against --unused-fraction unused data at the measured effect;
below it the verdict is inconclusive. It reports the power and the cost.

The defaults replay 2 + up to 45 segments: 45 random segments catch a run in which 10 % of the
segments are fake with probability ${(100 * detectionProbability(REFERENCE_FAKE_FRACTION, DEFAULT_RANDOM_SEGMENTS)).toFixed(1)} %; a short run needs fewer for the same
guarantee, and gets fewer. Keep the audit seed secret from the prover until the transcript is
fixed: whoever knows it knows which segments go unchecked.

Exit status: 0 passed, 1 failed or inconclusive, 2 unusable input or usage, 3 environment.

Example:
  aicert audit model.aicert.json --transcript model.transcript --data data/train.jsonl \\
      --trust ca.pem --out audit.json -- node train.js
`,
    )
    .action(async (certificate: string, command: string[], flags: AuditFlags) => {
      const report = await auditRun({
        certificate: await readBoundedFile(certificate, MAX_CERTIFICATE_BYTES, 'certificate'),
        certificateName: certificate,
        transcript: flags.transcript,
        data: flags.data,
        code: flags.code,
        trust: flags.trust ? await loadTrustAnchors(flags.trust) : NO_TRUST_ANCHORS,
        allowUntrustedAk: flags.allowUntrustedAk ?? false,
        runTrainer: commandTrainer(command, 1000 * count(flags.timeout, '--timeout', 1)),
        topQ: count(flags.q, '--q', 0),
        random: flags.random === undefined ? undefined : count(flags.random, '--random', 0),
        tolerance: parseTolerance(flags.tolerance),
        members: count(flags.members, '--members', 2),
        unusedFraction: fraction(flags.unusedFraction, '--unused-fraction', false),
        requiredPower: fraction(flags.minPower, '--min-power', true),
        auditSeed: flags.seed === undefined ? randomBytes(32) : parseSeed(flags.seed),
        log: (line) => process.stderr.write(`aicert: ${line}\n`),
      });
      // An unusable audit (exit 2) reached no verdict: --out keeps the report it holds, if any.
      if (flags.out && report.exitStatus !== 2)
        await writeFileAtomic(flags.out, `${JSON.stringify(report, null, 2)}\n`);
      else if (flags.out) process.stderr.write(`aicert: the audit was unusable; nothing was written to ${flags.out}\n`);
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatAuditReport(report));
      process.exitCode = report.exitStatus;
    });
}

function count(text: string, flag: string, min: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min)
    throw new UsageError('usage.number', `${flag} must be a whole number ≥ ${min}, got "${text}"`);
  return n;
}

/** A number in (0, 1], or (0, 1) when `open`. */
function fraction(text: string, flag: string, open: boolean): number {
  const x = /^[0-9.eE+-]+$/.test(text) ? Number(text) : Number.NaN;
  if (!(x > 0 && (open ? x < 1 : x <= 1)))
    throw new UsageError(
      'usage.number',
      `${flag} must be a number above 0 and ${open ? 'below' : 'at most'} 1, got "${text}"`,
    );
  return x;
}

function parseTolerance(text: string): Tolerance {
  if (text === 'exact' || text === 'calibrated') return { mode: text };
  const delta = Number(text);
  if (!/^[0-9.eE+-]+$/.test(text) || !(delta > 0 && delta < 1)) {
    throw new UsageError(
      'usage.tolerance',
      `--tolerance must be exact, calibrated, or a relative distance between 0 and 1 such as 1e-4, got "${text}"`,
    );
  }
  return { mode: 'relative', delta };
}

function parseSeed(text: string): Buffer {
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new UsageError('usage.seed', '--seed must be 64 hex digits (32 bytes)');
  return Buffer.from(text, 'hex');
}

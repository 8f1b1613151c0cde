import { z } from 'zod';
import { readBoundedFile } from '../util/bounded-file.js';
import { parseYamlDocument } from '../util/yaml-document.js';
import { AK_TRUST_LEVELS, akNameHexSchema, meetsTrustLevel, type AkTrust } from './ak-trust.js';
import { describeRegister, type MeasurementRegister } from '../tpm/measurement-register.js';
import type { BootFacts } from './boot-log/boot-facts.js';

/**
 * The verifier's policy (YAML, docs/policy.md): what a certificate must show beyond being
 * genuine — the boot chain it ran on, the inputs it may have used, the application PCR, and
 * how much the attestation key must be trusted. Each requirement is one named check whose
 * result carries its reason; a policy field left out makes its check `skipped`.
 */

export const MAX_POLICY_BYTES = 1024 * 1024;
const MAX_ALLOWED_DIGESTS = 10_000;

const quotedHex = (digits: number, what: string) =>
  z
    .string({ error: `${what}: a quoted hex string (YAML reads unquoted digits as a number)` })
    .regex(new RegExp(`^[0-9a-fA-F]{${digits}}$`), `${what}: ${digits} hex digits`)
    .transform((hex) => hex.toLowerCase());

/** Boot PCRs 0–7, each its required SHA-256 value. */
const BOOT_PCRS = [0, 1, 2, 3, 4, 5, 6, 7] as const;
const bootPcrsSchema = z.strictObject(
  Object.fromEntries(BOOT_PCRS.map((pcr) => [String(pcr), quotedHex(64, 'a SHA-256 PCR value').optional()])),
);

const sha256Digest = z
  .string()
  .regex(/^sha256:[0-9a-fA-F]{64}$/, 'a digest "sha256:" followed by 64 hex digits (the manifest root)')
  .transform((d) => d.toLowerCase());
const codeDigest = z
  .string()
  .regex(
    /^(sha256:[0-9a-fA-F]{64}|git:([0-9a-fA-F]{40}|[0-9a-fA-F]{64}))$/,
    'a digest "sha256:" + 64 hex digits (the manifest root) or "git:" + a commit id',
  )
  .transform((d) => d.toLowerCase());
const digestList = <T extends z.ZodType<string>>(item: T) => z.array(item).max(MAX_ALLOWED_DIGESTS);

/** A kernel command-line flag: one word, `name` (matches `name` and `name=…`) or `name=value` (exact). */
const cmdlineFlag = z
  .string()
  .min(1)
  .max(4096)
  .regex(/^[^\s=][^\s]*$/, 'a kernel command-line flag: one word, "name" or "name=value"');

/** Requirements on the facts of the certificate's boot event log (docs/boot-log.md). */
const bootLogSchema = z.strictObject({
  secureBoot: z.boolean().optional(),
  bootApplications: digestList(quotedHex(64, 'an Authenticode SHA-256 digest')).optional(),
  kernels: digestList(quotedHex(64, 'a kernel SHA-256 digest')).optional(),
  forbiddenCmdline: z.array(cmdlineFlag).max(1024).optional(),
});

export const policySchema = z.strictObject({
  version: z.literal(1),
  /** The application PCR the run must have extended. */
  pcr: z.number().int().min(0).max(23).optional(),
  bootPcrs: bootPcrsSchema.optional(),
  minAkTrust: z.enum(AK_TRUST_LEVELS).default('ca'),
  pinnedAks: z.array(akNameHexSchema).max(1024).default([]),
  /**
   * How the training command must have been confined: `namespaces` (the default: it could not
   * reach the TPM, aicert's state or the network) or `any` (also `--isolation none`).
   */
  isolation: z.enum(['namespaces', 'any']).default('namespaces'),
  /**
   * Under `isolation: namespaces`, the network the command may have had: `none` (the default: a
   * namespace without interfaces) or `host` (also `aicert run --network host`, which a
   * distributed trainer needs to reach its peers).
   */
  network: z.enum(['none', 'host']).default('none'),
  /**
   * The register the run must have measured into: `nv` (the default: an NV extend index only
   * the run could write) or `any` (also a PCR, `--register pcr23`, which anyone who reaches the
   * TPM can reset).
   */
  register: z.enum(['nv', 'any']).default('nv'),
  /** Facts the boot event log must show (it must replay to the quoted PCRs first: `boot.eventlog`). */
  bootLog: bootLogSchema.optional(),
  /**
   * How many nodes the run must have had (docs/distributed.md); a single-node run has one. The
   * bound is the group protocol's (protocol/group-commitment.ts, MAX_GROUP_NODES).
   */
  nodes: z.number().int().min(1).max(1024).optional(),
  allow: z
    .strictObject({
      code: digestList(codeDigest).optional(),
      datasets: digestList(sha256Digest).optional(),
      baseModels: digestList(sha256Digest).optional(),
    })
    .optional(),
});
export type Policy = z.output<typeof policySchema>;

/** Parses policy text; `InputError('policy.invalid')` (exit 2) names the first problem. */
export function parsePolicy(text: string, source = 'the policy'): Policy {
  return parseYamlDocument(text, policySchema, source, 'policy.invalid');
}

export async function loadPolicy(path: string): Promise<Policy> {
  const bytes = await readBoundedFile(path, MAX_POLICY_BYTES, 'policy file');
  return parsePolicy(bytes.toString('utf8'), `the policy ${path}`);
}

export type PolicyCheckId =
  | 'policy.boot'
  | 'policy.inputs'
  | 'policy.pcr'
  | 'policy.register'
  | 'policy.ak'
  | 'policy.isolation'
  | 'policy.secureboot'
  | 'policy.bootapps'
  | 'policy.kernel'
  | 'policy.cmdline'
  | 'policy.nodes';

export interface PolicyCheckResult {
  id: PolicyCheckId;
  status: 'ok' | 'failed' | 'skipped';
  reason: string;
}

/**
 * An input of the run as recorded in its verified event log (the run's `ArtifactEvent`s fit):
 * role `code`, `dataset`, `base-model` (others, such as `config`, are not policed here).
 */
export interface PolicyInput {
  role: string;
  name: string;
  digest: { sha256: string; gitCommit?: string };
}

/** Facts the verifier has established before applying the policy. */
export interface PolicyFacts {
  /** The register the run extended. */
  register: MeasurementRegister;
  /** SHA-256 values of PCRs as quoted (verified quote). */
  quotedPcrs: ReadonlyMap<number, Buffer>;
  inputs: readonly PolicyInput[];
  /** From `evaluateAkTrust`, with the policy's pinned AKs among the anchors (`withPinnedAks`). */
  akTrust: AkTrust;
  /** How the training command was confined, from the verified command event. */
  isolation: { mode: string; network?: string };
  /** Facts of the boot event log that replayed to the quoted PCRs; undefined when the certificate carries none. */
  boot?: BootFacts;
}

/** Every policy check, in report order. */
export function checkPolicy(policy: Policy, facts: PolicyFacts): PolicyCheckResult[] {
  return [
    checkAkTrust(policy, facts.akTrust),
    checkRegister(policy, facts.register),
    checkApplicationPcr(policy, facts.register),
    checkBootPcrs(policy, facts.quotedPcrs),
    checkInputs(policy, facts.inputs),
    checkIsolation(policy, facts.isolation),
    ...checkBootLog(policy, facts.boot),
  ];
}

const NO_BOOT_LOG = 'the certificate carries no boot event log (a software TPM, or none was found)';

/** The policy's `bootLog` requirements, each its own check; no log fails every requirement set. */
export function checkBootLog(policy: Policy, boot: BootFacts | undefined): PolicyCheckResult[] {
  const want = policy.bootLog ?? {};
  const skipped = (id: PolicyCheckId, what: string): PolicyCheckResult => ({
    id,
    status: 'skipped',
    reason: `the policy does not require ${what}`,
  });
  const judged = (id: PolicyCheckId, judge: (b: BootFacts) => PolicyCheckResult): PolicyCheckResult =>
    boot ? judge(boot) : { id, status: 'failed', reason: `${NO_BOOT_LOG}; the policy requires boot facts` };
  return [
    want.secureBoot === undefined
      ? skipped('policy.secureboot', 'a Secure Boot state')
      : judged('policy.secureboot', (b) => checkSecureBoot(want.secureBoot!, b)),
    want.bootApplications === undefined
      ? skipped('policy.bootapps', 'listed boot applications')
      : judged('policy.bootapps', (b) => checkBootApplications(want.bootApplications!, b)),
    want.kernels === undefined
      ? skipped('policy.kernel', 'listed kernels')
      : judged('policy.kernel', (b) => checkKernels(want.kernels!, b)),
    want.forbiddenCmdline === undefined
      ? skipped('policy.cmdline', 'a kernel command line without forbidden flags')
      : judged('policy.cmdline', (b) => checkCmdline(want.forbiddenCmdline!, b)),
  ];
}

function checkSecureBoot(required: boolean, boot: BootFacts): PolicyCheckResult {
  const id = 'policy.secureboot';
  const state = (on: boolean) => (on ? 'on' : 'off');
  if (boot.secureBoot === null)
    return { id, status: 'failed', reason: 'the boot event log does not measure the SecureBoot variable into PCR 7' };
  if (boot.secureBoot === required)
    return { id, status: 'ok', reason: `Secure Boot was ${state(required)}, as the policy requires` };
  return {
    id,
    status: 'failed',
    reason: `Secure Boot was ${state(boot.secureBoot)}; the policy requires it ${state(required)}`,
  };
}

/** Measured items that the policy lists by digest: at least one must be measured, and every one listed. */
function checkListedDigests<T extends { digest: string }>(
  id: 'policy.bootapps' | 'policy.kernel',
  measured: readonly T[],
  allowed: readonly string[],
  text: { none: string; unlisted: string; name: (item: T) => string; ok: (items: readonly T[]) => string },
): PolicyCheckResult {
  if (measured.length === 0) return { id, status: 'failed', reason: text.none };
  const list = new Set(allowed);
  const refused = measured.filter((item) => !list.has(item.digest));
  if (refused.length > 0)
    return {
      id,
      status: 'failed',
      reason: `${text.unlisted}: ${refused.map((item) => `${item.digest} (${text.name(item)})`).join('; ')}`,
    };
  return { id, status: 'ok', reason: text.ok(measured) };
}

function checkBootApplications(allowed: readonly string[], boot: BootFacts): PolicyCheckResult {
  return checkListedDigests('policy.bootapps', boot.bootApplications, allowed, {
    none: 'the boot event log records no boot application (EV_EFI_BOOT_SERVICES_APPLICATION)',
    unlisted: 'boot applications not in bootLog.bootApplications',
    name: (app) => app.path ?? 'no path',
    ok: (apps) => `${apps.length} boot applications, all listed`,
  });
}

function checkKernels(allowed: readonly string[], boot: BootFacts): PolicyCheckResult {
  return checkListedDigests('policy.kernel', boot.kernels, allowed, {
    none: 'the boot event log names no kernel (no GRUB kernel_cmdline with its file in PCR 9)',
    unlisted: 'kernels not in bootLog.kernels',
    name: (kernel) => kernel.path,
    ok: (kernels) => `the kernel ${kernels.map((k) => k.path).join(', ')} is listed`,
  });
}

function checkCmdline(forbidden: readonly string[], boot: BootFacts): PolicyCheckResult {
  const id = 'policy.cmdline';
  if (boot.kernelCommandLines.length === 0)
    return { id, status: 'failed', reason: 'the boot event log measures no kernel command line' };
  // A PCR 8 digest that is no hash of GRUB text could be of a command line the log does not show.
  if (boot.unreadCommandEvents?.length)
    return {
      id,
      status: 'failed',
      reason: `PCR 8 events ${boot.unreadCommandEvents.join(', ')} are no GRUB text that hashes to their digest: a command line could hide in them`,
    };
  const found: string[] = [];
  for (const line of boot.kernelCommandLines)
    for (const word of line.split(/\s+/).slice(1))
      for (const flag of forbidden)
        if (word === flag || (!flag.includes('=') && word.startsWith(`${flag}=`))) found.push(word);
  if (found.length > 0)
    return {
      id,
      status: 'failed',
      reason: `the kernel command line has forbidden flags: ${[...new Set(found)].join(', ')}`,
    };
  return {
    id,
    status: 'ok',
    reason: `the kernel command line has none of the ${forbidden.length} forbidden flags`,
  };
}

/** `nodes`: the run had exactly the number of nodes the policy requires. */
export function checkNodeCount(policy: Policy, nodes: number): PolicyCheckResult {
  const id = 'policy.nodes';
  if (policy.nodes === undefined) return { id, status: 'skipped', reason: 'the policy sets no node count' };
  const run = nodes === 1 ? 'a single-node run' : `a run of ${nodes} nodes`;
  if (nodes === policy.nodes) return { id, status: 'ok', reason: `${run}, as the policy requires` };
  return { id, status: 'failed', reason: `${run}; the policy requires ${policy.nodes} nodes` };
}

export function checkIsolation(policy: Policy, isolation: { mode: string; network?: string }): PolicyCheckResult {
  const id = 'policy.isolation';
  if (policy.isolation === 'any')
    return { id, status: 'skipped', reason: `the policy accepts any isolation (this run: ${isolation.mode})` };
  if (isolation.mode === policy.isolation && isolation.network === 'host') {
    return policy.network === 'host'
      ? {
          id,
          status: 'ok',
          reason:
            "the training command ran confined in namespaces (no TPM, no aicert state, no capabilities) with the host's network, which the policy allows",
        }
      : {
          id,
          status: 'failed',
          reason:
            "the training command ran with the host's network (aicert run --network host); the policy requires no network (set network: host to accept it)",
        };
  }
  if (isolation.mode === policy.isolation) {
    return {
      id,
      status: 'ok',
      reason: 'the training command ran confined in namespaces: no TPM, no aicert state, no network, no capabilities',
    };
  }
  return {
    id,
    status: 'failed',
    reason: `the training command ran with isolation ${isolation.mode}, so it could have reached the TPM; the policy requires ${policy.isolation}`,
  };
}

export function checkAkTrust(policy: Policy, trust: AkTrust): PolicyCheckResult {
  const id = 'policy.ak';
  if (meetsTrustLevel(trust.level, policy.minAkTrust)) {
    return {
      id,
      status: 'ok',
      reason: `AK trust level ${trust.level} meets the policy's minimum ${policy.minAkTrust}`,
    };
  }
  return {
    id,
    status: 'failed',
    reason: `AK trust level is ${trust.level} (${trust.reason}); the policy requires at least ${policy.minAkTrust}`,
  };
}

export function checkRegister(policy: Policy, register: MeasurementRegister): PolicyCheckResult {
  const id = 'policy.register';
  if (policy.register === 'any')
    return {
      id,
      status: 'skipped',
      reason: `the policy accepts any register (this run: ${describeRegister(register)})`,
    };
  if (register.kind === 'nv')
    return { id, status: 'ok', reason: `the run measured into ${describeRegister(register)}, as the policy requires` };
  return {
    id,
    status: 'failed',
    reason: `the run measured into ${describeRegister(register)} (--register pcr23), which anyone who reaches the TPM can reset; the policy requires an NV extend index (register: nv)`,
  };
}

export function checkApplicationPcr(policy: Policy, register: MeasurementRegister): PolicyCheckResult {
  const id = 'policy.pcr';
  if (policy.pcr === undefined)
    return { id, status: 'skipped', reason: 'the policy does not name the application PCR' };
  if (register.kind === 'nv')
    return { id, status: 'skipped', reason: `the run measured into ${describeRegister(register)}, not a PCR` };
  const pcr = register.pcr;
  if (pcr === policy.pcr)
    return { id, status: 'ok', reason: `the run measured into PCR ${pcr}, as the policy requires` };
  return { id, status: 'failed', reason: `the run measured into PCR ${pcr}; the policy requires PCR ${policy.pcr}` };
}

export function checkBootPcrs(policy: Policy, quoted: ReadonlyMap<number, Buffer>): PolicyCheckResult {
  const id = 'policy.boot';
  const required = Object.entries(policy.bootPcrs ?? {}).filter((e): e is [string, string] => e[1] !== undefined);
  if (required.length === 0) return { id, status: 'skipped', reason: 'the policy pins no boot PCRs' };
  const problems: string[] = [];
  for (const [index, want] of required) {
    const got = quoted.get(Number(index));
    if (!got) problems.push(`PCR ${index} was not quoted`);
    else if (got.toString('hex') !== want)
      problems.push(`PCR ${index} is ${got.toString('hex')}, the policy requires ${want}`);
  }
  const pcrs = required.map(([index]) => index).join(', ');
  if (problems.length > 0)
    return { id, status: 'failed', reason: `boot PCRs differ from the policy: ${problems.join('; ')}` };
  return { id, status: 'ok', reason: `boot PCRs ${pcrs} have the values the policy requires` };
}

const ALLOW_LISTS = [
  { role: 'code', field: 'code', what: 'code' },
  { role: 'dataset', field: 'datasets', what: 'dataset' },
  { role: 'base-model', field: 'baseModels', what: 'base model' },
] as const;

export function checkInputs(policy: Policy, inputs: readonly PolicyInput[]): PolicyCheckResult {
  const id = 'policy.inputs';
  const lists = ALLOW_LISTS.filter((l) => policy.allow?.[l.field] !== undefined);
  if (lists.length === 0) return { id, status: 'skipped', reason: 'the policy restricts no inputs' };
  const refused: string[] = [];
  let checked = 0;
  for (const list of lists) {
    const allowed = new Set(policy.allow![list.field]);
    for (const input of inputs.filter((i) => i.role === list.role)) {
      checked++;
      const names = inputDigests(input);
      if (!names.some((n) => allowed.has(n))) {
        refused.push(`${list.what} "${input.name}" (${names.join(', ')}) is not in allow.${list.field}`);
      }
    }
  }
  if (refused.length > 0)
    return { id, status: 'failed', reason: `inputs the policy does not allow: ${refused.join('; ')}` };
  const restricted = lists.map((l) => `allow.${l.field}`).join(', ');
  return {
    id,
    status: 'ok',
    reason: `${checked} input${checked === 1 ? '' : 's'} checked against ${restricted}: all allowed`,
  };
}

/** The names under which a policy may allow an input: its manifest root, and a clean git commit. */
function inputDigests(input: PolicyInput): string[] {
  const names = [`sha256:${input.digest.sha256.toLowerCase()}`];
  if (input.role === 'code' && input.digest.gitCommit) names.push(`git:${input.digest.gitCommit.toLowerCase()}`);
  return names;
}

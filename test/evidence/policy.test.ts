import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { stringify } from 'yaml';
import type { AkTrust } from '../../src/evidence/ak-trust.js';
import {
  checkAkTrust,
  checkBootLog,
  checkApplicationPcr,
  checkRegister,
  checkBootPcrs,
  checkInputs,
  checkPolicy,
  checkIsolation,
  loadPolicy,
  parsePolicy,
  type Policy,
  type PolicyInput,
} from '../../src/evidence/policy.js';

const hex = (byte: number) => Buffer.alloc(32, byte).toString('hex');
const CODE_ROOT = hex(0xc0);
const COMMIT = 'ab'.repeat(20);
const DATA_ROOT = hex(0xda);
const BASE_ROOT = hex(0xba);

/** The example of docs/policy.md must stay a valid policy. */
function docsExample(): string {
  const doc = readFileSync(new URL('../../../docs/policy.md', import.meta.url), 'utf8');
  const block = /```yaml\n([\s\S]*?)```/.exec(doc);
  assert.ok(block, 'docs/policy.md has a yaml example');
  return block[1]!;
}

test('the documented example parses, with defaults filled in', () => {
  const policy = parsePolicy(docsExample());
  assert.equal(policy.version, 1);
  assert.equal(policy.pcr, undefined); // the example keeps the default register, NV, which has no PCR
  assert.equal(policy.register, 'nv');
  assert.equal(policy.minAkTrust, 'pinned');
  assert.equal(policy.pinnedAks.length, 1);
  assert.deepEqual(Object.keys(policy.bootPcrs!), ['0', '7']);
  assert.equal(policy.allow!.code!.length, 2);
  const minimal = parsePolicy('version: 1\n');
  assert.equal(minimal.minAkTrust, 'ca', 'minAkTrust defaults to ca');
  assert.deepEqual(minimal.pinnedAks, []);
  assert.equal(minimal.allow, undefined);
});

test('digests and PCR values are compared case-insensitively', () => {
  const policy = parsePolicy(
    `version: 1\nbootPcrs: { "1": "${hex(0xab).toUpperCase()}" }\nallow: { code: ["git:${COMMIT.toUpperCase()}"] }\n`,
  );
  assert.equal(policy.bootPcrs!['1'], hex(0xab));
  assert.deepEqual(policy.allow!.code, [`git:${COMMIT}`]);
});

test('policy errors are input errors naming the field', () => {
  const cases: Array<[string, RegExp]> = [
    ['version: 2\n', /at version/],
    ['pcr: 23\n', /at version/],
    ['version: 1\npcr: 24\n', /at pcr/],
    ['version: 1\nminAkTrust: high\n', /at minAkTrust/],
    ['version: 1\nbootPcrs: { "8": "' + hex(1) + '" }\n', /bootPcrs.*8|"8"/],
    [
      'version: 1\nbootPcrs:\n  0: 0000000000000000000000000000000000000000000000000000000000000000\n',
      /quoted hex string/,
    ],
    ['version: 1\nbootPcrs: { "0": "abcd" }\n', /64 hex digits/],
    ['version: 1\nallow: { datasets: ["git:' + COMMIT + '"] }\n', /at allow\.datasets\.0/],
    ['version: 1\nallow: { code: ["md5:00"] }\n', /at allow\.code\.0/],
    ['version: 1\nallow: { models: [] }\n', /models/],
    ['version: 1\npinnedAks: ["000b00"]\n', /at pinnedAks\.0/],
    ['version: 1\nbootpcrs: {}\n', /bootpcrs/],
    ['version: 1\nversion: 1\n', /not valid YAML.*unique/],
    ['version: 1\n---\nversion: 1\n', /not valid YAML/],
    [
      'a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n',
      /not valid YAML/,
    ],
    ['[1, 2\n', /not valid YAML/],
    ['', /at \(top level\)/],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => parsePolicy(text, 'p.yaml'),
      (err: Error & { code?: string; exitStatus?: number }) => {
        assert.equal(err.code, 'policy.invalid', `${JSON.stringify(text)}: ${err.message}`);
        assert.equal(err.exitStatus, 2);
        assert.match(err.message, message, JSON.stringify(text));
        assert.match(err.message, /^p\.yaml is not valid/);
        return true;
      },
    );
  }
});

test('random text, random JSON and mutated policies give a policy or an input error, never a crash', () => {
  const example = docsExample();
  const isPolicyError = (err: unknown) => (err as { code?: string }).code === 'policy.invalid';
  assertProperty(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 300 }),
        fc.string({ maxLength: 300, unit: 'binary' }),
        fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
        fc
          .jsonValue({ maxDepth: 4 })
          .map((v) => stringify({ version: 1, ...(typeof v === 'object' && v && !Array.isArray(v) ? v : { pcr: v }) })),
        fc
          .array(fc.tuple(fc.nat(example.length), fc.string({ maxLength: 3 }), fc.nat(3)), {
            minLength: 1,
            maxLength: 5,
          })
          .map((edits) =>
            edits.reduce((text, [at, insert, cut]) => text.slice(0, at) + insert + text.slice(at + cut), example),
          ),
      ),
      (text) => {
        try {
          const policy = parsePolicy(text);
          assert.equal(policy.version, 1);
        } catch (err) {
          assert.ok(isPolicyError(err), String(err));
        }
      },
    ),
    { numRuns: 1000 },
  );
});

test('loadPolicy reads a file, bounded in size', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'aicert-policy-'));
  try {
    await writeFile(join(dir, 'p.yaml'), 'version: 1\npcr: 16\n');
    assert.equal((await loadPolicy(join(dir, 'p.yaml'))).pcr, 16);
    await writeFile(join(dir, 'big.yaml'), `version: 1\n#${'x'.repeat(1024 * 1024)}\n`);
    await assert.rejects(loadPolicy(join(dir, 'big.yaml')), { code: 'file.too-large' });
    await assert.rejects(loadPolicy(join(dir, 'none.yaml')), { code: 'file.unreadable' });
    await writeFile(join(dir, 'bad.yaml'), 'version: 1\nextra: true\n');
    await assert.rejects(loadPolicy(join(dir, 'bad.yaml')), (err: Error) =>
      err.message.includes(join(dir, 'bad.yaml')),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const policyOf = (text: string): Policy => parsePolicy(`version: 1\n${text}`);
const trust = (level: AkTrust['level']): AkTrust => ({ level, reason: `because ${level}` });

test('policy.ak: the AK trust level must reach minAkTrust', () => {
  const byDefault = policyOf('');
  assert.equal(checkAkTrust(byDefault, trust('ca')).status, 'ok');
  const pinnedFails = checkAkTrust(byDefault, trust('pinned'));
  assert.equal(pinnedFails.status, 'failed');
  assert.match(pinnedFails.reason, /AK trust level is pinned \(because pinned\); the policy requires at least ca/);
  assert.equal(checkAkTrust(byDefault, trust('untrusted')).status, 'failed');
  const pinned = policyOf('minAkTrust: pinned\n');
  assert.equal(checkAkTrust(pinned, trust('pinned')).status, 'ok');
  assert.equal(checkAkTrust(pinned, trust('ca')).status, 'ok');
  assert.equal(checkAkTrust(pinned, trust('untrusted')).status, 'failed');
  assert.equal(checkAkTrust(policyOf('minAkTrust: untrusted\n'), trust('untrusted')).status, 'ok');
  assert.equal(checkAkTrust(byDefault, trust('ca')).id, 'policy.ak');
});

const PCR = (pcr: number) => ({ kind: 'pcr', pcr }) as const;
const NV = { kind: 'nv', index: 0x01234567 } as const;

test('policy.pcr: the run used the policy PCR, or the check is skipped', () => {
  assert.deepEqual(checkApplicationPcr(policyOf('pcr: 23\n'), PCR(23)), {
    id: 'policy.pcr',
    status: 'ok',
    reason: 'the run measured into PCR 23, as the policy requires',
  });
  const wrong = checkApplicationPcr(policyOf('pcr: 23\n'), PCR(16));
  assert.equal(wrong.status, 'failed');
  assert.match(wrong.reason, /PCR 16; the policy requires PCR 23/);
  assert.equal(checkApplicationPcr(policyOf(''), PCR(16)).status, 'skipped');
  assert.equal(checkApplicationPcr(policyOf('pcr: 23\n'), NV).status, 'skipped', 'an NV register has no PCR');
});

test('policy.register: an NV extend index by default; `register: any` also accepts a PCR', () => {
  const byDefault = policyOf('');
  assert.deepEqual(checkRegister(byDefault, NV), {
    id: 'policy.register',
    status: 'ok',
    reason: 'the run measured into NV index 0x01234567, as the policy requires',
  });
  const refused = checkRegister(byDefault, PCR(23));
  assert.equal(refused.status, 'failed');
  assert.match(refused.reason, /PCR 23 \(--register pcr23\), which anyone who reaches the TPM can reset/);
  assert.equal(checkRegister(policyOf('register: any\n'), PCR(23)).status, 'skipped');
  assert.equal(checkRegister(policyOf('register: any\n'), NV).status, 'skipped');
  assert.throws(() => policyOf('register: pcr\n'), /register/);
});

test('policy.boot: every listed boot PCR must be quoted with its value', () => {
  const policy = policyOf(`bootPcrs:\n  "0": "${hex(0)}"\n  "7": "${hex(7)}"\n`);
  const quoted = new Map([...Array(8).keys()].map((i) => [i, Buffer.alloc(32, i)]));
  const ok = checkBootPcrs(policy, quoted);
  assert.equal(ok.status, 'ok');
  assert.match(ok.reason, /boot PCRs 0, 7 have the values the policy requires/);

  const changed = new Map(quoted).set(7, Buffer.alloc(32, 0x77));
  const differs = checkBootPcrs(policy, changed);
  assert.equal(differs.status, 'failed');
  assert.match(differs.reason, new RegExp(`PCR 7 is ${hex(0x77)}, the policy requires ${hex(7)}`));
  assert.doesNotMatch(differs.reason, /PCR 0/);

  const missing = new Map(quoted);
  missing.delete(0);
  assert.match(checkBootPcrs(policy, missing).reason, /PCR 0 was not quoted/);
  assert.equal(checkBootPcrs(policyOf(''), quoted).status, 'skipped');
  assert.equal(checkBootPcrs(policyOf('bootPcrs: {}\n'), quoted).status, 'skipped');
});

const code = (sha256 = CODE_ROOT, gitCommit?: string): PolicyInput => ({
  role: 'code',
  name: 'trainer',
  digest: { sha256, ...(gitCommit && { gitCommit }) },
});
const dataset = (sha256 = DATA_ROOT): PolicyInput => ({ role: 'dataset', name: 'train', digest: { sha256 } });
const baseModel = (sha256 = BASE_ROOT): PolicyInput => ({ role: 'base-model', name: 'base', digest: { sha256 } });
const config: PolicyInput = { role: 'config', name: 'aicert.yaml', digest: { sha256: hex(0xcf) } };

test('policy.inputs: each code, dataset and base-model input must be allowed', () => {
  const policy = policyOf(
    `allow:\n  code: ["git:${COMMIT}", "sha256:${hex(0xc1)}"]\n  datasets: ["sha256:${DATA_ROOT}"]\n  baseModels: ["sha256:${BASE_ROOT}"]\n`,
  );
  const allowed = checkInputs(policy, [code(CODE_ROOT, COMMIT), dataset(), baseModel(), config]);
  assert.equal(allowed.status, 'ok', allowed.reason);
  assert.match(allowed.reason, /3 inputs checked against allow\.code, allow\.datasets, allow\.baseModels/);
  assert.equal(checkInputs(policy, [code(hex(0xc1)), dataset()]).status, 'ok', 'code allowed by manifest root');

  const dirty = checkInputs(policy, [code(CODE_ROOT)]);
  assert.equal(dirty.status, 'failed', 'a commit-allowed tree without its commit (dirty) is not allowed');
  assert.match(dirty.reason, new RegExp(`code "trainer" \\(sha256:${CODE_ROOT}\\) is not in allow\\.code`));

  const otherData = checkInputs(policy, [code(CODE_ROOT, COMMIT), dataset(hex(0xdd)), baseModel(hex(0xbb))]);
  assert.equal(otherData.status, 'failed');
  assert.match(otherData.reason, /dataset "train" \(sha256:dd/);
  assert.match(otherData.reason, /base model "base" \(sha256:bb/);
  assert.doesNotMatch(otherData.reason, /code/);

  const commitOnlyForCode = policyOf(`allow:\n  datasets: ["sha256:${DATA_ROOT}"]\n`);
  assert.equal(
    checkInputs(commitOnlyForCode, [dataset(DATA_ROOT.toUpperCase())]).status,
    'ok',
    'recorded digests compare case-insensitively',
  );
});

test('policy.inputs: a missing list allows anything, an empty list nothing', () => {
  const onlyData = policyOf('allow:\n  datasets: []\n');
  assert.equal(checkInputs(onlyData, [code(), baseModel()]).status, 'ok');
  assert.equal(checkInputs(onlyData, [code(), dataset()]).status, 'failed');
  assert.equal(
    checkInputs(policyOf('allow:\n  baseModels: []\n'), [code(), dataset()]).status,
    'ok',
    'no base model: nothing to refuse',
  );
  const skipped = checkInputs(policyOf(''), [code(), dataset()]);
  assert.equal(skipped.status, 'skipped');
  assert.equal(checkInputs(policyOf('allow: {}\n'), [code()]).status, 'skipped');
});

test('checkPolicy runs the ten checks in report order', () => {
  const policy = policyOf(
    `register: any\npcr: 23\nbootPcrs: { "0": "${hex(0)}" }\nallow: { datasets: ["sha256:${DATA_ROOT}"] }\n`,
  );
  const results = checkPolicy(policy, {
    register: PCR(23),
    quotedPcrs: new Map([[0, Buffer.alloc(32)]]),
    inputs: [code(), dataset(hex(9))],
    akTrust: trust('ca'),
    isolation: { mode: 'namespaces' },
  });
  assert.deepEqual(
    results.map((r) => [r.id, r.status]),
    [
      ['policy.ak', 'ok'],
      ['policy.register', 'skipped'],
      ['policy.pcr', 'ok'],
      ['policy.boot', 'ok'],
      ['policy.inputs', 'failed'],
      ['policy.isolation', 'ok'],
      ['policy.secureboot', 'skipped'],
      ['policy.bootapps', 'skipped'],
      ['policy.kernel', 'skipped'],
      ['policy.cmdline', 'skipped'],
    ],
  );
});

test('bootLog: forbidden flags match a word or its name=, never a prefix of another flag', () => {
  const facts = {
    bank: 'sha256',
    secureBoot: true,
    secureBootVariables: {},
    bootApplications: [{ seq: 1, pcr: 4, digest: hex(1), path: '/EFI/shim.efi' }],
    kernelCommandLines: ['/vmlinuz init=/bin/sh initrd=/x ro quiet'],
    kernels: [{ seq: 2, path: '/vmlinuz', digest: hex(2) }],
    grubCommands: [],
    grubFiles: [],
    shim: [],
    separators: [0, 1, 2, 3, 4, 5, 6, 7],
    problems: [],
  };
  const cmdline = (flags: string) =>
    checkBootLog(policyOf(`bootLog: { forbiddenCmdline: ${flags} }\n`), facts).find((r) => r.id === 'policy.cmdline')!;
  assert.match(cmdline('["init"]').reason, /forbidden flags: init=\/bin\/sh$/);
  assert.equal(cmdline('["init=/bin/bash", "initr", "quie"]').status, 'ok');
  assert.equal(cmdline('["quiet"]').status, 'failed');
  assert.equal(cmdline('["init=/bin/sh"]').status, 'failed');
  const all = checkBootLog(
    policyOf(`bootLog: { secureBoot: true, bootApplications: ["${hex(1)}"], kernels: ["${hex(2).toUpperCase()}"] }\n`),
    facts,
  );
  assert.deepEqual(
    all.map((r) => r.status),
    ['ok', 'ok', 'ok', 'skipped'],
  );
  assert.throws(() => policyOf('bootLog: { forbiddenCmdline: ["two words"] }\n'), /one word/);
  assert.throws(() => policyOf('bootLog: { secureBot: true }\n'), /secureBot/);
});

test('policy.isolation: a confined command by default; `isolation: any` also accepts an unconfined one', () => {
  const byDefault = policyOf('');
  assert.equal(checkIsolation(byDefault, { mode: 'namespaces' }).status, 'ok');
  const refused = checkIsolation(byDefault, { mode: 'none' });
  assert.equal(refused.status, 'failed');
  assert.match(refused.reason, /isolation none, so it could have reached the TPM; the policy requires namespaces/);
  assert.equal(checkIsolation(policyOf('isolation: any\n'), { mode: 'none' }).status, 'skipped');
  assert.throws(
    () => policyOf('isolation: sometimes\n'),
    (e: unknown) => (e as { code?: string }).code === 'policy.invalid',
  );
});

test("policy.isolation: the host's network (aicert run --network host) is refused unless the policy sets network: host", () => {
  const host = { mode: 'namespaces', network: 'host' };
  const refused = checkIsolation(policyOf(''), host);
  assert.equal(refused.status, 'failed');
  assert.match(refused.reason, /ran with the host's network .*set network: host to accept it/);
  assert.equal(checkIsolation(policyOf('network: host\n'), host).status, 'ok');
  assert.equal(checkIsolation(policyOf('network: host\n'), { mode: 'namespaces', network: 'none' }).status, 'ok');
  assert.equal(checkIsolation(policyOf('network: host\n'), { mode: 'none' }).status, 'failed');
  assert.equal(checkIsolation(policyOf('isolation: any\n'), host).status, 'skipped');
  assert.throws(
    () => policyOf('network: bridge\n'),
    (e: unknown) => (e as { code?: string }).code === 'policy.invalid',
  );
});

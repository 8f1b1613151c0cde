import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EVENTLOG_DIR, readEventLogFixture } from '../evidence/boot-log/fixtures.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const aicert = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });
const LOG = `${EVENTLOG_DIR}cos-85-amd-sev.bin`;

test('tpm eventlog --json: exactly pcrs, events and facts; the PCRs are what tpm2_eventlog replays', () => {
  const r = aicert('tpm', 'eventlog', LOG, '--json');
  assert.equal(r.status, 0, r.stderr);
  const json = JSON.parse(r.stdout) as {
    pcrs: Record<string, Record<string, string>>;
    events: Array<{ seq: number; pcr: number; type: string; digests: Record<string, string> }>;
    facts: { secureBoot: boolean; kernels: unknown[] };
  };
  assert.deepEqual(Object.keys(json), ['pcrs', 'events', 'facts']);
  assert.deepEqual(Object.keys(json.pcrs), ['sha1', 'sha256', 'sha384']);
  const oracle = execFileSync('tpm2_eventlog', [LOG], { encoding: 'utf8' });
  for (const [pcr, hex] of Object.entries(json.pcrs.sha256!))
    assert.match(oracle, new RegExp(`^ {4}${pcr}\\s*: 0x${hex}$`, 'm'), `sha256 PCR ${pcr}`);
  assert.equal(json.events[1]!.type, 'EV_S_CRTM_VERSION');
  assert.equal(json.facts.secureBoot, true);
  assert.equal(json.facts.kernels.length, 1);
});

test('tpm eventlog: the text form lists events, facts and the replayed PCRs of every bank', () => {
  const r = aicert('tpm', 'eventlog', LOG);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /EV_EFI_BOOT_SERVICES_APPLICATION/);
  assert.match(r.stdout, /secure boot: on/);
  assert.match(r.stdout, /kernel command line: \/syslinux\/vmlinuz\.A /);
  assert.match(r.stdout, /^ {2}sha384: 7 {2}[0-9a-f]{96}$/m);
});

test('tpm eventlog: a malformed or missing log is one line on stderr and exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aicert-eventlog-'));
  try {
    const bad = join(dir, 'cut.log');
    writeFileSync(bad, readEventLogFixture('cos-85-amd-sev.bin').subarray(0, 100));
    for (const [file, code] of [
      [bad, 'bootlog.malformed'],
      [join(dir, 'absent.log'), 'bootlog.unreadable'],
      [dir, 'bootlog.unreadable'],
    ] as const) {
      const r = aicert('tpm', 'eventlog', file, '--json');
      assert.equal(r.status, 2, file);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`\\[${code.replace('.', '\\.')}\\]`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tpm eventlog --help shows examples', () => {
  const r = aicert('tpm', 'eventlog', '--help');
  assert.equal(r.status, 0);
  assert.match(
    r.stdout,
    /Examples:\n {2}sudo aicert tpm eventlog \/sys\/kernel\/security\/tpm0\/binary_bios_measurements/,
  );
});

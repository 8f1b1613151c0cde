import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planIsolation } from '../../src/run/isolation.js';

/**
 * `--network host` (run/isolation.ts): the command keeps the host's network, which a distributed
 * trainer needs, and the certificate says so; a TPM addressed over TCP, which the command could
 * then reach, is refused. By default the command has no network at all.
 */
async function withListener<T>(body: (port: number) => T | Promise<T>): Promise<T> {
  const server = createServer((socket) => socket.on('error', () => undefined).end('hello\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await body((server.address() as { port: number }).port);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

/** Connects to 127.0.0.1:port from inside the wrapped command; its exit status says whether it could. */
const CONNECT = `require('net').connect(+process.argv[1],'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(7))`;

test('--network host: loopback stays reachable, the record says host, and no network namespace is made', async () => {
  const state = await mkdtemp(join(tmpdir(), 'aicert-iso-'));
  try {
    const host = planIsolation({ mode: 'namespaces', network: 'host', tpm: 'auto', stateDirectory: state, needed: [] });
    assert.equal(host.record.mode, 'namespaces');
    assert.ok(host.record.mode === 'namespaces' && host.record.network === 'host');
    assert.ok(host.record.mode === 'namespaces' && !host.record.namespaces.includes('network'));
    const none = planIsolation({ mode: 'namespaces', tpm: 'auto', stateDirectory: state, needed: [] });
    assert.ok(none.record.mode === 'namespaces' && none.record.network === 'none');
    assert.ok(none.record.mode === 'namespaces' && none.record.namespaces.includes('network'));
    await withListener(async (port) => {
      const run = (argv: string[]) =>
        new Promise<number | null>((resolve) => {
          spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' }).once('exit', resolve);
        });
      assert.equal(await run(host.wrap([process.execPath, '-e', CONNECT, String(port)])), 0, 'host network');
      assert.equal(await run(none.wrap([process.execPath, '-e', CONNECT, String(port)])), 7, 'no network');
    });
  } finally {
    await rm(state, { recursive: true, force: true });
  }
});

test('--network host with a TPM reached over TCP is refused (usage.network): the command could reach it too', () => {
  assert.throws(
    () =>
      planIsolation({
        mode: 'namespaces',
        network: 'host',
        tpm: 'swtpm:tcp://127.0.0.1:2321',
        stateDirectory: '/nonexistent-aicert-state',
        needed: [],
      }),
    (err: any) => err.code === 'usage.network' && /reached over the network/.test(err.message),
  );
});

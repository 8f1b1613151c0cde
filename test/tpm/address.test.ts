import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { parseTpmAddress } from '../../src/tpm/address.js';
import { EnvironmentError, InputError } from '../../src/errors.js';

test('device addresses name an absolute path', () => {
  assert.deepEqual(parseTpmAddress('device:/dev/tpmrm0'), { kind: 'device', path: '/dev/tpmrm0' });
  assert.throws(() => parseTpmAddress('device:tpmrm0'), InputError);
});

test('swtpm TCP addresses put the control channel on port + 1', () => {
  assert.deepEqual(parseTpmAddress('swtpm:tcp://127.0.0.1:2321'), {
    kind: 'swtpm',
    data: { kind: 'tcp', host: '127.0.0.1', port: 2321 },
    control: { kind: 'tcp', host: '127.0.0.1', port: 2322 },
  });
  assert.deepEqual(parseTpmAddress('swtpm:tcp://[::1]:2321').kind, 'swtpm');
  assert.throws(() => parseTpmAddress('swtpm:tcp://127.0.0.1:65535'), InputError);
  assert.throws(() => parseTpmAddress('swtpm:tcp://127.0.0.1'), InputError);
});

test('swtpm Unix addresses put the control socket at PATH.ctrl', () => {
  assert.deepEqual(parseTpmAddress('swtpm:unix:/run/swtpm/sock'), {
    kind: 'swtpm',
    data: { kind: 'unix', path: '/run/swtpm/sock' },
    control: { kind: 'unix', path: '/run/swtpm/sock.ctrl' },
  });
});

test('unknown syntax is a usage error that lists the accepted forms', () => {
  assert.throws(
    () => parseTpmAddress('mssim:2321'),
    (err: unknown) => err instanceof InputError && /device:\/dev\/tpmrm0/.test(err.message),
  );
});

test('auto picks the TPM device, or explains the options when there is none', () => {
  if (existsSync('/dev/tpmrm0')) {
    assert.deepEqual(parseTpmAddress('auto'), { kind: 'device', path: '/dev/tpmrm0' });
  } else if (!existsSync('/dev/tpm0')) {
    assert.throws(
      () => parseTpmAddress('auto'),
      (err: unknown) =>
        err instanceof EnvironmentError &&
        err.exitStatus === 3 &&
        /swtpm:unix:PATH/.test(err.message) &&
        /simulator start/.test(err.message),
    );
  }
});

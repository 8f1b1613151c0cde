import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeResponseCode, TpmResponseError } from '../../src/tpm/response-code.js';

test('response codes decode to their TPM 2.0 names', () => {
  assert.equal(describeResponseCode(0x907).name, 'TPM_RC_LOCALITY');
  assert.equal(describeResponseCode(0x100).name, 'TPM_RC_INITIALIZE');
  assert.equal(describeResponseCode(0x922).name, 'TPM_RC_RETRY');
  assert.equal(describeResponseCode(0x912).name, 'TPM_RC_REFERENCE_H2');
});

test('format-one codes name the parameter, handle or session they refer to', () => {
  assert.deepEqual(describeResponseCode(0x1c4), { name: 'TPM_RC_VALUE', base: 0x84, subject: 'parameter 1' });
  assert.deepEqual(describeResponseCode(0x18b), { name: 'TPM_RC_HANDLE', base: 0x8b, subject: 'handle 1' });
  assert.deepEqual(describeResponseCode(0x98e), { name: 'TPM_RC_AUTH_FAIL', base: 0x8e, subject: 'session 1' });
});

test('a TPM error message names the code and the command', () => {
  const err = new TpmResponseError(0x1c4, 'Quote');
  assert.equal(err.message, 'TPM_RC_VALUE (0x1c4) parameter 1 in Quote');
  assert.equal(err.exitStatus, 3);
});

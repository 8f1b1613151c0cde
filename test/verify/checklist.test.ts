import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnvironmentError, InputError, UsageError, VerificationError } from '../../src/errors.js';
import { Checklist } from '../../src/verify/checklist.js';

const IDS = ['first', 'second', 'second.detail', 'third'] as const;

test('steps record ok with their reason and return their value', async () => {
  const list = new Checklist(IDS);
  let value: number | undefined;
  await list.run(async () => {
    value = await list.step(
      'first',
      () => 41 + 1,
      (v) => `got ${v}`,
    );
    list.skipped('second', 'not asked');
  });
  assert.equal(value, 42);
  assert.equal(list.failure, undefined);
  assert.deepEqual(list.results, [
    { id: 'first', status: 'ok', reason: 'got 42' },
    { id: 'second', status: 'skipped', reason: 'not asked' },
  ]);
});

test('the first failure stops the list: nothing after it runs or is recorded', async () => {
  const list = new Checklist(IDS);
  let ranThird = false;
  await list.run(async () => {
    await list.step(
      'first',
      () => undefined,
      () => 'fine',
    );
    await list.step(
      'second',
      () => {
        throw new InputError('bad.input', 'the input is bad');
      },
      () => 'unreachable',
    );
    ranThird = true;
  });
  assert.equal(ranThird, false);
  assert.deepEqual(
    list.results.map((r) => [r.id, r.status]),
    [
      ['first', 'ok'],
      ['second', 'failed'],
    ],
  );
  assert.equal(list.failure?.result.reason, 'the input is bad');
  assert.ok(list.failure?.error instanceof InputError);
});

test('a failure whose code is an id of the list is reported under that more precise id', async () => {
  const list = new Checklist(IDS);
  await list.run(async () => {
    await list.step(
      'second',
      () => {
        throw new VerificationError('second.detail', 'precisely this');
      },
      () => '',
    );
  });
  assert.equal(list.failure?.result.id, 'second.detail');
  const other = new Checklist(IDS);
  await other.run(async () => {
    await other.step(
      'second',
      () => {
        throw new VerificationError('not.a.check', 'vaguely that');
      },
      () => '',
    );
  });
  assert.equal(other.failure?.result.id, 'second');
});

test('absorb records computed results in order and stops at the first failed one', async () => {
  const list = new Checklist(IDS);
  await list.run(async () => {
    list.absorb([
      { id: 'first', status: 'ok', reason: 'a' },
      { id: 'second', status: 'failed', reason: 'b' },
      { id: 'third', status: 'ok', reason: 'c' },
    ]);
  });
  assert.deepEqual(
    list.results.map((r) => r.id),
    ['first', 'second'],
  );
  assert.equal(list.failure?.error, undefined);
});

test('fail() stops the list with the given id and reason', async () => {
  const list = new Checklist(IDS);
  await list.run(async () => list.fail('third', 'no evidence'));
  assert.deepEqual(list.failure?.result, { id: 'third', status: 'failed', reason: 'no evidence' });
});

test('environment failures and programming errors are not findings: they propagate', async () => {
  const list = new Checklist(IDS);
  await assert.rejects(
    list.run(async () => {
      await list.step(
        'first',
        () => {
          throw new EnvironmentError('tpm.gone', 'no TPM');
        },
        () => '',
      );
    }),
    EnvironmentError,
  );
  await assert.rejects(
    list.run(async () => {
      await list.step(
        'first',
        () => {
          throw new TypeError('bug');
        },
        () => '',
      );
    }),
    TypeError,
  );
  assert.deepEqual(list.results, []);
});

test('a UsageError is an InputError with exit status 2 and a usage.* code', () => {
  const e = new UsageError('usage.missing-input', '--data x does not exist');
  assert.ok(e instanceof InputError);
  assert.equal(e.exitStatus, 2);
  assert.equal(e.code, 'usage.missing-input');
});

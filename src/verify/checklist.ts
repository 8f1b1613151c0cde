import { AicertError, EnvironmentError } from '../errors.js';

export type CheckStatus = 'ok' | 'failed' | 'skipped';

export interface CheckResult<Id extends string = string> {
  id: Id;
  status: CheckStatus;
  reason: string;
}

/** Thrown by a step to end the list; the failure is already recorded. */
class Stopped extends Error {}

/**
 * An ordered list of checks that fails closed, shared by `aicert verify` and `aicert audit`:
 * each step records `ok` with what it established, or `failed` with why, and the first failure
 * stops the list, since nothing after a failed check is believed. `run` ends quietly at that point.
 *
 * Ids form a closed set per list. A step failing with an AicertError whose code is itself an
 * id of the list (a quote's `quote.selection` inside `quote.end`) is reported under that more
 * precise id. EnvironmentErrors (no TPM, no git, a worker crash) are not findings about the
 * evidence: they propagate and the command exits 3.
 */
export class Checklist<Id extends string> {
  readonly results: CheckResult<Id>[] = [];
  /** The first failure and, when a step threw it, the error. */
  failure: { result: CheckResult<Id>; error?: AicertError } | undefined;

  constructor(private readonly ids: readonly Id[]) {}

  /** Runs the checks in `body` until the first failure. */
  async run(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (err) {
      if (!(err instanceof Stopped)) throw err;
    }
  }

  /** One check: ok with `reason(value)` and returns the value, or failed with the error's message, then stops. */
  async step<T>(id: Id, check: () => T | Promise<T>, reason: (value: T) => string): Promise<T> {
    let value: T;
    try {
      value = await check();
    } catch (err) {
      if (!(err instanceof AicertError) || err instanceof EnvironmentError) throw err;
      const refined = (this.ids as readonly string[]).includes(err.code) ? (err.code as Id) : id;
      this.stop({ id: refined, status: 'failed', reason: err.message }, err);
    }
    this.ok(id, reason(value));
    return value;
  }

  ok(id: Id, reason: string): void {
    this.results.push({ id, status: 'ok', reason });
  }

  skipped(id: Id, reason: string): void {
    this.results.push({ id, status: 'skipped', reason });
  }

  /** Records a failure found without an exception, and stops. */
  fail(id: Id, reason: string): never {
    this.stop({ id, status: 'failed', reason });
  }

  /** Records results computed elsewhere (policy, artifacts) in order; stops at the first failed one. */
  absorb(results: readonly CheckResult<Id>[]): void {
    for (const r of results) {
      if (r.status === 'failed') this.stop(r);
      this.results.push(r);
    }
  }

  private stop(result: CheckResult<Id>, error?: AicertError): never {
    this.results.push(result);
    this.failure ??= { result, ...(error && { error }) };
    throw new Stopped();
  }
}

import { isIPv4, isIPv6 } from 'node:net';
import { EnvironmentError } from '../errors.js';

/**
 * Admission control for the attestation CA (docs/attestation-ca.md, "Limits"): token buckets by
 * key (a client address, an EK), each holding up to `burst` tokens and gaining `perMinute` a
 * minute. The number of keys tracked is bounded: when the table is full, buckets that have
 * filled up again (idle keys) are forgotten, and if none has, the newcomer is refused.
 */
export interface RateOptions {
  burst: number;
  perMinute: number;
  /** Keys tracked at most. */
  maxKeys: number;
}

/** A request refused for now; `retryAfterSeconds` says when to come back (HTTP 429, Retry-After). */
export class RateLimited extends EnvironmentError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('enroll.rate-limited', `${message}; try again in ${retryAfterSeconds} s`);
  }
}

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly options: RateOptions) {}

  /** Takes one token for `key` at `now` (ms): 0 when taken, else the whole seconds until one will be there. */
  take(key: string, now: number): number {
    const { burst, perMinute } = this.options;
    const bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.options.maxKeys && !this.forgetIdle(now)) return Math.ceil(60 / perMinute);
      this.buckets.set(key, { tokens: burst - 1, at: now });
      return 0;
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) * perMinute) / 60_000);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - bucket.tokens) * 60) / perMinute));
  }

  /** Forgets the keys whose buckets are full again; whether any was. */
  private forgetIdle(now: number): boolean {
    const { burst, perMinute } = this.options;
    let forgotten = false;
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) * perMinute) / 60_000 >= burst) {
        this.buckets.delete(key);
        forgotten = true;
      }
    }
    return forgotten;
  }
}

/**
 * The key a client is limited by: its IPv4 address, or the /64 prefix of its IPv6 address (one
 * host is routinely given a whole /64, so single IPv6 addresses would be free for the asking).
 */
export function clientKey(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIPv4(address) || !isIPv6(address)) return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = address.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

import { createHash } from 'node:crypto';
import { VerificationError } from '../errors.js';
import type { Receipt } from './receipt.js';

/** The receipt is for this exchange: the request sent and the response received (`receipt.request`, `receipt.response`). */
export function checkExchange(
  r: Receipt,
  x: { method?: string; path?: string; body?: Uint8Array; status?: number; answer?: Uint8Array },
): void {
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  if (
    (x.method !== undefined && r.request.method !== x.method) ||
    (x.path !== undefined && r.request.target !== x.path) ||
    (x.body !== undefined && r.request.sha256 !== sha(x.body))
  )
    throw new VerificationError(
      'receipt.request',
      `receipt ${r.seq} is for another request (${r.request.method} ${r.request.target}, body sha256 ${r.request.sha256})`,
    );
  if (
    (x.status !== undefined && r.response.status !== x.status) ||
    (x.answer !== undefined && r.response.sha256 !== sha(x.answer))
  )
    throw new VerificationError(
      'receipt.response',
      `receipt ${r.seq} is for another response (status ${r.response.status}, body sha256 ${r.response.sha256})`,
    );
}

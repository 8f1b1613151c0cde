import { TPM_RH, TPM_ST } from './constants.js';
import { TpmFormatError, TpmReader, TpmWriter } from './marshal.js';
import { TpmResponseError } from './response-code.js';

/**
 * An authorization for one handle of a command. aicert needs only the password session
 * (empty password) and policy sessions whose policy was already satisfied (the EK's).
 */
export type Authorization = { kind: 'password'; password?: Uint8Array } | { kind: 'policy'; session: number };

export const PASSWORD: Authorization = { kind: 'password' };

/**
 * One TPM command, typed by its result: the engine marshals it, the transport carries it and
 * `parse` reads exactly the response parameters.
 */
export interface TpmCommand<Result> {
  /** Human-readable, with arguments, e.g. `PCR_Reset(10)`; used in error messages. */
  name: string;
  code: number;
  handles?: number[];
  /** One per authorized handle, in handle order. */
  authorizations?: Authorization[];
  parameters?: (w: TpmWriter) => void;
  responseHandles?: number;
  parse: (r: TpmReader, handles: number[]) => Result;
}

/** Largest response accepted from any transport; TPMs use 4 KiB (MAX_RESPONSE_SIZE). */
export const MAX_RESPONSE_SIZE = 65536;

export function encodeCommand(cmd: TpmCommand<unknown>): Buffer {
  const auths = cmd.authorizations ?? [];
  const body = new TpmWriter();
  for (const h of cmd.handles ?? []) body.u32(h);
  if (auths.length > 0) {
    const area = new TpmWriter();
    for (const a of auths) {
      if (a.kind === 'password')
        area
          .u32(TPM_RH.PW)
          .tpm2b(Buffer.alloc(0))
          .u8(0)
          .tpm2b(a.password ?? Buffer.alloc(0));
      else area.u32(a.session).tpm2b(Buffer.alloc(0)).u8(0).tpm2b(Buffer.alloc(0));
    }
    const areaBytes = area.toBuffer();
    body.u32(areaBytes.length).bytes(areaBytes);
  }
  cmd.parameters?.(body);
  const bodyBytes = body.toBuffer();
  return new TpmWriter()
    .u16(auths.length > 0 ? TPM_ST.SESSIONS : TPM_ST.NO_SESSIONS)
    .u32(10 + bodyBytes.length)
    .u32(cmd.code)
    .bytes(bodyBytes)
    .toBuffer();
}

/** Checks the response header and code, then parses handles and parameters strictly. */
export function decodeResponse<Result>(cmd: TpmCommand<Result>, response: Uint8Array): Result {
  const r = new TpmReader(response, `${cmd.name} response`);
  const tag = r.u16('tag');
  const size = r.u32('size');
  const rc = r.u32('responseCode');
  if (size !== response.length) {
    throw new TpmFormatError(`${cmd.name} response: header says ${size} bytes, got ${response.length}`);
  }
  if (rc !== 0) throw new TpmResponseError(rc, cmd.name);
  if (tag !== TPM_ST.SESSIONS && tag !== TPM_ST.NO_SESSIONS) {
    throw new TpmFormatError(`${cmd.name} response: bad tag 0x${tag.toString(16)}`);
  }
  const handles: number[] = [];
  for (let i = 0; i < (cmd.responseHandles ?? 0); i++) handles.push(r.u32('handle'));
  if (tag === TPM_ST.NO_SESSIONS) {
    const result = cmd.parse(r, handles);
    r.end();
    return result;
  }
  const parameterSize = r.u32('parameterSize');
  const params = new TpmReader(r.bytesView(parameterSize, 'parameters'), `${cmd.name} response parameters`);
  const result = cmd.parse(params, handles);
  params.end();
  // One TPMS_AUTH_RESPONSE per session sent; aicert uses none of their contents.
  for (let i = 0; i < (cmd.authorizations?.length ?? 0); i++) {
    r.tpm2b('nonceTPM', 64);
    r.u8('sessionAttributes');
    r.tpm2b('hmac', 64);
  }
  r.end();
  return result;
}

import { createHash, generateKeyPairSync, randomBytes, randomInt, sign, type KeyObject } from 'node:crypto';
import type { Tpm } from './client.js';
import { TPM_ALG, TPM_CC, TPM_ECC_CURVE, TPM_SE, TPMA_NV, TPMA_OBJECT } from './constants.js';
import { marshal } from './marshal.js';
import { nvName, type NvPublicArea } from './nv-public.js';
import { objectName, parsePublic, marshalPublic, type TpmPublic } from './public.js';
import { TpmResponseError } from './response-code.js';
import { EnvironmentError } from '../errors.js';
import { loadExternalPublic } from './commands/load-external.js';
import { startAuthSession } from './commands/start-auth-session.js';
import { policySigned } from './commands/policy-signed.js';
import { nvDefineSpace } from './commands/nv-define-space.js';
import { nvExtend } from './commands/nv-extend.js';
import { nvCertify } from './commands/nv-certify.js';
import { nvUndefineSpace } from './commands/nv-undefine-space.js';
import { nvReadPublic } from './commands/nv-read-public.js';
import { nvRead } from './commands/nv-read.js';
import type { QuoteResult } from './commands/quote.js';

/** TPM_NT_EXTEND, written only through its policy, read with its empty password, no dictionary-attack lockout. */
export const EXTEND_INDEX_ATTRIBUTES = TPMA_NV.NT_EXTEND | TPMA_NV.POLICYWRITE | TPMA_NV.AUTHREAD | TPMA_NV.NO_DA;

/** The owner range of NV indices (TCG handle registry): not assigned to any vendor or platform. */
export const OWNER_NV_FIRST = 0x01000000;
export const OWNER_NV_LAST = 0x013fffff;

const TPM_RC_NV_DEFINED = 0x14c;
const DEFINE_ATTEMPTS = 16;

/** authPolicy = PolicySigned(keyName) with an empty policyRef: H(H(0…0 ‖ TPM_CC_PolicySigned ‖ keyName) ‖ ""). */
export function policySignedDigest(keyName: Uint8Array): Buffer {
  const cc = marshal((w) => w.u32(TPM_CC.PolicySigned));
  const updated = createHash('sha256').update(Buffer.alloc(32)).update(cc).update(keyName).digest();
  return createHash('sha256').update(updated).digest();
}

/** The public area the index has once written: what NV_Certify names and a certificate binds. */
export function writtenPublic(area: NvPublicArea): NvPublicArea {
  return { ...area, attributes: area.attributes | TPMA_NV.WRITTEN };
}

/**
 * A measurement register nobody else can write: a TPM_NT_EXTEND NV index (SHA-256, 32 bytes)
 * whose only write authorization is a policy, PolicySigned by a P-256 key generated in this
 * process for this index alone. The private key never leaves the process (not to disk, not
 * to the TPM: only the public key is loaded); each NV_Extend is authorized by a signature
 * over the policy session's fresh nonceTPM and the command's exact cpHash, so a signature seen
 * on the TPM's transport authorizes nothing but that one extend in that one session.
 *
 * The key's Name is in the index's authPolicy, and the authPolicy and attributes are in the
 * index's Name: an index deleted and defined again with the same Name still needs this key to
 * be written, and one defined with another policy has another Name. Reading and NV_Certify
 * need only the index's empty password.
 */
export class NvExtendIndex {
  private written = false;

  private constructor(
    private readonly tpm: Tpm,
    /** The public area as defined (TPMA_NV_WRITTEN clear). */
    readonly definedPublic: NvPublicArea,
    private readonly key: KeyObject,
    private readonly keyPublic: TpmPublic,
  ) {}

  /**
   * Defines a fresh index at a random handle of the owner range (trying another on a
   * collision, so concurrent runs get separate indices) and checks that the TPM computes the
   * Name aicert computes. `beforeDefine` runs before each attempt with the area about to be
   * defined (a run records it, so that an index it leaves when killed can be reclaimed).
   */
  static async define(tpm: Tpm, beforeDefine?: (area: NvPublicArea) => Promise<void>): Promise<NvExtendIndex> {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const jwk = publicKey.export({ format: 'jwk' });
    const keyPublic: TpmPublic = {
      type: TPM_ALG.ECC,
      nameAlg: TPM_ALG.SHA256,
      objectAttributes: TPMA_OBJECT.sign | TPMA_OBJECT.userWithAuth,
      authPolicy: Buffer.alloc(0),
      parameters: {
        symmetric: { algorithm: TPM_ALG.NULL },
        scheme: { algorithm: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA256 },
        curve: TPM_ECC_CURVE.NIST_P256,
        kdf: { algorithm: TPM_ALG.NULL },
      },
      unique: { x: Buffer.from(jwk.x!, 'base64url'), y: Buffer.from(jwk.y!, 'base64url') },
    };
    const authPolicy = policySignedDigest(objectName(parsePublic(marshalPublic(keyPublic))));
    for (let attempt = 1; ; attempt++) {
      const area: NvPublicArea = {
        index: OWNER_NV_FIRST + randomInt(OWNER_NV_LAST - OWNER_NV_FIRST + 1),
        nameAlg: TPM_ALG.SHA256,
        attributes: EXTEND_INDEX_ATTRIBUTES,
        authPolicy,
        dataSize: 32,
      };
      await beforeDefine?.(area);
      try {
        await tpm.execute(nvDefineSpace(area));
      } catch (err) {
        if (err instanceof TpmResponseError && err.responseCode === TPM_RC_NV_DEFINED && attempt < DEFINE_ATTEMPTS)
          continue;
        throw err;
      }
      const index = new NvExtendIndex(tpm, area, privateKey, keyPublic);
      const defined = await tpm.execute(nvReadPublic(area.index)).catch(async (err) => {
        await index.undefine().catch(() => undefined);
        throw err;
      });
      if (!defined.name.equals(nvName(area))) {
        await index.undefine().catch(() => undefined);
        throw new EnvironmentError(
          'tpm.nv-name',
          `the TPM names NV index 0x${area.index.toString(16)} ${defined.name.toString('hex')}, aicert computes ${nvName(area).toString('hex')}`,
        );
      }
      return index;
    }
  }

  get index(): number {
    return this.definedPublic.index;
  }

  /** The index's current Name (it changes once, at the first write). */
  get name(): Buffer {
    return nvName(this.written ? writtenPublic(this.definedPublic) : this.definedPublic);
  }

  /** NV_Extend(digest): the policy session is satisfied by a signature bound to this very command. */
  async extend(digest: Uint8Array): Promise<void> {
    const tpm = this.tpm;
    const { handle: keyHandle } = await tpm.execute(loadExternalPublic(this.keyPublic));
    await tpm.withTransient(keyHandle, async () => {
      const { handle: session, nonceTpm } = await tpm.execute(startAuthSession(TPM_SE.POLICY, randomBytes(16)));
      try {
        const parameters = marshal((w) => w.tpm2b(digest));
        const cpHash = createHash('sha256')
          .update(marshal((w) => w.u32(TPM_CC.NV_Extend)))
          .update(this.name)
          .update(this.name)
          .update(parameters)
          .digest();
        const expiration = marshal((w) => w.u32(0));
        const signed = sign('sha256', Buffer.concat([nonceTpm, expiration, cpHash]), {
          key: this.key,
          dsaEncoding: 'ieee-p1363',
        });
        const signature = marshal((w) =>
          w.u16(TPM_ALG.ECDSA).u16(TPM_ALG.SHA256).tpm2b(signed.subarray(0, 32)).tpm2b(signed.subarray(32)),
        );
        await tpm.execute(
          policySigned(keyHandle, session, {
            nonceTpm,
            cpHashA: cpHash,
            policyRef: Buffer.alloc(0),
            expiration: 0,
            signature,
          }),
        );
        // The session is not continued: the TPM closes it when NV_Extend succeeds.
        await tpm.execute(nvExtend(this.index, digest, { kind: 'policy', session }));
      } catch (err) {
        await tpm.flushContext(session).catch(() => undefined);
        throw err;
      }
    });
    this.written = true;
  }

  /** The index's 32-byte value. */
  read(): Promise<Buffer> {
    return this.tpm.execute(nvRead(this.index, this.definedPublic.dataSize, 0));
  }

  /** NV_Certify of the whole value by `signHandle` (the AK) over `qualifyingData`. */
  certify(signHandle: number, qualifyingData: Uint8Array): Promise<QuoteResult> {
    return this.tpm.execute(nvCertify(signHandle, this.index, qualifyingData, this.definedPublic.dataSize));
  }

  undefine(): Promise<void> {
    return this.tpm.execute(nvUndefineSpace(this.index));
  }
}

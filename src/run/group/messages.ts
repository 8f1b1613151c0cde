import { z } from 'zod';
import { MAX_CERTIFICATE_BYTES } from '../../cert/certificate.js';
import { groupCommitmentSchema, groupMemberSchema, MAX_GROUP_NODES } from '../../protocol/group-commitment.js';

/**
 * The messages of the group protocol (docs/distributed.md), in the order they are sent. Every
 * frame a peer sends is parsed against these strict schemas; anything else ends the run.
 */

const hex32 = z.string().regex(/^[0-9a-f]{64}$/);
const base64Blob = z.string().min(1).max(8192);
const nodes = z.number().int().min(2).max(MAX_GROUP_NODES);

/** A quote by a node's AK over the channel: the TPMS_ATTEST, the signature, the SHA-256 PCR values it covers. */
export const channelQuoteSchema = z.strictObject({
  attest: base64Blob,
  signature: base64Blob,
  pcrs: z.record(z.string().regex(/^(?:1?[0-9]|2[0-3])$/), hex32),
});
export type ChannelQuote = z.infer<typeof channelQuoteSchema>;

export const groupMessageSchema = z.discriminatedUnion('type', [
  /** rank 0 → node, on connect: the nonce the node's join quote must cover. */
  z.strictObject({ type: z.literal('welcome'), nodes, nonce: hex32 }),
  /** node → rank 0: who it is (AK, member entry), authenticated by a quote over the welcome nonce. */
  z.strictObject({
    type: z.literal('join'),
    nodes,
    akPublic: base64Blob,
    member: groupMemberSchema,
    nonce: hex32,
    quote: channelQuoteSchema,
  }),
  /** rank 0 → node: the group commitment, with rank 0's quote over its digest and every member's nonce. */
  z.strictObject({
    type: z.literal('commitment'),
    commitment: groupCommitmentSchema,
    akPublic: base64Blob,
    nonces: z.array(hex32).max(MAX_GROUP_NODES),
    quote: channelQuoteSchema,
  }),
  /** node → rank 0: its start quote is taken. */
  z.strictObject({ type: z.literal('ready') }),
  /** rank 0 → node: every node's start quote is taken; start the command. */
  z.strictObject({ type: z.literal('go') }),
  /** node → rank 0: its command ended. */
  z.strictObject({ type: z.literal('exit'), success: z.boolean() }),
  /** rank 0 → node: every command succeeded; measure the outputs and send the evidence. */
  z.strictObject({ type: z.literal('proceed') }),
  /** node → rank 0: its single-node certificate, serialized. */
  z.strictObject({ type: z.literal('evidence'), certificate: z.string().max(MAX_CERTIFICATE_BYTES) }),
  /** rank 0 → node: the group's certificate is written. */
  z.strictObject({ type: z.literal('done') }),
  /** either way: the run failed, and why. */
  z.strictObject({ type: z.literal('abort'), reason: z.string().max(4096) }),
]);
export type GroupMessage = z.infer<typeof groupMessageSchema>;
export type GroupMessageType = GroupMessage['type'];
export type MessageOf<T extends GroupMessageType> = Extract<GroupMessage, { type: T }>;

/** The largest frame a peer may send: a certificate's bound, plus room for its JSON string escaping. */
export const MAX_FRAME_BYTES = MAX_CERTIFICATE_BYTES * 2;

import type { Socket } from 'node:net';
import { EnvironmentError } from '../../errors.js';
import { describeSchemaError } from '../../util/schema-error.js';
import {
  groupMessageSchema,
  MAX_FRAME_BYTES,
  type GroupMessage,
  type GroupMessageType,
  type MessageOf,
} from './messages.js';

/** The group run failed: a node failed, vanished, timed out or broke the protocol (exit 3). */
export class GroupFailure extends EnvironmentError {
  constructor(message: string) {
    super('group.failed', message);
    this.name = 'GroupFailure';
  }
}

/** How long a TCP connection may stay silent before keep-alive probes declare the peer gone. */
const KEEPALIVE_MS = 10_000;
/** How long an ended connection may wait for the peer's side to close before it is destroyed. */
const LINGER_MS = 2_000;

/**
 * One connection between rank 0 and another node: length-prefixed (4-byte big-endian) JSON
 * frames, each parsed against the protocol's strict schemas. The first problem breaks the channel
 * for good and is reported once through `onBroken`: an `abort` from the peer, the connection
 * closing or erroring, an oversized or malformed frame, an unexpected message, a timeout.
 */
export class Channel {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly queue: GroupMessage[] = [];
  private waiter: ((m: GroupMessage | undefined) => void) | undefined;
  private brokenReason: string | undefined;
  private ending = false;

  constructor(
    private readonly socket: Socket,
    /** Who is at the other end, for messages: "rank 0", "rank 2", "a connection from …". */
    public peer: string,
    private readonly onBroken: (reason: string) => void,
  ) {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_MS);
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('error', (err) => this.break(`the connection to ${this.peer} failed: ${err.message}`));
    socket.on('close', () => {
      if (!this.ending) this.break(`${this.peer} disconnected`);
    });
  }

  get broken(): string | undefined {
    return this.brokenReason;
  }

  send(message: GroupMessage): void {
    if (this.brokenReason !== undefined || this.ending) return;
    const body = Buffer.from(JSON.stringify(message), 'utf8');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length);
    this.socket.write(Buffer.concat([header, body]));
  }

  /** The next message, which must be of `type`; rejects with a GroupFailure once the channel is broken. */
  async receive<T extends GroupMessageType>(type: T, timeoutMs?: number): Promise<MessageOf<T>> {
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => this.break(`no ${type} message from ${this.peer} within ${Math.round(timeoutMs / 1000)} s`, true),
            timeoutMs,
          );
    try {
      const message =
        this.queue.shift() ??
        (this.brokenReason === undefined
          ? await new Promise<GroupMessage | undefined>((resolve) => {
              this.waiter = resolve;
            })
          : undefined);
      if (message === undefined) throw new GroupFailure(this.brokenReason ?? `${this.peer} disconnected`);
      if (message.type !== type) {
        this.break(`${this.peer} sent a ${message.type} message where a ${type} message was due`, true);
        throw new GroupFailure(this.brokenReason!);
      }
      return message as MessageOf<T>;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the connection on purpose: its closing is then no failure. */
  end(): void {
    this.ending = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  /**
   * Breaks the channel (once): with `tellPeer` (the peer broke the protocol, or this side failed), first sends the peer an `abort` with the reason;
   * wakes a waiting receive, ends the connection and reports why.
   */
  break(reason: string, tellPeer = false): void {
    if (this.brokenReason !== undefined || this.ending) return;
    if (tellPeer) this.send({ type: 'abort', reason });
    this.brokenReason = reason;
    this.ending = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
    this.wake(undefined);
    this.onBroken(reason);
  }

  private received(chunk: Buffer): void {
    if (this.brokenReason !== undefined) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= 4) {
      const head = this.chunks[0]!.length >= 4 ? this.chunks[0]! : Buffer.concat(this.chunks);
      const length = head.readUInt32BE(0);
      if (length > MAX_FRAME_BYTES) {
        this.break(`${this.peer} sent a ${length}-byte frame, over the ${MAX_FRAME_BYTES}-byte limit`, true);
        return;
      }
      if (this.buffered < 4 + length) return;
      const all = Buffer.concat(this.chunks);
      const body = all.subarray(4, 4 + length);
      this.chunks = all.length > 4 + length ? [all.subarray(4 + length)] : [];
      this.buffered = all.length - 4 - length;
      const message = this.parse(body);
      if (!message) return;
      if (message.type === 'abort') {
        this.break(`${this.peer} failed: ${message.reason}`);
        return;
      }
      this.wake(message);
    }
  }

  private parse(body: Buffer): GroupMessage | undefined {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
    } catch {
      this.break(`${this.peer} sent a frame that is not UTF-8 JSON`, true);
      return undefined;
    }
    const parsed = groupMessageSchema.safeParse(json);
    if (!parsed.success) {
      this.break(`${this.peer} sent a malformed message ${describeSchemaError(parsed.error)}`, true);
      return undefined;
    }
    return parsed.data;
  }

  private wake(message: GroupMessage | undefined): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) waiter(message);
    else if (message) this.queue.push(message);
  }
}

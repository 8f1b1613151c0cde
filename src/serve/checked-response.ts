/**
 * A `Response` over a body that was already read whole and checked against its receipt.
 * undici builds a web stream for every body it is given, about 150 µs each, which profiling
 * bench/serving.ts showed to be as costly as the receipt's signature check; this response reads
 * the bytes directly for `arrayBuffer`, `text` and `json`, and builds a real Response (stream
 * included) only when `body`, `blob`, `formData` or `clone` need one.
 */
export class CheckedResponse extends Response {
  readonly #bytes: Uint8Array | null;
  readonly #init: ResponseInit;
  #used = false;
  #inner: Response | undefined;

  constructor(bytes: Uint8Array | null, init: ResponseInit) {
    super(null, init);
    this.#bytes = bytes;
    this.#init = init;
  }

  /** The same response as undici builds it; already consumed if the body was read here. */
  #real(): Response {
    if (!this.#inner) {
      // A Buffer's backing store is an ArrayBuffer here (never shared): the cast only narrows the type.
      this.#inner = new Response(this.#bytes as Uint8Array<ArrayBuffer> | null, this.#init);
      if (this.#used) void this.#inner.arrayBuffer();
    }
    return this.#inner;
  }

  #take(): Uint8Array {
    if (this.#used) throw new TypeError('Body is unusable: Body has already been read');
    this.#used = true;
    return this.#bytes ?? new Uint8Array(0);
  }

  override async arrayBuffer(): Promise<ArrayBuffer> {
    if (this.#inner) return this.#inner.arrayBuffer();
    const b = this.#take();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }

  override async text(): Promise<string> {
    if (this.#inner) return this.#inner.text();
    return new TextDecoder().decode(this.#take());
  }

  override async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  override async blob(): Promise<Blob> {
    return this.#real().blob();
  }

  override async formData(): Promise<FormData> {
    return this.#real().formData();
  }

  override clone(): Response {
    return this.#real().clone();
  }

  override get body(): ReadableStream<Uint8Array<ArrayBuffer>> | null {
    return this.#real().body;
  }

  override get bodyUsed(): boolean {
    return this.#inner ? this.#inner.bodyUsed : this.#used;
  }
}

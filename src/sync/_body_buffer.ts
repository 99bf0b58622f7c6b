/**
 * A download body read into one buffer that is used again and again. A 1 GiB body read the default
 * way arrives as 16,000 freshly allocated chunks; on a machine where every page fault traps to the
 * hypervisor, allocating them costs more CPU than the bytes. A byte stream (a fetch body) is read
 * with `getReader({ mode: "byob" })` into one reused landing area and copied into the buffer, so
 * nothing is allocated per chunk; any other stream's chunks are copied in as they come.
 *
 * The landing area is apart from the buffer because a BYOB read takes the memory it reads into:
 * when the read fails (a connection dropped), that memory is gone, and the bytes already in the
 * buffer must still be written, so that a retry resumes right after them.
 *
 * @example
 * ```ts
 * const body = new BodyBuffer(response.body!, 1024 * 1024);
 * while ((await body.fill()) !== null) {
 *   if (body.isFull) {
 *     await file.write(body.filled);
 *     body.clear();
 *   }
 * }
 * ```
 *
 * @module
 */

/** The most one network read lands at once. */
const _LANDING_BYTES = 256 * 1024;

/** A byte stream read into one reused buffer of a fixed size. */
export class BodyBuffer {
  #buffer: Uint8Array;
  #length = 0;
  readonly #byob?: ReadableStreamBYOBReader;
  readonly #chunks?: ReadableStreamDefaultReader<Uint8Array>;
  /** Where a BYOB read lands (handed back by each read under a new handle). */
  #landing?: ArrayBuffer;
  /** What a read brought that is not in the buffer yet. */
  #rest?: Uint8Array;

  /** Reads `body` (locking it) into a buffer of `size` bytes (at least 1). */
  constructor(body: ReadableStream<Uint8Array>, size: number) {
    this.#buffer = new Uint8Array(Math.max(1, size));
    try {
      this.#byob = body.getReader({ mode: "byob" });
      this.#landing = new ArrayBuffer(Math.min(_LANDING_BYTES, this.#buffer.length));
    } catch {
      this.#chunks = body.getReader(); // not a byte stream
    }
  }

  /** The bytes read since the last {@linkcode BodyBuffer.clear}. */
  get filled(): Uint8Array {
    return this.#buffer.subarray(0, this.#length);
  }

  /** True when the buffer has no room left. */
  get isFull(): boolean {
    return this.#length === this.#buffer.length;
  }

  /** Empties the buffer (after its bytes were written). */
  clear(): void {
    this.#length = 0;
  }

  /** Drops the first `n` bytes filled (already dealt with); the rest moves to the front. */
  drop(n: number): void {
    const kept = Math.max(0, this.#length - n);
    this.#buffer.copyWithin(0, this.#length - kept, this.#length);
    this.#length = kept;
  }

  /**
   * Adds what the stream has next (at most the room left) and resolves to the number of bytes
   * added, or to `null` at the end of the stream (or once it was cancelled). Never call it on a full
   * buffer.
   */
  async fill(): Promise<number | null> {
    if (this.#rest === undefined || this.#rest.length === 0) {
      const next = await this.#read();
      if (next === null) return null;
      this.#rest = next;
    }
    const n = Math.min(this.#rest.length, this.#buffer.length - this.#length);
    this.#buffer.set(this.#rest.subarray(0, n), this.#length);
    this.#rest = this.#rest.subarray(n);
    this.#length += n;
    return n;
  }

  /**
   * Frees the buffer's memory and its landing's now, rather than when the garbage collector next
   * runs: they are V8's external memory, which the pass's heap guard does not count, so a fresh
   * copy's finished uri downloads each left 512 KiB resident until then (the 10,020-file fresh
   * copy's peak: 115-120 MiB against 120-121, four alternated pairs). Call it once the filled bytes
   * are written; the buffer is empty and unusable after it. A landing a pending read still holds (a
   * stream cancelled under the read) is the read's, and is left alone.
   */
  release(): void {
    for (const memory of [this.#buffer.buffer, this.#landing]) {
      if (memory instanceof ArrayBuffer && !memory.detached) memory.transfer(0);
    }
    this.#buffer = new Uint8Array(0);
    this.#length = 0;
    this.#rest = undefined;
  }

  /** Cancels the stream: a pending {@linkcode BodyBuffer.fill} resolves to `null`. */
  cancel(reason?: unknown): Promise<void> {
    return (this.#byob ?? this.#chunks)!.cancel(reason);
  }

  /** The next bytes of the stream, or null at its end. */
  async #read(): Promise<Uint8Array | null> {
    if (this.#byob === undefined) {
      const { value, done } = await this.#chunks!.read();
      return done ? null : value;
    }
    const room = Math.min(this.#landing!.byteLength, this.#buffer.length - this.#length);
    const { value, done } = await this.#byob.read(new Uint8Array(this.#landing!, 0, room));
    if (value !== undefined) this.#landing = value.buffer as ArrayBuffer;
    return done || value === undefined ? null : value;
  }
}

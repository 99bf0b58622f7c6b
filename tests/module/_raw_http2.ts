/**
 * A bare HTTP/2 peer for tests that look at the frames themselves (which a client or server library
 * hides): frame encoding and a reader that records the type of every frame the other side sends.
 *
 * @module
 */

/** The frame types these tests send or look for. */
export const FRAME = { headers: 0x1, settings: 0x4, goaway: 0x7 } as const;

/** What a client sends first on an HTTP/2 connection. */
export const CLIENT_PREFACE: Uint8Array = new TextEncoder().encode(
  "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
);

/** A frame of `type` on stream 0, without flags. */
export function encodeFrame(type: number, payload: Uint8Array = new Uint8Array()): Uint8Array {
  const frame = new Uint8Array(9 + payload.length);
  new DataView(frame.buffer).setUint32(0, payload.length << 8 | type); // 24-bit length, then type
  frame.set(payload, 9);
  return frame;
}

/** The frames the other side of a connection sent, as {@linkcode readFrames} records them. */
export interface FrameLog {
  /** Resolves once a frame of `type` came; rejects if the connection ended first. */
  seen(type: number): Promise<void>;
  /**
   * Resolves to the types of every frame received, in order, once the other side ended the
   * connection (a reset, as when a socket is closed holding bytes it has not read, ends it too);
   * rejects when it has not within `timeoutMs` (default 2 s) of asking.
   */
  ended(timeoutMs?: number): Promise<number[]>;
}

/** Reads `conn` until it ends, recording each frame's type; the first bytes must be a frame. */
export function readFrames(conn: Deno.Conn): FrameLog {
  const types: number[] = [];
  const waiters: { type: number; resolve: () => void; reject: (error: Error) => void }[] = [];
  const read = async (): Promise<number[]> => {
    let pending = new Uint8Array();
    const buffer = new Uint8Array(16 * 1024);
    for (;;) {
      let count: number | null;
      try {
        count = await conn.read(buffer);
      } catch (error) {
        if (error instanceof Deno.errors.ConnectionReset) break;
        throw error;
      }
      if (count === null) break;
      const bytes = new Uint8Array(pending.length + count);
      bytes.set(pending);
      bytes.set(buffer.subarray(0, count), pending.length);
      let offset = 0;
      while (offset + 9 <= bytes.length) {
        const size = new DataView(bytes.buffer, offset).getUint32(0) >>> 8;
        if (offset + 9 + size > bytes.length) break;
        const type = bytes[offset + 3];
        types.push(type);
        for (const waiter of waiters.filter((waiter) => waiter.type === type)) waiter.resolve();
        offset += 9 + size;
      }
      pending = bytes.slice(offset);
    }
    conn.close();
    for (const waiter of waiters) {
      waiter.reject(new Error(`the connection ended; frames received: ${types}`));
    }
    return types;
  };
  const reading = read();
  reading.catch(() => {});
  return {
    seen: (type) =>
      types.includes(type) ? Promise.resolve() : new Promise((resolve, reject) => {
        waiters.push({ type, resolve, reject });
      }),
    ended: (timeoutMs = 2_000) =>
      new Promise<number[]>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`the connection was kept open; frames received: ${types}`)),
          timeoutMs,
        );
        reading.then(resolve, reject).finally(() => clearTimeout(timer));
      }),
  };
}

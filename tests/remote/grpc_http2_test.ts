import assert from "node:assert/strict";
import { createServer, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { Http2Connection } from "../../src/remote/grpc_http2.ts";
import { pollUntil } from "../_poll.ts";

Deno.test("sixteen verifies at once keep a live connection and the streams on it", async () => {
  // After a stall (the process stopped or starved) every upload's reply timer fires in one tick and
  // each verifies the connection: node:http2 cancels the pings past its 10 outstanding, and a
  // cancelled ping was taken for a dead connection, which was dropped with every upload on it.
  const held: ServerHttp2Stream[] = [];
  const server = createServer();
  server.on("stream", (stream) => held.push(stream as ServerHttp2Stream)); // never answers
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const connection = new Http2Connection(`http://127.0.0.1:${port}`);
  try {
    const stream = await connection.request("/upload", {}, new AbortController().signal);
    stream.on("error", () => {});
    let cut = false;
    stream.on("close", () => cut = true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await Promise.all(Array.from({ length: 16 }, () => connection.verify()));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(cut, false, "a live connection was discarded: the stream on it was cut");
  } finally {
    await connection.close();
    for (const stream of held) stream.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

Deno.test("a connection with a stream open is not idle however long it is silent; once none is, it closes after idleMs", async () => {
  // An upload paced by a bandwidth limit waits 64 s before each 64 KiB at 1 KiB/s: a silent
  // socket closed the connection under it, every try.
  const received: number[] = [];
  let sessionsClosed = 0;
  const server = createServer();
  server.on("session", (session) => session.on("close", () => sessionsClosed++));
  server.on("stream", (stream: ServerHttp2Stream) => {
    let bytes = 0;
    stream.on("data", (chunk: Uint8Array) => bytes += chunk.length);
    stream.on("end", () => {
      received.push(bytes);
      stream.respond({ ":status": 200 });
      stream.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const connection = new Http2Connection(`http://127.0.0.1:${port}`, { idleMs: 150 });
  try {
    const stream = await connection.request("/upload", {}, new AbortController().signal);
    let cut = false;
    stream.on("error", () => cut = true);
    await new Promise((resolve) => setTimeout(resolve, 600)); // four idle periods, silent
    assert.equal(cut, false, "the connection was closed under an open stream");
    stream.end(new Uint8Array(10));
    stream.resume();
    await new Promise((resolve) => stream.once("close", resolve));
    assert.equal(cut, false);
    assert.deepEqual(received, [10]);
    assert.equal(sessionsClosed, 0);
    await pollUntil("the idle connection closed", () => sessionsClosed === 1, { limitMs: 5_000 });
  } finally {
    await connection.close();
    await new Promise((resolve) => server.close(resolve));
  }
});

Deno.test("a call the server refused before reading it (trailers-only) does not keep the connection from idling out", async () => {
  let sessionsClosed = 0;
  const server = createServer();
  server.on("session", (session) => session.on("close", () => sessionsClosed++));
  server.on("stream", (stream: ServerHttp2Stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "14" }, {
      endStream: true,
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const connection = new Http2Connection(`http://127.0.0.1:${port}`, { idleMs: 150 });
  try {
    const { GrpcCall } = await import("../../src/remote/grpc_http2.ts");
    const call = await GrpcCall.open(connection, "/upload", {}, new AbortController().signal);
    await assert.rejects(async () => {
      await call.send(new Uint8Array(64 * 1024));
      await call.finish();
    });
    await pollUntil("the idle connection closed", () => sessionsClosed === 1, { limitMs: 3_000 });
  } finally {
    await connection.close();
    await new Promise((resolve) => server.close(resolve));
  }
});

/**
 * A TCP proxy in front of `target` that records the client's HTTP/2 frames ending or resetting a
 * stream, as `DATA+END_STREAM <id>` / `HEADERS+END_STREAM <id>` / `RST_STREAM <id> <code>`.
 */
function _frameLoggingProxy(target: number): { port: number; frames: string[]; close(): void } {
  const frames: string[] = [];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ hostname: "127.0.0.1", port: target });
      conns.push(client, server);
      server.readable.pipeTo(client.writable).catch(() => {});
      (async () => {
        let pending = new Uint8Array(0);
        let prefaceLeft = 24;
        for await (const chunk of client.readable) {
          await server.write(chunk);
          const joined = new Uint8Array(pending.length + chunk.length);
          joined.set(pending);
          joined.set(chunk, pending.length);
          let at = Math.min(prefaceLeft, joined.length);
          prefaceLeft -= at;
          const view = new DataView(joined.buffer);
          while (joined.length - at >= 9) {
            const length = (view.getUint16(at) << 8) | joined[at + 2];
            if (joined.length - at < 9 + length) break;
            const [type, flags] = [joined[at + 3], joined[at + 4]];
            const id = view.getUint32(at + 5) & 0x7fffffff;
            if ((type === 0 || type === 1) && (flags & 1) === 1) {
              frames.push(`${type === 0 ? "DATA" : "HEADERS"}+END_STREAM ${id}`);
            }
            if (type === 3) frames.push(`RST_STREAM ${id} ${view.getUint32(at + 9)}`);
            at += 9 + length;
          }
          pending = joined.slice(at);
        }
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    frames,
    close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed already */ }
      }
    },
  };
}

Deno.test("a reset call never ends its request cleanly: no END_STREAM goes before the RST_STREAM", async () => {
  // A server that stores what a client-streaming call sent once the request ends (as the
  // platform does an upload) must not get an end for a call reset part way (a file changed while
  // it was sent): Deno's node:http2 `close(NGHTTP2_CANCEL)` sent an empty DATA frame with
  // END_STREAM before its RST_STREAM.
  const server = createServer();
  server.on("stream", (stream: ServerHttp2Stream) => {
    stream.on("data", () => {});
    stream.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxy = _frameLoggingProxy((server.address() as AddressInfo).port);
  const connection = new Http2Connection(`http://127.0.0.1:${proxy.port}`);
  try {
    const { GrpcCall } = await import("../../src/remote/grpc_http2.ts");
    const byReset = await GrpcCall.open(connection, "/reset", {}, new AbortController().signal);
    await byReset.send(new Uint8Array(1000));
    await new Promise((resolve) => setTimeout(resolve, 50)); // the frame went
    byReset.reset();
    const stop = new AbortController();
    const bySignal = await GrpcCall.open(connection, "/abort", {}, stop.signal);
    await bySignal.send(new Uint8Array(1000));
    stop.abort();
    await pollUntil(
      "both resets on the wire",
      () => proxy.frames.filter((frame) => frame.startsWith("RST_STREAM")).length === 2,
      { limitMs: 3_000 },
    );
    assert.deepEqual(
      proxy.frames.filter((frame) => frame.includes("END_STREAM")),
      [],
      proxy.frames.join("\n"),
    );
  } finally {
    await connection.close();
    proxy.close();
    await new Promise((resolve) => server.close(resolve));
  }
});

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

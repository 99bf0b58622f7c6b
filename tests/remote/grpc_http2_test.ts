import assert from "node:assert/strict";
import { createServer, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { Http2Connection } from "../../src/remote/grpc_http2.ts";

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
    const stream = connection.request("/upload", {});
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

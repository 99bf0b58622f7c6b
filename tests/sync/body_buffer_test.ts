import assert from "node:assert/strict";
import { BodyBuffer } from "../../src/sync/_body_buffer.ts";

/** Reads a whole body through a buffer of `size`, writing it out each time it is full. */
async function _readAll(body: ReadableStream<Uint8Array>, size: number): Promise<Uint8Array[]> {
  const buffer = new BodyBuffer(body, size);
  const writes: Uint8Array[] = [];
  while ((await buffer.fill()) !== null) {
    if (buffer.isFull) {
      writes.push(buffer.filled.slice());
      buffer.clear();
    }
  }
  if (buffer.filled.length > 0) writes.push(buffer.filled.slice());
  return writes;
}

function _bytes(n: number): Uint8Array<ArrayBuffer> {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);
}

function _joined(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

Deno.test("a fetch body (a byte stream) arrives whole, in writes of the buffer's size", async () => {
  const content = _bytes(700_000);
  await using server = Deno.serve({ port: 0, onListen() {} }, () => new Response(content));
  const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
  const writes = await _readAll(response.body!, 300_000);
  assert.deepEqual(writes.map((w) => w.length), [300_000, 300_000, 100_000]);
  assert.deepEqual(_joined(writes), content);
});

Deno.test("a stream of chunks (not a byte stream) is copied in across chunk boundaries", async () => {
  const content = _bytes(10_000);
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let at = 0; at < content.length; at += 3_000) {
        controller.enqueue(content.slice(at, at + 3_000));
      }
      controller.close();
    },
  });
  const writes = await _readAll(body, 4_096);
  assert.deepEqual(writes.map((w) => w.length), [4_096, 4_096, 1_808]);
  assert.deepEqual(_joined(writes), content);
});

Deno.test("a body cut mid-way fails the read and keeps what had arrived, to be written", async () => {
  let pulls = 0;
  const body = new ReadableStream({
    type: "bytes",
    pull(controller) {
      if (pulls++ === 0) controller.enqueue(_bytes(5_000));
      else controller.error(new Error("connection reset"));
    },
  });
  const buffer = new BodyBuffer(body, 64 * 1024);
  await assert.rejects(async () => {
    while ((await buffer.fill()) !== null) {
      // read on until the cut
    }
  }, /connection reset/);
  assert.deepEqual(buffer.filled, _bytes(5_000), "the bytes before the cut are still there");
});

Deno.test("release frees the buffer's and the landing's memory at once, after a whole body or a cut one", async () => {
  const external = () => Deno.memoryUsage().external;
  const before = external();
  const buffers: BodyBuffer[] = [];
  for (let i = 0; i < 8; i++) {
    // A byte stream, as a fetch body is: read with BYOB into the landing.
    const body = new ReadableStream({
      type: "bytes",
      pull(controller) {
        controller.enqueue(_bytes(100_000));
      },
    });
    const buffer = new BodyBuffer(body, 1024 * 1024);
    await buffer.fill();
    assert.ok(buffer.filled.length > 0);
    await buffer.cancel();
    buffers.push(buffer);
  }
  // Eight buffers of 1 MiB and their landings (256 KiB each), held until released.
  assert.ok(external() - before >= 8 * 1024 * 1024, `${external() - before} bytes held`);
  for (const buffer of buffers) buffer.release();
  assert.ok(external() - before < 1024 * 1024, `${external() - before} bytes left`);
  assert.equal(buffers[0].filled.length, 0);

  // A read cut by an error took the landing with it: release frees the rest and does not throw.
  let pulls = 0;
  const cut = new BodyBuffer(
    new ReadableStream({
      type: "bytes",
      pull(controller) {
        if (pulls++ === 0) controller.enqueue(_bytes(5_000));
        else controller.error(new Error("connection reset"));
      },
    }),
    64 * 1024,
  );
  await assert.rejects(async () => {
    while ((await cut.fill()) !== null) {
      // read on until the cut
    }
  }, /connection reset/);
  cut.release();
  assert.equal(cut.filled.length, 0);
});

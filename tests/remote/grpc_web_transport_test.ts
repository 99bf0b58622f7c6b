/**
 * The landing transport: inline batches read into one reused buffer through the real SDK client
 * against the local platform, and gRPC-web errors keeping the codes connect-web gives them.
 */
import assert from "node:assert/strict";
import { dataApi } from "@viamrobotics/sdk";
import { MethodKind, type ServiceType } from "@bufbuild/protobuf";
import { ConnectError } from "@viamrobotics/sdk";
import { createContextValues } from "@connectrpc/connect";
import {
  createLandingTransport,
  LANDING,
  ResponseLanding,
} from "../../src/remote/grpc_web_transport.ts";
import { TooLargeError } from "../../src/remote/errors.ts";
import { describeDataset, itemBytes, startPlatform } from "../support/platform/mod.ts";
import { remoteOf } from "./_remote_of.ts";

Deno.test("inline batches land in one reused buffer; a disposed batch's views go empty", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 40, sizeBytes: (i) => 20_000 + i, tags: ["t"] }]),
  });
  const remote = remoteOf(platform);
  const items = platform.items();
  const ids = (from: number, to: number) => items.slice(from, to).map((i) => i.binaryDataId);

  const first = await remote.fetchInline(ids(0, 20));
  assert.equal(first.files.size, 20);
  for (const item of items.slice(0, 20)) {
    assert.deepEqual(first.files.get(item.binaryDataId), itemBytes(item));
  }
  const kept = first.files.get(items[0].binaryDataId)!;
  first[Symbol.dispose]();
  first[Symbol.dispose](); // twice is harmless: the landing is not pooled twice
  assert.equal(first.files.size, 0, "a disposed batch lists no files");

  // The next call reads into the same memory: the old view is detached, so it cannot show the new
  // response's bytes, and the new files are whole.
  const second = await remote.fetchInline(ids(20, 40));
  assert.equal(kept.length, 0, "a view kept past dispose reads as empty");
  for (const item of items.slice(20, 40)) {
    assert.deepEqual(second.files.get(item.binaryDataId), itemBytes(item));
  }
  second[Symbol.dispose]();
  // Two calls at once: one answer is read while the other waits for the buffer; each is whole.
  const calls = [remote.fetchInline(ids(0, 10)), remote.fetchInline(ids(10, 20))];
  const [firstRead, batch] = await Promise.race(
    calls.map((call, index) => call.then((batch) => [index, batch] as const)),
  );
  const check = (files: ReadonlyMap<string, Uint8Array>, from: number) => {
    for (const item of items.slice(from, from + 10)) {
      assert.deepEqual(files.get(item.binaryDataId), itemBytes(item));
    }
  };
  check(batch.files, firstRead * 10);
  batch[Symbol.dispose]();
  using other = await calls[1 - firstRead];
  check(other.files, (1 - firstRead) * 10);
});

Deno.test("inline answers are read one at a time; a call that gives up waiting takes no turn", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 5, sizeBytes: 1000, tags: ["t"] }]),
  });
  const ids = platform.items().map((item) => item.binaryDataId);
  const remote = remoteOf(platform);
  const state = (call: Promise<unknown>) =>
    Promise.race([
      call.then(() => "read", () => "failed"),
      new Promise((resolve) => setTimeout(() => resolve("waiting"), 300)),
    ]);
  // (A call that is read is awaited, not raced against a timer: on a loaded machine a round trip
  // may take longer than the 300 ms that "waiting" stands for.)
  const first = remote.fetchInline([ids[0]]);
  const held = await first;
  // While its files are held, the next answers wait for the turn. One of them is given up.
  const stop = new AbortController();
  const second = remote.fetchInline([ids[1]]);
  const givenUp = remote.fetchInline([ids[2]], { signal: stop.signal });
  assert.deepEqual(await Promise.all([state(second), state(givenUp)]), ["waiting", "waiting"]);
  stop.abort(new Error("given up"));
  await assert.rejects(givenUp, /given up/);
  assert.equal(await state(second), "waiting");
  held[Symbol.dispose]();
  using next = await second;
  assert.equal(next.files.size, 1);
  next[Symbol.dispose]();
  // The turn is back (the call given up kept none): of two calls at once, one is read, then the
  // other once the first lets go.
  const again = ids.slice(3, 5).map((id) => remote.fetchInline([id]));
  const readFirst = await Promise.race(again.map((call, i) => call.then(() => i)));
  const waiting = again[1 - readFirst];
  assert.equal(await state(waiting), "waiting");
  (await again[readFirst])[Symbol.dispose]();
  // Read once the first lets go (within 30 s: a turn never given back would hang the suite).
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("the turn was never given back")), 30_000);
  });
  try {
    (await Promise.race([waiting, late]))[Symbol.dispose]();
  } finally {
    clearTimeout(timer);
  }
});

Deno.test("inline refusals, outages and a revoked token keep their meaning", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 3, sizeBytes: 5000, tags: ["t"] }]),
    inlineLimitBytes: 4000,
  });
  const remote = remoteOf(platform);
  const ids = platform.items().map((i) => i.binaryDataId);
  await assert.rejects(remote.fetchInline(ids), TooLargeError);

  platform.setFaults({ unavailableRate: 1, unavailableCalls: ["BinaryDataByIDs"] });
  const outage = await remote.fetchInline(ids).catch((error) => error);
  assert.ok(outage instanceof ConnectError, String(outage));
  assert.equal(outage.code, 14);
  assert.equal(remote.classify(outage), "transient");

  // A revoked token is refused once; the remote signs in again and the call goes through.
  platform.setFaults({});
  await using bigger = await startPlatform({
    dataset: describeDataset([{ count: 2, sizeBytes: 100, tags: ["t"] }]),
  });
  const again = remoteOf(bigger);
  const twoIds = bigger.items().map((i) => i.binaryDataId);
  (await again.fetchInline(twoIds))[Symbol.dispose]();
  bigger.revokeTokens();
  using batch = await again.fetchInline(twoIds);
  assert.equal(batch.files.size, 2);
  assert.equal(bigger.calls.Authenticate, 2);
});

const _SERVICE = { typeName: "viam.app.data.v1.DataService", methods: {} } as ServiceType;
const _METHOD = {
  name: "BinaryDataByIDs",
  I: dataApi.BinaryDataByIDsRequest,
  O: dataApi.BinaryDataByIDsResponse,
  kind: MethodKind.Unary,
} as const;

/** A gRPC-web reply: frames of `[flags, length, bytes]`. */
function frames(...parts: [number, Uint8Array][]): Uint8Array<ArrayBuffer> {
  const total = parts.reduce((sum, [, bytes]) => sum + 5 + bytes.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const [flags, bytes] of parts) {
    out[at] = flags;
    new DataView(out.buffer).setUint32(at + 1, bytes.length);
    out.set(bytes, at + 5);
    at += 5 + bytes.length;
  }
  return out;
}

async function callAgainst(respond: () => Response): Promise<unknown> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, respond);
  try {
    const transport = createLandingTransport({ baseUrl: `http://127.0.0.1:${server.addr.port}` });
    return await transport.unary(_SERVICE, _METHOD, undefined, undefined, undefined, {
      binaryDataIds: ["x"],
    });
  } catch (error) {
    return error;
  } finally {
    await server.shutdown();
  }
}

Deno.test("an answer past its method's byte bound is refused as it is read", async () => {
  let size = 5000;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response(new Uint8Array(size), {
        headers: { "content-type": "application/grpc-web+proto" },
      }),
  );
  try {
    const baseUrl = `http://127.0.0.1:${server.addr.port}`;
    const bounded = createLandingTransport({
      baseUrl,
      maxResponseBytes: (method) => method === _METHOD.name ? 1000 : undefined,
    });
    const error = await bounded.unary(_SERVICE, _METHOD, undefined, undefined, undefined, {
      binaryDataIds: ["x"],
    }).catch((e) => e);
    assert.match(String(error), /response larger than 1000 bytes/);
    // Past the first buffer (64 KiB), where the landing grows up to the bound: the same refusal.
    size = 200_000;
    const grown = createLandingTransport({ baseUrl, maxResponseBytes: () => 100_000 });
    const past = await grown.unary(_SERVICE, _METHOD, undefined, undefined, undefined, {
      binaryDataIds: ["x"],
    }).catch((e) => e);
    assert.match(String(past), /response larger than 100000 bytes/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("gRPC-web replies: statuses, trailers and framing errors map to connect's codes", async () => {
  const message = new dataApi.BinaryDataByIDsResponse({
    data: [{ binary: new Uint8Array([1, 2, 3]), metadata: { binaryDataId: "x" } }],
  }).toBinary();
  const ok = new TextEncoder().encode("grpc-status: 0\r\n");
  const headers = { "content-type": "application/grpc-web+proto" };

  const answer = await callAgainst(() =>
    new Response(frames([0, message], [0x80, ok]), { headers })
  ) as { message: InstanceType<typeof dataApi.BinaryDataByIDsResponse> };
  assert.deepEqual(answer.message.data[0].binary, new Uint8Array([1, 2, 3]));

  const codeOf = async (respond: () => Response) => {
    const error = await callAgainst(respond);
    assert.ok(error instanceof ConnectError, `not a ConnectError: ${error}`);
    return [error.code, error.rawMessage];
  };
  const [code503, text503] = await codeOf(() => new Response("no", { status: 503 }));
  assert.equal(code503, 14);
  assert.match(
    String(text503),
    /^HTTP 503 from http:\/\/127\.0\.0\.1:\d+\/viam\.app\.data\.v1\.DataService\/BinaryDataByIDs$/,
  );
  const [code404, text404] = await codeOf(() => new Response("no", { status: 404 }));
  assert.deepEqual([code404, String(text404).replace(/:\d+\//, ":P/")], [
    12,
    "HTTP 404 from http://127.0.0.1:P/viam.app.data.v1.DataService/BinaryDataByIDs",
  ]);
  assert.equal((await codeOf(() => new Response("no", { status: 401 })))[0], 16);
  // Trailers-only: the status is in the headers.
  assert.deepEqual(
    await codeOf(() =>
      new Response(null, {
        headers: { ...headers, "grpc-status": "7", "grpc-message": "not%20yours" },
      })
    ),
    [7, "not yours"],
  );
  // The status in the trailer frame.
  const refused = new TextEncoder().encode("grpc-status: 8\r\ngrpc-message: too big\r\n");
  assert.deepEqual(
    await codeOf(() => new Response(frames([0x80, refused]), { headers })),
    [8, "too big"],
  );
  assert.deepEqual(
    await codeOf(() => new Response(frames([0, message]), { headers })),
    [2, "missing trailer"],
  );
  assert.deepEqual(
    await codeOf(() => new Response(frames([1, message], [0x80, ok]), { headers })),
    [13, "protocol error: received compressed output"],
  );
  assert.deepEqual(
    await codeOf(() => new Response(frames([0, message]).slice(0, 8), { headers })),
    [13, "protocol error: cut frame"],
  );
  assert.deepEqual(
    await codeOf(() => new Response(frames([0x80, ok]), { headers })),
    [12, "missing message"],
  );
  // A captive portal's page: not read as frames ("cut frame" told the operator nothing).
  const [portalCode, portalText] = await codeOf(() =>
    new Response("<html><body>Accept the terms of the Wi-Fi</body></html>", {
      headers: { "content-type": "text/html; charset=utf-8" },
    })
  );
  assert.equal(portalCode, 14);
  assert.match(
    String(portalText),
    /^http:\/\/127\.0\.0\.1:\d+\/viam\.app\.data\.v1\.DataService\/BinaryDataByIDs answered text\/html, not gRPC-web \(a captive portal or a proxy's page\?\)$/,
  );
  // Nothing listens: a refused connection is Unknown, as connect-web reports it (transient).
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  const refusedConnection = await createLandingTransport({ baseUrl: `http://127.0.0.1:${port}` })
    .unary(_SERVICE, _METHOD, undefined, undefined, undefined, {}).catch((error) => error);
  assert.ok(refusedConnection instanceof ConnectError);
  assert.equal(refusedConnection.code, 2);
});

Deno.test("a landing grows as a body needs, keeps what it read, and refuses past its limit", async () => {
  const body: Uint8Array<ArrayBuffer> = new Uint8Array(300_000).map((_, i) => i % 251);
  const landing = new ResponseLanding(1024);
  const read = await landing.read(new Response(body).body!);
  assert.deepEqual(read, body);
  assert.ok(landing.capacity >= body.length);
  // Not a byte stream: its chunks are copied in.
  const chunks = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(body.subarray(0, 1000));
      controller.enqueue(body.subarray(1000));
      controller.close();
    },
  });
  assert.deepEqual(await new ResponseLanding(1024).read(chunks), body);
  await assert.rejects(
    new ResponseLanding(1024).read(new Response(body).body!, 100_000),
    (error: unknown) => error instanceof ConnectError && error.code === 8,
  );
});

Deno.test("a landing made room for up front reads its body without growing", async () => {
  const body: Uint8Array<ArrayBuffer> = new Uint8Array(200_000).map((_, i) => i % 13);
  const landing = new ResponseLanding(1024);
  landing.reserve(200_001);
  assert.equal(landing.capacity, 200_001);
  assert.deepEqual(await landing.read(new Response(body).body!), body);
  assert.equal(landing.capacity, 200_001, "no doubling on the way");
  // Announced by Content-Length: one allocation of that size (and the byte that sees the end).
  const announced = new ResponseLanding(1024);
  assert.deepEqual(await announced.read(new Response(body).body!, 1 << 20, body.length), body);
  assert.equal(announced.capacity, body.length + 1);
});

Deno.test("kept inline buffers are let go once calls stop for keepBuffersMs", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 4, sizeBytes: 5000, tags: ["t"] }]),
  });
  const remote = remoteOf(platform, { keepBuffersMs: 1_000 });
  const ids = platform.items().map((i) => i.binaryDataId);
  // Within the delay (a second: more than a round trip on a loaded machine) the landing is used again: the kept view is detached by the next read.
  const first = await remote.fetchInline(ids);
  const reused = first.files.get(ids[0])!;
  first[Symbol.dispose]();
  (await remote.fetchInline(ids))[Symbol.dispose]();
  assert.equal(reused.length, 0);
  // After it, the landing was let go: the next call reads into a new one, the old view is intact.
  const second = await remote.fetchInline(ids);
  const released = second.files.get(ids[0])!;
  second[Symbol.dispose]();
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  using third = await remote.fetchInline(ids);
  assert.equal(released.length, 5000, "a landing let go is not read into again");
  assert.deepEqual(third.files.get(ids[0]), itemBytes(platform.items()[0]));
});

Deno.test("a body whose landing is refused is cancelled: its connection goes", async () => {
  // The wait for the landing given up (the inline call abandoned): a body nobody reads, left open,
  // had the server go on sending and kept the socket.
  let cancelled = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          timer = setInterval(() => controller.enqueue(new Uint8Array(16)), 20);
        },
        cancel() {
          cancelled = true;
          clearInterval(timer);
        },
      }),
      { headers: { "content-type": "application/grpc-web+proto" } },
    ));
  try {
    const transport = createLandingTransport({ baseUrl: `http://127.0.0.1:${server.addr.port}` });
    const refused = createContextValues().set(LANDING, () => {
      throw new Error("the inline call was given up");
    });
    await assert.rejects(
      transport.unary(_SERVICE, _METHOD, undefined, undefined, undefined, {
        binaryDataIds: ["x"],
      }, refused),
      /given up/,
    );
    for (let i = 0; i < 50 && !cancelled; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(cancelled, "the server is still sending a body nobody reads");
  } finally {
    clearInterval(timer);
    await server.shutdown();
  }
});

Deno.test("each method's calls take connections from the pool connectionUse names for it", async () => {
  const message = new dataApi.BinaryDataByIDsResponse({}).toBinary();
  const ok = new TextEncoder().encode("grpc-status: 0\r\n");
  const ports: Record<string, number[]> = {};
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request, info) => {
    const method = new URL(request.url).pathname.split("/").pop()!;
    (ports[method] ??= []).push(info.remoteAddr.port);
    return new Response(frames([0, message], [0x80, ok]), {
      headers: { "content-type": "application/grpc-web+proto" },
    });
  });
  try {
    const transport = createLandingTransport({
      baseUrl: `http://127.0.0.1:${server.addr.port}`,
      connectionUse: (method) => method === _METHOD.name ? "files" : "metadata",
    });
    const other = { ..._METHOD, name: "BinaryDataByFilter" };
    for (const method of [_METHOD, other, _METHOD, other]) {
      await transport.unary(_SERVICE, method, undefined, undefined, undefined, {});
    }
    const files = new Set(ports[_METHOD.name]);
    const metadata = new Set(ports[other.name]);
    // One at a time: each pool's one connection serves its method's two calls.
    assert.equal(files.size, 1);
    assert.equal(metadata.size, 1);
    assert.notDeepEqual(files, metadata);
  } finally {
    await server.shutdown();
  }
});

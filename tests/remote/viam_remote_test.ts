/** The SDK-backed remote against the local platform, and where the API key may and may not go. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { UncheckableBodyError } from "../../src/remote/errors.ts";
import { ViamRemote } from "../../src/remote/viam_remote.ts";
import { describeDataset, startPlatform } from "../support/platform/mod.ts";
import { neverAnswering, remoteOf } from "./_remote_of.ts";
import { pollUntil } from "../_poll.ts";

async function readAll(body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(body).arrayBuffer());
}

/** A server that records the headers it gets and answers with `respond`. */
function recorder(respond: (request: Request) => Response) {
  const seen: Headers[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    seen.push(request.headers);
    return respond(request);
  });
  return { seen, url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

Deno.test("listPage reads metadata only, sizes and the cursor; an empty page ends it", async () => {
  // The platform refuses any item above 10 bytes inline: a listing asking for bytes would fail.
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 3, sizeBytes: (i) => 1000 + i, tags: ["t"] }]),
    inlineLimitBytes: 10,
  });
  const remote = remoteOf(platform);
  const page = await remote.listPage({ tags: ["t"], labels: [] }, "", { pageSize: 2 });
  assert.equal(page.items.length, 2);
  assert.deepEqual(page.items.map((i) => i.sizeBytes), [1000, 1001]);
  assert.equal(page.items[0].binaryDataId, platform.items()[0].binaryDataId);
  const rest = await remote.listPage({ tags: ["t"], labels: [] }, page.last);
  assert.equal(rest.items.length, 1);
  assert.equal((await remote.listPage({ tags: ["t"], labels: [] }, rest.last)).items.length, 0);
});

Deno.test("count: a count_only answered with items is no count (it would read as 0)", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 3 }]) });
  const remote = remoteOf(platform);
  const all = { tags: [], labels: [] };
  assert.equal(await remote.count(all), 3);
  platform.setFaults({ countAnswer: "page" });
  await assert.rejects(remote.count(all), /answered a count with items: it does not count/);
});

Deno.test("signInAhead signs in before any call, and the first call uses that token", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 3 }]) });
  const remote = remoteOf(platform);
  remote.signInAhead();
  remote.signInAhead(); // one sign-in under way is not made twice
  await pollUntil("the sign-in ahead reaches the platform", () => platform.calls.Authenticate > 0);
  assert.equal(platform.calls.BinaryDataByFilter, 0);
  assert.equal(await remote.count({ tags: [], labels: [] }), 3);
  assert.equal(platform.calls.Authenticate, 1, "the call took the token signed in ahead");
});

Deno.test("a refused sign-in ahead is not kept: the next call signs in again", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 2 }]) });
  const remote = remoteOf(platform);
  const all = { tags: [], labels: [] };
  platform.setFaults({ unavailableRate: 1, unavailableCalls: ["Authenticate"] });
  remote.signInAhead();
  // The call shares the refused sign-in ahead (or, had it ended first, is refused its own).
  await assert.rejects(remote.count(all), /unavailable/i);
  platform.setFaults({});
  assert.equal(await remote.count(all), 2, "a new sign-in, not the refusal kept");
});

Deno.test("a sign-in never answered ends with the call timeout, and the next call signs in again", async () => {
  await using server = neverAnswering();
  const remote = remoteOf(server, { callTimeoutMs: 200 });
  const all = { tags: [], labels: [] };
  await assert.rejects(remote.listPage(all, ""), /timed out/);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await assert.rejects(remote.listPage(all, ""), /timed out/);
  assert.equal(server.signIns(), 2, "a second sign-in, not a wait on the first forever");
});

Deno.test("a uri on another origin never gets the key: the download goes through a signed URL", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 1, sizeBytes: 5000 }]),
  });
  const elsewhere = recorder(() => new Response("wrong host"));
  try {
    const item = platform.items()[0];
    const remote = remoteOf(platform);
    const body = await remote.download({
      binaryDataId: item.binaryDataId,
      uri: `${elsewhere.url}/file`,
    });
    assert.deepEqual(await readAll(body.body), platform.contentOf(item.binaryDataId));
    assert.equal(elsewhere.seen.length, 0);
    assert.equal(platform.calls.CreateBinaryDataSignedURL, 1);
  } finally {
    await elsewhere.close();
  }
});

Deno.test("a redirect from the app origin is followed without the key headers", async () => {
  const storage = recorder(() => new Response("the bytes"));
  const app = recorder(() =>
    new Response(null, { status: 302, headers: { location: `${storage.url}/blob` } })
  );
  try {
    const remote = new ViamRemote({ appUrl: app.url, apiKeyId: "id-1", apiKey: "secret-key-1" });
    const body = await remote.download({
      binaryDataId: "o/l/f",
      uri: `${app.url}/file/f`,
    }, { offset: 3 });
    assert.equal(new TextDecoder().decode(await readAll(body.body)), "the bytes");
    assert.equal(app.seen[0].get("key"), "secret-key-1", "the app origin gets the key");
    assert.equal(storage.seen.length, 1);
    assert.equal(storage.seen[0].get("key"), null);
    assert.equal(storage.seen[0].get("key_id"), null);
    assert.equal(storage.seen[0].get("range"), "bytes=3-", "the range survives the redirect");
  } finally {
    await app.close();
    await storage.close();
  }
});

Deno.test("a download URL that is not http(s) is never fetched: no local file passes for an item", async () => {
  // fetch reads file: URLs, and a bare path resolves against the program's own file: URL: a
  // redirect or a signed URL naming one placed a file the program may read (the Viam home's
  // viam-server tokens, a --config file with the key) in the mirror as the item.
  const dir = await Deno.makeTempDir();
  const secret = join(dir, "app_token");
  await Deno.writeTextFile(secret, "a local secret");
  const app = recorder(() =>
    new Response(null, { status: 302, headers: { location: `file://${secret}` } })
  );
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 1 }]) });
  try {
    const redirected = new ViamRemote({ appUrl: app.url, apiKeyId: "i", apiKey: "k" });
    await assert.rejects(
      redirected.download({ binaryDataId: "o/l/f", uri: `${app.url}/f` }),
      (error: Error) =>
        error instanceof UncheckableBodyError &&
        error.message ===
          "download not written: the platform gave a download URL that is not http(s) " +
            '(scheme "file:"): not fetched',
    );
    const item = platform.items()[0];
    for (
      const [signedUrl, said] of [[`file://${secret}`, /scheme "file:"/], [
        secret,
        /no absolute URL/,
      ]] as const
    ) {
      platform.setFaults({ signedUrlAs: signedUrl });
      await assert.rejects(
        remoteOf(platform).download({ binaryDataId: item.binaryDataId, uri: "" }),
        (error: Error) => error instanceof UncheckableBodyError && said.test(error.message),
      );
    }
  } finally {
    await app.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("asking past the end of a whole partial answers an empty body, not an error", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 1, sizeBytes: 4096 }]),
  });
  const item = platform.items()[0];
  const remote = remoteOf(platform);
  const meta = {
    binaryDataId: item.binaryDataId,
    uri: platform.uriOf(item.binaryDataId),
  };
  const done = await remote.download(meta, { offset: 4096 });
  assert.equal(done.start, 4096);
  assert.equal(done.totalSize, 4096);
  assert.equal((await readAll(done.body)).length, 0);
  // a partial longer than the file: start over from byte 0
  const over = await remote.download(meta, { offset: 5000 });
  assert.equal(over.start, 0);
  assert.deepEqual(await readAll(over.body), platform.contentOf(item.binaryDataId));
});

Deno.test("a 206 that does not say where its bytes start is not taken for a resume: the download starts over", async () => {
  // Taken as starting at byte 0, its tail of the file became the whole file (its length checked
  // against Content-Length only, when the listing gave no size).
  const app = recorder((request) =>
    request.headers.has("range")
      ? new Response("defghij", { status: 206 })
      : new Response("abcdefghij", { status: 200 })
  );
  try {
    const remote = new ViamRemote({ appUrl: app.url, apiKeyId: "i", apiKey: "k" });
    const download = await remote.download({ binaryDataId: "o/l/f", uri: `${app.url}/f` }, {
      offset: 3,
    });
    assert.equal(download.start, 0);
    assert.equal(download.totalSize, 10);
    assert.equal(new TextDecoder().decode(await readAll(download.body)), "abcdefghij");
    assert.deepEqual(app.seen.map((headers) => headers.get("range")), ["bytes=3-", null]);
  } finally {
    await app.close();
  }
  // Asked for the whole file, a 206 that does not say which part it holds is refused.
  const partial = recorder(() => new Response("defghij", { status: 206 }));
  try {
    const remote = new ViamRemote({ appUrl: partial.url, apiKeyId: "i", apiKey: "k" });
    await assert.rejects(
      remote.download({ binaryDataId: "o/l/f", uri: `${partial.url}/f` }),
      /partial content without a Content-Range/,
    );
  } finally {
    await partial.close();
  }
});

Deno.test("a 206 whose range gives no total (`bytes 0-999/*`) declares no file size", async () => {
  // Its own length was taken for the file's: an item listed without a size was placed cut at it.
  const app = recorder(() =>
    new Response(new Uint8Array(1000), {
      status: 206,
      headers: { "content-range": "bytes 0-999/*" },
    })
  );
  try {
    const remote = new ViamRemote({ appUrl: app.url, apiKeyId: "i", apiKey: "k" });
    const body = await remote.download({ binaryDataId: "o/l/f", uri: `${app.url}/f` });
    await body.body.cancel();
    assert.equal(body.start, 0);
    assert.equal(body.totalSize, undefined);
  } finally {
    await app.close();
  }
});

Deno.test("a 206 starting elsewhere than asked is refused", async () => {
  const app = recorder(() =>
    new Response("xyz", { status: 206, headers: { "content-range": "bytes 7-9/10" } })
  );
  try {
    const remote = new ViamRemote({ appUrl: app.url, apiKeyId: "i", apiKey: "k" });
    await assert.rejects(
      remote.download({
        binaryDataId: "o/l/f",
        uri: `${app.url}/f`,
      }, { offset: 3 }),
      /asked for byte 3, got 7/,
    );
  } finally {
    await app.close();
  }
});

/** How {@linkcode pacedRelay} passes the server's bytes of each connection. */
interface Pace {
  /** The rate past `fastBytes`. */
  bytesPerSecond: number;
  /** The bytes passed at once before the pace begins (a sign-in's answer, headers). */
  fastBytes?: number;
  /** The size of each paced part (4 KiB). */
  partBytes?: number;
  /** Nothing more past this many bytes: a link that hangs. */
  stallAfter?: number;
}

/** A TCP relay to `port` that passes the client's bytes at once and the server's as `pace` says. */
function pacedRelay(port: number, pace: Pace) {
  const { bytesPerSecond, fastBytes = 0, partBytes = 4096, stallAfter = Infinity } = pace;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections: Deno.Conn[] = [];
  let sentInAll = 0;
  const serving = (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ hostname: "127.0.0.1", port });
      connections.push(client, server);
      client.readable.pipeTo(server.writable).catch(() => {});
      (async () => {
        const writer = client.writable.getWriter();
        let sent = 0;
        for await (const chunk of server.readable) {
          for (let at = 0; at < chunk.length;) {
            const part = chunk.subarray(
              at,
              at + Math.min(sent < fastBytes ? fastBytes - sent : partBytes, stallAfter - sent),
            );
            if (part.length === 0) return; // hung: nothing more
            await writer.write(part);
            sentInAll += part.length;
            if (sent >= fastBytes) {
              await new Promise((resolve) =>
                setTimeout(resolve, part.length / bytesPerSecond * 1e3)
              );
            }
            sent += part.length;
            at += part.length;
          }
        }
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    /** The server's bytes passed to clients so far. */
    get sent() {
      return sentInAll;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of connections) {
        try {
          conn.close();
        } catch { /* closed by its peer */ }
      }
      await serving;
    },
  };
}

Deno.test("an inline batch slower than the call timeout arrives while its bytes keep coming", async () => {
  // Two batches of 96 KiB at 128 KiB/s: each answer takes 0.75 s, the second waits for the first
  // to be read (one at a time), against a call timeout of 400 ms. Each try of every batch timed
  // out when the timeout covered the whole call (on a link below 35 KB/s, a 2 MiB batch's).
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 6, sizeBytes: 32 * 1024, tags: ["t"] }]),
  });
  await using relay = pacedRelay(Number(new URL(platform.url).port), {
    bytesPerSecond: 128 * 1024,
  });
  const remote = remoteOf(platform, { appUrl: relay.url, callTimeoutMs: 400 });
  const ids = platform.items().map((item) => item.binaryDataId);
  // A batch holds its turn until its files are let go, as the transfer does once they are written.
  const fetched = (slice: string[]) =>
    remote.fetchInline(slice, { expectedBytes: 96 * 1024 }).then((batch) => {
      using _ = batch;
      return batch.files.size;
    });
  assert.deepEqual(await Promise.all([fetched(ids.slice(0, 3)), fetched(ids.slice(3))]), [3, 3]);
});

Deno.test("an inline batch whose answer stops coming fails after the call timeout without a byte", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 3, sizeBytes: 32 * 1024, tags: ["t"] }]),
  });
  const ids = platform.items().map((item) => item.binaryDataId);
  // The sign-in's answer and 40 KiB of the batch's 96 KiB, then nothing.
  await using relay = pacedRelay(Number(new URL(platform.url).port), {
    bytesPerSecond: 1024 * 1024,
    stallAfter: 40 * 1024,
  });
  const stalled = remoteOf(platform, { appUrl: relay.url, callTimeoutMs: 400 });
  const started = performance.now();
  await assert.rejects(
    stalled.fetchInline(ids, { expectedBytes: 96 * 1024 }),
    /BinaryDataByIDs \(no byte of its answer\) timed out after 400 ms/,
  );
  assert.ok(performance.now() - started < 10_000, "the stall ended the call");
});

Deno.test("an inline batch whose answer trickles fails as too slow, though a byte comes often", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 3, sizeBytes: 32 * 1024, tags: ["t"] }]),
  });
  const ids = platform.items().map((item) => item.binaryDataId);
  // Past the sign-in's answer and the batch's headers, a byte every 100 ms: never 400 ms without
  // one, but 4 bytes a window where at least 16 a second are asked.
  await using relay = pacedRelay(Number(new URL(platform.url).port), {
    bytesPerSecond: 10,
    partBytes: 1,
    fastBytes: 4 * 1024,
  });
  const trickled = remoteOf(platform, { appUrl: relay.url, callTimeoutMs: 400 });
  await assert.rejects(
    trickled.fetchInline(ids, { expectedBytes: 96 * 1024 }),
    /BinaryDataByIDs: \d+ bytes in \d+ ms: too slow/,
  );
  // The answer given up lets its connection go: left open, the server went on sending, and each
  // try of every batch kept a socket (a module ran out of descriptors pass after pass).
  const sentWhenFailed = relay.sent;
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  assert.equal(relay.sent - sentWhenFailed, 0, "bytes sent after the batch was given up");
});

Deno.test("the listing's calls never take a connection that carried files' bytes: inline batches and downloads by uri go over connections of their own", async () => {
  // Two files inline, one above the inline limit (by its uri).
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 2, sizeBytes: 100 }, { count: 1, sizeBytes: 5000 }]),
    inlineLimitBytes: 1000,
  });
  const remote = remoteOf(platform);
  const all = { tags: [], labels: [] };
  const [small1, small2, large] = (await remote.listPage(all, "")).items;
  using batch = await remote.fetchInline([small1.binaryDataId, small2.binaryDataId]);
  assert.equal(batch.files.size, 2);
  const body = await remote.download(large);
  assert.equal((await readAll(body.body)).length, 5000);
  // The listing again, and a count, after the files' connections are idle.
  await remote.listPage(all, "");
  assert.equal(await remote.count(all), 3);
  const metadata = new Set([
    ...platform.callPorts("Authenticate"),
    ...platform.callPorts("BinaryDataByFilter"),
  ]);
  const files = new Set([
    ...platform.callPorts("BinaryDataByIDs"),
    ...platform.callPorts("download"),
  ]);
  assert.ok(metadata.size > 0 && files.size > 0, "every kind of call was seen");
  assert.deepEqual([...metadata].filter((port) => files.has(port)), []);
});

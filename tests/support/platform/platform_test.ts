import assert from "node:assert/strict";
import { createPromiseClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { createViamClient, dataApi, Timestamp } from "@viamrobotics/sdk";
import { assertConnectError, fileSizeBytesOf } from "./_test_helpers.ts";
import { connectSdk } from "./clients.ts";
import { itemBytes } from "./content.ts";
import { DEFAULT_ORGANIZATION_ID, describeDataset } from "./describe_dataset.ts";
import { startPlatform } from "./platform.ts";
import { AuthService } from "./wire.ts";

const UNAUTHENTICATED = 16;
const NOT_FOUND = 5;
const INVALID_ARGUMENT = 3;
const RESOURCE_EXHAUSTED = 8;
const UNIMPLEMENTED = 12;

/** Lists every page as the sync engine does (metadata only), returning the page sizes too. */
async function _listAll(
  client: Awaited<ReturnType<typeof connectSdk>>,
  filter?: InstanceType<typeof dataApi.Filter>,
  limit?: number,
): Promise<{ ids: string[]; pageSizes: number[]; cursors: string[] }> {
  const ids: string[] = [];
  const pageSizes: number[] = [];
  const cursors: string[] = [];
  let last = "";
  for (;;) {
    const page = await client.dataClient.binaryDataByFilter(filter, limit, undefined, last, false);
    pageSizes.push(page.data.length);
    if (page.data.length === 0) return { ids, pageSizes, cursors };
    ids.push(...page.data.map((d) => d.metadata!.binaryDataId));
    cursors.push(page.last);
    last = page.last;
  }
}

Deno.test("Authenticate: an API key gets a token; a wrong key or id answers UNAUTHENTICATED", async () => {
  await using platform = await startPlatform({
    apiKeys: [{ id: "key-one", key: "secret-one" }, { id: "key-two", key: "secret-two" }],
  });
  assert.deepEqual([platform.apiKeyId, platform.apiKey], ["key-one", "secret-one"]);
  const client = await connectSdk(platform, { apiKeyId: "key-two", apiKey: "secret-two" });
  assert.deepEqual((await client.dataClient.binaryDataByFilter()).data, []);
  const wrongKey = await assertConnectError(
    connectSdk(platform, { apiKey: "secret-two" }),
    UNAUTHENTICATED,
    /wrong API key/,
  );
  assert.doesNotMatch(wrongKey.message, /secret/, "the error does not echo a key");
  await assertConnectError(connectSdk(platform, { apiKeyId: "nobody" }), UNAUTHENTICATED);
  const auth = createPromiseClient(
    AuthService,
    createGrpcWebTransport({ baseUrl: platform.url, httpVersion: "1.1" }),
  );
  await assertConnectError(
    auth.authenticate({ entity: "key-one", credentials: { type: "robot-secret", payload: "x" } }),
    UNAUTHENTICATED,
    /credentials type "robot-secret" is not supported; use "api-key"/,
  );
  assert.equal(platform.calls.Authenticate, 4);
});

Deno.test("every data call needs an issued bearer token; revoked tokens stop working", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 1 }]) });
  const forged = await createViamClient({
    serviceHost: platform.url,
    credentials: { type: "access-token", payload: "forged-token" },
  });
  await assertConnectError(forged.dataClient.binaryDataByFilter(), UNAUTHENTICATED, /Bearer/);
  await assertConnectError(forged.dataClient.binaryDataByIds(["a/b/c"]), UNAUTHENTICATED);
  await assertConnectError(forged.dataClient.listDatasetsByIds(["x"]), UNAUTHENTICATED);
  const client = await connectSdk(platform);
  assert.equal((await client.dataClient.binaryDataByFilter()).data.length, 1);
  platform.revokeTokens();
  await assertConnectError(client.dataClient.binaryDataByFilter(), UNAUTHENTICATED);
  // The SDK never refreshes its token: a new client authenticates again.
  assert.equal((await (await connectSdk(platform)).dataClient.binaryDataByFilter()).data.length, 1);
});

Deno.test("BinaryDataByFilter: tags, bbox labels, dataset and MIME type, ORed inside, ANDed across", async () => {
  // Index i: tags a/b/both/none by i % 4, label car below 4 else dog, dataset ds on odd, png from 6.
  await using platform = await startPlatform({
    dataset: describeDataset([{
      name: "f",
      count: 8,
      tags: (i) => [["a"], ["b"], ["a", "b"], []][i % 4],
      bboxLabels: (i) => (i < 4 ? ["car"] : ["dog"]),
      classificationLabels: ["cat"],
      datasetIds: (i) => (i % 2 ? ["ds"] : []),
      mimeType: (i) => (i < 6 ? "image/jpeg" : "image/png"),
    }]),
  });
  const client = await connectSdk(platform);
  const select = async (filter: ConstructorParameters<typeof dataApi.Filter>[0]) =>
    (await _listAll(client, new dataApi.Filter(filter))).ids.map((id) => Number(id.slice(-6)));
  assert.deepEqual(await select({}), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(await select({ tagsFilter: { tags: ["a"] } }), [0, 2, 4, 6]);
  assert.deepEqual(await select({ tagsFilter: { tags: ["a", "b"] } }), [0, 1, 2, 4, 5, 6]);
  const { TAGGED, UNTAGGED, MATCH_BY_OR } = dataApi.TagsFilterType;
  assert.deepEqual(await select({ tagsFilter: { type: MATCH_BY_OR, tags: ["b"] } }), [1, 2, 5, 6]);
  assert.deepEqual(await select({ tagsFilter: { type: TAGGED } }), [0, 1, 2, 4, 5, 6]);
  assert.deepEqual(await select({ tagsFilter: { type: UNTAGGED } }), [3, 7]);
  assert.deepEqual(await select({ bboxLabels: ["dog", "cow"] }), [4, 5, 6, 7]);
  assert.deepEqual(await select({ bboxLabels: ["cat"] }), [], "classifications are not boxes");
  assert.deepEqual(await select({ datasetId: "ds" }), [1, 3, 5, 7]);
  assert.deepEqual(await select({ datasetId: "other" }), []);
  assert.deepEqual(await select({ mimeType: ["image/png"] }), [6, 7]);
  assert.deepEqual(
    await select({
      tagsFilter: { tags: ["b"] },
      bboxLabels: ["car", "dog"],
      datasetId: "ds",
      mimeType: ["image/jpeg"],
    }),
    [1, 5],
  );
  assert.deepEqual(await select({ organizationIds: [DEFAULT_ORGANIZATION_ID] }), [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
  ]);
  const t0 = platform.items()[0].timeRequestedMs;
  const interval = {
    start: Timestamp.fromDate(new Date(t0 + 2000)),
    end: Timestamp.fromDate(new Date(t0 + 4000)),
  };
  assert.deepEqual(await select({ interval }), [2, 3]);
  await assertConnectError(
    client.dataClient.binaryDataByFilter(new dataApi.Filter({ robotName: "r" })),
    UNIMPLEMENTED,
    /Filter\.robot_name is not supported/,
  );
});

Deno.test("pagination: limit capped at 100, default 50, an opaque cursor, an empty page at the end", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 250 }]) });
  const client = await connectSdk(platform);
  const listing = await _listAll(client, undefined, 1000);
  assert.deepEqual(listing.pageSizes, [100, 100, 50, 0]);
  assert.deepEqual(listing.ids, platform.items().map((i) => i.binaryDataId));
  const ids = new Set(platform.items().flatMap((i) => [i.binaryDataId, i.fileId, i.legacyId]));
  assert.ok(listing.cursors.every((c) => c !== "" && !ids.has(c)), "a cursor is not an item id");
  assert.equal(platform.calls.BinaryDataByFilter, 4);
  assert.deepEqual((await _listAll(client)).pageSizes, [50, 50, 50, 50, 50, 0]);
  const descending = await client.dataClient.binaryDataByFilter(
    undefined,
    3,
    dataApi.Order.DESCENDING,
    "",
    false,
  );
  assert.deepEqual(
    descending.data.map((d) => d.metadata!.binaryDataId),
    platform.items().slice(-3).map((i) => i.binaryDataId).reverse(),
  );
  await assertConnectError(
    client.dataClient.binaryDataByFilter(undefined, 10, undefined, "not-a-cursor", false),
    INVALID_ARGUMENT,
    /malformed cursor/,
  );
});

Deno.test("count_only answers the number of matches and no data", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 130, tags: (i) => (i % 2 ? ["odd"] : []) }]),
  });
  const client = await connectSdk(platform);
  const odd = new dataApi.Filter({ tagsFilter: { tags: ["odd"] } });
  const counted = await client.dataClient.binaryDataByFilter(
    odd,
    undefined,
    undefined,
    "",
    false,
    true,
  );
  assert.deepEqual([counted.count, counted.data.length, counted.last], [65n, 0, ""]);
  const all = await client.dataClient.binaryDataByFilter(undefined, 10, undefined, "", false, true);
  assert.equal(all.count, 130n);
});

Deno.test("include_binary: the bytes inline when asked, none when not", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 3 }]) });
  const client = await connectSdk(platform);
  const withBytes = await client.dataClient.binaryDataByFilter(undefined, 10);
  assert.deepEqual(
    withBytes.data.map((d) => d.binary),
    platform.items().map((i) => platform.contentOf(i.binaryDataId)),
  );
  const without = await client.dataClient.binaryDataByFilter(undefined, 10, undefined, "", false);
  assert.deepEqual(without.data.map((d) => d.binary.length), [0, 0, 0]);
});

Deno.test("metadata carries the real fields; file_size_bytes arrives as unknown field 11", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([
      { name: "n", count: 5, tags: ["t1", "t2"], bboxLabels: ["car"], datasetIds: ["ds"] },
      { name: "u", count: 1, naming: "unnamed", mimeType: "image/png" },
      { name: "abs", count: 1, naming: "absolute" },
      { name: "ne", count: 1, naming: "no-extension", mimeType: "application/octet-stream" },
    ]),
  });
  const client = await connectSdk(platform);
  const page = await client.dataClient.binaryDataByFilter(undefined, 100, undefined, "", false);
  const meta = page.data.map((d) => d.metadata!);
  for (const [k, item] of platform.items().entries()) {
    const m = meta[k];
    assert.equal(m.binaryDataId, item.binaryDataId);
    assert.equal(fileSizeBytesOf(m), BigInt(item.sizeBytes), "field 11 on the wire");
    assert.equal(m.uri, platform.uriOf(item.binaryDataId));
    assert.equal(m.timeRequested!.toDate().getTime(), item.timeRequestedMs);
    assert.equal(m.timeReceived!.toDate().getTime(), item.timeReceivedMs);
    assert.equal(m.captureMetadata!.organizationId, item.organizationId);
    assert.equal(m.captureMetadata!.mimeType, item.mimeType);
  }
  // The deprecated id is sometimes empty: the last segment of binary_data_id is the file id.
  assert.deepEqual(meta.slice(0, 5).map((m) => m.id), [
    "n-000000",
    "n-000001",
    "n-000002",
    "n-000003",
    "",
  ]);
  assert.equal(meta[4].binaryDataId.split("/").at(-1), "n-000004");
  assert.deepEqual([meta[0].fileName, meta[0].fileExt], ["n/n-000000.jpeg", ".jpeg"]);
  assert.deepEqual(meta[0].captureMetadata!.tags, ["t1", "t2"]);
  assert.deepEqual(meta[0].annotations!.bboxes.map((b) => b.label), ["car"]);
  assert.deepEqual(meta[0].datasetIds, ["ds"]);
  assert.deepEqual([meta[5].fileName, meta[5].fileExt], ["", ".png"]);
  assert.equal(meta[6].fileName, "/home/pi/captures/abs-000000.jpeg");
  assert.deepEqual([meta[7].fileName, meta[7].fileExt], ["ne-000000", ".bin"]);
});

Deno.test("inline content at sizes around the length boundaries, empty files too, in both calls", async () => {
  const sizes = [0, 1, 126, 127, 128, 16_383, 16_384, 70_001, 0, 3];
  await using platform = await startPlatform({
    dataset: describeDataset([
      { name: "j", count: sizes.length, sizeBytes: (i) => sizes[i], tags: ["t"] },
      { name: "p", count: 3, naming: "unnamed", mimeType: "image/png", sizeBytes: 129 },
    ]),
  });
  const client = await connectSdk(platform);
  const items = platform.items();
  const byIds = await client.dataClient.binaryDataByIds(items.map((i) => i.binaryDataId));
  const byFilter = await client.dataClient.binaryDataByFilter(undefined, 100);
  for (const got of [byIds, byFilter.data]) {
    assert.equal(got.length, items.length);
    for (const [k, item] of items.entries()) {
      assert.equal(got[k].metadata!.binaryDataId, item.binaryDataId);
      // proto3 leaves out a size of 0.
      assert.equal(fileSizeBytesOf(got[k].metadata!) ?? 0n, BigInt(item.sizeBytes));
      assert.equal(got[k].metadata!.fileName, item.fileName);
      assert.deepEqual(got[k].binary, platform.contentOf(item.binaryDataId), item.binaryDataId);
    }
  }
});

Deno.test("BinaryDataByIDs: by binary_data_ids or deprecated BinaryID, in order; unknown ids NOT_FOUND", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 3 }]) });
  const client = await connectSdk(platform);
  const [a, b, c] = platform.items();
  const got = await client.dataClient.binaryDataByIds([c.binaryDataId, a.binaryDataId]);
  assert.deepEqual(got.map((d) => d.metadata!.binaryDataId), [c.binaryDataId, a.binaryDataId]);
  assert.deepEqual(got[0].binary, platform.contentOf(c.binaryDataId));
  const metaOnly = await client.dataClient.binaryDataByIds([b.binaryDataId], false);
  assert.deepEqual([metaOnly[0].binary.length, fileSizeBytesOf(metaOnly[0].metadata!)], [
    0,
    BigInt(b.sizeBytes),
  ]);
  const legacy = await client.dataClient.binaryDataByIds([
    new dataApi.BinaryID({
      fileId: b.fileId,
      organizationId: b.organizationId,
      locationId: b.locationId,
    }),
  ]);
  assert.deepEqual(legacy[0].binary, platform.contentOf(b.binaryDataId));
  await assertConnectError(
    client.dataClient.binaryDataByIds([a.binaryDataId, "org/loc/missing"]),
    NOT_FOUND,
    /org\/loc\/missing/,
  );
});

Deno.test("inline bytes above the limit answer RESOURCE_EXHAUSTED with INCLUDE_BINARY_TOO_LARGE", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 2, sizeBytes: (i) => (i ? 5000 : 4000) }]),
    inlineLimitBytes: 4000,
  });
  const client = await connectSdk(platform);
  const [small, big] = platform.items();
  assert.equal(
    (await client.dataClient.binaryDataByIds([small.binaryDataId]))[0].binary.length,
    4000,
  );
  await assertConnectError(
    client.dataClient.binaryDataByIds([small.binaryDataId, big.binaryDataId]),
    RESOURCE_EXHAUSTED,
    /INCLUDE_BINARY_TOO_LARGE/,
  );
  await assertConnectError(
    client.dataClient.binaryDataByFilter(undefined, 10),
    RESOURCE_EXHAUSTED,
    /INCLUDE_BINARY_TOO_LARGE/,
  );
  // Metadata alone is fine at any size.
  assert.equal((await client.dataClient.binaryDataByIds([big.binaryDataId], false)).length, 1);
});

Deno.test("CreateBinaryDataSignedURL: a URL on this server, valid without headers until it expires", async () => {
  let now = Date.UTC(2026, 5, 1);
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 2 }]),
    now: () => now,
  });
  const client = await connectSdk(platform);
  const [item, other] = platform.items();
  const url = await client.dataClient.createBinaryDataSignedURL(item.binaryDataId, 10);
  assert.ok(url.startsWith(`${platform.uriOf(item.binaryDataId)}?token=`), url);
  const response = await fetch(url);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.bytes(), platform.contentOf(item.binaryDataId));
  // The token opens only its own item.
  const stolen = await fetch(platform.uriOf(other.binaryDataId) + new URL(url).search);
  assert.deepEqual([stolen.status, await stolen.text()], [
    401,
    "the signed URL token is not valid for this item\n",
  ]);
  now += 10 * 60_000;
  const expired = await fetch(url);
  assert.deepEqual([expired.status, await expired.text()], [401, "the signed URL has expired\n"]);
  // The default expiry is 15 minutes.
  const byDefault = await client.dataClient.createBinaryDataSignedURL(item.binaryDataId);
  now += 15 * 60_000 - 1;
  assert.equal((await fetch(byDefault)).status, 200);
  await assertConnectError(
    client.dataClient.createBinaryDataSignedURL(item.binaryDataId, 10081),
    INVALID_ARGUMENT,
    /expiration_minutes/,
  );
  await assertConnectError(client.dataClient.createBinaryDataSignedURL("a/b/c"), NOT_FOUND);
});

Deno.test("ListDatasetsByIDs and ListDatasetsByOrganizationID", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 2, datasetIds: ["ds-1"] }], {
      datasets: [{ id: "ds-2", name: "second" }],
      startTimeMs: Date.UTC(2025, 6, 1),
    }),
  });
  const client = await connectSdk(platform);
  const found = await client.dataClient.listDatasetsByIds(["ds-2", "missing", "ds-1"]);
  assert.deepEqual(found.map((d) => [d.id, d.name, d.organizationId]), [
    ["ds-2", "second", DEFAULT_ORGANIZATION_ID],
    ["ds-1", "ds-1", DEFAULT_ORGANIZATION_ID],
  ]);
  assert.equal(found[0].created?.getTime(), Date.UTC(2025, 6, 1));
  assert.deepEqual(await client.dataClient.listDatasetsByIds(["missing"]), []);
  const byOrg = await client.dataClient.listDatasetsByOrganizationID(DEFAULT_ORGANIZATION_ID);
  assert.deepEqual(byOrg.map((d) => d.id).sort(), ["ds-1", "ds-2"]);
  assert.deepEqual(await client.dataClient.listDatasetsByOrganizationID("other-org"), []);
});

Deno.test("calls are counted by method until resetCalls", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 120 }]) });
  const client = await connectSdk(platform);
  await _listAll(client, undefined, 100);
  await client.dataClient.binaryDataByIds([platform.items()[0].binaryDataId]);
  await client.dataClient.listDatasetsByIds(["x"]);
  assert.deepEqual(platform.calls, {
    Authenticate: 1,
    BinaryDataByFilter: 3,
    BinaryDataByIDs: 1,
    CreateBinaryDataSignedURL: 0,
    ListDatasetsByIDs: 1,
    ListDatasetsByOrganizationID: 0,
    FileUpload: 0,
    download: 0,
  });
  platform.resetCalls();
  assert.ok(Object.values(platform.calls).every((n) => n === 0));
  await client.dataClient.binaryDataByFilter(undefined, 1, undefined, "", false);
  assert.equal(platform.calls.BinaryDataByFilter, 1);
});

Deno.test("replaceDataset: the next pass lists the new data set", async () => {
  const groups = [{ name: "keep", count: 3 }, { name: "gone", count: 2 }];
  await using platform = await startPlatform({ dataset: describeDataset(groups) });
  const client = await connectSdk(platform);
  const first = await _listAll(client);
  assert.equal(first.ids.length, 5);
  platform.replaceDataset(describeDataset([groups[0], { name: "new", count: 4, revision: 1 }]));
  const second = await _listAll(client);
  assert.deepEqual(second.ids.map((id) => id.split("/").at(-1)!.split("-")[0]), [
    "keep",
    "keep",
    "keep",
    "new",
    "new",
    "new",
    "new",
  ]);
  assert.deepEqual(second.ids.slice(0, 3), first.ids.slice(0, 3), "kept groups keep their ids");
  await assertConnectError(client.dataClient.binaryDataByIds([first.ids[4]]), NOT_FOUND);
});

Deno.test("a description holds 100,000 items and a 1 GiB file without storing content", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([
      { name: "many", count: 100_000, tags: (i) => (i % 1000 ? [] : ["rare"]) },
      { name: "huge", count: 1, sizeBytes: 1024 ** 3, mimeType: "application/octet-stream" },
    ]),
  });
  const client = await connectSdk(platform);
  const all = await client.dataClient.binaryDataByFilter(undefined, 0, undefined, "", false, true);
  assert.equal(all.count, 100_001n);
  const rare = await _listAll(client, new dataApi.Filter({ tagsFilter: { tags: ["rare"] } }), 100);
  assert.deepEqual(rare.pageSizes, [100, 0]);
  const huge = platform.items().at(-1)!;
  const [meta] = await client.dataClient.binaryDataByIds([huge.binaryDataId], false);
  assert.equal(fileSizeBytesOf(meta.metadata!), 1024n ** 3n);
  const tail = await fetch(platform.uriOf(huge.binaryDataId), {
    headers: {
      key_id: platform.apiKeyId,
      key: platform.apiKey,
      range: `bytes=${1024 ** 3 - 100}-`,
    },
  });
  assert.equal(
    tail.headers.get("content-range"),
    `bytes ${1024 ** 3 - 100}-${1024 ** 3 - 1}/${1024 ** 3}`,
  );
  assert.deepEqual(await tail.bytes(), itemBytes(huge, { start: 1024 ** 3 - 100 }));
  assert.throws(() => platform.contentOf(huge.binaryDataId), /itemChunks/);
});

Deno.test("HTTP/1.1 connections stay open between calls (keep-alive), as a real server's do", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ name: "k", count: 3 }]),
  });
  const connection = await Deno.connect({ hostname: "127.0.0.1", port: platform.port });
  const reader = connection.readable.getReader();
  const writer = connection.writable.getWriter();
  const request = new TextEncoder().encode(
    `GET /no-such-route HTTP/1.1\r\nhost: 127.0.0.1:${platform.port}\r\n\r\n`,
  );
  try {
    for (let call = 1; call <= 3; call++) {
      await writer.write(request);
      let text = "";
      // A chunked 404 ends with the zero-length chunk.
      while (!text.endsWith("0\r\n\r\n")) {
        const { value, done } = await reader.read();
        assert.ok(!done, `the platform closed the connection after ${call - 1} response(s)`);
        text += new TextDecoder().decode(value);
      }
      assert.match(text, /^HTTP\/1\.1 \d{3} /, `response ${call}`);
      assert.match(text, /connection: keep-alive/i);
    }
  } finally {
    connection.close();
  }
});

import assert from "node:assert/strict";
import { ConnectError } from "@viamrobotics/sdk";
import { assertConnectError, settlesWithin } from "./_test_helpers.ts";
import { connectSdk } from "./clients.ts";
import { describeDataset } from "./describe_dataset.ts";
import { type Platform, startPlatform } from "./platform.ts";

const UNAVAILABLE = 14;
const INTERNAL = 13;

function _keyHeaders(platform: Platform): Record<string, string> {
  return { key_id: platform.apiKeyId, key: platform.apiKey };
}

/** Reads a body to its end or its error: the bytes received and the error, if any. */
async function _drain(response: Response): Promise<{ bytes: Uint8Array; error?: unknown }> {
  const chunks: Uint8Array[] = [];
  try {
    for await (const chunk of response.body!) chunks.push(chunk);
    return { bytes: _concat(chunks) };
  } catch (error) {
    return { bytes: _concat(chunks), error };
  }
}

function _concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

Deno.test("latency holds every call and download until it passes (or the platform closes)", async () => {
  const platform = await startPlatform({ dataset: describeDataset([{ count: 2 }]) });
  const client = await connectSdk(platform);
  const [item] = platform.items();
  platform.setFaults({ latencyMs: 5 });
  assert.equal(
    (await client.dataClient.binaryDataByIds([item.binaryDataId]))[0].binary.length,
    item.sizeBytes,
  );
  platform.setFaults({ latencyMs: 60_000 });
  assert.deepEqual(platform.faults, { latencyMs: 60_000 });
  const listing = client.dataClient.binaryDataByFilter(undefined, 10, undefined, "", false);
  const download = fetch(platform.uriOf(item.binaryDataId), { headers: _keyHeaders(platform) });
  assert.equal(await settlesWithin(Promise.all([listing, download]), 300), false);
  // Closing ends the held calls (their timers too, or the test's sanitizers would object).
  await platform.close();
  await assert.rejects(listing);
  await assert.rejects(download);
});

Deno.test("unavailableRate fails a seeded, repeatable share of calls with UNAVAILABLE", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 1 }]) });
  const client = await connectSdk(platform);
  const outcomes = async (): Promise<string> => {
    let text = "";
    for (let i = 0; i < 24; i++) {
      try {
        await client.dataClient.binaryDataByFilter(undefined, 1, undefined, "", false);
        text += ".";
      } catch (error) {
        assert.ok(error instanceof ConnectError && error.code === UNAVAILABLE, String(error));
        text += "x";
      }
    }
    return text;
  };
  platform.setFaults({ unavailableRate: 0.5, unavailableSeed: 42 });
  const first = await outcomes();
  assert.match(first, /x/);
  assert.match(first, /\./);
  platform.setFaults({ unavailableRate: 0.5, unavailableSeed: 42 });
  assert.equal(await outcomes(), first, "the same seed fails the same calls");
  assert.equal(platform.calls.BinaryDataByFilter, 48, "failed calls are counted too");
});

Deno.test("unavailableCalls aims the rate: downloads answer 503 while RPCs work", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 1 }]) });
  const client = await connectSdk(platform);
  platform.setFaults({ unavailableRate: 1, unavailableCalls: ["download"] });
  const [item] = platform.items();
  assert.equal((await client.dataClient.binaryDataByIds([item.binaryDataId], false)).length, 1);
  const response = await fetch(platform.uriOf(item.binaryDataId), {
    headers: _keyHeaders(platform),
  });
  assert.deepEqual([response.status, await response.text()], [
    503,
    "download unavailable (injected fault)\n",
  ]);
  platform.setFaults({ unavailableRate: 1, unavailableCalls: ["BinaryDataByIDs"] });
  await assertConnectError(client.dataClient.binaryDataByIds([item.binaryDataId]), UNAVAILABLE);
});

Deno.test("failListingAfterPage fails each listing after page N, with UNAVAILABLE or INTERNAL", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 250 }]) });
  const client = await connectSdk(platform);
  const page = (last: string) =>
    client.dataClient.binaryDataByFilter(undefined, 100, undefined, last, false);
  platform.setFaults({ failListingAfterPage: 2 });
  const one = await page("");
  const two = await page(one.last);
  assert.equal(two.data.length, 100);
  await assertConnectError(page(two.last), UNAVAILABLE, /listing page 3 failed/);
  // Every listing fails the same way (a retried pass too), and a new listing starts fine.
  assert.equal((await page("")).data.length, 100);
  await assertConnectError(page(two.last), UNAVAILABLE);
  platform.setFaults({ failListingAfterPage: 0, failListingCode: "internal" });
  await assertConnectError(page(""), INTERNAL, /listing page 1 failed/);
  const counted = await client.dataClient.binaryDataByFilter(
    undefined,
    100,
    undefined,
    "",
    false,
    true,
  );
  assert.equal(counted.count, 250n, "count_only is not a page");
  platform.setFaults({});
  assert.equal((await page(two.last)).data.length, 50);
});

Deno.test("maxPageItems makes pages shorter than asked, without ending the listing", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 10 }]) });
  const client = await connectSdk(platform);
  platform.setFaults({ maxPageItems: 3 });
  const sizes: number[] = [];
  let last = "";
  for (;;) {
    const page = await client.dataClient.binaryDataByFilter(undefined, 100, undefined, last, false);
    sizes.push(page.data.length);
    if (page.data.length === 0) break;
    last = page.last;
  }
  assert.deepEqual(sizes, [3, 3, 3, 1, 0]);
});

Deno.test("bodyBytesPerSecond paces download bodies; the bytes stay right", async () => {
  const platform = await startPlatform({
    dataset: describeDataset([{ count: 2, sizeBytes: (i) => (i ? 100_000 : 30_000) }]),
  });
  const [small, big] = platform.items();
  platform.setFaults({ bodyBytesPerSecond: 300_000 });
  const paced = await fetch(platform.uriOf(small.binaryDataId), { headers: _keyHeaders(platform) });
  assert.deepEqual(await paced.bytes(), platform.contentOf(small.binaryDataId));
  // 1,000 bytes/s for 100,000 bytes takes 100 s: far from done after a moment.
  platform.setFaults({ bodyBytesPerSecond: 1000 });
  const slow = await fetch(platform.uriOf(big.binaryDataId), { headers: _keyHeaders(platform) });
  assert.equal(slow.headers.get("content-length"), "100000");
  const body = _drain(slow);
  assert.equal(await settlesWithin(body, 300), false);
  await platform.close();
  const { bytes, error } = await body;
  assert.ok(error !== undefined && bytes.length < 100_000, `${bytes.length} bytes, ${error}`);
});

Deno.test("dropBodyAfterBytes destroys the connection mid-body; Range resumes", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{
      count: 1,
      sizeBytes: 300_000,
      mimeType: "application/octet-stream",
    }]),
  });
  const [item] = platform.items();
  platform.setFaults({ dropBodyAfterBytes: 100_000 });
  const parts: Uint8Array[] = [];
  for (const range of [undefined, "bytes=100000-", "bytes=200000-"]) {
    const headers = { ..._keyHeaders(platform), ...(range === undefined ? {} : { range }) };
    const response = await fetch(platform.uriOf(item.binaryDataId), { headers });
    const { bytes, error } = await _drain(response);
    parts.push(bytes);
    // The last 100,000 bytes are not more than the drop threshold: that one completes.
    assert.equal(error === undefined, range === "bytes=200000-", `${range}: ${error}`);
    assert.equal(bytes.length, 100_000, `${range}`);
  }
  assert.deepEqual(_concat(parts), platform.contentOf(item.binaryDataId));
  assert.deepEqual(platform.ranges.map((r) => r.range), ["bytes=100000-", "bytes=200000-"]);
  assert.equal(platform.calls.download, 3);
});

Deno.test("endListingAfterPage cuts each listing short with an empty page; counts stay whole", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 250 }]) });
  const client = await connectSdk(platform);
  const page = (last: string) =>
    client.dataClient.binaryDataByFilter(undefined, 100, undefined, last, false);
  platform.setFaults({ endListingAfterPage: 1 });
  const one = await page("");
  assert.equal(one.data.length, 100);
  assert.equal((await page(one.last)).data.length, 0);
  const counted = await client.dataClient.binaryDataByFilter(
    undefined,
    undefined,
    undefined,
    "",
    false,
    true,
  );
  assert.equal(counted.count, 250n);
});

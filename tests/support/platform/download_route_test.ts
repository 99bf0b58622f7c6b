import assert from "node:assert/strict";
import { fetchAccessToken } from "./clients.ts";
import { describeDataset } from "./describe_dataset.ts";
import { type Platform, startPlatform } from "./platform.ts";

async function _platform(): Promise<Platform> {
  return await startPlatform({
    dataset: describeDataset([{ count: 2, sizeBytes: 300_000, mimeType: "image/png" }]),
  });
}

Deno.test("uri download with a bearer token, with key_id/key headers", async () => {
  await using platform = await _platform();
  const [item] = platform.items();
  const token = await fetchAccessToken(platform);
  const ways: Record<string, string>[] = [
    { authorization: `Bearer ${token}` },
    { key_id: platform.apiKeyId, key: platform.apiKey },
  ];
  for (const headers of ways) {
    const response = await fetch(platform.uriOf(item.binaryDataId), { headers });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-length"), "300000");
    assert.equal(response.headers.get("content-type"), "image/png");
    assert.equal(response.headers.get("accept-ranges"), "bytes");
    assert.deepEqual(await response.bytes(), platform.contentOf(item.binaryDataId));
  }
  assert.equal(platform.calls.download, 2);
});

Deno.test("downloads without valid credentials answer 401", async () => {
  await using platform = await _platform();
  const uri = platform.uriOf(platform.items()[0].binaryDataId);
  const cases: [Record<string, string>, RegExp][] = [
    [{}, /needs "authorization: Bearer/],
    [{ authorization: "Bearer not-issued" }, /needs "authorization: Bearer/],
    [{ authorization: platform.apiKey }, /needs "authorization: Bearer/],
    [{ key_id: platform.apiKeyId, key: "wrong" }, /wrong API key in the key_id\/key headers/],
    [{ key_id: "someone", key: platform.apiKey }, /wrong API key/],
  ];
  for (const [headers, pattern] of cases) {
    const response = await fetch(uri, { headers });
    const text = await response.text();
    assert.equal(response.status, 401, JSON.stringify(headers));
    assert.match(text, pattern);
    assert.ok(!text.includes(platform.apiKey), "no key in the error");
  }
  const token = await fetchAccessToken(platform);
  platform.revokeTokens();
  const revoked = await fetch(uri, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(revoked.status, 401);
  await revoked.body?.cancel();
  const forged = await fetch(`${uri}?token=123.abc`);
  assert.deepEqual([forged.status, await forged.text()], [
    401,
    "the signed URL token is not valid for this item\n",
  ]);
});

Deno.test("Range bytes=N- and bytes=N-M answer 206 with Content-Range; ranges are recorded", async () => {
  await using platform = await _platform();
  const [item, other] = platform.items();
  const whole = platform.contentOf(item.binaryDataId);
  const headers = { key_id: platform.apiKeyId, key: platform.apiKey };
  const get = (id: string, range: string) =>
    fetch(platform.uriOf(id), { headers: { ...headers, range } });
  const open = await get(item.binaryDataId, "bytes=250000-");
  assert.equal(open.status, 206);
  assert.equal(open.headers.get("content-range"), "bytes 250000-299999/300000");
  assert.equal(open.headers.get("content-length"), "50000");
  assert.deepEqual(await open.bytes(), whole.subarray(250_000));
  const closed = await get(item.binaryDataId, "bytes=10-19");
  assert.deepEqual(
    [closed.status, closed.headers.get("content-range"), closed.headers.get("content-length")],
    [206, "bytes 10-19/300000", "10"],
  );
  assert.deepEqual(await closed.bytes(), whole.subarray(10, 20));
  const clipped = await get(item.binaryDataId, "bytes=299990-400000");
  assert.equal(clipped.headers.get("content-range"), "bytes 299990-299999/300000");
  assert.deepEqual(await clipped.bytes(), whole.subarray(299_990));
  const past = await get(item.binaryDataId, "bytes=300000-");
  assert.deepEqual([past.status, past.headers.get("content-range")], [416, "bytes */300000"]);
  await past.body?.cancel();
  // Forms it does not serve are ignored: the whole body, 200.
  const suffix = await get(other.binaryDataId, "bytes=-5");
  assert.deepEqual([suffix.status, (await suffix.bytes()).length], [200, 300_000]);
  assert.deepEqual(platform.ranges, [
    { binaryDataId: item.binaryDataId, range: "bytes=250000-" },
    { binaryDataId: item.binaryDataId, range: "bytes=10-19" },
    { binaryDataId: item.binaryDataId, range: "bytes=299990-400000" },
    { binaryDataId: item.binaryDataId, range: "bytes=300000-" },
    { binaryDataId: other.binaryDataId, range: "bytes=-5" },
  ]);
  platform.resetCalls();
  assert.deepEqual(platform.ranges, []);
});

Deno.test("unknown items answer 404 (after auth), other methods 405", async () => {
  await using platform = await _platform();
  const headers = { key_id: platform.apiKeyId, key: platform.apiKey };
  const missing = await fetch(`${platform.url}/download/org/loc/missing`, { headers });
  assert.deepEqual([missing.status, await missing.text()], [
    404,
    "no binary data at /download/org/loc/missing\n",
  ]);
  const unauthenticated = await fetch(`${platform.url}/download/org/loc/missing`);
  assert.equal(unauthenticated.status, 401);
  await unauthenticated.body?.cancel();
  const post = await fetch(platform.uriOf(platform.items()[0].binaryDataId), {
    method: "POST",
    headers,
  });
  assert.equal(post.status, 405);
  await post.body?.cancel();
});

Deno.test("uri paths encode the id's segments", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ name: "odd name#1", count: 1 }], { locationId: "loc?x" }),
  });
  const [item] = platform.items();
  const uri = platform.uriOf(item.binaryDataId);
  assert.ok(
    uri.endsWith("/download/2b1f6c1e-7d4a-4c2e-9d0b-5a6f3e8c1d20/loc%3Fx/odd%20name%231-000000"),
    uri,
  );
  const response = await fetch(uri, {
    headers: { key_id: platform.apiKeyId, key: platform.apiKey },
  });
  assert.deepEqual(await response.bytes(), platform.contentOf(item.binaryDataId));
});

import assert from "node:assert/strict";
import { describeDataset, itemBytes } from "../../../tests/support/platform/mod.ts";
import { startDirIndexServer } from "../../../scripts/bench/dir_index_server.ts";

const dataset = describeDataset([
  { name: "a", count: 3, folder: "cams/front", sizeBytes: 5000 },
  { name: "b", count: 2, folder: "raw", sizeBytes: 70_000, mimeType: "application/octet-stream" },
]);

Deno.test("index pages link every folder and file, like nginx's autoindex", async () => {
  await using server = await startDirIndexServer({ dataset });
  const root = await (await fetch(`${server.url}/`)).text();
  assert.match(root, /<title>Index of \/<\/title>/);
  assert.match(root, /<a href="cams\/">cams\/<\/a>/);
  assert.match(root, /<a href="raw\/">raw\/<\/a>/);
  const front = await (await fetch(`${server.url}/cams/front/`)).text();
  for (const name of ["a-000000.jpeg", "a-000001.jpeg", "a-000002.jpeg"]) {
    assert.match(
      front,
      new RegExp(`<a href="${name}">${name}</a> +\\d\\d-Jan-2025 \\d\\d:\\d\\d +5000`),
    );
  }
  assert.equal((await fetch(`${server.url}/nowhere/`)).status, 404);
  const redirect = await fetch(`${server.url}/raw`, { redirect: "manual" });
  await redirect.body?.cancel();
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.get("location"), "/raw/");
  assert.deepEqual(server.calls, { index: 2, head: 0, get: 0, other: 2, bytes: 0 });
});

Deno.test("files: HEAD and GET with length and date, the platform's bytes, ranges", async () => {
  await using server = await startDirIndexServer({ dataset });
  const item = dataset.items.find((i) => i.fileName === "raw/b-000001.bin")!;
  const head = await fetch(`${server.url}/raw/b-000001.bin`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), "70000");
  assert.equal(head.headers.get("last-modified"), new Date(item.timeReceivedMs).toUTCString());
  const get = await fetch(`${server.url}/raw/b-000001.bin`);
  assert.deepEqual(new Uint8Array(await get.arrayBuffer()), itemBytes(item));
  const range = await fetch(`${server.url}/raw/b-000001.bin`, {
    headers: { range: "bytes=1000-69999" },
  });
  assert.equal(range.status, 206);
  assert.equal(range.headers.get("content-range"), "bytes 1000-69999/70000");
  assert.deepEqual(new Uint8Array(await range.arrayBuffer()), itemBytes(item, { start: 1000 }));
  const missing = await fetch(`${server.url}/raw/nope.bin`);
  await missing.body?.cancel();
  assert.equal(missing.status, 404);
  assert.deepEqual(server.calls, { index: 0, head: 1, get: 2, other: 1, bytes: 139_000 });
  server.resetCalls();
  assert.deepEqual(server.calls, { index: 0, head: 0, get: 0, other: 0, bytes: 0 });
});

Deno.test("replaceDataset serves the new items from then on", async () => {
  await using server = await startDirIndexServer({ dataset, latencyMs: 1 });
  server.replaceDataset(describeDataset([{ name: "c", count: 1, folder: "new", sizeBytes: 10 }]));
  const root = await (await fetch(`${server.url}/`)).text();
  assert.match(root, /href="new\/"/);
  assert.doesNotMatch(root, /href="raw\/"/);
  const gone = await fetch(`${server.url}/raw/b-000001.bin`);
  await gone.body?.cancel();
  assert.equal(gone.status, 404);
});

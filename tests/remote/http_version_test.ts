/**
 * The calls and downloads of a sync go over HTTP/1.1, also to an `https://` app that offers
 * HTTP/2 (app.viam.com does, and fetch takes it by ALPN): on one HTTP/2 connection the inline
 * answers waiting for their turn to be read fill its flow-control window, and the answer being
 * read, with every listing page and count behind it, stalls until its deadline.
 */
import assert from "node:assert/strict";
import { describeDataset, startPlatform } from "../support/platform/mod.ts";
import { startTlsFront } from "../support/connect_proxy.ts";
import { runProgram } from "../_program.ts";

Deno.test("sync from an https:// app offering HTTP/2 and HTTP/1.1 takes HTTP/1.1 for every connection, and mirrors every file", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 60, sizeBytes: 200_000 }]),
  });
  await using front = await startTlsFront({
    host: "localhost",
    targetPort: Number(new URL(platform.url).port),
    alpn: ["h2", "http/1.1"],
  });
  const home = await Deno.makeTempDir({ prefix: "dm-http-version-" });
  try {
    const output = await runProgram(
      ["sync", "--app-url", `https://localhost:${front.port}`, "--concurrency", "8", "--json"],
      {
        viamHome: home,
        env: {
          VIAM_API_KEY_ID: platform.apiKeyId,
          VIAM_API_KEY: platform.apiKey,
          DENO_CERT: front.caFile,
        },
      },
    );
    assert.equal(output.code, 0, output.stderr + output.stdout);
    assert.equal(JSON.parse(output.stdout).downloaded, 60);
    assert.ok(front.protocols.length > 0, "no connection reached the front");
    assert.deepEqual([...new Set(front.protocols)], ["http/1.1"]);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

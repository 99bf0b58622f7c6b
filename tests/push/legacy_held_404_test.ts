/**
 * A journal written before 2026-12-04 holds, for good, a file a gateway's HTTP 404 failed
 * (`[unimplemented]`). After the upgrade that file must go once the platform answers again.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pushDestination } from "../../src/push/push_destination.ts";
import { runPushPass } from "../../src/push/run_push_pass.ts";
import { FileUploader } from "../../src/remote/file_upload.ts";
import { startPlatform } from "../support/platform/mod.ts";
import { RecordingLogger } from "../sync/_harness.ts";
import { plantFile, pushConfig } from "./_harness.ts";

for (
  const [error, goes, refused] of [
    ["[unimplemented] HTTP 404", true, true],
    ["[invalid_argument] file_name refused", false, true],
    // Versions of 2026-12-01/02 (no `refused` field) held a file for good after an hour of
    // transient failures, or on a local error: no refusal, retried once the platform answers.
    ["gave up after retrying for an hour: [unavailable] FileUpload unavailable", true, undefined],
    ["Permission denied (os error 13): open '/home/pi/.viam/outbox/a.txt'", true, undefined],
    ["[invalid_argument] file_name refused", false, undefined],
  ] as const
) {
  Deno.test(`an old journal's held failure "${error}" (refused: ${refused}) ${goes ? "is retried" : "still holds"}`, async () => {
    await using platform = await startPlatform();
    const home = await Deno.makeTempDir({ prefix: "data-mirror-legacy-" });
    const root = join(home, "outbox");
    const push = pushConfig(root);
    try {
      await plantFile(join(root, "a.txt"), "a");
      const info = await Deno.stat(join(root, "a.txt"));
      const to = pushDestination({
        appUrl: platform.url,
        partId: "p",
        tags: ["fleet"],
        datasetIds: [],
      });
      await Deno.mkdir(join(root, ".data-mirror"));
      await Deno.writeTextFile(
        join(root, ".data-mirror", "push-journal.json"),
        JSON.stringify({
          version: 1,
          files: {
            "a.txt": {
              failure: {
                ino: info.ino,
                size: info.size,
                mtimeMs: info.mtime!.getTime(),
                to,
                count: 1,
                firstMs: Date.now() - 60_000,
                retryAtMs: Date.now() - 1,
                error,
                permanent: true,
                ...(refused === undefined ? {} : { refused }),
              },
            },
          },
        }),
      );
      await using uploader = new FileUploader({
        env: () => undefined, // http:// on loopback: never through a proxy
        appUrl: platform.url,
        apiKeyId: platform.apiKeyId,
        apiKey: platform.apiKey,
      });
      const result = await runPushPass(push, { uploader, partId: "p", appUrl: platform.url }, {
        logger: new RecordingLogger(),
        minRetryDelayMs: 1,
      });
      assert.equal(result.uploaded, goes ? 1 : 0, JSON.stringify(result.failures));
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  });
}

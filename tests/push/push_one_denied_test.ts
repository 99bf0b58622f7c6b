/**
 * The platform denies one file (PERMISSION_DENIED) and takes the others: the key is not refused,
 * so the pass must not stop there and leave the rest of the folder for later.
 */
import assert from "node:assert/strict";
import { withPush } from "./_harness.ts";

Deno.test("one file denied: the other files of the pass still go", async () => {
  await withPush(async ({ platform, write, pass }) => {
    for (let i = 0; i < 60; i++) await write(`f${String(i).padStart(2, "0")}.txt`, `f${i}`);
    platform.setFaults({ refuseUploadFileNames: ["f00.txt"], refuseCode: "permission_denied" });
    const result = await pass();
    assert.equal(result.failed, 1, JSON.stringify(result.failures));
    assert.equal(result.uploaded, 59, result.error ?? "");
    assert.equal(platform.items().length, 59);
  });
});

Deno.test("files denied in a row after others went are not told as a refused key", async () => {
  await withPush(async ({ platform, write, pass }) => {
    for (const name of ["a.txt", "d0.txt", "d1.txt", "d2.txt", "z.txt"]) await write(name, name);
    platform.setFaults({
      refuseUploadFileNames: ["d0.txt", "d1.txt", "d2.txt"],
      refuseCode: "permission_denied",
    });
    const result = await pass({}, { concurrency: 1 }); // in name order: a.txt goes first
    assert.equal(result.uploaded, 1);
    assert.match(result.error ?? "", /^3 files in a row were denied, though 1 went/);
  });
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { BENCH_TAG, type BenchSet, datasetOf } from "../../../scripts/bench/bench_set.ts";
import { BENCH_PART_ID, writePushFolder } from "../../../scripts/bench/push_bench.ts";
import { pushDirOf, runPushPass } from "../../../scripts/bench/push_pass.ts";
import { runSequentialUpload } from "../../../scripts/bench/sequential_upload.ts";
import { startServerProcess } from "../../../scripts/bench/server_process.ts";

const set: BenchSet = {
  name: "push-test",
  smallCount: 12,
  smallBytes: 3000,
  folders: 3,
  largeCount: 1,
  largeBytes: 200 * 1024,
};
const want = { set, partId: BENCH_PART_ID, tag: BENCH_TAG };

Deno.test("the sequential uploader and data-mirror's push are checked against the platform", async () => {
  const dir = await Deno.makeTempDir({ prefix: "push-bench-test-" });
  try {
    await using platform = await startServerProcess({ kind: "platform", set, latencyMs: 0 });
    await platform.clear();
    const folder = join(dir, "sequential");
    await writePushFolder(folder, datasetOf(set, "base"));
    const upload = () =>
      runSequentialUpload({
        server: platform,
        folder,
        partId: BENCH_PART_ID,
        tag: BENCH_TAG,
        timeoutMs: 60_000,
      });
    const first = await upload();
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(first.summary, { files: 13, bytes: 12 * 3000 + 200 * 1024 });
    const good = await platform.checkUploads(want);
    assert.deepEqual({ ok: good.ok, files: good.files, sampled: good.sampled }, {
      ok: true,
      files: 13,
      sampled: 13,
    });
    assert.equal((await platform.calls()).FileUpload, 13);
    // The same files again: each is stored twice, and the check says so.
    assert.equal((await upload()).code, 0);
    const twice = await platform.checkUploads(want);
    assert.equal(twice.ok, false);
    assert.match(twice.problems.join("\n"), /stored twice/);
    // One byte changed on disk: the check compares bytes, not only sizes.
    await platform.clear();
    const victim = join(folder, datasetOf(set, "base").items[5].fileName);
    const bytes = await Deno.readFile(victim);
    bytes[100] ^= 0xff;
    await Deno.writeFile(victim, bytes);
    assert.equal((await upload()).code, 0);
    const wrong = await platform.checkUploads(want);
    assert.equal(wrong.ok, false);
    assert.match(wrong.problems.join("\n"), /wrong bytes/);
    // data-mirror's push of a fresh folder: every file stored once, and deleted locally.
    await platform.clear();
    const home = join(dir, "home");
    await writePushFolder(pushDirOf(home), datasetOf(set, "base"));
    const push = await runPushPass({
      home,
      server: platform,
      partId: BENCH_PART_ID,
      timeoutMs: 60_000,
    });
    assert.equal(push.code, 0, push.stderr);
    assert.equal(push.summary?.uploaded, 13);
    assert.equal(push.summary?.deleted, 13);
    assert.equal((await platform.checkUploads(want)).ok, true);
    assert.ok(push.peakRssMiB > 0 && push.cpuSeconds > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

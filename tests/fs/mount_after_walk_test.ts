/**
 * A file system mounted in the mirror after the pass's walk (a USB stick mounted over a folder the
 * walk read): the walk's stale paths now name the stick's own files, and a removal must not reach
 * them. Needs root (a tmpfs is mounted), as CI runs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MirrorDir } from "../../src/fs/mirror_dir.ts";
import { withTmpfsAt } from "./_helpers.ts";

Deno.test({
  name: "remove refuses a walked path whose folder is on a file system mounted since the walk",
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "data-mirror-mount-after-walk-" });
    const old = join(home, "mirror", "old");
    await Deno.mkdir(old, { recursive: true });
    await Deno.writeTextFile(join(old, "p1.jpg"), "stale, on the mirror's disk");
    await using mirror = await MirrorDir.open({ viamHome: home, mirrorPath: "mirror" });
    const walked = await mirror.walk();
    assert.ok(walked.has("old/p1.jpg"));
    try {
      await withTmpfsAt(old, async () => {
        await Deno.writeTextFile(join(old, "p1.jpg"), "the stick's own");
        await assert.rejects(() => mirror.remove("old/p1.jpg"), /another file system/);
        assert.equal(await Deno.readTextFile(join(old, "p1.jpg")), "the stick's own");
      });
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  },
});

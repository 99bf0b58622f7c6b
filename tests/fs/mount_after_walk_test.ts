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

Deno.test({
  name:
    "a disk mounted at the mirror root that drops out during the pass: nothing more is written on the folder below",
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "data-mirror-root-unmounted-" });
    const root = join(home, "mirror");
    await Deno.mkdir(root);
    const mounted = new Deno.Command("mount", { args: ["-t", "tmpfs", "tmpfs", root] })
      .outputSync();
    assert.ok(mounted.success, new TextDecoder().decode(mounted.stderr));
    let unmounted = false;
    try {
      await using mirror = await MirrorDir.open({ viamHome: home, mirrorPath: "mirror" });
      assert.deepEqual(await mirror.writeFiles([{ path: "a/1.jpg", bytes: new Uint8Array([1]) }]), [
        undefined,
      ]);
      // The disk drops out (lazily unmounted: the pass's open files stay on it).
      assert.ok(new Deno.Command("umount", { args: ["-l", root] }).outputSync().success);
      unmounted = true;
      const outcomes = await mirror.writeFiles([{ path: "b/2.jpg", bytes: new Uint8Array([2]) }]);
      assert.match(String(outcomes[0]), /another file system than when the pass began/);
      await assert.rejects(() => mirror.ensureDir("c"), /another file system/);
      assert.match(mirror.rootSwapped() ?? "", /was its disk unmounted/);
      assert.deepEqual([...Deno.readDirSync(root)], [], "nothing made on the folder below");
    } finally {
      if (!unmounted) new Deno.Command("umount", { args: ["-l", root] }).outputSync();
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name: "a delete in the root's own folder is refused once the disk mounted there dropped out",
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "data-mirror-root-unmounted-" });
    const root = join(home, "mirror");
    await Deno.mkdir(root);
    // The folder below the mount point holds a file of that name too (the SD card's own).
    await Deno.writeTextFile(join(root, "old.jpg"), "the card's");
    const mounted = new Deno.Command("mount", { args: ["-t", "tmpfs", "tmpfs", root] })
      .outputSync();
    assert.ok(mounted.success, new TextDecoder().decode(mounted.stderr));
    let unmounted = false;
    try {
      await Deno.writeTextFile(join(root, "old.jpg"), "the disk's");
      await using mirror = await MirrorDir.open({ viamHome: home, mirrorPath: "mirror" });
      assert.ok(new Deno.Command("umount", { args: ["-l", root] }).outputSync().success);
      unmounted = true;
      await assert.rejects(() => mirror.remove("old.jpg"), /was its disk unmounted/);
      assert.equal(await Deno.readTextFile(join(root, "old.jpg")), "the card's");
    } finally {
      if (!unmounted) new Deno.Command("umount", { args: ["-l", root] }).outputSync();
      await Deno.remove(home, { recursive: true });
    }
  },
});

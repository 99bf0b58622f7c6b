/**
 * `isSameFileUnder` on a case-insensitive FUSE file system (exfat-fuse, as older Raspberry Pi OS
 * mounts an exFAT stick), where each spelling of one file gets its own inode number (see
 * `tests/support/exfat_fuse.ts` for what it needs).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { linkNoReplaceSync } from "../../src/fs/_util.ts";
import { isSameFileUnder, MirrorDir } from "../../src/fs/mirror_dir.ts";
import { EXFAT_FUSE_USABLE, withExfatFuseInTempDir } from "../support/exfat_fuse.ts";

Deno.test({
  name:
    "isSameFileUnder: one file reached by another case of its folder on exfat-fuse is that file",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    withExfatFuseInTempDir((root) => {
      Deno.mkdirSync(join(root, "Cams"));
      Deno.writeTextFileSync(join(root, "Cams", "b.jpg"), "x");
      // The walk finds "Cams/b.jpg"; the listing names "cams/b.jpg": one file on this disk.
      assert.equal(isSameFileUnder(root, "Cams/b.jpg", "cams/b.jpg"), true);
      assert.equal(isSameFileUnder(root, "Cams/b.jpg", "Cams/B.jpg"), true);
      // Gone under every spelling: not the same file (an item renamed by case, not yet here).
      Deno.removeSync(join(root, "Cams", "b.jpg"));
      Deno.writeTextFileSync(join(root, "Cams", "c.jpg"), "x");
      assert.equal(isSameFileUnder(root, "Cams/c.jpg", "Cams/d.jpg"), false);
    }),
});

Deno.test({
  // `syncfs` on a FUSE mount does not reach the daemon: it succeeds and flushes nothing.
  name: "a mirror on exfat-fuse syncs each file itself: no group sync, which would flush nothing",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    withExfatFuseInTempDir(async (root, dir) => {
      const program = join(dir, "sync");
      const log = join(dir, "sync.log");
      await Deno.writeTextFile(program, `#!/bin/sh\necho ran >> '${log}'\n`, { mode: 0o755 });
      await using mirror = await MirrorDir.open({
        viamHome: root,
        mirrorPath: "mirror",
        syncPrograms: [program],
      });
      const bytes = new TextEncoder().encode("alpha");
      assert.deepEqual(await mirror.writeFiles([{ path: "a.jpg", bytes }]), [undefined]);
      assert.equal(await Deno.readTextFile(join(root, "mirror", "a.jpg")), "alpha");
      await assert.rejects(Deno.lstat(log), Deno.errors.NotFound, "the group sync ran");
    }),
});

Deno.test("isSameFileUnder: two spellings that are two files on a case-sensitive disk are two", () => {
  const root = Deno.makeTempDirSync({ prefix: "data_mirror_case_" });
  try {
    Deno.mkdirSync(join(root, "Cams"));
    Deno.mkdirSync(join(root, "cams"));
    Deno.writeTextFileSync(join(root, "Cams", "b.jpg"), "x");
    Deno.writeTextFileSync(join(root, "cams", "b.jpg"), "y");
    assert.equal(isSameFileUnder(root, "Cams/b.jpg", "cams/b.jpg"), false);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test({
  name: "a name exFAT refuses (: ? |) is named as refused, not as a missing file",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    withExfatFuseInTempDir(async (root) => {
      await using mirror = await MirrorDir.open({ viamHome: root, mirrorPath: "mirror" });
      const bytes = new TextEncoder().encode("x");
      const outcomes = await mirror.writeFiles([
        { path: "cam:front/a.jpg", bytes },
        { path: "b|c.jpg", bytes },
        { path: "fine/d.jpg", bytes },
      ]);
      assert.match(String(outcomes[0]), /cannot write cam:front: the file system refused the name/);
      assert.match(String(outcomes[1]), /cannot write b\|c\.jpg: the file system refused the name/);
      assert.equal(outcomes[2], undefined);
      assert.equal(await Deno.readTextFile(join(root, "mirror", "fine", "d.jpg")), "x");
    }),
});

Deno.test({
  name: "linkNoReplaceSync on exfat-fuse (no hard links): a rename that replaces nothing there",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    withExfatFuseInTempDir((root) => {
      const staged = join(root, "staged");
      const placed = join(root, "placed.jpg");
      Deno.writeTextFileSync(staged, "the mirror's");
      Deno.writeTextFileSync(placed, "someone's");
      assert.throws(() => linkNoReplaceSync(staged, placed), Deno.errors.AlreadyExists);
      assert.equal(Deno.readTextFileSync(placed), "someone's");
      Deno.removeSync(placed);
      assert.equal(linkNoReplaceSync(staged, placed), "renamed");
      assert.equal(Deno.readTextFileSync(placed), "the mirror's");
      assert.throws(() => Deno.lstatSync(staged), Deno.errors.NotFound);
    }),
});

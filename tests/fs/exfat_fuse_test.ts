/**
 * `isSameFileUnder` on a case-insensitive FUSE file system (exfat-fuse, as older Raspberry Pi OS
 * mounts an exFAT stick), where each spelling of one file gets its own inode number (see
 * `tests/support/exfat_fuse.ts` for what it needs).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { linkNoReplaceSync } from "../../src/fs/_util.ts";
import { isSameFileUnder, MirrorDir } from "../../src/fs/mirror_dir.ts";
import { EXFAT_FUSE_USABLE, withExfatFuseAt } from "../support/exfat_fuse.ts";

/** Runs `test` with an exFAT image mounted through FUSE at `<dir>/m` (`dir` a fresh temp dir). */
async function _withExfat(
  test: (root: string, dir: string) => Promise<void> | void,
): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "data_mirror_exfat_" });
  const root = join(dir, "m");
  Deno.mkdirSync(root);
  try {
    await withExfatFuseAt(root, () => test(root, dir));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "isSameFileUnder: one file reached by another case of its folder on exfat-fuse is that file",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    _withExfat((root) => {
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
    _withExfat(async (root, dir) => {
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
    _withExfat(async (root) => {
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
  name:
    "linkNoReplaceSync on exfat-fuse (no hard links): a copy that replaces nothing, or a rename",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    _withExfat((root) => {
      const aside = join(root, "aside.bin");
      const full = join(root, "latest.bin");
      Deno.writeTextFileSync(aside, "moved aside");
      const when = new Date("2026-01-02T03:04:06Z");
      Deno.utimeSync(aside, when, when);
      // A writer saved a new version at the name meanwhile: it stays, whatever the way asked.
      Deno.writeTextFileSync(full, "the writer's newest");
      for (const way of ["copy", "rename"] as const) {
        assert.throws(() => linkNoReplaceSync(aside, full, way), Deno.errors.AlreadyExists);
        assert.equal(Deno.readTextFileSync(full), "the writer's newest");
      }
      Deno.removeSync(full);
      assert.equal(linkNoReplaceSync(aside, full, "copy"), "copied");
      assert.equal(Deno.readTextFileSync(full), "moved aside");
      assert.equal(Deno.statSync(full).mtime?.getTime(), when.getTime());
      assert.equal(
        Deno.readTextFileSync(aside),
        "moved aside",
        "the copy's source is the caller's",
      );
      Deno.removeSync(full);
      assert.equal(linkNoReplaceSync(aside, full, "rename"), "renamed");
      assert.throws(() => Deno.lstatSync(aside), Deno.errors.NotFound);
    }),
});

Deno.test({
  name:
    "linkNoReplaceSync's copy cut short by a full stick leaves nothing at the name, the file aside whole",
  ignore: !EXFAT_FUSE_USABLE,
  fn: () =>
    _withExfat((root) => {
      const aside = join(root, "aside.bin");
      const full = join(root, "latest.bin");
      const bytes = new Uint8Array(6 * 1024 * 1024).map((_, i) => i % 251);
      Deno.writeFileSync(aside, bytes);
      // The rest of the 16 MiB stick filled, bar less than the copy needs.
      const filler = Deno.openSync(join(root, "filler"), { write: true, create: true });
      try {
        for (;;) filler.writeSync(new Uint8Array(256 * 1024));
      } catch {
        // full
      } finally {
        filler.close();
      }
      Deno.truncateSync(
        join(root, "filler"),
        Deno.statSync(join(root, "filler")).size - 1024 * 1024,
      );
      assert.throws(() => linkNoReplaceSync(aside, full, "copy"));
      assert.throws(() => Deno.lstatSync(full), Deno.errors.NotFound);
      assert.deepEqual(Deno.readFileSync(aside), bytes);
    }),
});

/**
 * `isSameFileUnder` on a case-insensitive FUSE file system (exfat-fuse, as older Raspberry Pi OS
 * mounts an exFAT stick), where each spelling of one file gets its own inode number. Needs root,
 * `/dev/fuse`, losetup, mkfs.exfat and mount.exfat-fuse (`.ci/run` installs the last two); a
 * machine without FUSE cannot run it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { isSameFileUnder, MirrorDir } from "../../src/fs/mirror_dir.ts";

function _has(program: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${program}`] }).outputSync().success;
  } catch {
    return false;
  }
}

const _usable = Deno.uid() === 0 && _exists("/dev/fuse") &&
  ["losetup", "mkfs.exfat", "mount.exfat-fuse"].every(_has);

function _exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function _run(program: string, args: string[]): string {
  const out = new Deno.Command(program, { args }).outputSync();
  if (!out.success) {
    throw new Error(`${program} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout).trim();
}

/** Runs `test` with an exFAT image mounted through FUSE at `<dir>/m` (`dir` a fresh temp dir). */
async function _withExfat(
  test: (root: string, dir: string) => Promise<void> | void,
): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "data_mirror_exfat_" });
  const image = join(dir, "img");
  const root = join(dir, "m");
  Deno.mkdirSync(root);
  Deno.writeFileSync(image, new Uint8Array(0));
  Deno.truncateSync(image, 16 * 1024 * 1024);
  _run("mkfs.exfat", [image]);
  const loop = _run("losetup", ["-f", "--show", image]);
  try {
    _run("mount.exfat-fuse", [loop, root]);
    try {
      await test(root, dir);
    } finally {
      _run("umount", [root]);
    }
  } finally {
    _run("losetup", ["-d", loop]);
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "isSameFileUnder: one file reached by another case of its folder on exfat-fuse is that file",
  ignore: !_usable,
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
  ignore: !_usable,
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

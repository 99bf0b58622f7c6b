// Shared helpers of the tests of src/fs/.
import assert from "node:assert/strict";
import { MirrorDir } from "../../src/fs/mirror_dir.ts";

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "data_mirror_fs_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Asserts that `fn` rejects with an instance of `type` whose message includes `includes` (when
 * given), and returns the error for further checks.
 */
export async function rejection<E extends Error>(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  type: new (...args: any[]) => E,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    assert.ok(error instanceof type, `expected ${type.name}, got ${error}`);
    if (includes !== undefined) {
      assert.ok(error.message.includes(includes), `"${error.message}" lacks "${includes}"`);
    }
    return error;
  }
  assert.fail(`expected a rejection with ${type.name}`);
}

/** The entries of a directory, sorted. */
export async function names(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir), (entry) => entry.name)).sort();
}

/** The mode bits a file or directory created with `mode` gets under the current umask. */
export function created(mode: number): number {
  return mode & ~Deno.umask();
}

/** Opens the mirror `<viamHome>/mirror` for a test (see `MirrorDir.open`). */
export function openMirror(viamHome: string, owner?: string): Promise<MirrorDir> {
  return MirrorDir.open({ viamHome, mirrorPath: "mirror", owner });
}

/**
 * Runs `fn` with a small tmpfs mounted at the folder `dir` (a USB stick in the mirror, say), then
 * unmounts it, lazily if something still holds it. Needs root, as CI runs.
 */
export async function withTmpfsAt(dir: string, fn: () => Promise<void>): Promise<void> {
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir],
  }).output();
  if (!mount.success) throw new Error(`mount: ${new TextDecoder().decode(mount.stderr)}`);
  try {
    await fn();
  } finally {
    await new Deno.Command("umount", { args: ["-l", dir] }).output();
  }
}

/**
 * Runs `fn` with `dir` the mount point of a small ext4 file system holding a folder `broken`
 * whose directory block is zeroed (a damaged SD card): reading it fails with EBADMSG ("Bad
 * message"), as a real corruption does. Needs root (a loop mount); unmounted after `fn`.
 */
export async function withCorruptFolderAt(dir: string, fn: () => Promise<void>): Promise<void> {
  await withTempDir(async (scratch) => {
    const image = `${scratch}/ext4.img`;
    const run = async (command: string, ...args: string[]) => {
      const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
        .output();
      assert.ok(out.success, `${command}: ${new TextDecoder().decode(out.stderr)}`);
    };
    await Deno.writeFile(image, new Uint8Array());
    await Deno.truncate(image, 8 * 1024 * 1024);
    await run("mkfs.ext4", "-q", "-F", image);
    await run("mount", "-o", "loop", image, dir);
    try {
      await Deno.mkdir(`${dir}/broken`);
      await Deno.writeTextFile(`${dir}/broken/file.jpg`, "x");
    } finally {
      await run("umount", dir);
    }
    await run("debugfs", "-w", "-R", "zap_block -f /broken 0", image);
    await run("mount", "-o", "loop", image, dir);
    try {
      await fn();
    } finally {
      await new Deno.Command("umount", { args: ["-l", dir] }).output();
    }
  });
}

/**
 * An exFAT file system mounted through FUSE (exfat-fuse, as older Raspberry Pi OS mounts an exFAT
 * stick): case-insensitive, no hard links, inode numbers of its own making, and the modification
 * time reported as the change time. Needs root, `/dev/fuse`, losetup, mkfs.exfat and
 * mount.exfat-fuse (`.ci/run` installs the last two); a machine without FUSE cannot run the tests.
 *
 * @module
 */
import { join } from "node:path";
import { fuseUsableWith, runTool } from "./fuse_tools.ts";

/** Whether this machine can mount one (the tests that need it are ignored where it cannot). */
export const EXFAT_FUSE_USABLE: boolean = fuseUsableWith([
  "losetup",
  "mkfs.exfat",
  "mount.exfat-fuse",
]);

/**
 * Runs `fn` with a fresh exFAT image (16 MiB unless `sizeMiB` says) mounted through FUSE at `at`
 * (an empty folder).
 */
export async function withExfatFuseAt(
  at: string,
  fn: () => Promise<void> | void,
  { sizeMiB = 16 }: { sizeMiB?: number } = {},
): Promise<void> {
  const image = await Deno.makeTempFile({ prefix: "data_mirror_exfat_" });
  try {
    await Deno.truncate(image, sizeMiB * 1024 * 1024);
    runTool("mkfs.exfat", [image]);
    const loop = runTool("losetup", ["-f", "--show", image]);
    try {
      runTool("mount.exfat-fuse", [loop, at]);
      try {
        await fn();
      } finally {
        runTool("umount", [at]);
      }
    } finally {
      runTool("losetup", ["-d", loop]);
    }
  } finally {
    await Deno.remove(image);
  }
}

/**
 * Runs `fn` with a fresh exFAT image mounted through FUSE at `<dir>/<name>` (default `m`), `dir` a
 * temp dir made for it and removed afterwards.
 */
export async function withExfatFuseInTempDir(
  fn: (mount: string, dir: string) => Promise<void> | void,
  { name = "m", prefix = "data_mirror_exfat_" }: { name?: string; prefix?: string } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  const mount = join(dir, name);
  await Deno.mkdir(mount);
  try {
    await withExfatFuseAt(mount, () => fn(mount, dir));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Registers the test `name`: `fn` on a fresh exFAT mount (see {@linkcode withExfatFuseInTempDir},
 * `options` its folder name and temp prefix), ignored where FUSE is not usable.
 */
export function testOnExfatFuse(
  name: string,
  options: { name?: string; prefix?: string },
  fn: (mount: string, dir: string) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: !EXFAT_FUSE_USABLE,
    fn: () => withExfatFuseInTempDir(fn, options),
  });
}

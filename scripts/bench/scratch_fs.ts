/**
 * The file system a benchmark set's copies are written to.
 *
 * Why not simply the temp folder: this VM's disk is ext4 without a journal, and there ext4 will not
 * reuse an inode freed less than 60 s ago (360 s while its inode table block is unwritten). Every
 * file created scans past each such inode of its group, one buffer-cache lookup apiece. After a
 * test run or an earlier benchmark deleted its trees, that scan was 30% of a fresh copy's CPU
 * (`perf`: `find_inode_bit` → `recently_deleted` → `find_get_block_common`), and a fresh copy
 * took 4-5.4 s (3.1-4.7 s of CPU) instead of 2.3-2.8 (2.1-2.8 s of CPU), for reasons that are the
 * disk's history, not the tool's. A Raspberry Pi's root file system is ext4 with a journal, where
 * the scan does not exist. So when the benchmark runs as root with `mkfs.ext4` and `mount` at
 * hand, each set gets its own journaled ext4: a sparse image in the work folder, loop-mounted,
 * removed after the set. Otherwise (no root, no loop device, or a folder given with `--dir`), the
 * copies go to a plain folder, and the results say which it was and why.
 *
 * @example
 * ```ts
 * await using fs = await openScratchFs({ work, name: "main", image: true, sizeBytes, inodes, say });
 * // ... copies under fs.path ...
 * ```
 *
 * @module
 */

import { basename, join } from "node:path";

/** Options of {@linkcode openScratchFs}. */
export interface ScratchFsOptions {
  /**
   * The benchmark's work folder: the image and its mount point go there, or the set's folder when
   * there is no image. It is removed when the benchmark ends, so a plain folder is not deleted
   * before the next set (the next set's fresh copies would pay for its freed inodes).
   */
  work: string;
  /** The set's name (names the image, the mount point or the folder). */
  name: string;
  /** False to use a plain folder in `work` even where an image could be made (`--dir`). */
  image: boolean;
  /** What the image must hold (it is sparse: only what is written takes disk space). */
  sizeBytes: number;
  /** Inodes the image must have. */
  inodes: number;
  /** Progress lines. */
  say: (line: string) => void;
}

/** Where a set's copies go; dispose of it to unmount and remove the image. */
export interface ScratchFs extends AsyncDisposable {
  /** The folder for the copies. */
  readonly path: string;
  /** What it is, for the results (e.g. "journaled ext4 image, loop-mounted"). */
  readonly description: string;
}

/** Opens the set's file system: a journaled ext4 image when possible, else a plain folder. */
export async function openScratchFs(options: ScratchFsOptions): Promise<ScratchFs> {
  let why = options.image ? await _whyNoImage() : "the folder given with --dir";
  const image = join(options.work, `${options.name}.ext4`);
  const mountPoint = join(options.work, `${options.name}-fs`);
  if (why === undefined) {
    try {
      await _mountImage(image, mountPoint, options);
    } catch (error) {
      // A container without loop devices, for one: the copies go to the plain folder instead.
      why = `no ext4 image could be mounted (${(error as Error).message})`;
      await Deno.remove(image).catch(() => {});
      await Deno.remove(mountPoint).catch(() => {});
    }
  }
  if (why !== undefined) {
    const path = join(options.work, options.name);
    await Deno.mkdir(path);
    const description = `${options.work} (${await describeFileSystem(path)}): ${why}`;
    options.say(`[${options.name}] copies in ${description}`);
    return { path, description, async [Symbol.asyncDispose]() {} };
  }
  // Interrupted (Ctrl-C, a kill, a dropped session), the bench must not leave a loop mount behind.
  const interrupted = (code: number) => () => {
    _unmountSync(mountPoint, image);
    Deno.exit(code);
  };
  const listeners = [
    ["SIGINT", interrupted(130)],
    ["SIGTERM", interrupted(143)],
    ["SIGHUP", interrupted(129)],
  ] as const;
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
  const description = `a journaled ext4 image per set, loop-mounted (${
    (options.sizeBytes / 2 ** 30).toFixed(0)
  } GiB sparse, ${await describeFileSystem(mountPoint)})`;
  options.say(`[${options.name}] copies on ${description}`);
  return {
    path: mountPoint,
    description,
    async [Symbol.asyncDispose]() {
      for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
      // Never throws: a copy still held open (a tool killed on a timeout, a shell in the folder)
      // is unmounted lazily, so that the image's space is freed once the last holder lets go.
      try {
        await _must("umount", [mountPoint]);
      } catch (error) {
        options.say(`[${options.name}] ${(error as Error).message}; unmounting lazily`);
        _unmountSync(mountPoint, image);
        return;
      }
      await Deno.remove(image).catch(() => {});
      await Deno.remove(mountPoint).catch(() => {});
    },
  };
}

/**
 * The file system holding `path`: its type and device, and for ext4 whether it has a journal
 * (the kernel lists a journaled ext4's journal under /proc/fs/jbd2/<device>-8).
 */
export async function describeFileSystem(path: string): Promise<string> {
  const out = await new Deno.Command("findmnt", {
    // --nofsroot: a bind mount's source without its "[/folder]" suffix.
    args: ["-n", "--nofsroot", "-o", "SOURCE,FSTYPE", "--target", path],
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => undefined);
  const [source, type] = out?.success
    ? new TextDecoder().decode(out.stdout).trim().split(/\s+/)
    : [];
  if (source === undefined || type === undefined) return "file system unknown";
  if (type !== "ext4") return `${type} on ${source}`;
  // The kernel's name of the device: /dev/mapper/x is a link to /dev/dm-N, listed as dm-N.
  const device = basename(await Deno.realPath(source).catch(() => source));
  const journaled = await Deno.stat(`/proc/fs/jbd2/${device}-8`).then(
    () => true,
    () => false,
  );
  return `ext4 on ${source}, ${journaled ? "with" : "without"} a journal`;
}

/** Makes the sparse image and mounts it (nothing mounted when this throws). */
async function _mountImage(
  image: string,
  mountPoint: string,
  options: Pick<ScratchFsOptions, "sizeBytes" | "inodes">,
): Promise<void> {
  await Deno.mkdir(mountPoint);
  {
    using file = await Deno.open(image, { write: true, createNew: true });
    await file.truncate(Math.ceil(options.sizeBytes / 4096) * 4096);
  }
  await _must("mkfs.ext4", [
    "-q",
    "-F",
    "-N",
    String(Math.ceil(options.inodes)),
    // Inode tables and journal written now, not by a kernel thread during the runs.
    "-E",
    "lazy_itable_init=0,lazy_journal_init=0",
    image,
  ]);
  await _must("mount", ["-o", "loop", image, mountPoint]);
}

/** Why an image cannot be made here, or undefined when it can. */
async function _whyNoImage(): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "not root, so no loop-mounted ext4 image";
  for (const tool of ["mkfs.ext4", "mount", "umount", "findmnt"]) {
    const found = await new Deno.Command("sh", {
      args: ["-c", `command -v ${tool}`],
      stdout: "null",
      stderr: "null",
    }).output();
    if (!found.success) return `${tool} is missing (Debian: e2fsprogs, mount)`;
  }
  return undefined;
}

/** Unmounts (lazily: a child killed with the benchmark may still hold it) and removes the image. */
function _unmountSync(mountPoint: string, image: string): void {
  new Deno.Command("umount", { args: ["-l", mountPoint], stdout: "null", stderr: "null" })
    .outputSync();
  for (const path of [image, mountPoint]) {
    try {
      Deno.removeSync(path);
    } catch {
      // already gone, or still busy: nothing more to do on the way out
    }
  }
}

async function _must(command: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    const detail = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`${command} ${args.join(" ")} failed (exit ${out.code}): ${detail}`);
  }
}

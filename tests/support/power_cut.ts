/**
 * A disk whose power can be cut, for tests of what a file system holds afterwards: ext4 with its
 * journal (as a Raspberry Pi's root) on a loop device whose image lives on btrfs. {@linkcode
 * PowerCuttableDisk.cut} takes an atomic copy of the image (`cp --reflink`), which holds what the
 * loop device was given (what a disk would keep) and nothing of the page cache above it (what a
 * power cut loses), and mounts the copy (its journal replayed). Needs root, loop devices and btrfs.
 *
 * @module
 */

/** A mounted ext4 file system and its power switch. */
export interface PowerCuttableDisk {
  /** Where the running file system is mounted. */
  readonly mountPoint: string;
  /**
   * Commits the file system's running journal transaction without writing back its files' data
   * (an `fsync` of a file of its own: what any program's `fsync` on the disk does).
   */
  commitJournal(): Promise<void>;
  /** Cuts the power now: resolves to where the disk as it would come back is mounted. */
  cut(): Promise<string>;
}

/** Runs `fn` with a fresh disk of `sizeMiB`; unmounts and removes everything after. */
export async function withPowerCuttableDisk(
  fn: (disk: PowerCuttableDisk) => Promise<void>,
  options: { sizeMiB?: number } = {},
): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "data-mirror-power-cut-" });
  const host = `${work}/btrfs`;
  const mountPoint = `${work}/disk`;
  const mounts: string[] = [];
  const loops: string[] = [];
  let cuts = 0;
  try {
    await Deno.mkdir(host);
    await Deno.mkdir(mountPoint);
    await _run("truncate", "-s", "1G", `${work}/btrfs.img`);
    await _run("mkfs.btrfs", "-q", `${work}/btrfs.img`);
    await _run("mount", "-o", "loop", `${work}/btrfs.img`, host);
    mounts.push(host);
    await _run("truncate", "-s", `${options.sizeMiB ?? 256}M`, `${host}/ext4.img`);
    await _run("mkfs.ext4", "-q", "-F", `${host}/ext4.img`);
    loops.push(await _run("losetup", "-f", "--show", `${host}/ext4.img`));
    await _run("mount", loops[0], mountPoint);
    mounts.push(mountPoint);
    const canary = `${mountPoint}/.journal-commit`;
    await fn({
      mountPoint,
      async commitJournal() {
        using file = await Deno.open(canary, { write: true, create: true });
        await file.write(new Uint8Array([cuts]));
        await file.sync();
      },
      async cut() {
        const n = ++cuts;
        await _run("cp", "--reflink=always", `${host}/ext4.img`, `${host}/cut-${n}.img`);
        const loop = await _run("losetup", "-f", "--show", `${host}/cut-${n}.img`);
        loops.push(loop);
        const after = `${work}/after-cut-${n}`;
        await Deno.mkdir(after);
        await _run("mount", loop, after);
        mounts.push(after);
        return after;
      },
    });
  } finally {
    // The disks first, then the loop devices on their images, then the file system holding those.
    for (const mount of mounts.reverse()) {
      if (mount === host) {
        for (const loop of loops) {
          await new Deno.Command("losetup", { args: ["-d", loop] }).output();
        }
      }
      await new Deno.Command("umount", { args: [mount] }).output();
    }
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

async function _run(command: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${command} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout).trim();
}

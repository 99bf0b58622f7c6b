/**
 * The free and total bytes of the file system under a path (`statfs`), which the transfer's space
 * budget books against.
 *
 * @module
 */
import { statfs } from "node:fs/promises";
import { dirname, resolve } from "node:path";

/** Space on the file system holding a path. */
export interface FreeSpace {
  /** Bytes an unprivileged process may still write. */
  availableBytes: number;
  /** Size of the file system. */
  totalBytes: number;
  /**
   * What the file system allocates at a time (statfs `f_bsize`): a file of 200 bytes takes a whole
   * 4 KiB block on ext4 and a whole page on a tmpfs. Absent: 1.
   */
  blockBytes?: number;
}

/**
 * Reports the space on the file system that holds (or will hold) `path`. The path need not exist:
 * the nearest existing ancestor is measured, because a fresh machine has no mirror root yet (the
 * original module called statfs on the missing root, failed with ENOENT and never downloaded
 * anything). Needs read permission on the measured path and `--allow-sys=statfs`.
 *
 * @example
 * ```ts
 * const space = await freeSpace("/home/pi/.viam/data_mirror");
 * ```
 */
export async function freeSpace(path: string): Promise<FreeSpace> {
  let current = resolve(path);
  for (;;) {
    try {
      const stats = await statfs(current);
      return {
        availableBytes: stats.bavail * stats.bsize,
        totalBytes: stats.blocks * stats.bsize,
        blockBytes: stats.bsize,
      };
    } catch (error) {
      const code = (error as { code?: string }).code;
      const parent = dirname(current);
      // ENOTDIR: an ancestor is a file; the file system is still the one holding that file.
      if ((code !== "ENOENT" && code !== "ENOTDIR") || parent === current) throw error;
      current = parent;
    }
  }
}

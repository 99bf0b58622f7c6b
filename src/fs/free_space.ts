/**
 * The free and total bytes of the file system under a path (`statfs`), which the transfer's space
 * budget books against.
 *
 * @module
 */
import { statfsSync } from "node:fs";
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
 * The `statfs` is synchronous: it reads the file system's counters, as the program's other short
 * file calls do. `node:fs/promises`' one cost 36-45 µs of CPU a call against 6 µs (its promise
 * plumbing), and the transfer asks before every batch it books.
 *
 * @example
 * ```ts
 * const space = await freeSpace("/home/pi/.viam/data_mirror");
 * ```
 */
export function freeSpace(path: string): Promise<FreeSpace> {
  try {
    return Promise.resolve(freeSpaceSync(path));
  } catch (error) {
    return Promise.reject(error);
  }
}

/** {@linkcode freeSpace} for a caller that cannot wait: the same one `statfs`, synchronously. */
export function freeSpaceSync(path: string): FreeSpace {
  let current = resolve(path);
  for (;;) {
    try {
      const stats = statfsSync(current);
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

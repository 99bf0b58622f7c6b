import { statfs } from "node:fs/promises";
import { dirname, resolve } from "node:path";

/** Space on the file system holding a path. */
export interface FreeSpace {
  /** Bytes an unprivileged process may still write. */
  availableBytes: number;
  /** Size of the file system. */
  totalBytes: number;
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
      return { availableBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize };
    } catch (error) {
      const code = (error as { code?: string }).code;
      const parent = dirname(current);
      // ENOTDIR: an ancestor is a file; the file system is still the one holding that file.
      if ((code !== "ENOENT" && code !== "ENOTDIR") || parent === current) throw error;
      current = parent;
    }
  }
}

/**
 * True when writing `bytesToWrite` more bytes still leaves `reservePercent` percent of the file
 * system free (the original's guard: `available - size >= reserve`).
 *
 * @example
 * ```ts
 * fitsReserve({ availableBytes: 600, totalBytes: 1000 }, 50, 5); // true: 550 left, 50 reserved
 * ```
 */
export function fitsReserve(
  space: FreeSpace,
  bytesToWrite: number,
  reservePercent: number,
): boolean {
  if (!Number.isFinite(reservePercent) || reservePercent < 0 || reservePercent > 100) {
    throw new RangeError(`reserve must be a percentage between 0 and 100, got ${reservePercent}`);
  }
  if (!Number.isFinite(bytesToWrite) || bytesToWrite < 0) {
    throw new RangeError(`bytes to write must be a non-negative number, got ${bytesToWrite}`);
  }
  return space.availableBytes - bytesToWrite >= space.totalBytes * reservePercent / 100;
}

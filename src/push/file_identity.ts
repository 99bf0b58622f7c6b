/**
 * What tells one version of a local file from another: device, inode, size and modification time.
 * The push pass takes it when it walks, again on the opened file, after the last byte was read and
 * before it deletes: a file that differs at any of these points was replaced or changed.
 *
 * @example
 * ```ts
 * const walked = identityOf(await Deno.lstat(path));
 * if (!sameIdentity(walked, identityOf(await Deno.lstat(path)))) console.log("changed");
 * ```
 *
 * @module
 */

/** A version of a file. */
export interface FileIdentity {
  /** Device id. */
  dev: number;
  /** Inode number. */
  ino: number;
  /** Size in bytes. */
  size: number;
  /** Modification time, epoch milliseconds (whole). */
  mtimeMs: number;
}

/** The stat fields both `Deno.lstat` and `node:fs` `FileHandle.stat` provide. */
export interface StatLike {
  dev: number | null;
  ino: number | null;
  size: number;
  mtime: Date | null;
}

/** The identity of a stat result. */
export function identityOf(info: StatLike): FileIdentity {
  return {
    dev: info.dev ?? 0,
    ino: info.ino ?? 0,
    size: info.size,
    mtimeMs: Math.trunc(info.mtime?.getTime() ?? 0),
  };
}

/** Whether two identities name the same version of the same file. */
export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && sameVersion(a, b);
}

/**
 * Whether a remembered version (from the journal, across restarts) is the file's current one:
 * inode, size and modification time; the device id is left out, since it may change when a
 * removable disk is mounted again.
 */
export function sameVersion(
  a: Omit<FileIdentity, "dev">,
  b: Omit<FileIdentity, "dev">,
): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

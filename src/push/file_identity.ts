/**
 * What tells one version of a local file from another: device, inode, size, modification time and
 * status change time. The push pass takes it when it walks, again on the opened file, after the last
 * byte was read and before it deletes: a file that differs at any of these points was replaced or
 * changed. The change time is what catches a rewrite of the same size whose modification time was
 * put back (`touch -r`, `cp -p`, a tool restoring it): the kernel sets it on every write and no
 * program can set it back. Deno reports it in whole seconds, so such a rewrite within the second of
 * the file's last change goes unseen.
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
  /** Status change time, epoch milliseconds (whole seconds as Deno reports it). */
  ctimeMs: number;
}

/** The stat fields both `Deno.lstat` and `node:fs` `FileHandle.stat` provide. */
export interface StatLike {
  dev: number | null;
  ino: number | null;
  size: number;
  mtime: Date | null;
  ctime: Date | null;
  /** `node:fs` Stats only: the times as numbers (see {@linkcode identityOf}). */
  mtimeMs?: number;
  ctimeMs?: number;
}

/** The identity of a stat result. */
export function identityOf(info: StatLike): FileIdentity {
  return {
    dev: info.dev ?? 0,
    ino: info.ino ?? 0,
    size: info.size,
    // From node's Stats, its numbers: Deno 2.9's `node:fs` makes its Date of a time before 1970 a
    // millisecond late (-999 for -1000, which `mtimeMs` and `Deno.lstat` give), and such a file
    // never matched its walk ("changed while sent", every pass).
    mtimeMs: _wholeMs(info.mtimeMs ?? info.mtime?.getTime() ?? 0),
    ctimeMs: _wholeMs(info.ctimeMs ?? info.ctime?.getTime() ?? 0),
  };
}

/**
 * A time in whole ms. One past what a Date holds (tmpfs and btrfs keep 64-bit seconds: `touch -d
 * @9000000000000`) comes as NaN, which equals nothing, itself included: such a file never matched
 * its walk and never settled. It is one past the limit instead, ahead of any clock.
 */
function _wholeMs(ms: number): number {
  return Number.isFinite(ms) ? Math.trunc(ms) : _PAST_DATES_MS;
}

/** One past the largest time a Date holds (±8.64e15 ms). */
const _PAST_DATES_MS = 8.64e15 + 1;

/** Whether two identities name the same version of the same file. */
export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ctimeMs === b.ctimeMs && sameVersion(a, b);
}

/**
 * Whether a remembered version (from the journal, across restarts) is the file's current one:
 * inode, size and modification time; the device id is left out, since it may change when a
 * removable disk is mounted again, and so is the change time, which a copy of the folder, a
 * `chmod` or a new hard link changes while the content stays.
 */
export function sameVersion(
  a: Pick<FileIdentity, "ino" | "size" | "mtimeMs">,
  b: Pick<FileIdentity, "ino" | "size" | "mtimeMs">,
): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/**
 * Whether the version the platform holds (remembered in the journal) is still the file's, so that
 * the file may be deleted, or with `keep` left unsent: {@linkcode sameVersion}, and the change time
 * too when it was kept. Neither takes a chance on a rewrite of the same size whose modification
 * time was put back; a `chmod` or a new hard link since then only sends the file again (a second
 * copy, where the other way a new version would never reach the platform).
 */
export function sameSentVersion(
  sent: Pick<FileIdentity, "ino" | "size" | "mtimeMs"> & { ctimeMs?: number },
  current: FileIdentity,
): boolean {
  return sameVersion(sent, current) &&
    (sent.ctimeMs === undefined || sent.ctimeMs === current.ctimeMs);
}

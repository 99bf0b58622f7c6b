/**
 * Small file-system helpers of the engine (`fs/`, and the sync and push stages that write state
 * files; re-exported by no public module): the file mode, path assertions, a directory's sync, whole
 * writes, an lstat that tolerates absence, whether a path is on FUSE (or keeps its inode numbers),
 * a link that never replaces, and the checks that a folder was swapped while a pass held it.
 *
 * @module
 */
import { lstatSync, statfsSync } from "node:fs";
import { basename, dirname, isAbsolute, join } from "node:path";

/** Mode of the files the mirror creates. */
export const FILE_MODE = 0o644;

/** Throws unless `root` is an absolute path: a relative root would depend on the working directory. */
export function assertAbsoluteRoot(root: string): void {
  if (!isAbsolute(root)) {
    throw new RangeError(`mirror root must be an absolute path, got "${root}"`);
  }
}

/**
 * Throws unless `relPath` is a normalised relative posix path naming something below the root:
 * no leading `/`, no empty, `.` or `..` segment, no NUL.
 */
export function assertRelativePath(relPath: string): void {
  const bad = relPath === "" || relPath.includes("\0") || relPath.startsWith("/") ||
    relPath.split("/").some((segment) => segment === "" || segment === "." || segment === "..");
  if (bad) {
    throw new RangeError(
      `"${relPath}" is not a normalised relative path inside the mirror or push folder`,
    );
  }
}

/**
 * The first folder from `root` (itself included, as `"."`) to the folder holding `relPath` that is
 * now a symlink, or undefined when none is (a folder gone or turned into a file leaves nothing to
 * remove). Checked by `lstat` right before an unlink or rmdir of a path from a walk: Deno has no
 * `unlinkat`, so the path is resolved again by name, and a folder a local program swapped for a
 * symlink since the walk (the mirror or push folder itself too) would lead the removal out of it.
 * What remains is the microseconds between the two calls.
 */
export function swappedFolderOn(
  root: string,
  relPath: string,
  options: SwappedFolderOptions = {},
): string | undefined {
  const slash = relPath.lastIndexOf("/");
  return swappedFolder(root, slash < 0 ? "" : relPath.slice(0, slash), options);
}

/** Options of {@linkcode swappedFolder}. */
export interface SwappedFolderOptions {
  /**
   * The root's device: a folder below it on another one (a file system mounted there since the
   * walk, which passes such a folder by) counts as swapped too, and so does the root itself (the
   * disk mounted there unmounted since: a bare folder of the file system below). The same `lstat`s
   * tell it.
   */
  device?: number;
  /**
   * The inodes some of the folders had (by their paths below the root, `"."` for the root itself):
   * one of them with another inode now, or gone, counts as swapped too (another folder moved into
   * its place). For folders the kernel keeps in memory meanwhile (a file held open below them):
   * FAT and FUSE file systems may number a folder anew once it is forgotten.
   */
  inodes?: ReadonlyMap<string, number>;
  /** Each folder gone counts as swapped too (one the caller made or found this pass). */
  gone?: boolean;
}

/**
 * The first folder from `root` (as `"."`) down to `relDir` itself (`""`: the root alone) that is now
 * a symlink (or, with `options.device`, on another device; with `options.inodes`, another folder
 * or none; with `options.gone`, none), or undefined (see {@linkcode swappedFolderOn}).
 */
export function swappedFolder(
  root: string,
  relDir: string,
  options: SwappedFolderOptions = {},
): string | undefined {
  const dirs = relDir === ""
    ? ["."]
    : [".", ...relDir.split("/").map((_, i, all) => all.slice(0, i + 1).join("/"))];
  for (const dir of dirs) {
    try {
      const info = Deno.lstatSync(dir === "." ? root : join(root, dir));
      if (info.isSymlink) return dir;
      if (!info.isDirectory) return undefined;
      if (options.device !== undefined && info.dev !== options.device) return dir;
      const ino = options.inodes?.get(dir);
      if (ino !== undefined && info.ino !== ino) return dir;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        return options.gone || options.inodes?.has(dir) ? dir : undefined;
      }
      throw error;
    }
  }
  return undefined;
}

/** Options of {@linkcode foldersOnWay}. */
export interface FoldersOnWayOptions {
  /** As {@linkcode SwappedFolderOptions.device}: a folder on another device counts as swapped. */
  device?: number;
  /**
   * The folder holding `relPath` by its inode alone, not its times: for a look around an
   * operation that changes that folder itself (a rename or link of the file); the folder above it
   * still tells if it was moved (a rename changes the times of the folder it is made in).
   */
  holdingByInode?: boolean;
  /**
   * Folders of root or of this user id that no group or other user may write by their inodes
   * alone: only trusted users change them (a writer in the push folder changing them all the time
   * made two looks around an open differ, and the file wait, for nothing).
   */
  trustedUid?: number;
}

/**
 * Each folder from `root` down to the one holding `relPath`, by inode, change time and modification
 * time, as one string; `{ swapped }` naming the first that is a symlink (or, with `device`, on
 * another device), as {@linkcode swappedFolderOn} does; undefined when one is gone (or a file now).
 *
 * Two equal looks with an operation by path between them stand for an `openat`, which Deno has
 * not: a local program can put a link where a folder was only by moving or removing that folder,
 * which changes its inode or its times, and those of the folder above it. What is left: Deno gives
 * the change time in whole seconds and the modification time in milliseconds, so a folder moved
 * away and back within the millisecond of the folder's last change is not told (a program doing
 * it in a tight loop, `renameat2` with `RENAME_EXCHANGE`, slips through now and then; see the
 * README's _Not guaranteed_).
 */
export function foldersOnWay(
  root: string,
  relPath: string,
  options: FoldersOnWayOptions = {},
): string | { swapped: string } | undefined {
  const looked = _looksOnWay(root, relPath, options);
  return looked === undefined || "swapped" in looked ? looked : looked.stamps;
}

/**
 * {@linkcode foldersOnWay} for a look around an operation on a file (the folder holding it by its
 * inode alone), or why a change right after this look could go unseen by the look after the
 * operation, for a folder looked at by its times that another user may change, and how soon it
 * will not be (the latest of the folders'):
 * - `"changing"`: root's or the process's (`probe.uid`) on a file system keeping fine times, but a
 *   group or other user may write it (so move what is in it, never set its times), and modified
 *   within `settledMs` of now: a change then could fall within the same millisecond. `settledMs`
 *   is to exceed a clock tick (file times come from the kernel's coarse clock: 10 ms at 100 Hz) and
 *   a millisecond more (Deno's times are whole milliseconds). A time further ahead of the clock (a
 *   camera's clock, the clock put back) is not recent: a change now would set an earlier one.
 * - `"changed this second"`: another user's, who may put its modification time back as it was
 *   (`utimensat`), or any others may change on a file system keeping whole seconds (or one not
 *   probed), and changed (its change time, which nobody sets) in the second (FAT: two) a change
 *   now would be stamped with, or the one either side where the clock is known only to a second:
 *   Deno gives the change time in whole seconds.
 *
 * Times are compared with the file system's clock (`probe.clockAheadMs`). A folder of root or of
 * the process that no group or other user may write is never waited for: only they can change it
 * (a camera writing into the push folder many times a second, or the pass's own deletions above
 * the files it sends, kept the files below from ever being sent).
 */
export function settledFoldersOnWay(
  root: string,
  relPath: string,
  options: { settledMs: number; probe?: FolderProbe },
): string | { swapped: string } | Unsettled | undefined {
  const looked = _looksOnWay(
    root,
    relPath,
    { holdingByInode: true, trustedUid: trustedUidOf(options.probe) },
    options,
  );
  if (looked === undefined || "swapped" in looked) return looked;
  return looked.unsettled ?? looked.stamps;
}

/**
 * The user id whose folders (and root's) {@linkcode settledFoldersOnWay} trusts: the probe's, or
 * root's alone without one. The look after the operation is to pass it too.
 */
export function trustedUidOf(probe: FolderProbe | undefined): number {
  return probe?.uid ?? 0;
}

/** A look at folders not to be trusted yet: why, and how soon it will be if they stay still. */
export interface Unsettled {
  unsettled: "changing" | "changed this second";
  /** Milliseconds until a look finds them settled, if none changes meanwhile. */
  settlesInMs: number;
}

/**
 * The looks of {@linkcode foldersOnWay}; with `settle`, also why one of the folders looked at by
 * their times is not settled (see {@linkcode settledFoldersOnWay}).
 */
function _looksOnWay(
  root: string,
  relPath: string,
  options: FoldersOnWayOptions,
  settle?: { settledMs: number; probe?: FolderProbe },
): { stamps: string; unsettled?: Unsettled } | { swapped: string } | undefined {
  const parts = relPath.split("/").slice(0, -1);
  // The file system's clock: a network one's server may run ahead or behind.
  const now = settle === undefined ? 0 : Date.now() + (settle.probe?.clockAheadMs ?? 0);
  let stamps = "";
  let unsettled: Unsettled | undefined;
  for (let i = 0; i <= parts.length; i++) {
    const dir = i === 0 ? "." : parts.slice(0, i).join("/");
    let info;
    try {
      info = lstatSync(i === 0 ? root : join(root, dir), { bigint: true });
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      throw error;
    }
    if (info.isSymbolicLink()) return { swapped: dir };
    if (!info.isDirectory()) return undefined;
    if (options.device !== undefined && Number(info.dev) !== options.device) {
      return { swapped: dir };
    }
    if (
      (options.holdingByInode === true && i === parts.length) ||
      (options.trustedUid !== undefined && _trustedAlone(info, options.trustedUid))
    ) {
      stamps += `${info.ino}/`;
      continue;
    }
    // Both times: Deno gives the change time in whole seconds, the modification time (which a
    // rename in the folder changes too) in milliseconds.
    stamps += `${info.ino}:${info.ctimeNs}:${info.mtimeNs}/`;
    const folder = settle === undefined ? undefined : _unsettled(info, now, settle);
    if (folder !== undefined && folder.settlesInMs > (unsettled?.settlesInMs ?? 0)) {
      unsettled = folder;
    }
  }
  return { stamps, unsettled };
}

/** Whether only root or `uid` may change what is in the folder: theirs, no other may write it. */
function _trustedAlone(info: { uid: bigint; mode: bigint }, uid: number): boolean {
  return _ownedByTrusted(info, uid) && (info.mode & 0o022n) === 0n;
}

/** Whether the folder is root's or `uid`'s (who may set its times, not move it behind a look). */
function _ownedByTrusted(info: { uid: bigint }, uid: number): boolean {
  return info.uid === 0n || info.uid === BigInt(uid);
}

/** Why a folder's look is not to be trusted now (see {@linkcode settledFoldersOnWay}). */
function _unsettled(
  info: { uid: bigint; mode: bigint; mtimeNs: bigint; ctimeNs: bigint; dev: bigint },
  now: number,
  { settledMs, probe }: { settledMs: number; probe?: FolderProbe },
): Unsettled | undefined {
  const trusted = _ownedByTrusted(info, trustedUidOf(probe));
  // The time step of the folder's own file system: the probe's, on its device; another mounted
  // below the push folder is not known (taken as FAT's two seconds), nor is a folder whose time
  // falls on a whole second (a coarse file system, or one time in a thousand of a fine one).
  const stepMs = probe === undefined
    ? 1
    : BigInt(probe.dev) !== info.dev
    ? 2000
    : info.mtimeNs % 1_000_000_000n === 0n
    ? Math.max(1000, probe.timeStepMs)
    : probe.timeStepMs;
  if (trusted && stepMs < 1000) {
    const mtimeMs = Number(info.mtimeNs / 1_000_000n);
    return Math.abs(mtimeMs - now) < settledMs
      ? { unsettled: "changing", settlesInMs: mtimeMs + settledMs - now }
      : undefined;
  }
  // Another user's (who may set its modification time back), or any on a file system keeping
  // whole seconds (FAT two): by its change time, which nobody sets, in steps of at least a second
  // (Deno gives it in whole seconds). On a coarse file system the clock's offset is known only to a
  // step: the steps on either side count too.
  const step = Math.max(1000, stepMs);
  const unsure = stepMs >= 1000 ? step : 0;
  const changed = Math.floor(Number(info.ctimeNs / 1_000_000n) / step);
  const stampedNow = changed >= Math.floor((now - settledMs - unsure) / step) &&
    changed <= Math.floor((now + settledMs + unsure) / step);
  return stampedNow
    ? {
      unsettled: "changed this second",
      settlesInMs: (changed + 1) * step + settledMs + unsure - now,
    }
    : undefined;
}

/** What a file made in a folder tells of the process and of that folder's file system. */
export interface FolderProbe {
  /** The user id of the files this process makes there: its own. */
  uid: number;
  /** The device of the folder probed: folders on another are on a file system not probed. */
  dev: number;
  /**
   * How far the file system's clock is ahead of this one (ms; 0 within a clock tick and its time
   * step): a network file system stamps times with its server's clock.
   */
  clockAheadMs: number;
  /**
   * The file system's time step, as far as one time tells: 1 (finer than a millisecond), 1000
   * (whole seconds: ext4 with 128-byte inodes, ext2, ext3) or 2000 (an even second: FAT's two, or a
   * one-second file system at an even second, taken as the coarser).
   */
  timeStepMs: number;
}

const _PROBE_PREFIX = ".probe-";
const _PROBE_NAME = /^\.probe-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Whether `name` is the file of a {@linkcode probeFolderSync} (a process killed while it probed
 * leaves it: nothing else would ever remove it).
 */
export function isFolderProbeName(name: string): boolean {
  return _PROBE_NAME.test(name);
}

/**
 * Makes a file in `dir` (a folder the process may write) and reads it through its handle: Deno tells
 * the process's user id only with a `sys` permission the program is not granted, and a file's times
 * come from its file system's clock, in its steps. Through the handle, not the name: the folder may
 * be another user's (a push folder's state folder), who could put a file of theirs under the name.
 */
export function probeFolderSync(dir: string): FolderProbe {
  const path = join(dir, `${_PROBE_PREFIX}${crypto.randomUUID()}`);
  const before = Date.now();
  const file = Deno.openSync(path, { createNew: true, write: true });
  try {
    const info = file.statSync();
    const after = Date.now();
    const stamped = info.mtime?.getTime() ?? before;
    const timeStepMs = stamped % 1000 !== 0 ? 1 : stamped % 2000 !== 0 ? 1000 : 2000;
    // Made between `before` and `after`: a stamp outside that span, less the step it is cut to and
    // a clock tick, is another clock's.
    const clockAheadMs = stamped > after
      ? stamped - after
      : stamped < before - timeStepMs - 20
      ? stamped - before
      : 0;
    return { uid: info.uid!, dev: info.dev, clockAheadMs, timeStepMs };
  } finally {
    file.close();
    try {
      Deno.removeSync(path);
    } catch { /* taken away already: nothing of ours to remove */ }
  }
}

/**
 * Throws `PermissionDenied` when the state folder `stateDir` or the folder holding it (the mirror,
 * or the push folder) is now a symlink: a name used by path through it would be another folder's
 * (another mirror's). `refusal` says what is then not done (the message begins with it).
 */
export function assertStateDirInPlace(stateDir: string, refusal: string): void {
  const swapped = swappedFolder(dirname(stateDir), basename(stateDir));
  if (swapped === undefined) return;
  throw new Deno.errors.PermissionDenied(
    `${refusal}: ${swapped === "." ? dirname(stateDir) : stateDir} became a symlink during the ` +
      "pass (not followed)",
  );
}

/** fsyncs a directory so a rename, link or unlink in it survives a power loss. */
export async function syncDir(dir: string): Promise<void> {
  // Closed by hand: the bundler drops a `using` whose handle is used once, in the statement after
  // it (see `scripts/program_bundle.ts`), and the module leaked a descriptor each time.
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/** Writes every byte of `bytes` (a single `write` may write fewer). */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

/**
 * `lstat`, or undefined when it fails (nothing there). Synchronous: a metadata read of a local file
 * takes microseconds, less than handing it to a worker thread and back, which cost more CPU per
 * file than anything else a pass does.
 */
export function lstatIfThereSync(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Whether the folders `a` and `b` are on one mount (one mount of a file system, not only one
 * device: a bind mount of a folder of the same disk has the disk's device but is a mount of its
 * own, which nothing can be renamed or linked across): a rename between them of a name neither
 * holds answers "cross-device" (EXDEV, `"other"`) before the kernel looks the name up, and "no such
 * file" (`"same"`) on one mount. Nothing is moved or made. Undefined when it cannot be told.
 */
export function mountOf(a: string, b: string): "same" | "other" | undefined {
  const probed = probeMount(a, b);
  return probed instanceof Error ? undefined : probed;
}

/**
 * {@linkcode mountOf}, with the refusal that left it untold (`PermissionDenied`: a folder this user
 * may not enter, whose lookup the probe needs; `EROFS`: a read-only mount, ...).
 */
export function probeMount(a: string, b: string): "same" | "other" | Error {
  const name = `.mount-probe-${crypto.randomUUID()}`;
  try {
    Deno.renameSync(join(a, name), join(b, name));
  } catch (error) {
    const code = (error as { code?: string }).code;
    return code === "EXDEV" ? "other" : code === "ENOENT" ? "same" : error as Error;
  }
  Deno.renameSync(join(b, name), join(a, name)); // a name nobody gives: put back all the same
  return "same";
}

/**
 * Whether a file system is mounted at the folder `path` itself (a disk mounted at a mirror or a push
 * folder): it is on another device than the folder holding it. False when either cannot be looked
 * at.
 */
export function isMountPointSync(path: string): boolean {
  const parent = lstatIfThereSync(dirname(path))?.dev;
  const own = lstatIfThereSync(path)?.dev;
  return parent !== undefined && own !== undefined && own !== parent;
}

/** statfs `f_type` of a FUSE file system (`FUSE_SUPER_MAGIC`). */
const _FUSE_SUPER_MAGIC = 0x65735546;

/** Whether the folder `path` is on a FUSE file system (false when that cannot be told). */
export function isOnFuse(path: string): boolean {
  try {
    return statfsSync(path).type === _FUSE_SUPER_MAGIC;
  } catch {
    return false;
  }
}

/** statfs `f_type`s of the kernel's FAT and exFAT drivers (`MSDOS_SUPER_MAGIC`, `EXFAT_...`). */
const _FAT_MAGICS = new Set([0x4d44, 0x2011bab0]);

/**
 * Whether a file's inode number on the file system of the folder `path` stays the same across a
 * remount: not on FUSE (exfat-fuse numbers its nodes as it meets them) nor on the kernel's FAT
 * and exFAT (numbered from where the entry lies, afresh each mount). True when it cannot be told.
 */
export function hasStableInodes(path: string): boolean {
  try {
    const { type } = statfsSync(path);
    return type !== _FUSE_SUPER_MAGIC && !_FAT_MAGICS.has(type);
  } catch {
    return true;
  }
}

/**
 * Gives the file at `from` the name `to` too, never replacing what is there (`AlreadyExists` when
 * the name is taken): a hard link, or where the file system has none (exFAT and FAT through FUSE
 * answer EPERM) a check, then a rename, after which `from` names nothing (a file made at `to` in
 * between is replaced: for the program's own names). Tells which it did.
 */
export function linkNoReplaceSync(from: string, to: string): "linked" | "renamed" {
  try {
    Deno.linkSync(from, to);
    return "linked";
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw error;
  }
  if (lstatIfThereSync(to) !== undefined) throw new Deno.errors.AlreadyExists(`${to} exists`);
  Deno.renameSync(from, to);
  return "renamed";
}

/** Removes the file (a symlink itself, never its target) at `path`; one already gone is no error. */
export function removeIfPresentSync(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** {@linkcode removeIfPresentSync}, through the thread pool. */
export async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

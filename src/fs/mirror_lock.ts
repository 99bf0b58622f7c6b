/**
 * One writer per mirror: the lock a pass holds on its mirror (a CLI run and a module never write one
 * mirror at once), with the holder named in the refusal.
 *
 * @module
 */
import { join } from "node:path";
import { assertStateDirInPlace, FILE_MODE, lstatIfThereSync, writeAll } from "./_util.ts";
import { openOwnFile } from "./own_file.ts";
import { LOCK_NAME } from "./state_dir.ts";

/** Who holds a mirror's lock, as its holder wrote it into the lock file. */
export interface LockHolder {
  /** Process id of the holder. */
  pid: number;
  /** Host name of the holder, when it was allowed to read it (`--allow-sys=hostname`). */
  host?: string;
  /** Free text naming the holder, e.g. `"cli"` or `"module data-mirror-1"`. */
  owner?: string;
  /** When the lock was taken (ISO 8601). */
  started: string;
}

/** Options of {@linkcode acquireMirrorLock}. */
export interface AcquireMirrorLockOptions {
  /** Names the holder in the lock file, for the error another process or resource gets. */
  owner?: string;
  /** Told when a link planted at the lock file's name was replaced. */
  warn?: (message: string) => void;
  /**
   * Throws when the state folder (or the folder holding it) is no longer where the caller resolved
   * it; called before a planted entry at the lock's name is unlinked and after the lock file is
   * opened. By default: when either of the two is now a symlink.
   */
  assertInPlace?: () => void;
  /** What the lock guards, as the refusal names it (default "mirror"). */
  guards?: "mirror" | "push folder";
}

/** A held mirror lock. */
export interface MirrorLock {
  /** The lock file. */
  readonly path: string;
  /** Releases the lock; calling it again does nothing. */
  release(): Promise<void>;
}

/** The mirror (or push folder) is locked by another pass (this process or another one). */
export class LockedError extends Error {
  /**
   * @param lockPath The lock file.
   * @param holder What the holder wrote into it; absent while it is still writing it.
   */
  constructor(
    readonly lockPath: string,
    readonly holder: LockHolder | undefined,
    guards: "mirror" | "push folder" = "mirror",
  ) {
    super(`${guards} is busy: ${lockPath} is held by ${_describeHolder(holder)}`);
    this.name = "LockedError";
  }
}

/**
 * Takes the lock that allows one sync pass at a time on a mirror, across processes and within one:
 * `<stateDir>/lock` (`stateDir` is the mirror's real `.data-mirror` folder), locked with an exclusive
 * OS file lock (`flock`). Throws {@linkcode LockedError} at once when it is held.
 *
 * Why an OS lock: the kernel drops it when its holder dies, even by SIGKILL, so a stale lock is
 * taken over without any pid check (which would need run or /proc access the program does not have).
 * `flock` locks belong to an open file description, and every call opens the file anew, so two
 * acquisitions in one process (two resources on one mirror, or a Worker) exclude each other too:
 * no in-process registry is needed (tests/fs/mirror_lock_test.ts checks this). The file is opened
 * close-on-exec, so a spawned child never inherits it. The lock file is never deleted while it is a
 * plain file: deleting it would let a newcomer lock a fresh file while an old holder still holds
 * the unlinked one. A symlink or hard link planted under its name is replaced, never written through
 * ({@linkcode openOwnFile}).
 *
 * The holder's description is written on a best-effort basis: on a full disk it is left out, so that
 * a pass can still run and delete what the platform no longer has.
 *
 * @example
 * ```ts
 * const lock = await acquireMirrorLock("/home/pi/.viam/data_mirror/.data-mirror", { owner: "cli" });
 * try {
 *   // one pass
 * } finally {
 *   await lock.release();
 * }
 * ```
 */
export async function acquireMirrorLock(
  stateDir: string,
  options?: AcquireMirrorLockOptions,
): Promise<MirrorLock> {
  const path = join(stateDir, LOCK_NAME);
  const inPlace = options?.assertInPlace ??
    (() => assertStateDirInPlace(stateDir, "not taking the lock"));
  // Passes starting at once take the lock file's name one at a time: one replacing a link planted
  // there (unlinking the name it saw as a link) would otherwise unlink the fresh lock file another
  // pass had just made and locked, and both would run. Held for the moments below only.
  const dir = await Deno.open(stateDir, { read: true });
  let file: Deno.FsFile;
  try {
    // Best effort: a file system without flock on folders (NFS) keeps the narrower window.
    await dir.lock(true).catch(() => {});
    await _refuseHeldLink(path, options?.guards, inPlace);
    // No truncate on open: the holder's description must survive a failed attempt. Checked in
    // place after the open: the state folder (or the mirror) swapped for a link since the pass
    // resolved it had another folder's lock opened, taken and emptied.
    file = (await openOwnFile(path, {
      mode: FILE_MODE,
      onReplaced: options?.warn,
      assertInPlace: inPlace,
    })).file;
    try {
      if (!(await file.tryLock(true))) {
        throw new LockedError(path, await _readHolder(file), options?.guards);
      }
    } catch (error) {
      file.close(); // also drops the OS lock
      throw error;
    }
  } finally {
    dir.close(); // also drops the folder's lock
  }
  const holder: LockHolder = {
    pid: Deno.pid,
    host: _hostName(),
    owner: options?.owner,
    started: new Date().toISOString(),
  };
  await file.truncate(0).then(
    () => writeAll(file, new TextEncoder().encode(`${JSON.stringify(holder)}\n`)),
  ).catch(() => {}); // a full disk: the lock holds without its description
  let released = false;
  return {
    path,
    async release(): Promise<void> {
      if (released) return;
      released = true;
      try {
        await file.truncate(0).catch(() => {}); // a later reader must not blame a holder that is gone
      } finally {
        file.close();
      }
    },
  };
}

/**
 * A lock file with a second name (a hard-link copy of the mirror, `cp -al`) is replaced by
 * `openOwnFile`, never written through; but while another pass holds it, a fresh file in its place
 * would let this pass run beside that one. So such a file is first tried, read-only: held, the pass
 * is refused as busy, as for any held lock.
 */
async function _refuseHeldLink(
  path: string,
  guards: "mirror" | "push folder" | undefined,
  inPlace: () => void,
): Promise<void> {
  const info = await Deno.lstat(path).catch(() => undefined);
  if (info === undefined || !info.isFile || info.nlink === 1) return;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch {
    return; // gone or swapped meanwhile: openOwnFile decides
  }
  try {
    if (!(await file.tryLock(true))) throw new LockedError(path, await _readHolder(file), guards);
    // Free: its name goes while this pass holds it, and only while it still names this file. A
    // pass replacing it at once (openOwnFile, unlinking the name it found shared) would unlink the
    // fresh lock file the other pass made and locked, and both would run.
    // Looked at and unlinked in one turn, the folders checked in it too.
    const held = await file.stat();
    inPlace();
    const named = lstatIfThereSync(path);
    if ((held.nlink ?? 1) > 1 && named?.ino === held.ino && named.dev === held.dev) {
      try {
        Deno.removeSync(path);
      } catch {
        // gone already: openOwnFile makes a fresh one
      }
    }
  } finally {
    file.close(); // also drops the OS lock taken here
  }
}

/** Reads the holder's description; undefined while the holder has not written it yet. */
async function _readHolder(file: Deno.FsFile): Promise<LockHolder | undefined> {
  try {
    await file.seek(0, Deno.SeekMode.Start);
    const bytes = new Uint8Array(4096);
    const length = (await file.read(bytes)) ?? 0;
    const parsed = JSON.parse(new TextDecoder().decode(bytes.subarray(0, length)));
    return typeof parsed?.pid === "number" && typeof parsed?.started === "string"
      ? parsed
      : undefined;
  } catch {
    return undefined; // empty or half-written: the holder is between its lock and its write
  }
}

/** The host name when the sys permission for it is granted; the program normally runs without. */
function _hostName(): string | undefined {
  return Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state === "granted"
    ? Deno.hostname()
    : undefined;
}

function _describeHolder(holder: LockHolder | undefined): string {
  if (holder === undefined) return "another sync that is starting";
  const where = holder.host === undefined ? "" : ` on ${holder.host}`;
  const who = holder.owner === undefined ? "" : ` (${holder.owner})`;
  return `pid ${holder.pid}${where}${who} since ${holder.started}`;
}

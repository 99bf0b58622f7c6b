/**
 * One file of a push pass, from open to delete: opened without following a symlink and checked to
 * be the file walked, recorded as in flight, streamed (retried with back-off on transient errors,
 * from byte 0 each time), checked unchanged before the stream closes, recorded as sent, and
 * deleted only when it is still the version that was sent.
 *
 * @example
 * ```ts
 * const outcome = await pushFile(context, walked);
 * if (outcome.kind === "uploaded") console.log(outcome.binaryDataId);
 * ```
 *
 * @module
 */

import { closeSync, constants, fstatSync, openSync, read, readFileSync } from "node:fs";
import { createHash, type Hash } from "node:crypto";
import { type FileHandle, open } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { setTimeout } from "node:timers/promises";
import { DELETING_DIR_NAME, ensureStateDirSync } from "../fs/state_dir.ts";
import { STATE_DIR_NAME } from "../paths.ts";
import { Code } from "@connectrpc/connect";
import { backoffDelay } from "../async/backoff.ts";
import { IdleWatchdog } from "../async/idle_watchdog.ts";
import { abortableDelay, CALL_RETRY } from "../async/retry.ts";
import {
  assertRelativePath,
  type FolderProbe,
  foldersOnWay,
  isOnFuse,
  lstatIfThereSync,
  settledFoldersOnWay,
  trustedUidOf,
} from "../fs/_util.ts";
import { removeFileUnder } from "../fs/mirror_dir.ts";
import { classifyError } from "../remote/classify_error.ts";
import {
  describeError,
  type ErrorKind,
  IncompleteBodyError,
  isTimeout,
  kindUnder,
} from "../remote/errors.ts";
import type {
  FileUploader,
  ListedUpload,
  UploadMetadata,
  UploadSource,
} from "../remote/file_upload.ts";
import type { PushConfig } from "../config.ts";
import { type FileIdentity, identityOf, sameIdentity, sameVersion } from "./file_identity.ts";
import { isSameDestination } from "./push_destination.ts";
import type { PushJournal } from "./push_journal.ts";
import type { WalkedFile } from "./walk_push_folder.ts";

/**
 * The longest wait between a file's retries after transient failures, across passes and restarts.
 * Seed 002: "the service will exponentially retry uploading it for up to an hour", which is how
 * viam-server's data manager caps its retry interval: it never gives a file up over a transient
 * error. (Until 2026-12-03 a file was given up after an hour of them: a robot offline for longer
 * kept its push folder until someone ran a push by hand.)
 */
export const MAX_RETRY_INTERVAL_MS = 60 * 60_000;

/** How far apart the platform's clock and ours may be when matching an upload by its time. */
export const CLOCK_SKEW_MS = 10 * 60_000;

/**
 * How many of a part's newest uploads the lost-answer check looks through: a start taken from a
 * clock that was far behind reaches back over the part's whole history, and the copy looked for is
 * among the newest. Past it, a copy not found is sent again (a duplicate, never a loss).
 */
export const LOST_ANSWER_SCAN = 20_000;

/** What the push pass hands each file. */
export interface PushContext {
  /** The push attributes. */
  config: PushConfig;
  /** The part the files belong to. */
  partId: string;
  /**
   * Where this pass sends (`pushDestination` of the app URL, the part, the tags and datasets): what
   * the journal says of a file counts only when it was said of this destination.
   */
  destination: string;
  /** The uploader. */
  uploader: Pick<FileUploader, "upload" | "listUploads" | "openStored">;
  /** The journal of the push folder. */
  journal: PushJournal;
  /** Cancels the upload in progress. */
  signal?: AbortSignal;
  /** Awaited before each chunk: a bandwidth limiter's wait. */
  beforeChunk?: (bytes: number, signal: AbortSignal) => Promise<void>;
  /**
   * Called with each chunk's size as it is sent, and with minus what an attempt sent once that
   * attempt has failed (its bytes go again, or not at all): the sum is what is under way or stored.
   */
  onChunk?: (bytes: number) => void;
  /** Tries within this pass (the first included). */
  attempts: number;
  /** Delay before the first retry within the pass, in milliseconds. */
  minRetryDelayMs: number;
  /** A stored copy being compared fails after this long without data (default 60 s). */
  compareIdleMs?: number;
  /** The clock, epoch ms. */
  now: () => number;
  /**
   * The process's user id and the push folder's file system clock (`probeFolderSync`, made once,
   * when first asked): folders of the push folder that are the process's own, or root's, and that
   * no other user may write, are not waited for, and folder times are compared with that clock.
   */
  folderProbe?: () => FolderProbe;
}

/** How one file went. */
export type FileOutcome =
  | {
    kind: "uploaded";
    binaryDataId: string;
    bytes: number;
    /** Whether the local file was deleted (never with `keep`, never when it changed). */
    deleted: boolean;
    /** Found already stored by the in-flight check instead of sent again. */
    recovered: boolean;
    /** Why the sent file could not be deleted (it stays; the next pass deletes it). */
    deleteError?: string;
  }
  | { kind: "skipped"; reason: "symlink" | "changed while sent" | "folder changing" | "gone" }
  | { kind: "failed"; error: string; errorKind: ErrorKind; permanent: boolean };

/**
 * The platform stored a file whose upload the journal then failed to record (its disk gone
 * read-only, full, the folder swapped): the pass fails, and the file, in place, is found stored by
 * the next pass's in-flight check. `outcome` is the upload, for the failing pass's counts (they
 * said 0 uploaded for a file the platform held).
 */
export class UnrecordedUploadError extends Error {
  /**
   * @param outcome The upload the journal could not record.
   * @param cause Why it could not.
   */
  constructor(readonly outcome: FileOutcome & { kind: "uploaded" }, cause: unknown) {
    super(
      `the journal could not record an upload the platform stored as ${outcome.binaryDataId} ` +
        `(${(cause as Error)?.message ?? cause}); the file stays, and the next pass finds it ` +
        "stored rather than send it again",
      { cause },
    );
    this.name = "UnrecordedUploadError";
  }
}

/** The file changed between the walk and the end of the stream: it goes on a later pass. */
class _FileChangedError extends Error {
  constructor(path: string, when: string) {
    super(`${path} changed ${when}`);
    this.name = "FileChangedError";
  }
}

/** Uploads one walked file; never throws for the file's own failures (they are the outcome). */
export async function pushFile(ctx: PushContext, file: WalkedFile): Promise<FileOutcome> {
  let opened:
    | { handle: _OpenFile; identity: FileIdentity }
    | Exclude<FileOutcome, { kind: "sent" }>;
  try {
    opened = await _openInPlace(ctx.config.pushRoot, file.path, ctx.folderProbe?.());
  } catch (error) {
    return _failed(ctx, file, error);
  }
  if (!("handle" in opened)) return opened;
  const { handle, identity } = opened;
  try {
    if (!sameIdentity(identity, file.identity)) {
      return { kind: "skipped", reason: "changed while sent" };
    }
    return await _upload(ctx, file, handle, identity);
  } finally {
    await handle.close();
  }
}

/**
 * Opens the file at `path` below `root` for reading, proved opened in the push folder itself: the
 * folders on its way looked at (inodes and times) right before the open and right after it, equal,
 * the folders above the file's own still for a while before the first look
 * ({@linkcode settledFoldersOnWay}). `O_NOFOLLOW` covers the last name only: a folder on the way
 * swapped for a symlink, even for the moment of the open (a local program flipping a folder and a
 * link to another, `renameat2` with `RENAME_EXCHANGE`, in a loop), would have a file outside read
 * and sent under the push folder's name. A folder that changed meanwhile (a file made in it) is
 * looked at again, a few times; still changing, the file waits for a later pass.
 */
async function _openInPlace(
  root: string,
  path: string,
  probe: FolderProbe | undefined,
): Promise<
  { handle: _OpenFile; identity: FileIdentity } | Exclude<FileOutcome, { kind: "sent" }>
> {
  const absolute = join(root, path);
  // The look after, as the settled look before stamps the folders.
  const after = { holdingByInode: true, trustedUid: trustedUidOf(probe) };
  for (let attempt = 1;; attempt++) {
    const before = settledFoldersOnWay(root, path, { settledMs: _SETTLED_MS, probe });
    if (before === undefined) return { kind: "skipped", reason: "gone" };
    if (typeof before === "object") {
      if ("swapped" in before) return { kind: "skipped", reason: "symlink" };
      // Not settled for longer than a tick (a folder above judged by the second: another user's,
      // or on a file system keeping seconds): a later pass sends the file (no wait of up to seconds
      // a file, which a folder changed all the time would make every file of a pass wait).
      if (before.settlesInMs > _SETTLED_MS || attempt === _LOOKS_AT_FOLDERS) {
        return { kind: "skipped", reason: "folder changing" };
      }
      await setTimeout(before.settlesInMs);
      continue;
    }
    let handle: _OpenFile;
    try {
      // O_NOFOLLOW: were the file swapped for a symlink since the walk, the open fails (ELOOP).
      // O_NONBLOCK: were it swapped for a FIFO, the open would wait for a writer forever, holding
      // the pass (and the mirror loop) with it; the identity check then refuses it.
      handle = _openSync(
        absolute,
        constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
      );
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "ELOOP") return { kind: "skipped", reason: "symlink" };
      if (code === "ENOENT" || code === "ENOTDIR") return { kind: "skipped", reason: "gone" };
      throw error;
    }
    try {
      const identity = identityOf(fstatSync(handle.fd));
      if (foldersOnWay(root, path, after) === before) {
        return { handle, identity };
      }
    } catch (error) {
      await handle.close();
      throw error;
    }
    await handle.close();
    if (attempt === _LOOKS_AT_FOLDERS) return { kind: "skipped", reason: "folder changing" };
  }
}

/**
 * A file opened synchronously, read as a `FileHandle` is: the open comes between its two looks at
 * the folders with no turn of the event loop in between (see {@linkcode _openInPlace}).
 */
interface _OpenFile {
  readonly fd: number;
  read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

function _openSync(path: string, flags: number): _OpenFile {
  const fd = openSync(path, flags);
  let closed = false;
  return {
    fd,
    read: (buffer, offset, length, position) =>
      new Promise((resolve, reject) =>
        read(
          fd,
          buffer,
          offset,
          length,
          position,
          (error, bytesRead) => error ? reject(error) : resolve({ bytesRead }),
        )
      ),
    close: () => {
      if (!closed) {
        closed = true;
        closeSync(fd);
      }
      return Promise.resolve();
    },
  };
}

/** How many times a file whose folders changed while it was opened (or moved aside) is tried. */
const _LOOKS_AT_FOLDERS = 3;
/**
 * How long ago the folders above a file that another user may write must have last changed for a
 * look at them to be trusted (see {@linkcode settledFoldersOnWay}: a tick of the kernel's coarse
 * clock at 100 Hz, and the millisecond Deno rounds to); also the wait before looking again.
 */
const _SETTLED_MS = 12;

/** The retry schedule of a push's calls to the platform: the pass's tries, as a file's upload. */
export function callRetryOf(
  ctx: Pick<PushContext, "attempts" | "minRetryDelayMs">,
): { attempts: number; minDelayMs: number; maxDelayMs: number; timeoutAttempts?: number } {
  return {
    attempts: ctx.attempts,
    minDelayMs: ctx.minRetryDelayMs,
    maxDelayMs: CALL_RETRY.maxDelayMs,
    timeoutAttempts: CALL_RETRY.timeoutAttempts,
  };
}

async function _upload(
  ctx: PushContext,
  file: WalkedFile,
  handle: _OpenFile,
  opened: FileIdentity,
): Promise<FileOutcome> {
  const { journal } = ctx;
  const version = {
    ino: opened.ino,
    size: opened.size,
    mtimeMs: opened.mtimeMs,
    ctimeMs: opened.ctimeMs,
  };
  const startedMs = ctx.now();
  // On disk before the first byte goes: a kill from here on leaves a trace the next run checks.
  journal.update(file.path, (e) => ({
    ...e,
    inFlight: { ...version, to: ctx.destination, startedMs },
  }));
  await journal.flush();
  // What was read, in order from byte 0 (each attempt starts again there): compared with the
  // file's bytes before it is deleted where change times cannot tell a rewrite (a FUSE disk: the
  // push folder's, or one mounted in a folder of it).
  const absolute = join(ctx.config.pushRoot, file.path);
  const compare = isOnFuse(dirname(absolute));
  let hash: Hash | undefined;
  let hashedTo = 0;
  /** The hash of the bytes the last attempt sent whole, in order (on FUSE; else ""). */
  let sentDigest = "";
  const source: UploadSource = {
    read: async (buffer, position) => {
      const bytesRead = (await handle.read(buffer, 0, buffer.length, position)).bytesRead;
      if (compare) {
        if (position === 0) [hash, hashedTo] = [createHash("sha256"), 0];
        if (hash !== undefined && position === hashedTo) {
          hash.update(buffer.subarray(0, bytesRead));
          hashedTo += bytesRead;
        } else hash = undefined; // out of order: unknown, so never deleted on its word
      }
      return bytesRead;
    },
    size: opened.size,
  };
  const metadata = _metadata(ctx, file.path, opened);
  let stored: { binaryDataId: string; bytes: number; recovered: boolean } | undefined;
  let timeouts = 0; // see CALL_RETRY
  for (let attempt = 1; stored === undefined; attempt++) {
    let halfClosing = false;
    try {
      const result = await ctx.uploader.upload(source, metadata, {
        signal: ctx.signal,
        beforeChunk: ctx.beforeChunk,
        onChunk: ctx.onChunk,
        beforeClose: async () => {
          if (compare) {
            sentDigest = hash !== undefined && hashedTo === opened.size ? hash.digest("hex") : "";
            hash = undefined;
            // On FUSE a rewrite in place whose modification time was put back keeps the identity
            // (exfat-fuse gives that time as the change time): the platform stored a torn mix of
            // the two versions, sent on to every mirror. The bytes sent must be the file's now.
            if (sentDigest !== "" && await _sha256Of(handle, opened.size) !== sentDigest) {
              throw new _FileChangedError(file.path, "while it was read");
            }
          }
          if (!sameIdentity(identityOf(fstatSync(handle.fd)), opened)) {
            throw new _FileChangedError(file.path, "while it was read");
          }
          const current = lstatIfThereSync(absolute);
          if (current === undefined || !sameIdentity(identityOf(current), opened)) {
            throw new _FileChangedError(file.path, "or was replaced while it was read");
          }
          halfClosing = true;
        },
      });
      stored = { ...result, recovered: false };
    } catch (error) {
      if (error instanceof _FileChangedError) {
        // The stream was reset before it closed: the platform stored nothing.
        journal.update(file.path, (e) => ({ ...e, inFlight: undefined }));
        await journal.flush();
        return { kind: "skipped", reason: "changed while sent" };
      }
      if (halfClosing) {
        // The whole file went and the stream closed: the platform may have stored it before the
        // answer was lost. Look before sending it again.
        let found: StoredMatch | undefined;
        try {
          found = await findStoredUpload(ctx, file.path, { ...version, startedMs });
        } catch {
          // Cannot tell: the record stays, and the next run checks again before sending.
          return _failed(ctx, file, error, { keepInFlight: true });
        }
        if (found !== undefined) {
          // Its bytes went after all (the upload took them back when its answer was lost): as many
          // as the local file's, compared byte for byte (the listing may give no size).
          const { binaryDataId } = found.upload;
          ctx.onChunk?.(found.identity.size);
          stored = { binaryDataId, bytes: found.identity.size, recovered: true };
          break;
        }
      }
      const kind = kindUnder(classifyError(error), ctx.signal);
      if (isTimeout(error)) timeouts++;
      if (
        kind !== "transient" || attempt >= ctx.attempts ||
        timeouts >= (CALL_RETRY.timeoutAttempts ?? Infinity)
      ) {
        return _failed(ctx, file, error);
      }
      const delay = backoffDelay(attempt, {
        minMs: ctx.minRetryDelayMs,
        maxMs: CALL_RETRY.maxDelayMs,
      });
      try {
        await abortableDelay(delay, ctx.signal);
      } catch (abort) {
        return _failed(ctx, file, abort);
      }
    }
  }
  journal.recordSent(file.path, version, {
    binaryDataId: stored.binaryDataId,
    to: ctx.destination,
    ms: ctx.now(),
    kept: ctx.config.keep,
    sha256: sentDigest,
  });
  try {
    await journal.flush();
  } catch (error) {
    throw new UnrecordedUploadError({
      kind: "uploaded",
      ...stored,
      deleted: false,
      deleteError: "the journal could not record its upload",
    }, error);
  }
  if (ctx.config.keep) return { kind: "uploaded", ...stored, deleted: false };
  try {
    const deleted = await deleteIfUnchanged(ctx, file.path, opened, {
      sentDigest,
      onFuse: compare,
    });
    return { kind: "uploaded", ...stored, deleted };
  } catch (error) {
    return { kind: "uploaded", ...stored, deleted: false, deleteError: describeError(error) };
  }
}

/**
 * Deletes the sent file when it is still the version that was sent (same device, inode, size,
 * modification and change time; on FUSE, its bytes' `sentDigest`), and forgets it; resolves to
 * whether it was deleted. A changed file stays and goes again on a later pass. `onFuse` is whether
 * its folder is on FUSE, when the caller has told already (one `statfs` a file, not two).
 */
export async function deleteIfUnchanged(
  ctx: Pick<PushContext, "config" | "journal" | "folderProbe">,
  path: string,
  sent: FileIdentity,
  options: { sentDigest?: string; onFuse?: boolean } = {},
): Promise<boolean> {
  const full = join(ctx.config.pushRoot, path);
  const current = lstatIfThereSync(full);
  if (current === undefined) return false;
  if (!current.isFile || !sameIdentity(identityOf(current), sent)) {
    // Not the version sent: the platform does not hold this one, which goes on a later pass. The
    // journal forgets the version it holds, or a rewrite whose modification time was put back
    // would pass for it then (only the change time tells them apart).
    ctx.journal.update(path, (e) => ({ ...e, sent: undefined }));
    return false;
  }
  // On FUSE (exfat-fuse reports the modification time as the change time) change times cannot
  // tell a rewrite: only bytes compared with those sent say it is the version sent (none known: a
  // later pass's deletion, or a read out of order, keeps the file).
  const onFuse = options.onFuse ?? isOnFuse(dirname(full));
  const digest = onFuse ? (options.sentDigest ?? "") : undefined;
  const probe = ctx.folderProbe?.();
  const removed = await _removeIfStill(ctx.config.pushRoot, path, sent, digest, probe);
  // Its first sight (times ahead) goes with it: kept, it outlived the file until a whole walk
  // forgot the path (never, in a folder whose backlog never drains).
  ctx.journal.update(
    path,
    (e) => ({ ...e, sent: undefined, ...(removed ? { seen: undefined } : {}) }),
  );
  return removed;
}

const _NAME_BYTES = new TextEncoder();

/**
 * Removes `path` when the file there is still `sent`. Checked, then removed, a writer's rename
 * between the two (an atomic save of a new version under the same name) had the new version removed,
 * never sent. The file is first moved aside into the state dir (one atomic step), and removed only
 * when what was moved is the inode sent (its ctime was checked before the move, which changes it);
 * anything else is put back, or kept aside when yet another file took the name meanwhile.
 */
async function _removeIfStill(
  root: string,
  path: string,
  sent: FileIdentity,
  sentDigest: string | undefined,
  probe: FolderProbe | undefined,
): Promise<boolean> {
  const full = join(root, path);
  // The folders on the way looked at in the same turn as the move, right before it and right after
  // (the one holding the file by its inode: the move changes it): equal, the move took the file
  // from the push folder itself. A folder on the way swapped for a symlink is refused.
  const settle = { settledMs: _SETTLED_MS, probe };
  const after = { holdingByInode: true, trustedUid: trustedUidOf(probe) };
  let before: ReturnType<typeof settledFoldersOnWay>;
  for (let attempt = 1;; attempt++) {
    if (sentDigest !== undefined) {
      // On FUSE its bytes are compared where they are, before it leaves its name, after any wait
      // (exfat-fuse gives the modification time as the change time: a rewrite in place, its time
      // put back, has the identity sent): the hash of a large file on a stick takes seconds to
      // minutes, and a kill meanwhile left a version never sent hidden in `deleting/` (nothing
      // puts it back), or, across file systems (EXDEV: removed by name), a version renamed over
      // the name meanwhile was the one removed. One saved meanwhile is told by its identity,
      // checked again in the same turn as the move.
      if (sentDigest === "" || await _sha256OfFile(full) !== sentDigest) return false;
    }
    before = settledFoldersOnWay(root, path, settle);
    if (typeof before !== "object" || !("settlesInMs" in before)) break;
    if (attempt === _LOOKS_AT_FOLDERS) {
      // Kept as sent: the next pass deletes it (a folder flipped in a loop: never).
      throw new Error(`${path}: a folder on its way kept changing while it was to be deleted`);
    }
    await setTimeout(before.settlesInMs);
  }
  // Each level a plain directory: a symlink at `deleting` had the file sent moved out of the
  // folder.
  const asideDir = ensureStateDirSync(root, DELETING_DIR_NAME);
  if (typeof before === "object") return removeFileUnder(root, path); // refuses, naming it
  if (before === undefined) return false;
  // Looked at again after the waits above, in the same turn as the move (its change time too, which
  // the move itself changes): a version saved meanwhile on a disk mounted below the push folder,
  // where the move fails and the file is removed by name, was removed, never sent; one rewritten in
  // place, its modification time put back, was moved and passed for the version sent.
  const still = lstatIfThereSync(full);
  if (still === undefined || !still.isFile || !sameIdentity(identityOf(still), sent)) return false;
  // Its name kept after the id where it fits in a name (255 bytes): found there, it says what it is.
  // Off FUSE the version sent in the id: what a kill leaves here is removed by the next pass when
  // it is that version, and kept and told when not (see `putBackAside`). Not on FUSE, where the
  // version cannot tell a rewrite (its bytes are compared): there a record says where it goes back.
  const name = basename(path);
  const id = crypto.randomUUID() +
    (sentDigest === undefined ? `${_ASIDE_VERSION}${sent.ino}-${sent.size}-${sent.mtimeMs}` : "");
  const aside = join(asideDir, _NAME_BYTES.encode(name).length <= 160 ? `${id}-${name}` : id);
  // On FUSE the moved file's bytes are compared again (a rewrite in place during the hash above,
  // its time put back, has the same identity): a kill meanwhile must not hide it, so where it came
  // from is written beside it first, and `putBackAside` returns it on the next pass.
  let record = sentDigest === undefined ? undefined : join(asideDir, `${id}${_ASIDE_RECORD}`);
  try {
    if (record !== undefined) Deno.writeTextFileSync(record, path, { createNew: true });
  } catch {
    // A full stick (whose deletions are what frees it): no record. The bytes are compared again
    // all the same (the rewrite would be deleted, never sent); a kill meanwhile leaves the file in
    // `deleting/` under its own name, with nothing to put it back.
    try {
      if (record !== undefined) Deno.removeSync(record); // one cut short says nothing true
    } catch { /* not made */ }
    record = undefined;
  }
  let inPlace: boolean;
  try {
    Deno.renameSync(full, aside);
    inPlace = foldersOnWay(root, path, after) === before;
  } catch (error) {
    if (record !== undefined) Deno.removeSync(record);
    if (error instanceof Deno.errors.NotFound) return false;
    // Another file system below the push folder: no move aside there, removed by name (its bytes
    // compared above where they must be).
    if ((error as { code?: string }).code === "EXDEV") return removeFileUnder(root, path);
    throw error;
  }
  try {
    const moved = Deno.lstatSync(aside);
    const movedIdentity = identityOf(moved);
    if (
      moved.isFile && movedIdentity.dev === sent.dev && sameVersion(movedIdentity, sent) &&
      (sentDigest === undefined ||
        // Compared again even without a record (a full stick): a kill during it leaves the file
        // in deleting/ under its name, not lost; removed unchecked, a rewrite in place during the
        // first hash was deleted, never sent.
        (movedIdentity.ino === sent.ino && await _sha256OfFile(aside) === sentDigest))
    ) {
      Deno.removeSync(aside);
      return true;
    }
    if (!inPlace) {
      // Not the file sent, and taken while a folder on the way changed: perhaps through a link
      // flipped in for the moment of the move, from outside the push folder. Put back by its path
      // it could land in the push folder (and be sent, then deleted, by a later pass): kept here.
      throw new Error(
        `${path}: a folder on its way changed while it was deleted; what was moved is not the ` +
          `file sent, and is kept in ${aside}`,
      );
    }
    try {
      _putBack(aside, full);
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      throw new Error(
        `${path} was replaced while it was deleted; the version replaced is kept in ${aside}`,
      );
    }
    return false;
  } finally {
    if (record !== undefined) Deno.removeSync(record);
  }
}

/** The suffix of the record, in `deleting/`, of where a file moved aside on FUSE came from. */
const _ASIDE_RECORD = ".from";
const _UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
/** Between the uuid and the version sent (inode, size, modification time) in an aside's id. */
const _ASIDE_VERSION = ".v";
const _ASIDE_ID = `${_UUID}(?:\\.v(\\d+)-(\\d+)-(-?\\d+))?`;
const _ASIDE_RECORD_NAME = new RegExp(`^${_ASIDE_ID}\\.from$`);
/** A file moved aside: `<id>` or `<id>-<its name>` (its id with the version sent, off FUSE). */
const _ASIDE_NAME = new RegExp(`^(${_ASIDE_ID})(?:-(.*))?$`, "s");

/** The most bytes an aside record holds: a path of the push folder (`PATH_MAX` is 4,096). */
const _MAX_ASIDE_RECORD_BYTES = 8192;

/**
 * The path the aside record at `record` holds, or what it is instead. Opened without following a
 * link and without waiting (a FIFO there blocked every push for good, a stop signal with it), and
 * read only when it is a plain file of a path's length (a sparse one of 1 GiB failed every push).
 */
function _readAsideRecord(record: string): string | { not: string } {
  let fd: number;
  try {
    fd = openSync(record, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as { code?: string }).code === "ELOOP") return { not: "a symlink" };
    throw error;
  }
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) return { not: "a special file" };
    if (info.size > _MAX_ASIDE_RECORD_BYTES) return { not: `a file of ${info.size} bytes` };
    return readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
}

/**
 * Puts back the files a kill left moved aside on FUSE while their bytes were compared (each has a
 * record of where it came from); one whose name was taken meanwhile stays, and is told. Elsewhere
 * (no record), what a kill left moved aside is removed when it is the version sent, and kept and
 * told when it is not; any other file there is named in a warning, every pass. Called with the push
 * folder's lock held, before the walk. With `trustedOwner`, only records of a user it trusts are
 * acted on (one of another user's, put in place by a swap of the state folder, would have a file
 * of theirs put into a folder they may not write).
 */
export function putBackAside(
  root: string,
  warn: (message: string) => void,
  options: { trustedOwner?: (uid: number) => boolean } = {},
): void {
  // A record is the program's own: one of another user's (put in place by a swap of the state
  // folder) would have a file put where that user may not write. A file moved aside keeps its
  // owner (a camera's user): not asked of it.
  const ours = (record: string) => {
    const uid = Deno.lstatSync(record).uid ?? 0;
    if (options.trustedOwner === undefined || options.trustedOwner(uid)) return true;
    warn(`${record} in the push folder's state folder is user ${uid}'s, not this program's: left`);
    return false;
  };
  const asideDir = join(root, STATE_DIR_NAME, DELETING_DIR_NAME);
  let names: string[];
  try {
    // Each level a plain directory (a symlink there would have files from outside moved in).
    for (const dir of [dirname(asideDir), asideDir]) if (!Deno.lstatSync(dir).isDirectory) return;
    names = [...Deno.readDirSync(asideDir)].map((e) => e.name);
  } catch {
    return;
  }
  // Records only (`<id>.from`): a file moved aside is `<id>-<its name>`, which may end so too.
  const recorded = new Set<string>();
  for (const name of names.filter((n) => _ASIDE_RECORD_NAME.test(n))) {
    const id = name.slice(0, -_ASIDE_RECORD.length);
    const record = join(asideDir, name);
    const aside = names.find((n) => n === id || n.startsWith(`${id}-`));
    recorded.add(id);
    if (!ours(record)) continue;
    const path = _readAsideRecord(record);
    if (typeof path !== "string") {
      warn(
        `${record} in the push folder's state folder is ${path.not}, not a record this program ` +
          `writes: left${aside === undefined ? "" : `, and ${join(asideDir, aside)} with it`}`,
      );
      continue;
    }
    if (aside !== undefined) {
      const kept = join(asideDir, aside);
      try {
        assertRelativePath(path); // a path of the push folder
        _putBackBetweenLooks(root, path, kept);
      } catch (error) {
        warn(_keptAsideMessage(root, path, kept, error));
      }
    }
    Deno.removeSync(record);
  }
  // Without a record: off FUSE, a kill between the move and its check or its removal left it. The
  // version sent is removed, as the pass meant to (it is on the platform); any other (saved over
  // the name at that moment) is kept. On FUSE without a record (a full stick took none, or its
  // put-back failed) nothing tells which it is. Those kept are told every pass until moved back.
  for (const name of names) {
    const [, id, ino, size, mtimeMs, was] = _ASIDE_NAME.exec(name) ?? [];
    if (id === undefined || recorded.has(id) || _ASIDE_RECORD_NAME.test(name)) continue;
    const kept = join(asideDir, name);
    try {
      const info = Deno.lstatSync(kept);
      if (!info.isFile) continue;
      const version = { ino: Number(ino), size: Number(size), mtimeMs: Number(mtimeMs) };
      if (ino !== undefined && sameVersion(identityOf(info), version)) {
        Deno.removeSync(kept);
        continue;
      }
      const named = was === undefined ? "" : ` (it was ${JSON.stringify(was)})`;
      warn(
        `a file a stopped push moved aside to delete is kept in ${kept}${named}: ` +
          (ino === undefined
            ? "whether it is the version sent cannot be told"
            : "it is not the version sent (saved over its name at that moment)") +
          "; move it back into the push folder to send it, or remove it",
      );
    } catch { /* gone meanwhile */ }
  }
}

/**
 * `_putBack` of the file at `kept` to `path` below `root` between two looks at the folders on its
 * way (see `foldersOnWay`, the one holding it by its inode: the put-back changes that folder), as
 * the open and the move of a push have: a folder swapped for a link to outside the push folder
 * meanwhile had the file named there, and taken out of `deleting/`, its only name inside.
 */
function _putBackBetweenLooks(root: string, path: string, kept: string): void {
  const looks = { holdingByInode: true };
  const before = foldersOnWay(root, path, looks);
  if (typeof before === "object") throw new Error(`${before.swapped} is a symlink, not a folder`);
  if (before === undefined) throw new Deno.errors.NotFound("a folder on its way is gone");
  _putBack(kept, join(root, path), () => foldersOnWay(root, path, looks) === before);
}

/**
 * What a warning says of a file that could not go back: an empty file at its name may be the
 * put-back's own claim, left by a kill between its making and the rename (see `_putBack`), or a
 * file a writer made, or opened, since: that cannot be told apart, and a writer holding it open
 * would write on into a file no name reaches if the version aside were renamed over it.
 */
function _keptAsideMessage(root: string, path: string, kept: string, error: unknown): string {
  // Looked at only when the name was found taken (the path checked to be the push folder's).
  const there = error instanceof Deno.errors.AlreadyExists
    ? lstatIfThereSync(join(root, path))
    : undefined;
  return there !== undefined && there.isFile && there.size === 0
    ? `${path} was moved aside when its deletion was cut short and is kept in ${kept}: its name ` +
      `holds an empty file (left by a kill while it was put back, or written since); if that ` +
      `empty file is not yours, move the kept one back over it`
    : `${path} was moved aside when its deletion was cut short and cannot go back: kept in ` +
      `${kept} (${(error as Error).message})`;
}

/**
 * Puts the file moved aside at `aside` back at `full`, never replacing what is there
 * (`AlreadyExists`): a hard link, or where the file system has none (exFAT and FAT through FUSE
 * answer EPERM) the file itself renamed over an empty file this call made there with `O_EXCL`, if
 * that is still what the name holds. Never a copy: one cut short (a kill, a power cut, a full
 * stick) was left under the user's name, and the next push sent it as the file and deleted it,
 * the whole file hidden in `deleting/`; a large one held the event loop for minutes. A kill between
 * the claim and the rename leaves the claim, empty, under the name: the next pass keeps the file
 * aside and says so (`_keptAsideMessage`).
 */
function _putBack(aside: string, full: string, inPlace: () => boolean = () => true): void {
  let linked = false;
  try {
    Deno.linkSync(aside, full);
    linked = true;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw error;
  }
  if (linked) {
    // The name made may be elsewhere (through a link): the file keeps its name aside as well.
    if (!inPlace()) throw new Error(_CHANGED_WHILE_PUT_BACK);
    Deno.removeSync(aside);
    return;
  }
  let claim: Deno.FileInfo | undefined;
  try {
    const file = Deno.openSync(full, { write: true, createNew: true, mode: 0o600 });
    try {
      claim = file.statSync(); // not `using`: see `syncDir` in `src/fs/_util.ts`
    } finally {
      file.close();
    }
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) throw error;
    // No entry could be made (a full stick): the name checked free, then the rename.
  }
  const there = lstatIfThereSync(full);
  const ours = claim === undefined
    ? there === undefined
    : there !== undefined && there.isFile && there.size === 0 && there.ino === claim.ino &&
      there.dev === claim.dev;
  if (!ours) throw new Deno.errors.AlreadyExists(`${full} was made while it was put back`);
  if (!inPlace()) throw new Error(_CHANGED_WHILE_PUT_BACK); // the claim may be elsewhere: left
  Deno.renameSync(aside, full);
}

const _CHANGED_WHILE_PUT_BACK = "a folder on its way changed while it was put back";

/**
 * The SHA-256 of the file at `path`, hex: read 64 KiB at a time, without holding the event loop (a
 * large file on a USB stick takes seconds to minutes to read).
 */
async function _sha256OfFile(path: string): Promise<string> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return await _sha256Of(handle);
  } finally {
    await handle.close();
  }
}

/** The sha256 (hex) of an open file's bytes from 0 to its end, or to `size` at most. */
async function _sha256Of(handle: Pick<_OpenFile, "read">, size = Infinity): Promise<string> {
  const hash = createHash("sha256");
  const buffer = new Uint8Array(64 * 1024);
  for (let at = 0, read; at < size; at += read) {
    read = (await handle.read(buffer, 0, Math.min(buffer.length, size - at), at)).bytesRead;
    if (read === 0) break;
    hash.update(buffer.subarray(0, read));
  }
  return hash.digest("hex");
}

/**
 * A stored upload found to hold a local file's bytes ({@linkcode findStoredUpload}), with the
 * file's version when compared and the hash of its bytes.
 */
export interface StoredMatch {
  upload: ListedUpload;
  identity: FileIdentity;
  digest: string;
}

/**
 * The part's upload that an in-flight record names, if the platform holds it: same `file_name`,
 * size and tags (another push folder of the same part, under other tags, may upload a file of the
 * same name and size meanwhile: taking it for ours would delete a file the platform never got),
 * requested no earlier than the record's start (less the clock skew allowed), not one of this
 * path's earlier uploads the journal knows, and holding the very bytes of the local file at `path`
 * (downloaded and compared). The bytes are what makes it safe: an earlier upload of the same name
 * and size that the journal no longer knows (a clock stepped forward, a backlog larger than the
 * ids kept) is then never taken for a new file, whose deletion would lose it. Resolves with what
 * was compared: the file's version then and the hash of its bytes, which is what the platform
 * holds (a `chmod` or a copy since the cut upload changed the version, not the bytes: taken for a
 * new version, it went twice; on FUSE, where only bytes tell a rewrite, the file found stored was
 * not deleted for want of them, and went again). Throws when the platform cannot be asked (the
 * caller keeps the record and asks again later).
 */
export async function findStoredUpload(
  ctx: Pick<
    PushContext,
    | "uploader"
    | "partId"
    | "journal"
    | "now"
    | "signal"
    | "config"
    | "compareIdleMs"
    | "attempts"
    | "minRetryDelayMs"
  >,
  path: string,
  inFlight: { size: number; startedMs: number },
  listed?: readonly ListedUpload[],
): Promise<StoredMatch | undefined> {
  const uploads = listed ?? await ctx.uploader.listUploads(
    ctx.partId,
    inFlight.startedMs - CLOCK_SKEW_MS,
    {
      signal: ctx.signal,
      keep: (u) => u.fileName === path,
      maxScanned: LOST_ANSWER_SCAN,
      retry: callRetryOf(ctx),
    },
  );
  const known = new Set(ctx.journal.get(path)?.uploads?.map((u) => u.binaryDataId));
  const tags = _tagSet(ctx.config.tags);
  // A size of 0 is none listed (an empty file is never pushed): its bytes, compared, decide. Taken
  // for another size, a copy stored before a kill was passed over and the file sent again.
  const candidates = uploads.filter((u) =>
    u.fileName === path && (u.sizeBytes === inFlight.size || u.sizeBytes === 0) &&
    !known.has(u.binaryDataId) &&
    u.timeRequestedMs >= inFlight.startedMs - CLOCK_SKEW_MS && _tagSet(u.tags) === tags &&
    // Another push folder of the part may send the same bytes to other datasets: a copy outside
    // this folder's datasets is not ours (no mirror of them would get the file).
    ctx.config.datasetIds.every((id) => u.datasetIds?.includes(id))
  );
  // The newest first (as listed): the cut upload, if stored, is the last stored. A copy that cannot
  // be read does not stop the others from being compared; if none matches, its error is told.
  let unread: unknown;
  for (const candidate of candidates) {
    try {
      const local = await _holdsFile(ctx, candidate, join(ctx.config.pushRoot, path));
      if (local !== undefined) return { upload: candidate, ...local };
    } catch (error) {
      if (ctx.signal?.aborted) throw error;
      unread ??= error;
    }
  }
  if (unread !== undefined) throw unread;
  return undefined;
}

/** Bytes of the local file read at a time to compare with a stored copy (one buffer, reused). */
const _COMPARE_BYTES = 256 * 1024;
/** A stored copy being compared fails after this long without data, as a sync download does. */
const _COMPARE_IDLE_MS = 60_000;

/**
 * The local file's version and bytes' hash when the platform's bytes for `upload` are those of the
 * file at `absolute` (read without following a symlink), else undefined: a file gone, unreadable,
 * or changed while compared compares as different. Throws when the stored copy cannot be read
 * whole (an error, a stall, a body that ends before its listed size): the caller cannot tell, and
 * waits. With no size listed (0), a body cut without an error compares as different.
 */
async function _holdsFile(
  ctx: Pick<PushContext, "uploader" | "signal" | "compareIdleMs">,
  upload: ListedUpload,
  absolute: string,
): Promise<{ identity: FileIdentity; digest: string } | undefined> {
  let local: FileHandle;
  try {
    local = await open(absolute, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const before = fstatSync(local.fd);
    if (!before.isFile()) return undefined;
    const identity = identityOf(before);
    const hash = createHash("sha256");
    const stored = (await ctx.uploader.openStored(upload, { signal: ctx.signal })).getReader();
    let stalled: IncompleteBodyError | undefined;
    const watchdog = new IdleWatchdog((_, ms) => {
      stalled = new IncompleteBodyError(`no data for ${ms} ms`);
      stored.cancel(stalled).catch(() => {});
    });
    watchdog.watch(ctx.compareIdleMs ?? _COMPARE_IDLE_MS, "stored copy");
    // The pass's abort reaches the body here directly: fetch's own signal is held only weakly
    // (see transfer_files.ts), and a stopped pass would wait on a stalled copy.
    const onAbort = () => void stored.cancel(ctx.signal?.reason).catch(() => {});
    ctx.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const mine = new Uint8Array(_COMPARE_BYTES);
      let at = 0;
      for (;;) {
        const { done, value } = await stored.read();
        if (stalled !== undefined) throw stalled;
        ctx.signal?.throwIfAborted();
        if (done) break;
        watchdog.progress();
        for (let from = 0; from < value.length; from += mine.length) {
          const part = value.subarray(from, from + mine.length);
          const { bytesRead } = await local.read(mine, 0, part.length, at);
          if (bytesRead !== part.length || !_sameBytes(mine, part)) return undefined;
          hash.update(part);
          at += part.length;
        }
      }
      if (upload.sizeBytes !== 0 && at !== upload.sizeBytes) {
        throw new IncompleteBodyError(
          `${at} of ${upload.sizeBytes} bytes of ${upload.binaryDataId}`,
        );
      }
      // The local file must end where the stored one does, the version read throughout.
      if ((await local.read(mine, 0, 1, at)).bytesRead !== 0) return undefined;
      if (!sameIdentity(identityOf(fstatSync(local.fd)), identity)) return undefined;
      return { identity, digest: hash.digest("hex") };
    } finally {
      watchdog.stop();
      ctx.signal?.removeEventListener("abort", onAbort);
      await stored.cancel().catch(() => {});
    }
  } finally {
    await local.close();
  }
}

/** Whether `part` equals the first `part.length` bytes of `mine`. */
function _sameBytes(mine: Uint8Array, part: Uint8Array): boolean {
  for (let i = 0; i < part.length; i++) if (mine[i] !== part[i]) return false;
  return true;
}

/** Tags as one comparable string, whatever their order. */
function _tagSet(tags: readonly string[]): string {
  return JSON.stringify([...new Set(tags)].sort());
}

/**
 * The `file_name` and `file_ext` a file at `path` (relative to the push folder) is uploaded with:
 * what a mirror maps back to a path (`pushedNameProblem` checks it does to this one).
 */
export function uploadName(path: string): { fileName: string; fileExtension: string } {
  return { fileName: path, fileExtension: extname(path) };
}

function _metadata(ctx: PushContext, path: string, identity: FileIdentity): UploadMetadata {
  const modified = new Date(identity.mtimeMs);
  return {
    partId: ctx.partId,
    ...uploadName(path),
    tags: ctx.config.tags,
    datasetIds: ctx.config.datasetIds,
    // Left out for a time past what a Date holds: no timestamp can be made of it.
    ...(Number.isNaN(modified.getTime()) ? {} : { fileModifyTime: modified }),
  };
}

/** Records a failure in the journal (its back-off) and describes it. */
async function _failed(
  ctx: PushContext,
  file: WalkedFile,
  error: unknown,
  options: { keepInFlight?: boolean } = {},
): Promise<FileOutcome> {
  // Under a stop, whatever the error says (a connection closed under the call, the stop's own
  // reason): the file is cut off, not refused. Classified by its text, it was held for good.
  const errorKind = ctx.signal?.aborted ? "aborted" : kindUnder(classifyError(error), ctx.signal);
  const message = describeError(error);
  if (errorKind === "aborted") {
    if (!options.keepInFlight) {
      ctx.journal.update(file.path, (e) => ({ ...e, inFlight: undefined }));
      await ctx.journal.flush();
    }
    return { kind: "failed", error: message, errorKind, permanent: false };
  }
  const now = ctx.now();
  const { ino, size, mtimeMs } = file.identity;
  // Only a refusal waits for the file to change; transient errors are retried without end. So is a
  // local error (the file unreadable, an I/O error, too many open files: no refusal, and no sign
  // of the platform out of reach either), so that a file made readable again goes untouched.
  const permanent = errorKind === "fatal" && _isRefusal(error);
  ctx.journal.update(file.path, (e) => {
    const prior = e.failure !== undefined && sameVersion(e.failure, file.identity) &&
        isSameDestination(e.failure.to, ctx.destination)
      ? e.failure
      : undefined;
    const count = (prior?.count ?? 0) + 1;
    const firstMs = prior?.firstMs ?? now;
    return {
      ...e,
      inFlight: options.keepInFlight ? e.inFlight : undefined,
      failure: {
        ino,
        size,
        mtimeMs,
        to: ctx.destination,
        count,
        firstMs,
        retryAtMs: now + backoffDelay(count, { minMs: 1000, maxMs: MAX_RETRY_INTERVAL_MS }),
        error: message,
        permanent,
        refused: permanent,
      },
    };
  });
  await ctx.journal.flush();
  return { kind: "failed", error: message, errorKind, permanent };
}

/**
 * Whether the platform refused this very file (its name, its metadata, its size): a gRPC status
 * it answered with. Other fatal errors are no answer about the file: UNIMPLEMENTED is what an
 * HTTP 404 from a gateway in front of the platform maps to (a misrouted load balancer, a deploy),
 * NOT_FOUND or FAILED_PRECONDITION may pass too, and a local error (the file unreadable) is this
 * machine's. Those are retried on the back-off schedule rather than held until the file changes.
 */
function _isRefusal(error: unknown): boolean {
  if (_isLocalFileError(error)) return false;
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code !== "number" || _REFUSALS.has(code);
}

/** The answers that refuse the file or its metadata, by code, with their names in error texts. */
const _REFUSALS: ReadonlyMap<number, string> = new Map([
  [Code.InvalidArgument, "invalid_argument"],
  [Code.AlreadyExists, "already_exists"],
  [Code.OutOfRange, "out_of_range"],
]);

/**
 * Whether a failure the journal holds for good (its error text, `[code] message`, and its
 * `refused`) is a refusal of the file. `refused: false` is not (an hour of transient failures, in
 * an earlier version). Versions before 2026-12-04 held every fatal answer so (a gateway's HTTP 404
 * is `[unimplemented]`): another code recorded is retried on the back-off schedule, so an upgraded
 * robot's push folder drains; a text without a code is held, as such an error is now, unless the
 * entry has no `refused` (written before that field existed; see below).
 */
export function isHeldRefusal(error: string, refused: boolean | undefined): boolean {
  if (refused === false) return false;
  const code = /^\[([a-z_]+)\]/.exec(error)?.[1];
  // Without `refused` (versions before 2026-12-03 08:00), `permanent` also meant an hour of
  // transient failures ("gave up after retrying for an hour: [unavailable] ...") or a local error
  // ("Permission denied (os error 13) ..."): only a refusal's code says the platform refused it.
  if (code === undefined) return refused !== undefined;
  return [..._REFUSALS.values()].includes(code);
}

/** An error of a system call on this machine (node's `code` and `syscall`), not of the platform. */
function _isLocalFileError(error: unknown): boolean {
  const { code, syscall } = (error ?? {}) as { code?: unknown; syscall?: unknown };
  return typeof code === "string" && typeof syscall === "string";
}

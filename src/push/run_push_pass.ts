/**
 * One push pass: the upload direction. Under the push folder's lock it settles what a previous run
 * left in flight (looking for those files among the part's recent uploads, so a kill after the
 * platform stored a file never makes a second copy), walks the folder, and uploads every settled,
 * regular file through a pool, deleting each one after the platform's answer when it is unchanged
 * (or, with `keep`, remembering it so an unchanged file never goes twice).
 *
 * @example
 * ```ts
 * import { FileUploader } from "../remote/file_upload.ts";
 *
 * await using uploader = new FileUploader({ appUrl, apiKeyId, apiKey, env: (name) => Deno.env.get(name) });
 * const result = await runPushPass(push, { uploader, partId, appUrl }, { logger });
 * console.log(result.uploaded, result.failed);
 * ```
 *
 * @module
 */

import { startHeapGuard } from "../async/heap_guard.ts";
import { LinkedAbort } from "../async/linked_abort.ts";
import { dirname, join } from "node:path";
import { CALL_RETRY } from "../async/retry.ts";
import { runPool } from "../async/run_pool.ts";
import {
  type FolderProbe,
  hasStableInodes,
  isOnFuse,
  lstatIfThereSync,
  probeFolderSync,
  swappedFolder,
} from "../fs/_util.ts";
import { acquireMirrorLock } from "../fs/mirror_lock.ts";
import { MirrorLocationError, resolveMirrorRoot } from "../fs/mirror_location.ts";
import { assertPushPlace } from "../fs/mirror_dir.ts";
import { ensureStateDir } from "../fs/state_dir.ts";
import type { Logger } from "../logger.ts";
import { pushedNameProblem, STATE_DIR_NAME } from "../paths.ts";
import { describeError } from "../remote/errors.ts";
import type { FileUploader, ListedUpload } from "../remote/file_upload.ts";
import { type FileIdentity, sameSentVersion, sameVersion } from "./file_identity.ts";
import type { PushConfig } from "../config.ts";
import {
  callRetryOf,
  CLOCK_SKEW_MS,
  deleteIfUnchanged,
  type FileOutcome,
  findStoredUpload,
  isHeldRefusal,
  LOST_ANSWER_SCAN,
  MAX_RETRY_INTERVAL_MS,
  type PushContext,
  pushFile,
  putBackAside,
  type StoredMatch,
  UnrecordedUploadError,
  uploadName,
} from "./push_file.ts";
import { isSameDestination, pushDestination } from "./push_destination.ts";
import type { ClockStepWatch } from "./clock_step_watch.ts";
import { type JournalOpenOptions, PushJournal } from "./push_journal.ts";
import { type WalkedFile, walkPushFolder, type WalkSkipReason } from "./walk_push_folder.ts";

/** Why a file found was not uploaded in this pass (failures are counted apart). */
export type PushSkipReason =
  | WalkSkipReason
  | "settling"
  | "empty"
  | "unchanged"
  | "changed while sent"
  | "folder changing"
  | "gone"
  | "backing off"
  | "awaiting check"
  | "name not mirrored";

/**
 * How long the ids of completed uploads are remembered for the in-flight check, which looks at
 * uploads stored from one clock skew before a cut upload began: an earlier upload of the same path
 * that could fall in that window completed at most two skews before it (ours and the platform's),
 * and the list is pruned at the end of a pass, before any later upload starts. Kept no longer: at
 * camera rates a day of ids made the journal tens of MB, rewritten every pass.
 */
const _KNOWN_UPLOADS_MS = 3 * CLOCK_SKEW_MS;
/**
 * How many of the folder's last uploads (by sequence, see `KnownUpload.seq`) keep their
 * ids whatever the clock says. A clock stepped forward (a Pi without a real-time clock, set by NTP
 * after it boots) makes a recent upload look older than `_KNOWN_UPLOADS_MS`. An id forgotten costs
 * no file (the in-flight check compares a stored copy's bytes before it takes it for the cut
 * upload, see `findStoredUpload`), but the download of a copy that cannot be the one: the check
 * looks at some 20 minutes of uploads, and this many cover 3 files a second over that time.
 * Bounded by count, not time: a folder of unique names keeps at most this many ids beyond the
 * clock's half hour (some 450 KB of journal).
 */
const _UPLOADS_KEPT_BY_COUNT = 4000;
/**
 * The most upload ids kept at all, the clock's half hour included: a backlog drained at full speed
 * sends some 1,000 small files a second, and every id kept is a journal entry held in memory (with
 * its path) and parsed at every pass: 500,000 of them, half an hour's worth, took more than the
 * heap, and every pass after died opening the journal.
 */
const _UPLOADS_KEPT_AT_MOST = 20_000;
/**
 * How long a file whose cut upload may be stored waits while the stored copy cannot be read to
 * compare (the listing answers, the download never does: a proxy that always re-encodes it, say):
 * then it is sent again, a duplicate at worst, rather than wait for good.
 */
const _COMPARE_GIVE_UP_MS = 24 * 3600_000;
/** How many paths the result lists by name; counts stay exact. */
const _LIST_CAP = 1000;
/**
 * Files given up in a row after all their tries (a transient error each, no upload between) that
 * stop a pass: the platform is out of reach, and each further file would spend its 8 tries (some
 * 20 s) for nothing. One alone does not: a platform refusing 30% of calls gives up one file in
 * 15,000, and a file the platform chokes on backs off in the journal while the others go.
 */
const _GIVEN_UP_IN_A_ROW = 3;

/** What the pass needs from outside. */
export interface PushDeps {
  /** The uploader (one per process is enough: it keeps one HTTP/2 connection). */
  uploader: Pick<FileUploader, "upload" | "listUploads" | "openStored">;
  /** The robot part the files belong to (`VIAM_MACHINE_PART_ID` in a module, `--part-id`). */
  partId: string;
  /**
   * The platform the uploader sends to (`app_url`): with the part, the tags and the datasets, the
   * destination the journal's records are kept for.
   */
  appUrl: string;
}

/** Progress of a pass, by files and bytes. */
export interface PushProgress {
  /** Files to upload in this pass. */
  filesTotal: number;
  /** Of them, done (uploaded, failed or skipped late). */
  filesDone: number;
  /** Of those done, failed. */
  filesFailed: number;
  /** Bytes of the files to upload. */
  bytesTotal: number;
  /**
   * Content bytes of the uploads under way or stored: a failed attempt's are taken back, so that a
   * retried file is not counted twice against `bytesTotal`.
   */
  bytesSent: number;
}

/** Options of {@linkcode runPushPass}. */
export interface PushPassOptions {
  /** Where the pass reports what it does. */
  logger: Logger;
  /** Cancels the pass: streams in progress are reset (nothing stored), files stay. */
  signal?: AbortSignal;
  /** Names this process in the push folder's lock. */
  owner?: string;
  /** Called as bytes go out and files finish. */
  onProgress?: (progress: PushProgress) => void;
  /**
   * Files in flight at once (default 16: a small file costs a call's round trip and little else,
   * so 1,000 of 4 KiB go in about a quarter of the time 4 at once took; one HTTP/2 connection
   * carries them all).
   */
  concurrency?: number;
  /** Awaited before each chunk with its size: the hook of a bandwidth limiter shared with sync. */
  beforeChunk?: (bytes: number, signal: AbortSignal) => Promise<void>;
  /** Only report what would be uploaded or deleted; no upload, no change, no lock. */
  dryRun?: boolean;
  /** Try files backing off from earlier failures now (a CLI run); refusals still wait for a change. */
  retryFailedNow?: boolean;
  /**
   * Tries per file within the pass (default `CALL_RETRY.attempts`, 8: the sync side's schedule; with
   * 3, a platform refusing 30% of calls failed one file in 37).
   */
  attempts?: number;
  /** Delay before the first retry within the pass, in milliseconds (default 500). */
  minRetryDelayMs?: number;
  /**
   * A stored copy downloaded to compare with a cut upload's file fails after this long without
   * data (default 60 s, as a sync download).
   */
  compareIdleMs?: number;
  /** The clock, epoch ms (tests). */
  now?: () => number;
  /**
   * Forward steps of the wall clock seen by this process's earlier passes: a file changed before
   * one waits its settle time again, in real time (a long-running caller keeps one for every pass).
   */
  clockSteps?: ClockStepWatch;
  /**
   * The most files one pass sends (default {@linkcode MAX_UPLOADS_PER_PASS}): the walk stops once
   * it has found that many to send, and the rest wait for the next pass.
   */
  maxUploads?: number;
}

/**
 * Files one push pass sends at most. A robot offline for days piles up captures in its push folder,
 * and a pass holds what it walked until it has sent it (some 260 bytes of heap a file: a dry run
 * over 1,000,000 files peaked at 342 MiB, and with the heap cap of 128 MB it ran out of memory 13 s
 * into the walk). Capped, a backlog of any size goes over several passes in bounded memory; 100,000
 * files of 4 KiB take a pass of about five minutes at the measured 300 files a second.
 */
export const MAX_UPLOADS_PER_PASS = 100_000;

/** What one pass did. */
export interface PushResult {
  /**
   * Regular files found below the push folder under a name it can send (symlinks, special files,
   * names not valid UTF-8 and what could not be looked at not included: `skipped` counts those
   * too, so `uploaded + skipped + failed` may exceed it).
   */
  found: number;
  /** Files the platform now holds from this pass (sent, or found already stored). */
  uploaded: number;
  /** Of `uploaded`, those found already stored by the in-flight check (not sent again). */
  recovered: number;
  /** Entries not uploaded, for the reasons in `skippedBy`. */
  skipped: number;
  /** Local files deleted after their upload. */
  deleted: number;
  /** Files that failed in this pass or are refused for good. */
  failed: number;
  /** Of `failed`, refusals held until the file changes (not tried: they tell nothing). */
  held?: number;
  /** Content bytes of the files uploaded (or found stored), each counted once. */
  bytes: number;
  /** `skipped` by reason. */
  skippedBy: Partial<Record<PushSkipReason, number>>;
  /** Failed files with the error (capped); `permanent` ones wait for the file to change. */
  failures: { path: string; error: string; permanent: boolean }[];
  /** With `dryRun`: the files that would be uploaded (capped at 1,000 names; `toUpload` counts all). */
  planned?: string[];
  /** With `dryRun`: how many files would be uploaded. */
  toUpload?: number;
  /**
   * With `dryRun`: how many files would be deleted (those sent before whose deletion is due, and,
   * without `keep`, each file to upload once the platform has it); `deleted` stays 0.
   */
  toDelete?: number;
  /** Why the pass as a whole failed or stopped early, if it did. */
  error?: string;
  /**
   * The walk stopped at the pass's share of files to send (`maxUploads`): more wait for the next
   * pass.
   */
  backlog?: true;
  /** Wall time of the pass. */
  durationMs: number;
}

/**
 * The garbage an upload pass may leave for V8 before a full collection is asked for. Every upload
 * is an HTTP/2 stream whose objects outlive a young-generation collection (they wait a round trip),
 * so they reach the old generation; V8 let 6-10 MB of them pile up. Measured on 1,000 files of 4
 * KiB: peak resident 103 MB with V8's own schedule, 92-94 MB with this budget, for about 0.3 s more
 * CPU. (A sync pass has its own, larger budget: `src/sync/run_pass.ts`.)
 */
const _HEAP_BUDGET_BYTES = 2 * 1024 * 1024;

/**
 * Runs one push pass over `push.pushRoot`. Throws when the push folder is unusable (a symlink, not
 * a directory), locked by another pass, or its journal unreadable; everything else is counted in
 * the result.
 */
export async function runPushPass(
  push: PushConfig,
  deps: PushDeps,
  options: PushPassOptions,
): Promise<PushResult> {
  const started = performance.now();
  const now = options.now ?? Date.now;
  const { logger } = options;
  const checked = await _checkPushRoot(push, !options.dryRun);
  if (checked.made) {
    // A new push folder is also what a misspelt push_path makes: say so once, when it is made.
    logger.warn(pushFolderMade(push.pushPath, push.pushRoot, "push_path (--push-path)"));
  }
  // As the folders spell themselves (exfat-fuse: one lock per spelling, see resolveMirrorRoot).
  push = { ...push, pushRoot: checked.root };
  const result: PushResult = {
    found: 0,
    uploaded: 0,
    recovered: 0,
    skipped: 0,
    deleted: 0,
    failed: 0,
    bytes: 0,
    skippedBy: {},
    failures: [],
    durationMs: 0,
    ...(options.dryRun ? { toUpload: 0, toDelete: 0 } : {}),
  };
  // Checked above folder by folder, then used by path: swapped for a link since, the state folder
  // would be made, and the lock taken, where the link leads (`..`: beside the Viam home).
  if (!options.dryRun) _assertPushRootInPlace(push, "");
  // Made when first needed: a pass with nothing to send writes nothing (see `ctx.folderProbe`).
  let probed: FolderProbe | undefined;
  const folderProbe = () => probed ??= probeFolderSync(join(push.pushRoot, STATE_DIR_NAME));
  const trustedOwner = options.dryRun
    ? undefined
    : _stateDirOwners(push, await ensureStateDir(push.pushRoot), folderProbe);
  const lock = options.dryRun ? undefined : await acquireMirrorLock(
    join(push.pushRoot, STATE_DIR_NAME),
    { owner: options.owner ?? "push", guards: "push folder" },
  );
  let journal: PushJournal | undefined;
  try {
    if (!options.dryRun) _assertPushRootInPlace(push, STATE_DIR_NAME);
    journal = await _openJournal(push, options.dryRun ?? false, {
      trustedOwner,
      warn: (message) => logger.warn(message),
    });
    const ctx: PushContext = {
      config: push,
      partId: deps.partId,
      destination: pushDestination({
        appUrl: deps.appUrl,
        partId: deps.partId,
        tags: push.tags,
        datasetIds: push.datasetIds,
      }),
      uploader: deps.uploader,
      journal,
      signal: options.signal,
      beforeChunk: options.beforeChunk,
      attempts: options.attempts ?? CALL_RETRY.attempts,
      minRetryDelayMs: options.minRetryDelayMs ?? CALL_RETRY.minDelayMs,
      compareIdleMs: options.compareIdleMs,
      now,
      // Made when a file is first opened or deleted: a pass with nothing to send writes nothing.
      folderProbe: options.dryRun ? undefined : folderProbe,
    };
    // A new push folder gets its (empty) journal at once: it marks the folder as one, so that a
    // sync with delete pointed at it refuses before any file is uploaded.
    if (!options.dryRun) await journal.persist();
    // Files a kill left moved aside on FUSE while their bytes were compared go back first.
    if (!options.dryRun) {
      putBackAside(push.pushRoot, (message) => logger.warn(message), { trustedOwner });
    }
    const recovered = new Set<string>();
    const unverified = options.dryRun
      ? _inFlightPaths(journal, ctx.destination).here
      : await _settleInFlight(ctx, result, logger, recovered);
    const { toUpload, walked, whole, unread } = await _walk(
      ctx,
      options,
      { unverified, recovered },
      result,
    );
    if (options.dryRun) {
      result.planned = toUpload.slice(0, _LIST_CAP).map((f) => f.path);
      result.toUpload = toUpload.length;
      // Each would be deleted once the platform has it (as the sent ones the walk counted).
      if (!push.keep) result.toDelete = (result.toDelete ?? 0) + toUpload.length;
      return result;
    }
    {
      using _heap = startHeapGuard({ budgetBytes: _HEAP_BUDGET_BYTES });
      await _uploadAll(ctx, options, toUpload, result);
    }
    // A file the walk did not reach this pass is not missing: its journal entry stays.
    // Upload ids are pruned after every pass; only a whole walk tells which files are missing.
    if (!options.signal?.aborted) _forgetMissing(journal, walked, now(), whole, unread);
    // Every change on disk: in the log, which the next pass goes on appending to.
    await journal.persist();
  } catch (error) {
    if (!options.signal?.aborted) {
      // Failed part way (EMFILE at the journal, a disk gone): what it had sent and deleted is kept
      // beside the error, for the summary to say.
      if (typeof error === "object" && error !== null) _partialPushes.set(error, result);
      throw error;
    }
    result.error = _STOPPED;
  } finally {
    // Every change that matters was flushed (and its log synced) before this: a failing close of
    // the log must not hide the pass's own outcome.
    await journal?.close().catch(() => {});
    await lock?.release();
    result.durationMs = Math.round(performance.now() - started);
  }
  _logSummary(logger, push, result, options.signal?.aborted === true);
  return result;
}

/** What push passes that failed part way had done, by the error they failed with. */
const _partialPushes = new WeakMap<object, PushResult>();

/**
 * What the push pass that threw `error` had done when it failed (files sent and deleted before the
 * journal could not be written, say), or undefined when it failed before it began (the lock, the
 * folder).
 */
export function partialPushOf(error: unknown): PushResult | undefined {
  return typeof error === "object" && error !== null ? _partialPushes.get(error) : undefined;
}

/**
 * What is said when a push folder is made because it did not exist: a misspelt `push_path` makes a
 * new empty folder that nothing will fill, and the run would report nothing found, without a word.
 */
export function pushFolderMade(pushPath: string, root: string, setting: string): string {
  return `push folder ${pushPath} (${root}) did not exist: made it, empty (nothing to push ` +
    `yet); if another folder was meant, check ${setting}`;
}

/**
 * Whether a user may own what the state folder `stateDir` holds (root, the folder's owner, the push
 * folder's, or this process's user, asked of `probe` only then), unless another user may have made
 * or changed the folder: its journal says which files the platform has, and a file it says was sent
 * is deleted. Anyone who may write the push folder (mode 777, a shared drop folder) could rename
 * the program's state folder away and make their own, with a journal naming another user's file as
 * sent: the next pass deleted that file, never sent. Refused when it is owned by neither root, the
 * push folder's owner nor this process's user, or when others may write it and the push folder is
 * not so (a file system without owners, FAT or exFAT, gives every entry the same owner and mode:
 * refused for neither). The folder is looked at by path, so the files read from it are checked
 * again by owner where they are opened (a swap of folders between the two looks).
 */
function _stateDirOwners(
  push: PushConfig,
  stateDir: string,
  probe: () => FolderProbe,
): (uid: number) => boolean {
  const folder = Deno.lstatSync(push.pushRoot);
  const state = Deno.lstatSync(stateDir);
  const othersWrite = (info: Deno.FileInfo) => ((info.mode ?? 0) & 0o022) !== 0;
  // Asked once a process (the module's, `--watch`'s passes): an idle pass of a user that does not
  // own the push folder wrote a probe file every pass otherwise.
  const own = () => _processUid ??= probe().uid;
  const trusted = (uid: number | null) =>
    uid === 0 || uid === state.uid || uid === folder.uid || uid === own();
  const why = state.uid !== 0 && state.uid !== folder.uid && state.uid !== own()
    ? `is owned by user ${state.uid}, not by root, the push folder's owner (${folder.uid}) nor ` +
      "this user"
    : othersWrite(state) && !othersWrite(folder)
    ? "may be written by other users than its owner, where the push folder may not"
    : undefined;
  if (why === undefined) return trusted;
  throw new Deno.errors.PermissionDenied(
    `push folder ${push.pushPath}: its state folder ${stateDir} ${why}: another user could make ` +
      `a push delete files it never sent; refusing to push. Run as user ${state.uid} if it is ` +
      "that user's pushes, else remove it (files sent and not yet deleted are then sent again)",
  );
}

/** This process's user id, once a push pass has had to ask (see `_stateDirOwners`). */
let _processUid: number | undefined;

/**
 * Throws when the push folder (or, with `relDir`, a folder below it on the way to `relDir`) became
 * a symlink since {@linkcode _checkPushRoot} checked it.
 */
function _assertPushRootInPlace(push: PushConfig, relDir: string): void {
  const swapped = swappedFolder(push.pushRoot, relDir);
  if (swapped === undefined) return;
  throw new Deno.errors.PermissionDenied(
    `push folder ${push.pushPath} (${push.pushRoot}): ${
      swapped === "." ? "it" : swapped
    } became a symlink as the pass began; refusing to upload or delete through it`,
  );
}

/**
 * Refuses a push folder that is a symlink or not a directory, or that lies in a mirror or another
 * push folder; creates a missing one (with `create`). Returns whether it made the folder, and the
 * folder's path with its folders as the disk spells them (see `resolveMirrorRoot`).
 */
async function _checkPushRoot(
  push: PushConfig,
  create: boolean,
): Promise<{ made: boolean; root: string }> {
  const info = await Deno.lstat(push.pushRoot).catch(() => undefined);
  if (info?.isSymlink) {
    throw new Deno.errors.PermissionDenied(
      `push folder ${push.pushPath} (${push.pushRoot}) is a symlink: refusing to upload or ` +
        "delete through it; make it a real folder inside the Viam home",
    );
  }
  if (info !== undefined && !info.isDirectory) {
    throw new Deno.errors.NotADirectory(
      `push folder ${push.pushPath} (${push.pushRoot}) is not a directory`,
    );
  }
  // Refused before anything is made: a refused folder was left behind, in a mirror or another
  // push folder (mirror and push folders alike are checked where the config is, see
  // `checkMirrorPlace`; again here for a folder made one since).
  try {
    await assertPushPlace(push.pushRoot, push.pushPath);
  } catch (error) {
    if (error instanceof MirrorLocationError) throw new Deno.errors.PermissionDenied(error.message);
    throw error;
  }
  // The folders on the way are checked, and made, one at a time inside the Viam home (whose path
  // is the push folder's less push_path), with the rules of mirror_path: real folders only.
  const parts = push.pushPath.split("/").filter((part) => part !== "" && part !== ".");
  let viamHome = push.pushRoot;
  for (const _ of parts) viamHome = dirname(viamHome);
  const resolved = await resolveMirrorRoot({
    viamHome,
    mirrorPath: push.pushPath,
    create,
    attribute: "push_path",
  });
  // The push folder's own path, its folders as the disk spells them (the home as configured).
  const root = resolved === undefined
    ? push.pushRoot
    : join(viamHome, ...resolved.split("/").slice(-parts.length));
  return { made: info === undefined && create, root };
}

/**
 * The push folder's journal, its files read only when `trustedOwner` says their owner may make
 * them (a dry run, which deletes nothing and may write nothing, not even the file telling who this
 * user is, reads any).
 */
async function _openJournal(
  push: PushConfig,
  dryRun: boolean,
  options: JournalOpenOptions,
): Promise<PushJournal> {
  const stateDir = join(push.pushRoot, STATE_DIR_NAME);
  if (dryRun) {
    // A dry run takes no lock, so the state dir may be missing: an absent journal is empty.
    const info = await Deno.lstat(stateDir).catch(() => undefined);
    if (info !== undefined && !info.isDirectory) {
      throw new Deno.errors.NotADirectory(`state dir ${stateDir} must be a plain directory`);
    }
  } else await PushJournal.discardLeftovers(stateDir);
  return await PushJournal.open(stateDir, options);
}

/** The paths recorded in flight, to `destination` (`here`) or to another one (`elsewhere`). */
function _inFlightPaths(
  journal: PushJournal,
  destination: string,
): { here: Set<string>; elsewhere: string[] } {
  const here = new Set<string>();
  const elsewhere: string[] = [];
  for (const path of journal.paths()) {
    const inFlight = journal.get(path)?.inFlight;
    if (inFlight === undefined) continue;
    if (isSameDestination(inFlight.to, destination)) here.add(path);
    else elsewhere.push(path);
  }
  return { here, elsewhere };
}

/**
 * Settles the in-flight records a previous run left (it was killed, or lost an answer): each file
 * found among the part's recent uploads is recorded as sent (then deleted or kept like any upload,
 * below); the others are cleared and go again. When the listing fails, the records stay and those
 * files wait for a later pass: sending them blind could make a second copy. Returns those paths,
 * and adds the paths found stored to `recovered` (recorded as sent with the hash of the bytes
 * compared, what the platform holds: their deletion on FUSE compares with it).
 */
async function _settleInFlight(
  ctx: PushContext,
  result: PushResult,
  logger: Logger,
  recovered: Set<string>,
): Promise<Set<string>> {
  const { here: paths, elsewhere } = _inFlightPaths(ctx.journal, ctx.destination);
  // Cut off on its way to another platform, part or set of tags: whatever that one stored is not
  // here, so the file goes again, to this destination.
  for (const path of elsewhere) ctx.journal.update(path, (e) => ({ ...e, inFlight: undefined }));
  const records = [];
  // Not there to compare (its folder moved away, a stick out for a pass): taken for not stored,
  // such a file went again when it came back, a second copy. The record waits for it, as a sent
  // version does (`_GONE_KEPT_MS`), and so does the file should the walk find it back this pass
  // (it is among the paths returned): the check runs on the next pass.
  const away = new Set<string>();
  for (const path of paths) {
    const inFlight = ctx.journal.get(path)!.inFlight!;
    if (lstatIfThereSync(join(ctx.config.pushRoot, path)) !== undefined) {
      records.push({ path, inFlight });
    } else if (ctx.now() - inFlight.startedMs < _GONE_KEPT_MS) away.add(path);
    else {
      paths.delete(path);
      ctx.journal.update(path, (e) => ({ ...e, inFlight: undefined }));
    }
  }
  if (records.length === 0) {
    await ctx.journal.flush();
    return paths;
  }
  let listed: ListedUpload[];
  try {
    const names = new Set(records.map((r) => r.path));
    listed = await ctx.uploader.listUploads(
      ctx.partId,
      Math.min(...records.map((r) => r.inFlight.startedMs)) - CLOCK_SKEW_MS,
      {
        signal: ctx.signal,
        keep: (u) => names.has(u.fileName),
        maxScanned: LOST_ANSWER_SCAN,
        retry: callRetryOf(ctx),
      },
    );
  } catch (error) {
    // The pass goes on with the other files, and fails (exit 1): these files are not pushed. (Its
    // summary says why.)
    result.error = _uncheckedError(paths.size, error);
    return paths;
  }
  const claimed = new Set<string>();
  const waiting = new Set<string>();
  for (const { path, inFlight } of records) {
    const unclaimed = listed.filter((u) => !claimed.has(u.binaryDataId));
    let found: StoredMatch | undefined;
    try {
      found = await findStoredUpload(ctx, path, inFlight, unclaimed);
    } catch (error) {
      if (ctx.signal?.aborted) throw error;
      if (ctx.now() - inFlight.startedMs < _COMPARE_GIVE_UP_MS) {
        // A stored copy's bytes could not be read to compare: the record stays, the file waits.
        waiting.add(path);
        result.error = _uncheckedError(waiting.size, error);
        continue;
      }
      // A day of it (the listing answers, the copy never reads): sent again, a duplicate at worst.
      logger.warn(
        `${path}: a stored copy of it could not be read for a day (${describeError(error)}), so ` +
          "it is sent again (a second copy, if that one was it)",
      );
    }
    if (found === undefined) {
      ctx.journal.update(path, (e) => ({ ...e, inFlight: undefined }));
      continue;
    }
    const { binaryDataId } = found.upload;
    claimed.add(binaryDataId);
    recovered.add(path);
    result.uploaded++;
    result.recovered++;
    result.bytes += found.identity.size; // compared byte for byte; the listing may give no size
    logger.info(
      `${path} was stored as ${binaryDataId} before an earlier run was cut off: not sent again`,
    );
    // The version compared, not the one the cut upload read: the platform holds its bytes, which a
    // `chmod` or a copy since then changed the version of, not the bytes (taken for a new version,
    // the file went twice).
    ctx.journal.recordSent(path, found.identity, {
      binaryDataId,
      to: ctx.destination,
      ms: ctx.now(),
      kept: ctx.config.keep,
      sha256: found.digest,
    });
  }
  await ctx.journal.flush();
  return waiting.union(away);
}

/** The pass's error while uploads cut off earlier wait for their check. */
function _uncheckedError(count: number, error: unknown): string {
  return `cannot check ${count} upload(s) cut off in an earlier run, so they wait: ${
    describeError(error)
  }`;
}

/**
 * Walks the folder and sorts what it finds: to upload, to delete (sent before), or skipped. Stops
 * at the entry after the pass's share of files to upload (`whole` is then false).
 */
async function _walk(
  ctx: PushContext,
  options: PushPassOptions,
  settled: { unverified: Set<string>; recovered: Set<string> },
  result: PushResult,
): Promise<{ toUpload: WalkedFile[]; walked: Set<string>; whole: boolean; unread: string[] }> {
  const { journal, config, now } = ctx;
  const toUpload: WalkedFile[] = [];
  const walked = new Set<string>();
  const minAgeMs = config.minAgeSeconds * 1000;
  const settledBefore = now() - minAgeMs;
  const timeSteps = new _TimeSteps();
  const root = lstatIfThereSync(config.pushRoot);
  if (root !== undefined) timeSteps.see(root.dev ?? 0, root.mtime?.getTime() ?? 0);
  const maxUploads = options.maxUploads ?? MAX_UPLOADS_PER_PASS;
  // Folders and files the walk could not read: what the journal holds below them was not seen,
  // but is not missing, so not forgotten (the rest of the journal is).
  const unread: string[] = [];
  for await (const entry of walkPushFolder(config.pushRoot, { signal: options.signal })) {
    if (toUpload.length >= maxUploads) {
      result.backlog = true;
      return { toUpload, walked, whole: false, unread };
    }
    walked.add(entry.path);
    if (entry.kind === "skipped") {
      _skip(result, options.logger, entry.path, entry.reason);
      if (entry.reason === "name not valid UTF-8") {
        options.logger.warn(
          `keeping ${
            JSON.stringify(entry.path)
          }: its name is not valid UTF-8 (shown with U+FFFD), or is the name such a name is ` +
            "shown as, so it cannot be sent under it; rename it to push it",
        );
      } else if (entry.reason === "not readable") {
        unread.push(entry.path); // its journal entry stays
        options.logger.warn(
          `keeping ${JSON.stringify(entry.path)}: it cannot be looked at (${entry.detail}); ` +
            "the rest of the push folder goes",
        );
      } else if (entry.reason === "folder not readable") {
        unread.push(entry.path);
        options.logger.warn(
          `not pushing the folder ${JSON.stringify(entry.path)}: ${entry.detail}; its files ` +
            "wait until it can be read (the rest of the push folder goes)",
        );
      } else if (entry.reason === "holds another mirror or push folder") {
        // Found so in the walk's second read of a folder past 10,000 entries, after some of its
        // files were given: they are the other folder's, not sent from here.
        const inside = `${entry.path}/`;
        let kept = 0;
        for (const file of toUpload) if (!file.path.startsWith(inside)) toUpload[kept++] = file;
        toUpload.length = kept;
        options.logger.warn(
          `not pushing ${JSON.stringify(entry.path)}: it holds a ${STATE_DIR_NAME} folder (a ` +
            "mirror or a push folder of its own), so its files are that folder's; if it is no " +
            `longer pushed or mirrored on its own, remove its ${STATE_DIR_NAME} once its files ` +
            "are all sent (those it still holds are then sent from here, some maybe again)",
        );
      }
      continue;
    }
    result.found++;
    const { identity, path } = entry;
    // What the journal kept of a file while it was away holds only where an inode number and a
    // change time can tell another file: on FAT and exFAT (through FUSE or the kernel) another
    // card's file (a logger with a fixed clock: same size and times) came back as the one sent,
    // never to be sent itself. Forgotten, not passed over for this pass alone: a file that does
    // not go now (settling, failing) would be taken for it on the next.
    let known = journal.get(path);
    if (known?.goneMs !== undefined && !hasStableInodes(dirname(join(config.pushRoot, path)))) {
      journal.update(path, (e) => ({ ...e, sent: undefined }));
      known = journal.get(path);
    }
    // What the journal says of the file holds for the destination it was said of.
    const sent = isSameDestination(known?.sent?.to, ctx.destination) ? known?.sent : undefined;
    const failure = isSameDestination(known?.failure?.to, ctx.destination)
      ? known?.failure
      : undefined;
    if (settled.recovered.has(path) && !(sent !== undefined && sameSentVersion(sent, identity))) {
      // Found stored by the in-flight check, but changed since it was sent: a new version, which
      // goes as any other, so that stored copy is not counted as this pass's upload of it too.
      result.uploaded--;
      result.recovered--;
      result.bytes -= sent?.size ?? 0;
      options.logger.info(`${path} changed since that copy was stored: it goes as a new version`);
    }
    const { fileName, fileExtension } = uploadName(path);
    const nameProblem = pushedNameProblem(fileName, fileExtension);
    if (nameProblem !== undefined) {
      // Sent, it would reach no mirror (or another path): kept, named each pass until renamed.
      _skip(result, options.logger, path, "name not mirrored");
      options.logger.warn(`keeping ${JSON.stringify(path)}: ${nameProblem}; rename it to push it`);
    } else if (settled.unverified.has(path)) {
      _skip(result, options.logger, path, "awaiting check");
    } else if (
      sent !== undefined &&
      (sameSentVersion(sent, identity) ||
        (config.keep && sent.kept === true &&
          _renumberedOnFuse(config.pushRoot, path, sent, identity))) &&
      (config.keep || sent.kept === false)
    ) {
      // Sent before: with keep it stays; without, its deletion was cut short (or it was found
      // stored by the in-flight check) and happens now.
      // (One found stored this pass is counted as uploaded already, not as skipped too.)
      if (config.keep) {
        // Kept from now on (maybe for months): a pass without keep sends it again first.
        if (sent.kept !== true || sent.ino !== identity.ino) {
          journal.update(
            path,
            (e) => ({ ...e, sent: { ...e.sent!, ino: identity.ino, kept: true } }),
          );
        }
        if (!settled.recovered.has(path)) _skip(result, options.logger, path, "unchanged");
      } else if (options.dryRun) result.toDelete = (result.toDelete ?? 0) + 1;
      else await _deleteSent(ctx, options.logger, entry, sent, result);
    } else if (
      !_settled(identity, {
        // The first sight is read (and stamped) before the clock: read after it, a clock that
        // moved on in between put the first sight after `now`, and min age 0 waited a pass.
        firstSeenMs: _firstSeenIfAhead(ctx, path, identity),
        now: now(),
        settledBefore,
        minAgeMs,
        options,
        stepMs: timeSteps.of(identity),
      })
    ) {
      _skip(result, options.logger, path, "settling");
    } else if (identity.size === 0) {
      // Kept, as viam-server's data manager keeps them: a file made empty and written later (a log
      // opened ahead of its first line) would be sent empty and deleted under its writer.
      _skip(result, options.logger, path, "empty");
    } else if (failure !== undefined && sameVersion(failure, identity)) {
      // A refusal waits for the file to change. (Earlier versions also gave a file up after an
      // hour of transient failures, or on a local error: `isHeldRefusal` retries those.)
      if (failure.permanent && isHeldRefusal(failure.error, failure.refused)) {
        _fail(result, path, failure.error, true);
        result.held = (result.held ?? 0) + 1;
      } else if (_backingOff(failure.retryAtMs, now()) && !options.retryFailedNow) {
        _skip(result, options.logger, path, "backing off");
      } else toUpload.push(entry);
    } else toUpload.push(entry);
  }
  return { toUpload, walked, whole: true, unread };
}

/**
 * Whether a kept file differs from the version sent only by its inode number, on a FUSE disk:
 * exfat-fuse numbers a file anew (its FUSE node id) each time the kernel evicts its inode, with no
 * remount, so an unchanged kept file was sent again as often as memory pressure evicted it. Not on
 * the kernel's FAT and exFAT, which number a file afresh only when it is read again after a
 * remount: a card written elsewhere meanwhile may hold another file of that size and those times
 * (a logger with a fixed clock), which would never be sent; a kept file is sent again instead.
 */
function _renumberedOnFuse(
  root: string,
  path: string,
  sent: { ino: number; size: number; mtimeMs: number; ctimeMs?: number },
  identity: FileIdentity,
): boolean {
  return sent.ino !== identity.ino && sameSentVersion({ ...sent, ino: identity.ino }, identity) &&
    isOnFuse(dirname(join(root, path)));
}

/**
 * Whether a failed file still waits for its retry time. One further ahead than the longest wait
 * was set by a clock that has since stepped back (an RTC that ran ahead, put right by NTP): the
 * file goes now rather than when the clock catches up with it.
 */
function _backingOff(retryAtMs: number, nowMs: number): boolean {
  return retryAtMs > nowMs && retryAtMs - nowMs <= MAX_RETRY_INTERVAL_MS;
}

/**
 * Deletes a file sent before (a kill cut its deletion, or the in-flight check found it), by the
 * hash of its bytes the journal kept (`sha256`, which on FUSE is what tells the file unchanged).
 */
async function _deleteSent(
  ctx: PushContext,
  logger: Logger,
  file: WalkedFile,
  { binaryDataId, sha256 }: { binaryDataId: string; sha256?: string },
  result: PushResult,
): Promise<void> {
  try {
    if (await deleteIfUnchanged(ctx, file.path, file.identity, { sentDigest: sha256 })) {
      result.deleted++;
      logger.info(`deleted ${file.path}: the platform has it as ${binaryDataId}`);
    } else _skip(result, logger, file.path, "changed while sent");
  } catch (error) {
    logger.warn(`cannot delete ${file.path}, sent as ${binaryDataId}: ${describeError(error)}`);
  }
}

async function _uploadAll(
  ctx: PushContext,
  options: PushPassOptions,
  files: WalkedFile[],
  result: PushResult,
): Promise<void> {
  const { logger } = options;
  const progress: PushProgress = {
    filesTotal: files.length,
    filesDone: 0,
    filesFailed: 0,
    bytesTotal: files.reduce((n, f) => n + f.identity.size, 0),
    bytesSent: 0,
  };
  options.onProgress?.({ ...progress });
  let stopped: string | undefined;
  let givenUpInARow = 0;
  let deniedInARow = 0;
  // The uploads in flight once the platform is found out of reach are cut off: each would wait out
  // its own timeouts (two minutes against a platform that takes calls and never answers) for
  // nothing. They go again on the next pass, as after a stop.
  using cutOff = new LinkedAbort(ctx.signal);
  const uploadCtx: PushContext = {
    ...ctx,
    signal: cutOff.signal,
    onChunk: (bytes) => {
      progress.bytesSent += bytes;
      options.onProgress?.({ ...progress });
    },
  };
  const tasks = files.map((file) => async () => {
    let outcome: FileOutcome;
    try {
      outcome = await pushFile(uploadCtx, file);
    } catch (error) {
      // Stored, not recorded: counted as sent before the pass fails (it said 0 uploaded).
      if (error instanceof UnrecordedUploadError) count(error.outcome, file);
      throw error;
    }
    try {
      count(outcome, file);
    } finally {
      // Told once the file is counted (a progress sink that throws leaves the counts whole). A
      // file cut off by a stop is not done: it goes again on the next pass (its bytes are taken
      // back as the stream resets).
      if (outcome.kind !== "failed" || outcome.errorKind !== "aborted") {
        progress.filesDone++;
        if (outcome.kind === "failed") progress.filesFailed++;
        options.onProgress?.({ ...progress });
      }
    }
  });
  const count = (outcome: FileOutcome, file: WalkedFile): void => {
    switch (outcome.kind) {
      case "uploaded": {
        givenUpInARow = 0;
        deniedInARow = 0;
        result.uploaded++;
        result.bytes += outcome.bytes;
        if (outcome.recovered) result.recovered++;
        if (outcome.deleted) result.deleted++;
        const fate = outcome.deleted
          ? "deleted locally"
          : outcome.deleteError !== undefined
          ? `not deleted (${outcome.deleteError}); a later pass that finds it unchanged deletes it`
          : ctx.config.keep
          ? "kept (keep)"
          : "kept: it changed after it was read, so it goes again";
        const line =
          `uploaded ${file.path} (${file.identity.size} bytes) as ${outcome.binaryDataId}; ${fate}`;
        // A file the program meant to delete and could not is worth a look: not an info line.
        if (outcome.deleteError !== undefined) logger.warn(line);
        else logger.info(line);
        return;
      }
      case "skipped":
        _skip(result, logger, file.path, outcome.reason);
        return;
      case "failed":
        if (outcome.errorKind === "aborted") {
          stopped ??= outcome.error;
          return;
        }
        _fail(result, file.path, outcome.error, outcome.permanent);
        logger.warn(
          `upload of ${file.path} failed${
            outcome.permanent ? " for good (until the file changes)" : ", retried later"
          }: ${outcome.error}`,
        );
        // A refused key fails every file alike: stop rather than walk through them all. One file
        // denied while others go is no refused key: only a run of them (no upload between) stops.
        deniedInARow = outcome.errorKind === "auth" ? deniedInARow + 1 : 0;
        if (deniedInARow === _GIVEN_UP_IN_A_ROW) {
          // Files sent this pass show the key works: then it lacks a right these files need.
          stopped ??= result.uploaded === 0
            ? `the API key was refused: ${outcome.error}`
            : `${deniedInARow} files in a row were denied, though ${result.uploaded} went with ` +
              `the same key this pass (the last: ${outcome.error}); the rest go on the next pass`;
        }
        givenUpInARow = outcome.errorKind === "transient" ? givenUpInARow + 1 : 0;
        if (givenUpInARow === _GIVEN_UP_IN_A_ROW) {
          // "After their tries": up to `ctx.attempts`, two when each timed out (CALL_RETRY).
          stopped ??= `the platform is out of reach: ${givenUpInARow} files in a row were given ` +
            `up after their tries (the last: ${outcome.error}); the rest go on the next pass`;
          cutOff.abort(new Error(stopped));
        }
    }
  };
  await runPool(tasks, {
    concurrency: options.concurrency ?? 16,
    signal: options.signal,
    shouldContinue: () => stopped === undefined,
  });
  if (options.signal?.aborted) {
    result.error = _STOPPED;
  } else if (stopped !== undefined) result.error = stopped;
}

/**
 * How long a whole walk that no longer finds a file sent and still expected there (kept under
 * `keep`, or whose deletion failed) keeps the version sent, and an upload cut off whose file is
 * not there to compare waits for it: a folder moved away and back, or a stick unmounted for a
 * pass, came back to files the journal had forgotten, each sent again.
 */
const _GONE_KEPT_MS = 30 * 24 * 3600_000;
/**
 * The most such versions kept (the latest gone): a kept folder that another program empties (a
 * camera's, with its own clean-up) would otherwise add three entries a second to the journal.
 */
const _GONE_KEPT_AT_MOST = 4_000;

/**
 * Forgets what the journal holds for files no longer in the folder, and old upload ids: those older
 * than `_KNOWN_UPLOADS_MS` by the clock, except the folder's last `_UPLOADS_KEPT_BY_COUNT` uploads
 * by sequence, which a clock set forward would otherwise take. A path whose in-flight check is
 * still to run (the platform was out of reach) keeps all its ids, however long that takes. A sent
 * version (a file deleted after its upload has none left) is kept for `_GONE_KEPT_MS`, at most
 * `_GONE_KEPT_AT_MOST` of them, marked with when it went (`goneMs`).
 */
function _forgetMissing(
  journal: PushJournal,
  walked: Set<string>,
  now: number,
  whole: boolean,
  unread: readonly string[],
): void {
  const unreadBelow = (path: string) =>
    unread.some((dir) => path === dir || path.startsWith(`${dir}/`));
  const sequence: number[] = [];
  for (const path of journal.paths()) {
    for (const upload of journal.get(path)?.uploads ?? []) sequence.push(upload.seq ?? 0);
  }
  const sorted = Float64Array.from(sequence).sort();
  const nth = (n: number) => sequence.length <= n ? 0 : sorted[sequence.length - n];
  const lastKept = nth(_UPLOADS_KEPT_BY_COUNT);
  const lastAtAll = nth(_UPLOADS_KEPT_AT_MOST);
  const unseen = (path: string) => whole && !walked.has(path) && !unreadBelow(path);
  const gone: { path: string; ms: number }[] = [];
  for (const path of journal.paths()) {
    const e = journal.get(path);
    if (e?.sent === undefined || !unseen(path)) continue;
    // Since this pass when unmarked, or marked ahead of the clock (a clock set back since).
    const ms = typeof e.goneMs === "number" && e.goneMs <= now ? e.goneMs : now;
    if (now - ms < _GONE_KEPT_MS) gone.push({ path, ms });
  }
  gone.sort((a, b) => b.ms - a.ms);
  const goneKept = new Map(gone.slice(0, _GONE_KEPT_AT_MOST).map(({ path, ms }) => [path, ms]));
  for (const path of journal.paths()) {
    journal.update(path, (e) => {
      const uploads = e.inFlight !== undefined ? e.uploads : e.uploads?.filter((u) => {
        const seq = u.seq ?? 0;
        return seq >= lastKept || (u.ms > now - _KNOWN_UPLOADS_MS && seq >= lastAtAll);
      });
      if (!unseen(path)) {
        return walked.has(path) ? { ...e, uploads, goneMs: undefined } : { ...e, uploads };
      }
      // An upload cut off whose file is away waits for it (see `_settleInFlight`).
      const goneMs = goneKept.get(path);
      return goneMs === undefined
        ? { uploads, inFlight: e.inFlight }
        : { uploads, inFlight: e.inFlight, sent: e.sent, goneMs };
    });
  }
}

/**
 * When the file last changed, for its settle time: the later of its modification and change times.
 * The change time, which only the kernel sets, also counts: a copy whose modification time a tool
 * put back (`cp -p`, `rsync -t`, `shutil.copy2`) under a temporary name its producer renames a
 * moment later would otherwise look settled for hours, and be sent under that name and deleted
 * before the rename. A time more than the clock skew in the future (a modification time set by a
 * tool or copied from a machine whose clock ran ahead, a change time stamped before the clock was
 * put back) is not waited for: the other one counts then.
 *
 * The modification time is taken at the end of its file system's time step (`stepMs`, see
 * {@linkcode _TimeSteps}), the first moment no write can have come since: cut to whole seconds
 * (ext4 with 128-byte inodes, ext2, ext3, exFAT; FAT two), a file written at S.93 looked 0.93 s
 * older than it was, and one whose writer paused 9.6 s was sent cut short at the default settle
 * time of 10 s and deleted (a reviewer, 5 of 5 runs on ext4 of 128-byte inodes and exfat-fuse); at
 * a settle time under a second, a plain rewrite within the second of the last one was sent as a
 * mix of both versions (the times the send compares with had not moved). Since a file is read only
 * once that step has ended, a write while it is sent moves its time. What it costs there: a file
 * waits up to a step more than its settle time.
 */
function _lastChangeMs(
  identity: FileIdentity,
  at: { now: number; stepMs: number; minAgeMs: number; firstSeenMs?: number },
): number {
  const ahead = at.now + CLOCK_SKEW_MS;
  const mtimeAhead = identity.mtimeMs > ahead;
  const ctimeAhead = identity.ctimeMs > ahead;
  // Both ahead (a camera's clock on FAT or exFAT, which hold no kernel's change time; this clock
  // put back): since this machine first saw that version, else it waits until the clock gets there.
  if (mtimeAhead && ctimeAhead) return at.firstSeenMs ?? identity.ctimeMs;
  if (mtimeAhead) return identity.ctimeMs;
  const mtimeEnd = at.stepMs <= 1
    ? identity.mtimeMs
    : Math.floor(identity.mtimeMs / at.stepMs) * at.stepMs + at.stepMs;
  // A change time that far ahead was stamped before the clock was put back: not waited for.
  if (ctimeAhead) return mtimeEnd;
  // Deno gives the change time in whole seconds. One past the modification time's second (that
  // time put back by the writer, or the file renamed or its mode changed since) is all that tells
  // when it was last written: at the end of its second, as for a coarse modification time (a
  // rewrite in place at S.85 with its time put back was sent 1.2 s later at a settle time of 2 s,
  // and deleted under its writer: a re-reviewer). Not at a settle time of 0, which waits for
  // nothing.
  const ctimeEnd = at.minAgeMs > 0 && identity.ctimeMs > identity.mtimeMs
    ? identity.ctimeMs + 1000
    : identity.ctimeMs;
  return Math.max(mtimeEnd, ctimeEnd);
}

/**
 * The time step of each device's file system, as the times seen on it tell: finer than a second
 * once one of them is not a whole second (the push folder's own, then each file's), else as a
 * whole-second time says: 1000, or 2000 at an even second (FAT's two; a whole-second file system
 * at an even second is taken as the coarser). A fine file system stamps a whole second one time in
 * a thousand, so the first evidence comes before the first file nearly always; no file is written
 * to learn it (a dry run learns it too).
 */
class _TimeSteps {
  readonly #fine = new Set<number>();

  /** Takes in a time stamped on `dev`. */
  see(dev: number, mtimeMs: number): void {
    if (mtimeMs % 1000 !== 0) this.#fine.add(dev);
  }

  /** The step of the file system `identity` was stamped by (see it first). */
  of(identity: FileIdentity): number {
    this.see(identity.dev, identity.mtimeMs);
    if (this.#fine.has(identity.dev)) return 1;
    return identity.mtimeMs % 2000 === 0 ? 2000 : 1000;
  }
}

/**
 * When this machine first saw the file's version, for one whose times both lie more than the clock
 * skew ahead (recorded in the journal at its first sight); undefined for any other file.
 */
function _firstSeenIfAhead(
  ctx: PushContext,
  path: string,
  identity: FileIdentity,
): number | undefined {
  const now = ctx.now();
  if (!(identity.mtimeMs > now + CLOCK_SKEW_MS && identity.ctimeMs > now + CLOCK_SKEW_MS)) {
    return undefined;
  }
  const seen = ctx.journal.get(path)?.seen;
  // Not by inode number: exFAT has none, and exfat-fuse numbers a file anew (its FUSE node id)
  // each time the kernel evicts its inode: under memory pressure every pass was a first sight.
  if (
    seen !== undefined && seen.size === identity.size && seen.mtimeMs === identity.mtimeMs &&
    seen.ctimeMs === identity.ctimeMs
  ) {
    return seen.firstMs;
  }
  const { ino, size, mtimeMs, ctimeMs } = identity;
  ctx.journal.update(path, (e) => ({ ...e, seen: { ino, size, mtimeMs, ctimeMs, firstMs: now } }));
  return now;
}

/**
 * Whether a file has stayed unchanged for its settle time: on the wall clock, and, after a forward
 * step of that clock this process saw, in real time since the step.
 */
function _settled(
  identity: FileIdentity,
  at: {
    now: number;
    settledBefore: number;
    minAgeMs: number;
    options: PushPassOptions;
    /** The time step of the file system holding the file. */
    stepMs: number;
    /** When this machine first saw a version whose times both lie ahead of its clock. */
    firstSeenMs?: number;
  },
): boolean {
  const lastChange = _lastChangeMs(identity, at);
  // First seen only now (the clock moved on since the walk began): aged by the time since then,
  // so that a settle time of 0 sends it at once rather than a pass later.
  const firstSeenAged = at.firstSeenMs !== undefined && lastChange === at.firstSeenMs &&
    at.now - lastChange >= at.minAgeMs;
  return (lastChange <= at.settledBefore || firstSeenAged) &&
    at.options.clockSteps?.settled(lastChange, at.minAgeMs) !== false;
}

function _skip(result: PushResult, logger: Logger, path: string, reason: PushSkipReason): void {
  result.skipped++;
  result.skippedBy[reason] = (result.skippedBy[reason] ?? 0) + 1;
  logger.debug(`not uploading ${path}: ${reason}`);
}

function _fail(result: PushResult, path: string, error: string, permanent: boolean): void {
  result.failed++;
  if (result.failures.length < _LIST_CAP) result.failures.push({ path, error, permanent });
}

/** A stopped pass's `error`: a stop is the caller's (a resource removed or reconfigured), no fault. */
const _STOPPED = "the push pass was stopped; files cut off go again on the next pass";

/** The pass's line: a warning when files failed or the pass failed; a stop alone is no failure. */
function _logSummary(
  logger: Logger,
  push: PushConfig,
  result: PushResult,
  stopped: boolean,
): void {
  const reasons = Object.entries(result.skippedBy).map(([reason, n]) => `${n} ${reason}`);
  const line = `push of ${push.pushPath}: ${result.found} found, ${result.uploaded} uploaded ` +
    `(${result.bytes} bytes), ${result.deleted} deleted, ${result.skipped} skipped` +
    (reasons.length ? ` (${reasons.join(", ")})` : "") + `, ${result.failed} failed` +
    ` in ${result.durationMs} ms` + (result.backlog ? "; more files wait for the next pass" : "");
  if (result.failed > 0 || (result.error !== undefined && !stopped)) {
    logger.warn(result.error === undefined ? line : `${line}; ${result.error}`);
  } else if (stopped) logger.info(`${line}; ${_STOPPED}`);
  else if (result.uploaded > 0 || result.deleted > 0) logger.info(line);
  // A pass that changed nothing is no news: a module pushing every minute would say it all day.
  else logger.debug(line);
}

/**
 * The push pass's memory, under the push folder's state dir: a snapshot
 * (`<push folder>/.data-mirror/push-journal.json`, replaced atomically and durably) and a log of
 * the changes made since (`push-journal.log`, one JSON line per changed entry, appended and
 * fdatasynced). A change costs one short append, not a rewrite of every entry (which made a pass
 * quadratic in the files it sent); the log is folded into the snapshot when it grows past the
 * snapshot's size (and 1 MiB), and the next run appends to the log it finds, cut back to its last
 * whole line: a pass that sends one file writes one line, not the journal (rewritten and synced at
 * every such pass, it wore an SD card by 1 MB a second at one pass a second). A kill at any instant
 * leaves a readable journal: a torn last line is a change whose `flush` never resolved, and is
 * dropped; a log older than the snapshot (its removal lost) is recognised by its generation and
 * ignored.
 *
 * Per file (by its path below the push folder) it holds:
 * - `inFlight`: written, and on disk, before an upload starts; cleared once the answer is recorded
 *   or the stream is known to have stored nothing. Found on the next run, it means "this file may
 *   have been stored": the pass looks for it among the part's recent uploads before sending again.
 * - `sent`: the version the platform has (with its binary data id). With `keep` it stops an
 *   unchanged file from going twice; without, it marks a file to delete whose deletion a kill cut.
 * - `failure`: the back-off of a failing file (failures, first failure, next try), which outlives
 *   passes and restarts, and a permanent refusal with the platform's message.
 * - `uploads`: ids of this path's recent completed uploads, so a later in-flight check never takes
 *   an earlier upload of the same name and size for the one it looks for.
 *
 * Writes are coalesced: callers that change entries while a write runs share the next one.
 *
 * @example
 * ```ts
 * const journal = await PushJournal.open("/home/pi/.viam/outbox/.data-mirror");
 * journal.update("a.jpg", (e) => ({ ...e, inFlight: { ino: 1, size: 3, mtimeMs: 0, startedMs: Date.now() } }));
 * await journal.flush();
 * ```
 *
 * @module
 */

import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CoalescedRuns } from "../async/coalesced_runs.ts";
import { createOwnLog } from "../fs/own_file.ts";
import { assertStateDirInPlace, isFolderProbeName, syncDir } from "../fs/_util.ts";
import { isAtomicLeftoverOf, writeFileAtomic } from "../fs/atomic_write.ts";
import { PUSH_JOURNAL_LOG_NAME, PUSH_JOURNAL_NAME } from "../fs/state_dir.ts";

export { PUSH_JOURNAL_LOG_NAME, PUSH_JOURNAL_NAME };

/** The log is folded into the snapshot once it is larger than this and than the snapshot. */
const _MIN_COMPACT_BYTES = 1024 * 1024;

/** A remembered version of a file (no device id: see `sameVersion`). */
export interface RememberedVersion {
  /** Inode number. */
  ino: number;
  /** Size in bytes. */
  size: number;
  /** Modification time, epoch ms. */
  mtimeMs: number;
  /**
   * Status change time, epoch ms (absent in journals written before it was kept): a rewrite of the
   * same size whose modification time was put back changes it.
   */
  ctimeMs?: number;
}

/** Options of {@linkcode PushJournal.open}. */
export interface JournalOpenOptions {
  /**
   * Whether a journal file of user `uid` is read (root, the state folder's owner, this user): one
   * of another user's, put in place by a swap of folders, is refused (see `_stateDirOwners` in
   * `run_push_pass.ts`). Any, when not given.
   */
  trustedOwner?: (uid: number) => boolean;
  /** Told of a journal file found as a symlink or a special file (not read: see `_readIfThere`). */
  warn?: (message: string) => void;
}

/** A completed upload the journal remembers. */
export interface KnownUpload {
  binaryDataId: string;
  /** When it completed, by this machine's clock (epoch ms). */
  ms: number;
  /**
   * Its place among the folder's uploads (1, 2, ...: one more than any the journal held when it was recorded),
   * which no clock step changes. Absent in journals written before it was kept.
   */
  seq?: number;
}

/**
 * Where a record's upload went: the key of `pushDestination` (src/push/push_destination.ts). A record
 * speaks for that destination only; absent in journals written before it was kept.
 */
export interface Addressed {
  to?: string;
}

/** What the journal holds for one path. */
export interface JournalEntry {
  /** An upload that started and whose outcome is not recorded. */
  inFlight?: RememberedVersion & Addressed & { startedMs: number };
  /** The version the platform at `to` holds. */
  sent?: RememberedVersion & Addressed & {
    binaryDataId: string;
    sentMs: number;
    /**
     * Whether the file was kept in place since (sent or found under `keep`), maybe for months: the
     * platform may have dropped it since (retention, a clean-up), so a pass without `keep` sends it
     * again before it deletes it, rather than trust an old answer. Absent (a journal of an earlier
     * version) counts as kept; only `false` is deleted on the answer.
     */
    kept?: boolean;
    /**
     * The sha256 (hex) of the bytes the platform holds, when known and the file is to be deleted:
     * on FUSE, where change times cannot tell a rewrite, the deletion compares the file's bytes
     * with it. Kept for a deletion a kill cut off (without it, the file was sent again).
     */
    sha256?: string;
  };
  /** The file's failures, for its back-off. */
  failure?: RememberedVersion & Addressed & {
    /** Failed passes so far. */
    count: number;
    /** When the first of them failed (epoch ms). */
    firstMs: number;
    /** Not tried again before this (epoch ms). */
    retryAtMs: number;
    /** The last error, as reported. */
    error: string;
    /** Refused for good: not tried again until the file changes. */
    permanent: boolean;
    /**
     * The platform refused it. `false` beside `permanent` in journals of versions that gave a file
     * up after an hour of transient failures: such a file is retried. Absent in journals older
     * still, where `permanent` also meant that or a local error: counts as refused only when its
     * `error` names a refusal's code (`isHeldRefusal`).
     */
    refused?: boolean;
  };
  /** Recent completed uploads of this path. */
  uploads?: KnownUpload[];
  /**
   * A version whose modification and change times both lie ahead of the clock (a camera's file on
   * FAT or exFAT, where no kernel sets the change time): when this machine first saw it, by its
   * clock, which its settle time then counts from.
   */
  seen?: RememberedVersion & { firstMs: number };
  /**
   * When a whole walk first did not find the file whose `sent` version this entry keeps (epoch
   * ms): a folder moved away and back, a stick out for a pass. The entry keeps that version a while
   * (see `_forgetMissing` in run_push_pass.ts), so that the file's return is not a second upload.
   */
  goneMs?: number;
}

interface _JournalFile {
  version: 1;
  /** Which log continues this snapshot (absent in journals written before the log: 0). */
  generation?: number;
  files: Record<string, JournalEntry>;
}

/** A log line: the entry of `p` as it now is (absent: dropped). */
interface _LogLine {
  p: string;
  e?: JournalEntry;
}

/** The journal of one push folder. */
export class PushJournal {
  readonly #path: string;
  readonly #logPath: string;
  readonly #entries: Map<string, JournalEntry>;
  #lastSeq?: number;
  /** Paths changed since the last write. */
  readonly #dirty = new Set<string>();
  #generation: number;
  /** The writes to disk, one at a time; changes made during one go in the next. */
  readonly #writes = new CoalescedRuns();
  /** The log this instance appends to (opened by its first append). */
  #log: FileHandle | undefined;
  #logBytes = 0;
  #snapshotBytes: number;
  /** A log was found that does not continue the snapshot: the first write folds it in. */
  #compactFirst: boolean;
  /** The bytes of whole lines of a log found continuing the snapshot: the first write appends. */
  #resumeBytes: number | undefined;

  private constructor(
    stateDir: string,
    entries: Map<string, JournalEntry>,
    state: {
      generation: number;
      snapshotBytes: number;
      logFound: boolean;
      resumeBytes: number | undefined;
    },
  ) {
    this.#path = join(stateDir, PUSH_JOURNAL_NAME);
    this.#logPath = join(stateDir, PUSH_JOURNAL_LOG_NAME);
    this.#entries = entries;
    this.#generation = state.generation;
    this.#snapshotBytes = state.snapshotBytes;
    this.#compactFirst = state.logFound && state.resumeBytes === undefined;
    this.#resumeBytes = state.resumeBytes;
    this.#logBytes = state.resumeBytes ?? 0;
  }

  /**
   * Reads the journal in `stateDir` (absent files are empty), changing nothing on disk. A snapshot
   * that is not valid JSON of this shape, or a log with a line that is not (other than a torn last
   * one), is an error naming the file: they are only written whole, so they were edited by hand.
   */
  static async open(stateDir: string, options: JournalOpenOptions = {}): Promise<PushJournal> {
    const path = join(stateDir, PUSH_JOURNAL_NAME);
    const text = await _readIfThere(path, options);
    let parsed: _JournalFile = { version: 1, files: {} };
    if (text !== undefined) {
      try {
        parsed = JSON.parse(text);
      } catch (error) {
        // V8's message quotes the text: named by kind only.
        throw _unreadable(`push journal ${path} is not valid JSON (${(error as Error).name})`);
      }
      if (parsed?.version !== 1 || typeof parsed.files !== "object" || parsed.files === null) {
        throw _unreadable(`push journal ${path} has an unknown format (expected version 1)`);
      }
    }
    const generation = parsed.generation ?? 0;
    const entries = new Map(Object.entries(parsed.files));
    for (const [name, entry] of entries) {
      const problem = _shapeProblem(entry);
      if (problem !== undefined) {
        throw _unreadable(`push journal ${path}: the entry of ${JSON.stringify(name)} ${problem}`);
      }
    }
    const logPath = join(stateDir, PUSH_JOURNAL_LOG_NAME);
    const log = await _readIfThere(logPath, options);
    const continues = log !== undefined && _replay(logPath, log, generation, entries);
    return new PushJournal(stateDir, entries, {
      generation,
      snapshotBytes: text?.length ?? 0,
      logFound: log !== undefined,
      // Up to its last newline: what follows is a torn line, cut off before the next append.
      resumeBytes: continues
        ? new TextEncoder().encode(log.slice(0, log.lastIndexOf("\n") + 1)).length
        : undefined,
    });
  }

  /**
   * Removes the temporary copies of the snapshot that passes killed while they replaced it left in
   * `stateDir` (each up to the journal's size), and the files of folder probes killed before they
   * removed them (`isFolderProbeName`): nothing else clears them. For a pass holding the push
   * folder's lock (a probe of another pass that has not taken it yet may go: that pass has read it
   * through its handle); a name that will not go stays (a warning-free best effort: the next pass
   * tries again).
   */
  static async discardLeftovers(stateDir: string): Promise<void> {
    for await (const entry of Deno.readDir(stateDir)) {
      if (!entry.isFile) continue;
      if (!isAtomicLeftoverOf(entry.name, PUSH_JOURNAL_NAME) && !isFolderProbeName(entry.name)) {
        continue;
      }
      await Deno.remove(join(stateDir, entry.name)).catch(() => {});
    }
  }

  /** The journal's snapshot file. */
  get path(): string {
    return this.#path;
  }

  /** The entry of `path`, if any. */
  get(path: string): JournalEntry | undefined {
    return this.#entries.get(path);
  }

  /** Every path with an entry. */
  paths(): string[] {
    return [...this.#entries.keys()];
  }
  /**
   * Records that the platform at `to` (a destination key) holds `version` of `path` as
   * `binaryDataId` (sent now, or found stored after a cut upload): no longer in flight nor failing,
   * the version sent, one more known upload. `kept` is always written, either way: a record without
   * it (a journal from before it was kept) may have been made under keep, and is sent again before
   * a pass without keep deletes on it.
   */
  recordSent(
    path: string,
    version: RememberedVersion,
    stored: { binaryDataId: string; to: string; ms: number; kept: boolean; sha256?: string },
  ): void {
    const { ino, size, mtimeMs, ctimeMs } = version;
    const { binaryDataId, to, ms, kept } = stored;
    // Only for a deletion to come: a kept file's is never read, and would weigh on every entry.
    const sha256 = kept || !stored.sha256 ? undefined : stored.sha256;
    this.update(path, (e) => ({
      ...e,
      inFlight: undefined,
      failure: undefined,
      sent: { ino, size, mtimeMs, ctimeMs, to, binaryDataId, sentMs: ms, kept, sha256 },
      uploads: [...(e.uploads ?? []), { binaryDataId, ms, seq: this.#nextUploadSeq() }],
    }));
  }

  /**
   * The sequence number of the next completed upload: one more than any the journal holds. Upload
   * ids are kept by it, not by the clock alone (see `_forgetMissing` in run_push_pass.ts).
   */
  #nextUploadSeq(): number {
    if (this.#lastSeq === undefined) {
      this.#lastSeq = 0;
      for (const entry of this.#entries.values()) {
        for (const upload of entry.uploads ?? []) {
          this.#lastSeq = Math.max(this.#lastSeq, upload.seq ?? 0);
        }
      }
    }
    return ++this.#lastSeq;
  }

  /**
   * Changes the entry of `path` in memory (an entry left with nothing in it is dropped); `flush`
   * makes it durable.
   */
  update(path: string, change: (entry: JournalEntry) => JournalEntry): void {
    const previous = this.#entries.get(path);
    const next = _compact(change({ ...previous }));
    // Unchanged (a pass looking at every entry): nothing to write.
    if (JSON.stringify(next) === JSON.stringify(previous)) return;
    if (next === undefined) this.#entries.delete(path);
    else this.#entries.set(path, next);
    this.#dirty.add(path);
  }

  /** Resolves once every change made before the call is on disk. */
  flush(): Promise<void> {
    // Nothing changed: the running write, if any, has it all.
    if (this.#dirty.size === 0) return this.#writes.running ?? Promise.resolve();
    // A write running now may have started before our change: that one is followed by another.
    return this.#writes.request(() => this.#write());
  }

  /**
   * Writes every entry into a new snapshot and drops the log (the journal is then one file again),
   * unless there is no log and nothing changed since the snapshot. Resolves once it is on disk. A
   * folder with no snapshot yet gets one, empty if need be: the journal is what marks a push folder
   * (a sync with delete refuses to mirror into one, see `stateOf`), also before any upload.
   */
  async compact(): Promise<void> {
    await this.#writes.idle();
    const written = this.#snapshotBytes > 0;
    const logged = this.#compactFirst || this.#log !== undefined || this.#resumeBytes !== undefined;
    if (written && !logged && this.#dirty.size === 0) return;
    await this.#writes.request(() => this.#compact());
  }

  /**
   * Every change on disk, appended to the log; a folder with no snapshot yet gets one (as from
   * {@linkcode PushJournal.compact}), and a log found that does not continue the snapshot is folded
   * in. The start and the end of a pass: an idle pass writes nothing, a pass that sent a file one
   * line of the log, never a rewrite of every entry with its fsyncs (which wore an SD card).
   */
  async persist(): Promise<void> {
    await this.#writes.idle();
    if (this.#snapshotBytes === 0 || this.#compactFirst) return await this.compact();
    if (this.#dirty.size > 0) await this.#writes.request(() => this.#write());
  }

  /** Closes the log once the writes under way are done; changes not flushed stay unwritten. */
  async close(): Promise<void> {
    await this.#writes.idle();
    const log = this.#log;
    this.#log = undefined;
    await log?.close();
  }

  /**
   * Throws when the push folder or its state folder became a symlink since the pass opened them: a
   * snapshot renamed or a log made through it would replace another folder's journal (another push
   * folder's, where the link leads). The log already open is appended to by its handle.
   */
  #assertInPlace(): void {
    assertStateDirInPlace(dirname(this.#path), "not writing the push journal");
  }

  async #write(): Promise<void> {
    this.#assertInPlace();
    const bigLog = this.#logBytes > Math.max(_MIN_COMPACT_BYTES, this.#snapshotBytes);
    if (this.#compactFirst || bigLog) return await this.#compact();
    if (this.#log === undefined && this.#resumeBytes !== undefined) {
      this.#log = await _reopenLog(this.#logPath, this.#resumeBytes);
      this.#resumeBytes = undefined;
      // Not the plain file of our own it was when read (replaced since): folded in, as one found.
      if (this.#log === undefined) return await this.#compact();
    }
    const paths = [...this.#dirty];
    this.#dirty.clear();
    let text = "";
    for (const p of paths) {
      const e = this.#entries.get(p);
      text += `${JSON.stringify(e === undefined ? { p } : { p, e })}\n`;
    }
    try {
      if (this.#log === undefined) {
        // A log of our own, never one found (a torn line would end up in its middle).
        this.#assertInPlace();
        this.#log = await createOwnLog(this.#logPath, 0o644);
        text = `${JSON.stringify({ generation: this.#generation })}\n${text}`;
        await syncDir(dirname(this.#logPath));
      }
      await this.#log.write(text);
      await this.#log.datasync();
      this.#logBytes += text.length;
    } catch (error) {
      // Not on disk: the next write tries again, and folds everything into a snapshot.
      for (const p of paths) this.#dirty.add(p);
      this.#compactFirst = true;
      throw _named(this.#logPath, error);
    }
  }

  async #compact(): Promise<void> {
    const dirty = [...this.#dirty];
    this.#dirty.clear();
    const generation = this.#generation + 1;
    const file: _JournalFile = { version: 1, generation, files: Object.fromEntries(this.#entries) };
    const text = `${JSON.stringify(file)}\n`;
    try {
      await writeFileAtomic(this.#path, text, { assertInPlace: () => this.#assertInPlace() });
    } catch (error) {
      for (const p of dirty) this.#dirty.add(p);
      throw _named(this.#path, error);
    }
    // The snapshot holds everything: the old log is stale (and ignored, by its generation, if
    // its removal is lost).
    this.#generation = generation;
    this.#snapshotBytes = text.length;
    this.#compactFirst = false;
    this.#resumeBytes = undefined;
    const log = this.#log;
    this.#log = undefined;
    this.#logBytes = 0;
    await log?.close();
    this.#assertInPlace();
    await Deno.remove(this.#logPath).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
}

/**
 * Applies the log's lines to `entries` when the log continues this snapshot; whether it does (and
 * holds its header line whole).
 */
function _replay(
  logPath: string,
  text: string,
  generation: number,
  entries: Map<string, JournalEntry>,
): boolean {
  const lines = text.split("\n");
  lines.pop(); // after the last newline: empty, or a line torn by a kill (its flush never resolved)
  if (lines.length === 0) return false;
  const parse = (line: string, n: number) => {
    try {
      return JSON.parse(line);
    } catch (error) {
      throw _unreadable(
        `push journal log ${logPath} line ${n} is not valid JSON (${(error as Error).name})`,
      );
    }
  };
  const head = parse(lines[0], 1) as { generation?: unknown };
  if (typeof head?.generation !== "number") {
    throw _unreadable(`push journal log ${logPath} has an unknown format (no generation)`);
  }
  // Another generation: a log the snapshot already holds (its removal was lost).
  if (head.generation !== generation) return false;
  for (let n = 1; n < lines.length; n++) {
    const line = parse(lines[n], n + 1) as _LogLine;
    if (typeof line?.p !== "string") {
      throw _unreadable(`push journal log ${logPath} line ${n + 1} names no path`);
    }
    const problem = line.e === undefined ? undefined : _shapeProblem(line.e);
    if (problem !== undefined) {
      throw _unreadable(`push journal log ${logPath} line ${n + 1}: the entry ${problem}`);
    }
    if (line.e === undefined) entries.delete(line.p);
    else entries.set(line.p, line.e);
  }
  return true;
}

/**
 * Why `entry` cannot be a journal entry (it was edited by hand), or undefined: the records the
 * passes read as objects, the uploads as a list, and the numbers every version's in-flight and sent
 * records hold. (The fields added since are not checked: a journal of an older version, without
 * them, stays readable.)
 */
function _shapeProblem(entry: unknown): string | undefined {
  const isObject = (value: unknown) =>
    typeof value === "object" && value !== null && !Array.isArray(value);
  if (!isObject(entry)) return "is not an object";
  const record = entry as Record<string, unknown>;
  for (const key of ["inFlight", "sent", "failure"]) {
    if (record[key] !== undefined && !isObject(record[key])) {
      return `has a ${key} that is no object`;
    }
  }
  const uploads = record.uploads;
  if (uploads !== undefined && !(Array.isArray(uploads) && uploads.every(isObject))) {
    return "has uploads that are no list of uploads";
  }
  // Numbers every record of the kind holds: one without (a hand-edited journal) made a pass's
  // check of the uploads in flight ask for a NaN time, and fail, every pass.
  for (const [key, fields] of _RECORD_NUMBERS) {
    const value = record[key] as Record<string, unknown> | undefined;
    const missing = value && fields.find((field) => !Number.isFinite(value[field]));
    if (missing) return `has a ${key} whose ${missing} is no number`;
  }
  return undefined;
}

/**
 * The error for a journal file that is not what the program writes (edited by hand, or damaged): it
 * fails every pass until the file is dealt with, so it says how.
 */
function _unreadable(message: string): Error {
  return new Error(
    `${message}; move the journal (push-journal.json and push-journal.log in the state folder) ` +
      "aside to start afresh: the files it recorded as sent and still in the folder, and any " +
      "upload cut off, are then sent again (a second copy on the platform)",
  );
}

const _RECORD_NUMBERS: readonly (readonly [string, readonly string[]])[] = [
  ["inFlight", ["ino", "size", "mtimeMs", "startedMs"]],
  ["sent", ["ino", "size", "mtimeMs", "sentMs"]],
];

/**
 * The log at `path` opened to append after its first `wholeBytes` (a torn last line cut off), or
 * undefined when it is no longer the plain, singly linked file of our own that was read (a link,
 * a folder, shorter than read): never written through a link.
 */
async function _reopenLog(path: string, wholeBytes: number): Promise<FileHandle | undefined> {
  let log: FileHandle;
  try {
    // O_NONBLOCK: a FIFO put at the name since it was read would block the open until a reader
    // came (ENXIO instead); a regular file is written as ever.
    const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW |
      constants.O_NONBLOCK;
    log = await open(path, flags);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (["ENOENT", "ELOOP", "EISDIR", "ENXIO"].includes(code ?? "")) return undefined;
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const info = await log.stat();
  if (!info.isFile() || info.nlink !== 1 || info.size < wholeBytes) {
    await log.close();
    return undefined;
  }
  if (info.size > wholeBytes) await log.truncate(wholeBytes);
  return log;
}

/**
 * The largest journal file a pass reads (snapshot or log): read whole and parsed into a map, a
 * journal of 400,000 kept files (some 250 bytes each with `push_keep`) took more than the heap, and
 * the process (with the mirror beside it, in the module and `sync --watch`) died at every pass.
 */
export const MAX_JOURNAL_FILE_BYTES = 48 * 1024 * 1024;

/**
 * A full disk's error on a journal write, named: "push failed: No space left on device (os error
 * 28)" named no path and said nothing of what follows. Other errors as they are.
 */
function _named(path: string, error: unknown): unknown {
  if ((error as { code?: unknown } | null)?.code !== "ENOSPC") return error;
  return Object.assign(
    new Error(
      `the push journal ${path} could not be written: the disk is full (${
        (error as Error).message
      }); nothing is uploaded or deleted until space is freed on that disk (the journal records ` +
        "which files the platform has, before any is deleted)",
      { cause: error },
    ),
    { code: "ENOSPC" },
  );
}

/**
 * The text of the journal file at `path`, or undefined when there is none. A symlink planted under
 * its name counts as none and is never read (looked at first, then the file opened with
 * `O_NOFOLLOW` against a swap in between): its target is not the program's, and its content would
 * reach the error messages. It is told to `warn`, as what it stood for is lost (files were sent a
 * second time in silence). The next write replaces the name with a file of the program's own. A
 * folder there is refused, as no write can replace it, and so is a file over
 * {@linkcode MAX_JOURNAL_FILE_BYTES}, each with an error saying what to do.
 */
async function _readIfThere(
  path: string,
  options: JournalOpenOptions,
): Promise<string | undefined> {
  const { trustedOwner } = options;
  try {
    const info = await Deno.lstat(path);
    if (info.isDirectory) throw _unreadable(`push journal ${path} is a folder, not a file`);
    if (!info.isFile) {
      // A symlink, a FIFO: not ours.
      options.warn?.(
        `push journal ${path} is a ${info.isSymlink ? "symlink" : "special file"}, not the ` +
          "program's: not read (nor followed), so what it recorded is not known; files kept " +
          "after their upload, and any sent and not yet deleted, are sent again (a second copy " +
          "on the platform). This pass writes a journal of its own in its place",
      );
      return undefined;
    }
    // O_NONBLOCK: a FIFO swapped in since the lstat would block the open until a writer came.
    const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
    await using file = await open(path, flags);
    const stat = await file.stat();
    if (!stat.isFile()) return undefined;
    if (trustedOwner !== undefined && !trustedOwner(stat.uid)) {
      throw new Deno.errors.PermissionDenied(
        `push journal ${path} is owned by user ${stat.uid}, none of root, the state folder's or ` +
          "the push folder's owner, nor this user: another user may have put it there (its " +
          "records decide which files are deleted); refusing to read it. Remove it if it is not " +
          "yours (files sent and not yet deleted are then sent again)",
      );
    }
    if (stat.size > MAX_JOURNAL_FILE_BYTES) {
      throw new Error(
        `push journal ${path} holds ${(stat.size / 2 ** 20).toFixed(1)} MiB, more than the ` +
          `${MAX_JOURNAL_FILE_BYTES / 2 ** 20} MiB a pass reads into memory: with push_keep it ` +
          "keeps a record of every kept file (about 250 bytes each). Move the files already sent " +
          "out of the push folder and remove the journal (files left in the folder are sent once " +
          "more: a second copy, never a loss)",
      );
    }
    return await file.readFile({ encoding: "utf8" });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    const code = (error as { code?: string }).code;
    if (code === "ENOENT" || code === "ELOOP") return undefined;
    throw error;
  }
}

function _compact(entry: JournalEntry): JournalEntry | undefined {
  const out: JournalEntry = {};
  if (entry.inFlight) out.inFlight = entry.inFlight;
  if (entry.sent) out.sent = entry.sent;
  if (entry.failure) out.failure = entry.failure;
  if (entry.uploads?.length) out.uploads = entry.uploads;
  if (entry.seen) out.seen = entry.seen;
  if (entry.sent && entry.goneMs !== undefined) out.goneMs = entry.goneMs;
  return Object.keys(out).length === 0 ? undefined : out;
}

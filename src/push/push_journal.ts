/**
 * The push pass's memory, one JSON file under the push folder's state dir
 * (`<push folder>/.data-mirror/push-journal.json`), replaced atomically and durably on every
 * change, so that a kill at any instant leaves the old or the new journal, never a torn one.
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

import { join } from "node:path";
import { writeFileAtomic } from "../fs/atomic_write.ts";

/** The journal's file name inside the state dir. */
export const PUSH_JOURNAL_NAME = "push-journal.json";

/** A remembered version of a file (no device id: see `sameVersion`). */
export interface RememberedVersion {
  /** Inode number. */
  ino: number;
  /** Size in bytes. */
  size: number;
  /** Modification time, epoch ms. */
  mtimeMs: number;
}

/** What the journal holds for one path. */
export interface JournalEntry {
  /** An upload that started and whose outcome is not recorded. */
  inFlight?: RememberedVersion & { startedMs: number };
  /** The version the platform holds. */
  sent?: RememberedVersion & { binaryDataId: string; sentMs: number };
  /** The file's failures, for its back-off. */
  failure?: RememberedVersion & {
    /** Failed passes so far. */
    count: number;
    /** When the first of them failed (epoch ms): retries stop an hour after it. */
    firstMs: number;
    /** Not tried again before this (epoch ms). */
    retryAtMs: number;
    /** The last error, as reported. */
    error: string;
    /** Refused for good (or retried for an hour): not tried again until the file changes. */
    permanent: boolean;
  };
  /** Recent completed uploads of this path. */
  uploads?: { binaryDataId: string; ms: number }[];
}

interface _JournalFile {
  version: 1;
  files: Record<string, JournalEntry>;
}

/** The journal of one push folder. */
export class PushJournal {
  readonly #path: string;
  readonly #entries: Map<string, JournalEntry>;
  #writing: Promise<void> | undefined;
  #queued: Promise<void> | undefined;
  #dirty = false;

  private constructor(path: string, entries: Map<string, JournalEntry>) {
    this.#path = path;
    this.#entries = entries;
  }

  /**
   * Reads the journal in `stateDir` (an absent one is empty). A journal that is not valid JSON of
   * this shape is an error naming the file: it is only ever replaced whole, so it was edited by hand.
   */
  static async open(stateDir: string): Promise<PushJournal> {
    const path = join(stateDir, PUSH_JOURNAL_NAME);
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return new PushJournal(path, new Map());
      throw error;
    }
    let parsed: _JournalFile;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new Error(`push journal ${path} is not valid JSON: ${(error as Error).message}`);
    }
    if (parsed?.version !== 1 || typeof parsed.files !== "object" || parsed.files === null) {
      throw new Error(`push journal ${path} has an unknown format (expected version 1)`);
    }
    return new PushJournal(path, new Map(Object.entries(parsed.files)));
  }

  /** The journal file. */
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
   * Changes the entry of `path` in memory (an entry left with nothing in it is dropped); `flush`
   * makes it durable.
   */
  update(path: string, change: (entry: JournalEntry) => JournalEntry): void {
    const next = _compact(change({ ...this.#entries.get(path) }));
    if (next === undefined) this.#entries.delete(path);
    else this.#entries.set(path, next);
    this.#dirty = true;
  }

  /** Resolves once every change made before the call is on disk. */
  flush(): Promise<void> {
    if (!this.#dirty) return this.#writing ?? Promise.resolve(); // the running write has it all
    if (this.#writing === undefined) return this.#write();
    // A write is running and may have serialised before our change: queue one more after it.
    this.#queued ??= this.#writing.catch(() => {}).then(() => {
      this.#queued = undefined;
      return this.#write();
    });
    return this.#queued;
  }

  #write(): Promise<void> {
    this.#dirty = false;
    const file: _JournalFile = { version: 1, files: Object.fromEntries(this.#entries) };
    const writing = writeFileAtomic(this.#path, `${JSON.stringify(file)}\n`).finally(() => {
      if (this.#writing === writing) this.#writing = undefined;
    });
    this.#writing = writing;
    return writing;
  }
}

function _compact(entry: JournalEntry): JournalEntry | undefined {
  const out: JournalEntry = {};
  if (entry.inFlight) out.inFlight = entry.inFlight;
  if (entry.sent) out.sent = entry.sent;
  if (entry.failure) out.failure = entry.failure;
  if (entry.uploads?.length) out.uploads = entry.uploads;
  return Object.keys(out).length === 0 ? undefined : out;
}

/**
 * The transfer stage: listed files fetched as the listing brings them, small ones many to an inline
 * call, large ones streamed from their uri, each staged, checked and placed within the space budget.
 *
 * @module
 */
import type { BandwidthLimit } from "../async/bandwidth_limit.ts";
import { CALL_RETRY, logRetries, retry } from "../async/retry.ts";
import { IdleWatchdog } from "../async/idle_watchdog.ts";
import { RateFloor } from "../async/rate_floor.ts";
import { WorkQueue } from "../async/work_queue.ts";
import { FolderInTheWayError, type MirrorDir } from "../fs/mirror_dir.ts";
import { type Booking, SpaceBudget } from "../fs/space_budget.ts";
import type { StagedFile } from "../fs/staging.ts";
import type { Logger } from "../logger.ts";
import {
  describeError,
  IncompleteBodyError,
  isTimeout,
  ItemNotFoundError,
  kindUnder,
  TooLargeError,
  UncheckableBodyError,
} from "../remote/errors.ts";
import {
  type DownloadBody,
  type InlineBatch,
  MIN_BODY_BYTES_PER_SECOND,
  type RemoteSource,
} from "../remote/remote_source.ts";
import { BodyBuffer } from "./_body_buffer.ts";
import type { Download } from "./plan.ts";

/**
 * Files up to this size are fetched inline, as many as fit a `BinaryDataByIDs` call's bytes (two at
 * least); larger ones stream from their uri, where a cut connection resumes with Range instead of
 * starting over. A cut inline call is fetched again whole, at most the call's 2 MiB, as for a call
 * of small files; one the platform refuses as too large is asked for again in halves, down to the
 * file it will not send inline, which goes by uri. Camera images of 300 KiB to 1 MiB went by uri,
 * each its own request and its own flush, when this was 256 KiB: a fresh copy of 2,000 x 300 KiB
 * took 16.8 s against rclone's 4.2 (3.99 times as long; 7.1 s of CPU), and 3.27 s against 3.81
 * (0.86; 1.6 s of CPU) inline, at the same peak (83 MiB; a reviewer's shape, 20 ms a request).
 */
export const INLINE_MAX_BYTES = 1024 * 1024;
/**
 * Bytes per inline call, under gRPC's default 4 MiB message limit. The answer being read is held
 * whole (one at a time) while the calls behind it wait in their connections, so this is also the
 * pass's largest buffer: 2 MiB rather than 3 took 2.2-3.2 MB off the 10,020-file fresh copy's peak
 * (101.6 against 99.4 MB, six alternated pairs; 103.6 against 100.4, four) for 0.2-0.4 s more (50%
 * more calls), and changed nothing measurable on the churn pass (four pairs).
 */
const _BATCH_MAX_BYTES = 2 * 1024 * 1024;
/** Ids per inline call. */
const _BATCH_MAX_ITEMS = 100;

/**
 * Downloads by uri in flight at once beside `callsRunning` of at most `concurrency` inline calls:
 * the slots the calls leave, and at least half of `concurrency` (at least one) however many run. A
 * stream waits on the network while an inline batch keeps the program's thread busy writing files;
 * queued behind the batches in listing order, the 20 files of 8 MiB listed last in the bench's
 * fresh copy streamed alone at its end, 0.8 s with that thread idle half the time, and beside them
 * the copy took 0.28 s less (ten alternated pairs, 7 quicker). Half beside a full lane of calls
 * rather than as many: as quick, and 1.7 MiB less at the copy's peak (ten pairs; a stream holds its
 * write buffer and a connection's). All of them when no call runs: a mirror of large files alone
 * streams `concurrency` at once, as it did when both kinds shared one queue.
 */
export function streamsAtOnce(concurrency: number, callsRunning: number): number {
  return Math.max(1, Math.floor(concurrency / 2), concurrency - callsRunning);
}

/**
 * A streamed download is written to disk this many bytes at a time (see `Transfer.#stream`). 256
 * KiB rather than 1 MiB: the 1 GiB download took 1.35-2.10 s of CPU instead of 3.23-3.67 (six
 * alternated pairs: the bytes go through a buffer that stays in the CPU's cache), and the eight uri
 * downloads of a fresh copy hold 4 MiB of buffers instead of 10.
 */
const _WRITE_BYTES = 256 * 1024;
/** ... or at least this often, in milliseconds, so that a slow download reaches the disk too. */
const _WRITE_EVERY_MS = 1000;

/** Progress of the transfer stage. Totals grow while the listing still delivers pages. */
export interface TransferProgress {
  /** Files finished (written or failed). */
  filesDone: number;
  /** Of `filesDone`, those that failed (absent: none): "7/7 files" alone read as all written. */
  filesFailed?: number;
  /** Files planned so far. */
  filesTotal: number;
  /** Bytes held so far: received, and those of partial downloads resumed (`bytesResumed`). */
  bytesDone: number;
  /**
   * Of `bytesDone`, those partial downloads held when resumed: not received in this pass, so no
   * part of its rate (a resumed 1.8 MiB showed 722 KiB/s under a 300 KiB/s limit). Absent: none.
   */
  bytesResumed?: number;
  /** Bytes planned so far, counting only files whose size is known. */
  bytesTotal: number;
}

/** One file that could not be written this pass. */
export interface TransferFailure {
  /** Its local path, relative to the mirror. */
  path: string;
  /** Its id on the platform. */
  binaryDataId: string;
  /** Why. */
  error: string;
  /**
   * What stands in its way, if that is why: a file (perhaps one this pass placed) where its folder
   * is needed, or a folder where it goes. Such a failure may be of an item that loses its path once
   * the listing ends: it is logged at debug level here, and the pass logs those it still counts.
   */
  inTheWay?: "file" | "folder";
}

/** The outcome of the transfer stage. */
export interface TransferResult {
  /** Files written. */
  downloaded: number;
  /** Bytes written. */
  bytes: number;
  /**
   * Files found already in place when their download was ready to be placed: put there meanwhile by
   * someone else, or the same file under another case on a case-insensitive file system. Kept, as
   * any existing file is.
   */
  skipped: number;
  /** Files that failed after their retries. */
  failures: TransferFailure[];
  /** Path -> binaryDataId of every file this stage placed. */
  placed: Map<string, string>;
  /** Files not attempted because the free-space reserve stopped downloads. */
  heldBack: number;
  /** Set when the free-space reserve stopped further downloads. */
  spaceGuard?: string;
  /** The least free space seen while downloading, in bytes. */
  lowestFreeBytes?: number;
}

/** Options of {@linkcode Transfer}. */
export interface TransferOptions {
  /** Inline calls in flight at once; downloads by uri beside them: {@linkcode streamsAtOnce}. */
  concurrency: number;
  /** Percentage of the filesystem to keep free. */
  reservePercent: number;
  /** Where failures and retries are reported. */
  logger: Logger;
  /** Stops the stage; partial files stay in staging for a later resume. */
  signal?: AbortSignal;
  /** Called as files and bytes complete. */
  onProgress?: (progress: TransferProgress) => void;
  /** Called as each file is placed under its path, with its size. */
  onPlaced?: (download: Download, size: number) => void;
  /** Where what the stage places is recorded as it is placed (the placed record's log). */
  journal?: PlacementJournal;
  /** Paces every byte received (the `bandwidth_limit`). */
  bandwidth?: BandwidthLimit;
  /** Tries per file, the first included (default `CALL_RETRY.attempts`, 8). */
  attempts?: number;
  /** Delay before a file's first retry, in milliseconds (default 500). */
  minRetryDelayMs?: number;
  /** A download body that sends nothing for this long is retried (default 60 s). */
  idleTimeoutMs?: number;
}

/**
 * Records which item each file the transfer places came from, in step with the names it makes, so
 * that a pass killed at any moment leaves no file it placed unrecorded (the record then takes it
 * for a user's, kept against every later version of its item).
 */
export interface PlacementJournal {
  /**
   * Told of files about to take free names (nothing is replaced): resolves once they are recorded,
   * before any of them has its name.
   */
  naming(files: readonly (readonly [Download, number])[]): Promise<void>;
  /**
   * Told of files about to replace the ones at their paths (a rename over each): resolves once they
   * are recorded as tentative, before any rename. A pass killed around a rename leaves the old
   * version or the new one there, which the next pass tells apart by size (recorded as the new
   * version ahead, a kill before the rename would have the old one taken for the new; recorded
   * only after, a kill right after the rename left the new one read as a user's edit).
   */
  replacing(files: readonly (readonly [Download, number])[]): Promise<void>;
  /**
   * Told of files {@linkcode PlacementJournal.naming} or {@linkcode PlacementJournal.replacing}
   * was told of that were not named after all.
   */
  notNamed(downloads: readonly Download[]): void;
  /** Told of a file that replaced the one at its path, right after its rename. */
  replaced(download: Download, size: number): void;
}

/** What the transfer stage needs from the outside world. */
export interface TransferDeps {
  /** The data platform. */
  remote: RemoteSource;
  /** The mirror, opened for this pass. */
  mirror: MirrorDir;
  /** Measures free space (the mirror's file system by default; tests pass their own). */
  space?: SpaceBudget;
}

/** What a staged file holds, and the whole file's size once known. */
interface _Held {
  bytes: number;
  total?: number;
  /** The last of `bytes` still to compare with the platform's before more are appended. */
  unchecked: number;
  /** Of `bytes`, those the partial held when this pass began it (not received now). */
  resumed: number;
  /**
   * The most of the file known in this pass (`bytes` less `unchecked`: written, or compared and
   * found alike): an answer that ends short makes progress only past it.
   */
  reached: number;
  /** Times this pass dropped what the partial held (`#startOver`). */
  startsOver: number;
  /** The partial's end was found not to match the platform's once in this pass. */
  mismatched: boolean;
  /** `reached` went back to 0 once in this pass (see `#beginAgain`). */
  begunAgain: boolean;
}

/**
 * The end of a partial left by an earlier attempt (or process) that is asked for again and compared
 * with what the partial holds before anything is appended. A power cut on a file system that keeps a
 * file's new length without its last writes (FAT and exFAT, ext4 with `data=writeback`) leaves
 * zeros or stale blocks there, and the partial is not flushed while it grows (one flush per file,
 * before it is placed, would otherwise make that damage durable under a final name). The lost writes
 * are the last ones, so the damage reaches the end; 64 KiB cost half a second per resume at 1 Mbit/s.
 */
const _RESUME_CHECK_BYTES = 64 * 1024;

/**
 * The most of the end of a partial written by this pass that is asked for again and compared
 * after an answer ended short (see `#fetchInto`): no power cut can have damaged it, but a server
 * may answer a range from the wrong byte. Small, so a link that drops every connection early still
 * makes progress with each.
 */
const _REANSWER_CHECK_BYTES = 4 * 1024;
/**
 * The least of it (or half a partial shorter than twice that): an answer that only compared is
 * followed by a compare too.
 */
const _MIN_COMPARE_BYTES = 1024;

/**
 * How far past the furthest point a pass reached an answer that ended short must take what is
 * known of the file for the next part to be asked for at once with the tries begun again (not
 * counted as a failed try). Links dropping each connection after 2 KiB or more, and servers
 * capping each answer at 2 KiB or more, get a file through; under that, 8 tries in a row fail it.
 */
const _PROGRESS_BYTES = 1024;

/** A resumed partial's end differs from the platform's bytes at the same place. */
class _PartialMismatch extends Error {}

/** A body that went on past the file's size: nothing past it is written. */
class _BodyTooLong extends Error {}

/**
 * The transfer stage, fed while the listing runs: {@linkcode Transfer.add} takes the downloads a
 * listing page produced. Small files travel inline, as many to a `BinaryDataByIDs` call as fit in 2
 * MiB, up to `concurrency` calls in flight, and are written concurrently; large ones stream from
 * their uri with `Range` resume through the staging area in a lane of their own, beside the inline
 * calls rather than behind them: the slots the calls leave, and at least half as many
 * ({@linkcode streamsAtOnce}). Any the platform refuses inline stream in their batch's slot. No
 * partial file ever carries a final name, and nothing is ever replaced. Every download books its
 * bytes against the free-space reserve first ({@linkcode SpaceBudget}); a booking refused while
 * others are held waits for one to be given back, and once a booking is refused with none to wait
 * for, no further download starts this pass (deletes still run).
 *
 * @example
 * ```ts
 * const transfer = new Transfer({ remote, mirror }, { concurrency: 8, reservePercent: 5, logger });
 * transfer.add(downloadsOfPage);
 * const result = await transfer.finish();
 * ```
 */
export class Transfer {
  readonly result: TransferResult = {
    downloaded: 0,
    bytes: 0,
    skipped: 0,
    failures: [],
    placed: new Map(),
    heldBack: 0,
  };
  readonly #deps: TransferDeps;
  readonly #options: TransferOptions;
  /** Inline calls (and single files of unknown size). */
  readonly #calls: WorkQueue;
  /** Downloads by uri. */
  readonly #streams: WorkQueue;
  readonly #space: SpaceBudget;
  /** Small files waiting for more to fill their call (see {@linkcode Transfer.add}). */
  #open: Download[] = [];
  /** Inline batches written and waiting for their sync and links (their calls' slots are free). */
  readonly #placing = new Set<Promise<void>>();
  #openBytes = 0;
  /** Set by {@linkcode Transfer.settle}: a booking waiting for room gives up. */
  #stopping = false;
  readonly #progress: TransferProgress = {
    filesDone: 0,
    filesTotal: 0,
    bytesDone: 0,
    bytesTotal: 0,
  };

  constructor(deps: TransferDeps, options: TransferOptions) {
    this.#deps = deps;
    this.#options = options;
    this.#space = deps.space ??
      new SpaceBudget(() => deps.mirror.freeSpace(), options.reservePercent);
    const shouldContinue = () => this.result.spaceGuard === undefined;
    this.#calls = new WorkQueue({
      concurrency: options.concurrency,
      signal: options.signal,
      shouldContinue,
      onIdle: () => this.#queueOpenBatch(),
      onSettled: () => this.#streams.wake(), // a slot the calls left may take a stream
    });
    this.#streams = new WorkQueue({
      concurrency: () => streamsAtOnce(options.concurrency, this.#calls.running),
      signal: options.signal,
      shouldContinue,
    });
  }

  /**
   * Queues downloads: small files of known size in byte-sized batches, the others one by one. A
   * batch that is not full stays open for the next page's files while calls are in flight (a page
   * of 100 files of 32 KiB would otherwise make a full call and one of 4 files); it goes as soon as
   * nothing else runs, and at {@linkcode Transfer.finish}.
   */
  add(downloads: Download[]): void {
    for (const download of downloads) {
      const size = download.item.sizeBytes;
      this.#progress.filesTotal++;
      this.#progress.bytesTotal += size ?? 0;
      if (size === undefined || size > INLINE_MAX_BYTES) {
        // Unknown sizes go alone: a refusal then costs one call, not a whole batch.
        if (size === undefined) this.#calls.push(() => this.#inlineBatch([download], 0));
        else this.#streams.push(() => this.#large(download));
        continue;
      }
      if (
        this.#open.length === _BATCH_MAX_ITEMS || this.#openBytes + size > _BATCH_MAX_BYTES
      ) {
        this.#queueOpenBatch();
      }
      this.#open.push(download);
      this.#openBytes += size;
    }
    if (this.#calls.running === 0) this.#queueOpenBatch();
    this.#report();
  }

  /**
   * Counts, in the progress, `count` items the pass counts as failed without handing them over
   * (a conflict, an item waiting for its retry): the progress told of fewer failures than the
   * summary after it.
   */
  countFailedUntried(count: number): void {
    if (count === 0) return;
    this.#progress.filesTotal += count;
    this.#progress.filesDone += count;
    this.#progress.filesFailed = (this.#progress.filesFailed ?? 0) + count;
    this.#report();
  }

  /** Hands the open batch to the queue. */
  #queueOpenBatch(): void {
    if (this.#open.length === 0) return;
    const batch = this.#open;
    const bytes = this.#openBytes;
    this.#open = [];
    this.#openBytes = 0;
    this.#calls.push(() => this.#inlineBatch(batch, bytes));
  }

  /** Waits for every queued download; rejects with the abort reason when the stage was stopped. */
  async finish(): Promise<TransferResult> {
    this.#queueOpenBatch();
    try {
      await Promise.all([this.#calls.finish(), this.#streams.finish()]);
    } catch (error) {
      await this.settle();
      throw error;
    }
    this.#deps.mirror.hastenSync(); // nothing more will be written: the last batches' sync may go
    await Promise.all(this.#placing);
    this.#options.signal?.throwIfAborted();
    this.result.heldBack = this.#progress.filesTotal - this.#progress.filesDone;
    this.result.lowestFreeBytes = this.#space.lowestFreeBytes;
    this.#space.close();
    return this.result;
  }

  /**
   * Starts nothing more and waits until nothing of the stage runs or waits to be placed (its
   * written batches linked or given up); never throws. A pass that fails or is cut off calls it
   * before it lets go of the mirror's lock: no file of it may be placed after that, when another
   * pass may hold the mirror and have swept the staged files.
   */
  async settle(): Promise<void> {
    this.#stopping = true;
    this.#space.release([]); // wakes the bookings waiting for room (nothing is given back)
    this.#calls.stop();
    this.#streams.stop();
    await Promise.all(
      [this.#calls.finish(), this.#streams.finish()].map((done) => done.catch(() => {})),
    );
    this.#deps.mirror.hastenSync();
    await Promise.allSettled(this.#placing);
    this.#space.close(); // nothing of the stage is in flight: its bookings go
  }

  async #inlineBatch(batch: Download[], bytes: number): Promise<void> {
    const granted = await this.#book(batch);
    if (granted < batch.length) {
      batch = batch.slice(0, granted); // the rest is held back by the reserve
      bytes = _bytesOf(batch);
    }
    if (batch.length === 0) return;
    // What this batch booked, until it is given back (once).
    let booked = _bookedSizes(batch);
    const release = () => {
      this.#space.release(booked);
      booked = [];
    };
    try {
      await this.#options.bandwidth?.take(bytes, this.#options.signal);
      // What the call's answers brought, every try's: the files' bytes were taken ahead; what came
      // beside them (each answer's metadata, some 400 bytes a file: files of 1 KiB went at 1.29
      // times the limit unbooked; the tries cut off midway: 2.7 times on a link cutting every
      // answer) is booked once the call has ended, and what did not come is given back.
      let came = 0;
      const bookWhatCame = () => {
        const extra = came - bytes;
        if (extra >= 0) this.#options.bandwidth?.bookMoved(extra);
        else this.#options.bandwidth?.giveBack(-extra);
      };
      let data: InlineBatch;
      try {
        data = await this.#retry(
          "BinaryDataByIDs",
          () =>
            this.#deps.remote.fetchInline(batch.map((d) => d.item.binaryDataId), {
              signal: this.#options.signal,
              expectedBytes: bytes,
              onBytes: (chunk) => void (came += chunk),
            }),
        );
      } catch (error) {
        bookWhatCame();
        const refusedWhole = error instanceof TooLargeError || error instanceof ItemNotFoundError;
        if (refusedWhole && batch.length > 1) {
          // One item refuses the whole call: halves are asked for until it is alone (a few calls
          // for a batch of a hundred), so that an item deleted since it was listed fails by itself,
          // and only a file the platform will not send inline (or a call above its message limit,
          // halved) goes by uri (before 2026-12-07, every file of such a call did, the small ones
          // with it).
          release();
          const half = Math.ceil(batch.length / 2);
          for (const part of [batch.slice(0, half), batch.slice(half)]) {
            await this.#inlineBatch(part, _bytesOf(part));
          }
          return;
        }
        if (error instanceof TooLargeError) {
          release();
          // Refused alone: its bytes come by uri, and are booked there.
          await this.#large(batch[0]);
          return;
        }
        this.#rethrowAbort(error);
        for (const download of batch) this.#fail(download, error);
        return;
      }
      bookWhatCame();
      // No bytes for a file listed without a size: an empty file, or an answer that left its
      // bytes out (protobuf tells them apart for no one). Its download declares its length.
      const [first] = batch;
      if (
        first.item.sizeBytes === undefined && data.files.get(first.item.binaryDataId)?.length === 0
      ) {
        data[Symbol.dispose]();
        release();
        return await this.#large(first);
      }
      // The call's slot goes once the bytes are written; the sync that makes them durable and
      // the links that name them go on while the next call runs, and its booking goes with them.
      const placingBooked = booked;
      booked = [];
      const written = Promise.withResolvers<void>();
      const placing = this.#writeInline(batch, data, written.resolve)
        .finally(() => this.#space.release(placingBooked));
      this.#placing.add(placing);
      placing.catch(() => {}).finally(() => this.#placing.delete(placing));
      await Promise.race([written.promise, placing]);
    } finally {
      release();
    }
  }

  /**
   * Writes the files of an inline batch the platform returned whole; fails the others. The batch
   * (its response buffer) is let go as soon as the bytes are written, before they are synced: the
   * next call may take the buffer meanwhile. `onWritten` is called then too.
   */
  async #writeInline(
    batch: Download[],
    data: InlineBatch,
    onWritten: () => void,
  ): Promise<void> {
    using inline = data;
    const whole: { download: Download; bytes: Uint8Array }[] = [];
    for (const download of batch) {
      const bytes = inline.files.get(download.item.binaryDataId);
      const expected = download.item.sizeBytes;
      if (bytes === undefined) {
        this.#fail(
          download,
          new Error("the platform did not return it (or returned it twice, with other bytes)"),
        );
      } else if (expected !== undefined && bytes.length !== expected) {
        this.#fail(
          download,
          new Error(
            `size mismatch: expected ${expected} bytes, received ${bytes.length}; not written`,
          ),
        );
      } else whole.push({ download, bytes });
    }
    const sizes = whole.map(({ bytes }) => bytes.length);
    const mirror = this.#deps.mirror;
    const journal = this.#options.journal;
    const replacing = whole.map(({ download }) => mirror.replacesOnPlace(download.path));
    await journal?.naming(
      whole.flatMap(({ download }, index) => replacing[index] ? [] : [[download, sizes[index]]]),
    );
    await journal?.replacing(
      whole.flatMap(({ download }, index) => replacing[index] ? [[download, sizes[index]]] : []),
    );
    const outcomes = await mirror.writeFiles(
      whole.map(({ download, bytes }) => ({ path: download.path, bytes })),
      () => {
        inline[Symbol.dispose]();
        onWritten();
      },
    );
    const notNamed: Download[] = [];
    // The pass's stop is passed on once every file named is counted: thrown at the first refused
    // one, it left those after it placed but unrecorded (never replaced by a later version).
    let stopped: unknown;
    whole.forEach(({ download }, index) => {
      const error = outcomes[index];
      if (error !== undefined) {
        notNamed.push(download);
        if (this.#options.signal?.aborted) return void (stopped ??= error);
        return this.#placeFailed(download, error);
      }
      if (replacing[index]) journal?.replaced(download, sizes[index]);
      this.#received(sizes[index]);
      this.#done(download, sizes[index]);
    });
    if (notNamed.length > 0) journal?.notNamed(notNamed);
    if (stopped !== undefined) throw stopped;
  }

  /**
   * One file by uri: staged, resumed with Range, size-checked, then placed. It books room for the
   * bytes its partial does not hold yet (those are on the disk already), and a partial the disk had
   * no room for is removed, so that a full disk does not stay full.
   */
  async #large(download: Download): Promise<void> {
    const key = { binaryDataId: download.item.binaryDataId, expectedSize: download.item.sizeBytes };
    const staging = this.#deps.mirror.staging;
    const size = Math.max(0, (download.item.sizeBytes ?? 0) - await staging.heldBytes(key));
    if ((await this.#book([download], [size])) === 0) return;
    let placed = false;
    let toldAhead = false;
    try {
      const staged = await staging.begin(key);
      // `held` lives across attempts, so a retry resumes at the right offset. The end of what a
      // partial brought from an earlier process (see _RESUME_CHECK_BYTES), or from an earlier
      // answer that ended short (see `#fetchInto`), is checked on the next answer.
      const held: _Held = {
        bytes: staged.offset,
        total: download.item.sizeBytes,
        unchecked: Math.min(staged.offset, _RESUME_CHECK_BYTES),
        resumed: staged.offset,
        reached: staged.offset - Math.min(staged.offset, _RESUME_CHECK_BYTES),
        startsOver: 0,
        mismatched: false,
        begunAgain: false,
      };
      this.#received(held.bytes, held.resumed);
      try {
        // A partial that already holds every byte (killed between the last write and the link)
        // is still checked; once checked, it needs no request (a Range past the end is refused).
        if (held.total === undefined || held.bytes < held.total || held.unchecked > 0) {
          // An answer that ended short of the file, capped or cut off, after it took what is known
          // of the file past the furthest this pass had reached (see `#fetchInto`) is no failed
          // try: the next part is asked for at once, with the tries begun again (8 tries for the
          // whole file failed a large one, pass after pass, over a link dropping every few MiB or a
          // server capping each range).
          let more = true;
          while (more) {
            more = await this.#retry(download.path, () => this.#fetchInto(staged, download, held));
          }
        }
        const replacing = this.#deps.mirror.replacesOnPlace(download.path);
        const journal = this.#options.journal;
        if (journal !== undefined) {
          if (replacing) await journal.replacing([[download, held.bytes]]);
          else await journal.naming([[download, held.bytes]]);
          toldAhead = true;
        }
        await staged.commit(download.path, {
          expectedSize: held.total ?? held.bytes,
          onPlaced: () => {
            placed = true;
            if (replacing) this.#options.journal?.replaced(download, held.bytes);
            this.#done(download, held.bytes);
          },
        });
      } catch (error) {
        // A partial the disk had no room for, or of a body that cannot be checked (one that went
        // on past its size, say): kept, it would only hold the disk until a clean pass swept it.
        // One answered by a body refused before it was written is resumed at the next pass (when
        // it holds anything).
        const resumable = error instanceof UncheckableBodyError && error.beforeWriting &&
          held.bytes > 0;
        if (_isNoSpace(error) || (error instanceof UncheckableBodyError && !resumable)) {
          await staged.discard();
        }
        throw error;
      } finally {
        await staged.close();
      }
    } catch (error) {
      // Placed, its staging name or descriptor could not go: the next begin() sweeps it.
      if (placed) {
        this.#rethrowAbort(error);
        this.#options.logger.warn(`placed ${download.path}, but: ${describeError(error)}`);
      } else {
        if (toldAhead) this.#options.journal?.notNamed([download]);
        this.#placeFailed(download, error);
      }
    } finally {
      this.#space.release([size]);
    }
  }

  /**
   * One attempt: asks for the bytes after `held.bytes` (and the `held.unchecked` before them, to
   * compare) and appends them. A partial whose end differs is downloaded again from byte 0.
   * Resolves to whether more is to be asked for at once: an answer that ended short of the file,
   * capped where its declared length said or cut off by a transient failure, having taken what is
   * known of the file (appended, or compared and found alike) {@linkcode _PROGRESS_BYTES} past the
   * furthest this pass had reached, without starting over. That point only grows (it drops to 0
   * once a pass, when a partial a power cut damaged is begun again), so the file ends; a server
   * that ignores Range and cuts each answer further on starts over each time and gains nothing (it
   * kept a pass downloading for ever).
   */
  async #fetchInto(staged: StagedFile, download: Download, held: _Held): Promise<boolean> {
    const entered = held.bytes;
    const { startsOver, reached } = held;
    const from = held.bytes - held.unchecked;
    const body = await this.#deps.remote.download(download.item, {
      offset: from,
      signal: this.#options.signal,
    });
    if (download.item.sizeBytes === undefined && _isUnexpectedPage(body, download.path)) {
      await body.body.cancel();
      throw new UncheckableBodyError(
        `${download.path}: its download answered a web page (${body.contentType}) and the ` +
          "platform lists no size to check it against: not written (an error page?)",
      );
    }
    if (held.total !== undefined && body.totalSize !== undefined && body.totalSize !== held.total) {
      // Written whole, it would be refused at the end anyway, after taking disk the reserve never
      // booked (the size booked is the listed one): a body far longer filled the disk. Refused
      // before a start over, too: an error page answering a resume must not cost the partial.
      await body.body.cancel();
      throw new UncheckableBodyError(
        `${download.path}: its download declares ${body.totalSize} bytes where the platform ` +
          `lists ${held.total} (changed since it was listed?)`,
        { beforeWriting: true },
      );
    }
    // The server ignored Range: start over.
    if (body.start !== from) await this.#beginAgain(staged, held);
    held.total ??= body.totalSize;
    if (held.total === undefined) {
      await body.body.cancel();
      throw new UncheckableBodyError(
        `${download.path}: the platform lists no size for it and its download declares no ` +
          `length, so a cut connection would pass for the end of the file`,
      );
    }
    // An answer that ended short of the file: the next one compares the end of the partial with
    // the platform's bytes before appending to them (appended unchecked, a server answering a range
    // from the wrong byte placed a damaged file of the listed size: a reviewer's case). Half of
    // what this answer wrote, at least 1 KiB and at most 4 KiB (and at most half the partial), or
    // what it left to compare (cut inside that part): so even short answers make progress, and one
    // that only compared is no reason to append the next unchecked. An answer that declared no
    // length ends where it ends: short of the file, it may be a whole answer of other bytes (a
    // proxy's chunked error page) rather than the file cut short: the whole end of the partial is
    // compared again, also what this answer only compared (the same page twice matches itself;
    // trusted, it was placed as the file's start). Such answers cut short again and again make no
    // progress (said in the README).
    const endedShort = async (error?: unknown): Promise<boolean> => {
      const resumed = held.startsOver === startsOver;
      const known = held.bytes - held.unchecked;
      // Once the file was started over twice in the pass, no answer begins the tries again:
      // answers ignoring Range by turns with answers honouring it made each resend the file so
      // far (bytes growing with the square of its size) while the others began the tries again.
      const gained = resumed && held.startsOver < 2 ? known - reached : 0;
      held.reached = Math.max(held.reached, known);
      const wrote = held.bytes - (resumed ? entered : 0);
      // At most half the partial, so its resume asks with Range all the same (a partial of one
      // byte whole: asked from byte 0, where no answer can be a byte off). One that ends in a run
      // of one byte value (zeros; two like bytes at a file's start, as "II" of a TIFF) reaches a
      // byte before it, up to 64 KiB: inside such a run, the one pattern a shift by a byte leaves
      // as it was, an answer a byte off matched.
      let compare = Math.max(
        Math.min(
          Math.max(Math.floor(wrote / 2), _MIN_COMPARE_BYTES),
          _REANSWER_CHECK_BYTES,
          Math.floor(held.bytes / 2),
        ),
        Math.min(held.bytes, 1),
      );
      if (body.totalSize !== undefined && compare < held.bytes) {
        const run = await staged.runAtEnd(_RESUME_CHECK_BYTES);
        if (run >= compare) compare = Math.min(held.bytes, run + 1);
      }
      held.unchecked = body.totalSize === undefined
        ? Math.min(held.bytes, _RESUME_CHECK_BYTES)
        : Math.max(held.unchecked, compare);
      const goesOn = error === undefined
        ? body.totalSize !== undefined // capped where it said
        : this.#isTransient(error); // cut off
      if (gained >= _PROGRESS_BYTES && goesOn) {
        if (error !== undefined) {
          this.#options.logger.debug(
            `the download of ${download.path} was cut off at ${held.bytes} bytes: resuming`,
            { error: describeError(error) },
          );
        }
        return true;
      }
      throw error ?? new IncompleteBodyError(`${held.bytes} of ${held.total} bytes`);
    };
    try {
      await this.#stream(body.body, staged, held);
    } catch (error) {
      if (error instanceof _BodyTooLong) {
        await this.#startOver(staged, held);
        throw new UncheckableBodyError(
          `${download.path}: its download went on past the ${held.total} bytes it has`,
        );
      }
      if (!(error instanceof _PartialMismatch)) return await endedShort(error);
      await this.#beginAgain(staged, held);
      if (held.mismatched) {
        // Twice in a pass: the platform's answers disagree with each other (a server answering a
        // range from the wrong byte), not a partial a power cut damaged. Started over each time,
        // a server cutting each answer, or capping it, kept one try going for ever.
        throw new UncheckableBodyError(
          `${download.path}: its answers to ranges do not match each other (a server answering ` +
            "a range from the wrong byte?)",
        );
      }
      held.mismatched = true;
      this.#options.logger.warn(
        `the partial download of ${download.path} does not end as the platform's file does ` +
          `(a power cut?): downloading it again from the start`,
      );
      return this.#fetchInto(staged, download, held);
    }
    return held.bytes < held.total ? await endedShort() : false;
  }

  /** Drops what a staged file holds. */
  async #startOver(staged: StagedFile, held: _Held): Promise<void> {
    await staged.restart();
    this.#received(-held.bytes, -held.resumed);
    held.bytes = 0;
    held.unchecked = 0;
    held.resumed = 0;
    held.startsOver++;
  }

  /**
   * Starts the file over to go on from byte 0 (its partial did not match, or an answer ignored
   * Range); the first time in a pass, from the furthest point reached too, so answers gain from 0
   * (the partial's length, reached before, made every cut answer after a power cut's start over,
   * or after one answer of a backend ignoring Range, a failed try). Once only: after a second
   * start over no answer begins the tries again (see `endedShort` in `#fetchInto`).
   */
  async #beginAgain(staged: StagedFile, held: _Held): Promise<void> {
    await this.#startOver(staged, held);
    if (held.begunAgain) return;
    held.begunAgain = true;
    held.reached = 0;
  }

  /**
   * Appends a body to the staged file, counting into `held` what is written. The body is read into
   * one reused buffer (`BodyBuffer`: nothing allocated per chunk) and written 256 KiB at a time (or
   * every second, when the link is slow: the partial on disk is what a restart resumes from), and one lazy timer
   * watches for a stall (`IdleWatchdog`): per chunk, a write through the thread pool and a timer
   * armed and cleared cost a 256 MiB download more CPU than its bytes. What was received is written before an error is
   * passed on, so a retry resumes right after it.
   */
  async #stream(body: ReadableStream<Uint8Array>, staged: StagedFile, held: _Held): Promise<void> {
    const idleMs = this.#options.idleTimeoutMs ?? 60_000;
    const left = (held.total ?? Infinity) - held.bytes;
    const buffer = new BodyBuffer(body, Math.min(_WRITE_BYTES, left + held.unchecked));
    let flushedAt = performance.now();
    const flush = async () => {
      if (held.unchecked > 0) return; // bytes the partial holds already, not compared yet
      flushedAt = performance.now();
      const bytes = buffer.filled;
      if (bytes.length === 0) return;
      await staged.write(bytes);
      held.bytes += bytes.length;
      this.#received(bytes.length);
      buffer.clear();
    };
    // A body cut inside the part to compare: what came of it is compared now, and the next
    // attempt asks from where it ended. Compared only whole, a link that drops every connection
    // before 64 KiB had each attempt ask for the same bytes and keep none (a reviewer's case).
    // The buffer may hold more than the part to compare (a stop came before the loop compared
    // it): the rest is this answer's own, appended once the part matched.
    const compareWhatCame = async () => {
      const part = buffer.filled.subarray(0, Math.min(buffer.filled.length, held.unchecked));
      if (part.length === 0) return;
      const before = held.unchecked - part.length;
      if (!(await staged.endsWith(part, { before }))) throw new _PartialMismatch();
      buffer.drop(part.length);
      held.unchecked = before;
    };
    let stalled: IncompleteBodyError | undefined;
    const watchdog = new IdleWatchdog((_, ms) => {
      stalled = new IncompleteBodyError(`no data for ${ms} ms`);
      buffer.cancel(stalled).catch(() => {});
    });
    watchdog.watch(idleMs, "download body");
    // The slowest rate, over the idle timeout's window (a bandwidth limiter's waits left out).
    const floor = new RateFloor({
      windowMs: idleMs,
      minBytesPerSecond: MIN_BODY_BYTES_PER_SECOND,
      startMs: performance.now(),
    });
    // Fetch hands the pass's abort to the body through a signal of its own that the pass's signal
    // holds only weakly (a dependent signal, as the Fetch standard makes one); when the garbage
    // collector takes it, aborting no longer reaches the body, and a stopped mirror waited on a
    // slow download until its idle timeout. The pass's abort cancels the body here directly.
    const signal = this.#options.signal;
    const onAbort = () => void buffer.cancel(signal?.reason).catch(() => {});
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      try {
        for (;;) {
          const n = await buffer.fill();
          if (stalled !== undefined) throw stalled;
          signal?.throwIfAborted();
          if (n === null) break;
          watchdog.progress();
          const slow = floor.add(n);
          if (slow !== undefined) throw new IncompleteBodyError(slow);
          // The buffer starts at the first unchecked byte: where it ends in the file.
          if (held.bytes - held.unchecked + buffer.filled.length > held.total!) {
            throw new _BodyTooLong();
          }
          if (this.#options.bandwidth !== undefined) {
            // A limiter's wait is not a stall: a push's chunks may be booked far ahead on it.
            watchdog.pause();
            const waitedFrom = performance.now();
            await this.#options.bandwidth.take(n, this.#options.signal);
            floor.exclude(performance.now() - waitedFrom);
            watchdog.progress();
          }
          if (held.unchecked > 0) {
            if (buffer.filled.length < held.unchecked) continue;
            await compareWhatCame();
          }
          // Full: 256 KiB to write. On a slow link, every second, so a kill loses a second at most.
          if (buffer.isFull || performance.now() - flushedAt >= _WRITE_EVERY_MS) await flush();
        }
      } catch (error) {
        if (!(error instanceof _BodyTooLong)) {
          await compareWhatCame();
          await flush();
        }
        throw error;
      } finally {
        watchdog.stop();
        signal?.removeEventListener("abort", onAbort);
        buffer.cancel().catch(() => {});
      }
      if (held.unchecked > 0) {
        // The body ended inside what the partial holds (the file's size is known by now).
        await compareWhatCame();
        throw new IncompleteBodyError(`ended before byte ${held.bytes} of ${held.total}`);
      }
      await flush();
    } finally {
      // Every write of its bytes has been awaited by now.
      buffer.release();
    }
  }

  /**
   * Books room for downloads (sizes unknown count as 0); resolves to how many of them, from the
   * first, may go. When the reserve refuses one, no further download starts this pass and the log
   * says why (the files not started are held back, not failed).
   */
  async #book(downloads: Download[], sizes = _bookedSizes(downloads)): Promise<number> {
    if (this.result.spaceGuard !== undefined) return 0;
    let booking = await this.#space.book(sizes);
    // Refused while downloads in flight hold bookings: what they wrote is counted twice (on the
    // disk and booked) until they end, so the room may be there once one has. Wait for one (this
    // pass's, or another mirror's of this process on the disk: see `SpaceBudget`) and ask again;
    // only a caller that holds nothing waits, so no two wait on each other. Measured:
    // 10 files of 3 MiB on a 20 MiB disk, 4 at once, stopped at 4 files without the wait. A file
    // larger than the whole file system above its reserve does not wait: no release makes room
    // for it, and waiting held one download slot until the pass's end.
    const neverFits = ({ granted, space, refusedBytes }: Booking) =>
      granted === 0 && downloads.length === 1 && refusedBytes !== undefined &&
      refusedBytes > space.totalBytes * (1 - this.#options.reservePercent / 100);
    const stopped = () => this.#stopping || this.#options.signal?.aborted === true;
    while (
      booking.granted === 0 && !neverFits(booking) && this.#space.bookedOnDevice > 0 &&
      this.result.spaceGuard === undefined
    ) {
      // Stopped, or stopped while it waited: held back, and not for the reserve (no guard is said).
      if (stopped()) return 0;
      this.#options.logger.debug(
        `${downloads[0].path} waits for room: ${this.#space.bookedOnDevice} bytes booked by ` +
          "downloads in flight (this module's other mirrors on the disk included)",
      );
      await this.#untilReleased();
      if (stopped()) return 0;
      booking = await this.#space.book(sizes);
    }
    const { granted, space, booked, refusedBytes } = booking;
    if (neverFits(booking)) {
      // More than the whole file system holds above its reserve: no space will ever return for it.
      // It fails alone; pausing for it held back every download after it, pass after pass.
      this.#fail(
        downloads[0],
        new Error(
          `it is listed at ${downloads[0].item.sizeBytes} bytes, more than the file system can ` +
            `ever hold (${space.totalBytes} bytes, ${this.#options.reservePercent}% kept free)`,
        ),
      );
      return 0;
    }
    if (granted < downloads.length && this.result.spaceGuard === undefined) {
      // The free space alone can look ample: the downloads in flight have booked theirs already.
      this.result.spaceGuard = `free-space reserve of ${this.#options.reservePercent}% reached ` +
        `(${space.availableBytes} of ${space.totalBytes} bytes free, ${booked} of them booked ` +
        `by downloads in flight, ${refusedBytes} wanted by the next): downloads paused until ` +
        `space is freed or free_space_reserve_percent lowered`;
      this.#options.logger.warn(this.result.spaceGuard, { path: downloads[granted].path });
    }
    return granted;
  }

  /** Resolves at the next release of a booking (or the stage's stop), or when the pass is cut off. */
  async #untilReleased(): Promise<void> {
    const signal = this.#options.signal;
    const aborted = Promise.withResolvers<void>();
    const onAbort = () => aborted.resolve();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await Promise.race([this.#space.released(), aborted.promise]);
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  #retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return retry(fn, {
      attempts: this.#options.attempts ?? CALL_RETRY.attempts,
      minDelayMs: this.#options.minRetryDelayMs ?? CALL_RETRY.minDelayMs,
      maxDelayMs: CALL_RETRY.maxDelayMs,
      timeoutAttempts: CALL_RETRY.timeoutAttempts,
      isTimeout,
      isRetriable: (error) => this.#isTransient(error),
      signal: this.#options.signal,
      onRetry: logRetries(this.#options.logger, what, describeError),
    });
  }

  /** Whether a failure is worth another try (a dropped connection; not this pass's stop). */
  #isTransient(error: unknown): boolean {
    return kindUnder(this.#deps.remote.classify(error), this.#options.signal) === "transient";
  }

  #rethrowAbort(error: unknown): void {
    // The pass's own stop only: a CANCELED the server answered fails one file (kindUnder).
    if (this.#options.signal?.aborted) {
      throw error;
    }
  }

  /** A file that could not be written: kept if something is already there, else failed. */
  #placeFailed(download: Download, error: unknown): void {
    this.#rethrowAbort(error);
    if (error instanceof Deno.errors.AlreadyExists && !(error instanceof FolderInTheWayError)) {
      this.result.skipped++;
      this.#progress.filesDone++;
      this.#options.logger.info(`kept ${download.path}: a file is already there`);
      this.#report();
      return;
    }
    this.#fail(download, error);
  }

  /** Counts `n` bytes held more, `resumed` of them a partial's from an earlier attempt or pass. */
  #received(n: number, resumed = 0): void {
    this.#progress.bytesDone += n;
    if (resumed !== 0) {
      this.#progress.bytesResumed = (this.#progress.bytesResumed ?? 0) + resumed;
    }
    this.#report();
  }

  #done(download: Download, size: number): void {
    this.result.downloaded++;
    this.result.bytes += size;
    this.result.placed.set(download.path, download.item.binaryDataId);
    this.#options.onPlaced?.(download, size);
    this.#progress.filesDone++;
    this.#options.logger.debug(`wrote ${download.path}`, { bytes: size });
    this.#report();
  }

  #fail(download: Download, error: unknown): void {
    const message = describeError(error);
    const inTheWay = error instanceof Deno.errors.NotADirectory
      ? "file"
      : error instanceof FolderInTheWayError
      ? "folder"
      : undefined;
    this.result.failures.push({
      path: download.path,
      binaryDataId: download.item.binaryDataId,
      error: message,
      ...(inTheWay ? { inTheWay } : {}),
    });
    this.#progress.filesDone++;
    this.#progress.filesFailed = (this.#progress.filesFailed ?? 0) + 1;
    this.#options.logger[inTheWay ? "debug" : "error"](`failed to download ${download.path}`, {
      binaryDataId: download.item.binaryDataId,
      error: message,
    });
    this.#report();
  }

  #report(): void {
    this.#options.onProgress?.({ ...this.#progress });
  }
}

/** True for a write the disk had no room for (`ENOSPC`). */
function _isNoSpace(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "ENOSPC";
}

/**
 * Whether a download answered an HTML page for a file that is no web page (by its name): what a
 * proxy, a captive portal or a storage error puts in place of a file. Only asked when the listing
 * gives no size, which would otherwise tell the page from the file.
 */
function _isUnexpectedPage(body: DownloadBody, path: string): boolean {
  const type = body.contentType?.split(";")[0].trim().toLowerCase();
  return (type === "text/html" || type === "application/xhtml+xml") &&
    !/\.x?html?$/i.test(path);
}

/** The bytes the platform lists for `downloads`. */
function _bytesOf(downloads: readonly Download[]): number {
  return downloads.reduce((sum, d) => sum + (d.item.sizeBytes ?? 0), 0);
}

/** The sizes downloads are booked by (a size not listed counts as 0). */
function _bookedSizes(downloads: readonly Download[]): number[] {
  return downloads.map((d) => d.item.sizeBytes ?? 0);
}

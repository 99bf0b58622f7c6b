/**
 * One sync pass over a mirror ({@linkcode runPass}) and its dry run ({@linkcode dryRunPass}): the
 * stages walk, list (streaming downloads as pages arrive), settle the paths several items claimed,
 * delete what the platform no longer lists once the listing is proved whole, and save what the
 * pass placed (`.data-mirror/placed`) and listed (the manifest).
 *
 * @example
 * ```ts
 * const result = await runPass(config, remote, { logger, signal });
 * if (result.guard !== undefined) logger.warn(`held back: ${result.guard}`);
 * ```
 *
 * @module
 */
import { getHeapStatistics } from "node:v8";
import { join, relative, sep } from "node:path";
import { type BandwidthLimit, bandwidthLimitOf } from "../async/bandwidth_limit.ts";
import { collectGarbageNow, startHeapGuard } from "../async/heap_guard.ts";
import { LinkedAbort } from "../async/linked_abort.ts";
import { Semaphore } from "../async/semaphore.ts";
import type { ItemBackoff } from "../async/item_backoff.ts";
import type { MirrorConfig } from "../config.ts";
import type { FreeSpace } from "../fs/free_space.ts";
import { listLocalFiles, type LocalFile, REGULAR_FILE } from "../fs/local_files.ts";
import {
  fileSizeUnder,
  isDirectoryUnder,
  isSameFileUnder,
  MirrorDir,
  placedMirrorRoot,
} from "../fs/mirror_dir.ts";
import { prunableDirs } from "../fs/prune_dirs.ts";
import { SpaceBudget } from "../fs/space_budget.ts";
import type { Logger } from "../logger.ts";
import type { DryRunReport } from "../mirror_controller.ts";
import {
  directoriesOf,
  foldLetterCase,
  foldLetterCaseSurely,
  isStateDirPath,
  MAX_ABSOLUTE_PATH_BYTES,
  parentDirectories,
  quoteName,
  STATE_DIR_NAME,
} from "../paths.ts";
import { describeError, PassCancelledError } from "../remote/errors.ts";
import { DATE_LIMIT_MS } from "../remote/remote_item.ts";
import type { ListFilter, RemoteSource } from "../remote/remote_source.ts";
import { type DeleteResult, deleteStale } from "./delete_stale.ts";
import {
  assertHeapRoom,
  listingCapacity,
  passHeapCeiling,
  PassHeapError,
} from "./listing_capacity.ts";
import { FilesWithPlaced } from "./_files_with_placed.ts";
import { type ListedItem, ListingIndex } from "./listing_index.ts";
import { ManifestWriter } from "./manifest_writer.ts";
import { HeldDeletes } from "./held_deletes.ts";
import { type PlacedFile, PlacedLog, PlacedRecord } from "./placed_record.ts";
import { type ListingResult, listRemote } from "./list_remote.ts";
import {
  deleteShareBase,
  type Download,
  FOLDER_IN_THE_WAY,
  isDeletable,
  isProtected,
  overDeleteLimit,
  type Plan,
  planDeletes,
  type PlanInput,
  planItem,
  planPass,
} from "./plan.ts";
import { emptySummary, type Summary } from "./summary.ts";
import {
  INLINE_MAX_BYTES,
  type PlacementJournal,
  Transfer,
  type TransferProgress,
  type TransferResult,
} from "./transfer_files.ts";

/** How many paths a dry run, or failures a pass, lists by name; counts stay exact. */
const _LIST_CAP = 1000;

/** Options of {@linkcode runPass}. */
export interface PassOptions {
  /** Where the pass reports what it does. */
  logger: Logger;
  /** Cancels the pass; files in flight stay in staging, never under a final name. */
  signal?: AbortSignal;
  /** Names this process in the mirror lock, for the message another one gets. */
  owner?: string;
  /** Called as the transfer advances. */
  onProgress?: (progress: TransferProgress) => void;
  /** Measures free space instead of the mirror's file system (tests). */
  freeSpace?: () => Promise<FreeSpace>;
  /** Tries per listing page and per file (default `CALL_RETRY.attempts`, 8, for both). */
  attempts?: { page?: number; file?: number };
  /** Delay before the first retry, in milliseconds (default 500). */
  minRetryDelayMs?: number;
  /** A download body that sends nothing for this long is retried, in milliseconds (default 60 s). */
  idleTimeoutMs?: number;
  /**
   * Listing pages in flight at once (1 lists page after page); by default twice `concurrency`,
   * at most 32: pages are small, and a no-op pass is nothing but its listing.
   */
  parallelPages?: number;
  /**
   * The most items the listing may hold (default `listingCapacity()`, from the heap the program
   * runs with); a listing past it fails the pass before it runs out of memory.
   */
  maxItems?: number;
  /**
   * The live heap past which the pass stops itself and fails with a `PassHeapError` (default
   * `passHeapCeiling()`): what the count of items cannot foresee (long names, many local files).
   */
  heapCeilingBytes?: number;
  /**
   * The bandwidth limit to share (a loop shares one between its passes and its push side);
   * by default one is made from `bandwidth_limit`.
   */
  bandwidth?: BandwidthLimit;
  /**
   * Items that failed in earlier passes and when each may be tried again (the loop keeps one);
   * without it every planned item is tried.
   */
  itemBackoff?: ItemBackoff;
  /**
   * What the loop's earlier passes saw of the mirror root (see `OpenMirrorOptions.seen`): a
   * long-running mirror refuses a root that moved to another file system and lost its state (its
   * disk unmounted), rather than copy the whole set onto the disk below; and whether the last
   * whole listing matched nothing into an empty mirror (its warning is then not said again every
   * pass, only at debug, until something is listed).
   */
  seen?: { device?: number; nothingMatched?: boolean };
  /**
   * The caller reports the result's `guard` itself (the CLI's `held back:` line, in its flags'
   * words): the pass does not log it too, in the attributes' words (said twice, two ways).
   */
  guardReported?: boolean;
}

/** What one pass did. */
export interface PassResult {
  /** The counts. */
  summary: Summary;
  /** True when the listing completed without error. */
  listingComplete: boolean;
  /** Why the pass as a whole failed (listing cut short), if it did. */
  error?: string;
  /**
   * A safety guard that held work back (empty or unproven listing with delete, max_delete, the
   * free-space reserve).
   */
  guard?: string;
  /** Files that failed, with why (capped). */
  failures: { path: string; error: string }[];
  /** The least free space seen on the mirror's file system while downloading, in bytes. */
  lowestFreeBytes?: number;
}

/**
 * Said when a whole listing matched nothing and the mirror holds nothing: on a first sync the usual
 * cause is the filter or the key (a tag that differs by case, a mistyped dataset id, a key of
 * another organization), which the platform answers with an empty list, not an error. A mirror
 * that holds files is told of an empty listing by the `allow_delete_all` guard instead.
 */
export const NOTHING_MATCHED = "the platform lists no item for this filter, and the mirror is " +
  "empty: if items were expected, check the tags and labels (matched exactly, case included), the " +
  "dataset_id, and that the API key belongs to the organization that holds the data";

/**
 * One sync pass, as visible stages over the mirror opened once: walk the mirror, list the platform
 * (shards in parallel) while downloading what each page brings, settle the paths several items
 * claimed, then delete what the platform no longer has once the listing is proved whole.
 *
 * Streaming keeps "the same winner whatever the page order": the first item seen at a path is
 * fetched at once; when the complete listing shows another item winning that path (the one stored
 * last, see `ListingIndex`), or a folder needed where a file was placed, the file this pass placed
 * there is removed and the winner fetched. Only files placed by this very pass are ever removed that way.
 *
 * Runs under the mirror's lock, so a CLI run and a module never write one mirror at once. When the
 * pass is cancelled it rejects with a {@linkcode PassCancelledError} whose `result` holds what was
 * done.
 */
export async function runPass(
  config: MirrorConfig,
  remote: RemoteSource,
  options: PassOptions,
): Promise<PassResult> {
  const started = performance.now();
  const warn = (message: string) => options.logger.warn(message);
  using heap = new _HeapWatch(options);
  options = { ...options, signal: heap.signal };
  // The sign-in's round trip beside the mirror's opening (its lock, state folder and records), not
  // after it: one round trip off the way to the first page (the no-op 19 ms sooner in ten
  // alternated pairs, inside their swing).
  remote.signInAhead?.();
  await using mirror = await MirrorDir.open({
    viamHome: config.viamHome,
    mirrorPath: config.mirrorPath,
    owner: options.owner,
    warn,
    seen: options.seen,
    signal: options.signal,
  });
  await using manifest = config.manifest
    ? await ManifestWriter.open(mirror.root, {
      warn,
      reservePercent: config.freeSpaceReservePercent,
    })
    : null;
  if (!config.manifest) await ManifestWriter.discardPending(mirror.root, { warn });
  using pass = await _SyncPass.open({ config, remote, options, mirror, manifest, started });
  heap.weight = () => pass.weight;
  try {
    await heap.admit(pass.recordedFiles, options.logger);
    // Walk and list at once; each page's paths the mirror lacks are downloaded as it arrives.
    const listing = await pass.list();
    const local = await pass.afterListing(listing);
    heap.assertRoom(local);
    const deletion = await pass.startDeletes(listing, local);
    const { entries, present } = await pass.settleStreamed(listing, local);
    const plan = await pass.fetchTheRest({ listing, local: present, deletion, entries });
    return await pass.finish({ listing, local: present, plan, entries });
  } catch (error) {
    throw await pass.failed(heap.failure(error), { stopped: heap.stoppedFromOutside });
  }
}

/**
 * A pass's (or a dry run's) watch over the heap it shares with every pass of the process (a
 * module's mirrors run theirs in one isolate): a signal that follows the caller's and is aborted
 * with a `PassHeapError` when the heap passes its ceiling and this pass holds the most items of
 * those running (each one's guard looks at the one heap: a small mirror's pass beside a large one
 * was stopped too, and told to narrow its filter). A pass that would run the heap out stops as a
 * stop from outside ends it, and fails. A guard that stopped another pass looks again once that
 * one has ended: told once per pass, two mirrors too large for the heap together left the one not
 * stopped unwatched, free to run it out.
 */
class _HeapWatch implements Disposable {
  static readonly #running = new Set<_HeapWatch>();
  readonly #outside: AbortSignal | undefined;
  readonly #stop: LinkedAbort;
  readonly #guard: Disposable;
  readonly #limit = getHeapStatistics().heap_size_limit;
  /** The most files one pass may hold: what the passes let in at once may hold together. */
  readonly #room: number;
  /** The items the pass holds: listed, and files walked. */
  weight: () => number = () => 0;
  /** Resolved once the pass has ended (disposed of its watch). */
  readonly #ended = Promise.withResolvers<void>();
  /** The turns in the heap, a file a permit, by what one pass may hold (see `admit`). */
  static readonly #turns = new Map<number, Semaphore>();
  /** The permits this pass holds, once let in. */
  #held?: { turns: Semaphore; files: number };

  constructor(options: Pick<PassOptions, "signal" | "heapCeilingBytes" | "maxItems">) {
    this.#outside = options.signal;
    this.#room = options.maxItems ?? listingCapacity(this.#limit);
    this.#stop = new LinkedAbort(options.signal);
    _HeapWatch.#running.add(this);
    this.#guard = startHeapGuard({
      budgetBytes: _HEAP_BUDGET_BYTES,
      ceiling: {
        bytes: options.heapCeilingBytes ?? passHeapCeiling(this.#limit),
        onReached: (used) => {
          const heaviest = _HeapWatch.#heaviest();
          if (heaviest === undefined) return;
          heaviest.#stopFor(used);
          // Another pass stopped (or stopping already, still the heaviest while it settles): this
          // one goes on, and looks again once that one has let go of its items, as the others
          // sharing the heap may still hold, or grow to, too much.
          if (heaviest !== this) return heaviest.#ended.promise;
        },
      },
    });
  }

  /** The pass's signal: the caller's, or the heap's stop. */
  get signal(): AbortSignal {
    return this.#stop.signal;
  }

  /** Whether the caller stopped the pass (not the heap). */
  get stoppedFromOutside(): boolean {
    return this.#outside?.aborted === true;
  }

  /** What the pass failed with: the heap's error when it stopped the pass, else `error`. */
  failure(error: unknown): unknown {
    const reason = this.#stop.signal.reason;
    return reason instanceof PassHeapError && !this.stoppedFromOutside ? reason : error;
  }

  /** {@linkcode assertHeapRoom} for the `local` files, asked of the heaviest pass running only. */
  assertRoom(local: ReadonlyMap<string, unknown>): void {
    if (_HeapWatch.#heaviest() !== this) return;
    assertHeapRoom(local, this.#limit, _HeapWatch.#running.size - 1);
  }

  /**
   * Waits until the passes of this process leave room for this one's `files` (its mirror's files as
   * recorded: about what its walk and listing will hold), and counts them as held until it ends:
   * passes that together would hold more than one pass may ({@linkcode listingCapacity}) take
   * turns. Three mirrors of 200,000 files in one module, each well within what one pass may hold,
   * ran V8 out of memory together, the whole process with them, within minutes of its start (the
   * heap's stop came too late: a stopped pass holds its memory while it settles, and the others
   * grew past the limit meanwhile). A pass of more than that alone runs alone; one of a mirror
   * that has no record yet (a fresh copy), or of few files (under a hundredth of that), never waits
   * nor counts, and the heap's stop stays for what the count does not foresee (long names). The
   * pass's walk starts once it is let in.
   */
  async admit(files: number, logger: Logger): Promise<void> {
    const room = this.#room;
    // A small mirror's pass counts for nothing: counted, small passes following each other kept
    // a mirror near the capacity waiting for good (a re-reviewer).
    if (files < room / 100) return;
    const wanted = Math.min(files, room);
    let turns = _HeapWatch.#turns.get(room);
    if (turns === undefined) _HeapWatch.#turns.set(room, turns = new Semaphore(room));
    const waits = turns.waiting > 0 || turns.free < wanted;
    const started = performance.now();
    if (waits) {
      const waiting = turns.waiting > 0 ? ` (${turns.waiting} other waiting first)` : "";
      logger.info(
        `waiting for its turn in this process's heap: its ${files} files beside the ` +
          `${room - turns.free} of the passes running${waiting} would be more than one pass may ` +
          `hold (${room}); the mirrors take turns`,
      );
    }
    await turns.acquire(this.signal, wanted);
    this.#held = { turns, files: wanted };
    if (waits) {
      logger.info(`its turn came after ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  }

  #stopFor(usedBytes: number): void {
    this.#stop.abort(new PassHeapError(usedBytes, this.#limit, _HeapWatch.#running.size - 1));
  }

  static #heaviest(): _HeapWatch | undefined {
    let heaviest: _HeapWatch | undefined;
    for (const watch of _HeapWatch.#running) {
      if (heaviest === undefined || watch.weight() > heaviest.weight()) heaviest = watch;
    }
    return heaviest;
  }

  [Symbol.dispose](): void {
    this.#guard[Symbol.dispose]();
    // Its guard, waiting for a pass it stopped to end, holds this watch until then: not the pass.
    this.weight = () => 0;
    _HeapWatch.#running.delete(this);
    this.#held?.turns.release(this.#held.files);
    this.#stop[Symbol.dispose]();
    this.#ended.resolve();
  }
}

/** What {@linkcode _SyncPass} is opened with. */
interface _SyncPassContext {
  config: MirrorConfig;
  remote: RemoteSource;
  options: PassOptions;
  mirror: MirrorDir;
  manifest: ManifestWriter | null;
  /** `performance.now()` when the pass began. */
  started: number;
}

/** The delete half of a pass's plan (see `_deletion`). */
type _Deletion = Awaited<ReturnType<typeof _deletion>>;

/**
 * The state one sync pass carries from stage to stage (see {@linkcode runPass}): the index the
 * listing fills, the transfer, the deletes once started, and what the placed record is saved from
 * whether the pass ends well, fails or is cut off.
 */
class _SyncPass implements Disposable {
  // Its protected_dirs gain the folders and files links in them lead to once the walk has ended.
  #config: MirrorConfig;
  // The protected_dirs as configured, read again for new links once the listing has ended.
  readonly #ownProtected: readonly string[];
  readonly #remote: RemoteSource;
  readonly #options: PassOptions;
  readonly #mirror: MirrorDir;
  readonly #manifest: ManifestWriter | null;
  readonly #started: number;
  readonly #logger: Logger;
  /**
   * The placed record, read as the pass opened: which files are the mirror's (before it placed any,
   * for `max_delete`'s count kept ahead of the first file), and what the pass saves at its end.
   */
  readonly #record: PlacedRecord;
  // Each file placed is logged as it is named, for a pass killed before it saves the record.
  readonly #placedLog: PlacedLog;
  readonly #index: ListingIndex;
  /**
   * Ids handed to the transfer and not placed (yet): what the plan after the listing must not hand
   * over again. A placed one leaves it (the plan finds its file): at 100,000 files the set's table
   * was 2.5 MB more at the pass's end, where its peak is.
   */
  readonly #queued = new Set<string>();
  // The sizes of files placed for items listed without one, or placed for an item that then lost
  // its path: what the record says they were placed with, so that a later version's file can
  // replace them as it replaces any other.
  readonly #unlistedSizes = new Map<string, number>();
  // Paths whose file this pass placed for an item that lost the path to a later-listed one: kept
  // until the winner is placed over it (see `settleStreamed`).
  readonly #outlisted = new Set<string>();
  // One limit for the listing and the transfer: their bytes share the link.
  readonly #bandwidth: BandwidthLimit | undefined;
  readonly #transfer: Transfer;
  // What `max_delete`'s share is taken of (of deletes, and of files cleared for folders, with or
  // without delete), kept from before the first file placed.
  readonly #heldDeletes: HeldDeletes;
  readonly #progress: _Progress;
  readonly #spellings: _Spellings;
  /** The walk of the mirror, from the list stage on. */
  #walk?: _LocalWalk;
  /** `max_delete`'s base when files were cleared for folders (see `_clearLimit`). */
  #clearBase: number | undefined;
  // Started once the listing is proved whole (see startDeletes); awaited before the lock is let go.
  #deletingEarly: Promise<DeleteResult> | undefined;
  /** What the deletes did so far: told also by a pass that fails or is cut off after them. */
  readonly #deletedSoFar: DeleteResult = { deleted: 0, failed: 0, failures: [] };
  // The stale files gone from the mirror so far: all the record forgets (a pass cut off during its
  // deletes forgot every planned one, and a new version at a path not reached was never placed).
  readonly #gone = new Set<string>();
  // Known once the walk is in: what the record is saved from, whatever happens.
  #walked: ReadonlyMap<string, LocalFile> | undefined;
  #settled: _Replacements = { replacing: new Set(), adopted: new Map() };

  /** Opens the pass's state: the record read, the held deletes, and the walk started. */
  static async open(opened: _SyncPassContext): Promise<_SyncPass> {
    const context = opened;
    const { config, mirror, options } = context;
    const warn = (message: string) => options.logger.warn(message);
    // Read beside the held deletes' count, before the listing: `max_delete`'s count kept ahead of
    // the first file placed is of the mirror's own files, which the record names (counted among an
    // operator's files, a pass cut off after placing files let the next one delete past it).
    const [record, heldDeletes] = await Promise.all([
      PlacedRecord.read(mirror.stateDir, { warn }),
      HeldDeletes.open(mirror.stateDir, {
        warn,
        inPlace: () => _inPlace(mirror, options.logger),
        delete: config.delete,
      }),
    ]);
    return new _SyncPass(context, record, heldDeletes);
  }

  private constructor(
    context: _SyncPassContext,
    record: PlacedRecord,
    heldDeletes: HeldDeletes,
  ) {
    const { config, options, mirror } = context;
    this.#config = config;
    this.#ownProtected = config.protectedDirs;
    if (config.delete) mirror.clearFoldersInTheWay(() => this.#config.protectedDirs);
    this.#remote = context.remote;
    this.#options = options;
    this.#mirror = mirror;
    this.#manifest = context.manifest;
    this.#started = context.started;
    this.#logger = options.logger;
    this.#record = record;
    this.#heldDeletes = heldDeletes;
    this.#placedLog = new PlacedLog(mirror.stateDir, record, {
      warn: (message) => options.logger.warn(message),
    });
    this.#index = _newIndex(mirror.root);
    this.#bandwidth = options.bandwidth ?? bandwidthLimitOf(config);
    this.#transfer = new Transfer({
      remote: context.remote,
      mirror,
      space: new SpaceBudget(
        options.freeSpace ?? (() => mirror.freeSpace()),
        config.freeSpaceReservePercent,
        { device: mirror.device }, // a module's other mirrors on the disk book against it too
      ),
    }, {
      concurrency: config.concurrency,
      reservePercent: config.freeSpaceReservePercent,
      logger: options.logger,
      signal: options.signal,
      onProgress: options.onProgress,
      onPlaced: (download, size) => {
        this.#queued.delete(download.item.binaryDataId);
        options.itemBackoff?.succeeded(download.item.binaryDataId);
        if (download.item.sizeBytes === undefined) this.#unlistedSizes.set(download.path, size);
      },
      journal: _journalOf(this.#placedLog),
      bandwidth: this.#bandwidth,
      attempts: options.attempts?.file,
      minRetryDelayMs: options.minRetryDelayMs,
      idleTimeoutMs: options.idleTimeoutMs,
    });
    this.#progress = { index: this.#index, transfer: this.#transfer.result };
    this.#spellings = new _Spellings(mirror.root);
  }

  /** Hands `downloads` that are due to the transfer. */
  #fetchNow(downloads: Download[], walked: ReadonlyMap<string, LocalFile>): void {
    const backoff = this.#options.itemBackoff;
    const due = backoff ? downloads.filter((d) => backoff.isDue(d.item.binaryDataId)) : downloads;
    for (const download of due) this.#queued.add(download.item.binaryDataId);
    if (due.length === 0) return;
    const { protectedDirs } = this.#config;
    // A file taken for a listed path is in `walked` under both spellings until the listing ends.
    this.#heldDeletes.beforePlacing(() =>
      _ownWalkedCount(walked, protectedDirs, this.#record, this.#spellings)
    );
    this.#placedLog.prepare(); // ready while the first downloads are on the wire
    this.#transfer.add(due);
  }

  /**
   * Starts the walk of the mirror, once the pass has its turn in the heap (see `_HeapWatch.admit`):
   * a pass waiting for it holds no walked file (some 100 bytes each), nor a walk gone stale.
   */
  #startWalk(): _LocalWalk {
    const mirror = this.#mirror;
    const options = this.#options;
    // It runs while the listing's first calls (sign-in, counts) are on the wire. Until it
    // ends, listed paths are indexed and wait for it: whether to fetch one needs the local files.
    return this.#walk = new _LocalWalk(
      mirror.walk().then(async (files) => {
        this.#config = await _withProtectedLinkTargets(
          this.#config,
          mirror.root,
          _linksOf(files),
          options.signal,
        );
        return files;
      }),
      mirror.nestedMirrors,
      options.signal,
      (held, walked) => {
        this.#logger.debug(
          `${held.length} path(s) listed before the local walk ended, planned now`,
        );
        this.#fetchNow(_fetchable(held, this.#index, walked, this.#spellings), walked.files);
      },
    );
  }

  /**
   * The list stage, beside the walk: every page's items indexed (and added to the manifest) as they
   * arrive, and the paths first seen that the mirror lacks handed to the transfer (held until the
   * walk ends).
   */
  list(): Promise<ListingResult> {
    const options = this.#options;
    const index = this.#index;
    const walk = this.#startWalk();
    return listRemote(this.#remote, _filterOf(this.#config), {
      logger: this.#logger,
      signal: walk.signal,
      bandwidth: this.#bandwidth,
      parallelPages: options.parallelPages ?? _listingLanes(this.#config),
      attemptsPerPage: options.attempts?.page,
      minRetryDelayMs: options.minRetryDelayMs,
      maxItems: options.maxItems ?? listingCapacity(),
      distinctItems: () => index.listed,
      onItems: (items) => {
        const added = index.addPage(items);
        this.#manifest?.add(items, added);
        const { firstSightings } = added;
        const walked = walk.walked;
        if (walked === undefined) walk.hold(firstSightings);
        else {
          this.#fetchNow(_fetchable(firstSightings, index, walked, this.#spellings), walked.files);
        }
      },
    }).catch((error) => walk.failure(error));
  }

  /**
   * Once the listing has ended: the walk's files (twins settled), the record read, and the files an
   * earlier pass placed where listed items now need folders cleared (within `max_delete`).
   */
  async afterListing(listing: ListingResult): Promise<Map<string, LocalFile>> {
    const index = this.#index;
    const logger = this.#logger;
    const progress = this.#progress;
    const local = await this.#walk!.done();
    this.#walked = local;
    // Again now that the listing (seconds to minutes) has ended: a link in a protected folder
    // made or flipped to a new release meanwhile (`ln -sfn`, as a deploy does) protects it too.
    const root = this.#mirror.root;
    const localLinks = _linksOf(local);
    const links = [...localLinks, ...await _protectedLinksNow(root, this.#ownProtected)];
    this.#config = await _withProtectedLinkTargets(
      this.#config,
      root,
      links,
      this.#options.signal,
    );
    const config = this.#config;
    index.endListing();
    // A twin listed on a later page than the path that took its file: the file is the twin's.
    this.#spellings.settle(index, local);
    // The listing has ended: what it let go of (its pages, the outgrown tables of the index's
    // maps) goes now, before the plan and the manifest add theirs. A 100,000-item no-op peaked at
    // 148-152 MiB instead of 154-161 (five alternated pairs); the 10,020-file passes the same
    // within their swing. One full collection, 10-40 ms.
    collectGarbageNow();
    _reportListingEnd(listing, { index, local, config }, logger, this.#options.seen);
    _reportIndex(index, logger);
    _reportLinksAtListedPaths(localLinks, index, logger);
    const record = this.#record;
    await _settleTentative(record, local, (path) => this.#mirror.fileSize(path), this.#placedLog);
    if (_isProvenWhole(listing) && index.shadowed.size > 0) {
      // Before the deletes and the plan are decided: neither should see these files any more.
      const clearing = await _shadowedOwnFiles(index.shadowed, local, record, {
        config,
        fileSize: (path) => this.#mirror.fileSize(path),
      });
      const limit = _clearLimit(clearing, local, config, this.#heldDeletes.base, record);
      progress.clearBlocked = limit?.blocked;
      this.#clearBase = limit?.base;
      if (progress.clearBlocked === undefined) {
        progress.cleared = await _clear(clearing, local, this.#mirror, logger);
      } else logger.warn(`held back: ${progress.clearBlocked}`);
    }
    logger.debug(
      `listed ${index.listed} item(s) in ${listing.shards} shard(s): ` +
        (listing.error !== undefined
          ? "incomplete"
          : listing.unproven !== undefined
          ? `unproven (${listing.unproven})`
          : "complete, proved by the platform's counts") +
        `; the mirror held ${local.size} file(s)`,
    );
    return local;
  }

  /**
   * The delete stage, decided now from the mirror as the walk found it, and started beside the
   * transfer's last calls: the stale files are the walk's (there before this pass), the listing is
   * proved whole, and a download only ever places a listed path. `max_delete` is a share of what
   * the mirror held before the pass (or before the pass it held back, until one deletes), as a dry
   * run reports it: a pass that replaces the whole mirror (a changed filter) deletes nothing,
   * however many files it (or the one before) places.
   */
  async startDeletes(listing: ListingResult, local: Map<string, LocalFile>): Promise<_Deletion> {
    const config = this.#config;
    const progress = this.#progress;
    const heldDeletes = this.#heldDeletes;
    const deletion = await _deletion(
      config,
      this.#index,
      local,
      listing,
      this.#mirror.root,
      this.#record,
      this.#logger,
      heldDeletes.base,
      progress.cleared,
    );
    if (_isProvenWhole(listing)) {
      if (progress.clearBlocked !== undefined) {
        heldDeletes.decided({ deleteBlocked: progress.clearBlocked, limitBase: this.#clearBase });
      } else if (config.delete) heldDeletes.decided(deletion);
      else heldDeletes.decidedNone(); // what a held-back deletion kept waits for a pass with delete
    }
    if (deletion.deletes.length > 0) {
      this.#deletingEarly = deleteStale(this.#mirror, deletion.deletes, {
        logger: this.#logger,
        signal: this.#options.signal,
        maxListed: _LIST_CAP,
        into: this.#deletedSoFar,
        gone: this.#gone,
      });
      this.#deletingEarly.catch(() => {}); // awaited in finish, or on the way out
    }
    return deletion;
  }

  /**
   * Once the streamed downloads are through: the paths they may have got wrong settled (a file
   * this pass placed for an item that lost its path is removed), the files to replace found (after
   * a listing proved whole). Returns the listing's entries, and the files present: `local` with
   * every file the pass placed.
   */
  async settleStreamed(
    listing: ListingResult,
    local: Map<string, LocalFile>,
  ): Promise<{
    entries: ReturnType<ListingIndex["entries"]>;
    present: ReadonlyMap<string, LocalFile>;
  }> {
    const transfer = this.#transfer;
    const mirror = this.#mirror;
    const logger = this.#logger;
    await transfer.finish();
    const entries = this.#index.entries();
    for (const [path, id] of transfer.result.placed) {
      const winner = entries.get(path);
      if (winner?.binaryDataId === id) continue;
      logger.info(`replacing ${path}: another listed item wins that path`);
      const size = await mirror.fileSize(path);
      // Counted for its winner, once placed: the summary is the listing's, not the way to it.
      transfer.result.downloaded--;
      transfer.result.bytes -= size ?? 0;
      if (winner === undefined || size === undefined) {
        // A folder wins the path (or the file is gone): it makes way now.
        await mirror.remove(path);
        transfer.result.placed.delete(path);
        continue;
      }
      // Another file wins it: this one stays until the winner is renamed over it, as an older
      // version does. Removed now, a winner that cannot be placed (too large for the disk, a
      // failing download) had it fetched and removed again every pass (a reviewer's case).
      this.#outlisted.add(path);
      this.#unlistedSizes.set(path, size);
    }
    // Nor is a download that failed for an item that lost its path (to a later item, or to a
    // folder another item needs, which may already stand there) a failure of the pass.
    transfer.result.failures = transfer.result.failures.filter((failure) =>
      entries.get(failure.path)?.binaryDataId === failure.binaryDataId
    );
    if (_isProvenWhole(listing)) {
      this.#settled = await _findReplacements(
        this.#index,
        local,
        transfer.result.placed,
        this.#record,
        {
          config: this.#config,
          spelt: this.#spellings.aliases,
          fileSize: (path) => mirror.fileSize(path),
          onReplace: (path, why) => logger.info(`replacing ${path}: ${why}`),
        },
      );
      this.#record.markTakenOn();
    }
    // Replacing a file this pass placed itself needs no proof of the listing.
    if (this.#outlisted.size > 0) {
      const replacing = new Set([...this.#settled.replacing, ...this.#outlisted]);
      this.#settled = { ...this.#settled, replacing };
    }
    for (const path of this.#settled.replacing) mirror.replaceOnPlace(path);
    const present = this.#walked = new FilesWithPlaced(local, transfer.result.placed);
    return { entries, present };
  }

  /**
   * The plan of the whole listing against the mirror as it is now, and the transfer of what the
   * streamed downloads did not fetch (those a stale file stood in the way of once the deletes are
   * through). Failures that still count are logged as errors.
   */
  async fetchTheRest(stage: {
    listing: ListingResult;
    local: ReadonlyMap<string, LocalFile>;
    deletion: _Deletion;
    entries: ReturnType<ListingIndex["entries"]>;
  }): Promise<Plan> {
    const { listing, local, deletion, entries } = stage;
    const transfer = this.#transfer;
    const mirror = this.#mirror;
    const logger = this.#logger;
    const progress = this.#progress;
    const queued = this.#queued;
    // A file to replace stays until its replacement is placed over it: absent to the plan only.
    const inPlace = _without(local, this.#settled.replacing);
    const plan = _plan(this.#config, entries, inPlace, listing, deletion, {
      nestedMirrors: mirror.nestedMirrors,
    });
    logger.debug(
      `plan, after the streamed downloads: ${plan.downloads.length} still to download, ` +
        `${plan.skipped} in place, ${deletion.deletes.length} stale to delete` +
        (plan.deleteBlocked ? ` (held back: ${plan.deleteBlocked})` : ""),
    );
    const freed = _fetchFreedByDeletes(plan, deletion, inPlace, mirror.nestedMirrors, entries);
    progress.plan = plan;
    // Those the plan finds in place (a file kept for its winner is not: it is to be replaced).
    progress.placedBeforePlan = transfer.result.placed.size - this.#outlisted.size;
    // Items blocked by a file this pass placed and then removed get their turn now.
    const blocked = new Set(
      transfer.result.failures.filter((f) => f.inTheWay === "file").map((f) => f.binaryDataId),
    );
    transfer.result.failures = transfer.result.failures.filter((f) => !blocked.has(f.binaryDataId));
    for (const id of blocked) queued.delete(id);
    // Downloads a stale file stood in the way of (freed by the deletes; or one blocked under another
    // spelling on a case-insensitive disk, which the plan does not see) wait for the deletes.
    if (freed > 0 || blocked.size > 0) await this.#deletingEarly?.catch(() => {});
    this.#fetchNow(plan.downloads.filter((d) => !queued.has(d.item.binaryDataId)), local);
    // Those not handed over (not due), counted before the transfer places any: a placed one leaves
    // `queued`, and counted after, it was taken for one that waits (a failure of the pass).
    const waiting = plan.downloads.filter((d) => !queued.has(d.item.binaryDataId));
    progress.waiting = waiting.length;
    // Named among the pass's failures, which count them (a sync command answered `failed: 1` and
    // named nothing), with why each last failed.
    transfer.countFailedUntried(waiting.length + plan.conflicts.length);
    progress.waitingFailures = waiting.slice(0, _LIST_CAP).map((d) => ({
      path: d.path,
      error: `${
        this.#options.itemBackoff?.lastError(d.item.binaryDataId) ?? "failed in an earlier pass"
      } (waits for its next retry)`,
    }));
    await transfer.finish();
    if (progress.waiting > 0) {
      logger.info(`${progress.waiting} failing item(s) wait for their next retry`);
    }
    for (const conflict of plan.conflicts) {
      logger.error(`cannot write ${conflict.path}: ${conflict.reason}`);
    }
    for (const { path, binaryDataId, error, inTheWay } of transfer.result.failures) {
      if (inTheWay) logger.error(`failed to download ${path}`, { binaryDataId, error });
    }
    const backoff = this.#options.itemBackoff;
    if (backoff) _recordItems(backoff, queued, transfer.result, listing, entries);
    return plan;
  }

  /**
   * The pass's end: the manifest written while the deletes finish, empty folders pruned (with
   * `delete`, after a listing proved whole), the record saved, stale partial downloads discarded,
   * and the result.
   */
  async finish(stage: {
    listing: ListingResult;
    local: ReadonlyMap<string, LocalFile>;
    plan: Plan;
    entries: ReturnType<ListingIndex["entries"]>;
  }): Promise<PassResult> {
    const { listing, local, plan, entries } = stage;
    const config = this.#config;
    const mirror = this.#mirror;
    const logger = this.#logger;
    const transfer = this.#transfer;
    const summary = _summary(this.#progress);
    // The manifest holds listed items and the deletes remove unlisted files: it is written while
    // they run (its file I/O and their system calls overlap). It never throws (it warns).
    const { placed } = transfer.result;
    const record = this.#record;
    const aliases = this.#spellings.aliases;
    // A file the record says came from another item holds that item's bytes (a replacement not
    // placed yet) or its user's: no line names the listed item for it. A file edited in place since
    // the listed item was placed keeps its line (see the README's manifest: no stat per file).
    const holdsListedItem = (path: string) =>
      placed.has(path)
        ? placed.get(path) === entries.get(path)?.binaryDataId // not a file kept for its winner
        : local.get(path)?.symlink === false &&
          _placedFrom(record, path, entries.get(path)?.binaryDataId ?? "", aliases).from !==
            "other";
    const manifest = this.#manifest;
    const writingManifest = manifest && _isProvenWhole(listing) && _inPlace(mirror, logger)
      ? manifest.finish(
        entries,
        holdsListedItem,
        // Deletes alone leave the lines as they were when the stale files were not listed
        // before either (one that cannot be deleted, pass after pass): the digest decides.
        { changed: placed.size > 0 },
      )
      : undefined;
    let deleteFailures: DeleteResult["failures"] = [];
    try {
      if (this.#deletingEarly) {
        const deleted = await this.#deletingEarly;
        summary.deleted += deleted.deleted;
        summary.failed += deleted.failed;
        deleteFailures = deleted.failures;
      }
      // Empty folders go with `delete` after a listing proved whole, whether or not a file went in
      // this pass: those the deletes left. Only now: no download is in flight, so no folder is
      // about to receive a file.
      if (config.delete && _isProvenWhole(listing)) {
        const pruned = await mirror.prune(config.protectedDirs, (dir, error) => {
          logger.warn(`kept the empty folder ${dir}: ${describeError(error)}`);
        });
        for (const dir of pruned) logger.debug(`removed empty directory ${dir}`);
      }
    } finally {
      await writingManifest;
    }
    await this.#placedLog.close();
    await _saveRecord(mirror, record!, {
      entries,
      local,
      placed,
      unlistedSizes: this.#unlistedSizes,
      settled: this.#settled,
      gone: this.#gone,
    }, logger);
    const guard = transfer.result.spaceGuard ?? this.#progress.clearBlocked ??
      (config.delete ? plan.deleteBlocked : undefined);
    if (plan.deleteBlocked && !(this.#options.guardReported && guard === plan.deleteBlocked)) {
      logger.warn(`not deleting: ${plan.deleteBlocked}`);
    }
    if (listing.complete) {
      await mirror.staging.discardStale(
        plan.downloads.filter((d) => placed.get(d.path) !== d.item.binaryDataId).map((d) =>
          d.item.binaryDataId
        ),
      );
    }
    summary.durationMs = Math.round(performance.now() - this.#started);
    return {
      summary,
      listingComplete: listing.complete,
      error: listing.error,
      guard,
      failures: [
        ...plan.conflicts.map((c) => ({ path: c.path, error: c.reason })),
        ...transfer.result.failures.map((f) => ({ path: f.path, error: f.error })),
        ...(this.#progress.waitingFailures ?? []),
        ...deleteFailures.map((f) => ({ path: f.path, error: `not deleted: ${f.error}` })),
      ].slice(0, _LIST_CAP),
      lowestFreeBytes: transfer.result.lowestFreeBytes,
    };
  }

  /**
   * The sizes of the files this pass placed for items not listed as their path's winner (a later
   * item won the path, or a folder needs it), read from the files, for the record: saved with the
   * winner's size, such a file was taken for its user's by the next pass and never replaced (a
   * pass cut off before `settleStreamed` left the older model there for good), and one at a path a
   * folder needs went unrecorded and failed every pass. `settleStreamed` sizes those it keeps.
   */
  async #sizeOutlisted(): Promise<void> {
    const entries = this.#index.entries();
    for (const [path, id] of this.#transfer.result.placed) {
      if (entries.get(path)?.binaryDataId === id || this.#unlistedSizes.has(path)) continue;
      const size = await this.#mirror.fileSize(path);
      if (size !== undefined) this.#unlistedSizes.set(path, size);
    }
  }

  /** The files its mirror's record names: what its listing and walk will hold, about. */
  get recordedFiles(): number {
    return this.#record.size;
  }

  /** The items it holds: listed, and files walked (see `_HeapWatch`). */
  get weight(): number {
    return this.#index.listed + (this.#walk?.walked?.files.size ?? 0);
  }

  /**
   * What to throw for a pass that failed or was cut off at any stage, once nothing of it touches
   * the mirror any more: `error` with what was done kept beside it ({@linkcode partialResultOf}),
   * or a {@linkcode PassCancelledError} holding it.
   */
  async failed(error: unknown, { stopped }: { stopped: boolean }): Promise<unknown> {
    // Nothing of a pass touches the mirror after it lets go of its lock: neither a delete nor a
    // download still running, nor a batch written and waiting for its sync.
    await this.#deletingEarly?.catch(() => {});
    await this.#transfer.settle();
    // What this pass placed is recorded even when it was cut off or failed, also while it was
    // still downloading: a file not recorded is never replaced by a later version. The walk has
    // ended by now (a failed or cut listing waits for it).
    const local = this.#walked ?? this.#walk?.walked?.files;
    await this.#placedLog.close();
    const record = this.#record;
    if (local !== undefined) {
      await _settleTentative(record, local, (path) => this.#mirror.fileSize(path)).catch(() => {});
      await this.#sizeOutlisted().catch(() => {});
      await _saveRecord(this.#mirror, record, {
        entries: this.#index.entries(),
        local,
        settled: this.#settled,
        gone: this.#gone,
        placed: this.#transfer.result.placed,
        unlistedSizes: this.#unlistedSizes,
      }, this.#logger);
    }
    const done = {
      ..._summary(this.#progress),
      durationMs: Math.round(performance.now() - this.#started),
    };
    done.deleted += this.#deletedSoFar.deleted;
    done.failed += this.#deletedSoFar.failed;
    if (!stopped) {
      // Failed part way (a key refused mid-listing, after downloads began): what was done is kept
      // beside the error, for the summary to say.
      if (typeof error === "object" && error !== null) {
        _partialResults.set(error, {
          summary: done,
          listingComplete: false,
          error: describeError(error),
          failures: [],
        });
      }
      return error;
    }
    // Cut off: say what was done, whatever stage it was in.
    const cancelled = new PassCancelledError<PassResult>();
    cancelled.result = {
      summary: done,
      listingComplete: false,
      error: cancelled.message,
      failures: [],
    };
    return cancelled;
  }

  /** Lets go of the caller's signal (see `_LocalWalk`). */
  [Symbol.dispose](): void {
    this.#walk?.[Symbol.dispose]();
  }
}

/** What passes that failed part way had done, by the error they failed with. */
const _partialResults = new WeakMap<object, PassResult>();

/**
 * What the pass that threw `error` had done when it failed (a key refused mid-listing leaves the
 * files downloaded before it), or undefined when it failed before it began (the lock, the folder).
 * A cancelled pass carries its own in {@linkcode PassCancelledError}.
 */
export function partialResultOf(error: unknown): PassResult | undefined {
  return typeof error === "object" && error !== null ? _partialResults.get(error) : undefined;
}

/** Lists and plans without changing anything: what a pass would download and delete. */
export async function dryRunPass(
  config: MirrorConfig,
  remote: RemoteSource,
  options: PassOptions,
): Promise<DryRunReport> {
  using heap = new _HeapWatch(options);
  let report: DryRunReport;
  try {
    report = await _dryRun(config, remote, { ...options, signal: heap.signal }, heap);
  } catch (error) {
    throw heap.failure(error);
  }
  // A listing the heap's stop cut short reports as incomplete: the stop is what to say.
  const stopped = heap.failure(undefined);
  if (stopped !== undefined) throw stopped;
  return report;
}

/** {@linkcode dryRunPass}'s work, under its watch over the heap. */
async function _dryRun(
  config: MirrorConfig,
  remote: RemoteSource,
  options: PassOptions,
  heap: _HeapWatch,
): Promise<DryRunReport> {
  // What the pass would refuse (a push folder, a new mirror inside another) is refused here too.
  const root = await placedMirrorRoot({ ...config, lookBelow: true, signal: options.signal });
  const nestedMirrors = new Set<string>();
  // An empty folder holds no file, so the plan cannot see it: one at an item's path fails the
  // pass's placing of that item (a folder is never replaced), which the dry run is to say too.
  const emptyLeaves: string[] = [];
  const local = root === undefined ? new Map<string, LocalFile>() : await listLocalFiles(root, {
    onPassedBy: (dir) => nestedMirrors.add(dir),
    onEmptyDir: (dir) => emptyLeaves.push(dir),
    warn: (message) => options.logger.warn(message),
  });
  // Each empty folder and the folders holding it (one holding only empty folders holds no file).
  const emptyDirs = directoriesOf(emptyLeaves.map((dir) => `${dir}/`));
  const index = _newIndex(root ?? config.mirrorRoot);
  heap.weight = () => index.listed + local.size;
  await heap.admit(local.size, options.logger);
  const listing = await listRemote(remote, _filterOf(config), {
    logger: options.logger,
    signal: options.signal,
    parallelPages: options.parallelPages ?? _listingLanes(config),
    attemptsPerPage: options.attempts?.page,
    minRetryDelayMs: options.minRetryDelayMs,
    maxItems: options.maxItems ?? listingCapacity(),
    distinctItems: () => index.listed,
    onItems: (items) => void index.addPage(items),
  });
  // After the listing, as a pass resolves them last (see `afterListing`).
  if (root !== undefined) {
    config = await _withProtectedLinkTargets(config, root, _linksOf(local), options.signal);
  }
  heap.assertRoom(local);
  _reportListingEnd(listing, { index, local, config }, options.logger);
  // Files a pass would replace (another item listed at their path now) count as downloads, and
  // those it would clear for a folder as deletes (the files beneath them as downloads).
  let replacing: ReadonlySet<string> = new Set();
  let clearing: string[] = [];
  let clearBlocked: string | undefined;
  const heldBase = root === undefined
    ? undefined
    : await HeldDeletes.read(join(root, STATE_DIR_NAME));
  // Listed paths the disk holds under another spelling count as present, as the pass takes them.
  const spellings = root === undefined ? undefined : new _Spellings(root);
  if (spellings !== undefined) {
    // No folders given: a listed path where a folder stands is no file, so none is taken for one.
    const noDirectories = new Set<string>();
    for (const path of index.entries().keys()) {
      if (planItem(path, local, noDirectories, nestedMirrors) === "fetch") {
        spellings.adopt(path, local, index);
      }
    }
  }
  spellings?.settle(index, local);
  // Read whatever the listing: which files are the mirror's decides whether there is anything to
  // delete, which a listing not proved whole holds back (and the dry run says so, as the pass does).
  const record = root === undefined ? undefined : await PlacedRecord.read(
    join(root, STATE_DIR_NAME),
    { warn: (message) => options.logger.warn(message) },
  );
  if (root !== undefined && record !== undefined && _isProvenWhole(listing)) {
    const fileSize = (path: string) => fileSizeUnder(root, path);
    // As the pass settles them (a replacement a killed pass left unconfirmed).
    await _settleTentative(record, local, fileSize);
    const found = await _findReplacements(index, local, new Map(), record, {
      config,
      fileSize,
      spelt: spellings?.aliases,
    });
    replacing = found.replacing;
    clearing = await _shadowedOwnFiles(index.shadowed, local, record, { config, fileSize });
    clearBlocked = _clearLimit(clearing, local, config, heldBase, record)?.blocked;
    if (clearBlocked !== undefined) clearing = [];
  }
  const entries = index.entries();
  const deletion = await _deletion(
    config,
    index,
    _without(local, new Set(clearing)),
    listing,
    root,
    record,
    options.logger,
    config.delete ? heldBase : undefined,
    clearing.length,
  );
  const gone = new Set([...replacing, ...clearing]);
  const plan = _plan(config, entries, _without(local, gone), listing, deletion, {
    nestedMirrors,
  });
  _fetchFreedByDeletes(plan, deletion, _without(local, gone), nestedMirrors, entries);
  // With `delete`, an empty folder at an item's path goes for the file, unless protected (see
  // `MirrorDir.clearFoldersInTheWay`); one holding empty folders stays.
  const clearable = config.delete ? prunableDirs(config.protectedDirs) : () => false;
  const cleared = new Set(emptyLeaves);
  const blocked = (path: string) => emptyDirs.has(path) && !(cleared.has(path) && clearable(path));
  if (plan.downloads.some((d) => blocked(d.path))) {
    plan.conflicts = [
      ...plan.conflicts,
      ...plan.downloads.filter((d) => blocked(d.path)).map((d) => ({
        path: d.path,
        reason: FOLDER_IN_THE_WAY,
      })),
    ].sort(_byPath);
    plan.downloads = plan.downloads.filter((d) => !blocked(d.path));
  }
  // A twin of a listed path the disk holds under that path's spelling (a case-insensitive disk):
  // the pass fetches it and keeps the file there (skipped), so it is no download.
  const twins = new Set(plan.downloads.filter((d) => spellings?.heldByTwin(d.path, local, index)));
  // Twins both new there: the pass places the first to arrive and keeps that file for the other.
  if (root !== undefined && _foldsCase(root)) {
    const folded = new Set<string>();
    for (const download of plan.downloads.filter((d) => !twins.has(d))) {
      const spelling = foldLetterCaseSurely(download.path);
      if (folded.has(spelling)) twins.add(download);
      else folded.add(spelling);
    }
  }
  if (twins.size > 0) {
    plan.downloads = plan.downloads.filter((d) => !twins.has(d));
    plan.skipped += twins.size;
  }
  const deleteBlocked = listing.error
    ? `the listing did not complete (${listing.error})`
    : plan.deleteBlocked;
  const deletes = [...clearing, ...(config.delete && !deleteBlocked ? plan.deletes : [])];
  return {
    listed: index.listed,
    skipped: plan.skipped,
    duplicate: index.duplicates,
    rejected: index.rejected,
    downloadCount: plan.downloads.length,
    downloadBytes: plan.downloads.reduce((sum, d) => sum + (d.item.sizeBytes ?? 0), 0),
    deleteCount: deletes.length,
    downloads: plan.downloads.slice(0, _LIST_CAP).map((d) => d.path),
    deletes: deletes.slice(0, _LIST_CAP),
    conflictCount: plan.conflicts.length,
    conflicts: plan.conflicts.slice(0, _LIST_CAP),
    deleteBlocked: clearBlocked ?? (config.delete ? deleteBlocked : undefined),
    error: listing.error,
  };
}

/**
 * The garbage a pass may leave for V8 before a full collection is asked for. A pass's listing pages,
 * the outgrown tables of its maps and its answers' wrappers reach the old generation and the
 * large-object space, which only a full collection frees; V8's own schedule let them pile up to the
 * peak. Alternated pairs on the bench's data (20 ms a request): the 100,000-item no-op peaked at
 * 137-142 MiB against 143-153 (seven pairs), its fresh copy at 160-170 against 175-177 (three), the
 * 10,020-file fresh copy at 114-123 against 119-126 (five); CPU rose 7% on the fresh copy, 15-25%
 * at 100,000 items. A 16 MB budget left the no-op at 144-147 MiB. Halved to 4 MB (2026-12-05,
 * alternated pairs against 8 MB): the 100,000-item fresh copy 159.4-161.2 MB against 168.6-172.1
 * (three pairs, CPU +7%), the 10,020-file one 114.9-117.6 against 118.0-120.6 (four, CPU +4%), the
 * no-op and the churn within their swing (six each, CPU the same). 2 MB took another 5.7 MB off the
 * 100,000-item copy but made the churn pass 0.2-0.4 s slower (CPU 1.57 s against 1.17, six pairs).
 */
const _HEAP_BUDGET_BYTES = 4 * 1024 * 1024;

/**
 * Listing pages in flight by default: four times the downloads in flight, at most 32 (16 at the
 * default `concurrency` of 4). A page is metadata, some 30 KB; its latency is what the lanes hide.
 */
function _listingLanes(config: MirrorConfig): number {
  return Math.min(32, 4 * config.concurrency);
}

/** What the pass has done so far, for its summary (also when it is cut off). */
interface _Progress {
  index: ListingIndex;
  transfer: TransferResult;
  plan?: Plan;
  /** Planned items not tried this pass: they failed lately and wait for their next retry. */
  waiting?: number;
  /** The first of them by path, with why each last failed. */
  waitingFailures?: { path: string; error: string }[];
  /** Files this pass had placed when the plan was made (the plan counts them as present). */
  placedBeforePlan?: number;
  /** Files removed for folders listed items need (`_shadowedOwnFiles`). */
  cleared?: number;
  /** Why `max_delete` held their removal back, if it did. */
  clearBlocked?: string;
}

function _summary(
  { index, transfer, plan, waiting, placedBeforePlan, cleared }: _Progress,
): Summary {
  // The plan counts the files this pass had placed as present: they are downloads, not skips.
  const skippedInPlan = plan ? plan.skipped - (placedBeforePlan ?? 0) : 0;
  return {
    ...emptySummary(),
    listed: index.listed,
    downloaded: transfer.downloaded,
    skipped: skippedInPlan + transfer.skipped,
    duplicate: index.duplicates,
    rejected: index.rejected,
    deleted: cleared ?? 0,
    // Items still waiting to be retried are not mirrored either: they count as failed.
    failed: transfer.failures.length + (plan?.conflicts.length ?? 0) + (waiting ?? 0),
    bytes: transfer.bytes,
  };
}

function _newIndex(root: string): ListingIndex {
  return new ListingIndex({
    maxPathBytes: MAX_ABSOLUTE_PATH_BYTES - new TextEncoder().encode(root).length - 1,
    inlineMaxBytes: INLINE_MAX_BYTES,
  });
}

/** The downloads of the newly seen `paths` that the local files do not hold yet. */
function _fetchable(
  paths: string[],
  index: ListingIndex,
  local: _Walked,
  spellings: _Spellings,
): Download[] {
  const downloads: Download[] = [];
  for (const path of paths) {
    if (planItem(path, local.files, local.directories, local.nestedMirrors) !== "fetch") continue;
    if (spellings.adopt(path, local.files, index)) continue;
    downloads.push({ path, item: index.itemAt(path)! });
  }
  return downloads;
}

/**
 * Listed paths that a case-insensitive disk (an exFAT stick) holds under another spelling: the walk
 * found `Cam/b.jpg` where `cam/b.jpg` is listed. Such a file is the listed path's: taken into the
 * walk's files under the listed spelling, so that it is neither fetched again every pass (the
 * placing found "a file already there") nor left out of the manifest, and a new item listed there
 * replaces what the mirror placed from another one, as under the same spelling.
 */
class _Spellings {
  /** Listed path -> the walk's spelling of the same file. */
  readonly aliases = new Map<string, string>();
  readonly #root: string;
  #folded?: Map<string, string>;
  /** The walk's spellings taken for a listed path (one file is one listed path's). */
  readonly #taken = new Set<string>();
  /** Each folder's entries, read once a pass to tell spellings apart (see isSameFileUnder). */
  readonly #names = new Map<string, Set<string>>();

  constructor(root: string) {
    this.#root = root;
  }

  /** The walk's spellings of files taken for listed paths, as `files` holds them now. */
  takenFiles(files: ReadonlyMap<string, LocalFile>): Map<string, LocalFile> {
    const taken = new Map<string, LocalFile>();
    for (const walked of this.#taken) {
      const file = files.get(walked);
      if (file !== undefined) taken.set(walked, file);
    }
    return taken;
  }

  /**
   * Whether `path` (not in `files` as spelt) is a walked file under another spelling; if so, that
   * file is put in `files` under `path` too (its walked spelling stays until {@linkcode settle})
   * and the walked spelling kept in {@linkcode aliases}.
   */
  adopt(path: string, files: Map<string, LocalFile>, index: ListingIndex): boolean {
    if (this.#folded === undefined) {
      this.#folded = new Map();
      for (const [walked, file] of files) {
        // Case only, as exFAT folds names (not their Unicode form): see isSameFileUnder.
        if (!file.symlink) this.#folded.set(foldLetterCase(walked), walked);
      }
    }
    const walked = this.#folded.get(foldLetterCase(path));
    if (walked === undefined || walked === path || files.get(walked) !== REGULAR_FILE) return false;
    // Twins listed under both spellings: the disk holds one of them, as it is (never swapped).
    if (index.itemAt(walked) !== undefined || this.#taken.has(walked)) return false;
    if (!isSameFileUnder(this.#root, walked, path, this.#names)) return false;
    // The walk's spelling stays until the listing has ended (see settle): its twin may come later.
    files.set(path, REGULAR_FILE);
    this.aliases.set(path, walked);
    this.#taken.add(walked);
    return true;
  }

  /**
   * Whether `path` (not in `files` as spelt) is one file with a walked file of another spelling that
   * is listed too (twins): the disk keeps that one's file, so a pass fetching `path` keeps it.
   */
  heldByTwin(path: string, files: ReadonlyMap<string, LocalFile>, index: ListingIndex): boolean {
    if (files.has(path)) return false;
    const walked = this.#folded?.get(foldLetterCase(path));
    if (walked === undefined || walked === path || files.get(walked) !== REGULAR_FILE) return false;
    return index.itemAt(walked) !== undefined &&
      isSameFileUnder(this.#root, walked, path, this.#names);
  }

  /**
   * Once the listing has ended: a file taken for a listed path is under that spelling alone, unless
   * the walk's own spelling was listed too, on a later page (twins): the disk holds that one's
   * file, as it is (never replaced by the other's bytes), and the other is no file of the mirror's.
   */
  settle(index: ListingIndex, files: Map<string, LocalFile>): void {
    for (const [path, walked] of this.aliases) {
      if (index.itemAt(walked) === undefined) {
        files.delete(walked);
        continue;
      }
      files.delete(path);
      this.aliases.delete(path);
    }
  }
}

/**
 * Whether the mirror's file system takes names that differ only by case for one (exFAT): its state
 * folder is reached under another case too. Unknown (false) before a pass has made that folder.
 */
function _foldsCase(root: string): boolean {
  const other = STATE_DIR_NAME.toUpperCase();
  try {
    if (Deno.lstatSync(join(root, other)).isSymlink) return false;
  } catch {
    return false;
  }
  return isSameFileUnder(root, STATE_DIR_NAME, other);
}

/** The transfer's journal: the placed record's log. */
function _journalOf(log: PlacedLog): PlacementJournal {
  const placedFile = (download: Download, size: number): PlacedFile => ({
    binaryDataId: download.item.binaryDataId,
    size,
  });
  const entries = (files: readonly (readonly [Download, number])[]) =>
    files.map(([download, size]) => [download.path, placedFile(download, size)] as const);
  // Replacements told of and not renamed yet. One that is not renamed after all is left as the log
  // has it (tentative), which the next read settles by the file's size: the old version, still
  // the mirror's. Withdrawn, the old version became no item's, kept against every later version
  // for good when the pass's record could not be saved after it (a reviewer's case).
  const replacing = new Set<string>();
  return {
    naming: (files) => log.logAhead(entries(files)),
    replacing: (files) => {
      for (const [download] of files) replacing.add(download.path);
      return log.logAhead(entries(files), { replacing: true });
    },
    notNamed: (downloads) =>
      log.withdraw(
        downloads.filter((download) => !replacing.delete(download.path)).map(({ path }) => path),
      ),
    replaced: (download, size) => {
      replacing.delete(download.path);
      log.add(download.path, placedFile(download, size));
    },
  };
}

/** What the record says of a path (`key`: under which spelling it says it). */
interface _PlacedFrom {
  from: ReturnType<PlacedRecord["placedFrom"]>;
  key: string;
}

/** What the record says of `path`, looked up under the walk's spelling when not under the listed one. */
function _placedFrom(
  record: PlacedRecord,
  path: string,
  binaryDataId: string,
  spelt: ReadonlyMap<string, string> | undefined,
): _PlacedFrom {
  const from = record.placedFrom(path, binaryDataId);
  const walked = spelt?.get(path);
  if (from !== "unknown" || walked === undefined) return { from, key: path };
  return { from: record.placedFrom(walked, binaryDataId), key: walked };
}

/**
 * Whether the listing ended on its last page without error and holds every item the platform
 * counts: what deletes, pruning, replacements and the manifest wait for.
 */
function _isProvenWhole(listing: ListingResult): boolean {
  return listing.complete && listing.unproven === undefined;
}

/**
 * How many of the mirror's `files` the delete stage may remove (`max_delete`'s share is of them):
 * those the `record` names (the mirror's own).
 */
function _deletableCount(
  files: ReadonlyMap<string, LocalFile>,
  protectedDirs: readonly string[],
  record: PlacedRecord,
): number {
  let count = 0;
  for (const [path, file] of files) {
    if (isDeletable(path, file, protectedDirs) && record.names(path)) count++;
  }
  return count;
}

/**
 * {@linkcode _deletableCount} of the walk's `files` while the listing runs: a file taken for a
 * listed spelling (`spellings`) is in `files` under both, counted once, and the mirror's when the
 * record names either spelling (it names the one listed when the file was placed).
 */
function _ownWalkedCount(
  files: ReadonlyMap<string, LocalFile>,
  protectedDirs: readonly string[],
  record: PlacedRecord,
  spellings: _Spellings,
): number {
  const taken = spellings.takenFiles(files);
  let count = 0;
  for (const [path, file] of files) {
    if (taken.has(path) || !isDeletable(path, file, protectedDirs)) continue;
    const walked = spellings.aliases.get(path);
    if (record.names(path) || (walked !== undefined && record.names(walked))) count++;
  }
  return count;
}

/** The walk's files, the folders they imply, and the folders of other mirrors it passed by. */
interface _Walked {
  files: Map<string, LocalFile>;
  directories: ReadonlySet<string>;
  nestedMirrors: ReadonlySet<string>;
}

/**
 * The local walk of a pass, running beside the listing. It holds the paths listed before it ends
 * and hands them over the moment it ends (the listing may go on for seconds), and stops the
 * listing when it fails (a pass cannot decide anything without it).
 */
class _LocalWalk implements Disposable {
  readonly #stop: LinkedAbort;
  readonly #walking: Promise<_Walked>;
  readonly #held: string[] = [];
  #walked?: _Walked;
  #failed = false;

  /**
   * `release` gets the held paths when the walk ends (none: not called); `nestedMirrors` is
   * complete by then.
   */
  constructor(
    walking: Promise<Map<string, LocalFile>>,
    nestedMirrors: ReadonlySet<string>,
    signal: AbortSignal | undefined,
    release: (held: string[], walked: _Walked) => void,
  ) {
    this.#stop = new LinkedAbort(signal);
    this.#walking = walking.then((files) => {
      const walked: _Walked = { files, directories: directoriesOf(files.keys()), nestedMirrors };
      this.#walked = walked;
      if (this.#held.length > 0) release(this.#held.splice(0), walked);
      return walked;
    });
    this.#walking.catch((error) => {
      this.#failed = true;
      this.#stop.abort(error);
    });
  }

  /** The listing's signal: the caller's, and this walk's failure. */
  get signal(): AbortSignal {
    return this.#stop.signal;
  }

  /** The walk's result once it has ended. */
  get walked(): _Walked | undefined {
    return this.#walked;
  }

  /** Keeps newly seen paths until the walk ends. */
  hold(paths: string[]): void {
    for (const path of paths) this.#held.push(path);
  }

  /**
   * Rethrows the walk's error when that is what stopped the listing, else `error`, once the walk
   * has ended either way (nothing of a failed pass reads the mirror after it lets go of its lock).
   */
  async failure(error: unknown): Promise<never> {
    await this.#walking.catch(() => {});
    if (this.#failed) await this.#walking; // its error is what stopped the listing
    throw error;
  }

  /** Resolves to the local files once the walk has ended (the held paths are handed over). */
  async done(): Promise<Map<string, LocalFile>> {
    return (await this.#walking).files;
  }

  /** Lets go of the caller's signal (a loop's signal outlives its passes). */
  [Symbol.dispose](): void {
    this.#stop[Symbol.dispose]();
  }
}

/** Files to replace, and files taken on by the record, found after a listing proved whole. */
interface _Replacements {
  /** Paths whose file the next placement replaces (a rename over it). */
  replacing: ReadonlySet<string>;
  /** Files the record did not name that hold the listed item's size: recorded as that item. */
  adopted: ReadonlyMap<string, PlacedFile>;
}

/**
 * The files at listed paths that hold another item than the one listed there now, so that every
 * mirror of a fleet ends with the same file as a fresh one (only after a listing proved whole,
 * which knows every item on a path): those the record says were placed from another item, still of
 * the size placed (an item replaced under the same name, a model pushed again; a file of another
 * size is a user's and stays, and so is any file the record does not name).
 *
 * Until a pass has taken the mirror's files on (`PlacedRecord.takenOn`: a mirror made before the
 * record existed, or its record damaged or lost), a file whose size is the listed item's is taken
 * on by the record: one `lstat` for each, once. After, a file it does not name is its user's, of
 * any size (an operator's frame of a fixed size, written where the platform lists an item later,
 * was taken on, then deleted or replaced).
 * Nothing is removed here: each file stays until its replacement is placed over it, so a download
 * that fails leaves it in place.
 */
async function _findReplacements(
  index: ListingIndex,
  local: ReadonlyMap<string, LocalFile>,
  placed: ReadonlyMap<string, string>,
  record: PlacedRecord,
  options: {
    config: MirrorConfig;
    fileSize: (path: string) => Promise<number | undefined>;
    /** Listed paths the walk found under another spelling (see `_Spellings`). */
    spelt?: ReadonlyMap<string, string>;
    /** Told of each file to replace, and why. */
    onReplace?: (path: string, why: string) => void;
  },
): Promise<_Replacements> {
  const replacing = new Set<string>();
  const adopted = new Map<string, PlacedFile>();
  // The few files that may be another item's, found by `forEach` (an iterator made two objects per
  // listed path), then looked at one by one.
  const candidates: { path: string; winner: ListedItem; placedFrom: _PlacedFrom }[] = [];
  index.entries().forEach((winner, path) => {
    if (placed.has(path) || local.get(path)?.symlink !== false) return;
    const placedFrom = _placedFrom(record, path, winner.binaryDataId, options.spelt);
    const { from } = placedFrom;
    const adoptable = from === "unknown" && !record.takenOn && winner.sizeBytes !== undefined;
    if (from !== "other" && !adoptable) return;
    candidates.push({ path, winner, placedFrom });
  });
  for (const { path, winner, placedFrom: { from, key } } of candidates) {
    const size = await options.fileSize(path);
    if (size === undefined) continue;
    // Unrecorded in a mirror without a record, of the listed item's size: taken on. Never one
    // recorded from another item whose size is no longer the one placed: that is the user's file
    // (so is a replacement whose log entry a power cut lost; size alone cannot tell them apart),
    // and the next version would be renamed over the user's edit.
    if (from === "unknown" && size === winner.sizeBytes) {
      adopted.set(path, { binaryDataId: winner.binaryDataId, size });
      continue;
    }
    // In a protected dir too: a replacement deletes nothing (the new version is renamed over the
    // old one once it is whole), and a file its user changed no longer fits the record.
    if (from === "other" && record.sizeFits(key, size)) {
      options.onReplace?.(path, "the platform lists another item there now");
      replacing.add(path);
    }
    // Else a file placed from another item that no longer has the size placed: a user's now. And
    // one the record does not name, of another size, at a path two items share too: in a mirror
    // without a record (made before it existed, or never synced) it may be the user's as well as
    // a twin another program placed, and a file already there is never overwritten (the seed).
  }
  return { replacing, adopted };
}

/**
 * The files an earlier pass placed at paths the listing now needs as folders (`a`, placed from its
 * item, and now `a/b.jpg` listed too: the folder wins, see `ListingIndex`): removed, so that the
 * mirror ends as a fresh one of the same listing does (a pass that placed `a` itself removes it the
 * same way). Only a file the record says the mirror placed there, still of the size placed, and
 * outside `protected_dirs`: a user's file, or one in a protected folder, stays, and the items
 * beneath it are reported as conflicts.
 */
async function _shadowedOwnFiles(
  shadowed: ReadonlyMap<string, ListedItem>,
  local: ReadonlyMap<string, LocalFile>,
  record: PlacedRecord,
  options: { config: MirrorConfig; fileSize: (path: string) => Promise<number | undefined> },
): Promise<string[]> {
  const own: string[] = [];
  for (const [path, item] of shadowed) {
    if (local.get(path) !== REGULAR_FILE || isProtected(path, options.config.protectedDirs)) {
      continue;
    }
    const from = record.placedFrom(path, item.binaryDataId);
    if (from !== "same" && from !== "other") continue;
    const size = await options.fileSize(path);
    if (size !== undefined && record.sizeFits(path, size)) own.push(path);
  }
  return own;
}

/**
 * Why `max_delete` holds back clearing `paths` out of the mirror's `local` files, or undefined: a
 * listing that made folders of many of the mirror's files at once empties it as a narrowed filter
 * would, so the same rule holds it back (with or without `delete`).
 */
function _clearLimit(
  paths: readonly string[],
  local: ReadonlyMap<string, LocalFile>,
  config: MirrorConfig,
  heldBase: number | undefined,
  record: PlacedRecord,
): { blocked: string; base: number } | undefined {
  if (paths.length === 0) return undefined;
  // As the delete stage's share: of what the mirror held before a held-back pass, until one deletes
  // (the files a held-back pass downloaded do not let through what it held back).
  // Of the files the delete stage counts (the mirror's own, not symlinks nor protected files,
  // which are never removed), as the kept count is.
  const { base, held } = deleteShareBase(
    _deletableCount(local, config.protectedDirs, record),
    heldBase,
  );
  const over = overDeleteLimit(paths.length, base, config.maxDelete, { held });
  return over === undefined
    ? undefined
    : { blocked: `clearing files where listed items need folders: ${over}`, base };
}

/** Removes `paths` (see {@linkcode _shadowedOwnFiles}) and takes them out of `local`; how many went. */
async function _clear(
  paths: readonly string[],
  local: Map<string, LocalFile>,
  mirror: MirrorDir,
  logger: Logger,
): Promise<number> {
  let cleared = 0;
  for (const path of paths) {
    logger.info(`removing ${path}: listed items need a folder there`);
    try {
      if (await mirror.remove(path)) cleared++;
      local.delete(path);
    } catch (error) {
      logger.warn(`cannot remove ${path}, where a folder is needed: ${describeError(error)}`);
    }
  }
  return cleared;
}

/**
 * Settles the replacements a killed pass left unconfirmed (see `PlacedRecord.settleTentative`):
 * the old version or the new one, by the size of the file there; through the pass's `log`, when it
 * has one, which keeps the outcome (see `PlacedLog.settleTentative`). A few files at most, looked
 * at only when there are some.
 */
async function _settleTentative(
  record: PlacedRecord,
  local: ReadonlyMap<string, LocalFile>,
  fileSize: (path: string) => Promise<number | undefined>,
  log?: PlacedLog,
): Promise<void> {
  if (!record.hasTentative) return;
  for (const [path, file] of local) {
    if (file.symlink || !record.tentativeAt(path)) continue;
    const size = await fileSize(path);
    if (log === undefined) record.settleTentative(path, size);
    else log.settleTentative(path, size);
    if (!record.hasTentative) return;
  }
}

/** `local` without `paths` (a copy, made only when there are some). */
function _without(
  local: ReadonlyMap<string, LocalFile>,
  paths: ReadonlySet<string>,
): ReadonlyMap<string, LocalFile> {
  if (paths.size === 0) return local;
  const rest = new Map(local);
  for (const path of paths) rest.delete(path);
  return rest;
}

/**
 * Whether the mirror's root is still where the pass opened it; when it became a symlink, says so:
 * the pass's state (the record, the manifest) is then not written, as it would land where the link
 * leads (another mirror's state folder, say).
 */
function _inPlace(mirror: MirrorDir, logger: Logger): boolean {
  const moved = mirror.rootSwapped();
  if (moved === undefined) return true;
  // Asked before the manifest and again before the record: said once.
  if (!_toldSwapped.has(mirror)) logger.error(`not saving the pass's state: ${moved}`);
  _toldSwapped.add(mirror);
  return false;
}

/** The mirrors whose swapped root `_inPlace` has reported. */
const _toldSwapped = new WeakSet<MirrorDir>();

/**
 * Saves which item each file of the mirror came from (see {@linkcode PlacedRecord}): the files the
 * pass found (as recorded, or taken on) or placed, less those it deleted. A failure is a warning:
 * without the record, files are kept as they are.
 */
async function _saveRecord(
  mirror: MirrorDir,
  record: PlacedRecord,
  files: {
    entries: ReturnType<ListingIndex["entries"]>;
    local: ReadonlyMap<string, LocalFile>;
    placed: ReadonlyMap<string, string>;
    /** The sizes placed for items listed without one, and of files kept for their path's winner. */
    unlistedSizes: ReadonlyMap<string, number>;
    settled: _Replacements;
    /** Files gone from the mirror this pass (deleted as stale). */
    gone: ReadonlySet<string>;
  },
  logger: Logger,
): Promise<void> {
  if (!_inPlace(mirror, logger)) return;
  const { entries, local, placed } = files;
  const { adopted } = files.settled;
  const { gone } = files;
  // A file written over one being replaced is someone's own now: no longer recorded as placed.
  const changed = mirror.changedBeforeReplaced;
  // Gathered by `forEach`: an iterator over the files made two objects per file.
  const paths: string[] = [];
  let links = false;
  local.forEach((file, path) => {
    if (!file.symlink && !gone.has(path) && !changed.has(path)) paths.push(path);
    links ||= file.symlink;
  });
  placed.forEach((_, path) => {
    if (!local.has(path)) paths.push(path);
  });
  // The listed files of a folder the walk did not enter (passed by: unreadable, or a disk mounted
  // there; or a link where the folder was) keep what the record says of them: the walk
  // did not find them gone. Dropped, once the folder was back its files were taken for its user's
  // for good (never given a new version, never deleted), without a word (a reviewer, before
  // 2026-12-07: one pass with a folder unreadable, mounted over or a link left its 43 files stale).
  if (links || mirror.nestedMirrors.size > 0) {
    // Planned now, such a path is a conflict (a folder of it passed by, or a link or a file
    // standing for one): what the walk did not enter.
    const noDirectories = new Set<string>();
    entries.forEach((_, path) => {
      if (placed.has(path)) return;
      if (typeof planItem(path, local, noDirectories, mirror.nestedMirrors) === "object") {
        paths.push(path);
      }
    });
  }
  const placedNow = (path: string): PlacedFile | undefined => {
    const id = placed.get(path);
    if (id !== undefined) {
      const entry = entries.get(path);
      // The listed size is the winner's: a file kept for its winner has its own size.
      const listed = entry?.binaryDataId === id ? entry.sizeBytes : undefined;
      const size = listed ?? files.unlistedSizes.get(path);
      if (size !== undefined) return { binaryDataId: id, size };
    }
    return adopted.get(path);
  };
  try {
    await record.save(paths, placedNow);
  } catch (error) {
    logger.warn(`could not save which item each file came from: ${(error as Error).message}`);
  }
}

/** The plan of the whole listing; its delete half is `deletion` (see `_deletion`). */
function _plan(
  config: MirrorConfig,
  entries: ReturnType<ListingIndex["entries"]>,
  local: ReadonlyMap<string, LocalFile>,
  listing: ListingResult,
  deletion: Pick<Plan, "deletes" | "deleteBlocked">,
  walked: Pick<PlanInput, "nestedMirrors">,
): Plan {
  const input = { ..._planInput(config, entries, local, listing, false), ...walked };
  return { ...planPass(input), ...deletion };
}

/**
 * Moves to the plan's downloads the conflicts that only a stale file the deletes remove stands in
 * the way of (`p` unlisted now, `p/x.jpg` listed), as a fresh mirror has them; a folder in the way
 * stays a conflict. Returns how many it moved: they are fetched once the deletes are through.
 */
function _fetchFreedByDeletes(
  plan: Plan,
  deletion: Pick<Plan, "deletes">,
  local: ReadonlyMap<string, LocalFile>,
  nestedMirrors: ReadonlySet<string>,
  entries: ReadonlyMap<string, ListedItem>,
): number {
  if (deletion.deletes.length === 0 || plan.conflicts.length === 0) return 0;
  const stale = new Set(deletion.deletes);
  const directories = directoriesOf(local.keys());
  const without = _without(local, stale);
  const freed = new Set(
    plan.conflicts.filter((c) =>
      parentDirectories(c.path).some((dir) => stale.has(dir)) &&
      planItem(c.path, without, directories, nestedMirrors) === "fetch"
    ).map((c) => c.path),
  );
  if (freed.size === 0) return 0;
  plan.conflicts = plan.conflicts.filter((c) => !freed.has(c.path));
  plan.downloads = [
    ...plan.downloads,
    ...[...freed].map((path) => ({ path, item: entries.get(path)! })),
  ].sort(_byPath);
  return freed.size;
}

/** Orders a plan's entries by path, as the plan lists them. */
function _byPath(a: { path: string }, b: { path: string }): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/** {@linkcode isSameFileUnder} for one plan: the folders it reads are read once. */
function _sameFileCheck(root: string): (path: string, listed: string) => boolean {
  const names = new Map<string, Set<string>>();
  return (path, listed) => isSameFileUnder(root, path, listed, names);
}

/**
 * The files of `local` the listing no longer names that the mirror placed (or took on as a listed
 * item's): its record names an item for the path, at the size the file has now. Only these may be
 * deleted; one of another size was written over since (kept as its writer's). A size is read only
 * for a file the record names and the listing does not.
 */
async function _ownUnlisted(
  index: ListingIndex,
  local: ReadonlyMap<string, LocalFile>,
  record: PlacedRecord,
  fileSize: (path: string) => Promise<number | undefined>,
): Promise<Set<string>> {
  const entries = index.entries();
  const own = new Set<string>();
  for (const [path, file] of local) {
    if (file !== REGULAR_FILE || entries.has(path) || index.shadowed.has(path)) continue;
    if (!record.names(path)) continue;
    const size = await fileSize(path);
    if (size !== undefined && record.sizeFits(path, size)) own.add(path);
  }
  return own;
}

/**
 * What to delete given the mirror's files before the pass (`local`, under the real `root`, when the
 * mirror exists), with the deletes held back while the listing is not proved whole.
 */
async function _deletion(
  config: MirrorConfig,
  index: ListingIndex,
  local: ReadonlyMap<string, LocalFile>,
  listing: ListingResult,
  root: string | undefined,
  record: PlacedRecord | undefined,
  logger: Logger,
  heldBase: number | undefined,
  cleared = 0,
): Promise<Pick<Plan, "deletes" | "deleteBlocked" | "limitBase">> {
  const own = config.delete && root !== undefined && record !== undefined
    ? await _ownUnlisted(index, local, record, (path) => fileSizeUnder(root, path))
    : new Set<string>();
  const entries = index.entries();
  const planned = planDeletes({
    ..._planInput(config, entries, local, listing, config.delete),
    heldBase,
    cleared,
    rejected: index.rejected,
    shadowed: index.shadowed,
    isSameFile: root === undefined ? undefined : _sameFileCheck(root),
    // A listed file is the mirror's when the record names it; an unlisted one also at its size.
    isOwn: (path) =>
      own.has(path) ||
      ((entries.has(path) || index.shadowed.has(path)) && record?.names(path) === true),
  });
  if (planned.deletes.length > 0 && root !== undefined) {
    for (const dir of _unmatchedProtectedDirs(config.protectedDirs, local, root)) {
      logger.warn(
        `protected_dirs ${JSON.stringify(dir)} names no folder in the mirror: it protects nothing`,
      );
    }
  }
  // A guard of a listing proved whole (max_delete, an empty listing) would give the wrong reason
  // and the wrong advice (raise max_delete, allow_delete_all) for a listing that is not: the
  // unproven listing holds the deletes back, whatever they would be.
  const wouldDelete = planned.deletes.length > 0 || planned.deleteBlocked !== undefined;
  if (!wouldDelete || listing.unproven === undefined) return planned;
  return {
    deletes: [],
    deleteBlocked: `${listing.unproven}: not deleting until a pass lists them all`,
  };
}

/**
 * `config` with what its `protected_dirs` lead to through a symlink protected as well, where it is
 * in the mirror: the folder an entry leads to (the entry itself a link, or a folder on its way),
 * and the folder or file each link the walk found in a protected folder leads to (`models/current`,
 * a link to `../releases/v3`), and so on through links in those. The walk follows no link, so the
 * files an operator protects by a link's name are walked under the path it leads to, and were
 * deleted there as stale, the link left dangling. One that leads out of the mirror, to its root, to
 * a folder holding a protected one, or into a state folder adds nothing (no file there is walked,
 * or all would be kept).
 */
async function _withProtectedLinkTargets(
  config: MirrorConfig,
  root: string,
  links: readonly string[],
  signal: AbortSignal | undefined,
): Promise<MirrorConfig> {
  const own = config.protectedDirs;
  // One new list a round (`isProtected` folds a list once, by its identity): a list made again
  // for each of 8,000 links took 14 s.
  let protectedDirs = own;
  const resolved = new Set<string>();
  let next = [...own, ...links.filter((path) => isProtected(path, own))];
  while (next.length > 0) {
    const added: string[] = [];
    for (const path of next) {
      signal?.throwIfAborted(); // a stop is not held up by thousands of links
      if (resolved.has(path)) continue;
      resolved.add(path);
      const inside = await _inMirrorTarget(root, path);
      if (
        inside === undefined || inside === "" || isStateDirPath(inside) ||
        isProtected(inside, protectedDirs) ||
        // A folder holding a protected one (`models/up`, a link to `..`): every file of it would
        // be kept, the stale ones beside the protected folder with them, without a word.
        own.some((dir) => isProtected(dir, [inside]))
      ) continue;
      added.push(inside);
    }
    if (added.length === 0) break;
    protectedDirs = [...protectedDirs, ...added];
    next = links.filter((path) => !resolved.has(path) && isProtected(path, added));
  }
  return protectedDirs === own ? config : { ...config, protectedDirs };
}

/** The symlinks among the walk's files. */
function _linksOf(local: ReadonlyMap<string, LocalFile>): string[] {
  const links: string[] = [];
  for (const [path, file] of local) if (file.symlink) links.push(path);
  return links;
}

/**
 * The symlinks in the folders `dirs` protects as they are now (read again, each as a walk reads
 * the mirror): one made there since the walk (a deploy linking `models/current` to a new release
 * while a listing ran) protects what it leads to too. A folder that cannot be read adds nothing.
 */
async function _protectedLinksNow(root: string, dirs: readonly string[]): Promise<string[]> {
  const links: string[] = [];
  if (dirs.length === 0) return links;
  const dev = (await Deno.lstat(root).catch(() => undefined))?.dev;
  for (const dir of dirs) {
    try {
      // A real folder of the mirror's own disk, as the walk reads them (it passes by a disk
      // mounted in the mirror: a protected one is not read whole every pass).
      const info = await Deno.lstat(join(root, dir));
      if (!info.isDirectory || info.dev !== dev) continue;
      for (const path of _linksOf(await listLocalFiles(join(root, dir)))) {
        links.push(`${dir}/${path}`);
      }
    } catch { /* not there, not a folder, or not to be read: what the walk found stands */ }
  }
  return links;
}

/**
 * Where in the mirror `path` (below `root`) leads, through the links on its way and its own, as a
 * relative path ("" for the root); undefined for a path that leads out of it, or nowhere.
 */
async function _inMirrorTarget(root: string, path: string): Promise<string | undefined> {
  let real: string;
  try {
    real = await Deno.realPath(join(root, path));
  } catch {
    return undefined; // none there (the plan says it protects nothing), dangling, or not readable
  }
  // `relative` answers a relative path: "" for the root itself, `..` first for one outside it.
  const inside = relative(root, real).split(sep).join("/");
  if (inside !== ".." && !inside.startsWith("../")) return inside;
  return await _sameInMirror(root, join(root, path), real);
}

/**
 * Where in the mirror the folder or file `real` (the real path `linked`, a link below `root`, leads
 * to) is, when it is reached from `root` by no link: the shortest tail of `real` naming, from
 * `root`, the same inode on the same device. A bind-mounted mirror's disk shows at another path
 * too (`/mnt/disk`): a link written through that path (`/mnt/disk/models-v3`) leads into the mirror
 * all the same, and the files it protects were deleted. Looked at through paths in the mirror only
 * (the program may read no other).
 */
async function _sameInMirror(
  root: string,
  linked: string,
  real: string,
): Promise<string | undefined> {
  let target: Deno.FileInfo;
  try {
    target = await Deno.stat(linked);
  } catch {
    return undefined;
  }
  const names = real.split(sep).filter((name) => name !== "");
  for (let count = 1; count < names.length; count++) {
    const tail = names.slice(names.length - count).join("/");
    const candidate = join(root, tail);
    try {
      const info = await Deno.lstat(candidate);
      if (info.dev !== target.dev || info.ino !== target.ino) continue;
      // No link on its way either: the walk reaches it under this path.
      if (await Deno.realPath(candidate) === candidate) return tail;
    } catch { /* not there, or not to be read */ }
  }
  return undefined;
}

/**
 * The protected folders that name nothing in the mirror (no folder there, nor a file of that name):
 * a misspelt one (`model` for `models`) protects nothing, which an operator deleting files must
 * hear. (A file below a path that is no folder cannot be: the walk follows no symlink.)
 */
function _unmatchedProtectedDirs(
  protectedDirs: readonly string[],
  local: ReadonlyMap<string, LocalFile>,
  root: string,
): string[] {
  // Matched as deletion matches it (isProtected: without case or Unicode form), so that one that
  // protects `models` is not said to protect nothing for being written `Models`.
  return protectedDirs.filter((dir) => {
    if (local.has(dir) || isDirectoryUnder(root, dir)) return false;
    const alone = [dir];
    for (const path of local.keys()) if (isProtected(path, alone)) return false;
    return true;
  });
}

function _planInput(
  config: MirrorConfig,
  entries: ReturnType<ListingIndex["entries"]>,
  local: ReadonlyMap<string, LocalFile>,
  listing: ListingResult,
  deleteEnabled: boolean,
): PlanInput {
  return {
    remote: entries,
    local,
    listingComplete: listing.complete,
    deleteEnabled,
    allowDeleteAll: config.allowDeleteAll,
    protectedDirs: config.protectedDirs,
    maxDelete: config.maxDelete,
  };
}

/**
 * The listing's filter: tags, labels, dataset and MIME types as configured, and the time window
 * of `start`/`end` narrowed by `max_age` (a rolling window that ends now: files that age out of it
 * are no longer listed, so `delete` removes them).
 */
function _filterOf(config: MirrorConfig): ListFilter {
  const nowMs = Date.now();
  const startMs = Math.max(
    config.start?.getTime() ?? -Infinity,
    config.maxAgeSeconds === undefined ? -Infinity : nowMs - config.maxAgeSeconds * 1000,
  );
  // A `max_age` reaching back past any Date (a huge number meant as "no limit") bounds nothing.
  const bounded = startMs > -DATE_LIMIT_MS;
  const endMs = config.end?.getTime();
  const windowed = bounded || endMs !== undefined;
  return {
    tags: config.tags,
    labels: config.labels,
    datasetId: config.datasetId,
    mimeTypes: config.mimeTypes,
    ...(windowed ? { interval: { ...(bounded ? { startMs } : {}), endMs } } : {}),
  };
}

/**
 * An incomplete listing as an error; a whole one that matched nothing, into an empty mirror, as a
 * warning unless a time window (`max_age`, `start`, `end`) may well hold nothing for a while (a
 * mirror with `delete` and `max_age` emptied overnight would be told every pass to check its key).
 */
function _reportListingEnd(
  listing: { error?: string },
  pass: { index: ListingIndex; local: ReadonlyMap<string, unknown>; config: MirrorConfig },
  logger: Logger,
  seen?: PassOptions["seen"],
): void {
  const { index, local, config } = pass;
  // Only a window still open may fill later: one whose end has passed (`end` alone is everything
  // before it) matches nothing for the reasons an unwindowed filter does.
  const open = config.end === undefined || config.end.getTime() > Date.now();
  const windowed = config.maxAgeSeconds !== undefined || (config.start !== undefined && open);
  if (listing.error) return logger.error(`listing incomplete: ${listing.error}`);
  const nothing = index.listed === 0 && local.size === 0 && !windowed;
  // Once for a loop while it holds: a module every minute would repeat it all day.
  if (nothing && seen?.nothingMatched) logger.debug(NOTHING_MATCHED);
  else if (nothing) logger.warn(NOTHING_MATCHED);
  if (seen !== undefined) seen.nothingMatched = nothing;
}

function _reportIndex(index: ListingIndex, logger: Logger): void {
  for (const { binaryDataId, reason } of index.rejections) {
    logger.warn(`not writing ${binaryDataId === "" ? "it" : quoteName(binaryDataId)}: ${reason}`);
  }
}

/**
 * Tells of each symlink (of the mirror's, `links`) at a listed item's path: the mirror follows no
 * link and replaces none, so that item is not mirrored while the link is there (counted as a file
 * present, without a word, before 2026-12-07: a reviewer). At info, once a pass: a link put there
 * on purpose (a file of the user's in the item's place) is no fault.
 */
function _reportLinksAtListedPaths(
  links: readonly string[],
  index: ListingIndex,
  logger: Logger,
): void {
  if (links.length === 0) return;
  const entries = index.entries();
  for (const path of links) {
    if (!entries.has(path)) continue;
    logger.info(
      `kept the symlink ${quoteName(path)} where a listed item goes: the mirror follows no link ` +
        "and replaces none (remove it to have the item mirrored)",
    );
  }
}

/**
 * Tells `backoff` how the items `tried` and not placed fared (those placed told it as they were):
 * failed, or done with (kept: a file was there), and forgets the items no longer listed.
 */
function _recordItems(
  backoff: ItemBackoff,
  tried: ReadonlySet<string>,
  transfer: TransferResult,
  listing: ListingResult,
  entries: ReturnType<ListingIndex["entries"]>,
): void {
  const failed = new Map(transfer.failures.map((f) => [f.binaryDataId, f.error]));
  for (const id of tried) {
    if (failed.has(id)) backoff.failed(id, failed.get(id));
    else backoff.succeeded(id);
  }
  if (listing.complete) {
    backoff.retain(new Set([...entries.values()].map((i) => i.binaryDataId)));
  }
}

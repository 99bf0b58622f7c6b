/**
 * The listing stage: the filter's items paged in parallel shards cut by `time_requested`, each page
 * handed on as it arrives, and the whole proved complete against the platform's counts before
 * anything may be deleted.
 *
 * @module
 */
import { LinkedAbort } from "../async/linked_abort.ts";
import { CALL_RETRY, logRetries, retry } from "../async/retry.ts";
import { WorkQueue } from "../async/work_queue.ts";
import { describeError, isTimeout, kindUnder } from "../remote/errors.ts";
import type { Logger } from "../logger.ts";
import { loadMimeTable, needsMimeTable } from "../paths.ts";
import type { RemoteItem } from "../remote/remote_item.ts";
import type { ListFilter, RemoteSource } from "../remote/remote_source.ts";

/** The largest page the platform serves; the Viam CLI uses the same cap. */
const _PAGE_SIZE = 100;
/**
 * Pages in a row that bring only items the cursor listed before, after which a listing is taken
 * to go round (a platform handing out a fresh cursor for the same page) and ends incomplete.
 */
const _MAX_STALE_PAGES = 3;
/**
 * A slice holding more than this many times its share of the items is cut again. The listing
 * lasts as long as its longest shard: a slice left at 1.9 times its share (the rule was 2) paged
 * alone for almost as long again after the others had finished. Robots capture in bursts, so
 * `time_requested` is rarely even. Cutting costs the slice's first page, fetched while it was
 * counted, and its parts' counts, fetched with their first pages.
 */
const _DENSE_SHARE = 1.25;
/** How many times the first cut's parts the re-cuts of dense parts may make, at most. */
const _MAX_RECUTS = 32;

/** Options of {@linkcode listRemote}. */
export interface ListRemoteOptions {
  /** Where retries and progress are reported. */
  logger: Logger;
  /**
   * Receives every page's items as it arrives (the same item may come twice: shards overlap), with
   * the MIME table loaded when one of them needs it to be named (`needsMimeTable`).
   */
  onItems: (items: RemoteItem[]) => void;
  /**
   * The number of distinct items received so far (the caller's index counts them): what the
   * listing's completeness is proved against.
   */
  distinctItems: () => number;
  /** Cancels the listing (the promise rejects with the abort reason). */
  signal?: AbortSignal;
  /**
   * The bandwidth limit the pass shares (`bandwidth_limit`): each page's bytes are booked on it as
   * it arrives, so that the listing of a large mirror does not take the whole link every pass.
   */
  bandwidth?: { take(bytes: number, signal?: AbortSignal): Promise<void> };
  /** Pages in flight at once (default 16); 1 lists with one cursor, page after page. */
  parallelPages?: number;
  /** Tries per page, the first included (default `CALL_RETRY.attempts`, 8). */
  attemptsPerPage?: number;
  /** Delay before the first retry of a page, in milliseconds (default 500). */
  minRetryDelayMs?: number;
  /**
   * The most distinct items the listing may hold (default: no bound; a pass gives
   * `listingCapacity()`). A listing the platform counts past it is refused before its first page,
   * and one that grows past it (no count, or items added meanwhile) stops there: the caller gets an
   * incomplete listing, which deletes nothing, instead of a process out of memory mid-pass.
   */
  maxItems?: number;
}

/** A listing holds more items than one pass can keep ({@linkcode ListRemoteOptions.maxItems}). */
export class ListingTooLargeError extends Error {
  /**
   * @param items The items counted (or received so far).
   * @param maxItems The most one pass may hold.
   */
  constructor(readonly items: number, readonly maxItems: number) {
    super(
      `the filter matches ${_thousands(items)} items or more; one pass holds at most ` +
        `${_thousands(maxItems)} in this program's memory: narrow the filter (tags, labels, ` +
        `dataset_id, mime_types, start/end, max_age) or split it across several mirrors`,
    );
    this.name = "ListingTooLargeError";
  }
}

/** The outcome of the listing stage. */
export interface ListingResult {
  /**
   * True when every page was fetched, each cursor ending on an empty page (or a shard's on a short
   * page after which the platform counts nothing more), without any error.
   */
  complete: boolean;
  /** Why the listing stopped early, when it did. */
  error?: string;
  /**
   * Why the listing, though complete, cannot be trusted for deletion (it holds fewer items than
   * the platform counts, or the count could not be had). Deletes wait for a pass without this.
   */
  unproven?: string;
  /** How many shards were paged in parallel (1: one sequential cursor). */
  shards: number;
}

/**
 * The list stage: pages the listing (metadata only) and hands every page to `onItems` as it
 * arrives, so downloads start while the listing runs.
 *
 * A long listing is split into shards by `time_requested`, paged at the same time: two one-item
 * calls find the oldest and newest item, the span between is cut into equal slices, and each
 * slice is counted (`count_only`) while its first page is fetched, so no round of counts holds the
 * pages back; a slice whose count shows it dense is cut again after that page. Every shard follows
 * its own cursor to an empty page, or to a short page after which the platform counts nothing it
 * did not give. The listing is then proved whole before anything may be deleted: every shard
 * returned at least the items it counted, and the distinct items received add up to at
 * least the whole filter's count. If not (the platform's interval semantics differ from what is
 * assumed, or items moved during the listing), it falls back to one sequential listing, held to the
 * same count. An item missed would make a local file look stale, which is what the counts catch.
 * Items added while the listing runs could hide a missed one from the count taken before it (a
 * listing cut short while a robot uploads its backlog lists as many items as were counted), so the
 * span listed is counted once more after the last page: the listing must hold at least as many
 * items as both counts, or it is unproven (nothing deleted this pass). New captures, later than the
 * newest item at the start, fall outside the sharded listing's span and do not count against it.
 * Totals can still be made up by uploads and deletions together, so every cursor pages oldest first
 * and, at its end, the items from its last one to the end of its window are counted: more than it
 * gave there means it ended early (see `#tailHolds`).
 *
 * A page that fails is retried from the same cursor; a listing that still fails is returned as
 * incomplete (the caller then deletes nothing), and so is one holding more than `maxItems`
 * ({@linkcode ListingTooLargeError}); a refused key or a cancelled pass throws.
 */
export async function listRemote(
  remote: RemoteSource,
  filter: ListFilter,
  options: ListRemoteOptions,
): Promise<ListingResult> {
  using lister = new _Lister(remote, filter, options);
  try {
    return await lister.run();
  } catch (error) {
    // A refused key or a cancelled pass ends the pass itself, not just the listing.
    const kind = kindUnder(remote.classify(error), options.signal);
    if (kind === "aborted" || kind === "auth") throw error;
    return { complete: false, error: describeError(error), shards: lister.shards };
  }
}

/** A slice of the listing: a window on `time_requested`, [startMs, endMs). */
interface _Slice {
  startMs: number;
  endMs: number;
}

/**
 * What a shard paged to its end proves: the items counted in it, the distinct ones it gave, and
 * whether the platform counts no more after its last item than it gave there (`tailHolds`).
 */
interface _ShardProof {
  count: number;
  got: number;
  tailHolds: boolean;
}

/**
 * Where a cursor's listing ended, pages in ascending `time_requested`: its last time and the
 * distinct items it gave that the count after it (from `lastMs - 1` on, a listed time being rounded
 * up to its millisecond) takes in (`nearIds`): those at `lastMs`, those exactly on `lastMs - 1` (not
 * those rounded up to it: they lie before), and those set past what a Date holds after a dated one
 * (in ascending order, far in the future). An item with no time is in no interval.
 */
class _ListEnd {
  lastMs?: number;
  /**
   * A dated item came after a later one: the pages are not oldest first (a platform or a proxy that
   * ignores `sort_order`), so what the cursor missed need not lie after its last item, and the
   * count there proves nothing.
   */
  unordered = false;
  #atLast: string[] = [];
  /** Of those at `lastMs`, the ones exactly on it: inside the window of a later millisecond's. */
  #atLastExact: string[] = [];
  #before: string[] = [];
  /** Items dated past what a Date holds given after the last dated one (see `#tailHolds`). */
  #beyondDates: string[] = [];

  add(item: RemoteItem): void {
    const ms = item.timeRequestedMs, exact = item.timeRequestedInexact === undefined;
    const id = item.binaryDataId;
    if (ms === undefined) {
      if (item.timeRequestedInexact === "beyond-dates" && this.lastMs !== undefined) {
        this.#beyondDates.push(id);
      }
    } else if (this.lastMs === undefined || ms > this.lastMs) {
      this.#before = this.lastMs === ms - 1 ? this.#atLastExact : [];
      this.#atLast = [id];
      this.#atLastExact = exact ? [id] : [];
      this.#beyondDates = [];
      this.lastMs = ms;
    } else if (ms === this.lastMs) {
      this.#atLast.push(id);
      if (exact) this.#atLastExact.push(id);
    } else this.unordered = true; // an earlier time after a later one: no tail count holds
  }

  /** How many of the cursor's items lie from `lastMs - 1` on. */
  get nearLast(): number {
    return this.#atLast.length + this.#before.length + this.#beyondDates.length;
  }

  /** How many of them are dated past what a Date holds: all it gave after `lastMs`. */
  get beyondDates(): number {
    return this.#beyondDates.length;
  }

  /** The ids of the cursor's items from `lastMs - 1` on. */
  nearIds(): Set<string> {
    return new Set([...this.#atLast, ...this.#before, ...this.#beyondDates]);
  }
}

class _Lister implements Disposable {
  shards = 1;
  readonly #remote: RemoteSource;
  readonly #filter: ListFilter;
  readonly #options: ListRemoteOptions;
  readonly #parallel: number;
  /** Stops the other shards once one has failed for good; follows the caller's signal. */
  readonly #stop: LinkedAbort;

  constructor(remote: RemoteSource, filter: ListFilter, options: ListRemoteOptions) {
    this.#remote = remote;
    this.#filter = filter;
    this.#options = options;
    this.#parallel = Math.max(1, options.parallelPages ?? 16);
    this.#stop = new LinkedAbort(options.signal);
  }

  /**
   * Lets go of the caller's signal: a loop's signal lives as long as the loop, and a listener left
   * on it would keep this listing (and the pass's index, through `onItems`) alive after every pass.
   */
  [Symbol.dispose](): void {
    this.#stop[Symbol.dispose]();
  }

  async run(): Promise<ListingResult> {
    const [total, span] = await Promise.all([this.#count(this.#filter), this.#span()]);
    if (total !== undefined) this.#assertFits(total);
    if (total !== undefined && span !== undefined && this.#parallel > 1 && total > 2 * _PAGE_SIZE) {
      const wanted = shardCount(total, this.#parallel);
      // A listed time is rounded up to its millisecond: the oldest item lies up to 1 ms before it.
      const spanned: _Slice = { startMs: span.firstMs - 1, endMs: span.lastMs + 1 };
      const proofs = await this.#pageShards(
        _slice(spanned.startMs, spanned.endMs, wanted),
        total / wanted,
        total,
      );
      this.shards = proofs.length;
      if (
        proofs.every(({ count, got, tailHolds }) => got >= count && tailHolds) &&
        this.#distinct() >= total
      ) {
        return this.#provedAgainst(await this.#count(this.#within(spanned)), this.shards);
      }
      const short = proofs.filter(({ count, got }) => got < count).length;
      const untold = proofs.filter(({ tailHolds }) => !tailHolds).length;
      this.#options.logger.warn(
        `the sharded listing did not add up (${this.#distinct()} items, the platform counts ` +
          `${total}; of its ${proofs.length} shards ${short} gave fewer items than counted in ` +
          `them, ${untold} ended before their last): listing again with one cursor`,
      );
      this.shards = 1;
    }
    const end = new _ListEnd();
    await this.#pageAll(this.#filter, undefined, end);
    const listed = this.#distinct();
    const unfounded = _unfoundedCount(total, listed);
    if (unfounded !== undefined) return { complete: true, unproven: unfounded, shards: 1 };
    if (total !== undefined && listed < total) {
      return {
        complete: true,
        unproven: `the listing returned ${listed} items but the platform counts ${total}`,
        shards: 1,
      };
    }
    if (total !== undefined && !(await this.#tailHolds(this.#filter, end))) {
      return {
        complete: true,
        unproven: end.unordered
          ? "the platform listed items out of order (not oldest first): where it ended proves " +
            "nothing"
          : "the platform has items from the listing's last one on that it did not list (it " +
            "ended early, or items were added there while it ran)",
        shards: 1,
      };
    }
    return this.#provedAgainst(
      total === undefined ? undefined : await this.#count(this.#filter),
      1,
    );
  }

  /**
   * The listing's outcome once it ended holding at least the items counted before it: proved whole
   * when it also holds `after`, the count of what it listed taken after its last page (undefined:
   * a count failed).
   */
  #provedAgainst(after: number | undefined, shards: number): ListingResult {
    if (after === undefined) {
      return {
        complete: true,
        unproven: "could not confirm the listing is whole (the platform's count failed)",
        shards,
      };
    }
    const listed = this.#distinct();
    const unfounded = _unfoundedCount(after, listed);
    if (unfounded !== undefined) return { complete: true, unproven: unfounded, shards };
    if (listed < after) {
      return {
        complete: true,
        unproven: `the listing returned ${listed} items but the platform counts ${after} ` +
          `after it (items added while it ran)`,
        shards,
      };
    }
    return { complete: true, shards };
  }

  #distinct(): number {
    return this.#options.distinctItems();
  }

  #assertFits(items: number): void {
    const max = this.#options.maxItems;
    if (max !== undefined && items > max) throw new ListingTooLargeError(items, max);
  }

  /** The filter's count, or undefined when the platform does not give it. */
  async #count(filter: ListFilter): Promise<number | undefined> {
    try {
      return await this.#retry("count", () => this.#remote.count(filter, this.#call()));
    } catch (error) {
      const kind = kindUnder(this.#remote.classify(error), this.#stop.signal);
      // Stopped from outside (the caller, or the local walk failing with its own error): not the
      // platform's failure, and not to be told as one.
      if (kind === "aborted" || kind === "auth" || this.#stop.signal.aborted) throw error;
      this.#options.logger.warn("the platform's count failed", { error: describeError(error) });
      return undefined;
    }
  }

  /** The first and last `time_requested` of the filter (epoch ms), when both are known. */
  async #span(): Promise<{ firstMs: number; lastMs: number } | undefined> {
    if (this.#parallel === 1) return undefined;
    const edge = (order: "ascending" | "descending") =>
      this.#retry(
        "listing",
        () => this.#remote.listPage(this.#filter, "", { ...this.#call(), pageSize: 1, order }),
      ).then((page) => page.items[0]?.timeRequestedMs);
    const [firstMs, lastMs] = await Promise.all([edge("ascending"), edge("descending")]);
    if (firstMs === undefined || lastMs === undefined || lastMs < firstMs) return undefined;
    return { firstMs, lastMs };
  }

  /**
   * Pages `slices` as shards, `#parallel` at a time, and resolves to what each shard paged to its
   * end proves. A slice holding more than {@linkcode _DENSE_SHARE} times its `share` of the items
   * is cut into parts of about one share, which join the queue as shards of their own (and are cut
   * again while they are dense and at least 2 ms wide: one far-off item, a robot booted with its
   * clock at 1970, would otherwise leave the whole span in one part, paged by one cursor).
   */
  async #pageShards(slices: _Slice[], share: number, total: number): Promise<_ShardProof[]> {
    const proofs: _ShardProof[] = [];
    const shards = new WorkQueue({ concurrency: this.#parallel, signal: this.#stop.signal });
    // A part is cut again only while it holds less than the whole listing: one counted as all of
    // it (a count that does not go by the interval) would be cut again and again, down to 1 ms
    // slices, multiplying the calls without thinning it.
    // And no more parts than that many times the first cut's, whatever the counts say: a count
    // that ignores the interval dipping below the first (an item deleted meanwhile) cuts every
    // part again, down to 1 ms slices; one far-off item needs a few cuts per order of magnitude.
    let parts = slices.length;
    const budget = slices.length * _MAX_RECUTS;
    const mayCutPart = (count: number) => count < total && parts < budget;
    const page = (slice: _Slice, mayCut?: (count: number) => boolean) => async () => {
      try {
        const paged = await this.#pageShard(slice, share, mayCut);
        if ("parts" in paged) {
          parts += paged.parts.length;
          for (const part of paged.parts) shards.push(page(part, mayCutPart));
        } else proofs.push(paged);
      } catch (error) {
        this.#stop.abort(error); // the first failure is the one reported; the rest stop
        throw error;
      }
    };
    for (const slice of slices) shards.push(page(slice));
    await shards.finish();
    this.#options.signal?.throwIfAborted();
    return proofs;
  }

  /**
   * Counts one slice while it pages it. A slice counted as dense for its `share` stops after the
   * page in flight (its items were handed over like any other) and resolves to its parts, when
   * `mayCut` allows it for its count (a part cut from a dense slice; a slice always may).
   */
  async #pageShard(
    slice: _Slice,
    share: number,
    mayCut: (count: number) => boolean = () => true,
  ): Promise<_ShardProof | { parts: _Slice[] }> {
    const filter = this.#within(slice);
    let cut = false;
    const counting = this.#retry("count", () => this.#remote.count(filter, this.#call()));
    const end = new _ListEnd();
    // The tail proved after a short page (see `#pageAll`): the shard then asks for no empty page.
    // Only by a count taken after a dated item (`#tailHolds` holds without one: the shard's count
    // alone proves such a listing, which then ends on its empty page as before).
    let tailProved = false;
    const paging = this.#pageAll(filter, () => cut, end, async () => {
      tailProved = end.lastMs !== undefined && await this.#tailHolds(filter, end);
      return tailProved;
    });
    paging.catch(() => {}); // awaited below; failing while the count is on the way is not unhandled
    let count: number;
    try {
      count = await counting;
    } catch (error) {
      cut = true;
      await paging.catch(() => {});
      throw error;
    }
    if (count > _DENSE_SHARE * share && slice.endMs - slice.startMs >= 2 && mayCut(count)) {
      cut = true;
      await paging;
      return { parts: _slice(slice.startMs, slice.endMs, Math.ceil(count / share)) };
    }
    const got = await paging;
    return { count, got, tailHolds: tailProved || await this.#tailHolds(filter, end) };
  }

  /**
   * Whether the platform counts no more items from a cursor's last millisecond (and the one before)
   * to the end of `filter` than the cursor gave there, lists none there that the cursor did not
   * give, and counts none after that millisecond but those dated past what a Date holds that it
   * gave. Counts compare totals, and items uploaded and others deleted while a listing runs can make
   * up for items it missed; a listing that ended before its last pages (a platform cutting
   * pagination short) missed items after its last one, or in its very millisecond, which these
   * find whatever changed elsewhere:
   * - The count from the next millisecond on takes in no item the cursor gave (bar those past the
   *   dates), so no deletion of a listed one can hide a missed one from it (the newest listed
   *   deleted before the first count: that count found the missed item in its place, as many as
   *   the cursor gave there, and the pass deleted the missed item's file: a reviewer's case).
   * - In the last millisecond itself a missed item and a listed one deleted balance any count (two
   *   cameras triggered together, the listing cut between them: the next reviewer's case). Those
   *   items are listed again once counted, by id (`#nearListed`).
   * Items added there while the listing ran fail it too: the listing is then unproven for this
   * pass. Not checked when no dated item was listed (the count did). Never holds for pages that
   * were not oldest first: what such a cursor missed may lie anywhere.
   */
  async #tailHolds(filter: ListFilter, end: _ListEnd): Promise<boolean> {
    if (end.unordered) return false;
    if (end.lastMs === undefined) return true;
    const outer = filter.interval ?? {};
    const after = (startMs: number): ListFilter => ({
      ...filter,
      interval: { startMs: Math.max(startMs, outer.startMs ?? -Infinity), endMs: outer.endMs },
    });
    const near = after(end.lastMs - 1);
    const next = end.lastMs + 1;
    const [nearHolds, past] = await Promise.all([
      this.#count(near).then((counted) =>
        counted !== undefined && counted <= end.nearLast && this.#nearListed(near, end, counted)
      ),
      outer.endMs !== undefined && next >= outer.endMs ? 0 : this.#count(after(next)),
    ]);
    return nearHolds && past !== undefined && past <= end.beyondDates;
  }

  /**
   * Whether `near` (from a cursor's last millisecond but one on), listed again after it was
   * `counted`, gives at least that many items, every one of them one the cursor gave. A listed
   * item deleted since leaves it short (unproven for this pass: the safe side); one the cursor
   * missed is named. Listed after the count, not beside it: a deletion between the two would
   * otherwise make room in the count for a missed item that a listing cut short again left out.
   * Usually one page of an item or two.
   */
  async #nearListed(near: ListFilter, end: _ListEnd, counted: number): Promise<boolean> {
    if (counted === 0) return true;
    const ids = end.nearIds();
    const seen = new Set<string>();
    let last = "";
    while (seen.size < counted) {
      const result = await this.#retry(
        "listing",
        () =>
          this.#remote.listPage(near, last, {
            ...this.#call(),
            pageSize: Math.min(counted - seen.size + 1, _PAGE_SIZE),
            order: "ascending",
          }),
      );
      await this.#options.bandwidth?.take(result.bytes ?? 0, this.#stop.signal);
      const before = seen.size;
      for (const item of result.items) {
        if (!ids.has(item.binaryDataId)) return false;
        seen.add(item.binaryDataId);
      }
      if (seen.size === before || !result.last) break;
      last = result.last;
    }
    return seen.size >= counted;
  }

  /**
   * Follows one cursor to the empty page, or until `stopped` says so after a page; resolves to the
   * distinct items it returned.
   *
   * With `endProved` (a shard: a window of `time_requested`, where every item is dated), the first
   * page shorter than asked is taken as likely the last: `endProved` counts the window from the
   * cursor's last item on (`#tailHolds`), and when the platform counts there no item the cursor did
   * not give, the cursor ends without asking for the empty page. The shard's proof is the same (its
   * count, and that tail count taken after its last item, as after an empty page), for one round
   * trip and one call less a shard: 15 of the 155 calls of a 10,020-item listing. A short page that
   * is not the last (a platform serving shorter pages) fails the count, and the cursor pages on to
   * the empty page as before; only the first short page is looked at so, which bounds the extra
   * counts at one per shard. Not for a listing with no window: its items with no time are in no
   * count's interval, and may come after the last dated one.
   */
  async #pageAll(
    filter: ListFilter,
    stopped?: () => boolean,
    end = new _ListEnd(),
    endProved?: () => Promise<boolean>,
  ): Promise<number> {
    const ids = new Set<string>();
    // A cursor given again, or pages of items listed before, would page for good.
    const cursors = new Set<string>();
    let staleInARow = 0;
    let last = "";
    for (let page = 1;; page++) {
      // Oldest first, so that what a listing cut short missed lies after its last item.
      const result = await this.#retry(
        "listing",
        () =>
          this.#remote.listPage(filter, last, {
            ...this.#call(),
            pageSize: _PAGE_SIZE,
            order: "ascending",
          }),
      );
      await this.#options.bandwidth?.take(result.bytes ?? 0, this.#stop.signal);
      if (result.items.length === 0) return ids.size;
      const before = ids.size;
      for (const item of result.items) {
        if (ids.has(item.binaryDataId)) continue;
        ids.add(item.binaryDataId);
        end.add(item);
      }
      staleInARow = ids.size === before ? staleInARow + 1 : 0;
      if (staleInARow === _MAX_STALE_PAGES) {
        throw new Error(
          `listing page ${page}: ${_MAX_STALE_PAGES} pages in a row brought no item not listed ` +
            "before (the platform's paging goes round)",
        );
      }
      // Items named by their MIME type need its table to be mapped to paths: loaded at the first.
      if (result.items.some(needsMimeTable)) await loadMimeTable();
      this.#options.onItems(result.items);
      this.#assertFits(this.#distinct());
      // A page without a new cursor would make us ask for the same page forever (the cursor just
      // used is in `cursors` too).
      if (!result.last) {
        throw new Error(`listing page ${page}: the platform returned no cursor`);
      }
      if (cursors.has(result.last)) {
        throw new Error(
          `listing page ${page}: the platform returned a cursor it had given before (its paging ` +
            "goes round)",
        );
      }
      cursors.add(result.last);
      last = result.last;
      if (stopped?.()) return ids.size;
      if (endProved !== undefined && result.items.length < _PAGE_SIZE) {
        const proved = await endProved();
        endProved = undefined;
        if (proved) return ids.size;
      }
    }
  }

  #within(slice: _Slice): ListFilter {
    const outer = this.#filter.interval ?? {};
    return {
      ...this.#filter,
      interval: {
        startMs: Math.max(slice.startMs, outer.startMs ?? -Infinity),
        endMs: Math.min(slice.endMs, outer.endMs ?? Infinity),
      },
    };
  }

  #call(): { signal: AbortSignal } {
    return { signal: this.#stop.signal };
  }

  #retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return retry(fn, {
      attempts: this.#options.attemptsPerPage ?? CALL_RETRY.attempts,
      minDelayMs: this.#options.minRetryDelayMs ?? CALL_RETRY.minDelayMs,
      maxDelayMs: CALL_RETRY.maxDelayMs,
      timeoutAttempts: CALL_RETRY.timeoutAttempts,
      isTimeout,
      isRetriable: (error) =>
        kindUnder(this.#remote.classify(error), this.#stop.signal) === "transient",
      signal: this.#stop.signal,
      onRetry: logRetries(this.#options.logger, `${what} call`, describeError),
    });
  }
}

/**
 * How many shards to cut a listing of `total` items into, with `parallel` pages in flight: the
 * count that needs the fewest round trips in sequence. Shards are paged `parallel` at a time
 * (ceil(shards / parallel) waves), each following its cursor through its pages and one call at
 * its end (the empty page, or the count after a short last page; a shard's count travels with its
 * first page). More shards than that pays for more of those calls and counts; fewer leaves calls
 * idle. Between 2 and 64; a tie goes to fewer shards (fewer calls). A shard much denser than its
 * share is cut again once counted.
 *
 * @example
 * ```ts
 * shardCount(10_020, 16); // 15: one wave of 7 pages and the call that ends each
 * ```
 */
export function shardCount(total: number, parallel: number): number {
  const lanes = Math.max(1, parallel);
  let best = 2;
  let bestTrips = Infinity;
  for (let shards = 2; shards <= 64; shards++) {
    const waves = Math.ceil(shards / lanes);
    const trips = waves * (Math.ceil(total / (shards * _PAGE_SIZE)) + 1);
    if (trips < bestTrips) {
      best = shards;
      bestTrips = trips;
    }
  }
  return best;
}

/** [startMs, endMs) cut into `parts` slices of equal width (at least 1 ms each). */
function _slice(
  startMs: number,
  endMs: number,
  parts: number,
): { startMs: number; endMs: number }[] {
  const n = Math.max(1, Math.min(parts, endMs - startMs));
  const slices = [];
  for (let i = 0; i < n; i++) {
    slices.push({
      startMs: startMs + Math.floor(((endMs - startMs) * i) / n),
      endMs: startMs + Math.floor(((endMs - startMs) * (i + 1)) / n),
    });
  }
  return slices;
}

function _thousands(count: number): string {
  return count.toLocaleString("en-US");
}

/**
 * Why a count of 0 beside a listing that returned items proves nothing, or undefined. Protobuf
 * sends no 0: a count the platform (or a proxy) does not give reads as 0, and every check by
 * counts (`listed >= count`) would then pass, however short the listing was cut. Items added
 * while the listing ran can make the same picture: the next pass decides.
 */
function _unfoundedCount(count: number | undefined, listed: number): string | undefined {
  return count === 0 && listed > 0
    ? `the platform counts no items but the listing returned ${listed}: its count proves nothing`
    : undefined;
}

/**
 * The listing mapped to paths as pages arrive: each item's safe local path, the winner where items
 * share one (the same whatever the page order), the names refused, and the paths shadowed by folders.
 *
 * @module
 */
import { directoriesOf, localPathFor, quoteName } from "../paths.ts";
import type { RemoteItem } from "../remote/remote_item.ts";

/**
 * What a pass keeps of a listed item once it is mapped to its path: enough to fetch it. A listing of
 * 100,000 items keeps 100,000 of these, so the name fields are dropped, and the `uri` is kept only
 * for files that will not travel inline (unknown size, or above the inline limit); a small file whose
 * inline fetch is refused after all is fetched through a signed URL, which needs only its id.
 */
export interface ListedItem {
  /** `org/location/fileid`. */
  binaryDataId: string;
  /** `file_size_bytes`, when the platform sent it. */
  sizeBytes?: number;
  /** Where to download it, or `""`. */
  uri: string;
  /** `time_received` in epoch ms, when the platform sent it: the newest item wins a shared path. */
  timeReceivedMs?: number;
  /**
   * A hash of the item's manifest line, set by the `ManifestWriter` when it writes the line: what
   * tells at the pass's end whether the manifest in place already holds the lines it would get,
   * without reading them back.
   */
  manifestLineHash?: number;
}

/** Options of {@linkcode ListingIndex}. */
export interface ListingIndexOptions {
  /** Longest relative path that fits under the mirror root (see `localPathFor`). */
  maxPathBytes?: number;
  /** Files of known size up to this many bytes keep no `uri`. Default: every `uri` is kept. */
  inlineMaxBytes?: number;
}

/** An item whose name could not be mapped to a safe local path. */
export interface Rejection {
  /** The item's `binary_data_id`. */
  binaryDataId: string;
  /** Why its name was refused (names the problem; the name is quoted and escaped). */
  reason: string;
}

/** What {@linkcode ListingIndex.addPage} made of a page. */
export interface PageAdded {
  /** The paths no item held before (what a streaming pass may fetch at once), in page order. */
  firstSightings: string[];
  /**
   * Per item of the page, its path when the item was new to the index and its name maps to one,
   * whether or not it wins that path; undefined for an item listed before, or rejected.
   */
  paths: (string | undefined)[];
  /** Per item of the page, what the index keeps of it when `paths` has its path, else undefined. */
  listed: (ListedItem | undefined)[];
}

// How many rejections are kept for reporting; the counts stay exact. Bounds memory on a listing of
// a million hostile names.
const _MAX_REJECTIONS_KEPT = 1000;

/**
 * The streamed listing reduced to one item per local path, the same whatever the page order, so
 * that two passes over the same data never disagree (a disagreement would download a file on one
 * pass and delete it on the next).
 *
 * - The same `binaryDataId` listed again (pages shifting while listing) counts once; the first
 *   listing of it is kept.
 * - Two items on one path: the one the platform stored last (`time_received`) wins, so a file
 *   pushed again under its name replaces the old version on every machine (an item without the
 *   time counts as oldest); of two stored at the same millisecond, the smallest `binaryDataId`
 *   (code-unit order). The other counts as a duplicate.
 * - A file path that another item needs as a directory (`a` and `a/b.jpg`) cannot exist on disk:
 *   the directory wins, and the item at `a` counts as a duplicate. Directories win because they
 *   hold at least one item and usually more, and because this keeps the rule order-free: an item is
 *   dropped exactly when some other path lies beneath it.
 *
 * @example
 * ```ts
 * const index = new ListingIndex();
 * index.addPage(page); // as each listing page arrives
 * const remote = index.entries(); // path -> item, sorted by path
 * ```
 */
export class ListingIndex {
  readonly #options: ListingIndexOptions;
  /** The ids listed, until the listing ends (then only their count is kept). */
  #seen: Set<string> | undefined = new Set<string>();
  #listedWhenEnded = 0;
  #byPath = new Map<string, ListedItem>();
  #samePath = 0;
  #rejected = 0;
  #rejections: Rejection[] = [];
  #resolved?: _Resolved;

  constructor(options: ListingIndexOptions = {}) {
    this.#options = options;
  }

  /**
   * Adds a page's listed items: maps each to its path, counts it as rejected or duplicate as
   * needed. A path is a first sighting when no item held it before (what a streaming pass may
   * fetch at once); a later item on the same path may still win it (see `itemAt`).
   */
  addPage(items: readonly RemoteItem[]): PageAdded {
    const added: PageAdded = { firstSightings: [], paths: [], listed: [] };
    for (const item of items) {
      if (this.#add(item, added) === undefined) {
        added.paths.push(undefined);
        added.listed.push(undefined);
      }
    }
    return added;
  }

  /**
   * Adds `item`. When it is new and its name maps to a path, returns what the index keeps of it,
   * pushed to `added` with its path (and the path to `firstSightings` when no item held it yet);
   * else undefined, and nothing is pushed.
   */
  #add(item: RemoteItem, added: PageAdded): ListedItem | undefined {
    if (item.binaryDataId === "") {
      // Nothing can fetch it, and nothing tells two such items apart: refused, each time it is
      // listed, and left out of `listed` (which the listing's proof compares with the platform's
      // counts: items listed twice must not make up for missed ones).
      const name = item.fileName !== "" ? `file_name ${quoteName(item.fileName)}` : "an item";
      return this.#reject("", `${name} was listed without a binary_data_id`);
    }
    const seen = this.#seen;
    if (seen === undefined) throw new Error("the listing has ended: no page can be added");
    if (seen.has(item.binaryDataId)) return undefined;
    seen.add(item.binaryDataId);
    const local = localPathFor(item, { maxPathBytes: this.#options.maxPathBytes });
    if (!local.ok) return this.#reject(item.binaryDataId, local.reason);
    const byPath = this.#writable();
    this.#resolved = undefined;
    const held = byPath.get(local.path);
    const inlineMax = this.#options.inlineMaxBytes;
    const keepUri = inlineMax === undefined || item.sizeBytes === undefined ||
      item.sizeBytes > inlineMax;
    const listed: ListedItem = {
      binaryDataId: item.binaryDataId,
      sizeBytes: item.sizeBytes,
      uri: keepUri ? item.uri : "",
      timeReceivedMs: item.timeReceivedMs,
      manifestLineHash: undefined, // in the object from the start: set later, it grew each one
    };
    if (held === undefined) {
      byPath.set(local.path, listed);
      added.firstSightings.push(local.path);
    } else {
      this.#samePath++;
      if (_wins(listed, held)) byPath.set(local.path, listed);
    }
    added.paths.push(local.path);
    added.listed.push(listed);
    return listed;
  }

  /** Counts (and keeps, up to the cap) an item refused: it holds no path. */
  #reject(binaryDataId: string, reason: string): undefined {
    this.#rejected++;
    if (this.#rejections.length < _MAX_REJECTIONS_KEPT) {
      this.#rejections.push({ binaryDataId, reason });
    }
    return undefined;
  }

  /** The item holding `path` now (the winner so far), if any. */
  itemAt(path: string): ListedItem | undefined {
    return this.#byPath.get(path);
  }

  /** Distinct items listed (by `binaryDataId`), whatever became of them. */
  get listed(): number {
    return this.#seen?.size ?? this.#listedWhenEnded;
  }

  /**
   * Ends the listing: the ids listed, which only tell a page's items listed before from new ones,
   * are let go (at 100,000 items a 2.5 MB table and the strings it alone held), their count kept.
   * A page added after this throws.
   */
  endListing(): void {
    this.#listedWhenEnded = this.listed;
    this.#seen = undefined;
  }

  /** Items whose name was unsafe. */
  get rejected(): number {
    return this.#rejected;
  }

  /** Items that lost their path to another item (same path, or a directory needed there). */
  get duplicates(): number {
    return this.#samePath + this.#resolve().shadowed.size;
  }

  /**
   * The paths that lost to a directory other items need (`a` beside `a/b.jpg`), each with the item
   * that held it: a file the mirror placed there in an earlier pass stands where that directory
   * goes.
   */
  get shadowed(): ReadonlyMap<string, ListedItem> {
    return this.#resolve().shadowed;
  }

  /** The first 1000 rejections, in listing order ({@linkcode ListingIndex.rejected} counts all). */
  get rejections(): readonly Rejection[] {
    return this.#rejections;
  }

  /**
   * Path -> winning item, in code-unit order of path: a snapshot, which later additions do not
   * change. Neither a copy nor a new map (see {@linkcode _SortedView}).
   */
  entries(): ReadonlyMap<string, ListedItem> {
    return this.#resolve().entries;
  }

  #resolve(): _Resolved {
    if (this.#resolved) return this.#resolved;
    const directories = directoriesOf(this.#byPath.keys());
    const paths = [...this.#byPath.keys()].sort();
    if (!paths.some((path) => directories.has(path))) {
      // The usual case: the index's own map, read in path order. The next addition copies the
      // map first (`#writable`), so the snapshot stays as it is.
      const entries = new _SortedView(this.#byPath, paths);
      this.#resolved = { entries, shadowed: _NONE_SHADOWED, shares: this.#byPath };
      return this.#resolved;
    }
    const entries = new Map<string, ListedItem>();
    const shadowed = new Map<string, ListedItem>();
    for (const path of paths) {
      (directories.has(path) ? shadowed : entries).set(path, this.#byPath.get(path)!);
    }
    this.#resolved = { entries, shadowed };
    return this.#resolved;
  }

  /** The path map, copied first when the snapshot `entries()` handed out reads it. */
  #writable(): Map<string, ListedItem> {
    if (this.#byPath === this.#resolved?.shares) this.#byPath = new Map(this.#byPath);
    return this.#byPath;
  }
}

/** The usual case's `shadowed`: one empty map, not one a snapshot. */
const _NONE_SHADOWED: ReadonlyMap<string, ListedItem> = new Map();

/** What `entries()` hands out, and the map it reads when that is the index's own. */
interface _Resolved {
  entries: ReadonlyMap<string, ListedItem>;
  /** Paths dropped because another item needs them as a directory, with their items. */
  shadowed: ReadonlyMap<string, ListedItem>;
  shares?: Map<string, ListedItem>;
}

/**
 * A map read in the order of a sorted list of its keys. Sorting a listing meant building a second
 * map in path order: at 100,000 items a new table (some 4 MB, and as much again outgrown on the
 * way) while the old one became garbage, all in V8's large-object space, at the end of the pass
 * where its peak is. The list of keys is 0.8 MB.
 */
class _SortedView implements ReadonlyMap<string, ListedItem> {
  readonly #map: ReadonlyMap<string, ListedItem>;
  readonly #keys: readonly string[];

  /** `keys`: every key of `map`, in the order to read them. */
  constructor(map: ReadonlyMap<string, ListedItem>, keys: readonly string[]) {
    this.#map = map;
    this.#keys = keys;
  }

  get size(): number {
    return this.#keys.length;
  }

  get(key: string): ListedItem | undefined {
    return this.#map.get(key);
  }

  has(key: string): boolean {
    return this.#map.has(key);
  }

  forEach(
    callback: (value: ListedItem, key: string, map: ReadonlyMap<string, ListedItem>) => void,
    thisArg?: unknown,
  ): void {
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i++) {
      callback.call(thisArg, this.#map.get(keys[i])!, keys[i], this);
    }
  }

  *entries(): MapIterator<[string, ListedItem]> {
    for (const key of this.#keys) yield [key, this.#map.get(key)!];
  }

  keys(): MapIterator<string> {
    // The array's own iterator: a generator's `yield*` resumed it once per key (10,000 a pass).
    return this.#keys.values() as unknown as MapIterator<string>;
  }

  *values(): MapIterator<ListedItem> {
    for (const key of this.#keys) yield this.#map.get(key)!;
  }

  [Symbol.iterator](): MapIterator<[string, ListedItem]> {
    return this.entries();
  }
}

/** True when `a` wins a path from `b`: stored later, or at the same time with a smaller id. */
function _wins(a: ListedItem, b: ListedItem): boolean {
  const at = a.timeReceivedMs ?? -Infinity;
  const bt = b.timeReceivedMs ?? -Infinity;
  return at !== bt ? at > bt : a.binaryDataId < b.binaryDataId;
}

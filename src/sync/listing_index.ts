import { localPathFor, parentDirectories } from "../paths.ts";
import type { RemoteItem } from "../remote/remote_item.ts";

/** An item whose name could not be mapped to a safe local path. */
export interface Rejection {
  /** The item's `binary_data_id`. */
  binaryDataId: string;
  /** Why its name was refused (names the problem; the name is quoted and escaped). */
  reason: string;
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
 * - Two items on one path: the one with the smallest `binaryDataId` (code-unit order) wins; the
 *   other counts as a duplicate.
 * - A file path that another item needs as a directory (`a` and `a/b.jpg`) cannot exist on disk:
 *   the directory wins, and the item at `a` counts as a duplicate. Directories win because they
 *   hold at least one item and usually more, and because this keeps the rule order-free: an item is
 *   dropped exactly when some other path lies beneath it.
 *
 * @example
 * ```ts
 * const index = new ListingIndex();
 * for (const item of page) index.add(item);
 * const remote = index.entries(); // path -> item, sorted by path
 * ```
 */
export class ListingIndex {
  #seen = new Set<string>();
  #byPath = new Map<string, RemoteItem>();
  #samePath = 0;
  #rejected = 0;
  #rejections: Rejection[] = [];
  #resolved?: { entries: Map<string, RemoteItem>; shadowed: number };

  /** Adds one listed item: maps it to its path, counts it as rejected or duplicate as needed. */
  add(item: RemoteItem): void {
    if (this.#seen.has(item.binaryDataId)) return;
    this.#seen.add(item.binaryDataId);
    const local = localPathFor(item);
    if (!local.ok) {
      this.#rejected++;
      if (this.#rejections.length < _MAX_REJECTIONS_KEPT) {
        this.#rejections.push({ binaryDataId: item.binaryDataId, reason: local.reason });
      }
      return;
    }
    this.#resolved = undefined;
    const held = this.#byPath.get(local.path);
    if (held === undefined) {
      this.#byPath.set(local.path, item);
      return;
    }
    this.#samePath++;
    if (item.binaryDataId < held.binaryDataId) this.#byPath.set(local.path, item);
  }

  /** Distinct items listed (by `binaryDataId`), whatever became of them. */
  get listed(): number {
    return this.#seen.size;
  }

  /** Items whose name was unsafe. */
  get rejected(): number {
    return this.#rejected;
  }

  /** Items that lost their path to another item (same path, or a directory needed there). */
  get duplicates(): number {
    return this.#samePath + this.#resolve().shadowed;
  }

  /** The first 1000 rejections, in listing order ({@linkcode ListingIndex.rejected} counts all). */
  get rejections(): readonly Rejection[] {
    return this.#rejections;
  }

  /** Path -> winning item, in code-unit order of path. A new map each call: the caller may keep it. */
  entries(): Map<string, RemoteItem> {
    return new Map(this.#resolve().entries);
  }

  #resolve(): { entries: Map<string, RemoteItem>; shadowed: number } {
    if (this.#resolved) return this.#resolved;
    const directories = new Set<string>();
    for (const path of this.#byPath.keys()) {
      for (const directory of parentDirectories(path)) directories.add(directory);
    }
    const entries = new Map<string, RemoteItem>();
    let shadowed = 0;
    for (const path of [...this.#byPath.keys()].sort()) {
      if (directories.has(path)) shadowed++;
      else entries.set(path, this.#byPath.get(path)!);
    }
    this.#resolved = { entries, shadowed };
    return this.#resolved;
  }
}

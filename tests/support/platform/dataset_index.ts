/**
 * The local data platform's data set, indexed for listing: filter matching, the stable order and
 * the opaque cursor of `BinaryDataByFilter`.
 *
 * @module
 */

import type { DatasetRecord, ItemRecord, PlatformDataset } from "./item_record.ts";

/** What a listing selects. Kinds are ANDed; values inside `tags`, `bboxLabels`, `mimeTypes`, `organizationIds` and `locationIds` are ORed; an empty list does not constrain. */
export interface ItemQuery {
  /** `any`: tagged with one of `tags` (no constraint when empty); `tagged`: any tag; `untagged`: none. */
  tagsMode: "any" | "tagged" | "untagged";
  /** Tags for `tagsMode: "any"`. */
  tags: readonly string[];
  /** Bounding-box labels. */
  bboxLabels: readonly string[];
  /** Dataset id; empty does not constrain. */
  datasetId: string;
  /** Exact MIME types. */
  mimeTypes: readonly string[];
  /** Organization ids. */
  organizationIds: readonly string[];
  /** Location ids. */
  locationIds: readonly string[];
  /** `time_requested` at or after this (epoch ms). */
  startMs?: number;
  /** `time_requested` before this (epoch ms), or at it too with `endInclusive`. */
  endMs?: number;
  /** Whether `endMs` itself matches (the real service does not document which it does). */
  endInclusive?: boolean;
  /** `capture_metadata.part_id`; empty does not constrain. */
  partId?: string;
}

/** The part id of items that name none: the platform's one sample robot part. */
export const SAMPLE_PART_ID = "4c3a2b1e-local-part";

/** Where a page starts and how long it may be. */
export interface PageRequest {
  /** Most items in the page. */
  limit: number;
  /** The previous page's cursor, or empty for the first page. */
  cursor: string;
  /** Newest first instead of oldest first. */
  descending: boolean;
}

/** One page of a listing. */
export interface Page {
  /** The matching items, in listing order. */
  items: ItemRecord[];
  /** The cursor of the next page; an empty page echoes the request's cursor. */
  cursor: string;
  /** 1 for a listing's first page, then 2, 3, ... */
  pageNumber: number;
}

/** A malformed cursor. */
export class CursorError extends Error {
  /** Names the cursor problem. */
  constructor(message: string) {
    super(message);
    this.name = "CursorError";
  }
}

/** The items in listing order (oldest `time_requested` first, ties by id), with lookups. */
export class DatasetIndex {
  /** Every item, in listing order. */
  readonly items: readonly ItemRecord[];
  /** The datasets. */
  readonly datasets: readonly DatasetRecord[];
  #items: ItemRecord[];
  #byId: Map<string, ItemRecord>;

  /** Indexes a data set; throws when two items share a `binaryDataId`. */
  constructor(dataset: PlatformDataset) {
    this.#items = [...dataset.items].sort(_compare);
    this.items = this.#items;
    this.datasets = dataset.datasets;
    this.#byId = new Map();
    for (const item of this.items) {
      if (this.#byId.has(item.binaryDataId)) {
        throw new Error(`data set holds binaryDataId ${item.binaryDataId} twice`);
      }
      this.#byId.set(item.binaryDataId, item);
    }
  }

  /** Adds an item in its listing place (an upload); throws when its `binaryDataId` is taken. */
  add(item: ItemRecord): void {
    if (this.#byId.has(item.binaryDataId)) {
      throw new Error(`data set already holds binaryDataId ${item.binaryDataId}`);
    }
    let lo = 0;
    let hi = this.#items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (_compare(this.#items[mid], item) <= 0) lo = mid + 1;
      else hi = mid;
    }
    this.#items.splice(lo, 0, item);
    this.#byId.set(item.binaryDataId, item);
  }

  /** The item with this `binaryDataId`, if any. */
  get(binaryDataId: string): ItemRecord | undefined {
    return this.#byId.get(binaryDataId);
  }

  /** How many items match. */
  count(query: ItemQuery): number {
    let n = 0;
    for (const item of this.items) if (matches(item, query)) n++;
    return n;
  }

  /** The page after `request.cursor`; throws {@linkcode CursorError} on a malformed cursor. */
  page(query: ItemQuery, request: PageRequest): Page {
    const after = request.cursor === "" ? undefined : _decodeCursor(request.cursor);
    const pageNumber = (after?.page ?? 0) + 1;
    const step = request.descending ? -1 : 1;
    let i = after === undefined
      ? (request.descending ? this.items.length - 1 : 0)
      : this.#firstAfter(after, request.descending);
    const items: ItemRecord[] = [];
    for (; i >= 0 && i < this.items.length && items.length < request.limit; i += step) {
      if (matches(this.items[i], query)) items.push(this.items[i]);
    }
    const last = items.at(-1);
    const cursor = last === undefined ? request.cursor : _encodeCursor({
      page: pageNumber,
      timeMs: last.timeRequestedMs,
      id: last.binaryDataId,
    });
    return { items, cursor, pageNumber };
  }

  /** Index of the first item past the cursor's position in the given direction. */
  #firstAfter(after: _Cursor, descending: boolean): number {
    const key = { timeRequestedMs: after.timeMs, binaryDataId: after.id };
    // Lowest index whose item sorts after the cursor's key (binary search).
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (_compare(this.items[mid], key) <= 0) lo = mid + 1;
      else hi = mid;
    }
    if (!descending) return lo;
    // Descending: the highest index sorting strictly before the key.
    const at = lo - 1;
    return at >= 0 && _compare(this.items[at], key) === 0 ? at - 1 : at;
  }
}

/** Whether an item matches a query. */
export function matches(item: ItemRecord, query: ItemQuery): boolean {
  if (query.tagsMode === "tagged" && item.tags.length === 0) return false;
  if (query.tagsMode === "untagged" && item.tags.length > 0) return false;
  if (query.tagsMode === "any" && !_anyOf(query.tags, item.tags)) return false;
  if (!_anyOf(query.bboxLabels, item.bboxLabels)) return false;
  if (query.datasetId !== "" && !item.datasetIds.includes(query.datasetId)) return false;
  if (!_anyOf(query.mimeTypes, [item.mimeType])) return false;
  if (!_anyOf(query.organizationIds, [item.organizationId])) return false;
  if (!_anyOf(query.locationIds, [item.locationId])) return false;
  if (query.startMs !== undefined && item.timeRequestedMs < query.startMs) return false;
  if (query.endMs !== undefined) {
    const past = query.endInclusive
      ? item.timeRequestedMs > query.endMs
      : item.timeRequestedMs >= query.endMs;
    if (past) return false;
  }
  if (query.partId && (item.partId ?? SAMPLE_PART_ID) !== query.partId) return false;
  return true;
}

/** True when `wanted` is empty or shares a value with `held`. */
function _anyOf(wanted: readonly string[], held: readonly string[]): boolean {
  return wanted.length === 0 || wanted.some((value) => held.includes(value));
}

type _SortKey = Pick<ItemRecord, "timeRequestedMs" | "binaryDataId">;

function _compare(a: _SortKey, b: _SortKey): number {
  if (a.timeRequestedMs !== b.timeRequestedMs) return a.timeRequestedMs - b.timeRequestedMs;
  return a.binaryDataId < b.binaryDataId ? -1 : a.binaryDataId > b.binaryDataId ? 1 : 0;
}

/** The cursor's content: the position (sort key) of a page's last item and that page's number. */
interface _Cursor {
  page: number;
  timeMs: number;
  id: string;
}

function _encodeCursor(cursor: _Cursor): string {
  const json = JSON.stringify([cursor.page, cursor.timeMs, cursor.id]);
  const bytes = new TextEncoder().encode(json);
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

function _decodeCursor(text: string): _Cursor {
  let value: unknown;
  try {
    const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new CursorError(`malformed cursor "${text}"`);
  }
  if (
    !Array.isArray(value) || value.length !== 3 || !Number.isSafeInteger(value[0]) ||
    value[0] < 1 || !Number.isFinite(value[1]) || typeof value[2] !== "string"
  ) {
    throw new CursorError(`malformed cursor "${text}"`);
  }
  return { page: value[0], timeMs: value[1], id: value[2] };
}

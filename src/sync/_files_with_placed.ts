/**
 * The mirror's files as a pass sees them once its streamed downloads are through: the walk's files
 * with every file the pass placed, read through both maps instead of set into the walk's.
 *
 * @module
 */
import { type LocalFile, REGULAR_FILE } from "../fs/local_files.ts";

/**
 * The walk's `walked` files with the `placed` ones over them (each a regular file), read as one map:
 * in the walk's order, a placed path the walk found in its place, then the placed paths it did not
 * find in the order they were placed. It reads `placed` as it is at each call, so files placed
 * later are in it too.
 *
 * Why not a merged map: a fresh copy of 100,000 files grew the walk's empty map to 100,000 entries
 * (a 3.5 MB table, and as much again outgrown on the way, in V8's large-object space) while the
 * placed map held the same paths, at the end of the pass where its memory peaks.
 *
 * @example
 * ```ts
 * const present = new FilesWithPlaced(walked, transfer.result.placed);
 * present.get("a/b.jpg"); // REGULAR_FILE once placed
 * ```
 */
export class FilesWithPlaced implements ReadonlyMap<string, LocalFile> {
  readonly #walked: ReadonlyMap<string, LocalFile>;
  readonly #placed: ReadonlyMap<string, unknown>;

  constructor(walked: ReadonlyMap<string, LocalFile>, placed: ReadonlyMap<string, unknown>) {
    this.#walked = walked;
    this.#placed = placed;
  }

  /** Counts the placed paths the walk did not find: one lookup per placed file. */
  get size(): number {
    let size = this.#walked.size;
    for (const path of this.#placed.keys()) if (!this.#walked.has(path)) size++;
    return size;
  }

  get(path: string): LocalFile | undefined {
    return this.#placed.has(path) ? REGULAR_FILE : this.#walked.get(path);
  }

  has(path: string): boolean {
    return this.#placed.has(path) || this.#walked.has(path);
  }

  /** In the order of `keys()`, without an iterator's two objects per entry (10,000 each pass). */
  forEach(
    callback: (value: LocalFile, key: string, map: ReadonlyMap<string, LocalFile>) => void,
    thisArg?: unknown,
  ): void {
    this.#walked.forEach((_, path) => callback.call(thisArg, this.get(path)!, path, this));
    this.#placed.forEach((_, path) => {
      if (!this.#walked.has(path)) callback.call(thisArg, REGULAR_FILE, path, this);
    });
  }

  *entries(): MapIterator<[string, LocalFile]> {
    for (const path of this.keys()) yield [path, this.get(path)!];
  }

  /** The walk's paths in its order, then the placed ones it did not find, in the order placed. */
  *keys(): MapIterator<string> {
    yield* this.#walked.keys();
    for (const path of this.#placed.keys()) if (!this.#walked.has(path)) yield path;
  }

  *values(): MapIterator<LocalFile> {
    for (const path of this.keys()) yield this.get(path)!;
  }

  [Symbol.iterator](): MapIterator<[string, LocalFile]> {
    return this.entries();
  }
}

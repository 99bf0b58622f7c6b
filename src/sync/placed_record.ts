/**
 * Which item each file of the mirror was downloaded from, and at what size, kept across passes in
 * `<mirror>/.data-mirror/placed`, so that a file the platform replaced under the same name (a model
 * pushed again as `detector.tflite`, of the same size or not) is replaced in the mirror too instead
 * of being kept forever as an existing file. A file the record does not name (a user's own, or one
 * placed before the record existed) is kept, as any existing file is; so is a recorded one whose
 * size is no longer the one placed (a user replaced it).
 *
 * Compact, since it is read on every pass: 8 bytes a file, a sorted array of 64-bit keys made of a
 * 32-bit hash of the path, a 16-bit hash of its binary data id and a 16-bit hash of its size (0.8
 * MB at 100,000 files). Two paths of one path hash (about one pair at 100,000 files) are answered
 * as unknown: their files are kept. A replaced item whose id hashes like the old one (one in
 * 65,536) is missed, and so is a user's file whose size hashes like the placed one. The file is
 * rewritten only when it changes, without fsync: a power cut may leave the older record or none.
 *
 * @example
 * ```ts
 * const record = await PlacedRecord.read(stateDir);
 * if (record.placedFrom("models/detector.tflite", winnerId) === "other") {
 *   // the file there came from another item: replace it (if it still has the size placed)
 * }
 * await record.save(stateDir, { paths: files, count: files.length }, (path) => placed.get(path));
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { writeFileAtomic } from "../fs/atomic_write.ts";

/** The record's file name in the mirror's state folder. */
export const PLACED_RECORD_NAME = "placed";

/** A file placed from an item: the item's id and the file's size. */
export interface PlacedFile {
  /** The item's `binary_data_id`. */
  binaryDataId: string;
  /** The file's size in bytes. */
  size: number;
}

/** What the record holds for one path: the hashes of the id and the size. */
interface _Entry {
  id: number;
  size: number;
}

/** The ids (and sizes) the mirror's files were placed from, by path (hashed). */
export class PlacedRecord {
  readonly #keys: BigUint64Array;

  private constructor(keys: BigUint64Array) {
    this.#keys = keys;
  }

  /**
   * Reads the record in `stateDir`; none (missing, a symlink, not a whole number of keys) is an
   * empty record.
   */
  static async read(stateDir: string): Promise<PlacedRecord> {
    const none = () => new PlacedRecord(new BigUint64Array(0));
    const path = join(stateDir, PLACED_RECORD_NAME);
    try {
      if (!(await Deno.lstat(path)).isFile) return none();
      const bytes = await Deno.readFile(path);
      if (bytes.length % 8 !== 0) return none();
      return new PlacedRecord(new BigUint64Array(bytes.slice().buffer));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return none();
      throw error;
    }
  }

  /**
   * Whether the file at `path` was placed from `binaryDataId` (`"same"`), from another item
   * (`"other"`), or the record does not say (`"unknown"`).
   */
  placedFrom(path: string, binaryDataId: string): "same" | "other" | "unknown" {
    const entry = this.#at(_pathHash(path));
    if (entry === undefined) return "unknown";
    return entry.id === _hash16(binaryDataId) ? "same" : "other";
  }

  /** True when a file of `size` bytes at `path` can be the one placed there (same size). */
  sizeFits(path: string, size: number): boolean {
    return this.#at(_pathHash(path))?.size === _hash16(String(size));
  }

  /**
   * Saves the record of the files at `present.paths` (mirror-relative paths of plain files, at most
   * `present.count`): what `placedNow` gives (placed or taken on by this pass), else what this
   * record holds. Written only when it differs from this record.
   */
  async save(
    stateDir: string,
    present: { paths: Iterable<string>; count: number },
    placedNow: (path: string) => PlacedFile | undefined,
  ): Promise<void> {
    const keys = new BigUint64Array(present.count);
    let n = 0;
    for (const path of present.paths) {
      const pathHash = _pathHash(path);
      const now = placedNow(path);
      const entry = now !== undefined
        ? { id: _hash16(now.binaryDataId), size: _hash16(String(now.size)) }
        : this.#at(pathHash);
      if (entry === undefined || n === keys.length) continue;
      keys[n++] = (BigInt(pathHash) << 32n) | BigInt(entry.id * 0x10000 + entry.size);
    }
    const next = keys.subarray(0, n).sort();
    if (next.length === this.#keys.length && next.every((key, i) => key === this.#keys[i])) return;
    const bytes = new Uint8Array(next.buffer, next.byteOffset, next.byteLength);
    await writeFileAtomic(join(stateDir, PLACED_RECORD_NAME), bytes, { durable: false });
  }

  /** What is recorded for a path hash; undefined when nothing, or when two paths share it. */
  #at(pathHash: number): _Entry | undefined {
    const keys = this.#keys;
    const low = BigInt(pathHash) << 32n;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys[mid] < low) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= keys.length || Number(keys[lo] >> 32n) !== pathHash) return undefined;
    if (lo + 1 < keys.length && Number(keys[lo + 1] >> 32n) === pathHash) return undefined;
    const rest = Number(keys[lo] & 0xffffffffn);
    return { id: Math.floor(rest / 0x10000), size: rest % 0x10000 };
  }
}

/** A 32-bit hash of a path. */
function _pathHash(path: string): number {
  return _fnv1a(path, 0x811c9dc5);
}

/** A 16-bit hash of a string (an id, a size in decimal). */
function _hash16(text: string): number {
  const h = _fnv1a(text, 0x050c5d1f);
  return (h ^ (h >>> 16)) & 0xffff;
}

/** FNV-1a over a string's UTF-16 code units, from `basis`. */
function _fnv1a(text: string, basis: number): number {
  let h = basis;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

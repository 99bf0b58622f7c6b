/**
 * Which item each file of the mirror was downloaded from, kept across passes in
 * `<mirror>/.data-mirror/placed`, so that a file the platform replaced under the same name (a model
 * pushed again as `detector.tflite`, of the same size or not) is replaced in the mirror too instead
 * of being kept forever as an existing file. A file the record does not name (a user's own, or one
 * placed before the record existed) is kept, as any existing file is.
 *
 * Compact, since it is read on every pass: 8 bytes a file, a sorted array of 64-bit keys made of a
 * 40-bit hash of the path and a 24-bit hash of its binary data id (0.8 MB at 100,000 files). Two
 * paths of one path hash (about one pair in 200 at 100,000 files) are answered as unknown: their
 * files are kept. A replaced item whose id hashes like the old one (one in 16 million) is missed.
 * The file is rewritten only when it changes, without fsync: a power cut may leave the older record
 * or none, whose files are then kept.
 *
 * @example
 * ```ts
 * const record = await PlacedRecord.read(stateDir);
 * if (record.placedOther("models/detector.tflite", winnerId)) {
 *   // the file there came from another item: replace it
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

const _ID_BITS = 24n;
const _ID_MASK = (1n << _ID_BITS) - 1n;

/** The ids the mirror's files were placed from, by path (hashed). */
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
    const path = join(stateDir, PLACED_RECORD_NAME);
    try {
      if (!(await Deno.lstat(path)).isFile) return new PlacedRecord(new BigUint64Array(0));
      const bytes = await Deno.readFile(path);
      if (bytes.length % 8 !== 0) return new PlacedRecord(new BigUint64Array(0));
      return new PlacedRecord(new BigUint64Array(bytes.slice().buffer));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return new PlacedRecord(new BigUint64Array(0));
      throw error;
    }
  }

  /** Files the record names. */
  get size(): number {
    return this.#keys.length;
  }

  /** True when the file at `path` was placed from another item than `binaryDataId`. */
  placedOther(path: string, binaryDataId: string): boolean {
    const id = this.#idAt(_pathHash(path));
    return id !== undefined && id !== _idHash(binaryDataId);
  }

  /**
   * Saves the record of the files at `present.paths` (mirror-relative paths of plain files, at most
   * `present.count`): the id `placedNow` gives (placed by this pass), else the one this record
   * holds. Written only when it differs from this record.
   */
  async save(
    stateDir: string,
    present: { paths: Iterable<string>; count: number },
    placedNow: (path: string) => string | undefined,
  ): Promise<void> {
    const keys = new BigUint64Array(present.count);
    let n = 0;
    for (const path of present.paths) {
      const pathHash = _pathHash(path);
      const now = placedNow(path);
      const id = now !== undefined ? _idHash(now) : this.#idAt(pathHash);
      if (id !== undefined && n < keys.length) keys[n++] = (pathHash << _ID_BITS) | id;
    }
    const next = keys.subarray(0, n).sort();
    if (next.length === this.#keys.length && next.every((key, i) => key === this.#keys[i])) return;
    const bytes = new Uint8Array(next.buffer, next.byteOffset, next.byteLength);
    await writeFileAtomic(join(stateDir, PLACED_RECORD_NAME), bytes, { durable: false });
  }

  /** The id hash recorded for a path hash; undefined when none, or when two paths share it. */
  #idAt(pathHash: bigint): bigint | undefined {
    const keys = this.#keys;
    const low = pathHash << _ID_BITS;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys[mid] < low) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= keys.length || keys[lo] >> _ID_BITS !== pathHash) return undefined;
    if (lo + 1 < keys.length && keys[lo + 1] >> _ID_BITS === pathHash) return undefined;
    return keys[lo] & _ID_MASK;
  }
}

/** A 40-bit hash of a path. */
function _pathHash(path: string): bigint {
  const [a, b] = _hashes(path);
  return (BigInt(a) << 8n) | BigInt(b & 0xff);
}

/** A 24-bit hash of a binary data id. */
function _idHash(binaryDataId: string): bigint {
  return BigInt(_hashes(binaryDataId)[1] & 0xffffff);
}

/** Two 32-bit hashes of a string's UTF-16 code units (FNV-1a, with two offset bases). */
function _hashes(text: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    a = Math.imul(a ^ unit, 0x01000193);
    b = Math.imul(b ^ unit, 0x01000193) ^ (b >>> 15);
  }
  return [a >>> 0, b >>> 0];
}

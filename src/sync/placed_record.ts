/**
 * Which item each file of the mirror was downloaded from, and at what size, kept across passes in
 * `<mirror>/.data-mirror/placed`, so that a file the platform replaced under the same name (a model
 * pushed again as `detector.tflite`, of the same size or not) is replaced in the mirror too instead
 * of being kept forever as an existing file. A file the record does not name (a user's own, or one
 * placed before the record existed) is kept, as any existing file is; so is a recorded one whose
 * size is no longer the one placed (a user replaced it).
 *
 * Compact and cheap, since it is read and looked up for every listed file on every pass: a hash
 * table of 32-bit words, a 32-bit hash of the path and, beside it, a 16-bit hash of the item's
 * binary data id and a 16-bit hash of the file's size, after a header of two words (the paths
 * recorded); at most three quarters full, so 11 to 21 bytes a file (1 to 2 MB at 100,000 files),
 * a few probes a lookup, no allocation. Two paths of one
 * path hash (about one pair at 100,000 files) are answered as unknown: their files are kept. A
 * replaced item whose id hashes like the old one (one in 65,536) is missed, and so is a user's file
 * whose size hashes like the placed one. The file is rewritten only when what it says changes,
 * without fsync: a power cut may leave the older record or none.
 *
 * @example
 * ```ts
 * const record = await PlacedRecord.read(stateDir);
 * if (record.placedFrom("models/detector.tflite", winnerId) === "other") {
 *   // the file there came from another item: replace it (if it still has the size placed)
 * }
 * await record.save(stateDir, () => files, (path) => placed.get(path));
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { writeFileAtomic } from "../fs/atomic_write.ts";
import { PLACED_RECORD_NAME } from "../fs/state_dir.ts";

export { PLACED_RECORD_NAME };

/** A file placed from an item: the item's id and the file's size. */
export interface PlacedFile {
  /** The item's `binary_data_id`. */
  binaryDataId: string;
  /** The file's size in bytes. */
  size: number;
}

/** A slot's value word when two paths share the slot's path hash: neither is known. */
const _AMBIGUOUS = 0xffffffff;

/** The ids (and sizes) the mirror's files were placed from, by path (hashed). */
export class PlacedRecord {
  /** Slots of two words, path hash (0: empty) then id and size hashes; a power of two of them. */
  readonly #table: Uint32Array;
  /** The paths recorded (two of one hash share a slot). */
  readonly #count: number;

  private constructor(table: Uint32Array, count: number) {
    this.#table = table;
    this.#count = count;
  }

  /**
   * Reads the record in `stateDir`; none (missing, a symlink, not a table) is an empty record.
   */
  static async read(stateDir: string): Promise<PlacedRecord> {
    const none = new PlacedRecord(new Uint32Array(0), 0);
    const path = join(stateDir, PLACED_RECORD_NAME);
    try {
      if (!(await Deno.lstat(path)).isFile) return none;
      const bytes = await Deno.readFile(path);
      const slots = bytes.length / 8 - 1; // after a header of two words: the paths recorded, 0
      if (!Number.isInteger(slots) || slots < 1 || (slots & (slots - 1)) !== 0) return none;
      const words = new Uint32Array(bytes.slice().buffer);
      return new PlacedRecord(words.subarray(2), words[0]);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return none;
      throw error;
    }
  }

  /**
   * Whether the file at `path` was placed from `binaryDataId` (`"same"`), from another item
   * (`"other"`), or the record does not say: it names no such path (`"unknown"`), or can name none
   * (`"unrecordable"`: another recorded path has the same hash).
   */
  placedFrom(path: string, binaryDataId: string): "same" | "other" | "unknown" | "unrecordable" {
    const value = _lookup(this.#table, _pathHash(path));
    if (value === undefined) return "unknown";
    if (value === _AMBIGUOUS) return "unrecordable";
    return value >>> 16 === _hash16(binaryDataId) ? "same" : "other";
  }

  /** True when a file of `size` bytes at `path` can be the one placed there (same size). */
  sizeFits(path: string, size: number): boolean {
    const value = _lookup(this.#table, _pathHash(path));
    return value !== undefined && value !== _AMBIGUOUS &&
      (value & 0xffff) === _hash16(String(size));
  }

  /**
   * Saves the record of the files `paths` gives (mirror-relative paths of plain files; called twice
   * at most): what `placedNow` gives (placed or taken on by this pass), else what this record
   * holds. Written only when it says something else than this record.
   */
  async save(
    stateDir: string,
    paths: () => Iterable<string>,
    placedNow: (path: string) => PlacedFile | undefined,
  ): Promise<void> {
    const valueOf = (path: string, pathHash: number, old = _lookup(this.#table, pathHash)) => {
      const now = placedNow(path);
      return now === undefined
        ? old
        : _hash16(now.binaryDataId) * 0x10000 + _hash16(String(now.size));
    };
    // Looked over first, without building anything: a pass that changed nothing writes nothing.
    let kept = 0;
    let changed = false;
    for (const path of paths()) {
      const pathHash = _pathHash(path);
      const old = _lookup(this.#table, pathHash);
      const value = valueOf(path, pathHash, old);
      if (value === undefined) continue;
      kept++;
      if (value !== old) changed = true;
    }
    if (!changed && kept === this.#count) return;
    // At most three quarters full: a lookup takes a few probes.
    let slots = 2;
    while (slots * 3 < kept * 4) slots *= 2;
    const words = new Uint32Array(2 + slots * 2);
    words[0] = kept;
    const table = words.subarray(2);
    for (const path of paths()) {
      const pathHash = _pathHash(path);
      const value = valueOf(path, pathHash);
      if (value !== undefined) _insert(table, pathHash, value);
    }
    const bytes = new Uint8Array(words.buffer);
    await writeFileAtomic(join(stateDir, PLACED_RECORD_NAME), bytes, { durable: false });
  }
}

/** The value recorded for a path hash (`_AMBIGUOUS` when two paths share it), or undefined. */
function _lookup(table: Uint32Array, pathHash: number): number | undefined {
  if (table.length === 0) return undefined;
  const mask = table.length / 2 - 1;
  // At most every slot once: a file damaged into a full table must not loop forever.
  for (let probe = 0, slot = pathHash & mask; probe <= mask; probe++, slot = (slot + 1) & mask) {
    const held = table[slot * 2];
    if (held === 0) return undefined;
    if (held === pathHash) return table[slot * 2 + 1];
  }
  return undefined;
}

/** Records `value` for `pathHash` (a second path of the same hash makes both unknown). */
function _insert(table: Uint32Array, pathHash: number, value: number): void {
  const mask = table.length / 2 - 1;
  for (let slot = pathHash & mask;; slot = (slot + 1) & mask) {
    const held = table[slot * 2];
    if (held === 0) {
      table[slot * 2] = pathHash;
      table[slot * 2 + 1] = value;
      return;
    }
    if (held === pathHash) {
      table[slot * 2 + 1] = _AMBIGUOUS;
      return;
    }
  }
}

/** A 32-bit hash of a path, never 0 (an empty slot). */
function _pathHash(path: string): number {
  return _fnv1a(path, 0x811c9dc5) || 1;
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

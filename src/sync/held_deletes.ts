/**
 * The mirror's count of deletable files from before the pass whose deletes (or files cleared where
 * listed items need folders) `max_delete` held back, kept in `<mirror>/.data-mirror/held-deletes`
 * until a pass proved whole deletes, or finds nothing stale. A pass held back still downloads the
 * listed set: without this count, the next pass would take its share of a mirror grown by those
 * files, and delete what the guard held back (a folder of the user's own files, the mirror of a
 * filter changed by mistake) one pass later. Kept too from the first file a pass places until it
 * decides its deletes, so that a pass killed or cut off before then does not widen the next one's
 * share either. A count kept by a pass without `delete` is marked so: such passes drop it, and keep
 * a held-back deletion's.
 *
 * @example
 * ```ts
 * const options = { warn: console.warn, inPlace: () => true, delete: true };
 * const held = await HeldDeletes.open(mirror.stateDir, options);
 * held.beforePlacing(() => 30); // kept: the pass may now place files
 * held.decided({ deleteBlocked: "...", limitBase: 30 }); // still held back
 * ```
 *
 * @module
 */
import { dirname, join } from "node:path";
import { atomicTempName } from "../fs/atomic_write.ts";
import { FILE_MODE } from "../fs/_util.ts";
import { HELD_DELETES_NAME } from "../fs/state_dir.ts";
import { describeError } from "../remote/errors.ts";
import type { Plan } from "./plan.ts";

/** Options of {@linkcode HeldDeletes.open}. */
export interface HeldDeletesOptions {
  /** Told when the count cannot be kept (the guard then goes by the mirror as the next pass finds it). */
  warn: (message: string) => void;
  /**
   * Whether the mirror's state folder is still where the pass opened it (nothing is written
   * through one swapped for a symlink since).
   */
  inPlace: () => boolean;
  /** Whether the pass runs with `delete` (a count it keeps then waits for a pass with delete). */
  delete: boolean;
}

/** The mark of a count kept by a pass without `delete`: any later pass that decides may drop it. */
const _NO_DELETE = " no-delete";
/** The largest file that can hold a count (with room to spare). */
const _MAX_BYTES = 64;

/** One pass's view of the kept count: read when the pass starts, kept or dropped as it goes. */
export class HeldDeletes {
  /** The count kept when the pass started: what `max_delete`'s share is taken of, at most. */
  readonly base: number | undefined;
  readonly #path: string;
  readonly #options: HeldDeletesOptions;
  /** What the file holds now. */
  #kept: number | undefined;
  /** Whether the file's count was kept by a pass without `delete` (marked so). */
  #noDelete: boolean;
  readonly #baseNoDelete: boolean;
  #placing = false;
  #decided = false;

  private constructor(
    path: string,
    kept: { count: number; noDelete: boolean } | undefined,
    options: HeldDeletesOptions,
  ) {
    this.#path = path;
    this.base = this.#kept = kept?.count;
    this.#noDelete = this.#baseNoDelete = kept?.noDelete ?? false;
    this.#options = options;
  }

  /** Reads the count kept in `stateDir` (none, or not a regular file holding a count: undefined). */
  static async read(stateDir: string): Promise<number | undefined> {
    return (await HeldDeletes.#read(stateDir))?.count;
  }

  static async #read(stateDir: string): Promise<{ count: number; noDelete: boolean } | undefined> {
    const path = join(stateDir, HELD_DELETES_NAME);
    try {
      const info = await Deno.lstat(path);
      // A count is at most 26 bytes ("<15 digits> no-delete\n"): a larger file is none, and is
      // not read whole (a huge one failed every pass, "failed to allocate string").
      if (!info.isFile || info.size > _MAX_BYTES) return undefined;
      const match = /^(\d{1,15})(.*)\n$/.exec(await Deno.readTextFile(path));
      if (match === null || (match[2] !== "" && match[2] !== _NO_DELETE)) return undefined;
      return { count: Number(match[1]), noDelete: match[2] === _NO_DELETE };
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  /** The pass's view of the count kept in `stateDir` (see {@linkcode HeldDeletes.read}). */
  static async open(stateDir: string, options: HeldDeletesOptions): Promise<HeldDeletes> {
    return new HeldDeletes(join(stateDir, HELD_DELETES_NAME), await this.#read(stateDir), options);
  }

  /**
   * Before the pass places its first file: keeps `deletable()` (the walk's deletable files) unless
   * a count is kept already or the deletes are decided. Synchronous: on disk before that file.
   */
  beforePlacing(deletable: () => number): void {
    if (this.#placing || this.#decided) return;
    this.#placing = true;
    if (this.#kept !== undefined) return;
    const count = deletable();
    if (count > 0) this.#keep(count);
  }

  /**
   * The pass decided its deletes from a listing proved whole: held back by `max_delete`, the count
   * its share was taken of stays kept; let through (or nothing stale), it goes. Held back for
   * another reason (an empty listing), it stays as it is.
   */
  decided(plan: Pick<Plan, "deleteBlocked" | "limitBase">): void {
    this.#decided = true;
    if (plan.limitBase !== undefined) {
      // Kept again, unmarked, by a pass with delete whose deletion it holds back now.
      const unmark = this.#noDelete && this.#options.delete;
      if (plan.limitBase !== this.#kept || unmark) this.#keep(plan.limitBase);
    } else if (plan.deleteBlocked === undefined) this.#drop();
  }

  /**
   * The pass decided no deletes (it runs without `delete`) from a listing proved whole: a count
   * found kept by a pass with `delete` (a held-back deletion's, or a killed pass's) stays for the
   * pass that decides them; one kept by a pass without `delete` (before placing, or for a
   * clearing held back, which this pass has now decided) goes, as does the one this pass kept.
   */
  decidedNone(): void {
    this.#decided = true;
    if (this.base === undefined || this.#baseNoDelete) this.#drop();
  }

  #drop(): void {
    if (this.#kept === undefined || !this.#options.inPlace()) return;
    try {
      Deno.removeSync(this.#path);
    } catch (error) {
      // Kept, it would hold back later passes' ordinary deletes: failing, it fails the pass
      // before it deletes.
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    this.#kept = undefined;
  }

  /** Puts `count` in place at once (a fresh name renamed over the file: no link written through). */
  #keep(count: number): void {
    if (!this.#options.inPlace()) return;
    const temp = join(dirname(this.#path), atomicTempName(HELD_DELETES_NAME));
    try {
      // Marked when neither this pass nor the one that kept the count before ran with delete.
      const noDelete = !this.#options.delete && (this.#kept === undefined || this.#noDelete);
      const text = `${count}${noDelete ? _NO_DELETE : ""}\n`;
      // Flushed before its name: the rename reaches the disk with the first file placed after it
      // (a journal commits in order), its bytes would not (a power cut left an empty count, and
      // the next pass deleted what this count held back).
      const file = Deno.openSync(temp, { write: true, createNew: true, mode: FILE_MODE });
      try {
        file.writeSync(new TextEncoder().encode(text));
        file.syncDataSync();
      } finally {
        file.close();
      }
      Deno.renameSync(temp, this.#path);
      this.#kept = count;
      this.#noDelete = noDelete;
    } catch (error) {
      Deno.remove(temp).catch(() => {});
      this.#options.warn(
        `cannot keep the mirror's file count for max_delete: ${describeError(error)}`,
      );
    }
  }
}

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
 * What a pass places is also appended to `placed.log` beside it ({@linkcode PlacedLog}: eight bytes
 * a file, one write per batch, no fsync of its own: the next batch's file-system sync carries it),
 * so that a pass killed by SIGKILL or a power cut before its end leaves its files recorded too: a
 * file taking a free name is logged before it is named (a kill right after the name was made, with
 * the entry still to be written, left it unrecorded: a user's file for good, against every later
 * version of its item), one replacing a file both before its rename, as tentative, and right after
 * it (logged only after, a kill right after the rename left the new version read as a user's edit;
 * logged only before, a kill ahead of the rename would have the old version pass for the new one):
 * a replacement cut between the two is settled by the next pass from the file's size ({@linkcode
 * PlacedRecord.settleTentative}). An entry logged ahead for a file that is then not named is
 * withdrawn (its path then reads as unknowable, a file there is kept, until an entry of this log or
 * a later pass's names it again); one a kill leaves behind names a path with no file, which the
 * next save drops. The log names the generation of the record it continues; the record is read with
 * it, and the next save (or the next pass's first append) folds it in and lets it go. A log of an
 * older generation (its removal lost) is ignored; so is an entry torn at its end (the kill's last
 * write). A logged path whose hash another recorded path shares (about one pair in 100,000 files)
 * is taken for the logged one until the record is next saved from the walk.
 *
 * @example
 * ```ts
 * const record = await PlacedRecord.read(stateDir);
 * const log = new PlacedLog(stateDir, record, { warn: console.warn });
 * if (record.placedFrom("models/detector.tflite", winnerId) === "other") {
 *   // the file there came from another item: replace it (if it still has the size placed)
 *   const file = { binaryDataId: winnerId, size: 1234 };
 *   await log.logAhead([["models/detector.tflite", file]], { replacing: true });
 *   // ... the rename over the old version, then
 *   log.add("models/detector.tflite", file);
 * }
 * await log.logAhead([["images/a.jpg", { binaryDataId: imageId, size: 99 }]]); // then name it
 * await log.close();
 * await record.save(files, (path) => placed.get(path));
 * ```
 *
 * @module
 */
import { closeSync, writeSync } from "node:fs";
import { join } from "node:path";
import { assertStateDirInPlace } from "../fs/_util.ts";
import { createOwnLogSync } from "../fs/own_file.ts";
import { writeFileAtomic } from "../fs/atomic_write.ts";
import { PLACED_LOG_NAME, PLACED_RECORD_NAME } from "../fs/state_dir.ts";
import { STATE_DIR_NAME } from "../paths.ts";

export { PLACED_LOG_NAME, PLACED_RECORD_NAME };

/** A file placed from an item: the item's id and the file's size. */
export interface PlacedFile {
  /** The item's `binary_data_id`. */
  binaryDataId: string;
  /** The file's size in bytes. */
  size: number;
}

/**
 * A slot's value word when two paths share the slot's path hash: neither is known. In the log, a
 * withdrawal ({@linkcode PlacedLog.withdraw}).
 */
const _AMBIGUOUS = 0xffffffff;
/**
 * A slot's value word when the log withdrew what it said of the path (its file was not named):
 * unknowable as `_AMBIGUOUS` is (a file there is kept), but named again by a later entry, in this
 * log or the log of a later pass (this word stays in the record's file when a pass folds the log
 * in before it places the file: were it `_AMBIGUOUS`, nothing could name that file again).
 */
const _WITHDRAWN = 0xfffffffe;
/**
 * The generation word's top bit: set in a record no pass has taken the mirror's files on for yet
 * (see `PlacedRecord.takenOn`); records written before it have it clear. The log names the whole
 * word.
 */
const _NOT_TAKEN_ON = 0x80000000;
/** The log's first word ("PLOG"); the second is the generation of the record it continues. */
const _LOG_MAGIC = 0x474f4c50;
/** Words of the log's header, and of each entry after it (path hash, value). */
const _LOG_HEADER_WORDS = 2;
const _LOG_ENTRY_WORDS = 2;

/** `PlacedRecord`'s settling for {@linkcode PlacedLog.settleTentative}, which logs its outcome. */
let _settleForLog: (
  record: PlacedRecord,
  pathHash: number,
  size: number | undefined,
) => number | undefined;

/** The ids (and sizes) the mirror's files were placed from, by path (hashed). */
export class PlacedRecord {
  /** Slots of two words, path hash (0: empty) then id and size hashes; a power of two of them. */
  readonly #table: Uint32Array;
  /** The paths recorded (two of one hash share a slot). */
  readonly #count: number;
  /** The state dir it was read from. */
  readonly #stateDir: string;
  /** The generation of the record's file (0: none yet, or one written before generations). */
  #generation: number;
  /** A log of this generation is on disk: what it says is not in the record's file yet. */
  #logOnDisk: boolean;
  /**
   * Replacements the log said were about to be renamed over an older version, with no word since:
   * path hash -> the new version's value. Killed around its rename, a path holds the old version
   * or the new one; {@linkcode PlacedRecord.settleTentative} tells them apart by the file's size.
   */
  readonly #tentative: Map<number, number>;
  /** A folder was found where the record's file goes, which no save can replace. */
  #folderInPlace = false;
  /** The mirror's files were taken on by a pass (see `takenOn`). */
  #takenOn = false;
  /** The record's file says they were not yet: its generation word has `_NOT_TAKEN_ON` set. */
  #notTakenOnDisk = false;

  private constructor(
    stateDir: string,
    table: Uint32Array,
    count: number,
    generation: number,
    logOnDisk: boolean,
    tentative: Map<number, number> = new Map(),
  ) {
    this.#stateDir = stateDir;
    this.#table = table;
    this.#count = count;
    this.#generation = generation;
    this.#logOnDisk = logOnDisk;
    this.#tentative = tentative;
  }

  /**
   * Reads the record in `stateDir`, with the log of what was placed since it was saved (see the
   * module's notes); none (missing, a symlink, not a table) is an empty record. A file that is not
   * a table (damaged, or written by something else) is told to `options.warn`: read as empty, it
   * leaves every file of the mirror its user's until a pass takes it on again.
   */
  static async read(
    stateDir: string,
    options: { warn?: (message: string) => void } = {},
  ): Promise<PlacedRecord> {
    const path = join(stateDir, PLACED_RECORD_NAME);
    const found = await _readWords(path);
    const file = found instanceof Uint32Array ? found : undefined;
    // After a header of two words (the paths recorded, the generation), a power of two of slots.
    const slots = file === undefined ? 0 : file.length / 2 - 1;
    const valid = Number.isInteger(slots) && slots >= 1 && (slots & (slots - 1)) === 0;
    const unknown = "so which files the mirror placed is not known: a file at a listed path of " +
      "the listed size is taken on again as that item; any other file is kept as if it were " +
      "yours (not deleted, nor replaced by a new version: remove it to have it mirrored again)";
    if (file !== undefined && !valid) {
      options.warn?.(
        `${STATE_DIR_NAME}/${PLACED_RECORD_NAME} is damaged (not a record this program ` +
          `writes), ${unknown}`,
      );
    }
    const other = typeof found === "string" ? found : undefined;
    if (other !== undefined) {
      options.warn?.(
        `${STATE_DIR_NAME}/${PLACED_RECORD_NAME} is ${other}, not the record this program ` +
          `writes (not read, nor followed), ${unknown}; ` +
          (other === "a folder"
            ? `no pass can save the record until that folder is removed (${path})`
            : "a pass's record replaces it"),
      );
    }
    const table = valid ? file!.subarray(2) : new Uint32Array(0);
    const count = valid ? file![0] : 0;
    const generation = valid ? file![1] : 0;
    const log = await _readLog(
      join(stateDir, PLACED_LOG_NAME),
      generation,
      (what) =>
        options.warn?.(
          `${STATE_DIR_NAME}/${PLACED_LOG_NAME} is ${what}, not the log this program writes (not ` +
            "read): the files placed since the record was last saved are not known; a file at a " +
            "listed path of the listed size is taken on again as that item",
        ),
    );
    const merged = log === undefined || log.length === 0 ? undefined : _merged(table, count, log);
    const record = merged === undefined
      ? new PlacedRecord(stateDir, table, count, generation, false)
      : new PlacedRecord(stateDir, merged.table, merged.count, generation, true, merged.tentative);
    // Warned of once a pass, above: its save's failure is not told too.
    record.#folderInPlace = other === "a folder";
    record.#notTakenOnDisk = valid && (generation & _NOT_TAKEN_ON) !== 0;
    record.#takenOn = valid && !record.#notTakenOnDisk;
    return record;
  }

  /** The paths recorded: the files the mirror's passes placed, as of the record's last save. */
  get size(): number {
    return this.#count;
  }

  /**
   * Whether a pass has taken the mirror's files on since the record was made. Until one has (no
   * record yet: a mirror made before it existed; one damaged or lost; or one saved only by passes
   * whose listing was not proved whole, cut off or stopped), a file at a listed path of the listed
   * item's size is taken on as that item; after, a file the record does not name is its user's,
   * whatever its size.
   */
  get takenOn(): boolean {
    return this.#takenOn;
  }

  /** Told by a pass that has taken the mirror's files on: the record says so once saved. */
  markTakenOn(): void {
    this.#takenOn = true;
  }

  /** True while a replacement logged ahead of its rename is not settled (see `settleTentative`). */
  get hasTentative(): boolean {
    return this.#tentative.size > 0;
  }

  /** True when `path` may hold the new version of a replacement cut around its rename. */
  tentativeAt(path: string): boolean {
    return this.#tentative.has(_pathHash(path));
  }

  /**
   * Settles what a replacement cut around its rename left at `path`, from the size of the file
   * there (undefined: none): the new version when that size is the new one's and not the old one's
   * (the rename ran); the mirror's file from neither item when it is both's (fetched again, whichever
   * is listed); else what the record said before (the old version, or a user's file: kept). A pass
   * that logs settles through {@linkcode PlacedLog.settleTentative}, which logs the outcome.
   */
  settleTentative(path: string, size: number | undefined): void {
    this.#settle(_pathHash(path), size);
  }

  /**
   * {@linkcode PlacedRecord.settleTentative} for `pathHash`; returns the value recorded for it now
   * when a replacement was settled and the record names the file (the log's entry for it).
   */
  #settle(pathHash: number, size: number | undefined): number | undefined {
    const value = this.#tentative.get(pathHash);
    if (value === undefined) return undefined;
    this.#tentative.delete(pathHash);
    const old = _lookup(this.#table, pathHash);
    if (size === undefined || !_known(old)) return undefined;
    const sizeHash = _hash16(String(size));
    if ((value & 0xffff) !== sizeHash) return old;
    const slot = _slotOf(this.#table, pathHash)! * 2 + 1;
    // Both sizes fit (two versions of one size: a model retrained alike): the file may be either.
    // Recorded as from neither item, so that whichever is listed there next is fetched again (one
    // download). Taken for the old one, before 2026-12-07, it held the new version's bytes for good
    // once the old item was listed again (the new upload deleted on the platform): a reviewer.
    this.#table[slot] = (old & 0xffff) === sizeHash
      ? _idHashOtherThan(old >>> 16, value >>> 16) * 0x10000 + sizeHash
      : value;
    return this.#table[slot];
  }

  static {
    _settleForLog = (record, pathHash, size) => record.#settle(pathHash, size);
  }

  /**
   * The log words of the replacements not settled yet, for the log that continues this record:
   * its file, written then, holds what they replaced, and a kill before the save must still find
   * them.
   */
  tentativeWords(): number[] {
    const words: number[] = [];
    for (const [pathHash, value] of this.#tentative) words.push(0, pathHash, 0, value);
    return words;
  }

  /**
   * Makes this record's file the base of a new log, and returns the generation the log continues:
   * a log of an earlier pass, read into this record, is folded into the file first (the new log
   * replaces it). For {@linkcode PlacedLog}, once per record.
   */
  async prepareLog(): Promise<number> {
    if (this.#logOnDisk) await this.#write(this.#table, this.#count);
    this.#logOnDisk = false;
    return this.#generation;
  }

  /**
   * Told by {@linkcode PlacedLog} that its log holds entries: the next save writes the record (what
   * the log adds is not in this record until it is read again).
   */
  markLogged(): void {
    this.#logOnDisk = true;
  }

  /**
   * Whether the file at `path` was placed from `binaryDataId` (`"same"`), from another item
   * (`"other"`), or the record does not say: it names no such path (`"unknown"`), or can name none
   * (`"unrecordable"`: another recorded path has the same hash).
   */
  placedFrom(path: string, binaryDataId: string): "same" | "other" | "unknown" | "unrecordable" {
    const value = _lookup(this.#table, _pathHash(path));
    if (value === undefined) return "unknown";
    if (!_known(value)) return "unrecordable";
    return value >>> 16 === _hash16(binaryDataId) ? "same" : "other";
  }

  /** True when the record names the item a file at `path` was placed from (see `placedFrom`). */
  names(path: string): boolean {
    return _known(_lookup(this.#table, _pathHash(path)));
  }

  /** True when a file of `size` bytes at `path` can be the one placed there (same size). */
  sizeFits(path: string, size: number): boolean {
    const value = _lookup(this.#table, _pathHash(path));
    return _known(value) && (value & 0xffff) === _hash16(String(size));
  }

  /**
   * Saves the record, in the state dir it was read from, of the files at `paths` (mirror-relative
   * paths of plain files; read twice when the record changed, by `forEach`: `for..of` made an
   * iterator result per path): what `placedNow` gives (placed or taken on by this pass), else what
   * this record holds. Written only when it says something else than this record (or a log holds
   * more), and the log is then let go.
   */
  async save(
    paths: readonly string[],
    placedNow: (path: string) => PlacedFile | undefined,
  ): Promise<void> {
    const valueOf = (path: string, pathHash: number, old = _lookup(this.#table, pathHash)) => {
      const now = placedNow(path);
      return now === undefined ? old : _valueOf(now);
    };
    // Looked over first, without building anything: a pass that changed nothing writes nothing.
    let kept = 0;
    let changed = false;
    paths.forEach((path) => {
      const pathHash = _pathHash(path);
      const old = _lookup(this.#table, pathHash);
      const value = valueOf(path, pathHash, old);
      if (value === undefined) return;
      kept++;
      if (value !== old) changed = true;
    });
    const unchanged = !changed && kept === this.#count && !this.#logOnDisk;
    if (unchanged && this.#notTakenOnDisk === !this.#takenOn) return;
    if (this.#folderInPlace) return;
    const table = _newTable(kept);
    paths.forEach((path) => {
      const pathHash = _pathHash(path);
      const value = valueOf(path, pathHash);
      if (value !== undefined) _insert(table, pathHash, value);
    });
    await this.#write(table, kept);
    // The log (if any) is in the file now, and of the generation before it: let go.
    try {
      this.#assertInPlace();
      Deno.removeSync(join(this.#stateDir, PLACED_LOG_NAME));
    } catch {
      // gone already, or the folder swapped since: not ours to remove
    }
    this.#logOnDisk = false;
  }

  /**
   * Throws when the mirror or its state folder became a symlink since the pass opened them: the
   * record renamed into place there would replace another folder's (another mirror's record).
   */
  #assertInPlace(): void {
    assertStateDirInPlace(this.#stateDir, `not saving ${PLACED_RECORD_NAME}`);
  }

  /**
   * Writes `table` as the record's file, of the next generation, with `_NOT_TAKEN_ON` set until a
   * pass has taken the mirror's files on.
   */
  async #write(table: Uint32Array, count: number): Promise<void> {
    const next = ((this.#generation & ~_NOT_TAKEN_ON) + 1) & ~_NOT_TAKEN_ON || 1;
    const generation = (this.#takenOn ? next : next | _NOT_TAKEN_ON) >>> 0;
    let words: Uint32Array;
    if (_headerRoom.has(table)) {
      // Made with room for the header in front of it: written as it is, not copied (at 100,000
      // files the copy was 2 MiB more at the end of the pass, where its peak is).
      words = new Uint32Array(table.buffer, table.byteOffset - 8, 2 + table.length);
    } else {
      words = new Uint32Array(2 + table.length);
      words.set(table, 2);
    }
    words[0] = count;
    words[1] = generation;
    const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
    // Flushed (file and folder) before the log it folds in is removed: unflushed, a power cut some
    // seconds later left an empty record and no log, every file unrecorded (kept as a user's).
    await writeFileAtomic(join(this.#stateDir, PLACED_RECORD_NAME), bytes, {
      assertInPlace: () => this.#assertInPlace(),
    });
    this.#generation = generation;
    this.#notTakenOnDisk = !this.#takenOn;
  }
}

/** Options of {@linkcode PlacedLog}. */
export interface PlacedLogOptions {
  /** Told once when the log cannot be written (the record's save at the pass's end still is). */
  warn: (message: string) => void;
}

/**
 * The files a pass places, appended to `<state>/placed.log` as they are placed (see the module's
 * notes). {@linkcode PlacedLog.prepare} reads the record's generation ahead of the first file
 * placed; the log itself is made with the first entry written (a pass that places nothing makes
 * none, and its save leaves an unchanged record unwritten). Files about to take free names are
 * written in one `write` before they are named ({@linkcode PlacedLog.logAhead}); each burst of
 * replacements in one `write` right after the code that placed them (a microtask). Made once per
 * pass, closed before the record is saved. It never throws: a failure is told once and ends the
 * logging (the save still runs).
 */
export class PlacedLog {
  readonly #stateDir: string;
  readonly #path: string;
  readonly #record: PlacedRecord;
  readonly #warn: (message: string) => void;
  /** Path hashes and values not written yet. */
  #pending: number[] = [];
  /** A write of the pending entries is queued (a microtask). */
  #queued = false;
  #preparing: Promise<void> | undefined;
  /** The record, and the generation the log continues, once prepared. */
  #ready: { record: PlacedRecord; generation: number } | undefined;
  /** The log's descriptor, once made. */
  #fd: number | undefined;
  /** Set once a write failed, or the log is closed: nothing more is logged. */
  #stopped = false;

  /** A log in `stateDir` continuing `record`. */
  constructor(stateDir: string, record: PlacedRecord, options: PlacedLogOptions) {
    this.#stateDir = stateDir;
    this.#path = join(stateDir, PLACED_LOG_NAME);
    this.#record = record;
    this.#warn = options.warn;
  }

  /** Gets ready to log, ahead of the first file placed (it makes no file). */
  prepare(): void {
    this.#preparing ??= this.#prepare().catch((error) => this.#stop(error));
  }

  /**
   * Logs the file placed at `path` over another (written with the others placed in the same turn).
   */
  add(path: string, file: PlacedFile): void {
    if (this.#stopped) return;
    this.#pending.push(_pathHash(path), _valueOf(file));
    this.prepare();
    if (this.#queued) return;
    this.#queued = true;
    queueMicrotask(() => this.#flush());
  }

  /**
   * Logs files about to be named (`[path, file]`), before they are: resolves once the entries are
   * written (or the log could not be made: the pass's save still records what it placed).
   */
  async logAhead(
    files: Iterable<readonly [string, PlacedFile]>,
    options: { replacing?: boolean } = {},
  ): Promise<void> {
    if (this.#stopped) return;
    const before = this.#pending.length;
    for (const [path, file] of files) {
      // A replacement is logged as tentative (two entries of path hash 0, which a reader without
      // them skips): until the entry {@linkcode PlacedLog.add} writes after its rename, the path
      // holds the old version or the new one, told apart by size (`settleTentative`).
      if (options.replacing) this.#pending.push(0, _pathHash(path), 0, _valueOf(file));
      else this.#pending.push(_pathHash(path), _valueOf(file));
    }
    if (this.#pending.length === before) return; // nothing to log (a batch with no replacement)
    this.prepare();
    await this.#preparing;
    this.#flush();
  }

  /**
   * Withdraws what {@linkcode PlacedLog.logAhead} said of `paths`: those files were not named (what
   * is there, if anything, is not the pass's). Each path reads as unknowable until a later entry
   * (this pass's or a later one's log) names it: such a file is kept, never taken for one the
   * mirror placed.
   */
  withdraw(paths: Iterable<string>): void {
    if (this.#stopped) return;
    for (const path of paths) this.#pending.push(_pathHash(path), _AMBIGUOUS);
    this.#flush();
  }

  /**
   * Settles a replacement a killed pass left unconfirmed at `path` (see
   * {@linkcode PlacedRecord.settleTentative}), and logs the outcome: this log may have begun before
   * (files streamed during the listing), its record's file then written unsettled and the
   * replacement carried over as tentative, so that a kill of this pass too would leave the next one
   * to settle it again from that older word, after a newer replacement logged meanwhile (a reviewer:
   * files kept at an older version for good, taken for their user's, after a run of killed passes).
   */
  settleTentative(path: string, size: number | undefined): void {
    const pathHash = _pathHash(path);
    const value = _settleForLog(this.#record, pathHash, size);
    if (value === undefined || this.#stopped) return;
    this.#pending.push(pathHash, value);
    this.#flush(); // not yet prepared, it waits (the record's file written then holds it already)
  }

  /** Writes what is pending, and closes the log; files placed later are not logged. */
  async close(): Promise<void> {
    await this.#preparing;
    this.#flush();
    const fd = this.#fd;
    this.#fd = undefined;
    try {
      if (fd !== undefined) closeSync(fd); // a network file system may report a lost write here
    } catch (error) {
      this.#stop(error);
    }
    this.#stopped = true;
  }

  async #prepare(): Promise<void> {
    const record = this.#record;
    this.#ready = { record, generation: await record.prepareLog() };
    // Replacements a killed pass left unsettled: the record's file written now does not hold them.
    this.#pending.unshift(...record.tentativeWords());
    this.#flush();
  }

  #flush(): void {
    this.#queued = false;
    if (this.#ready === undefined || this.#pending.length === 0 || this.#stopped) return;
    const words = this.#pending;
    this.#pending = [];
    try {
      if (this.#fd === undefined) {
        // Made by path, with the first entry: ahead of a batch's names, before the batch looks at
        // its folders. A state folder (or mirror) swapped for a link since the pass opened it had
        // the log made where the link leads, over another mirror's log (its only record of the
        // files its killed pass placed).
        assertStateDirInPlace(this.#stateDir, `${PLACED_LOG_NAME} not made`);
        this.#fd = createOwnLogSync(this.#path, 0o644);
        words.unshift(_LOG_MAGIC, this.#ready.generation);
      }
      const bytes = new Uint8Array(new Uint32Array(words).buffer);
      for (let at = 0; at < bytes.length;) at += writeSync(this.#fd, bytes, at);
      this.#ready.record.markLogged();
    } catch (error) {
      this.#stop(error);
    }
  }

  #stop(error: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#pending = [];
    this.#warn(`could not log the files placed: ${(error as Error).message}`);
  }
}

/** The value word of a placed file: its id's and its size's 16-bit hashes. */
function _valueOf(file: PlacedFile): number {
  return _hash16(file.binaryDataId) * 0x10000 + _hash16(String(file.size));
}

/** An item id hash that is neither `a` nor `b`: a file recorded with it is from no item listed. */
function _idHashOtherThan(a: number, b: number): number {
  let hash = (a + 1) & 0xffff;
  if (hash === b) hash = (hash + 1) & 0xffff;
  return hash;
}

/** An empty table for `paths` paths: at most three quarters full, a lookup takes a few probes. */
function _newTable(paths: number): Uint32Array {
  let slots = 2;
  while (slots * 3 < paths * 4) slots *= 2;
  // Two words in front for the file's header (see `PlacedRecord.#write`).
  const table = new Uint32Array(2 + slots * 2).subarray(2);
  _headerRoom.add(table);
  return table;
}

/** Tables made by {@linkcode _newTable}: the two words in front of each are free for the header. */
const _headerRoom = new WeakSet<Uint32Array>();

/**
 * The most bytes the record's file or its log may hold: a record of 4,194,304 slots (3.1 million
 * paths, several times what a pass can list in its heap) and its header; a log, a pass's entries
 * and those of a killed pass before it, far less. Read whole, outside the heap's limit, a file of
 * 1 GB (sparse: no disk taken) made a pass peak at 2.16 GB: killed for want of memory on a Pi,
 * every pass, before it said why.
 */
const _MAX_FILE_BYTES = 32 * 1024 * 1024 + 8;

/**
 * The 32-bit words of the plain file at `path` (the bytes after the last whole word left out); when
 * it is there and no plain file, or one larger than any this program writes, what it is ("a
 * folder", "a symlink": not followed, "a special file", "a file of N bytes ..."); undefined
 * when it is missing.
 */
async function _readWords(path: string): Promise<Uint32Array | string | undefined> {
  try {
    const info = await Deno.lstat(path);
    if (!info.isFile) {
      return info.isDirectory ? "a folder" : info.isSymlink ? "a symlink" : "a special file";
    }
    if (info.size > _MAX_FILE_BYTES) {
      return `a file of ${info.size} bytes (more than ${_MAX_FILE_BYTES >> 20} MiB)`;
    }
    const read = await Deno.readFile(path);
    const bytes = read.byteOffset % 4 === 0 ? read : read.slice();
    return new Uint32Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.length / 4));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * The entries (path hash, value) of the log at `path` when it continues the record of
 * `generation`, without a last entry torn by a kill; else undefined. A file too large to be a log
 * is not read, and told to `tooLarge` as what it is.
 */
async function _readLog(
  path: string,
  generation: number,
  tooLarge: (what: string) => void,
): Promise<Uint32Array | undefined> {
  const words = await _readWords(path);
  if (typeof words === "string" && words.startsWith("a file of")) tooLarge(words);
  if (!(words instanceof Uint32Array) || words.length < _LOG_HEADER_WORDS) return undefined;
  if (words[0] !== _LOG_MAGIC || words[1] !== generation) return undefined;
  const whole = words.length - ((words.length - _LOG_HEADER_WORDS) % _LOG_ENTRY_WORDS);
  return words.subarray(_LOG_HEADER_WORDS, whole);
}

/**
 * `table` (of `count` paths) with the log's entries (a later one wins); a slot two recorded paths
 * share stays so, while one a withdrawal made unknowable (in this log or an earlier one folded into
 * `table`) takes a later entry.
 */
function _merged(
  table: Uint32Array,
  count: number,
  log: Uint32Array,
): { table: Uint32Array; count: number; tentative: Map<number, number> } {
  const values = new Map<number, number>();
  for (let slot = 0; slot < table.length; slot += 2) {
    if (table[slot] !== 0) values.set(table[slot], table[slot + 1]);
  }
  let added = 0;
  const tentative = new Map<number, number>();
  for (let at = 0; at < log.length; at += _LOG_ENTRY_WORDS) {
    if (log[at] === 0) {
      // A tentative replacement: (0, path hash), (0, value); one torn after its first half is none.
      if (at + 3 < log.length && log[at + 2] === 0) tentative.set(log[at + 1], log[at + 3]);
      at += _LOG_ENTRY_WORDS;
      continue;
    }
    const pathHash = log[at];
    tentative.delete(pathHash); // told since: its rename ran (or it was withdrawn)
    const old = values.get(pathHash);
    if (old === _AMBIGUOUS) continue;
    if (old === undefined) added++;
    values.set(pathHash, log[at + 1] === _AMBIGUOUS ? _WITHDRAWN : log[at + 1]);
  }
  const merged = _newTable(values.size);
  for (const [pathHash, value] of values) _insert(merged, pathHash, value);
  return { table: merged, count: count + added, tentative };
}

/**
 * True when `value` (a slot's, or undefined) names what was placed: not two paths sharing the slot,
 * nor a withdrawal.
 */
function _known(value: number | undefined): value is number {
  return value !== undefined && value !== _AMBIGUOUS && value !== _WITHDRAWN;
}

/** The value recorded for a path hash (`_AMBIGUOUS` when two paths share it), or undefined. */
function _lookup(table: Uint32Array, pathHash: number): number | undefined {
  const slot = _slotOf(table, pathHash);
  return slot === undefined ? undefined : table[slot * 2 + 1];
}

/** The slot holding `pathHash`, or undefined. */
function _slotOf(table: Uint32Array, pathHash: number): number | undefined {
  if (table.length === 0) return undefined;
  const mask = table.length / 2 - 1;
  // At most every slot once: a file damaged into a full table must not loop forever.
  for (let probe = 0, slot = pathHash & mask; probe <= mask; probe++, slot = (slot + 1) & mask) {
    const held = table[slot * 2];
    if (held === 0) return undefined;
    if (held === pathHash) return slot;
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

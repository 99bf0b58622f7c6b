/**
 * Where a download is written before it has a final name: staged files in the mirror's state folder,
 * checked for size and placed with a link that never replaces, so no partial file ever sits under a
 * final name and a killed pass leaves only staged files to discard.
 *
 * @module
 */
import { join } from "node:path";
import { sha256Hex } from "../sha256_hex.ts";
import { openOwnFile } from "./own_file.ts";
import { FILE_MODE, removeIfPresentSync, writeAll } from "./_util.ts";

/** Identifies one download in the staging area. */
export interface StageKey {
  /** The item's `binary_data_id` (`org/location/fileid`); its content never changes. */
  binaryDataId: string;
  /** The size the platform reported, when known: a partial is resumed only for the same size. */
  expectedSize?: number;
}

/** Options of {@linkcode StagedFile.commit}. */
export interface CommitOptions {
  /** The size the file must have; defaults to the key's `expectedSize`. */
  expectedSize?: number;
  /**
   * Called the moment the file has its final name, before its staging name goes and the file is
   * closed (two file operations, milliseconds on a loaded machine): a replacement is recorded then.
   * A file taking a free name is recorded before the commit, so that a kill right after its name
   * is made leaves it recorded (see `PlacementJournal`).
   */
  onPlaced?: () => void;
}

/** A download being written into the staging area. */
export interface StagedFile {
  /**
   * Bytes already held: 0 for a fresh download, the partial's length when an earlier attempt or
   * process left one (ask the server for the rest with `Range: bytes=<offset>-`; when it equals the
   * expected size, commit without asking). Back to 0 after {@linkcode StagedFile.restart}.
   */
  readonly offset: number;
  /** Appends a chunk. */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * True when the bytes held end with `expected`, read back from the disk (a partial left by an
   * earlier attempt is compared with the platform's bytes before anything is appended to it); with
   * `before`, when they hold `expected` ending that many bytes before their end (the first part of
   * what is to be compared, when an answer was cut short of it).
   */
  endsWith(expected: Uint8Array, options?: { before?: number }): Promise<boolean>;
  /**
   * How many of the last bytes held (up to `max`) are one same byte value: a compare of the end
   * that lies inside such a run cannot see an answer shifted by a byte (zeros match zeros).
   */
  runAtEnd(max: number): Promise<number>;
  /** Drops what is held and starts from byte 0 (the server ignored the Range request). */
  restart(): Promise<void>;
  /**
   * Gives the finished file its final name (`finalRelPath`, mirror-relative) and closes the handle
   * whatever happens. Steps: fsync; check the size against the expected one
   * ({@linkcode SizeMismatchError}); place it through the mirror (which refuses to replace anything
   * and to leave the mirror); remove the staging name.
   *
   * On failure nothing appears under the final name. The partial is kept for a later attempt (a
   * short file can be resumed, a finished one committed again), except when it is larger than
   * expected: that content is wrong and is discarded.
   */
  commit(finalRelPath: string, options?: CommitOptions): Promise<void>;
  /** Releases the handle and keeps the partial for a later resume. Calling it again does nothing. */
  close(): Promise<void>;
  /** Releases the handle and removes the partial (it could not be written: the disk is full). */
  discard(): Promise<void>;
}

/** A staged file does not have the size the platform reported. */
export class SizeMismatchError extends Error {
  /**
   * @param path The final relative path the file was meant for.
   * @param expected The size reported by the platform.
   * @param actual The size received.
   */
  constructor(readonly path: string, readonly expected: number, readonly actual: number) {
    super(
      `size mismatch for ${path}: expected ${expected} bytes, received ${actual} bytes; ` +
        `not written`,
    );
    this.name = "SizeMismatchError";
  }
}

/**
 * Gives a staged file (absolute path) a final name (mirror-relative) without replacing anything:
 * the mirror's own placement ({@linkcode MirrorDir.placeFile}).
 */
export type PlaceFile = (stagedPath: string, finalRelPath: string) => Promise<void>;

// `<64 hex digits>-<expected size or "u">.part`: the id's hash and the size it was promised.
const _PART_NAME = /^([0-9a-f]{64})-(\d+|u)\.part$/;

/**
 * The staging area of a mirror, `<root>/.data-mirror/partial/`, for downloads streamed by uri:
 * they are written there, never under their final name, and linked into place once complete and
 * checked, so a crash or a cut connection never leaves a truncated file that looks finished. It is
 * on the mirror's own file system, so placing a file is a link, not a copy.
 *
 * A partial download is `<sha256(binaryDataId)>-<expected size>.part`: the name alone says which
 * item and which size it holds bytes of, so a partial is resumed only for the same id and size, with
 * no sidecar to write. While a handle is open, the partial holds an OS lock, so two downloads of one
 * id (in this process or another) cannot interleave their bytes; the lock vanishes with a killed
 * process, and the partial survives it. A partial is opened without following symlinks and only
 * when no other name shares its inode ({@linkcode openOwnFile}): a process killed between placing a
 * file and removing its staging name leaves a partial that IS the placed file, which is then
 * unlinked, never truncated or appended to.
 *
 * @example
 * ```ts
 * const staged = await staging.begin({ binaryDataId: "org/loc/id", expectedSize: 1234 });
 * // fetch with Range: bytes=<staged.offset>- and await staged.write(chunk) for each chunk, then:
 * await staged.commit("images/a.jpg");
 * ```
 */
export class StagingArea {
  /** The directory holding the partial downloads (real, inside the state dir). */
  readonly dir: string;
  readonly #place: PlaceFile;
  readonly #warn?: (message: string) => void;
  readonly #assertInPlace: () => void;

  /**
   * A staging area in `dir` (which must exist), placing finished files with `place`; `warn` is
   * told about links planted in it, which are replaced or removed, never written through;
   * `assertInPlace` throws when `dir` or a folder holding it is no longer where it was (swapped
   * for a symlink), before a partial is opened and before each stale one is removed.
   */
  constructor(
    dir: string,
    place: PlaceFile,
    warn?: (message: string) => void,
    assertInPlace: () => void = () => {},
  ) {
    this.dir = dir;
    this.#place = place;
    this.#warn = warn;
    this.#assertInPlace = assertInPlace;
  }

  /**
   * Starts or resumes the download of `key.binaryDataId`. A partial left by an earlier attempt for
   * the same id and expected size is resumed unless it is longer than that size (then emptied).
   * Throws `Deno.errors.Busy` when another handle (in any process) is open on the same id.
   */
  async begin(key: StageKey): Promise<StagedFile> {
    const { binaryDataId, expectedSize } = key;
    const part = await this.#partPath(key); // before the check: a hash goes through the thread pool
    this.#assertInPlace();
    // Checked again after the open (see `openOwnFile`'s `assertInPlace`): a folder swapped for a
    // link meanwhile had it open (or make) a partial where the link leads; nothing is written,
    // truncated or locked there.
    const { file, size } = await this.#openPartial(part);
    try {
      if (!(await file.tryLock(true))) {
        throw new Deno.errors.Busy(`the download of ${binaryDataId} is already in progress`);
      }
      let offset = size;
      if (expectedSize !== undefined && offset > expectedSize) {
        await file.truncate(0);
        offset = 0;
      }
      await file.seek(offset, Deno.SeekMode.Start);
      return new _Staged(file, part, this.#place, this.#assertInPlace, { offset, expectedSize });
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /**
   * The bytes a partial of `key` holds on the disk already (0 when there is none): a download books
   * free space for the rest only.
   */
  async heldBytes(key: StageKey): Promise<number> {
    try {
      const info = await Deno.lstat(await this.#partPath(key));
      return info.isFile ? info.size : 0;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return 0;
      throw error;
    }
  }

  /**
   * Opens the partial at `part` (made when missing). One this user may not write (left by a run as
   * another user, `sudo data-mirror sync` cut off) would fail its item every pass: it is removed
   * and the download starts afresh. The mirror's lock is held, so no other run is writing it.
   */
  async #openPartial(part: string) {
    const options = {
      mode: FILE_MODE,
      onReplaced: this.#warn,
      assertInPlace: this.#assertInPlace,
    };
    try {
      return await openOwnFile(part, options);
    } catch (error) {
      if ((error as { code?: string }).code !== "EACCES") throw error;
      this.#warn?.(`replaced the partial download ${part}, which this user may not write`);
      // In the same turn as the check: the folder swapped for a link meanwhile would have a file
      // where the link leads removed.
      this.#assertInPlace();
      Deno.removeSync(part);
      return await openOwnFile(part, options);
    }
  }

  async #partPath({ binaryDataId, expectedSize }: StageKey): Promise<string> {
    if (expectedSize !== undefined && !(Number.isSafeInteger(expectedSize) && expectedSize >= 0)) {
      throw new RangeError(`expected size of ${binaryDataId} is not a byte count: ${expectedSize}`);
    }
    return join(this.dir, `${await sha256Hex(binaryDataId)}-${expectedSize ?? "u"}.part`);
  }

  /**
   * Removes the partial downloads whose id is not in `keep` (ids still wanted) and any stray file
   * in the staging dir; a partial with an open handle is left alone. Resolves to the number of
   * partial downloads removed. Run it when no download is in flight.
   */
  async discardStale(keep: Iterable<string>): Promise<number> {
    try {
      this.#assertInPlace();
    } catch {
      return 0; // the root swapped or its disk unmounted since: not this pass's partials (told once)
    }
    const names = await Array.fromAsync(Deno.readDir(this.dir));
    if (names.length === 0) return 0;
    const kept = new Set(await Promise.all([...keep].map(sha256Hex)));
    let discarded = 0;
    for (const entry of names) {
      if (entry.isDirectory) continue; // nothing here makes dirs: not ours to judge
      const path = join(this.dir, entry.name);
      const hash = _PART_NAME.exec(entry.name)?.[1];
      if (hash !== undefined && kept.has(hash)) continue;
      if (hash !== undefined && entry.isFile && await _isInUse(path)) continue;
      // Checked again in the same turn as each removal: the folder swapped for a symlink since the
      // check above (or the read) would have every file where the link leads removed as stray.
      try {
        this.#assertInPlace();
      } catch {
        return discarded;
      }
      if (entry.isSymlink) this.#warn?.(`removed a symlink planted at ${path}: never followed`);
      removeIfPresentSync(path);
      if (hash !== undefined) discarded++;
    }
    return discarded;
  }
}

/** The open handle on one partial download. */
class _Staged implements StagedFile {
  readonly #file: Deno.FsFile;
  readonly #path: string;
  readonly #place: PlaceFile;
  readonly #assertInPlace: () => void;
  readonly #expectedSize: number | undefined;
  #offset: number;
  #closed = false;

  constructor(
    file: Deno.FsFile,
    path: string,
    place: PlaceFile,
    assertInPlace: () => void,
    state: { offset: number; expectedSize: number | undefined },
  ) {
    this.#file = file;
    this.#path = path;
    this.#place = place;
    this.#assertInPlace = assertInPlace;
    this.#offset = state.offset;
    this.#expectedSize = state.expectedSize;
  }

  get offset(): number {
    return this.#offset;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#assertOpen("write");
    await writeAll(this.#file, chunk);
  }

  async endsWith(expected: Uint8Array, options?: { before?: number }): Promise<boolean> {
    this.#assertOpen("read");
    const held = await this.#readBack(expected.length, options?.before ?? 0);
    return held !== undefined && held.every((byte, i) => byte === expected[i]);
  }

  async runAtEnd(max: number): Promise<number> {
    this.#assertOpen("read");
    const end = await this.#file.seek(0, Deno.SeekMode.Current);
    const tail = await this.#readBack(Math.min(max, end), 0);
    if (tail === undefined) return 0;
    let run = 0;
    while (run < tail.length && tail[tail.length - 1 - run] === tail[tail.length - 1]) run++;
    return run;
  }

  /**
   * The `length` bytes held that end `before` bytes before the end (undefined when they are not
   * all there); the file's position is put back at its end.
   */
  async #readBack(length: number, before: number): Promise<Uint8Array | undefined> {
    const end = await this.#file.seek(0, Deno.SeekMode.Current);
    const until = end - before;
    if (length > until || until > end) return undefined;
    const held = new Uint8Array(length);
    await this.#file.seek(until - length, Deno.SeekMode.Start);
    try {
      for (let read = 0; read < length;) {
        const n = await this.#file.read(held.subarray(read));
        if (n === null) return undefined;
        read += n;
      }
    } finally {
      await this.#file.seek(end, Deno.SeekMode.Start);
    }
    return held;
  }

  async restart(): Promise<void> {
    this.#assertOpen("restart");
    await this.#file.truncate(0);
    await this.#file.seek(0, Deno.SeekMode.Start);
    this.#offset = 0;
  }

  async commit(finalRelPath: string, options?: CommitOptions): Promise<void> {
    this.#assertOpen("commit");
    try {
      await this.#file.syncData();
      const size = (await this.#file.stat()).size;
      const expected = options?.expectedSize ?? this.#expectedSize;
      if (expected !== undefined && size !== expected) {
        if (size > expected) this.#removeStagingName();
        throw new SizeMismatchError(finalRelPath, expected, size);
      }
      await this.#place(this.#path, finalRelPath);
      options?.onPlaced?.();
      // The partial lives on under its final name; its staging name goes. (Killed right here, the
      // next begin() finds a partial with two names and unlinks it: see openOwnFile.)
      this.#removeStagingName();
    } finally {
      await this.close();
    }
  }

  async discard(): Promise<void> {
    if (this.#closed) return;
    try {
      this.#removeStagingName(); // while the lock is held: no other download has it
    } finally {
      await this.close();
    }
  }

  /**
   * Unlinks the partial's name, in the same turn as the check that its folders are still in place:
   * the state folder swapped for a link since the partial was opened (to another mirror's, whose
   * download of the same item has the same name) would have that name removed where it leads.
   * Throws then, and leaves it.
   */
  #removeStagingName(): void {
    this.#assertInPlace();
    removeIfPresentSync(this.#path);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#file.close(); // also releases the OS lock
    }
    return Promise.resolve();
  }

  #assertOpen(what: string): void {
    if (this.#closed) throw new Deno.errors.BadResource(`cannot ${what}: staged file is closed`);
  }
}

/** True when another handle holds the partial's lock. */
async function _isInUse(part: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(part, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
  try {
    return !(await file.tryLock(true));
  } finally {
    file.close();
  }
}

/**
 * The mirror's manifest: `<mirror>/.data-mirror/manifest.jsonl`, one JSON line per file the mirror
 * holds for the current filter, with what the platform says about it (tags, bounding boxes,
 * datasets, time requested), so that edge applications know what each file is without calling the
 * cloud.
 *
 * Memory stays flat whatever the listing's size: the listing index keeps only a compact form of
 * each item, so each page's manifest lines are appended to a pending file in the state folder as
 * the page arrives, and after a complete pass that file is streamed once into the new manifest,
 * keeping the lines of the items that won their path and are present in the mirror (or, when it
 * holds those lines and no other, it becomes the manifest as it is).
 *
 * The manifest is replaced atomically (fresh temporary file, fsync, rename over the old one, fsync
 * of the folder): a reader sees the old manifest or the new one, never a half-written one, even
 * after a power loss. No name in the state folder is ever written through a symlink. A manifest
 * that would hold the same lines as the one in place (in any order) is not replaced: a pass over
 * unchanged data writes nothing to the disk (41 MB at 100,000 items, every `sync_frequency`, would
 * wear an SD card), and a reader can tell a change by the file's modification time. What the
 * manifest in place holds is known from `manifest.digest` beside it (an order-free digest of its
 * lines, with its inode, size and modification time), so this holds across restarts too. Each
 * line's hash is kept with its item in the listing index as the line is written, so that the digest
 * of the lines a pass would write is known without reading them back.
 *
 * @example
 * ```ts
 * await using manifest = await ManifestWriter.open(mirror.root);
 * manifest.add(page.items, index.addPage(page.items)); // as each listing page arrives
 * await manifest.finish(index.entries(), (path) => present.has(path)); // after a complete pass
 * ```
 *
 * @module
 */
import { join } from "node:path";
import {
  assertStateDirInPlace,
  removeIfPresent,
  removeIfPresentSync,
  syncDir,
  writeAll,
} from "../fs/_util.ts";
import { isoTimeOfMs } from "../iso_time.ts";
import { atomicTempName, isAtomicLeftoverOf, writeFileAtomic } from "../fs/atomic_write.ts";
import { type FreeSpace, freeSpaceSync } from "../fs/free_space.ts";
import { ensureStateDir } from "../fs/state_dir.ts";
import { STATE_DIR_NAME } from "../paths.ts";
import type { RemoteItem } from "../remote/remote_item.ts";
import type { ListedItem, PageAdded } from "./listing_index.ts";

/** The manifest's file name in the mirror's state folder. */
const _MANIFEST_FILE_NAME = "manifest.jsonl";

/** The manifest's path relative to the mirror root. */
export const MANIFEST_PATH = `${STATE_DIR_NAME}/${_MANIFEST_FILE_NAME}`;

/** One line of the manifest, as JSON (snake_case, as Viam's API names the fields). */
export interface ManifestLine {
  /** The file's path relative to the mirror root, `/`-separated. */
  path: string;
  /** The platform's id of the file (`org/location/fileid`). */
  binary_data_id: string;
  /** Its size in bytes, or null when the platform did not send one. */
  size: number | null;
  /** `capture_metadata.mime_type` (may be empty). */
  mime_type: string;
  /** Capture tags. */
  tags: string[];
  /** Bounding boxes, corners normalized to 0..1; `confidence` only when the platform has one. */
  bboxes: {
    label: string;
    x_min: number;
    y_min: number;
    x_max: number;
    y_max: number;
    confidence?: number;
  }[];
  /** The datasets holding the file. */
  dataset_ids: string[];
  /** When it was captured (`time_requested`), ISO 8601 in UTC, or null when unset. */
  time_requested: string | null;
}

/** Options of {@linkcode ManifestWriter.open}. */
export interface ManifestWriterOptions {
  /** Told when the manifest cannot be kept up to date (the pass goes on without it). */
  warn?: (message: string) => void;
  /**
   * The share of the file system to keep free (`free_space_reserve_percent`; default 0): the
   * manifest is given up for the pass, the old one kept, rather than written into it. Its pending
   * copy grows with the listing (some 400 bytes an item) and a new manifest is a copy of that: at
   * 150,000 items they took a disk at the reserve down to full, pass after pass.
   */
  reservePercent?: number;
}

/** What {@linkcode ManifestWriter.finish} wrote. */
export interface ManifestWritten {
  /** The manifest's absolute path. */
  path: string;
  /** Its lines: the files it lists. */
  lines: number;
  /** False when the manifest in place already held exactly these lines and was left alone. */
  rewritten: boolean;
}

const _PENDING_NAME = "manifest.pending";

/** Bytes of the pending copy written between two looks at the free space. */
const _SPACE_LOOK_BYTES = 1024 * 1024;
const _DIGEST_NAME = "manifest.digest";
const _FILE_MODE = 0o644;
/**
 * Bytes gathered before each write of the new manifest. 256 KiB, not 1 MiB: the manifest is
 * written at the very end of a pass, on top of all the pass still holds, and its buffers (the
 * output's twice this, the read's one) set the peak there. With 1 MiB, writing the manifest of the
 * 10,020-file fresh copy raised its RSS by 7-12 MiB, with 256 KiB by 0.2-1.6 MiB (marks in the
 * pass); peak 117-128 MiB against 125-137 (four alternated pairs), the 100,000-item fresh copy's
 * 167-169 against 171-173 (three), the same CPU.
 */
const _WRITE_CHUNK_BYTES = 256 * 1024;
/** Bytes read at a time from the pending file (see {@linkcode _WRITE_CHUNK_BYTES}). */
const _READ_CHUNK_BYTES = 256 * 1024;
const _NEWLINE = 0x0a;
const _QUOTE = 0x22;
const _BACKSLASH = 0x5c;

/**
 * Gathers the manifest fields of a pass's listing and writes the manifest once the pass is
 * complete. One per pass, under the mirror's lock. Dispose of it to remove the pending file.
 */
export class ManifestWriter implements AsyncDisposable {
  readonly #stateDir: string;
  readonly #warn: (message: string) => void;
  readonly #encoder = new TextEncoder();
  readonly #reservePercent: number;
  #pending?: Deno.FsFile;
  /** The lines written to the pending file so far, and its bytes. */
  #pendingLines = 0;
  #pendingBytes = 0;
  /** The pending file's size when the free space was last looked at. */
  #spaceLookedAt = 0;
  /** Why no manifest can be written this pass, once that is so: the old one is then kept. */
  #broken?: string;
  #finished = false;

  private constructor(
    stateDir: string,
    pending: Deno.FsFile | undefined,
    broken: string | undefined,
    options: ManifestWriterOptions,
  ) {
    this.#stateDir = stateDir;
    this.#pending = pending;
    this.#broken = broken;
    this.#warn = options.warn ?? (() => {});
    this.#reservePercent = options.reservePercent ?? 0;
  }

  /**
   * Starts a pass's manifest in the state folder of the mirror at `root` (real and absolute, as
   * `MirrorDir.root`): a fresh pending file, created exclusively so that a symlink planted under
   * its name is never followed. Never rejects: a manifest that cannot be started only means the
   * old one stays (`finish` says why), the pass itself goes on.
   */
  static async open(root: string, options: ManifestWriterOptions = {}): Promise<ManifestWriter> {
    const stateDir = join(root, STATE_DIR_NAME);
    try {
      await ensureStateDir(root);
      // What a killed pass left (a 100,000-item manifest copy is 41 MB), or a planted link: each
      // name is unlinked, never followed. Nobody else writes here: the pass holds the mirror lock.
      for await (const entry of Deno.readDir(stateDir)) {
        // The temporary names of a new manifest and of its digest.
        const leftover = [_MANIFEST_FILE_NAME, _DIGEST_NAME].some((name) =>
          isAtomicLeftoverOf(entry.name, name)
        );
        // Checked in the same turn as the unlink: the mirror (or its state folder) swapped for a
        // link since it was resolved would have another mirror's manifest being written removed.
        if (leftover) _removeNameInPlaceSync(stateDir, entry.name);
      }
      const path = join(stateDir, _PENDING_NAME);
      _removeNameInPlaceSync(stateDir, _PENDING_NAME);
      // Made in the same turn as that check, and checked again after: never another mirror's.
      const pending = Deno.openSync(path, {
        read: true,
        write: true,
        createNew: true,
        mode: _FILE_MODE,
      });
      try {
        _assertNamedInPlace(stateDir, _PENDING_NAME, pending);
      } catch (error) {
        pending.close();
        throw error;
      }
      return new ManifestWriter(stateDir, pending, undefined, options);
    } catch (error) {
      const broken = `cannot create ${_PENDING_NAME}: ${(error as Error).message}`;
      return new ManifestWriter(stateDir, undefined, broken, options);
    }
  }

  /**
   * Removes what a killed pass's writer left in the state folder of the mirror at `root` (its
   * pending copy, up to 41 MB at 100,000 items), for a pass that writes no manifest
   * (`manifest: false`) and so never opens one to clear it. A warning when it cannot.
   */
  static discardPending(root: string, options: ManifestWriterOptions = {}): Promise<void> {
    try {
      // Checked in place first: the mirror swapped for a link since it was resolved would have
      // another mirror's pending manifest removed, while its pass writes it.
      _removeNameInPlaceSync(join(root, STATE_DIR_NAME), _PENDING_NAME);
    } catch (error) {
      options.warn?.(`could not remove ${_PENDING_NAME}: ${(error as Error).message}`);
    }
    return Promise.resolve();
  }

  /** The manifest's absolute path. */
  get path(): string {
    return join(this.#stateDir, _MANIFEST_FILE_NAME);
  }

  /**
   * Appends the manifest lines of a page's items to the pending file (written at once, not held
   * in memory), and keeps each line's hash on what the index keeps of its item: `added` is what
   * `ListingIndex.addPage` made of `items`, a path for each item new to the listing whose name maps
   * to one (no line for the others). Never throws: a failed write only means no new manifest this
   * pass.
   */
  add(items: readonly RemoteItem[], added: PageAdded): void {
    if (this.#pending === undefined || this.#broken !== undefined) return;
    let text = "";
    let lines = 0;
    items.forEach((item, i) => {
      const path = added.paths[i];
      if (path === undefined) return;
      const line = _manifestLine(item, path);
      added.listed[i]!.manifestLineHash = _lineHash(line);
      text += `${line}\n`;
      lines++;
    });
    if (text === "") return;
    try {
      const bytes = this.#encoder.encode(text);
      let written = 0;
      while (written < bytes.length) written += this.#pending.writeSync(bytes.subarray(written));
      this.#pendingLines += lines;
      this.#pendingBytes += bytes.length;
      // Looked at once a MiB written (one statfs): the pending copy stops at the reserve.
      if (this.#pendingBytes - this.#spaceLookedAt >= _SPACE_LOOK_BYTES) {
        this.#spaceLookedAt = this.#pendingBytes;
        this.#broken = this.#intoReserve(0);
      }
    } catch (error) {
      this.#broken = `writing ${_PENDING_NAME} failed: ${(error as Error).message}`;
    }
  }

  /**
   * Writes the manifest of a complete pass and replaces the old one atomically: one line per
   * `entries` item (the listing's winner of each path) whose path `isPresent` says the mirror
   * holds, in listing order; left alone when it already holds the same lines (unless `changed`).
   * Call it once. Resolves to what was written, or to undefined when it could not be (the old
   * manifest is kept, and `warn` says why): never rejects.
   */
  async finish(
    entries: ReadonlyMap<string, ListedItem>,
    isPresent: (path: string) => boolean,
    options: FinishOptions = {},
  ): Promise<ManifestWritten | undefined> {
    if (this.#finished) throw new Error("the manifest of this pass was already written");
    this.#finished = true;
    try {
      if (this.#broken !== undefined) throw new Error(this.#broken);
      return await this.#write(this.#pending!, entries, isPresent, options.changed ?? false);
    } catch (error) {
      this.#warn(`manifest not updated (the previous one is kept): ${(error as Error).message}`);
      return undefined;
    }
  }

  async #write(
    pending: Deno.FsFile,
    entries: ReadonlyMap<string, ListedItem>,
    isPresent: (path: string) => boolean,
    changed: boolean,
  ): Promise<ManifestWritten> {
    const wanted: _Wanted = { entries, isPresent };
    const path = this.path;
    // First the digest alone, from the hashes the index keeps: a pass whose manifest holds the
    // same lines (most passes) reads and writes nothing, not even a copy to throw away (41 MB at
    // 100,000 items). Read back instead, the lines of 10,020 items cost a no-op pass 40-50 ms.
    const listed = _digestOf(wanted);
    if (!changed && await this.#holds(listed.value)) {
      return { path, lines: listed.count, rewritten: false };
    }
    // Every wanted item has its line in the pending file (a line for each item new to the listing
    // that got a path; `_digestOf` throws for one without): as many lines as wanted means it holds
    // those lines and no other, in listing order, the manifest itself. It takes the manifest's
    // name as it is, instead of being read back and copied (a fresh copy or a churn pass of the
    // 10,020 items, where every listed file is there; a lost download or two items on one path
    // need the copy, which leaves their lines out).
    if (listed.count === this.#pendingLines) return await this.#promotePending(pending, listed);
    // The copy takes at most what the pending file holds.
    const intoReserve = this.#intoReserve(this.#pendingBytes);
    if (intoReserve !== undefined) throw new Error(intoReserve);
    const temp = join(this.#stateDir, atomicTempName(_MANIFEST_FILE_NAME));
    this.#assertInPlace();
    // O_CREAT|O_EXCL: never follows a symlink planted under the temporary name. In the same turn
    // as the check, as the rename below: not a thread-pool hop later.
    const out = Deno.openSync(temp, { write: true, createNew: true, mode: _FILE_MODE });
    let copied: { lines: number; digest: string };
    try {
      try {
        copied = await this.#copyLines(pending, wanted, out);
        await out.sync();
      } finally {
        out.close();
      }
      // rename(2) replaces whatever is at `path`, a symlink included, without following it.
      this.#assertInPlace();
      Deno.renameSync(temp, path);
    } catch (error) {
      await removeIfPresent(temp).catch(() => {}); // best effort: the original error is what matters
      throw error;
    }
    await syncDir(this.#stateDir);
    await this.#remember(copied.digest);
    return { path, lines: copied.lines, rewritten: true };
  }

  /**
   * Why writing `bytes` more would take the file system into its free-space reserve, if it would
   * (undefined when not, or when its space cannot be measured: the write then says).
   */
  #intoReserve(bytes: number): string | undefined {
    if (this.#reservePercent <= 0) return undefined;
    let space: FreeSpace;
    try {
      space = freeSpaceSync(this.#stateDir);
    } catch {
      return undefined;
    }
    const reserve = space.totalBytes * this.#reservePercent / 100;
    if (space.availableBytes - bytes >= reserve) return undefined;
    return `the disk is down to its free-space reserve (${this.#reservePercent}% kept free), ` +
      "which the manifest is not written into";
  }

  /**
   * Makes the pending file, which holds exactly the manifest's lines, the manifest: synced, then
   * renamed over the old one (atomic, never through a symlink), as the copy would be.
   */
  async #promotePending(
    pending: Deno.FsFile,
    listed: _LineSetDigest,
  ): Promise<ManifestWritten> {
    await pending.sync();
    // The pending name still this pass's file, in the same turn as the rename: through a state
    // folder swapped for a link since, it would be another mirror's.
    _assertNamedInPlace(this.#stateDir, _PENDING_NAME, pending);
    Deno.renameSync(join(this.#stateDir, _PENDING_NAME), this.path);
    this.#pending = undefined; // nothing left to remove
    pending.close();
    await syncDir(this.#stateDir);
    await this.#remember(listed.value);
    return { path: this.path, lines: listed.count, rewritten: true };
  }

  /**
   * Throws when the mirror or its state folder became a symlink since the pass opened them (the
   * pass checks before it finishes; a swap during the copy of 41 MB of lines is not seen there): a
   * manifest renamed into place through it would replace another folder's (another mirror's).
   */
  #assertInPlace(): void {
    _assertStateInPlace(this.#stateDir);
  }

  /**
   * Copies the pending lines of the `wanted` items to `out`, and returns how many and their digest
   * (of the hashes their items keep). A pending line is the manifest line itself: it is copied as
   * it is, and only its path and id are decoded to look it up. The pending file holds one line per
   * listed item (the index says which items are new), so no line needs to be told from a repeat.
   * The lines of each read are handled in one synchronous loop and written out together: a
   * promise per line (an async generator of lines, a write awaited per part) cost a churn pass's
   * manifest most of its time, while the deletes beside it waited for the event loop.
   */
  async #copyLines(
    pending: Deno.FsFile,
    wanted: _Wanted,
    out: Deno.FsFile,
  ): Promise<{ lines: number; digest: string }> {
    const digest = new _LineSetDigest();
    const decoder = new TextDecoder();
    const output = new _OutputBuffer();
    await pending.seek(0, Deno.SeekMode.Start);
    await _forEachLine(pending, (bytes, start, end) => {
      const pathAt = start + _PATH_AT;
      const pathEnd = _jsonStringEnd(bytes, pathAt, end);
      const idAt = pathEnd + _ID_KEY.length;
      const idEnd = _jsonStringEnd(bytes, idAt, end);
      const path = _jsonString(bytes, pathAt, pathEnd, decoder);
      const entry = wanted.entries.get(path);
      // Lost its path to another item, or not present.
      if (
        entry === undefined || !_jsonStringIs(bytes, idAt, idEnd, entry.binaryDataId, decoder) ||
        !wanted.isPresent(path)
      ) return;
      digest.add(_hashOf(entry));
      output.append(bytes.subarray(start, end));
    }, async () => {
      if (output.length >= _WRITE_CHUNK_BYTES) await output.writeTo(out);
    });
    await output.writeTo(out);
    return { lines: digest.count, digest: digest.value };
  }

  /**
   * Whether the manifest in place is the one last written here, with `digest`: the digest file
   * names it by inode, size and modification time, so a manifest replaced or edited since is
   * rewritten.
   */
  async #holds(digest: string): Promise<boolean> {
    const digestPath = join(this.#stateDir, _DIGEST_NAME);
    try {
      const info = await Deno.lstat(this.path);
      const expected = _stamp(digest, info);
      // Only a plain file of the stamp's length is read: a fifo planted there would block the
      // read, and one of 1 GiB (sparse) read whole made a pass peak at 1.1 GB.
      const found = await Deno.lstat(digestPath);
      if (!found.isFile || found.size !== new TextEncoder().encode(expected).length) return false;
      return info.isFile && (await Deno.readTextFile(digestPath)) === expected;
    } catch {
      return false; // missing, unreadable: write the manifest anew
    }
  }

  /**
   * Records the manifest just written, for `#holds` in later passes (and later processes). Only a
   * hint: when it fails, or a power loss empties it, the next pass rewrites the manifest, no more.
   */
  async #remember(digest: string): Promise<void> {
    try {
      const stamp = _stamp(digest, await Deno.lstat(this.path));
      await writeFileAtomic(join(this.#stateDir, _DIGEST_NAME), stamp, {
        durable: false,
        assertInPlace: () => this.#assertInPlace(),
      });
    } catch {
      // An old digest file names the old manifest's inode: it can only cause a rewrite.
    }
  }

  /**
   * Closes and removes the pending file. Calling it again does nothing. It never throws (it
   * warns): it runs as the pass ends, and a pending file that cannot be removed (the state folder
   * made read-only meanwhile) must not take the pass's result with it; the next pass removes it.
   */
  close(): Promise<void> {
    const pending = this.#pending;
    if (pending === undefined) return Promise.resolve();
    this.#pending = undefined;
    try {
      // Only the name of the file this pass made: through a state folder swapped for a link since,
      // it would be another mirror's pending manifest.
      _assertNamedInPlace(this.#stateDir, _PENDING_NAME, pending);
      removeIfPresentSync(join(this.#stateDir, _PENDING_NAME));
    } catch (error) {
      this.#warn(`could not remove ${_PENDING_NAME}: ${(error as Error).message}`);
    } finally {
      pending.close();
    }
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Options of {@linkcode ManifestWriter.finish}. */
export interface FinishOptions {
  /**
   * The caller knows the lines differ from the last manifest's (its pass placed or deleted
   * files): the manifest is written without first reading the pass's lines once to compare.
   */
  changed?: boolean;
}

/** The lines a manifest keeps: those of the listing's winners the mirror holds. */
interface _Wanted {
  entries: ReadonlyMap<string, ListedItem>;
  isPresent: (path: string) => boolean;
}

/**
 * An item's manifest line (without its `\n`), as the pending file holds it: `{"path":` first,
 * then the path and `,"binary_data_id":` and the id, each a JSON string, then the other fields.
 */
function _manifestLine(item: RemoteItem, path: string): string {
  const line: ManifestLine = {
    path,
    binary_data_id: item.binaryDataId,
    size: item.sizeBytes ?? null,
    mime_type: item.mimeType,
    tags: item.tags ?? [],
    bboxes: (item.bboxes ?? []).map((box) => ({
      label: box.label,
      x_min: box.xMin,
      y_min: box.yMin,
      x_max: box.xMax,
      y_max: box.yMax,
      confidence: box.confidence, // left out by JSON.stringify when undefined
    })),
    dataset_ids: item.datasetIds ?? [],
    time_requested: item.timeRequestedMs === undefined ? null : isoTimeOfMs(item.timeRequestedMs),
  };
  return JSON.stringify(line);
}

/** Where a manifest line's path starts: after `{"path":`. */
const _PATH_AT = '{"path":'.length;
/** What separates the path from the id. */
const _ID_KEY = ',"binary_data_id":';

/** The index just past the JSON string literal that starts at `start` in `bytes`, before `end`. */
function _jsonStringEnd(bytes: Uint8Array, start: number, end: number): number {
  for (let i = start + 1; i < end; i++) {
    if (bytes[i] === _BACKSLASH) i++;
    else if (bytes[i] === _QUOTE) return i + 1;
  }
  throw new Error("a line of the pending manifest is cut short");
}

/**
 * A hash of a manifest line and its `\n` (cyrb53's mixing of their UTF-16 code units, two 32-bit
 * lanes): a whole number below 2^52. Only the sums of a set of them ({@linkcode _LineSetDigest})
 * are kept (in the digest file) and compared.
 */
function _lineHash(line: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i <= line.length; i++) {
    // The line's `\n` mixed in last, without appending it: `line` is `JSON.stringify`'s flat
    // string, and a string made of it and "\n" is flattened (copied) by its first `charCodeAt`:
    // 2.6 MiB of a 10,020-item pass.
    const unit = i < line.length ? line.charCodeAt(i) : _NEWLINE;
    h1 = Math.imul(h1 ^ unit, 2654435761);
    h2 = Math.imul(h2 ^ unit, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h2 & _HIGH_MASK) * _TWO_TO_32 + (h1 >>> 0);
}

const _TWO_TO_32 = 2 ** 32;
/** The 20 bits of a line hash above its low 32. */
const _HIGH_MASK = 0xfffff;

/** The hash the index keeps of `entry`'s line (set when the line was written). */
function _hashOf(entry: ListedItem): number {
  const hash = entry.manifestLineHash;
  if (hash === undefined) throw new Error(`no manifest line was kept for ${entry.binaryDataId}`);
  return hash;
}

/** The digest of the lines the `wanted` items have, from the hashes the index keeps of them. */
function _digestOf(wanted: _Wanted): _LineSetDigest {
  const digest = new _LineSetDigest();
  wanted.entries.forEach((entry, path) => {
    if (wanted.isPresent(path)) digest.add(_hashOf(entry));
  });
  return digest;
}

/**
 * A digest of a set of lines, whatever their order (the listing's order changes from pass to
 * pass): the sums of their hashes' two parts, each modulo its width, and the count. A change goes
 * unnoticed with odds of about 2^-52.
 */
class _LineSetDigest {
  count = 0;
  #low = 0;
  #high = 0;

  /** Adds a line by its hash ({@linkcode _lineHash}). */
  add(hash: number): void {
    this.#low = (this.#low + (hash % _TWO_TO_32)) % _TWO_TO_32;
    this.#high = (this.#high + Math.floor(hash / _TWO_TO_32)) & _HIGH_MASK;
    this.count++;
  }

  get value(): string {
    return `${this.count}:${this.#low}:${this.#high}`;
  }
}

/** Bytes gathered synchronously, then written to a file in one go (it grows as needed). */
class _OutputBuffer {
  #bytes = new Uint8Array(_WRITE_CHUNK_BYTES * 2);
  length = 0;

  append(bytes: Uint8Array): void {
    if (this.length + bytes.length > this.#bytes.length) {
      const larger = new Uint8Array(Math.max(this.#bytes.length * 2, this.length + bytes.length));
      larger.set(this.#bytes.subarray(0, this.length));
      this.#bytes = larger;
    }
    this.#bytes.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** Writes what it holds to `file` and empties. */
  async writeTo(file: Deno.FsFile): Promise<void> {
    await writeAll(file, this.#bytes.subarray(0, this.length));
    this.length = 0;
  }
}

/**
 * Whether the JSON string literal `bytes` holds from `start` to `end` (`"..."`) is plain: printable
 * ASCII without an escape, its bytes the string's own code units.
 */
function _isPlainJsonString(bytes: Uint8Array, start: number, end: number): boolean {
  if (end - start < 2 || end - start > 256) return false;
  for (let i = start + 1; i < end - 1; i++) {
    const byte = bytes[i];
    if (byte < 0x20 || byte >= 0x80 || byte === 0x5c || byte === 0x22) return false;
  }
  return true;
}

/**
 * The string the JSON string literal `bytes` holds from `start` to `end` (`"..."`): plain ASCII is
 * decoded as it is, without a parser.
 */
function _jsonString(bytes: Uint8Array, start: number, end: number, decoder: TextDecoder): string {
  if (_isPlainJsonString(bytes, start, end)) {
    return decoder.decode(bytes.subarray(start + 1, end - 1));
  }
  return JSON.parse(decoder.decode(bytes.subarray(start, end))) as string;
}

/**
 * Whether the JSON string literal `bytes` holds from `start` to `end` is `expected`: a plain one
 * (a binary_data_id is `org/location/fileid`) compared byte by byte, without making a string.
 */
function _jsonStringIs(
  bytes: Uint8Array,
  start: number,
  end: number,
  expected: string,
  decoder: TextDecoder,
): boolean {
  if (!_isPlainJsonString(bytes, start, end)) {
    return _jsonString(bytes, start, end, decoder) === expected;
  }
  if (end - start - 2 !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) {
    if (bytes[start + 1 + i] !== expected.charCodeAt(i)) return false;
  }
  return true;
}

/** What the digest file holds for a manifest with `digest` whose file is `info`. */
function _stamp(digest: string, info: Deno.FileInfo): string {
  return JSON.stringify({ digest, ino: info.ino, size: info.size, mtimeMs: info.mtime?.getTime() });
}

/**
 * Calls `onLine` with each line of `file` from its current offset (with its `\n`; the last one may
 * lack it), as the buffer and the line's start and end in it (valid during the call; no view made
 * per line), then `afterRead` once the lines of each read are done. One buffer for the whole file:
 * the start of a line cut by a read moves to its front (it grows only for a line longer than
 * itself), so a 41 MB pending file makes no 41 MB of buffers to collect.
 */
async function _forEachLine(
  file: Deno.FsFile,
  onLine: (bytes: Uint8Array, start: number, end: number) => void,
  afterRead: () => Promise<void>,
): Promise<void> {
  let buffer = new Uint8Array(_READ_CHUNK_BYTES);
  let held = 0; // bytes at the front of `buffer`: the start of a line not ended yet
  for (;;) {
    if (held === buffer.length) {
      const larger = new Uint8Array(buffer.length * 2);
      larger.set(buffer);
      buffer = larger;
    }
    const read = await file.read(buffer.subarray(held));
    if (read === null) break;
    const data = buffer.subarray(0, held + read);
    let start = 0;
    for (let end = data.indexOf(_NEWLINE, held); end >= 0; end = data.indexOf(_NEWLINE, start)) {
      onLine(data, start, end + 1);
      start = end + 1;
    }
    await afterRead();
    buffer.copyWithin(0, start, data.length);
    held = data.length - start;
  }
  if (held > 0) onLine(buffer, 0, held);
}

/** Throws when the mirror or its state folder `stateDir` is now a symlink. */
function _assertStateInPlace(stateDir: string): void {
  assertStateDirInPlace(stateDir, "not writing the manifest");
}

/** Unlinks `name` in `stateDir` (gone already is fine), checked in place in the same turn. */
function _removeNameInPlaceSync(stateDir: string, name: string): void {
  _assertStateInPlace(stateDir);
  removeIfPresentSync(join(stateDir, name));
}

/** Throws unless `stateDir` is in place and `name` in it is the file `file` has open. */
function _assertNamedInPlace(stateDir: string, name: string, file: Deno.FsFile): void {
  _assertStateInPlace(stateDir);
  const opened = file.statSync();
  const named = Deno.lstatSync(join(stateDir, name));
  if (named.ino === opened.ino && named.dev === opened.dev) return;
  throw new Deno.errors.PermissionDenied(
    `${join(stateDir, name)} is not the file this pass made there (its folder was swapped for a ` +
      "symlink meanwhile)",
  );
}

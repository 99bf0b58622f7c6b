import { basename, dirname, join } from "node:path";
import { isStateDirPath } from "../paths.ts";
import { sha256Hex } from "../sha256_hex.ts";
import { writeFileAtomic } from "./atomic_write.ts";
import {
  assertRelativePath,
  ensureMirrorDir,
  ensureStateDir,
  FILE_MODE,
  type RealRoot,
  resolveRoot,
  writeAll,
} from "./_util.ts";

/** Identifies one download in the staging area. */
export interface StageKey {
  /** The item's `binary_data_id` (`org/location/fileid`); its content never changes. */
  binaryDataId: string;
  /** The size the platform reported, when known: a partial is resumed only for the same size. */
  expectedSize?: number;
  /** Where the file will go (relative to the root); recorded in the sidecar to explain a partial. */
  finalRelPath?: string;
  /**
   * False for a file written whole at once (an inline download): any old partial is emptied and no
   * sidecar is written, since nothing will ever resume it. Default true.
   */
  resumable?: boolean;
}

/** Options of {@linkcode StagedFile.commit}. */
export interface CommitOptions {
  /** The size the file must have; defaults to the key's `expectedSize`. */
  expectedSize?: number;
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
  /** Drops what is held and starts from byte 0 (the server ignored the Range request). */
  restart(): Promise<void>;
  /**
   * Moves the finished file to `finalRelPath` (normalised relative posix path) under the root, and
   * closes the handle whatever happens. Steps: fsync; check the size against the expected one
   * ({@linkcode SizeMismatchError}); create the parent dirs inside the root (refusing a parent that
   * is a file, or a symlink leading outside the root or into the state dir); place the file without
   * replacing anything already at `finalRelPath` (`Deno.errors.AlreadyExists`).
   *
   * On failure nothing appears under the final name. The partial is kept for a later attempt (a
   * short file can be resumed, a finished one committed again), except when it is larger than
   * expected: that content is wrong and is discarded.
   */
  commit(finalRelPath: string, options?: CommitOptions): Promise<void>;
  /** Releases the handle and keeps the partial for a later resume. Calling it again does nothing. */
  close(): Promise<void>;
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

/** What the sidecar `<hash>.json` next to a partial `<hash>.part` records. */
interface Sidecar {
  binaryDataId: string;
  expectedSize?: number;
  finalPath?: string;
}

// `<64 hex digits>.part`, `<...>.json`, and the temporary files of the sidecar's atomic write.
const _STAGED_NAME = /^\.?([0-9a-f]{64})\.(?:part|json)/;

/**
 * The staging area of a mirror, `<root>/.data-mirror/partial/`: downloads are written there, never
 * under their final name, and renamed into place once complete and checked, so a crash or a cut
 * connection never leaves a truncated file that looks finished. It is on the mirror's own file
 * system, so moving a file into place is a link or rename, not a copy.
 *
 * A partial download is `<sha256(binaryDataId)>.part` (ids contain `/`), with a JSON sidecar
 * `<hash>.json` written atomically before any byte goes into the partial. While a handle is open,
 * the partial holds an OS lock, so two downloads of one id (in this process or another) cannot
 * interleave their bytes; the lock vanishes with a killed process, and the partial survives it.
 *
 * @example
 * ```ts
 * const staging = await StagingArea.open("/home/pi/.viam/data_mirror");
 * const staged = await staging.begin({ binaryDataId: "org/loc/id", expectedSize: 1234 });
 * // fetch with Range: bytes=<staged.offset>- and await staged.write(chunk) for each chunk, then:
 * await staged.commit("images/a.jpg");
 * ```
 */
export class StagingArea {
  readonly #root: RealRoot;
  /** The directory holding the partial downloads. */
  readonly dir: string;

  private constructor(root: RealRoot, dir: string) {
    this.#root = root;
    this.dir = dir;
  }

  /** Opens the staging area of the mirror at `root` (absolute), creating the dirs as needed. */
  static async open(root: string): Promise<StagingArea> {
    const realRoot = await resolveRoot(root, { create: true });
    return new StagingArea(realRoot, await ensureStateDir(realRoot, "partial"));
  }

  /**
   * Starts or resumes the download of `key.binaryDataId`. A partial left by an earlier attempt is
   * resumed when its sidecar names the same id and the same expected size, and it is not longer
   * than that size; any other partial under that name is emptied. Throws `Deno.errors.Busy` when
   * another handle (in any process) is open on the same id.
   */
  async begin(key: StageKey): Promise<StagedFile> {
    const { binaryDataId, expectedSize, finalRelPath } = key;
    if (expectedSize !== undefined && !(Number.isSafeInteger(expectedSize) && expectedSize >= 0)) {
      throw new RangeError(`expected size of ${binaryDataId} is not a byte count: ${expectedSize}`);
    }
    const stem = await sha256Hex(binaryDataId);
    const paths = { part: join(this.dir, `${stem}.part`), sidecar: join(this.dir, `${stem}.json`) };
    const file = await Deno.open(paths.part, {
      read: true,
      write: true,
      create: true,
      mode: FILE_MODE,
    });
    try {
      if (!(await file.tryLock(true))) {
        throw new Deno.errors.Busy(`the download of ${binaryDataId} is already in progress`);
      }
      if (key.resumable === false) {
        await file.truncate(0);
        return new Staged(this.#root, file, paths, { offset: 0, expectedSize });
      }
      const recorded = await readSidecar(paths.sidecar);
      let offset = (await file.stat()).size;
      const resumable = recorded?.binaryDataId === binaryDataId &&
        recorded.expectedSize === expectedSize &&
        (expectedSize === undefined || offset <= expectedSize);
      // Empty the partial BEFORE recording the new key: a crash in between then leaves an empty
      // partial, never old bytes under a sidecar that vouches for them.
      if (!resumable && offset > 0) {
        await file.truncate(0);
        offset = 0;
      }
      if (!resumable || recorded.finalPath !== finalRelPath) {
        const sidecar: Sidecar = { binaryDataId, expectedSize, finalPath: finalRelPath };
        // Not durable: a sidecar lost to a power cut only costs the resume (the partial restarts).
        await writeFileAtomic(paths.sidecar, JSON.stringify(sidecar), { durable: false });
      }
      await file.seek(offset, Deno.SeekMode.Start);
      return new Staged(this.#root, file, paths, { offset, expectedSize });
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /**
   * Removes the partial downloads whose id is not in `keep` (ids still to download), with their
   * sidecars and any stray file in the staging dir; a partial with an open handle is left alone.
   * Resolves to the number of partial downloads removed.
   */
  async discardStale(keep: Set<string>): Promise<number> {
    const kept = new Set(await Promise.all([...keep].map(sha256Hex)));
    const byStem = new Map<string, string[]>(); // stem -> its file names
    const strays: string[] = [];
    for await (const entry of Deno.readDir(this.dir)) {
      if (entry.isDirectory) continue; // nothing here makes dirs: not ours to judge
      const stem = _STAGED_NAME.exec(entry.name)?.[1];
      if (stem === undefined) strays.push(entry.name);
      else if (!kept.has(stem)) byStem.set(stem, [...(byStem.get(stem) ?? []), entry.name]);
    }
    for (const name of strays) await removeIfPresent(join(this.dir, name));
    let discarded = 0;
    for (const [stem, names] of byStem) {
      const part = join(this.dir, `${stem}.part`);
      const hasPart = names.includes(`${stem}.part`);
      if (hasPart && await isInUse(part)) continue;
      for (const name of names) await removeIfPresent(join(this.dir, name));
      if (hasPart) discarded++;
    }
    return discarded;
  }
}

/** The open handle on one partial download. */
class Staged implements StagedFile {
  readonly #root: RealRoot;
  readonly #file: Deno.FsFile;
  readonly #paths: { part: string; sidecar: string };
  readonly #expectedSize: number | undefined;
  #offset: number;
  #closed = false;

  constructor(
    root: RealRoot,
    file: Deno.FsFile,
    paths: { part: string; sidecar: string },
    state: { offset: number; expectedSize: number | undefined },
  ) {
    this.#root = root;
    this.#file = file;
    this.#paths = paths;
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

  async restart(): Promise<void> {
    this.#assertOpen("restart");
    await this.#file.truncate(0);
    await this.#file.seek(0, Deno.SeekMode.Start);
    this.#offset = 0;
  }

  async commit(finalRelPath: string, options?: CommitOptions): Promise<void> {
    this.#assertOpen("commit");
    try {
      assertRelativePath(finalRelPath);
      if (isStateDirPath(finalRelPath)) {
        throw new Deno.errors.PermissionDenied(`refusing ${finalRelPath}: inside the state dir`);
      }
      await this.#file.sync();
      const size = (await this.#file.stat()).size;
      const expected = options?.expectedSize ?? this.#expectedSize;
      if (expected !== undefined && size !== expected) {
        if (size > expected) await this.#discard();
        throw new SizeMismatchError(finalRelPath, expected, size);
      }
      const parent = dirname(finalRelPath);
      const dir = await ensureMirrorDir(this.#root, parent === "." ? "" : parent);
      await placeWithoutClobber(this.#paths.part, join(dir, basename(finalRelPath)), finalRelPath);
      await this.#discard();
      // No fsync of the directory: the data was fsynced before the link, so a power cut can at
      // worst lose the new name (the file is downloaded again), never leave a short file under it.
    } finally {
      await this.close();
    }
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#file.close(); // also releases the OS lock
    }
    return Promise.resolve();
  }

  /** Removes the partial's names (the partial, once committed, lives on under its final name). */
  async #discard(): Promise<void> {
    await removeIfPresent(this.#paths.part);
    await removeIfPresent(this.#paths.sidecar);
  }

  #assertOpen(what: string): void {
    if (this.#closed) throw new Deno.errors.BadResource(`cannot ${what}: staged file is closed`);
  }
}

/**
 * Gives the staged file its final name without replacing anything there. A hard link fails
 * atomically with EEXIST when the name is taken (by a file, a directory or a symlink, which is not
 * followed), so no check-then-act window exists. File systems without hard links (FAT and exFAT
 * USB sticks answer EPERM) fall back to check-then-rename: that window is only open to programs
 * outside the engine, since the engine writes under the mirror lock.
 */
async function placeWithoutClobber(from: string, to: string, relPath: string): Promise<void> {
  const taken = () => new Deno.errors.AlreadyExists(`refusing to overwrite ${relPath}: it exists`);
  try {
    await Deno.link(from, to);
    return;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) throw taken();
    const code = (error as { code?: string }).code;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw error;
  }
  if (await Deno.lstat(to).then(() => true, () => false)) throw taken();
  await Deno.rename(from, to);
}

/** True when another handle holds the partial's lock. */
async function isInUse(part: string): Promise<boolean> {
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

async function readSidecar(path: string): Promise<Sidecar | undefined> {
  try {
    const parsed = JSON.parse(await Deno.readTextFile(path));
    return typeof parsed?.binaryDataId === "string" ? parsed : undefined;
  } catch {
    return undefined; // missing or unreadable: the partial cannot be trusted
  }
}

async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

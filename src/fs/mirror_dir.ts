/**
 * A mirror opened once for a pass: its real root (checked against the rules on `mirror_path`), its
 * lock, its state folder and staging area, and every file operation a pass makes in it (walk, make
 * folders, place files, remove, prune, measure free space), all rooted at that real path. Nothing is
 * re-resolved per file, and no operation follows a symlink out of the mirror:
 *
 * - the root is resolved from the Viam home's real path, through real folders only
 *   ({@linkcode resolveMirrorRoot});
 * - folders are made one level at a time below folders already checked, each once per pass; an
 *   existing symlink on the way is followed only when it resolves inside the mirror (and outside the
 *   state folder);
 * - files are written to fresh names in the state folder (`O_CREAT|O_EXCL`, which never follows a
 *   symlink) and linked into place (`link` neither follows nor replaces what is at the final name);
 * - the program's own files are opened without following symlinks ({@linkcode openOwnFile});
 * - deletes and pruning take paths from this pass's walk, which never descends into a symlinked
 *   folder, and `rename`/`unlink`/`rmdir` never follow the last component; a stale file is moved
 *   into the state folder and unlinked there only when it is the file checked in place.
 *
 * What it cannot stop entirely: a local user swapping a checked folder for a symlink between the
 * check and the operation (Deno has no `openat`); the README's _Not guaranteed_ says what is left.
 * Data from the cloud cannot do that.
 *
 * @example
 * ```ts
 * await using mirror = await MirrorDir.open({ viamHome: "/home/pi/.viam", mirrorPath: "data_mirror" });
 * const local = await mirror.walk();
 * const [refused] = await mirror.writeFiles([{ path: "images/a.jpg", bytes }]);
 * ```
 *
 * @module
 */
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { ConfigError, type ConfigIssue, type MirrorConfig } from "../config.ts";
import { foldLetterCase, isStateDirPath, splitRelativePath, STATE_DIR_NAME } from "../paths.ts";
import { FileSystemSync } from "./file_system_sync.ts";
import { type FreeSpace, freeSpace } from "./free_space.ts";
import { listLocalFiles, type LocalFile } from "./local_files.ts";
import { acquireMirrorLock, type MirrorLock } from "./mirror_lock.ts";
import { MirrorLocationError, resolveMirrorRoot } from "./mirror_location.ts";
import { prunableDirs, pruneEmptyDirs, removeEmptyDirSync } from "./prune_dirs.ts";
import { StagingArea } from "./staging.ts";
import {
  ensureStateDir,
  HELD_DELETES_NAME,
  PARTIAL_DIR_NAME,
  PLACED_RECORD_NAME,
  stateOf,
} from "./state_dir.ts";
import { isAtomicLeftoverOf } from "./atomic_write.ts";
import {
  assertRelativePath,
  FILE_MODE,
  foldersOnWay,
  hasStableInodes,
  isOnFuse,
  linkNoReplaceSync,
  lstatIfThereSync,
  mountOf,
  swappedFolder,
  swappedFolderOn,
} from "./_util.ts";

/** Mode of the folders the mirror creates. */
const _DIR_MODE = 0o755;

/** Options of {@linkcode MirrorDir.open}. */
export interface OpenMirrorOptions {
  /** The Viam home (absolute). */
  viamHome: string;
  /** `mirror_path`, relative to the Viam home. */
  mirrorPath: string;
  /** Names this process in the lock, for the message another one gets. */
  owner?: string;
  /**
   * Put each file's bytes on the disk before it gets its final name (default true): after a power
   * loss a file under a final name is then whole, never short or empty. A batch is synced by one
   * {@linkcode FileSystemSync}, or when that cannot run, by an `fdatasync` per file.
   */
  durable?: boolean;
  /** The `sync` programs the group sync tries (see {@linkcode FileSystemSync}). */
  syncPrograms?: readonly string[];
  /** Told about what was refused or replaced in the program's own folder (planted links). */
  warn?: (message: string) => void;
  /**
   * The device of the root an earlier pass of the same loop opened, updated by each open: a root
   * now on another device that holds none of the mirror's state is refused (its disk was
   * unmounted: the pass would copy everything onto the file system below the mount point).
   */
  seen?: { device?: number };
  /** Stops the look below a new mirror's folder for push folders ({@linkcode MirrorPlaceOptions}). */
  signal?: AbortSignal;
}

/** The Viam home a folder `root` named `relPath` in it lies in: `root` less `relPath`. */
function _homeOf(root: string, relPath: string): string {
  let home = root;
  for (const _ of relPath.split("/").filter((part) => part !== "" && part !== ".")) {
    home = dirname(home);
  }
  return home;
}

/**
 * The mirror or push folder a folder on the way from the Viam home to `root` holds, if any (a new
 * mirror in a push folder would delete, as stale, the files there that wait for their upload).
 */
async function _outerMirror(
  root: string,
  mirrorPath: string,
): Promise<{ dir: string; state: string; kind: string } | undefined> {
  const home = _homeOf(root, mirrorPath);
  for (let dir = dirname(root); dir !== home && dir !== dirname(dir); dir = dirname(dir)) {
    const state = await stateOf(dir, "mirror");
    if (state !== undefined) return { dir, state, kind: "a mirror" };
    const journal = await stateOf(dir, "push");
    if (journal !== undefined) return { dir, state: journal, kind: "a push folder" };
  }
  return undefined;
}

/**
 * Throws `ConfigError` (of `mirror_path`, `push_path` or both) when the mirror or the push folder
 * of `config` may not be where it is (see {@linkcode assertMirrorPlace} and
 * {@linkcode assertPushPlace}): what its pass would refuse is refused where the config is checked
 * (`validate`, `sync` and `push` before any call, the module's ValidateConfig), before it is taken
 * on; a push folder refused so failed every pass (exit 1), the module's resource backing off for
 * good, and `sync --watch` every second.
 */
export async function checkMirrorPlace(config: MirrorConfig): Promise<void> {
  const issues: ConfigIssue[] = [];
  const check = async (field: string, assert: () => Promise<unknown>) => {
    try {
      await assert();
    } catch (error) {
      if (!(error instanceof MirrorLocationError)) throw error;
      issues.push({ field, message: error.message });
    }
  };
  // Not below a new mirror's folder (`lookBelow`): read whole, a large one took the module's
  // ValidateConfig past viam-server's 5 s. The pass's open looks there.
  if (!config.pushOnly) await check("mirror_path", () => placedMirrorRoot(config));
  const push = config.push;
  if (push !== undefined) {
    await check("push_path", () => assertPushPlace(push.pushRoot, push.pushPath));
  }
  if (issues.length > 0) throw new ConfigError(issues);
}

/**
 * Throws `MirrorLocationError` when the folder `root` (`push_path` `pushPath`) may not be pushed:
 * it is a mirror or lies inside one (push would upload what the mirror downloads, again on every
 * pass), or lies inside another push folder (whose pushes send its files too). Looked at up to the
 * Viam home (`root` less `pushPath`); checked before the folder is made, so a refused one is not
 * left behind.
 */
export async function assertPushPlace(root: string, pushPath: string): Promise<void> {
  const home = _homeOf(root, pushPath);
  for (let dir = root; dir !== home && dir !== dirname(dir); dir = dirname(dir)) {
    const mirrorState = await stateOf(dir, "mirror");
    if (mirrorState !== undefined) {
      throw new MirrorLocationError(
        `push folder ${pushPath} (${root}) ${
          dir === root ? "is" : `lies inside ${dir}, which is`
        } a mirror (${mirrorState} is its state): push would upload what the ` +
          "mirror downloads, again on every pass; choose a folder apart from every mirror",
      );
    }
    // A push folder inside another: a push of the outer one running while this one's first pass
    // starts (before it has an area of its own) would send the same files a second time.
    const pushState = dir === root ? undefined : await stateOf(dir, "push");
    if (pushState !== undefined) {
      throw new MirrorLocationError(
        `push folder ${pushPath} (${root}) lies inside ${dir}, which is a push ` +
          `folder (${pushState} is its journal): its files are pushed with that folder's; ` +
          "push that folder, or choose a folder apart from it (that folder's pushes pass this " +
          `one by while it holds its own ${STATE_DIR_NAME}: once this one's files are all sent, ` +
          `remove ${join(root, STATE_DIR_NAME)} to let them take it)`,
      );
    }
  }
}

/**
 * The mirror's root when it exists (see `resolveMirrorRoot`; nothing is made), once its place is
 * checked ({@linkcode assertMirrorPlace}): where it would be made when it does not exist yet, so
 * that a place refused is refused before a pass makes its folder (an empty folder was left in a
 * push folder, walked by every push).
 */
export async function placedMirrorRoot(
  options: { viamHome: string; mirrorPath: string } & MirrorPlaceOptions,
): Promise<string | undefined> {
  const { viamHome, mirrorPath } = options;
  const root = await resolveMirrorRoot({ viamHome, mirrorPath, create: false });
  await assertMirrorPlace(root ?? join(viamHome, mirrorPath), mirrorPath, options);
  return root;
}

/** Options of {@linkcode assertMirrorPlace}. */
export interface MirrorPlaceOptions {
  /**
   * Look below a new mirror's existing folder for a push folder (read whole, so done where time
   * allows: a pass's open and a dry run, not a config check). Default false.
   */
  lookBelow?: boolean;
  /** Stops the look below (a mirror stopped during its first open over a large folder). */
  signal?: AbortSignal;
}

/**
 * Throws `MirrorLocationError` when the existing real folder `root` may not be a mirror: it is a
 * push folder, or a new mirror inside a mirror or a push folder, or (`lookBelow`) around a push
 * folder. A pass checks it at `open`, and a dry run too, so that it does not report as "would
 * delete" what the pass would refuse to touch.
 */
export async function assertMirrorPlace(
  root: string,
  mirrorPath: string,
  options: MirrorPlaceOptions = {},
): Promise<void> {
  const pushState = await stateOf(root, "push");
  if (pushState !== undefined) {
    throw new MirrorLocationError(
      `mirror_path ${mirrorPath} (${root}) is a push folder (${pushState} is its ` +
        "journal): the push would upload what the mirror downloads, again on every pass, and a " +
        "sync with delete would remove the files waiting to be uploaded; choose a folder apart " +
        "from every push folder",
    );
  }
  // A new mirror inside another (another process's: the module refuses it between resources)
  // would delete, as stale, that mirror's files in its folder, which that one could not put back.
  // One made before the outer mirror keeps working: the outer's walk passes it by.
  if ((await stateOf(root, "mirror")) === undefined) {
    const outer = await _outerMirror(root, mirrorPath);
    if (outer !== undefined) {
      throw new MirrorLocationError(
        `mirror_path ${mirrorPath} (${root}) lies inside ${outer.dir}, which is ` +
          `${outer.kind} (${outer.state} is its state): a sync there would delete its files ` +
          `as stale; choose a folder apart from it (or, if ${outer.kind} is no longer used, ` +
          `remove its ${STATE_DIR_NAME} folder)`,
      );
    }
    // A new mirror around a push folder: its pass would pass the folder by, but every push of it
    // would then be refused as lying inside a mirror (the one that was there first, blamed).
    const inner = options.lookBelow ? await _innerPushFolder(root, options.signal) : undefined;
    if (inner !== undefined) {
      throw new MirrorLocationError(
        `mirror_path ${mirrorPath} (${root}) holds the push folder ${inner.dir} (${inner.state} ` +
          "is its journal): its pushes would be refused once a mirror is around it; choose a " +
          "folder apart from every push folder (or, if that push folder is no longer used, " +
          `remove its ${STATE_DIR_NAME} folder)`,
      );
    }
  }
}

/**
 * The first push folder found below the existing folder `root` (not `root` itself), through real
 * folders only, across mounts as `assertPushPlace` looks (a push folder on a disk mounted in the
 * mirror is refused as lying inside it); a mirror (a folder whose `.data-mirror` holds a mirror's
 * state) is not entered. Read once, before a new mirror's first pass.
 */
async function _innerPushFolder(
  root: string,
  signal: AbortSignal | undefined,
): Promise<{ dir: string; state: string } | undefined> {
  const folders = [root]; // not a folder (or gone): its read fails, and nothing is below it
  for (let dir = folders.pop(); dir !== undefined; dir = folders.pop()) {
    signal?.throwIfAborted();
    const below: string[] = [];
    let holdsState = false;
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.isDirectory) continue; // a symlink is not entered
        if (entry.name === STATE_DIR_NAME) holdsState = true;
        else below.push(join(dir, entry.name));
      }
    } catch {
      continue; // unreadable, or gone: the walk passes it by too
    }
    if (dir !== root && holdsState) {
      const state = await stateOf(dir, "push");
      if (state !== undefined) return { dir, state };
      if ((await stateOf(dir, "mirror")) !== undefined) continue;
    }
    folders.push(...below);
  }
  return undefined;
}

/** The mirror of one pass. Dispose of it (or call {@linkcode MirrorDir.close}) to release the lock. */
export class MirrorDir implements AsyncDisposable {
  /** The real path of the mirror root. */
  readonly root: string;
  /** Partial downloads by uri, resumable across passes. */
  readonly staging: StagingArea;
  readonly #lock: MirrorLock;
  /**
   * The state folder (real, `<root>/.data-mirror`), where an inline batch's files are written before
   * they are named, and where a pass keeps what it knows across passes.
   */
  readonly stateDir: string;
  /** Syncs written batches; undefined when the mirror is not durable. */
  readonly #fsSync: FileSystemSync | undefined;
  readonly #dirs = new Map<string, Promise<string>>();
  /**
   * Every folder `#dirs` was given, and each of its parents, letter case folded: a removal whose
   * path is not among them has no cached folder at or below it to forget (one lookup, not a pass
   * over all the folders cached: 10,000 removals with 10,000 folders cached took 4.4 s).
   */
  readonly #dirsFolded = new Set<string>();
  /**
   * Files the next placement at their path replaces, with the file that was there when marked (see
   * {@linkcode MirrorDir.replaceOnPlace}).
   */
  readonly #replaceable = new Map<string, Deno.FileInfo>();
  /** Files `replaceOnPlace` refused to mark, and why: the next placement at the path fails so. */
  readonly #refusedReplacements = new Map<string, Error>();
  /** Marked files found changed when their replacement came (see `changedBeforeReplaced`). */
  readonly #changedBeforeReplaced = new Set<string>();
  /**
   * Folders a removal of this pass may have left empty (for `prune`). Not the empty folders the
   * walk finds: the mirror's to prune are only those it empties (an empty folder of its user's, or
   * one a failed download left, stays).
   */
  readonly #mayBeEmpty = new Set<string>();
  readonly #nestedMirrors = new Set<string>();
  readonly #warn: ((message: string) => void) | undefined;
  /** The protected dirs now, when an empty folder in a file's way goes (`clearFoldersInTheWay`). */
  #protectedDirs: (() => readonly string[]) | undefined;
  /** The root's device, as the walk saw it: a removal crosses into no other. */
  readonly #device: number;
  /**
   * The inodes of the root (`"."`) and its state folder when the pass opened them: another folder
   * moved into the place of either since (the mirror renamed away and another mirror's folder
   * renamed in) is written into no more, and nothing is deleted from it.
   */
  readonly #inodes: ReadonlyMap<string, number> | undefined;

  /** The device of the mirror's root (`st_dev`), where its files take their space. */
  get device(): number {
    return this.#device;
  }
  #nextTemp = 0;

  private constructor(
    root: string,
    lock: MirrorLock,
    dirs: { partial: string; state: string },
    fsSync: FileSystemSync | undefined,
    warn: ((message: string) => void) | undefined,
    device: number,
    inodes: ReadonlyMap<string, number> | undefined,
  ) {
    this.root = root;
    this.#device = device;
    this.#inodes = inodes;
    this.#lock = lock;
    this.stateDir = dirs.state;
    this.#fsSync = fsSync;
    this.#warn = warn;
    this.staging = new StagingArea(
      dirs.partial,
      (staged, rel) => this.placeFile(staged, rel),
      warn,
      () => this.#assertStagingInPlace(),
    );
    this.#dirs.set("", Promise.resolve(root));
  }

  /**
   * Resolves and checks the mirror root (creating it when missing), takes the mirror's lock, and
   * readies the state folder. Throws `MirrorLocationError` when the root breaks a rule,
   * `LockedError` when another pass holds the lock.
   */
  static async open(options: OpenMirrorOptions): Promise<MirrorDir> {
    const seen = options.seen;
    let found: string | undefined;
    if (seen?.device !== undefined) {
      // Where the loop's last pass found the root: a root now on another device with none of the
      // mirror's state, or gone and to be made on another device (`usb/faces` below the bare mount
      // point of a disk at `usb`), is the mount point of a disk that dropped out.
      found = await resolveMirrorRoot({ ...options, create: false });
      const device = found === undefined
        ? await _nearestDevice(options.viamHome, options.mirrorPath, seen.device)
        : (await Deno.lstat(found)).dev;
      if (device !== seen.device && (found === undefined || !(await stateOf(found, "mirror")))) {
        // The root now on a device its folder is not on: a disk was mounted there since (an
        // operator moving the mirror to a card), not unmounted, and "mount the disk again" misled.
        const mounted = found !== undefined &&
          device !== await _deviceOf(dirname(found), Deno.lstat);
        throw new MirrorLocationError(
          mounted
            ? `mirror_path ${options.mirrorPath} is now the mount point of another file system ` +
              "than at the last pass (a disk mounted there since?) and holds none of the " +
              "mirror's state: nothing is written there until a restart, which mirrors into it " +
              `afresh (or copy the mirror onto it, its ${STATE_DIR_NAME} folder included)`
            : `mirror_path ${options.mirrorPath} is now on another file system than at the last ` +
              "pass and holds none of the mirror's state: was its disk unmounted? Nothing is " +
              "written there; mount the disk again (or restart to mirror into it afresh)",
        );
      }
    }
    const place = { lookBelow: true, signal: options.signal };
    if (found === undefined) found = await placedMirrorRoot({ ...options, ...place });
    else await assertMirrorPlace(found, options.mirrorPath, place);
    const root = found ?? (await resolveMirrorRoot({ ...options, create: true }))!;
    _assertOpenedInPlace(root, "");
    const state = await ensureStateDir(root);
    const lock = await acquireMirrorLock(state, {
      owner: options.owner,
      warn: options.warn,
      assertInPlace: () => _assertOpenedInPlace(root, STATE_DIR_NAME),
    });
    try {
      // Resolved folder by folder, then used by path: the root (or its state folder) swapped for a
      // link since had the staging folder made, and the leftovers below removed, where it leads.
      _assertOpenedInPlace(root, STATE_DIR_NAME);
      const partial = await ensureStateDir(root, PARTIAL_DIR_NAME);
      _assertOpenedInPlace(root, `${STATE_DIR_NAME}/${PARTIAL_DIR_NAME}`);
      // What a killed pass left; nobody else writes them.
      _removeStagedLeftovers(root, options.warn);
      // On a FUSE mount (exfat-fuse, fusefat) `syncfs` does not reach the daemon: it succeeds and
      // flushes nothing. No program to run there, so each file gets its own `fdatasync`.
      const programs = isOnFuse(state) ? [] : options.syncPrograms;
      const fsSync = (options.durable ?? true)
        ? new FileSystemSync(state, { programs })
        : undefined;
      const { dev, ino } = await Deno.lstat(root);
      if (seen !== undefined) seen.device = dev;
      // Kept for the pass on every file system, FAT and FUSE ones too, which may number a folder
      // anew only once the kernel forgets it: the lock held open in the state folder keeps both
      // folders in memory while the pass runs.
      const stateIno = (await Deno.lstat(state)).ino;
      const inodes = ino !== null && stateIno !== null
        ? new Map([[".", ino], [STATE_DIR_NAME, stateIno]])
        : undefined;
      return new MirrorDir(root, lock, { partial, state }, fsSync, options.warn, dev, inodes);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /** The files in the mirror now (see {@linkcode listLocalFiles}). */
  walk(): Promise<Map<string, LocalFile>> {
    return listLocalFiles(this.root, {
      // Nothing is written in them either (a file staged here cannot be linked across a mount).
      onPassedBy: (dir) => this.#nestedMirrors.add(dir),
      warn: this.#warn,
    });
  }

  /**
   * The folders the walk passed by: holding another mirror (its own `.data-mirror`), on another
   * file system, or unreadable to this user. Nothing is written in them (see
   * {@linkcode planItem}). Complete once {@linkcode MirrorDir.walk} ends.
   */
  get nestedMirrors(): ReadonlySet<string> {
    return this.#nestedMirrors;
  }

  /**
   * Makes the folder `relDir` (mirror-relative; `""` is the root) and its parents, each at most once
   * per pass, and resolves to its real path. Refuses a folder inside the state folder, an entry on
   * the way that is a file, and a symlink on the way that leads outside the mirror or into the state
   * folder.
   */
  ensureDir(relDir: string): Promise<string> {
    let known = this.#dirs.get(relDir);
    if (known === undefined) {
      known = this.#makeDir(relDir);
      known.catch(() => {}); // awaited by every caller; a failure stays cached for this pass
      this.#dirs.set(relDir, known);
      const folded = foldLetterCase(relDir);
      for (let slash = folded.indexOf("/"); slash >= 0; slash = folded.indexOf("/", slash + 1)) {
        this.#dirsFolded.add(folded.slice(0, slash));
      }
      this.#dirsFolded.add(folded);
    }
    return known;
  }

  /**
   * Writes whole files (an inline batch) under their mirror-relative paths without ever showing a
   * partial file there: each file's bytes go to a fresh name in the state folder, all of them are
   * synced together (when durable: one sync of the file system, else an `fdatasync` each), and
   * each is then linked into place. Resolves to one entry per file: undefined when placed, else the
   * error (`Deno.errors.AlreadyExists` when something is at its path: nothing is ever replaced).
   *
   * The short steps (create, write, close, link, unlink) run synchronously: each is one system call
   * on a file the page cache holds, cheaper than a trip through the thread pool. Only the sync,
   * which waits for the disk, runs asynchronously. Each file is closed as soon as it is written, so
   * a batch waiting for its sync holds no descriptor (several batches may wait for one sync).
   * `onWritten` is called once every file's bytes are written (in the page cache), before the
   * sync: the caller's buffers may go.
   *
   * The files are staged in the state folder itself (`staged-<n>`), not a folder below it: the
   * confined program's `open` of a new name costs two `readlink`s per level of its path (Deno's
   * permission check resolves the name, then, as it does not exist yet, its folder). One level
   * less took the 10,020-file fresh copy from 13 `readlink`s a file to 11 (`strace`), 20.9 system
   * calls a file to 19.0.
   */
  async writeFiles(
    files: { path: string; bytes: Uint8Array }[],
    onWritten?: () => void,
  ): Promise<(Error | undefined)[]> {
    const moved = this.rootSwapped();
    // Not even staged: the state folder's path leads where the link does.
    if (moved !== undefined) return files.map(() => new Deno.errors.PermissionDenied(moved));
    const outcomes: (Error | undefined)[] = files.map(() => undefined);
    const dirs = await Promise.all(
      files.map((file) => this.ensureDir(_parentOf(file.path)).catch((error: Error) => error)),
    );
    // Again once the folders are made, in the same turn as the files are staged below: a state
    // folder swapped for a link while they were made had the batch written where it leads.
    const movedSince = this.rootSwapped();
    if (movedSince !== undefined) {
      return files.map(() => new Deno.errors.PermissionDenied(movedSince));
    }
    const written: { index: number; temp: string; target: string }[] = [];
    try {
      files.forEach((file, index) => {
        const dir = dirs[index];
        if (dir instanceof Error) return void (outcomes[index] = dir);
        const temp = `${this.stateDir}/${_STAGED_PREFIX}${this.#nextTemp++}`;
        try {
          _assertPlaceable(file.path);
          using handle = Deno.openSync(temp, { write: true, createNew: true, mode: FILE_MODE });
          written.push({ index, temp, target: _childPath(dir, _leafOf(file.path)) });
          _writeAllSync(handle, file.bytes);
        } catch (error) {
          outcomes[index] = error as Error;
        }
      });
      onWritten?.();
      const unsynced = written.filter((entry) => outcomes[entry.index] === undefined);
      if (this.#fsSync !== undefined && unsynced.length > 0) {
        // Each file on its own when the group sync fails: that also names the file an error is of.
        await this.#fsSync.flush().catch(() =>
          Promise.all(
            unsynced.map((entry) =>
              _syncFile(entry.temp).catch((error) => void (outcomes[entry.index] = error))
            ),
          )
        );
      }
    } finally {
      // The state folder (or the root) swapped for a link while the batch waited for its sync: the
      // staged names lead where the link does (another mirror's batch, staged under the same
      // names), neither to be named in the mirror nor removed. Left where they are, the batch's
      // own files go at the next open.
      const moved = this.rootSwapped();
      if (moved !== undefined) {
        for (const entry of written) {
          outcomes[entry.index] ??= new Deno.errors.PermissionDenied(moved);
        }
        written.length = 0;
      }
      // Every folder from the mirror down to each file's, right before the file is named (a `link`
      // resolves its path anew): one swapped for a symlink since would lead the file out of the
      // mirror. Looked at once a batch, a swap while its links ran took the rest of it out (93 of
      // 95 files for `mv x x.old && ln -s elsewhere x`, 94 for the same done to a folder above
      // `x`). By symlinks, not inodes: FUSE numbers a folder anew once the kernel forgets it (a
      // look by inode refused 35 to 94 of 95 files on exfat-fuse for nothing).
      const refused = new Map<string, Error>();
      for (const entry of written) {
        try {
          if (outcomes[entry.index] === undefined) {
            const dir = _parentOf(files[entry.index].path);
            const error = refused.get(dir) ??
              this.#swappedSince(dir, dirname(entry.target), { gone: true });
            if (error !== undefined) {
              refused.set(dir, error);
              outcomes[entry.index] = error;
            } else this.#placeSync(entry.temp, entry.target, files[entry.index].path);
          }
        } catch (error) {
          outcomes[entry.index] = error as Error;
        } finally {
          _unlinkQuietSync(entry.temp);
        }
      }
    }
    return outcomes;
  }

  /**
   * Lets the sync that written batches wait for start without waiting out its interval (see
   * {@linkcode FileSystemSync.hasten}): the caller writes no more for now and waits for them.
   */
  hastenSync(): void {
    this.#fsSync?.hasten();
  }

  /**
   * Gives the file at `stagedPath` (in the state folder) the name `relPath` as well, without
   * replacing anything (see `_linkSync`), unless `relPath` was marked with
   * {@linkcode MirrorDir.replaceOnPlace}.
   */
  async placeFile(stagedPath: string, relPath: string): Promise<void> {
    _assertPlaceable(relPath);
    const dir = await this.ensureDir(_parentOf(relPath));
    const refused = this.#swappedSince(_parentOf(relPath), dir);
    if (refused !== undefined) throw refused;
    // In the same turn as the link, as the file's folders are: the state folder swapped for a link
    // since the partial was opened would have the link name a file of wherever it leads (another
    // mirror's partial of the same item, half written) in the mirror.
    this.#assertStagingInPlace();
    this.#placeSync(stagedPath, _childPath(dir, _leafOf(relPath)), relPath);
  }

  /**
   * Why nothing more may be written in the mirror or its state folder this pass, when its root (by
   * the path it was opened at) or its state folder became a symlink since: every path of the pass
   * through it would lead where the link does. Undefined while both are in place.
   */
  rootSwapped(): string | undefined {
    // The root, then its state folder (records, manifest, staged files, partial downloads). A disk
    // mounted at the root (or above it) that dropped out during the pass leaves a bare folder of
    // the file system below, on another device: the pass wrote the rest of the set onto the SD
    // card there, and reported success.
    const swapped = swappedFolder(this.root, STATE_DIR_NAME, {
      device: this.#device,
      inodes: this.#inodes,
    });
    if (swapped === undefined) return undefined;
    return `${_folderName(this.root, swapped)} ${
      _becameDuringPass(this.root, swapped, this.#device)
    }: nothing more is written there`;
  }

  #assertRootInPlace(): void {
    const moved = this.rootSwapped();
    if (moved !== undefined) throw new Deno.errors.PermissionDenied(moved);
  }

  /**
   * Throws when the root, its state folder or the staging folder in it (`partial`) became a symlink
   * (or another file system's) since the pass opened them: a partial opened there, or a stale one
   * removed, would be a file of wherever the link leads (every file of that folder, for a cleanup).
   */
  #assertStagingInPlace(): void {
    const relDir = `${STATE_DIR_NAME}/${PARTIAL_DIR_NAME}`;
    const swapped = swappedFolder(this.root, relDir, {
      device: this.#device,
      inodes: this.#inodes,
    });
    if (swapped === undefined) return;
    throw new Deno.errors.PermissionDenied(
      `${_folderName(this.root, swapped)} ${
        _becameDuringPass(this.root, swapped, this.#device)
      }: nothing more is written or removed there`,
    );
  }

  /**
   * The error refusing to name files in `relDir` when a folder on the way from the root (the root
   * included) became a symlink since this pass made or found it (with `gone`, or is gone). A
   * folder that was a link inside the mirror when it was made (`ensureDir` allows one) is checked
   * at the real path it resolved to: a folder on that path swapped for a link out of the mirror
   * since would take the files.
   */
  #swappedSince(
    relDir: string,
    realDir: string,
    options: { gone?: boolean } = {},
  ): Error | undefined {
    const real = realDir === this.root ? "" : relative(this.root, realDir).split(sep).join("/");
    const swapped = swappedFolder(this.root, real, options);
    return swapped === undefined ? undefined : new Deno.errors.PermissionDenied(
      `refusing to write into ${relDir || "."}: ${_folderName(this.root, swapped)} ` +
        _becameDuringPass(this.root, swapped, undefined),
    );
  }

  /**
   * Marks files that came from an item the platform has replaced under the same name: the next
   * file placed at each of these paths takes the old one's place at once (a `rename` over it, so
   * that a reader finds the old file or the new one, never none), once, and only while what is
   * there is the very file marked (same size and mtime): one the user wrote there while the
   * download ran is kept. Until then the old file stays: a download that fails leaves it in place.
   */
  replaceOnPlace(relPath: string): void {
    assertRelativePath(relPath);
    // Looked at between two looks at its folders, as a stale file is: through a folder swapped for
    // a link it would be a file of wherever the link leads, which the rename would then replace.
    let marked: _Checked | undefined;
    try {
      marked = _removable(this.root, relPath, this.#device, "replace");
    } catch (error) {
      // Not marked: the new version is refused when it comes, with this reason (a link would
      // replace nothing and fail, told as a file of the user's kept). A folder at the path goes
      // the way of any name taken.
      if (!(error instanceof Deno.errors.IsADirectory)) {
        this.#refusedReplacements.set(relPath, error as Error);
      }
      return;
    }
    this.#refusedReplacements.delete(relPath);
    if (marked?.info.isFile) this.#replaceable.set(relPath, marked.info);
  }

  /** True while `relPath` is marked by {@linkcode MirrorDir.replaceOnPlace} (not placed yet). */
  replacesOnPlace(relPath: string): boolean {
    return this.#replaceable.has(relPath);
  }

  /**
   * Paths marked by `replaceOnPlace` whose file changed before its replacement came (someone wrote
   * there): kept, and no longer the file the mirror placed.
   */
  get changedBeforeReplaced(): ReadonlySet<string> {
    return this.#changedBeforeReplaced;
  }

  /**
   * The size of the regular file at `relPath` (never read through a symlink), or undefined when
   * there is none.
   */
  fileSize(relPath: string): Promise<number | undefined> {
    return fileSizeUnder(this.root, relPath);
  }

  /**
   * Removes the file (or symlink, never its target) at `relPath`, a path from this pass's walk.
   * Resolves to false when it was already gone. Refuses what {@linkcode removeFileUnder} refuses.
   * The file is first moved into the state folder (see `#moveAsideAll`, synchronous: one atomic
   * `rename` on the mirror's own file system), and unlinked there only when what was moved is the
   * file checked in place: a folder on its way swapped for a link since the check would have the
   * rename take a file of wherever the link leads, which goes back, never deleted. Only the
   * `unlink` in the state folder goes through the thread pool, so that several run at once: an
   * `unlink` of a file already on disk waits for the device (a `discard` on this project's VM:
   * 0.26 ms each), and several at once overlap those waits (`deleteStale` says how many run at
   * once, and what that was measured to save).
   */
  async remove(relPath: string): Promise<boolean> {
    return await this.removeAll([relPath])[0]();
  }

  /**
   * Removes the files at `relPaths` as {@linkcode MirrorDir.remove} does each, the moves of one
   * folder's files into the state folder made now, together (see `#moveAsideAll`): resolves to one
   * function per path, in order, that ends its removal (the `unlink` in the state folder, through
   * the thread pool) and resolves as `remove` does (or rejects with its refusal). Each function is
   * to be called once; a moved file whose function is never called stays in the state folder until
   * the next open. The caller bounds how many files go at once (`deleteStale`: a folder's files, at
   * most `_FILES_PER_LOOK`).
   */
  removeAll(relPaths: readonly string[]): (() => Promise<boolean>)[] {
    const moved = this.#moveAsideAll(relPaths);
    return relPaths.map((relPath, index) => async () => {
      const aside = moved[index];
      if (aside instanceof Error) throw aside;
      if (aside === undefined) return false;
      try {
        // A fresh name of the state folder: only what was moved there.
        if (aside !== _REMOVED_IN_PLACE) await Deno.remove(aside);
      } catch (error) {
        // Gone from its name already; a state folder swapped since leaves it to the next open.
        if (!_isGone(error)) throw error;
      }
      this.#removed(relPath);
      return true;
    });
  }

  /** What a removal of `relPath` changes in what the pass knows of the mirror's folders. */
  #removed(relPath: string): void {
    this.#mayBeEmpty.add(_parentOf(relPath));
    // A folder may be made where the file was: forget the failures cached for it and below it,
    // under any spelling a case-insensitive disk takes for it (`Dir` removed, `dir/` to be made).
    const removed = foldLetterCase(relPath);
    if (!this.#dirsFolded.has(removed)) return;
    for (const dir of this.#dirs.keys()) {
      const folded = foldLetterCase(dir);
      if (folded === removed || folded.startsWith(`${removed}/`)) this.#dirs.delete(dir);
    }
  }

  /**
   * For a pass that deletes: from now on an empty folder where a listed file goes is removed
   * (`rmdir`) for the file, unless `protectedDirs()` (asked each time: a pass adds the folders
   * protected links lead to as it finds them) keeps it (see {@linkcode prunableDirs}). One a pass
   * killed before its prune left failed that file every pass. Until then, or without `delete`, such
   * a folder stays: a conflict reported every pass.
   */
  clearFoldersInTheWay(protectedDirs: () => readonly string[]): void {
    this.#protectedDirs = protectedDirs;
  }

  /**
   * Removes the folders this pass's removals emptied (and those above that this empties), keeping
   * `protectedDirs` (see {@linkcode pruneEmptyDirs}). The rest of the tree is not read again. A folder
   * that cannot be removed (no permission, read-only) is kept and told to `onKept`.
   */
  prune(
    protectedDirs: string[],
    onKept?: (dir: string, error: Error) => void,
  ): Promise<string[]> {
    return pruneEmptyDirs(this.root, { protectedDirs, candidates: this.#mayBeEmpty, onKept });
  }

  /** Space on the mirror's file system. */
  freeSpace(): Promise<FreeSpace> {
    return freeSpace(this.root);
  }

  /** Releases the lock. Calling it again does nothing. */
  close(): Promise<void> {
    return this.#lock.release();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Moves each file of `relPaths` to a fresh name in the state folder
   * (`stale-<ino>-<size>-<mtime>-<uuid>`), and answers that name (in order) once what the rename
   * moved is the file `lstat` found at its path in place (between two looks at every folder on its
   * way that found them unchanged: see {@linkcode _removableInFolder}, one pair of looks for the
   * files of each folder): Deno has no `unlinkat`, so a removal by path resolves the path again,
   * and a folder swapped for a link meanwhile would have it remove a file of wherever the link
   * leads (another mirror's folder of the same name). Anything else the rename took (that file, or
   * one written at the name since) is put back at once by `link`, which replaces nothing, and its
   * removal fails saying so; when the name is taken meanwhile it is kept in the state folder as
   * `kept-<ino>-<size>-<mtime>-<uuid>` and the error says where. Undefined when there is nothing to
   * remove; {@linkcode _REMOVED_IN_PLACE} when the file was unlinked where it was, right after a
   * check of its own (the state folder swapped for a link, or a disk too full for the rename:
   * `ENOSPC`); the error when it is refused, an {@linkcode OwnMountError} for a file on a mount of
   * its own (`EXDEV`: kept).
   *
   * Why the check may come a few files before the rename (all in one synchronous run, nothing else
   * in between: a folder's files looked at, then each renamed and checked): what makes the delete
   * safe is the check after the rename, on the inode. A file looked at between two equal looks at
   * its folders is the mirror's own, wherever a link swapped in later leads; the rename moves, from
   * wherever the path leads then, a name into the state folder, and only the mirror's file (same
   * device and inode, and same size and modification time) is unlinked there. Through a
   * link to another folder the rename takes that folder's file, whose inode differs, and puts it
   * back. The one way a foreign file could pass is an inode number freed and reused within that
   * run: the mirror's file removed by someone else after its look, and a file made with its number
   * where the link leads; its modification time then differs (made after the look), unless set back
   * on purpose. The state folder is checked once per folder, before its files' looks. What
   * remains: a folder swapped for a link before the looks, back before the second, both within a
   * change-time tick (see `_removableInFolder`); and a foreign file put back through a folder
   * swapped back in between (kept in the state folder as `kept-<...>`: misplaced, not deleted).
   */
  #moveAsideAll(relPaths: readonly string[]): (string | undefined | Error)[] {
    const root = this.root;
    const moved: (string | undefined | Error)[] = relPaths.map(() => undefined);
    const byFolder = new Map<string, number[]>();
    relPaths.forEach((relPath, index) => {
      const folder = _parentOf(relPath);
      const indices = byFolder.get(folder);
      if (indices === undefined) byFolder.set(folder, [index]);
      else indices.push(index);
    });
    for (const indices of byFolder.values()) {
      // The state folder looked at before the folder's files, not between a look and its rename:
      // nothing more there for a folder swapped meanwhile to fit in. Swapped for a link after this
      // look, it takes a file of this mirror under a fresh name and replaces nothing. The root
      // itself no longer the folder it was (a link, another disk, another folder moved into its
      // place): its files, however alike, are not the ones the walk found (the looks below compare
      // folders with each other, not with the walk's), and none of them goes.
      const swapped = swappedFolder(root, STATE_DIR_NAME, {
        device: this.#device,
        inodes: this.#inodes,
      });
      if (swapped === ".") {
        const refused = new Deno.errors.PermissionDenied(
          `refusing to delete in ${root}: it ${_becameDuringPass(root, swapped, this.#device)}`,
        );
        for (const index of indices) moved[index] = refused;
        continue;
      }
      const stateDirInPlace = swapped === undefined;
      let checks: (_Checked | undefined | Error)[];
      try {
        checks = _removableInFolder(root, indices.map((index) => relPaths[index]), this.#device);
      } catch (error) {
        // A folder on the way that cannot be looked at (no search permission since the walk, a
        // path longer than the system takes): its files' removals fail, not the others'.
        checks = indices.map(() => error as Error);
      }
      indices.forEach((index, i) => {
        const checked = checks[i];
        try {
          moved[index] = checked === undefined || checked instanceof Error
            ? checked
            : this.#moveAsideChecked(relPaths[index], checked, stateDirInPlace);
        } catch (error) {
          moved[index] = error as Error;
        }
      });
    }
    return moved;
  }

  /**
   * Unlinks the file at `relPath` where it is, by path, right after its own look between two looks
   * at its folders: an unlink has no check after it, as a move aside has, so it is not left to a
   * look made for its folder's files before some of them were moved.
   */
  #removeInPlace(relPath: string): string | undefined {
    const checked = _removable(this.root, relPath, this.#device);
    return checked === undefined ? undefined : _removeInPlaceSync(checked.path);
  }

  /** The move of one file `#moveAsideAll` checked (see there). */
  #moveAsideChecked(
    relPath: string,
    checked: _Checked,
    stateDirInPlace: boolean,
  ): string | undefined {
    // The state folder swapped for a link (the mirror's own folders were checked): the file is
    // unlinked where it is, with nothing moved where the link leads.
    const aside = join(this.stateDir, _staleName(checked.info));
    try {
      if (!stateDirInPlace) return this.#removeInPlace(relPath);
      Deno.renameSync(checked.path, aside);
    } catch (error) {
      if (_isGone(error) && lstatIfThereSync(checked.path) === undefined) return undefined;
      const code = (error as { code?: string }).code ?? "";
      // No move out of a mount of its own (a bind mount of a folder of the mirror's own disk, made
      // since the walk, which passes such a folder by: a user's folder bound in from outside the
      // mirror, a container's volume): not the mirror's, as a disk mounted there is not. Unlinked
      // by path, such a folder of the user's own files was emptied by the first pass with delete.
      if (code === "EXDEV") {
        // The file's folder on the root's own mount: the "cross-device" is not its. On FUSE, a pool
        // of disks (mergerfs with a path-preserving create policy such as epmfs, Debian 12's
        // default) answers EXDEV for a move between its branches, inside one mount; elsewhere the
        // state folder is the mount of its own (`.data-mirror` bind-mounted: a container's volume
        // for the state), where each file kept as if on a mount of its own left every stale file in
        // place, pass after pass, with nothing failed. The mirror's own file, unlinked where it is,
        // right after a check of its own (as with the state folder a link). Told apart before the
        // FUSE answer: a folder bound in on a pool is the user's there too.
        if (mountOf(dirname(checked.path), this.root) === "same") {
          return this.#removeInPlace(relPath);
        }
        throw new OwnMountError(relPath);
      }
      // A full disk whose rename needs space an unlink does not (btrfs: ENOSPC), where deleting is
      // what frees it: unlinked where it is, right after a check of its own.
      if (_IN_PLACE_CODES.has(code)) return this.#removeInPlace(relPath);
      throw error;
    }
    if (_isFileLookedAt(checked.info, lstatIfThereSync(aside))) return aside;
    try {
      if (linkNoReplaceSync(aside, checked.path) === "linked") Deno.removeSync(aside);
    } catch (error) {
      const kept = join(
        this.stateDir,
        `${_KEPT_PREFIX}${basename(aside).slice(_STALE_PREFIX.length)}`,
      );
      Deno.renameSync(aside, kept); // out of the names the next open clears
      throw new Deno.errors.AlreadyExists(
        `refusing to remove ${relPath}: the file there changed while it was removed, and its ` +
          `name was taken again before it could go back (${(error as Error).message}); it is ` +
          `kept in ${kept}`,
      );
    }
    // Told, not passed over in silence: a pass after pass that never deletes it would say nothing.
    throw new Deno.errors.PermissionDenied(
      `refusing to remove ${relPath}: what its name held when it was moved is not the file looked ` +
        "at there a moment before (a folder on its way swapped for a link, or the file replaced " +
        "or written meanwhile); it was put back",
    );
  }

  /** Names a staged file: a link, or a rename over a file marked to be replaced. */
  #placeSync(from: string, to: string, relPath: string): void {
    const marked = this.#replaceable.get(relPath);
    this.#replaceable.delete(relPath);
    const refused = this.#refusedReplacements.get(relPath);
    this.#refusedReplacements.delete(relPath);
    if (refused !== undefined) throw refused;
    try {
      if (marked !== undefined) {
        // Looked at again between two looks at its folders, in the same turn as the rename: the
        // batch's one look at its folders came before the files named ahead of it, and a folder
        // swapped for a link since would have the rename replace a file of wherever it leads (a
        // reviewer's program flipping one every 20-50 µs: 2 to 7 files outside the mirror
        // replaced in 3 of 8 passes, before 2026-12-07). Refused (thrown) when one was swapped.
        const [now] = _removableInFolder(this.root, [relPath], this.#device, "replace");
        // A folder there now goes the way of any name taken (a conflict, or cleared for the file).
        if (now instanceof Error && !(now instanceof Deno.errors.IsADirectory)) throw now;
        if (now !== undefined && !(now instanceof Error) && _sameFile(marked, now.info)) {
          Deno.renameSync(from, to); // replaces the file itself (a symlink swapped in: the link)
          return;
        }
        this.#changedBeforeReplaced.add(relPath);
      }
      try {
        _linkSync(from, to, relPath); // anything else there now stays (EEXIST: counted as kept)
      } catch (error) {
        if (!(error instanceof FolderInTheWayError) || !this.#clearedForFile(to, relPath)) {
          throw error;
        }
        _linkSync(from, to, relPath);
      }
    } catch (error) {
      // Named across mounts: the state folder's and the file's folder are not on one.
      if ((error as { code?: string }).code !== "EXDEV") throw error;
      throw _crossDeviceWrite(this.root, relPath, to);
    }
  }

  /**
   * Removes the empty folder at `to` (the path of `relPath`, its folder checked in this turn) for a
   * file when {@linkcode MirrorDir.clearFoldersInTheWay} was called and the folder is not protected:
   * whether it went. An `rmdir`, so a folder that holds anything (or is a mount point, or a symlink
   * now) stays.
   */
  #clearedForFile(to: string, relPath: string): boolean {
    const protectedDirs = this.#protectedDirs?.();
    if (protectedDirs === undefined || !prunableDirs(protectedDirs)(relPath)) return false;
    const removed = removeEmptyDirSync(to, (error) => {
      this.#warn?.(`kept the empty folder ${relPath} where a listed file goes: ${error.message}`);
    });
    if (removed) {
      this.#removed(relPath);
      this.#warn?.(
        `removed the empty folder ${relPath}: a listed file of that name goes there (delete is on)`,
      );
    }
    return removed;
  }

  async #makeDir(relDir: string): Promise<string> {
    assertRelativePath(relDir);
    this.#assertRootInPlace();
    if (isStateDirPath(relDir)) {
      throw new Deno.errors.PermissionDenied(`refusing ${relDir}: inside the program's state dir`);
    }
    const slash = relDir.lastIndexOf("/");
    const parent = await this.ensureDir(slash < 0 ? "" : relDir.slice(0, slash));
    const path = join(parent, relDir.slice(slash + 1));
    let info: Deno.FileInfo | undefined;
    // What stood in the way may go between the mkdir and the look (a stale file this pass removes
    // where a listed item needs the folder): the folder is made then, not the download failed.
    for (let tries = 0; info === undefined; tries++) {
      try {
        await Deno.mkdir(path, { mode: _DIR_MODE });
        return path; // just made below a checked real folder: real and inside
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists)) {
          throw _nameRefusedOr(error, relDir, parent);
        }
      }
      try {
        info = await Deno.lstat(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound) || tries >= 2) throw error;
      }
    }
    if (info.isDirectory) return path;
    if (!info.isSymlink) {
      throw new Deno.errors.NotADirectory(
        `cannot create ${relDir}: a file is where a folder is needed`,
      );
    }
    let real: string;
    try {
      real = await Deno.realPath(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Deno.errors.NotFound(`cannot create ${relDir}: it is a dangling symlink`);
      }
      throw error;
    }
    const inside = relative(this.root, real);
    const parts = inside.split(sep);
    // A state folder anywhere on the way, not only the mirror's own: a mirror made inside this one
    // before it (kept working) has its records there, which a file written in would corrupt.
    if (
      inside === "" || parts[0] === ".." || inside.startsWith(sep) || parts.includes(STATE_DIR_NAME)
    ) {
      throw new Deno.errors.PermissionDenied(
        `refusing ${relDir}: it is a symlink to ${real}, outside the mirror or in a state folder`,
      );
    }
    if (!(await Deno.stat(real)).isDirectory) {
      throw new Deno.errors.NotADirectory(`cannot create ${relDir}: it leads to a file`);
    }
    return real;
  }
}

/**
 * Removes the file (or symlink, never its target) at `relPath` below the real folder `root`, a path
 * from a walk that never descends into a symlinked folder (this pass's, or a push pass's). Returns
 * false when it was already gone. Refuses the state folder, a directory, and a path through a
 * folder that is no longer one (swapped for a symlink, or changed while it was looked at, since the
 * walk: see `_removable`).
 *
 * Synchronous, check and `unlink` back to back: the push side deletes a file right after checking
 * that it is still the one it uploaded. The `lstat` is what refuses a directory: Deno's removal
 * (`Deno.remove`, and `node:fs` `unlink` too, which calls it) removes an empty directory where
 * `unlink(2)` would refuse it.
 */
export function removeFileUnder(root: string, relPath: string): boolean {
  const checked = _removable(root, relPath);
  return checked !== undefined && _removeInPlaceSync(checked.path) === _REMOVED_IN_PLACE;
}

/** What the checks of a removal found: the file's absolute path, and what `lstat` found there. */
interface _Checked {
  path: string;
  info: Deno.FileInfo;
}

/**
 * The checks of a removal: the absolute path of `relPath` when it may be removed, with what `lstat`
 * found there; undefined when it is gone (or its folder is, or is a file now); throws when it is
 * refused. See {@linkcode _removableInFolder}, which it is for one file.
 */
function _removable(
  root: string,
  relPath: string,
  device?: number,
  doing: "remove" | "replace" = "remove",
): _Checked | undefined {
  const [checked] = _removableInFolder(root, [relPath], device, doing);
  if (checked instanceof Error) throw checked;
  return checked;
}

/**
 * The checks of the removal of each of `relPaths`, files of one folder, in order: as
 * {@linkcode _removable} answers for each, its refusal as the error instead of thrown. The files are
 * looked at (`lstat`, back to back, nothing else in between) between two looks at each folder from
 * `root` down to theirs, which must find them unchanged ({@linkcode foldersOnWay}: inode and
 * times): a local program can put a link where a folder was only by moving or removing that folder,
 * which changes its inode or its times, so a file looked at between two equal looks was looked at
 * in the folder itself, and `MirrorDir` can tell that file (its device and inode) from one a rename
 * takes through a link swapped in later. One pair of looks for a folder's files, not one per file:
 * each look is an `lstat` of every folder on the way. A folder changed in between (a file made in
 * it) is looked at again, a few times; a folder's files that never found it still are then checked
 * one by one. What is left: Deno gives the times to the millisecond at best (the change time to
 * the second), so a folder moved away and back within the millisecond of its last change is not
 * told.
 */
function _removableInFolder(
  root: string,
  relPaths: readonly string[],
  device?: number,
  doing: "remove" | "replace" = "remove",
): (_Checked | undefined | Error)[] {
  const found: (_Checked | undefined | Error)[] = relPaths.map(() => undefined);
  const looked: number[] = [];
  relPaths.forEach((relPath, index) => {
    try {
      assertRelativePath(relPath); // also refuses "" and ".", the root itself
    } catch (error) {
      return void (found[index] = error as Error);
    }
    if (isStateDirPath(relPath)) {
      return void (found[index] = new Deno.errors.PermissionDenied(
        `refusing to ${doing} ${relPath}: inside the state dir`,
      ));
    }
    looked.push(index);
  });
  if (looked.length === 0) return found;
  const way = relPaths[looked[0]];
  const paths = looked.map((index) => join(root, relPaths[index]));
  for (let attempt = 1;; attempt++) {
    const before = foldersOnWay(root, way, { device });
    const infos = paths.map((path): Deno.FileInfo | undefined | Error => {
      try {
        return Deno.lstatSync(path);
      } catch (error) {
        return _isGone(error) ? undefined : error as Error;
      }
    });
    const after = foldersOnWay(root, way, { device });
    if (typeof before === "string" && before === after) {
      looked.forEach((index, i) => {
        const info = infos[i];
        found[index] = info === undefined || info instanceof Error
          ? info
          : info.isDirectory
          ? new Deno.errors.IsADirectory(`refusing to ${doing} ${relPaths[index]}: not a file`)
          : { path: paths[i], info };
      });
      return found;
    }
    // A folder on the way is a link now (or another file system's): refused, naming it. Gone, it
    // leaves nothing to remove.
    const swapped = typeof after === "object" ? after : before;
    if (typeof swapped === "object") {
      for (const index of looked) {
        found[index] = new Deno.errors.PermissionDenied(
          `refusing to ${doing} ${relPaths[index]}: ${_folderName(root, swapped.swapped)} ` +
            _becameDuringPass(root, swapped.swapped, device),
        );
      }
      return found;
    }
    if (before === undefined || after === undefined) return found;
    if (attempt === _LOOKS_AT_FOLDERS) {
      // A folder written to all along (files made in it): fewer looks between its two looks.
      if (looked.length > 1) {
        for (const index of looked) {
          found[index] = _removableInFolder(root, [relPaths[index]], device, doing)[0];
        }
        return found;
      }
      const only = relPaths[looked[0]];
      const why = "a folder on its way kept changing while it was checked";
      found[looked[0]] = new Deno.errors.PermissionDenied(`refusing to ${doing} ${only}: ${why}`);
      return found;
    }
  }
}

/** How many times {@linkcode _removable} looks at a file whose folders changed meanwhile. */
const _LOOKS_AT_FOLDERS = 3;

/**
 * What became of a folder `swappedFolder` named (a symlink, another file system's, another folder
 * or none), the root's device being `device`.
 */
function _becameDuringPass(root: string, swapped: string, device: number | undefined): string {
  const path = swapped === "." ? root : join(root, swapped);
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    return "was moved away or removed during the pass";
  }
  if (info.isSymlink) return "became a symlink during the pass (not followed)";
  if (device !== undefined && info.dev === device) {
    return "was replaced by another folder during the pass (moved there)";
  }
  return swapped === "."
    ? "is on another file system than when the pass began (was its disk unmounted?)"
    : "became another file system's mount point during the pass";
}

/** How a folder `swappedFolder` found is named: by its path below `root`, or as `root` itself. */
function _folderName(root: string, relDir: string): string {
  return relDir === "." ? `the folder ${root} itself` : relDir;
}

/** Gone, or its folder is (or is a file now). */
function _isGone(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory;
}

/** The mirror-relative folder of a mirror-relative path (`""` for the root). */
function _parentOf(relPath: string): string {
  const slash = relPath.lastIndexOf("/");
  return slash < 0 ? "" : relPath.slice(0, slash);
}

/** The last segment of a normalised relative path (`basename` without its normalising). */
function _leafOf(relPath: string): string {
  return relPath.slice(relPath.lastIndexOf("/") + 1);
}

/**
 * `name` (one segment, checked) in the real folder `dir`: `join` without its normalising, which
 * for the two paths of each file of an inline batch allocated 14 MiB of a 10,020-file fresh copy's
 * 162 MiB (V8's sampling heap profiler).
 */
function _childPath(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

/** Throws unless `relPath` may receive a file: normalised, relative, not in the state folder. */
function _assertPlaceable(relPath: string): void {
  assertRelativePath(relPath);
  if (isStateDirPath(relPath)) {
    throw new Deno.errors.PermissionDenied(`refusing ${relPath}: inside the state folder`);
  }
}

/**
 * A folder stands where a file is to be placed (an empty one: the walk lists files, so the plan
 * did not see it). Nothing is replaced, as for any name taken, but unlike a file someone put
 * there it is a conflict to report, pass after pass, not a file kept.
 */
export class FolderInTheWayError extends Deno.errors.AlreadyExists {
  /** @param relPath Where the file was to go, mirror-relative. */
  constructor(relPath: string) {
    super(`a local directory is at ${relPath}; it is not replaced`);
    this.name = "FolderInTheWayError";
  }
}

/** Whether `path` itself (not followed if a symlink) is a directory. */
function _isDirectorySync(path: string): boolean {
  try {
    return Deno.lstatSync(path).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Whether `now` is still the file `marked` was: a regular file, of the same size and modification
 * time. Not the inode: FAT and exFAT give a file a new inode number when it drops out of the
 * cache, which a long download on a small machine may see; a file written there since has a new
 * mtime.
 */
function _sameFile(marked: Deno.FileInfo, now: Deno.FileInfo | undefined): boolean {
  return now !== undefined && now.isFile && now.size === marked.size &&
    now.mtime?.getTime() === marked.mtime?.getTime();
}

/**
 * Gives `from` the name `to` as well, without replacing anything: a hard link fails atomically with
 * EEXIST when the name is taken (by a file, a folder or a symlink, which is not followed). File
 * systems without hard links (FAT and exFAT sticks answer EPERM) fall back to check-then-rename, a
 * window open only to programs outside the engine, since the engine writes under the mirror lock.
 */
function _linkSync(from: string, to: string, relPath: string): void {
  try {
    linkNoReplaceSync(from, to);
  } catch (error) {
    // A file there is kept (someone put it there). A folder (an empty one, which the walk does not
    // see) is a conflict, reported every pass: counted as kept, the item would never arrive unseen.
    if (error instanceof Deno.errors.AlreadyExists) {
      throw _isDirectorySync(to)
        ? new FolderInTheWayError(relPath)
        : new Deno.errors.AlreadyExists(`refusing to overwrite ${relPath}: it exists`);
    }
    if ((error as { code?: string }).code === "EXDEV") throw error; // told by `#placeSync`
    throw _nameRefusedOr(error, relPath, dirname(to), from);
  }
}

/**
 * The error for a name the file system refused, when `error` is one (ENOENT with its folder and the
 * file being named there, or EINVAL: exfat-fuse and vfat refuse `: * ? " < > |` so), else `error`
 * itself: it said "No such file or directory", every pass.
 */
function _nameRefusedOr(
  error: unknown,
  relPath: string,
  folder: string,
  source?: string,
): unknown {
  const refused = (error as { code?: string }).code === "EINVAL" ||
    (error instanceof Deno.errors.NotFound && _isDirectorySync(folder) &&
      (source === undefined || lstatIfThereSync(source) !== undefined));
  return refused
    ? new Deno.errors.InvalidData(
      `cannot write ${relPath}: the file system refused the name (FAT and exFAT take no ` +
        '\\ : * ? " < > | in a name)',
    )
    : error;
}

/**
 * `fdatasync` of a file written and closed earlier (opened again: Linux reports a write-back error
 * no descriptor of the file has seen yet to one opened after it).
 */
async function _syncFile(path: string): Promise<void> {
  const file = await Deno.open(path, { read: true });
  try {
    await file.syncData(); // not `using`: see `syncDir`
  } finally {
    file.close();
  }
}

function _writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) {
    written += file.writeSync(written === 0 ? bytes : bytes.subarray(written));
  }
}

function _unlinkQuietSync(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // gone already, or never made: nothing to undo
  }
}

/** The name of a file an inline batch is writing in the state folder: `staged-<n>`. */
const _STAGED_PREFIX = "staged-";
const _STAGED_NAME = /^staged-\d+$/;
/**
 * What a move aside answers when the file is to be unlinked where it is instead: a full disk or
 * quota whose rename needs space (btrfs's metadata) an unlink does not.
 */
const _IN_PLACE_CODES = new Set(["ENOSPC", "EDQUOT"]);

/**
 * Why the file `relPath` could not be named `to` from the state folder: the system answered
 * "cross-device" (EXDEV). On FUSE, a pool of disks whose branches the link would cross (mergerfs
 * with a path-preserving create policy); else the folder `to` is in on a mount of its own
 * ({@linkcode OwnMountError}), or, that folder on the mirror `root`'s own mount, the state folder.
 */
function _crossDeviceWrite(root: string, relPath: string, to: string): Error {
  const onFuse = isOnFuse(dirname(to));
  if (!onFuse && mountOf(dirname(to), root) === "same") {
    // The folder is on the root's own mount: the state folder is the mount of its own.
    return new Deno.errors.NotSupported(
      `cannot write ${relPath}: the mirror's ${STATE_DIR_NAME} folder is a mount of its own ` +
        '(a bind mount), and no file staged in it can be named in the mirror ("cross-device"): ' +
        `unmount it (the ${STATE_DIR_NAME} folder is the mirror's, on the mirror's own mount)`,
    );
  }
  if (!onFuse) return new OwnMountError(relPath, { written: true });
  return new Deno.errors.NotSupported(
    `cannot write ${relPath}: the file system (FUSE) refused to link it from the mirror's ` +
      `${STATE_DIR_NAME} folder into its folder ("cross-device"): a pool of disks whose folders ` +
      "lie on different disks? With mergerfs, use a create policy that is not path-preserving " +
      "(category.create=mfs or pfrd instead of epmfs)",
  );
}

/**
 * A file of the mirror's walk that lies on a mount of its own inside the mirror (`EXDEV` to a move
 * into, or a link from, the state folder): a bind mount of a folder of the mirror's own file system,
 * which `lstat` cannot tell from a folder. Like a disk mounted in the mirror, it is not the
 * mirror's: nothing is deleted or written there. Its `code` is `EXDEV`.
 */
export class OwnMountError extends Error {
  readonly code = "EXDEV";
  /** @param relPath The file, mirror-relative; `options.written`: it was to be written there. */
  constructor(relPath: string, options?: { written?: boolean }) {
    super(
      `${options?.written ? "cannot write" : "not removing"} ${relPath}: a folder on its way is ` +
        "a mount of its own inside the mirror (a bind mount), not the mirror's: nothing is " +
        `${options?.written ? "written" : "deleted"} there (mount it outside the mirror, or ` +
        "mount the disk at the mirror itself)",
    );
    this.name = "OwnMountError";
  }
}
/** What `#moveAsideAll` answers for a file it unlinked where it was (nothing moved aside). */
const _REMOVED_IN_PLACE = "";

/** Unlinks `path` (a symlink itself, never its target): {@linkcode _REMOVED_IN_PLACE}, or undefined when gone. */
function _removeInPlaceSync(path: string): string | undefined {
  try {
    Deno.removeSync(path);
    return _REMOVED_IN_PLACE;
  } catch (error) {
    if (_isGone(error)) return undefined;
    throw error;
  }
}

/**
 * A file being removed, moved into the state folder first (see `MirrorDir.remove`), under a name
 * that says which file it is to be (inode, size, modification time): a kill between its move and
 * its check left there what may be another file (one written at that moment), which the next open
 * is to keep, not remove.
 */
const _STALE_PREFIX = "stale-";
const _STALE_NAME =
  /^stale-(?:(\d+)-(\d+)-(-?\d+|x)-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function _staleName(looked: Deno.FileInfo): string {
  const mtime = looked.mtime?.getTime() ?? "x";
  return `${_STALE_PREFIX}${looked.ino}-${looked.size}-${mtime}-${crypto.randomUUID()}`;
}

/**
 * Whether the file moved aside as `name` (a `_STALE_NAME`) is the one its name says, or the name is
 * of a version before 2026-12-06 (eighth session), which said nothing.
 */
function _isStaleAsNamed(name: string, info: Deno.FileInfo, stableInodes: boolean): boolean {
  const [, ino, size, mtime] = _STALE_NAME.exec(name) ?? [];
  if (ino === undefined) return true;
  // Where a remount (a power cut, a stick plugged in again) numbers the file afresh, its size and
  // time alone: a leftover of the mirror's own kept for good, warned about as a user's.
  return info.isFile && (!stableInodes || String(info.ino) === ino) && String(info.size) === size &&
    String(info.mtime?.getTime() ?? "x") === mtime;
}
/** A file a removal moved and could not put back (its name taken again meanwhile): kept. */
const _KEPT_PREFIX = "kept-";
/** Where versions before 2026-12-02 wrote them (a folder of its own, one level deeper). */
const _LEGACY_STAGING_DIR = "tmp";

/** The device of the deepest folder of `mirrorPath` below `viamHome` that exists (not followed). */
async function _nearestDevice(
  viamHome: string,
  mirrorPath: string,
  seenDevice: number,
): Promise<number> {
  const split = splitRelativePath(mirrorPath);
  const components = split.ok ? split.components : [];
  for (let n = components.length; n > 0; n--) {
    const dev = await _deviceOf(join(viamHome, ...components.slice(0, n)), Deno.lstat);
    if (dev !== undefined) return dev;
  }
  const home = await _deviceOf(viamHome, Deno.stat);
  if (home !== undefined) return home;
  // The home itself gone (removed to start afresh, or a dropped disk's mount point cleaned up):
  // its parent cannot be looked at (the program is confined to the home), so it is made again,
  // empty, where it was, and removed again when that is another file system than before.
  try {
    await Deno.mkdir(viamHome, { mode: _DIR_MODE });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    // Made meanwhile (another loop of the module): its device. Or a link whose target is gone (a
    // home moved to a disk that dropped out): no device of the loop's, refused as a dropped disk.
    return (await _deviceOf(viamHome, Deno.stat)) ?? -1;
  }
  const { dev } = await Deno.lstat(viamHome);
  if (dev !== seenDevice) await Deno.remove(viamHome);
  return dev;
}

/** The device of `path` by `stat` (`Deno.lstat` or `Deno.stat`), or undefined when nothing is there. */
async function _deviceOf(
  path: string,
  stat: (path: string) => Promise<Deno.FileInfo>,
): Promise<number | undefined> {
  try {
    return (await stat(path)).dev;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Removes what a killed pass left in the state folder `state` (real): files of an inline batch not
 * yet named, or named already (then this is a second name, and only that name goes), a placed
 * record being written, and the folder earlier versions staged them in. Whatever holds a staging
 * name goes, a folder too: left there, it would fail the file given that name on every pass.
 * Nothing is followed: a symlink goes itself, and a folder's removal does not descend into links.
 */
function _removeStagedLeftovers(root: string, warn?: (message: string) => void): void {
  const state = join(root, STATE_DIR_NAME);
  let stableInodes: boolean | undefined;
  for (const entry of Deno.readDirSync(state)) {
    const legacy = entry.name === _LEGACY_STAGING_DIR && entry.isDirectory;
    // A file moved aside to be removed (`stale-`) goes too: the kill came between its move and its
    // unlink, or, within the microseconds before its check, when it was moved; unless it is not
    // the file looked at (written at that moment), which is kept.
    const stale = _STALE_NAME.test(entry.name);
    const leftover = stale || _STAGED_NAME.test(entry.name) ||
      isAtomicLeftoverOf(entry.name, PLACED_RECORD_NAME) ||
      isAtomicLeftoverOf(entry.name, HELD_DELETES_NAME);
    if (!legacy && !leftover) continue;
    // In the same turn as each removal: a state folder swapped for a link since would have the
    // names removed where it leads (another mirror's batch being written).
    if (swappedFolder(root, STATE_DIR_NAME) !== undefined) return;
    const path = join(state, entry.name);
    try {
      if (
        stale &&
        !_isStaleAsNamed(entry.name, Deno.lstatSync(path), stableInodes ??= hasStableInodes(state))
      ) {
        const kept = join(state, `${_KEPT_PREFIX}${entry.name.slice(_STALE_PREFIX.length)}`);
        Deno.renameSync(path, kept);
        warn?.(
          `a file a stopped pass moved aside to delete changed as it was moved (written at that ` +
            `moment): not deleted, kept in ${kept}`,
        );
        continue;
      }
      Deno.removeSync(path, { recursive: entry.isDirectory });
    } catch {
      // gone meanwhile, or not ours to remove: the next open tries again
    }
  }
}

/**
 * Throws `MirrorLocationError` when a folder from the root down to `relDir` (`""`: the root alone)
 * became a symlink since `open` resolved the root: what `open` does next by path would be done
 * where the link leads.
 */
function _assertOpenedInPlace(root: string, relDir: string): void {
  const swapped = swappedFolder(root, relDir);
  if (swapped === undefined) return;
  throw new MirrorLocationError(
    `${_folderName(root, swapped)} became a symlink while the mirror was opened (not followed); ` +
      "nothing is written there",
  );
}

/**
 * Whether the mirror-relative `path` and `other` (names that differ only by case or Unicode form)
 * are one file under `root`: on a case-insensitive file system both names reach the same inode (or,
 * through FUSE, a name that no folder on its way holds exactly); on a case-sensitive one `other` is
 * another file, or none. A symlink at `other` answers whether it leads to `path`'s file (deleting
 * that would leave the listed name dangling; one leading elsewhere kept a stale file for good), and
 * anything else that stops the check (permissions) answers true: the file is kept. `names` caches
 * the folders read for the FUSE case (one per plan).
 */
export function isSameFileUnder(
  root: string,
  path: string,
  other: string,
  names: Map<string, Set<string>> = new Map(),
): boolean {
  assertRelativePath(path);
  assertRelativePath(other);
  try {
    const a = Deno.lstatSync(join(root, path));
    const b = Deno.lstatSync(join(root, other));
    if (a.dev === b.dev && a.ino === b.ino) return true;
    if (b.isSymlink) return _leadsTo(root, join(root, other), a);
    // A FUSE file system (exfat-fuse, fusefat) numbers each name it is asked for on its own, so
    // one file reached by two spellings shows two inodes. `other` found, though some folder on its
    // way lacks an entry of exactly its name, was reached by folding: it is the file `path` is,
    // if the two differ by case only (exFAT and FAT fold case, not Unicode form: "café" composed
    // and decomposed are two files there, and `other` may have reached the other one).
    if (foldLetterCase(path) !== foldLetterCase(other)) return false;
    return !_namedExactly(root, other, names);
  } catch (error) {
    // A name on the way that is no folder (a FIFO, a socket, a device file the walk passed by):
    // nothing is there, as for a name not found; on ext4 a listed path was taken for a file of
    // another spelling, reported in place and never fetched.
    return !(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory);
  }
}

/**
 * Whether the symlink `link` (under the mirror `root`) leads, through further links in the mirror,
 * to the file `target` is. Its targets are read (`readlink`), never followed by the kernel: one
 * that leaves the mirror does not lead to the mirror's file, and is not looked at (a user's link
 * to a hard-mounted NFS share whose server is down, or a stopped FUSE daemon, held the pass for
 * good when it was `stat`ed). A link that leads nowhere does not; one that cannot be read, or that
 * takes more than 8 hops, is taken to, so that the file is kept.
 */
function _leadsTo(root: string, link: string, target: Deno.FileInfo): boolean {
  for (let hop = 0; hop < 8; hop++) {
    let next: string;
    try {
      next = resolve(dirname(link), Deno.readLinkSync(link));
    } catch {
      return true;
    }
    const inside = relative(root, next);
    if (inside === "" || inside === ".." || inside.startsWith(`..${sep}`)) return false;
    // A link or another disk on the way there is not followed either: kept.
    if (swappedFolderOn(root, inside, { device: target.dev }) !== undefined) return true;
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(next);
    } catch (error) {
      return !(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory);
    }
    if (!info.isSymlink) return info.dev === target.dev && info.ino === target.ino;
    link = next;
  }
  return true;
}

/**
 * Whether every component of the mirror-relative `relPath` is an entry of exactly that name. Each
 * folder is read once per `names` (the caller's cache, one per plan): a folder of 10,000 files whose
 * items moved to another case of its name was read whole for each of them, 37 s for 5,000.
 */
function _namedExactly(root: string, relPath: string, names: Map<string, Set<string>>): boolean {
  let dir = root;
  for (const name of relPath.split("/")) {
    let entries = names.get(dir);
    if (entries === undefined) {
      entries = new Set();
      for (const entry of Deno.readDirSync(dir)) entries.add(entry.name);
      names.set(dir, entries);
    }
    if (!entries.has(name)) return false;
    dir = join(dir, name);
  }
  return true;
}

/**
 * Whether `moved` (what a rename took, looked at where it went) is the file `looked` found in place:
 * same device and inode, and, against an inode number freed and given to a file made since, the
 * same size and modification time (a rename changes neither; its change time it does). Not its
 * birth time: on overlayfs a file of the lower layer (a container image's) is copied up by the
 * rename, a new inode still reported under the old device and number, born at the rename.
 */
function _isFileLookedAt(looked: Deno.FileInfo, moved: Deno.FileInfo | undefined): boolean {
  return moved !== undefined && moved.dev === looked.dev && moved.ino === looked.ino &&
    moved.size === looked.size && moved.mtime?.getTime() === looked.mtime?.getTime();
}

/** Whether a directory itself (not a symlink to one) stands at `relPath` below `root`. */
export function isDirectoryUnder(root: string, relPath: string): boolean {
  assertRelativePath(relPath);
  return _isDirectorySync(join(root, relPath));
}

/**
 * The size of the regular file at `relPath` below `root` (never read through a symlink), or
 * undefined when there is none: {@linkcode MirrorDir.fileSize} for a mirror not opened (a dry run
 * takes no lock).
 */
export async function fileSizeUnder(root: string, relPath: string): Promise<number | undefined> {
  assertRelativePath(relPath);
  const info = await Deno.lstat(join(root, relPath)).catch(() => undefined);
  return info?.isFile ? info.size : undefined;
}

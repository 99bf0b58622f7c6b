/**
 * The plan of a pass, pure: from the listing and the mirror's files, what to download, what is in
 * place, what is stale, and whether `max_delete` or an empty listing holds the deletes back.
 *
 * @example
 * ```ts
 * const plan = planPass({
 *   remote: new Map(),
 *   local: new Map(),
 *   listingComplete: true,
 *   deleteEnabled: true,
 *   allowDeleteAll: false,
 *   protectedDirs: [],
 * });
 * plan.downloads.length; // 0
 * ```
 *
 * @module
 */
import { DEFAULT_MAX_DELETE, type DeleteLimit } from "../config.ts";
import type { LocalFile } from "../fs/local_files.ts";
import {
  directoriesOf,
  foldCase,
  isStateDirPath,
  parentDirectories,
  STATE_DIR_NAME,
} from "../paths.ts";
import type { ListedItem } from "./listing_index.ts";

/** What {@linkcode planPass} decides from. */
export interface PlanInput {
  /** The listing: path -> item (`ListingIndex.entries()`). */
  remote: ReadonlyMap<string, ListedItem>;
  /** What the mirror holds now: path -> file. */
  local: ReadonlyMap<string, LocalFile>;
  /** The listing ended on an empty page with no error at all. */
  listingComplete: boolean;
  /** The `delete` attribute. */
  deleteEnabled: boolean;
  /** The `allow_delete_all` attribute. */
  allowDeleteAll: boolean;
  /** The normalised `protected_dirs`. */
  protectedDirs: string[];
  /** Folders holding another mirror, which the walk passed by (`MirrorDir.nestedMirrors`). */
  nestedMirrors?: ReadonlySet<string>;
  /** Listed items whose names were refused (`ListingIndex.rejected`): they hold no path. */
  rejected?: number;
  /**
   * Listed paths that lost to a folder other items need (`ListingIndex.shadowed`): not in `remote`,
   * but listed, so a file there is never stale (it is taken for the listed item, as any file at a
   * listed path is).
   */
  shadowed?: ReadonlyMap<string, unknown>;
  /**
   * Whether the file at `path` is one the mirror placed (or took on as a listed item's), as its
   * placed record says: only such a file is ever stale, and `max_delete`'s share is of them. A file
   * the mirror never wrote (an operator's, another program's) is not its to delete, whatever the
   * platform lists (the original module's bug 9). Absent: every file is taken as the mirror's (a
   * plan on its own).
   */
  isOwn?: (path: string) => boolean;
  /** The `max_delete` attribute; {@linkcode DEFAULT_MAX_DELETE} when absent. */
  maxDelete?: DeleteLimit;
  /**
   * The mirror's deletable files before the pass that `max_delete` held back (`held_deletes.ts`):
   * its share is taken of no more files than that, so that the files the passes since placed do
   * not let through what it held back.
   */
  heldBase?: number;
  /**
   * Files this pass already removed where listed items need folders (gone from `local`): they
   * count against `max_delete` as its deletes do, and its share is of the mirror with them.
   */
  cleared?: number;
  /**
   * Whether the stale `path` on disk is the file the listed `listed` (the same name but for case or
   * Unicode form) names: true on a case-insensitive file system, false on a case-sensitive one,
   * where the listed name is another file or none. Absent: every such path counts as the same file
   * and is kept.
   */
  isSameFile?: (path: string, listed: string) => boolean;
}

/** One file to fetch. */
export interface Download {
  /** Where it goes, mirror-relative. */
  path: string;
  /** What to fetch. */
  item: ListedItem;
}

/** What one pass should do. */
export interface Plan {
  /** Files to fetch, sorted by path. */
  downloads: Download[];
  /** Remote items whose path already holds a local file (taken to be the same file). */
  skipped: number;
  /** Local files to remove, sorted. */
  deletes: string[];
  /** Why deletion was held back this pass, naming the attribute that would change it. */
  deleteBlocked?: string;
  /** When `max_delete` held the deletes back: the count of files its share was taken of. */
  limitBase?: number;
  /** Remote items that cannot be written without overwriting something, sorted by path. */
  conflicts: { path: string; reason: string }[];
}

/**
 * Plans one pass: pure, deterministic (everything sorted), no I/O.
 *
 * - A remote item whose path holds a local file is skipped: as the module has always documented, a
 *   file with a matching name is the same file and is not overwritten.
 * - A remote item whose path is a local directory, or whose directory is a local file, is a
 *   conflict: reported, nothing overwritten. When `delete` removes the local side (it is not
 *   listed), the next pass downloads the item.
 * - Deletes happen only with `delete` and after a complete listing. An empty listing while local
 *   files exist deletes nothing unless `allow_delete_all` (a mistyped tag lists nothing; that must
 *   not wipe the device). Otherwise a pass that would delete more than `max_delete` allows deletes
 *   none (all or nothing, as s3cmd and rclone `--max-delete`): a narrowed filter must not empty
 *   the mirror file by file. Messages name the attribute that changes the decision
 *   (`allow_delete_all: true`, `max_delete`); the CLI words them as its flags.
 * - Never deleted: a file whose path equals a listed one but for case or Unicode normalisation (on
 *   a case-insensitive file system it is that file), symlinks (the mirror writes only regular files, so a link is the user's), files
 *   in the program's state directory, and files in a protected directory or
 *   below it (`protected_dirs: ["models"]` keeps `models/a.tflite` and `models/x/b.bin`; an entry
 *   naming a file keeps that file). Protecting the contents, not only the empty directory as the
 *   original module did, is what a user listing a directory there expects.
 */
export function planPass(input: PlanInput): Plan {
  const localDirectories = directoriesOf(input.local.keys());
  const downloads: Download[] = [];
  const conflicts: { path: string; reason: string }[] = [];
  let skipped = 0;
  // The listing comes sorted (`ListingIndex.entries()`): a copy of its 100,000 paths to sort is
  // made only for a map that is not.
  const paths = _isSorted(input.remote.keys())
    ? input.remote.keys()
    : [...input.remote.keys()].sort();
  for (const path of paths) {
    const decision = planItem(path, input.local, localDirectories, input.nestedMirrors);
    if (decision === "skip") skipped++;
    else if (decision === "fetch") downloads.push({ path, item: input.remote.get(path)! });
    else conflicts.push({ path, reason: decision.conflict });
  }

  return { downloads, skipped, conflicts, ...planDeletes(input) };
}

/**
 * The delete half of {@linkcode planPass}, on its own: the stale files and whether its guards hold
 * them back. A streaming pass starts deleting with it once the listing is proved whole, while its
 * last downloads still run (they only ever place listed paths).
 */
export function planDeletes(input: PlanInput): _DeletePlan {
  if (!input.deleteEnabled) return { deletes: [] };
  // On a case-insensitive file system (macOS, FAT/exFAT sticks) `Photos/a.jpg` listed and
  // `photos/a.jpg` on disk are one file: never delete a path that a listed one folds to, unless
  // the file system shows they are two (an item renamed by case on ext4 left the old name behind).
  // One loop, no copy of the mirror's paths: a pass that deletes nothing makes no array.
  let deletable = 0;
  let stale: string[] = [];
  // `forEach`, not `for...of`: an iterator makes two objects per entry (10,000 each pass).
  input.local.forEach((file, path) => {
    // `max_delete`'s share is of the mirror's own files alone: counted among files it may never
    // delete (an operator's beside them), a listing that lost most of the set passed the guard.
    if (!isDeletable(path, file, input.protectedDirs) || !(input.isOwn?.(path) ?? true)) return;
    deletable++;
    if (!input.remote.has(path) && !input.shadowed?.has(path)) stale.push(path);
  });
  if (stale.length > 0) {
    // Folding every name costs more than the rest of a no-op plan: only when a file looks stale.
    const listedFolded = new Map([...input.remote.keys()].map((path) => [foldCase(path), path]));
    stale = stale.filter((path) => {
      const listed = listedFolded.get(foldCase(path));
      return listed === undefined || (input.isSameFile?.(path, listed) === false);
    }).sort();
  }
  const plan: _DeletePlan = { deletes: [] };
  if (stale.length === 0) return plan;
  if (!input.listingComplete) {
    plan.deleteBlocked = `the listing did not complete without errors: ${
      _files(stale.length)
    } not in it kept until a pass lists everything`;
  } else if (input.remote.size === 0 && !input.allowDeleteAll) {
    const [why, hint] = (input.rejected ?? 0) > 0
      ? [`every listed item's name was refused (${input.rejected}, see the warnings)`, ""]
      : ["the listing returned no files", "a wrong filter lists nothing; "];
    plan.deleteBlocked = `${why}: refusing to delete all ${
      _files(stale.length)
    } (${hint}allow_delete_all: true allows it)`;
  } else {
    const cleared = input.cleared ?? 0;
    const { base, held } = deleteShareBase(deletable + cleared, input.heldBase);
    const over = _limited(input)
      ? overDeleteLimit(stale.length + cleared, base, input.maxDelete, { held, removed: cleared })
      : undefined;
    if (over === undefined) plan.deletes = stale;
    else {
      plan.deleteBlocked = over;
      plan.limitBase = base;
    }
  }
  return plan;
}

/**
 * The conflict of an item whose path a local folder holds: a folder is never replaced by a file
 * (a dry run reports an empty one, which the plan cannot see, the same way).
 */
export const FOLDER_IN_THE_WAY = "a local directory is at this path; it is not replaced";

/**
 * What to do with one listed path given the mirror's files (`local`), the folders holding them
 * (`localDirectories`, from {@linkcode directoriesOf}) and the folders holding another mirror
 * (`nestedMirrors`): skip it (a file is there), fetch it, or report a conflict (a folder is there,
 * a file is where a folder is needed, or the path lies in another mirror, whose files are its own:
 * a file written there would be deleted by that mirror's next pass, and fetched again by this
 * one's). {@linkcode planPass} applies it to the whole listing; a streaming pass applies it to each
 * page as it arrives.
 */
export function planItem(
  path: string,
  local: ReadonlyMap<string, LocalFile>,
  localDirectories: ReadonlySet<string>,
  nestedMirrors: ReadonlySet<string> = _NONE,
): "skip" | "fetch" | { conflict: string } {
  if (local.has(path)) return "skip";
  if (nestedMirrors.size > 0) {
    // Compared without case or Unicode form too: on an exFAT stick `sub/x.jpg` lands in the nested
    // mirror `Sub`, and `USB/x.jpg` beneath a disk mounted at `usb` (exfat-fuse gives the other
    // spelling a node of its own, no mount point). On ext4 such an item is refused too: the safe side.
    const folded = _foldedOnce(nestedMirrors, () => new Set([...nestedMirrors].map(foldCase)));
    const nested = [...parentDirectories(path), path].find((dir) => folded.has(foldCase(dir)));
    if (nested !== undefined) {
      return {
        conflict: `${JSON.stringify(nested)} holds another mirror (its own ${STATE_DIR_NAME}), ` +
          "another file system mounted there (or a btrfs subvolume, or a bind mount), cannot be " +
          "read, or is the " +
          "lost+found (or a Windows folder) of a disk mounted at the mirror: nothing is " +
          "written in it",
      };
    }
  }
  if (localDirectories.has(path)) {
    return { conflict: FOLDER_IN_THE_WAY };
  }
  const blocker = parentDirectories(path).find((directory) => local.has(directory));
  if (blocker === undefined) return "fetch";
  // A link to a folder is no folder to the mirror, which follows none: said so, not called a file.
  return {
    conflict: local.get(blocker)?.symlink
      ? `the local symlink ${JSON.stringify(blocker)} is where a directory is needed (the ` +
        "mirror follows no link)"
      : `the local file ${JSON.stringify(blocker)} is where a directory is needed`,
  };
}

const _NONE: ReadonlySet<string> = new Set();

type _DeletePlan = Pick<Plan, "deletes" | "deleteBlocked" | "limitBase">;

/**
 * Whether the delete stage may ever remove the mirror's file at `path`: not a symlink, nothing in
 * the program's own folder, nothing under a protected dir. What `max_delete`'s share is taken of.
 */
export function isDeletable(
  path: string,
  file: LocalFile,
  protectedDirs: readonly string[],
): boolean {
  return !file.symlink && !isStateDirPath(path) && !isProtected(path, protectedDirs);
}

/**
 * Whether `max_delete` holds this pass's deletes back. Not on an empty listing that
 * `allow_delete_all` lets through, unless `max_delete` was set: the default's half would hold every
 * such deletion back, but a limit the operator chose holds, whatever the listing.
 */
function _limited(input: PlanInput): boolean {
  const limit = input.maxDelete ?? DEFAULT_MAX_DELETE;
  const isDefault = limit.files === DEFAULT_MAX_DELETE.files &&
    limit.percent === DEFAULT_MAX_DELETE.percent;
  return input.remote.size > 0 || !isDefault;
}

/**
 * What `max_delete`'s share is taken of: the mirror's `deletable` files, or the count kept when an
 * earlier pass was held back (`PlanInput.heldBase`) when that is fewer (`held`).
 */
export function deleteShareBase(
  deletable: number,
  heldBase: number | undefined,
): { base: number; held: boolean } {
  return heldBase !== undefined && heldBase < deletable
    ? { base: heldBase, held: true }
    : { base: deletable, held: false };
}

/**
 * Why `max_delete` (`limit`, the default when absent) holds back `count` removals out of the
 * mirror's `total` files, or undefined when it allows them: the same rule as the delete stage's,
 * for removals it does not plan (files cleared for a folder listed items need). `held`: `total` is
 * what the mirror held before an earlier pass was held back (`PlanInput.heldBase`), as said;
 * `removed`: that many of `count` are gone already (cleared this pass), the rest held back.
 */
export function overDeleteLimit(
  count: number,
  total: number,
  limit: DeleteLimit = DEFAULT_MAX_DELETE,
  { held = false, removed = 0 } = {},
): string | undefined {
  // "100%" allows any deletion, even of more files than a kept `total` (a held-back pass's
  // downloads gone stale again): that share of what the mirror held is no limit the operator set.
  if (limit.percent >= 100) return undefined;
  const allowed = Math.max(limit.files, Math.floor(total * limit.percent / 100));
  if (count <= allowed) return undefined;
  const rule = [
    ...(limit.percent > 0 ? [`${limit.percent}% of them`] : []),
    ...(limit.files > 0 || limit.percent === 0 ? [_fileCount(limit.files)] : []),
  ].join(", at least ");
  const of = held
    ? `the ${_fileCount(total)} the mirror held before max_delete first held them back`
    : `the mirror's ${_fileCount(total)}`;
  const done = removed === 0
    ? "nothing deleted"
    : `${removed} already removed where listed items need folders, the other ${
      count - removed
    } kept`;
  return `this pass would delete ${count} of ${of}, more than max_delete allows (${rule}): ` +
    `${done} (if this is meant, raise max_delete for one pass)`;
}

/** `1 file`, `2 files`. */
function _fileCount(count: number): string {
  return `${count} ${count === 1 ? "file" : "files"}`;
}

/** Whether `paths` come in code-unit order (each after the one before). */
function _isSorted(paths: Iterable<string>): boolean {
  let previous: string | undefined;
  for (const path of paths) {
    if (previous !== undefined && previous > path) return false;
    previous = path;
  }
  return true;
}

/**
 * Whether `path` is a protected dir, or lies in one (`protected_dirs`, normalised). Compared without
 * case or Unicode form: on a case-insensitive file system (an exFAT stick mounted at the mirror)
 * `Models` and `models` are one folder, and keeping a file too many is the safe side.
 */
export function isProtected(path: string, protectedDirs: readonly string[]): boolean {
  if (protectedDirs.length === 0) return false;
  // Called for every file of the mirror: the folders are folded once per list, and a path whose
  // first name (as written: folders repeat) folds to none of theirs is answered without folding it.
  const { dirs, firstNames, firstCodes, seen } = _foldedOnce(protectedDirs, () => {
    // A set: thousands of entries (the targets of the links in a protected folder) are looked up
    // by each path's folders, not each compared with every path.
    const dirs = new Set(protectedDirs.map(foldCase));
    const firstNames = new Set([...dirs].map((dir) => dir.split("/", 1)[0]));
    const firstCodes = new Set([...dirs].map((dir) => dir.charCodeAt(0)));
    return { dirs, firstNames, firstCodes, seen: new Map<string, boolean>() };
  });
  // An ASCII first letter folds to ASCII: one none of the folders starts with rules the path out.
  // Not one a combining mark follows: NFC composes "e\u0301" into "é", which a folder may start with.
  const code = path.charCodeAt(0);
  if (
    code < 0x80 && !(path.charCodeAt(1) >= 0x80) &&
    !firstCodes.has(code >= 65 && code <= 90 ? code + 32 : code)
  ) return false;
  const slash = path.indexOf("/");
  const first = slash === -1 ? path : path.slice(0, slash);
  let maybe = seen.get(first);
  if (maybe === undefined) {
    maybe = firstNames.has(foldCase(first));
    if (seen.size < _SEEN_FIRST_NAMES) seen.set(first, maybe);
  }
  if (!maybe) return false;
  const folded = foldCase(path);
  for (let slash = folded.indexOf("/"); slash !== -1; slash = folded.indexOf("/", slash + 1)) {
    if (dirs.has(folded.slice(0, slash))) return true;
  }
  return dirs.has(folded);
}

/** The most first names of paths {@linkcode isProtected} remembers per list (the mirror's folders). */
const _SEEN_FIRST_NAMES = 4096;

/** What `fold` makes of `list`, made once per list (a pass's protected dirs, its nested mirrors). */
const _folds = new WeakMap<object, unknown>();
function _foldedOnce<T>(list: object, fold: () => T): T {
  if (!_folds.has(list)) _folds.set(list, fold());
  return _folds.get(list) as T;
}

function _files(count: number): string {
  return count === 1 ? "1 local file" : `${count} local files`;
}

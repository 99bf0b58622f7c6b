/**
 * Where a mirror really is: `mirror_path` resolved on disk against the Viam home's real path, one
 * folder at a time. Every folder below the home must be a real folder, never a symlink: a link
 * there, planted or made on purpose, would have the pass write into and (with `delete`) remove
 * files from the folder it leads to, which is not the mirror the operator named, even when it lies
 * inside the Viam home. No folder on the way may be one viam-server keeps there, nor a
 * `.data-mirror` folder: another mirror's lock, manifest and partial downloads are there, which
 * this one would delete as stale.
 *
 * A missing folder is created only below one already checked, so nothing is created through a
 * link before the rule refuses the path. The Viam home itself may be reached through a symlink:
 * the operator names it (`$VIAM_HOME`), and it is used on its real path.
 *
 * A mirror on another disk: mount the disk, or bind-mount a folder of it, at
 * `~/.viam/<mirror_path>` (a mount point is a real folder); a symlink to it is refused.
 *
 * @module
 */
import { join } from "node:path";
import { ConfigError, type ConfigIssue, type MirrorConfig } from "../config.ts";
import {
  foldLetterCase,
  isStateDirPath,
  splitRelativePath,
  STATE_DIR_NAME,
  viamOwnedDir,
} from "../paths.ts";

/** Mode of the folders created on the way to the mirror root. */
const _DIR_MODE = 0o755;

/** The mirror root cannot be used where `mirror_path` resolves to. */
export class MirrorLocationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MirrorLocationError";
  }
}

/** Options of {@linkcode resolveMirrorRoot}. */
export interface ResolveMirrorRootOptions {
  /** The Viam home (absolute): `$VIAM_HOME` or `$HOME/.viam`. Created when missing. */
  viamHome: string;
  /** `mirror_path`, relative to the Viam home (already checked as a string by the config). */
  mirrorPath: string;
  /** Create the missing folders (a pass does; a dry run does not, and gets undefined instead). */
  create: boolean;
  /** The attribute the path comes from, for messages (default `mirror_path`; `push_path`). */
  attribute?: string;
}

/**
 * Resolves the mirror root's real path, each folder below the home spelt as its own entry is (one
 * path, so one lock, for every spelling of it on a case-insensitive disk), creating the missing
 * folders when asked. Throws
 * {@linkcode MirrorLocationError} naming the rule and what to do when a folder on the way is a
 * symlink or a file, or lies in a folder viam-server keeps or in a state folder.
 * Resolves to undefined when `create` is false and the root does not exist yet.
 *
 * @example
 * ```ts
 * const root = await resolveMirrorRoot({ viamHome: "/home/pi/.viam", mirrorPath: "data_mirror", create: true });
 * ```
 */
export async function resolveMirrorRoot(
  options: ResolveMirrorRootOptions,
): Promise<string | undefined> {
  const attribute = options.attribute ?? "mirror_path";
  const split = splitRelativePath(options.mirrorPath);
  if (!split.ok || split.components.length === 0) {
    throw new MirrorLocationError(
      `${attribute} ${JSON.stringify(options.mirrorPath.slice(0, 100))} is not a folder inside ` +
        `the Viam home`,
    );
  }
  const label = `${attribute} ${JSON.stringify(options.mirrorPath)}`;
  // With no link followed, the folders on the way are the names written: checked before any is made.
  _checkPlace(split.components, options, label);
  if (options.create) {
    try {
      await Deno.mkdir(options.viamHome, { recursive: true, mode: _DIR_MODE });
    } catch (error) {
      throw (error instanceof Deno.errors.AlreadyExists &&
        ((await _danglingHome(options.viamHome)) || (await _homeNotAFolder(options.viamHome)))) ||
        error;
    }
  }
  let home: string;
  try {
    home = await Deno.realPath(options.viamHome);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound && !options.create) return undefined;
    throw error;
  }
  const notAFolder = await _homeNotAFolder(options.viamHome);
  if (notAFolder !== undefined) throw notAFolder;
  let current = home;
  let shown = options.viamHome; // the path as the user wrote it, for messages
  for (const component of split.components) {
    const next = join(current, component);
    shown = join(shown, component);
    let info = await _lstatIfPresent(next);
    if (info === undefined) {
      if (!options.create) return undefined;
      // `current` is a real folder inside the home: a folder made here is one too. What someone
      // else made meanwhile under that name is checked like any existing entry.
      if (!(await _madeHere(next))) info = await Deno.lstat(next);
    }
    if (info?.isSymlink) {
      const place = attribute === "push_path" ? "push folder" : "mirror";
      throw new MirrorLocationError(
        `${label}: ${shown} is a symlink${await _target(next)}. The folders from the Viam home ` +
          `to the ${place} must be real folders, so that nothing is written or deleted in the ` +
          `folder a link leads to; replace it with a folder, or mount the disk (or bind-mount a ` +
          `folder of it) at ${shown}`,
      );
    }
    if (info !== undefined && !info.isDirectory) {
      throw new MirrorLocationError(`${label}: ${shown} exists and is not a folder`);
    }
    current = await _storedSpelling(current, component, label);
  }
  return current;
}

/**
 * The error for a Viam home that is a file (a `$VIAM_HOME` set to a file's path), else undefined:
 * it failed at the first look below it, "Not a directory", with a path that did not say which
 * setting was wrong.
 */
async function _homeNotAFolder(viamHome: string): Promise<MirrorLocationError | undefined> {
  const info = await Deno.stat(viamHome).catch(() => undefined);
  if (info === undefined || info.isDirectory) return undefined;
  return new MirrorLocationError(
    `the Viam home ${viamHome} ($VIAM_HOME, else $HOME/.viam) is not a folder`,
  );
}

/**
 * `<parent>/<name>` as the folder's own entry spells it: on a case-insensitive disk reached through
 * FUSE (exfat-fuse) each spelling of one folder is a node of its own, so the mirror's lock taken
 * through `usb/M` did not hold off a pass through `usb/m`. The name as written when `parent` holds
 * an entry of exactly that name (always so on a case-sensitive disk, where the name was found or
 * made as written), or none that folds to it.
 */
async function _storedSpelling(parent: string, name: string, label: string): Promise<string> {
  const folded: string[] = [];
  for await (const entry of Deno.readDir(parent)) {
    if (entry.name === name) return join(parent, name);
    // Case only: exFAT and FAT compare names without Unicode form, so "café" composed and
    // decomposed are two folders there, and the one the name reaches is of the same form.
    if (entry.isDirectory && foldLetterCase(entry.name) === foldLetterCase(name)) {
      folded.push(entry.name);
    }
  }
  // Two that fold alike are two folders to the disk ("ß" and "ẞ", "k" and the Kelvin sign are
  // letters of their own to exFAT): which one the name reaches cannot be told by the fold.
  if (folded.length > 1) {
    const quote = (folder: string) => JSON.stringify(folder);
    throw new MirrorLocationError(
      `${label}: ${join(parent, name)}: the folders ${folded.map(quote).join(" and ")} both ` +
        `differ from it by case only; write the path as the folder's own name spells it`,
    );
  }
  return join(parent, folded[0] ?? name);
}

/**
 * Checks `mirror_path` (and `push_path`) on disk as far as they exist, creating nothing: the
 * config check that `validate`, ValidateConfig and every command run after `parseConfig`, so that
 * a symlink on the way to either folder is a configuration error naming the attribute. (Without
 * links below the home, the two folders overlap on disk exactly when their paths do, which
 * `parseConfig` checks.)
 *
 * @throws {ConfigError} with one issue per attribute whose real path breaks a rule.
 */
export async function checkConfigLocations(config: MirrorConfig): Promise<void> {
  const issues: ConfigIssue[] = [];
  // The Viam home itself a file: said once, of the variable that names it.
  const home = await _homeNotAFolder(config.viamHome);
  if (home !== undefined) throw new ConfigError([{ field: "VIAM_HOME", message: home.message }]);
  const check = async (field: string, path: string) => {
    try {
      await resolveMirrorRoot({
        viamHome: config.viamHome,
        mirrorPath: path,
        create: false,
        attribute: field,
      });
    } catch (error) {
      if (!(error instanceof MirrorLocationError)) throw error;
      issues.push({ field, message: error.message });
    }
  };
  // A config that only pushes never makes or uses its mirror folder.
  if (!config.pushOnly) await check("mirror_path", config.mirrorPath);
  if (config.push) await check("push_path", config.push.pushPath);
  if (issues.length > 0) throw new ConfigError(issues);
}

/**
 * Throws when the folders `components` (below the Viam home) lie in a folder viam-server keeps
 * (compared without case: on a case-insensitive disk `Packages` is `packages`) or in a state folder.
 */
function _checkPlace(
  components: readonly string[],
  options: Pick<ResolveMirrorRootOptions, "viamHome">,
  label: string,
): void {
  const shown = join(options.viamHome, ...components);
  if (viamOwnedDir(components[0]) !== undefined) {
    throw new MirrorLocationError(
      `${label}: ${shown} is inside ${components[0]}, a folder viam-server manages in ` +
        `${options.viamHome}: choose another folder`,
    );
  }
  if (isStateDirPath(components.join("/"))) {
    throw new MirrorLocationError(
      `${label}: ${shown} is inside a ${STATE_DIR_NAME} folder, where a mirror or a push folder ` +
        `keeps its lock, manifest and partial downloads: choose another folder`,
    );
  }
}

/**
 * The error for a Viam home that is a link to nothing (`~/.viam` a link to a folder of a disk not
 * mounted yet, or gone): `mkdir -p` said only "File exists" of it, every pass. Not a configuration
 * error: the pass fails (exit 1) and is tried again, and goes on once the disk is there. Undefined
 * when the home is no such link.
 */
async function _danglingHome(viamHome: string): Promise<Error | undefined> {
  const info = await _lstatIfPresent(viamHome).catch(() => undefined);
  if (!info?.isSymlink) return undefined;
  try {
    await Deno.stat(viamHome);
    return undefined;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) return undefined;
  }
  return new Deno.errors.NotFound(
    `the Viam home ${viamHome} is a symlink${await _target(viamHome)} to nothing: is the disk ` +
      "it leads to mounted? Nothing is made there until it is",
  );
}

/** The entry at `path`, not followed, or undefined when there is none. */
async function _lstatIfPresent(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** " (to <target>)" for the symlink at `path`, for messages; empty when it cannot be read. */
async function _target(path: string): Promise<string> {
  try {
    return ` (to ${JSON.stringify(await Deno.readLink(path))})`;
  } catch {
    return "";
  }
}

/** Makes the folder; false when something appeared under that name first. */
async function _madeHere(path: string): Promise<boolean> {
  try {
    await Deno.mkdir(path, { mode: _DIR_MODE });
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  }
}

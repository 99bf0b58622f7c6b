/**
 * Where a mirror really is: `mirror_path` resolved on disk against the Viam home, with the rules on
 * `mirror_path` (inside the Viam home, not the home itself, not in a folder viam-server keeps there)
 * applied to the **real** path, so that a symlink cannot turn an allowed name into a forbidden place.
 * No folder on the way may be a `.data-mirror` folder: another mirror's lock, manifest and partial
 * downloads are there, which this one would delete as stale.
 *
 * The folders are walked one at a time from the Viam home's real path, and a missing one is created
 * only below a folder already known to lie inside the Viam home: nothing is ever created outside it
 * before a rule refuses the path.
 *
 * A mirror on another disk: a symlink from `~/.viam/<mirror_path>` to it is refused (its real path
 * is outside the Viam home, where the production permissions do not reach and where `delete` could
 * remove anything). Mount the disk, or bind-mount a folder of it, at `~/.viam/<mirror_path>`
 * instead: the real path then stays inside the Viam home.
 *
 * @module
 */
import { join, relative, sep } from "node:path";
import { ConfigError, type ConfigIssue, type MirrorConfig, rootsOverlap } from "../config.ts";
import { isStateDirPath, splitRelativePath, STATE_DIR_NAME, VIAM_OWNED_DIRS } from "../paths.ts";

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
 * Resolves the mirror root's real path, creating the missing folders when asked. Throws
 * {@linkcode MirrorLocationError} naming the rule and what to do when the real path is the Viam
 * home itself, lies outside it (through a symlink), or lies in a folder viam-server keeps.
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
  if (options.create) await Deno.mkdir(options.viamHome, { recursive: true, mode: _DIR_MODE });
  let home: string;
  try {
    home = await Deno.realPath(options.viamHome);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound && !options.create) return undefined;
    throw error;
  }
  let current = home;
  let shown = options.viamHome; // the path as the user wrote it, for messages
  const label = `${attribute} ${JSON.stringify(options.mirrorPath)}`;
  for (const component of split.components) {
    const next = join(current, component);
    shown = join(shown, component);
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(next);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      if (!options.create) return undefined;
      // `current` is real and inside the home: a folder made here is inside the home too. One made
      // meanwhile by someone else is resolved like any existing entry.
      current = (await _madeHere(next)) ? next : await Deno.realPath(next);
      _checkPlace(home, current, shown, label);
      continue;
    }
    if (info.isSymlink) {
      try {
        current = await Deno.realPath(next);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) {
          throw new MirrorLocationError(
            `${shown} is a symlink to nothing (dangling): remove it or fix its target`,
          );
        }
        throw error;
      }
      _checkPlace(home, current, shown, label);
      if (!(await Deno.stat(current)).isDirectory) {
        throw new MirrorLocationError(`${shown} leads to a file, not a folder`);
      }
      continue;
    }
    if (!info.isDirectory) {
      throw new MirrorLocationError(`${shown} exists and is not a folder`);
    }
    current = next;
    _checkPlace(home, current, shown, label);
  }
  if (current === home) {
    throw new MirrorLocationError(
      `${label} resolves to the Viam home ${home} ` +
        `itself (through a symlink): with delete it would remove viam-server's own files; ` +
        `replace the symlink with a folder`,
    );
  }
  return current;
}

/**
 * Checks `mirror_path` (and `push_path`) on disk as far as they exist, creating nothing: the
 * config check that `validate`, ValidateConfig and every command run after `parseConfig`, so that
 * a folder symlinked to the Viam home or out of it is a configuration error naming the attribute,
 * and so is a push folder whose real path lies in the mirror's, or the reverse.
 *
 * @throws {ConfigError} with one issue per attribute whose real path breaks a rule.
 */
export async function checkConfigLocations(config: MirrorConfig): Promise<void> {
  const issues: ConfigIssue[] = [];
  const realPath = async (field: string, path: string) => {
    try {
      return await resolveMirrorRoot({
        viamHome: config.viamHome,
        mirrorPath: path,
        create: false,
        attribute: field,
      });
    } catch (error) {
      if (!(error instanceof MirrorLocationError)) throw error;
      issues.push({ field, message: error.message });
      return undefined;
    }
  };
  const mirrorRoot = await realPath("mirror_path", config.mirrorPath);
  const pushRoot = config.push ? await realPath("push_path", config.push.pushPath) : undefined;
  if (mirrorRoot !== undefined && pushRoot !== undefined) {
    const problem = rootsOverlap(mirrorRoot, pushRoot);
    if (problem !== undefined) {
      issues.push({ field: "push_path", message: `${problem} (through a symlink)` });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
}

/** Throws unless the real path `real` is inside the Viam home and outside viam-server's folders. */
function _checkPlace(home: string, real: string, shown: string, label: string): void {
  const inside = relative(home, real);
  if (inside === "") return; // the home itself: refused at the end (a later folder may go deeper)
  if (inside === ".." || inside.startsWith(`..${sep}`) || inside.startsWith(sep)) {
    throw new MirrorLocationError(
      `${label}: ${shown} resolves to ${real}, outside the ` +
        `Viam home ${home}. The mirror must lie inside it; to keep the files on another disk, ` +
        `mount that disk (or bind-mount a folder of it) at ${shown} instead of a symlink`,
    );
  }
  const first = inside.split(sep)[0];
  if (VIAM_OWNED_DIRS.includes(first.toLowerCase())) {
    throw new MirrorLocationError(
      `${label}: ${shown} resolves to ${real}, inside ` +
        `${first}, a folder viam-server manages in ${home}: choose another folder`,
    );
  }
  if (isStateDirPath(inside.split(sep).join("/"))) {
    throw new MirrorLocationError(
      `${label}: ${shown} resolves to ${real}, inside a ${STATE_DIR_NAME} folder, where a mirror ` +
        `or a push folder keeps its lock, manifest and partial downloads: choose another folder`,
    );
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

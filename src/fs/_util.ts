// Helpers shared by the files of src/fs/: confinement checks for writes and deletes inside a mirror,
// and the small I/O steps of durable writes.
//
// The engine hands these modules paths that src/paths.ts already validated; the checks here are the
// last line of defence before a write or a delete, so they re-check the string form and then the
// real (symlink-resolved) location on disk. Deno has no openat/O_NOFOLLOW, so a check and the
// operation that follows are two system calls: a local user racing to swap a directory for a symlink
// in between is outside what these checks can stop (the data arriving from the cloud cannot do it).
import { dirname, isAbsolute, join } from "node:path";
import { isStateDirPath, STATE_DIR_NAME } from "../paths.ts";

/** Mode of the directories the mirror creates. */
const _DIR_MODE = 0o755;
/** Mode of the files the mirror creates. */
export const FILE_MODE = 0o644;

/** A mirror root, resolved: what every confinement check compares against. */
export interface RealRoot {
  /** `Deno.realPath` of the configured root. */
  real: string;
}

/** Throws unless `root` is an absolute path: a relative root would depend on the working directory. */
export function assertAbsoluteRoot(root: string): void {
  if (!isAbsolute(root)) {
    throw new RangeError(`mirror root must be an absolute path, got "${root}"`);
  }
}

/**
 * Throws unless `relPath` is a normalised relative posix path naming something below the root:
 * no leading `/`, no empty, `.` or `..` segment, no NUL.
 */
export function assertRelativePath(relPath: string): void {
  const bad = relPath === "" || relPath.includes("\0") || relPath.startsWith("/") ||
    relPath.split("/").some((segment) => segment === "" || segment === "." || segment === "..");
  if (bad) {
    throw new RangeError(`"${relPath}" is not a normalised relative path inside the mirror`);
  }
}

/** True when the absolute path `child` is `parent` or below it (plain string comparison). */
function _isWithin(parent: string, child: string): boolean {
  if (child === parent) return true;
  return child.startsWith(parent.endsWith("/") ? parent : `${parent}/`);
}

/**
 * Resolves the root's real path. With `create`, makes the root first (a fresh machine has none yet).
 * Throws `Deno.errors.NotFound` when it is missing and `create` is not set.
 */
export async function resolveRoot(root: string, options?: { create?: boolean }): Promise<RealRoot> {
  assertAbsoluteRoot(root);
  if (options?.create) await Deno.mkdir(root, { recursive: true, mode: _DIR_MODE });
  const real = await Deno.realPath(root);
  if (!(await Deno.stat(real)).isDirectory) {
    throw new Deno.errors.NotADirectory(`mirror root ${root} is not a directory`);
  }
  return { real };
}

/**
 * Throws unless the real path `real` lies inside the mirror and outside its state dir: where a write
 * or a delete on behalf of the remote data may land. `what` names the path in the message.
 */
function _assertMirrorLocation(root: RealRoot, real: string, what: string): void {
  if (!_isWithin(root.real, real)) {
    throw new Deno.errors.PermissionDenied(
      `refusing ${what}: it resolves to ${real}, outside the mirror ${root.real}`,
    );
  }
  if (_isWithin(join(root.real, STATE_DIR_NAME), real)) {
    throw new Deno.errors.PermissionDenied(
      `refusing ${what}: it resolves to ${real}, inside the program's state dir`,
    );
  }
}

/**
 * `mkdir -p` of `relDir` below the root, one segment at a time so that nothing is ever created
 * outside the mirror: an existing segment may be a symlink only when it resolves inside the mirror,
 * and must be a directory. Returns the real path of the directory. `""` is the root itself.
 */
export async function ensureMirrorDir(root: RealRoot, relDir: string): Promise<string> {
  if (relDir === "") return root.real;
  assertRelativePath(relDir);
  if (isStateDirPath(relDir)) {
    throw new Deno.errors.PermissionDenied(`refusing ${relDir}: inside the program's state dir`);
  }
  let current = root.real;
  for (const segment of relDir.split("/")) {
    const next = join(current, segment);
    try {
      await Deno.mkdir(next, { mode: _DIR_MODE });
      current = next; // just made by us below a checked real dir: real and inside
      continue;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    let real: string;
    try {
      real = await Deno.realPath(next);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Deno.errors.NotFound(`cannot create ${relDir}: ${next} is a dangling symlink`);
      }
      throw error;
    }
    _assertMirrorLocation(root, real, `directory ${relDir}`);
    if (!(await Deno.stat(real)).isDirectory) {
      throw new Deno.errors.NotADirectory(
        `cannot create ${relDir}: ${next} exists and is not a directory`,
      );
    }
    current = real;
  }
  return current;
}

/**
 * Creates (as needed) the state dir `<root>/.data-mirror`, or a sub dir of it, and returns its path.
 * Refuses when one of them exists as a symlink or a non-directory: the state dir holds the lock and
 * the partial downloads, which must stay on the mirror's own file system.
 */
export async function ensureStateDir(root: RealRoot, sub?: string): Promise<string> {
  let dir = root.real;
  for (const name of sub === undefined ? [STATE_DIR_NAME] : [STATE_DIR_NAME, sub]) {
    dir = join(dir, name);
    try {
      await Deno.mkdir(dir, { mode: _DIR_MODE });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      const info = await Deno.lstat(dir);
      if (!info.isDirectory) {
        throw new Deno.errors.NotADirectory(
          `state dir ${dir} must be a plain directory (found a ${
            info.isSymlink ? "symlink" : "file"
          })`,
        );
      }
    }
  }
  return dir;
}

/** fsyncs a directory so a rename, link or unlink in it survives a power loss. */
export async function syncDir(dir: string): Promise<void> {
  using handle = await Deno.open(dir, { read: true });
  await handle.sync();
}

/** The real path of the parent dir of `relPath` (which must exist), checked to be inside the mirror. */
export async function realParent(root: RealRoot, relPath: string): Promise<string> {
  const parent = dirname(relPath);
  if (parent === ".") return root.real;
  const real = await Deno.realPath(join(root.real, parent));
  _assertMirrorLocation(root, real, `the parent of ${relPath}`);
  return real;
}

/** Writes every byte of `bytes` (a single `write` may write fewer). */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

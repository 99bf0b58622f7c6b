/**
 * POSIX path strings, as `node:path` (posix) treats them, for the bootstrap (`main.ts` and
 * `permissions.ts`). The first `node:` import of an isolate sets up Deno's Node compatibility layer
 * in it: in the bootstrap, which stays resident beside the Worker for the whole run, `node:path`
 * alone cost 3.3 MiB of peak resident memory (an empty pass, medians of ten alternated pairs,
 * 73.7 MiB against 77.0). The Worker loads `node:` modules anyway and keeps using `node:path`; a
 * property test holds these functions to it on any string.
 *
 * @example
 * ```ts
 * import { basename, dirname, join, resolve } from "./posix_path.ts";
 *
 * join("/home/pi", ".viam"); // "/home/pi/.viam"
 * resolve("/a/b/../c/"); // "/a/c"
 * dirname("/a/c"); // "/a"
 * basename("/a/c/"); // "c"
 * ```
 *
 * @module
 */

/** Whether `path` starts at the root. */
export function isAbsolute(path: string): boolean {
  return path.startsWith("/");
}

/**
 * `segments` joined by `/` and normalized (`.`, `..` and repeated slashes resolved; a trailing
 * slash kept); `.` when nothing is left.
 */
export function join(...segments: string[]): string {
  const joined = segments.filter((segment) => segment !== "").join("/");
  if (joined === "") return ".";
  const absolute = isAbsolute(joined);
  let normalized = _normalizedParts(joined, absolute);
  if (normalized === "" && !absolute) normalized = ".";
  if (joined.endsWith("/") && normalized !== "") normalized += "/";
  return absolute ? `/${normalized}` : normalized;
}

/**
 * The absolute path of `segments` taken right to left until one is absolute (the working directory
 * before them otherwise), normalized, without a trailing slash.
 */
export function resolve(...segments: string[]): string {
  let path = "";
  for (let i = segments.length - 1; i >= -1 && !isAbsolute(path); i--) {
    const segment = i >= 0 ? segments[i] : Deno.cwd();
    if (segment === "") continue;
    path = path === "" ? segment : `${segment}/${path}`;
  }
  return `/${_normalizedParts(path, true)}`;
}

/** The folder part of `path` (trailing slashes ignored): `.` when it has none, `/` for the root. */
export function dirname(path: string): string {
  if (path === "") return ".";
  const end = _endWithoutTrailingSlashes(path);
  const slash = path.lastIndexOf("/", end - 1);
  if (slash < 0) return isAbsolute(path) ? "/" : ".";
  if (slash === 0) return "/";
  // POSIX keeps a leading "//" (implementation-defined); node:path does too.
  if (slash === 1 && path.startsWith("//")) return "//";
  return path.slice(0, slash);
}

/** The last part of `path` (trailing slashes ignored); `""` for the root. */
export function basename(path: string): string {
  const end = _endWithoutTrailingSlashes(path);
  return path.slice(path.lastIndexOf("/", end - 1) + 1, end);
}

/** Where `path` ends without its trailing slashes (a path of slashes only keeps its first). */
function _endWithoutTrailingSlashes(path: string): number {
  let end = path.length;
  while (end > 1 && path[end - 1] === "/") end--;
  return end;
}

/** The parts of `path` with `.`, `..` and empty parts resolved, joined by `/` (no outer slash). */
function _normalizedParts(path: string, absolute: boolean): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part !== "..") parts.push(part);
    else if (parts.length > 0 && parts.at(-1) !== "..") parts.pop();
    else if (!absolute) parts.push(part); // above a relative start: kept
  }
  return parts.join("/");
}

/**
 * A sandbox around one mirror: a temporary directory holding a Viam home with viam-server's own
 * files (cached cloud config, another module's state, a package) and "outside" siblings (files and
 * folders the program must never touch). Its snapshot records every entry's type, size, mtime,
 * inode and content hash, without following symlinks, so that a diff of two snapshots shows any
 * write, truncation, creation or deletion outside the mirror.
 *
 * @example
 * ```ts
 * await using sandbox = await Sandbox.create();
 * const before = await sandbox.snapshot();
 * // ... run the program with VIAM_HOME = sandbox.home ...
 * const changes = sandbox.changesOutsideMirror(before, await sandbox.snapshot());
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, join, relative, resolve } from "node:path";

/** One entry of a snapshot, as `lstat` sees it. */
export interface SnapshotEntry {
  /** `file`, `dir`, `symlink` or `other`. */
  type: "file" | "dir" | "symlink" | "other";
  /** Size in bytes. */
  size: number;
  /** Modification time in milliseconds. */
  mtimeMs: number;
  /** Inode number. */
  ino: number;
  /** SHA-256 of a file's content, a symlink's target, or empty. */
  hash: string;
}

/** Every entry under the sandbox, by path relative to it. */
export type Snapshot = Map<string, SnapshotEntry>;

/** Files viam-server keeps in its home, relative to it: the program must never touch them. */
export const VIAM_SERVER_FILES: Readonly<Record<string, string>> = Object.freeze({
  "cached_cloud_config_0123abcd.json": '{"cloud":{"id":"robot-1","secret":"not-ours"}}',
  "module-data/local/other-module/state.json": '{"other":"module state"}',
  "packages/.data/ml_model/model-1/model.tflite": "a package file",
  "capture/camera/img-0001.jpeg": "a captured image waiting for upload",
});

/** Files beside the Viam home, relative to the sandbox: nothing may reach them either. */
export const OUTSIDE_FILES: Readonly<Record<string, string>> = Object.freeze({
  "outside/victim.txt": "an outside file that must keep these bytes",
  "outside/lock-victim.txt": "an outside file a planted lock symlink points at",
  "outside/part-victim.bin": "an outside file a planted partial symlink points at",
  "outside/dir/keep.jpeg": "an outside folder's file",
  "outside/dir/nested/deep.bin": "an outside folder's nested file",
  "disk/README": "another disk, mounted beside the Viam home",
});

/** A temporary directory with a Viam home and outside siblings; removed on dispose. */
export class Sandbox implements AsyncDisposable {
  /** The sandbox directory (a real path). */
  readonly dir: string;
  /** The Viam home, `<dir>/viam`. */
  readonly home: string;
  /** Paths (relative to {@linkcode Sandbox.dir}) whose subtree belongs to the program. */
  readonly #owned: string[] = [];

  private constructor(dir: string) {
    this.dir = dir;
    this.home = join(dir, "viam");
  }

  /** Makes a sandbox: the Viam home with viam-server's files, and the outside files. */
  static async create(options: { prefix?: string } = {}): Promise<Sandbox> {
    const dir = await Deno.realPath(
      await Deno.makeTempDir({ prefix: options.prefix ?? "data-mirror-faults-" }),
    );
    const sandbox = new Sandbox(dir);
    await Deno.mkdir(sandbox.home);
    for (const [path, text] of Object.entries(VIAM_SERVER_FILES)) {
      await sandbox.writeFile(join("viam", path), text);
    }
    for (const [path, text] of Object.entries(OUTSIDE_FILES)) {
      await sandbox.writeFile(path, text);
    }
    return sandbox;
  }

  /** The mirror root for `mirrorPath` (default `data_mirror`), as the program sees it. */
  mirror(mirrorPath = "data_mirror"): string {
    return join(this.home, mirrorPath);
  }

  /**
   * Marks `path` (absolute, or relative to the sandbox) as the program's: changes under it are
   * not changes outside the mirror. Nothing is the program's until marked: each row marks what it
   * lets the program write (usually `viam/data_mirror`).
   */
  own(path: string): void {
    this.#owned.push(relative(this.dir, resolve(this.dir, path)));
  }

  /** Writes a file (absolute, or relative to the sandbox), creating its folders. */
  async writeFile(path: string, content: string | Uint8Array): Promise<void> {
    const full = resolve(this.dir, path);
    await Deno.mkdir(dirname(full), { recursive: true });
    if (typeof content === "string") await Deno.writeTextFile(full, content);
    else await Deno.writeFile(full, content);
  }

  /** Every entry under the sandbox (symlinks not followed; mount points entered). */
  async snapshot(): Promise<Snapshot> {
    const entries: Snapshot = new Map();
    const walk = async (rel: string): Promise<void> => {
      for await (const child of Deno.readDir(join(this.dir, rel))) {
        const path = rel === "" ? child.name : `${rel}/${child.name}`;
        const full = join(this.dir, path);
        let info: Deno.FileInfo;
        try {
          info = await Deno.lstat(full);
        } catch (error) {
          if (error instanceof Deno.errors.NotFound) continue; // removed while walking
          throw error;
        }
        const type = info.isFile
          ? "file"
          : info.isDirectory
          ? "dir"
          : info.isSymlink
          ? "symlink"
          : "other";
        let hash = "";
        if (type === "file") hash = await _hashFile(full);
        if (type === "symlink") hash = await Deno.readLink(full);
        entries.set(path, {
          type,
          size: info.size,
          mtimeMs: info.mtime?.getTime() ?? 0,
          ino: info.ino ?? 0,
          hash,
        });
        if (type === "dir") await walk(path);
      }
    };
    await walk("");
    return entries;
  }

  /**
   * What changed between two snapshots outside the owned paths: one line per created, deleted or
   * changed entry (and what changed), sorted.
   */
  changesOutsideMirror(before: Snapshot, after: Snapshot): string[] {
    const changes: string[] = [];
    const isOwned = (path: string) =>
      this.#owned.some((owned) => path === owned || path.startsWith(`${owned}/`));
    for (const [path, entry] of before) {
      if (isOwned(path)) continue;
      const now = after.get(path);
      if (now === undefined) {
        changes.push(`deleted ${path}`);
        continue;
      }
      // A folder's size and mtime follow its entries, which are compared on their own.
      const keys = entry.type === "dir"
        ? (["type", "ino"] as const)
        : (["type", "size", "ino", "hash", "mtimeMs"] as const);
      const what = keys.filter((key) => entry[key] !== now[key]);
      if (what.length > 0) changes.push(`changed ${path} (${what.join(", ")})`);
    }
    for (const path of after.keys()) {
      if (!before.has(path) && !isOwned(path)) changes.push(`created ${path}`);
    }
    return changes.sort();
  }

  /** Removes the sandbox (unmounting nothing: callers unmount what they mounted). */
  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.dir, { recursive: true });
  }
}

async function _hashFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  try {
    using file = await Deno.open(path);
    for await (const chunk of file.readable) hash.update(chunk);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "vanished";
    if (error instanceof Deno.errors.PermissionDenied) return "unreadable";
    throw error;
  }
  return hash.digest("hex");
}

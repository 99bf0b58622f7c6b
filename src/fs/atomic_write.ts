/**
 * State files (the placed record, the push journal's compactions, the manifest's digest, a module
 * resource's status) written whole or not at all: a temporary file beside the target, synced
 * (unless `durable: false`), then renamed over it.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { FILE_MODE, syncDir, writeAll } from "./_util.ts";

/** Options of {@linkcode writeFileAtomic}. */
export interface WriteFileAtomicOptions {
  /** Mode of the new file (before the umask). Defaults to `0o644`. */
  mode?: number;
  /**
   * Whether to fsync the data and the directory (default true). Without it the file is still never
   * torn by a process crash, but a power loss may leave the old content or an empty file: fine for
   * state that is only a hint, and it saves two fsyncs (milliseconds each on an SD card).
   */
  durable?: boolean;
  /**
   * Throws when the folder is no longer the one meant (swapped for a symlink since the caller
   * checked it): called right before the temporary file is made and again right before the rename,
   * so that the new file neither lands in nor replaces a file of the folder a link leads to.
   */
  assertInPlace?: () => void;
}

/**
 * Replaces the file at `path` with `data` so that, whatever instant the process or the machine dies
 * at, the file holds either its old content or the new one, never a torn mix: the data goes to a
 * fresh temporary file in the same directory (same file system, so the rename is atomic), which is
 * fsynced, renamed over `path`, and then the directory is fsynced so the rename itself is durable.
 *
 * The temporary file is created exclusively (`O_CREAT|O_EXCL`), so a symlink planted under its name
 * is never followed, and the rename replaces a symlink at `path` rather than writing through it.
 * A crash between creating and renaming the temporary file leaves a `.<name>.<random>.tmp` sibling
 * behind; this is meant for the program's own state dir, where such a leftover is harmless.
 *
 * @example
 * ```ts
 * await writeFileAtomic("/home/pi/.viam/data_mirror/.data-mirror/state.json", JSON.stringify({}));
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options?: WriteFileAtomicOptions,
): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const durable = options?.durable ?? true;
  const dir = dirname(path);
  const temp = join(dir, atomicTempName(basename(path)));
  options?.assertInPlace?.();
  const file = await Deno.open(temp, {
    write: true,
    createNew: true,
    mode: options?.mode ?? FILE_MODE,
  });
  try {
    try {
      await writeAll(file, bytes);
      if (durable) await file.sync();
    } finally {
      file.close();
    }
    options?.assertInPlace?.();
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {}); // best effort: the original error is what matters
    throw error;
  }
  if (durable) await syncDir(dir);
}

/**
 * The temporary sibling a new `name` is written under before it is renamed over `name` (the form
 * {@linkcode writeFileAtomic} uses: `.<name>.<uuid>.tmp`).
 */
export function atomicTempName(name: string): string {
  return `.${name}.${crypto.randomUUID()}.tmp`;
}

/**
 * Whether the directory entry `entry` is such a temporary sibling of `name`, left by a crash
 * between its creation and its rename (the state dir's owner removes them when it opens it).
 */
export function isAtomicLeftoverOf(entry: string, name: string): boolean {
  const prefix = `.${name}.`;
  return entry.startsWith(prefix) && entry.endsWith(".tmp") &&
    /^[0-9a-f-]+$/.test(entry.slice(prefix.length, -".tmp".length));
}

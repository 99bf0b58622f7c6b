// Helpers shared by the files of src/fs/: path checks and the small I/O steps of durable writes.
import { isAbsolute } from "node:path";

/** Mode of the files the mirror creates. */
export const FILE_MODE = 0o644;

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

/** fsyncs a directory so a rename, link or unlink in it survives a power loss. */
export async function syncDir(dir: string): Promise<void> {
  using handle = await Deno.open(dir, { read: true });
  await handle.sync();
}

/** Writes every byte of `bytes` (a single `write` may write fewer). */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

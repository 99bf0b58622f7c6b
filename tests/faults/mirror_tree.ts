/**
 * The mirror's files as a test sees them from outside: every regular file under the root, except
 * the program's own `.data-mirror` folder, compared with what the platform serves.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { ItemRecord, Platform } from "../support/platform/mod.ts";

/** The program's own folder inside a mirror. */
export const STATE_DIR = ".data-mirror";

/** Every entry under `root` but the state folder: relative path -> lstat. */
export async function listTree(root: string): Promise<Map<string, Deno.FileInfo>> {
  const entries = new Map<string, Deno.FileInfo>();
  const walk = async (rel: string): Promise<void> => {
    let children: Deno.DirEntry[];
    try {
      children = await Array.fromAsync(Deno.readDir(join(root, rel)));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
        return;
      }
      throw error;
    }
    for (const child of children) {
      const path = rel === "" ? child.name : `${rel}/${child.name}`;
      if (path === STATE_DIR) continue;
      try {
        const info = await Deno.lstat(join(root, path));
        entries.set(path, info);
        if (info.isDirectory) await walk(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
  };
  await walk("");
  return entries;
}

/**
 * What differs between the files under `root` and `items` (each at its `fileName`), byte for byte;
 * `extra` are other files expected there (path -> content). Empty when they are the same.
 */
export async function treeDifferences(
  root: string,
  platform: Platform,
  items: readonly ItemRecord[],
  extra: ReadonlyMap<string, Uint8Array> = new Map(),
): Promise<string[]> {
  const problems: string[] = [];
  const expected = new Map<string, string>();
  for (const item of items) {
    expected.set(item.fileName, _hash(platform.contentOf(item.binaryDataId)));
  }
  for (const [path, content] of extra) expected.set(path, _hash(content));
  const tree = await listTree(root);
  for (const [path, info] of tree) {
    if (info.isDirectory) continue;
    const want = expected.get(path);
    if (want === undefined) {
      problems.push(`unexpected ${info.isSymlink ? "symlink" : "file"} ${path}`);
    } else if (!info.isFile) problems.push(`${path} is not a regular file`);
    else if (_hash(await Deno.readFile(join(root, path))) !== want) {
      problems.push(`${path} differs from the platform's bytes (${info.size} bytes)`);
    }
  }
  for (const path of expected.keys()) if (!tree.has(path)) problems.push(`missing ${path}`);
  return _capped(problems);
}

/** At most 10 lines, then how many more. */
function _capped(problems: string[]): string[] {
  return problems.length <= 10
    ? problems
    : [...problems.slice(0, 10), `... and ${problems.length - 10} more`];
}

function _hash(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

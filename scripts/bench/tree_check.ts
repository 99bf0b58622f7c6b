/**
 * Checks a copy against the data set it should hold, so that a fast wrong run cannot look good:
 * every expected file present with its size, nothing else (bar data-mirror's own `.data-mirror`
 * folder), and the bytes of a sample of files compared with the generated content.
 *
 * @example
 * ```ts
 * const check = await checkTree(mirrorDir, datasetOf(set, "base"));
 * if (!check.ok) console.error(check.problems);
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { itemChunks, type PlatformDataset } from "../../tests/support/platform/mod.ts";
import { relativePathOf } from "./bench_set.ts";

/** The folder data-mirror keeps its own state in, at the mirror root: not part of the copy. */
const _STATE_FOLDER = ".data-mirror";

/** How many small files and how many large ones have their bytes compared. */
const _SAMPLED_SMALL = 24;
const _SAMPLED_LARGE = 2;
/** Files above this are "large" for the sample. */
const _LARGE_BYTES = 1024 * 1024;

/** What {@linkcode checkTree} found. */
export interface TreeCheck {
  /** Whether the copy is exactly the data set (counts, sizes, sampled bytes). */
  ok: boolean;
  /** Regular files found (outside `.data-mirror`). */
  files: number;
  /** Their total size. */
  bytes: number;
  /** Files whose bytes were compared. */
  sampled: number;
  /** The first few problems, in words. */
  problems: string[];
}

/** Walks `root` and compares it with `dataset`. */
export async function checkTree(root: string, dataset: PlatformDataset): Promise<TreeCheck> {
  const expected = new Map(dataset.items.map((item) => [relativePathOf(item), item]));
  const problems: string[] = [];
  const note = (problem: string) => {
    if (problems.length < 8) problems.push(problem);
  };
  let files = 0;
  let bytes = 0;
  const seen = new Set<string>();
  for await (const [path, size] of _walk(root, "")) {
    files++;
    bytes += size;
    const item = expected.get(path);
    if (item === undefined) note(`unexpected file ${path}`);
    else if (item.sizeBytes !== size) note(`${path}: ${size} bytes, expected ${item.sizeBytes}`);
    seen.add(path);
  }
  let missing = 0;
  for (const path of expected.keys()) {
    if (!seen.has(path)) {
      missing++;
      note(`missing ${path}`);
    }
  }
  if (missing > 0) note(`${missing} files missing in all`);
  const small = dataset.items.filter((item) => item.sizeBytes <= _LARGE_BYTES);
  const large = dataset.items.filter((item) => item.sizeBytes > _LARGE_BYTES);
  const sample = [..._spread(small, _SAMPLED_SMALL), ..._spread(large, _SAMPLED_LARGE)]
    .filter((item) => seen.has(relativePathOf(item)));
  for (const item of sample) {
    const path = relativePathOf(item);
    if (!await _sameBytes(join(root, path), itemChunks(item))) note(`${path}: wrong bytes`);
  }
  return { ok: problems.length === 0, files, bytes, sampled: sample.length, problems };
}

/** Regular files under `root` as `[relative path, size]`; symlinks and others count as problems. */
async function* _walk(root: string, relative: string): AsyncGenerator<[string, number]> {
  for await (const entry of Deno.readDir(join(root, relative))) {
    const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
    if (path === _STATE_FOLDER) continue;
    if (entry.isDirectory) yield* _walk(root, path);
    else if (entry.isFile) yield [path, (await Deno.stat(join(root, path))).size];
    else yield [`${path} (not a regular file)`, 0];
  }
}

/** Up to `n` items evenly spread over `items` (first and last included). */
function _spread<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  return Array.from({ length: n }, (_, k) => items[Math.round(k * (items.length - 1) / (n - 1))]);
}

/** Whether the file holds exactly the chunks, in order. */
async function _sameBytes(path: string, chunks: Iterable<Uint8Array>): Promise<boolean> {
  using file = await Deno.open(path);
  for (const chunk of chunks) {
    const read = new Uint8Array(chunk.length);
    let filled = 0;
    while (filled < read.length) {
      const n = await file.read(read.subarray(filled));
      if (n === null) return false;
      filled += n;
    }
    for (let k = 0; k < read.length; k++) if (read[k] !== chunk[k]) return false;
  }
  return await file.read(new Uint8Array(1)) === null;
}

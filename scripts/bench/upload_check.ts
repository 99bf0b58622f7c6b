/**
 * Checks what a push run left on the local data platform against the files it was given, so that a
 * fast wrong run cannot look good: every expected `file_name` stored exactly once with its size, the
 * part and the tag, nothing else, and every stored file's bytes compared with the generated content.
 * Runs in the platform's process (it reads the stored chunks).
 *
 * @example
 * ```ts
 * const check = checkUploads(platform.items(), datasetOf(set, "base"), { partId, tag });
 * if (!check.ok) console.error(check.problems);
 * ```
 *
 * @module
 */

import {
  itemChunks,
  type ItemRecord,
  type PlatformDataset,
} from "../../tests/support/platform/mod.ts";
import { relativePathOf } from "./bench_set.ts";
import type { TreeCheck } from "./tree_check.ts";

/** Compares the platform's `stored` items with the `expected` files (by path below the push folder). */
export function checkUploads(
  stored: readonly ItemRecord[],
  expected: PlatformDataset,
  want: { partId: string; tag: string },
): TreeCheck {
  const byPath = new Map(expected.items.map((item) => [relativePathOf(item), item]));
  const problems: string[] = [];
  const note = (problem: string) => {
    if (problems.length < 8) problems.push(problem);
  };
  const seen = new Set<string>();
  let bytes = 0;
  let sampled = 0;
  for (const item of stored) {
    bytes += item.sizeBytes;
    const source = byPath.get(item.fileName);
    if (source === undefined) {
      note(`unexpected upload "${item.fileName}"`);
      continue;
    }
    if (seen.has(item.fileName)) note(`${item.fileName} stored twice`);
    seen.add(item.fileName);
    if (item.sizeBytes !== source.sizeBytes) {
      note(`${item.fileName}: ${item.sizeBytes} bytes, expected ${source.sizeBytes}`);
    } else if (!_sameChunks(itemChunks(item), itemChunks(source))) {
      note(`${item.fileName}: wrong bytes`);
    }
    sampled++;
    if (item.partId !== want.partId) note(`${item.fileName}: part "${item.partId}"`);
    if (!item.tags.includes(want.tag)) note(`${item.fileName}: no tag "${want.tag}"`);
  }
  const missing = [...byPath.keys()].filter((path) => !seen.has(path));
  for (const path of missing.slice(0, 3)) note(`missing ${path}`);
  if (missing.length > 0) note(`${missing.length} files missing in all`);
  return { ok: problems.length === 0, files: stored.length, bytes, sampled, problems };
}

/** Whether two chunk sequences hold the same bytes (the chunks may be cut differently). */
function _sameChunks(a: Iterable<Uint8Array>, b: Iterable<Uint8Array>): boolean {
  const left = _nonEmpty(a);
  const right = _nonEmpty(b);
  let x = left.next().value;
  let y = right.next().value;
  while (x !== undefined && y !== undefined) {
    const n = Math.min(x.length, y.length);
    for (let k = 0; k < n; k++) if (x[k] !== y[k]) return false;
    x = n === x.length ? left.next().value : x.subarray(n);
    y = n === y.length ? right.next().value : y.subarray(n);
  }
  return x === undefined && y === undefined;
}

function* _nonEmpty(chunks: Iterable<Uint8Array>): Generator<Uint8Array, undefined> {
  for (const chunk of chunks) if (chunk.length > 0) yield chunk;
  return undefined;
}

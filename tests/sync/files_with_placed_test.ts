import assert from "node:assert/strict";
import fc from "fast-check";
import { type LocalFile, REGULAR_FILE } from "../../src/fs/local_files.ts";
import { FilesWithPlaced } from "../../src/sync/_files_with_placed.ts";

const SYMLINK: LocalFile = { symlink: true };

/** What the pass made before the view: the walk's map with every placed path set into it. */
function merged(
  walked: ReadonlyMap<string, LocalFile>,
  placed: ReadonlyMap<string, string>,
): Map<string, LocalFile> {
  const files = new Map(walked);
  for (const path of placed.keys()) files.set(path, REGULAR_FILE);
  return files;
}

function assertReadsAs(view: ReadonlyMap<string, LocalFile>, expected: Map<string, LocalFile>) {
  assert.deepEqual([...view], [...expected]);
  assert.deepEqual([...view.keys()], [...expected.keys()]);
  assert.deepEqual([...view.values()], [...expected.values()]);
  const seen: [string, LocalFile][] = [];
  view.forEach((file, path, map) => {
    assert.equal(map, view);
    seen.push([path, file]);
  });
  assert.deepEqual(seen, [...expected]);
  assert.equal(view.size, expected.size);
  for (const [path, file] of expected) {
    assert.equal(view.get(path), file);
    assert.equal(view.has(path), true);
  }
  assert.equal(view.get("not/there"), undefined);
  assert.equal(view.has("not/there"), false);
}

Deno.test("the walk's files with the placed ones read as the map merged from them (property)", () => {
  const path = fc.constantFrom("a", "b", "c/d", "c/e", "f.jpg", "g/h/i", "j", "k");
  fc.assert(
    fc.property(
      fc.array(fc.tuple(path, fc.boolean())),
      fc.array(path),
      fc.array(path),
      (walkedPairs, placedPaths, placedLater) => {
        const walked = new Map<string, LocalFile>(
          walkedPairs.map(([p, symlink]) => [p, symlink ? SYMLINK : REGULAR_FILE]),
        );
        const placed = new Map(placedPaths.map((p) => [p, `org/loc/${p}`]));
        const view = new FilesWithPlaced(walked, placed);
        assertReadsAs(view, merged(walked, placed));
        // Files placed after it was made are in it too.
        for (const p of placedLater) placed.set(p, `org/loc/${p}`);
        assertReadsAs(view, merged(walked, placed));
      },
    ),
  );
});

Deno.test("a symlink the walk found where a file was placed reads as the placed regular file", () => {
  const view = new FilesWithPlaced(new Map([["a", SYMLINK]]), new Map([["a", "org/loc/1"]]));
  assert.equal(view.get("a"), REGULAR_FILE);
  assert.equal(view.size, 1);
});

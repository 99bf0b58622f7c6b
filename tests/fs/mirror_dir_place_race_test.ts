/**
 * A folder of the mirror moved away (and a link put in its place) while an inline batch names its
 * new files in it or below it (`mv x x.old && ln -s elsewhere x`, an operator moving a folder to a
 * USB disk): no file may be named where the link leads. Real files; the swap made deterministic by
 * making it right after the batch's first link, after the batch's look at the first file's
 * folders (a reviewer with every link slowed to 20 ms had 93 of 95 files outside the mirror, 3 runs
 * of 3, before 2026-12-08; a re-reviewer swapping a folder above had 94 of 95 with a look at the
 * file's own folder alone).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MirrorDir } from "../../src/fs/mirror_dir.ts";
import { withTempDir } from "./_helpers.ts";

const COUNT = 8;

/** How the first link's folder `a/g0` (or `a`, above it) is swapped, and what the rest are told. */
const _SWAPS = [
  {
    how: "its folder swapped for a link",
    swap: (root: string, outside: string) => _moveAndLink(join(root, "a/g0"), join(outside, "g0")),
    told: /refusing to write into a\/g0: a\/g0 became a symlink during the pass/,
    movedTo: (outside: string) => join(outside, "g0"),
  },
  {
    how: "a folder above it swapped for a link to it, moved",
    swap: (root: string, outside: string) => _moveAndLink(join(root, "a"), join(outside, "a")),
    told: /refusing to write into a\/g0: a became a symlink during the pass/,
    movedTo: (outside: string) => join(outside, "a/g0"),
  },
  {
    how: "its folder moved away",
    swap: (root: string, outside: string) =>
      Deno.renameSync(join(root, "a/g0"), join(outside, "g0")),
    told: /refusing to write into a\/g0: a\/g0 was moved away or removed during the pass/,
    movedTo: (outside: string) => join(outside, "g0"),
  },
] as const;

for (const { how, swap, told, movedTo } of _SWAPS) {
  Deno.test(`a batch naming its files while ${how}: nothing is named outside the mirror`, async () => {
    await withTempDir(async (dir) => {
      await using mirror = await MirrorDir.open({
        viamHome: join(dir, "home"),
        mirrorPath: "mirror",
        durable: false,
      });
      const outside = join(dir, "outside");
      await Deno.mkdir(outside);
      const paths = Array.from({ length: COUNT }, (_, i) => `a/g0/f-${i}.bin`);

      const link = Deno.linkSync;
      let links = 0;
      Deno.linkSync = (from: string, to: string) => {
        link(from, to);
        if (to.startsWith(`${mirror.root}/`) && ++links === 1) swap(mirror.root, outside);
      };
      let outcomes: (Error | undefined)[];
      try {
        outcomes = await mirror.writeFiles(
          paths.map((path) => ({ path, bytes: new TextEncoder().encode("fresh") })),
        );
      } finally {
        Deno.linkSync = link;
      }
      assert.equal(links, 1, "named after the swap");
      // The first went before the swap (and moved out with its folder); every later one is
      // refused, saying why.
      assert.deepEqual([...Deno.readDirSync(movedTo(outside))].map((e) => e.name), ["f-0.bin"]);
      assert.equal(outcomes[0], undefined);
      for (const outcome of outcomes.slice(1)) {
        assert.ok(outcome instanceof Deno.errors.PermissionDenied, String(outcome));
        assert.match(outcome.message, told);
      }
    });
  });
}

function _moveAndLink(folder: string, to: string): void {
  Deno.renameSync(folder, to);
  Deno.symlinkSync(to, folder);
}

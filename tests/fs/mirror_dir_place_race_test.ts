/**
 * A folder of the mirror moved away and a link put in its place while an inline batch names its
 * new files in it (`mv x x.old && ln -s elsewhere x`, an operator moving a folder to a USB disk):
 * no file may be named where the link leads. Real files; the swap made deterministic by making it
 * right after the batch's first link in that folder, after the batch's look at its folders (a
 * reviewer with every link slowed to 20 ms had 93 of 95 files outside the mirror, 3 runs of 3,
 * before 2026-12-08).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MirrorDir } from "../../src/fs/mirror_dir.ts";
import { withTempDir } from "./_helpers.ts";

const COUNT = 8;

for (
  const [how, swap] of [
    ["at once", (folder: string, canary: string) => _moveAwayAndLink(folder, canary)],
    // Moved away first: the next link fails (no folder), and the link comes before the one after.
    ["a link after a gap", (folder: string) => Deno.renameSync(folder, `${folder}.old`)],
  ] as const
) {
  Deno.test(`a folder moved away and a link put in its place while a batch names its files (${how}): nothing is named where the link leads`, async () => {
    await withTempDir(async (dir) => {
      await using mirror = await MirrorDir.open({
        viamHome: join(dir, "home"),
        mirrorPath: "mirror",
        durable: false,
      });
      const folder = join(mirror.root, "g0");
      const canary = join(dir, "canary");
      await Deno.mkdir(canary);
      const paths = Array.from({ length: COUNT }, (_, i) => `g0/f-${i}.bin`);

      const link = Deno.linkSync;
      let links = 0;
      Deno.linkSync = (from: string, to: string) => {
        if (!to.startsWith(`${folder}/`)) return link(from, to);
        links++;
        if (links === 2 && how === "a link after a gap") Deno.symlinkSync(canary, folder);
        link(from, to);
        if (links === 1) swap(folder, canary);
      };
      let outcomes: (Error | undefined)[];
      try {
        outcomes = await mirror.writeFiles(
          paths.map((path) => ({ path, bytes: new TextEncoder().encode("fresh") })),
        );
      } finally {
        Deno.linkSync = link;
      }
      assert.ok(links >= 1, "no link into the folder: the swap never came");

      assert.deepEqual([...Deno.readDirSync(canary)].map((entry) => entry.name), []);
      // The first went before the swap; every later one is refused, saying why.
      assert.equal(outcomes[0], undefined);
      for (const outcome of outcomes.slice(1)) {
        assert.ok(outcome instanceof Deno.errors.PermissionDenied, String(outcome));
        assert.match(outcome.message, /refusing to write into g0: /);
      }
      assert.deepEqual(
        [...Deno.readDirSync(`${folder}.old`)].map((entry) => entry.name),
        ["f-0.bin"],
      );
    });
  });
}

function _moveAwayAndLink(folder: string, canary: string): void {
  Deno.renameSync(folder, `${folder}.old`);
  Deno.symlinkSync(canary, folder);
}

/**
 * A local program swapping a folder of the mirror for a link to another folder of files of the
 * same names, sizes and times while a pass replaces files in it with new versions (an inline batch
 * renaming each over its old version): no file where the link leads may be replaced. Real files;
 * the swap made deterministic by making it right after the batch's first rename in that folder,
 * after the batch's one look at its folders (a reviewer's program flipping a folder every 20-50 µs
 * had 2 to 7 files outside the mirror replaced in 3 of 8 passes, before 2026-12-07).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MirrorDir } from "../../src/fs/mirror_dir.ts";
import { withTempDir } from "./_helpers.ts";

const COUNT = 8;

Deno.test("new versions renamed over their old ones while their folder is swapped for a link: nothing where the link leads is replaced", async () => {
  await withTempDir(async (dir) => {
    const paths = Array.from({ length: COUNT }, (_, i) => `g0/f-${i}.bin`);
    await using mirror = await _mirrorAndCanary(dir, paths);
    const folder = join(mirror.root, "g0");
    const canary = join(dir, "canary", "g0");
    // The other folder's files look like the mirror's to a check of size and time: same length,
    // same modification time.
    for (const path of paths) {
      const decoy = join(dir, "canary", path);
      await Deno.writeTextFile(decoy, "other");
      const { mtime } = await Deno.lstat(join(mirror.root, path));
      await Deno.utime(decoy, mtime!, mtime!);
    }
    for (const path of paths) mirror.replaceOnPlace(path);

    const rename = Deno.renameSync;
    let swapped = false;
    Deno.renameSync = (from: string | URL, to: string | URL) => {
      rename(from, to);
      if (!swapped && String(to).startsWith(`${folder}/`)) {
        swapped = true;
        rename(folder, `${folder}.adv`);
        Deno.symlinkSync(canary, folder);
      }
    };
    let outcomes: (Error | undefined)[];
    try {
      outcomes = await mirror.writeFiles(
        paths.map((path) => ({ path, bytes: new TextEncoder().encode("fresh") })),
      );
    } finally {
      Deno.renameSync = rename;
    }
    assert.ok(swapped, "no rename into the folder: the swap never came");

    for (const path of paths) {
      assert.equal(Deno.readTextFileSync(join(dir, "canary", path)), "other", `canary ${path}`);
    }
    // The first went before the swap; every later one is refused, saying why (by the batch's look
    // at the folder before each file, or the replacement's own looks around its rename).
    assert.equal(outcomes[0], undefined);
    for (const outcome of outcomes.slice(1)) {
      assert.ok(outcome instanceof Error);
      assert.match(
        outcome.message,
        /refusing to (replace g0\/f-\d\.bin|write into g0): .*g0.*link/,
      );
    }
    await Deno.remove(folder);
    await Deno.rename(`${folder}.adv`, folder);
    assert.equal(Deno.readTextFileSync(join(mirror.root, paths[0])), "fresh");
    for (const path of paths.slice(1)) {
      assert.equal(Deno.readTextFileSync(join(mirror.root, path)), "stale", path);
    }
  });
});

Deno.test("a file marked for replacement while its folder is a link to another: not marked, nothing there is replaced, and its new version fails naming the link", async () => {
  await withTempDir(async (dir) => {
    const path = "g0/f.bin";
    await using mirror = await _mirrorAndCanary(dir, [path]);
    const folder = join(mirror.root, "g0");
    const canary = join(dir, "canary", "g0");
    await Deno.writeTextFile(join(dir, "canary", path), "other");
    await Deno.rename(folder, `${folder}.adv`);
    await Deno.symlink(canary, folder);
    mirror.replaceOnPlace(path);
    assert.equal(mirror.replacesOnPlace(path), false);
    await Deno.remove(folder);
    await Deno.rename(`${folder}.adv`, folder);
    // The folder back, the new version comes: the old one stays (the next pass replaces it), and
    // the file fails saying why, not "kept: a file is already there" as for a file of the user's.
    const [outcome] = await mirror.writeFiles([{ path, bytes: new TextEncoder().encode("fresh") }]);
    assert.ok(outcome instanceof Deno.errors.PermissionDenied, String(outcome));
    assert.match(outcome.message, /refusing to replace g0\/f\.bin: .*g0.*link/);
    assert.equal(await Deno.readTextFile(join(mirror.root, path)), "stale");
    assert.equal(await Deno.readTextFile(join(dir, "canary", path)), "other");
  });
});

/**
 * A mirror in `dir` holding a placed file "stale" at each of `paths` (in `g0`), and an empty folder
 * `canary/g0` beside it: where a link swapped in for `g0` will lead.
 */
async function _mirrorAndCanary(dir: string, paths: string[]): Promise<MirrorDir> {
  const mirror = await MirrorDir.open({
    viamHome: join(dir, "home"),
    mirrorPath: "mirror",
    durable: false,
  });
  await Deno.mkdir(join(dir, "canary", "g0"), { recursive: true });
  const placed = await mirror.writeFiles(
    paths.map((path) => ({ path, bytes: new TextEncoder().encode("stale") })),
  );
  assert.deepEqual(placed, paths.map(() => undefined));
  return mirror;
}

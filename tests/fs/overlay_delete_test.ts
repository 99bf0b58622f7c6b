/**
 * A mirror on overlayfs whose files came in the lower layer (a container image shipped with a
 * seeded mirror, the Viam home inside the container's root): a delete moves the file into the
 * state folder, which copies it up first, and the copy is a new inode of the upper layer that
 * overlayfs still reports under the lower one's device and inode number, with the same size and
 * modification time, but a birth time of its own. Needs root (an overlay is mounted), as CI runs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MirrorDir } from "../../src/fs/mirror_dir.ts";
import { deleteStale } from "../../src/sync/delete_stale.ts";

Deno.test("stale files of an overlay's lower layer (a container image's seeded mirror) are deleted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "data-mirror-overlay-" });
  const [lower, upper, work, merged] = ["lower", "upper", "work", "merged"].map((name) =>
    join(dir, name)
  );
  const paths = Array.from({ length: 20 }, (_, i) => `g${i % 2}/seeded-${i}.jpeg`);
  for (const path of paths) {
    await Deno.mkdir(join(lower, "mirror", path, ".."), { recursive: true });
    await Deno.writeTextFile(join(lower, "mirror", path), "seeded in the image");
  }
  await Deno.mkdir(upper);
  await Deno.mkdir(work);
  await Deno.mkdir(merged);
  // The image's files are older than anything the container makes (birth times in another tick).
  await new Promise((resolve) => setTimeout(resolve, 20));
  const mounted = new Deno.Command("mount", {
    args: [
      "-t",
      "overlay",
      "overlay",
      "-o",
      `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
      merged,
    ],
  }).outputSync();
  assert.ok(mounted.success, new TextDecoder().decode(mounted.stderr));
  try {
    await using mirror = await MirrorDir.open({ viamHome: merged, mirrorPath: "mirror" });
    const walked = await mirror.walk();
    assert.deepEqual([...walked.keys()].sort(), [...paths].sort());
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    const result = await deleteStale(mirror, paths, { logger });
    assert.deepEqual(result.failures, []);
    assert.equal(result.deleted, paths.length);
    for (const path of paths) {
      await assert.rejects(Deno.lstat(join(merged, "mirror", path)), Deno.errors.NotFound, path);
    }
    const state = [...Deno.readDirSync(mirror.stateDir)].map((entry) => entry.name);
    assert.deepEqual(state.filter((name) => /^(stale|kept)-/.test(name)), []);
  } finally {
    new Deno.Command("umount", { args: [merged] }).outputSync();
    await Deno.remove(dir, { recursive: true });
  }
});

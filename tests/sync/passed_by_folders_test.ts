/**
 * Folders in the mirror that a pass with `delete` passes by, the real program against the local
 * data platform: a file system mounted in the mirror (a USB stick: its files are not the mirror's)
 * and a folder the service user cannot read (root's `lost+found` on a disk mounted at the mirror:
 * it must not stop the mirror). Both need root (CI runs as root): a tmpfs is mounted, and the
 * program runs without root's override of file modes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describeDataset, startPlatform } from "../support/platform/mod.ts";
import { type ProgramOptions, runProgram } from "../_program.ts";
import { withTmpfsAt } from "../fs/_helpers.ts";
import { writePlaced } from "./_harness.ts";

const _LISTED = ["g0/g0-000000.jpeg", "g0/g0-000001.jpeg"];

/**
 * Runs `test` with a platform of two items and a Viam home whose mirror holds a stale file (one it
 * placed, no longer listed).
 */
async function _withMirror(
  test: (
    mirror: string,
    sync: (options?: Partial<ProgramOptions>, flags?: string[]) => ReturnType<typeof runProgram>,
  ) => Promise<void>,
): Promise<void> {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 2 }]) });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-passed-by-" });
  const mirror = join(home, "data_mirror");
  await writePlaced(mirror, "stale.jpg", "no longer listed");
  const env = { VIAM_API_KEY_ID: platform.apiKeyId, VIAM_API_KEY: platform.apiKey };
  try {
    await test(
      mirror,
      (options = {}, flags = []) =>
        runProgram(["sync", "--app-url", platform.url, "--delete", "--json", ...flags], {
          viamHome: home,
          env,
          ...options,
        }),
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

async function _files(dir: string, prefix = ""): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = prefix + entry.name;
    if (entry.isDirectory) found.push(...await _files(join(dir, entry.name), `${path}/`));
    else found.push(path);
  }
  return found.sort();
}

Deno.test("delete does not cross a file system mounted in the mirror (a USB stick's files stay)", async () => {
  await _withMirror(async (mirror, sync) => {
    const stick = join(mirror, "usb");
    await Deno.mkdir(stick);
    await withTmpfsAt(stick, async () => {
      await Deno.writeTextFile(join(stick, "photo.raw"), "the stick's own");
      const run = await sync();
      assert.equal(run.code, 0, run.stderr);
      const summary = JSON.parse(run.stdout);
      assert.equal(summary.deleted, 1, run.stdout); // stale.jpg, on the mirror's own disk
      assert.equal(await Deno.readTextFile(join(stick, "photo.raw")), "the stick's own");
      assert.deepEqual(
        (await _files(mirror)).filter((path) => !path.startsWith(".data-mirror/")),
        [..._LISTED, "usb/photo.raw"],
      );
    });
  });
});

Deno.test("a folder the service user cannot read (lost+found) is passed by: the mirror goes on", async () => {
  await _withMirror(async (mirror, sync) => {
    const lostFound = join(mirror, "lost+found");
    await Deno.mkdir(lostFound);
    await Deno.writeTextFile(join(lostFound, "#1234"), "fsck's find");
    await Deno.chmod(lostFound, 0o000);
    try {
      const run = await sync({ fileModesBind: true });
      assert.equal(run.code, 0, run.stderr);
      const summary = JSON.parse(run.stdout);
      assert.equal(summary.downloaded, 2, run.stdout);
      assert.equal(summary.deleted, 1, run.stdout); // stale.jpg
      assert.match(run.stderr, /passed by the folder "lost\+found", which this user cannot read/);
    } finally {
      await Deno.chmod(lostFound, 0o755);
    }
    assert.equal(await Deno.readTextFile(join(lostFound, "#1234")), "fsck's find");
    assert.deepEqual(
      (await _files(mirror)).filter((path) => !path.startsWith(".data-mirror/")),
      [..._LISTED, "lost+found/#1234"],
    );
  });
});

Deno.test("a folder the service user may list but not enter (744) is passed by whole", async () => {
  await _withMirror(async (mirror, sync) => {
    const listOnly = join(mirror, "list-only");
    await Deno.mkdir(join(listOnly, "sub"), { recursive: true });
    await Deno.writeTextFile(join(listOnly, "sub", "f"), "root's");
    // Another user's (the program keeps uid 0 but loses root's override of modes): "other" may
    // list it (r) but not enter it (no x).
    await Deno.chown(listOnly, 65534, 65534);
    await Deno.chmod(listOnly, 0o744);
    try {
      const run = await sync({ fileModesBind: true });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(JSON.parse(run.stdout).downloaded, 2, run.stdout);
      assert.match(
        run.stderr,
        /passed by the folder "list-only", which this user cannot read/,
      );
    } finally {
      await Deno.chmod(listOnly, 0o755);
    }
    assert.equal(await Deno.readTextFile(join(listOnly, "sub", "f")), "root's");
  });
});

Deno.test("a dry run names the listed items a file system mounted in their way would fail", async () => {
  await _withMirror(async (mirror, sync) => {
    const stick = join(mirror, "g0"); // where both listed items go
    await Deno.mkdir(stick);
    await withTmpfsAt(stick, async () => {
      const run = await sync({}, ["--dry-run"]);
      assert.equal(run.code, 1, run.stderr); // as the pass would end
      const report = JSON.parse(run.stdout);
      assert.equal(report.conflictCount, 2, run.stdout);
      assert.deepEqual(report.conflicts.map((c: { path: string }) => c.path).sort(), _LISTED);
      assert.equal(report.downloadCount, 0);
    });
  });
});

Deno.test("the lost+found of a disk mounted at the mirror (and Windows' folders on a stick) are not the mirror's: root deletes none of them", async () => {
  await _withMirror(async (mirror, sync) => {
    // A disk mounted at the mirror, as the README advises; the program runs as root, as
    // viam-server runs its modules, so fsck's folder (mode 700, root's) is readable to it.
    await withTmpfsAt(mirror, async () => {
      await writePlaced(mirror, "stale.jpg", "no longer listed");
      await Deno.mkdir(join(mirror, "lost+found", "#12"), { recursive: true });
      await Deno.writeTextFile(join(mirror, "lost+found", "#1234"), "fsck's find");
      // What Windows makes on a stick it sees: its own too.
      await Deno.mkdir(join(mirror, "System Volume Information"));
      await Deno.writeTextFile(join(mirror, "System Volume Information", "WPSettings.dat"), "w");
      await Deno.mkdir(join(mirror, "$RECYCLE.BIN", "S-1-5-21"), { recursive: true });
      await Deno.writeTextFile(join(mirror, "$RECYCLE.BIN", "S-1-5-21", "desktop.ini"), "d");
      await Deno.mkdir(join(mirror, "empty"));
      const run = await sync();
      assert.equal(run.code, 0, run.stderr);
      const summary = JSON.parse(run.stdout);
      assert.equal(summary.downloaded, 2, run.stdout);
      assert.equal(summary.deleted, 1, run.stdout); // stale.jpg, the mirror's
      assert.equal(await Deno.readTextFile(join(mirror, "lost+found", "#1234")), "fsck's find");
      assert.ok((await Deno.lstat(join(mirror, "lost+found", "#12"))).isDirectory);
      assert.equal(
        await Deno.readTextFile(join(mirror, "System Volume Information", "WPSettings.dat")),
        "w",
      );
      assert.equal(
        await Deno.readTextFile(join(mirror, "$RECYCLE.BIN", "S-1-5-21", "desktop.ini")),
        "d",
      );
      // An empty folder the mirror did not empty is not its to prune either.
      assert.ok((await Deno.lstat(join(mirror, "empty"))).isDirectory);
      // Emptied by hand, it is still fsck's: not pruned.
      await Deno.remove(join(mirror, "lost+found"), { recursive: true });
      await Deno.mkdir(join(mirror, "lost+found"));
      const again = await sync();
      assert.equal(again.code, 0, again.stderr);
      assert.ok((await Deno.lstat(join(mirror, "lost+found"))).isDirectory);
    });
  });
});

Deno.test("a folder of the mirror's own disk bind-mounted in the mirror is passed by: nothing deleted or pruned there, its items conflicts", async () => {
  await _withMirror(async (mirror, sync) => {
    // The user's own folder, outside the mirror on the same file system, bound in (a container's
    // volume, or `mount --bind ~/Pictures`): lstat cannot tell it from a folder of the mirror.
    const pictures = await Deno.makeTempDir({ prefix: "data-mirror-bound-" });
    // More of the user's files than max_delete allows (50% of the mirror's, at least 10), and an
    // empty folder of the user's.
    for (let i = 0; i < 20; i++) await Deno.writeTextFile(join(pictures, `p${i}.jpg`), "own");
    await Deno.mkdir(join(pictures, "album", "empty-event"), { recursive: true });
    await Deno.mkdir(join(mirror, "pics"));
    await Deno.mkdir(join(mirror, "g0")); // where the two listed items go
    const bind = async (source: string, target: string) => {
      const out = await new Deno.Command("mount", { args: ["--bind", source, target] }).output();
      assert.ok(out.success, "mount needs root");
    };
    await bind(pictures, join(mirror, "pics"));
    try {
      await bind(pictures, join(mirror, "g0"));
      try {
        const dry = await sync({}, ["--dry-run"]);
        const report = JSON.parse(dry.stdout);
        assert.deepEqual(report.deletes, ["stale.jpg"], dry.stdout); // none of the user's files
        const run = await sync();
        assert.equal(run.code, 1, run.stderr); // the two items could not be written
        const summary = JSON.parse(run.stdout);
        // stale.jpg, on the mirror's own mount: not held back by the user's 20 files
        assert.equal(summary.deleted, 1, run.stdout);
        assert.equal(summary.guard, undefined, run.stdout);
        assert.equal(summary.downloaded, 0, run.stdout);
        assert.deepEqual(summary.failures.map((f: { path: string }) => f.path), _LISTED);
        assert.match(summary.failures[0].error, /a bind mount/);
      } finally {
        await new Deno.Command("umount", { args: [join(mirror, "g0")] }).output();
      }
    } finally {
      await new Deno.Command("umount", { args: [join(mirror, "pics")] }).output();
    }
    assert.equal(await Deno.readTextFile(join(pictures, "p0.jpg")), "own");
    assert.ok((await Deno.lstat(join(pictures, "album", "empty-event"))).isDirectory); // not pruned
    await Deno.remove(pictures, { recursive: true });
  });
});

Deno.test("a folder bound in that the service user may list but not enter (744) is passed by: its files hold no delete back", async () => {
  await _withMirror(async (mirror, sync) => {
    // The user's folder, another user's (the program keeps uid 0 but loses root's override of
    // modes): "other" may list it (r) but not enter it (no x), so the mount probe (a lookup in it)
    // cannot tell; its 20 files are more than max_delete allows.
    const pictures = await Deno.makeTempDir({ prefix: "data-mirror-bound-744-" });
    for (let i = 0; i < 20; i++) await Deno.writeTextFile(join(pictures, `p${i}.jpg`), "own");
    await Deno.chown(pictures, 65534, 65534);
    await Deno.chmod(pictures, 0o744);
    await Deno.mkdir(join(mirror, "pics"));
    const out = await new Deno.Command("mount", {
      args: ["--bind", pictures, join(mirror, "pics")],
    }).output();
    assert.ok(out.success, "mount needs root");
    try {
      const dry = await sync({ fileModesBind: true }, ["--dry-run"]);
      assert.deepEqual(JSON.parse(dry.stdout).deletes, ["stale.jpg"], dry.stdout);
      const run = await sync({ fileModesBind: true });
      assert.equal(run.code, 0, run.stderr);
      const summary = JSON.parse(run.stdout);
      assert.equal(summary.guard, undefined, run.stdout);
      assert.equal(summary.deleted, 1, run.stdout); // stale.jpg
    } finally {
      await new Deno.Command("umount", { args: [join(mirror, "pics")] }).output();
    }
    assert.equal(await Deno.readTextFile(join(pictures, "p0.jpg")), "own");
    await Deno.chmod(pictures, 0o755);
    await Deno.remove(pictures, { recursive: true });
  });
});

Deno.test("the mirror's .data-mirror bind-mounted on its own: stale files are deleted, a write names the state folder", async () => {
  await _withMirror(async (mirror, sync) => {
    const first = await sync(); // makes the state folder and the two listed files
    assert.equal(first.code, 0, first.stderr);
    await writePlaced(mirror, "cams/old.jpg", "no longer listed");
    await writePlaced(mirror, "stale.jpg", "no longer listed");
    await Deno.remove(join(mirror, _LISTED[0])); // to be written again
    const state = join(mirror, ".data-mirror");
    // A container's volume for the state, or a bind mount of the folder on itself: every move
    // out of the mirror into it (and every link out of it) answers "cross-device".
    const out = await new Deno.Command("mount", { args: ["--bind", state, state] }).output();
    assert.ok(out.success, "mount needs root");
    try {
      const run = await sync();
      assert.equal(run.code, 1, run.stderr); // the listed item could not be written
      const summary = JSON.parse(run.stdout);
      assert.equal(summary.deleted, 2, run.stdout); // not kept "on a mount of their own"
      assert.doesNotMatch(run.stderr, /on a mount of their own/);
      assert.deepEqual(summary.failures.map((f: { path: string }) => f.path), [_LISTED[0]]);
      assert.match(summary.failures[0].error, /the mirror's \.data-mirror folder is a mount of/);
    } finally {
      await new Deno.Command("umount", { args: [state] }).output();
    }
    assert.deepEqual(
      (await _files(mirror)).filter((path) => !path.startsWith(".data-mirror/")),
      [_LISTED[1]],
    );
  });
});

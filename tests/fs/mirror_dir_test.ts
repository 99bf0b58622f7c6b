// Tests of MirrorDir.writeFiles and the group sync it makes a batch durable with (real files, real
// processes standing in for `sync`).
import assert from "node:assert/strict";
import { join } from "node:path";
import { assertPushPlace, checkMirrorPlace, MirrorDir } from "../../src/fs/mirror_dir.ts";
import { parseConfig } from "../../src/config.ts";
import { MirrorLocationError } from "../../src/fs/mirror_location.ts";
import { stateOf } from "../../src/fs/state_dir.ts";
import { names, rejection, withTempDir, withTmpfsAt } from "./_helpers.ts";
import { testOnExfatFuse } from "../support/exfat_fuse.ts";

/** A program standing in for `sync`: lists `folder` into `log` when it runs, then exits `exitCode`. */
async function listingSync(
  dir: string,
  folder: string,
  exitCode: number,
): Promise<{ program: string; log: string }> {
  const program = join(dir, `sync-${exitCode}`);
  const log = join(dir, `sync-${exitCode}.log`);
  await Deno.writeTextFile(
    program,
    `#!/bin/sh\necho "sync: $(ls '${folder}' 2>/dev/null | tr '\\n' ' ')" >> '${log}'\nexit ${exitCode}\n`,
    { mode: 0o755 },
  );
  return { program, log };
}

/** The mirror `<dir>/home/mirror`, its batches synced by a {@linkcode listingSync} exiting `exitCode`. */
async function mirrorSyncedBy(
  dir: string,
  exitCode: number,
): Promise<{ mirror: MirrorDir; log: string }> {
  const viamHome = join(dir, "home");
  const { program, log } = await listingSync(dir, join(viamHome, "mirror/images"), exitCode);
  const mirror = await MirrorDir.open({ viamHome, mirrorPath: "mirror", syncPrograms: [program] });
  return { mirror, log };
}

const BATCH = [
  { path: "images/a.jpg", bytes: new TextEncoder().encode("alpha") },
  { path: "images/b.jpg", bytes: new TextEncoder().encode("bravo") },
];

Deno.test("writeFiles gives no file its name before one sync of the file system has run after the batch was written", async () => {
  await withTempDir(async (dir) => {
    const { mirror, log } = await mirrorSyncedBy(dir, 0);
    await using _mirror = mirror;
    assert.deepEqual(await mirror.writeFiles(BATCH), [undefined, undefined]);
    assert.equal(await Deno.readTextFile(log), "sync: \n", "one sync, with no name given yet");
    assert.deepEqual(await names(join(mirror.root, "images")), ["a.jpg", "b.jpg"]);
    assert.equal(await Deno.readTextFile(join(mirror.root, "images/b.jpg")), "bravo");
  });
});

Deno.test("writeFiles places a batch whole when the group sync fails (each file synced on its own), and keeps to that", async () => {
  await withTempDir(async (dir) => {
    const { mirror, log } = await mirrorSyncedBy(dir, 1);
    await using _mirror = mirror;
    assert.deepEqual(await mirror.writeFiles(BATCH), [undefined, undefined]);
    assert.deepEqual(
      await mirror.writeFiles([{ path: "images/c.jpg", bytes: new Uint8Array([1, 2, 3]) }]),
      [undefined],
    );
    assert.equal(await Deno.readTextFile(log), "sync: \n", "no second try after a failure");
    assert.deepEqual(await names(join(mirror.root, "images")), ["a.jpg", "b.jpg", "c.jpg"]);
    assert.equal(await Deno.readTextFile(join(mirror.root, "images/a.jpg")), "alpha");
    assert.deepEqual(
      await Deno.readFile(join(mirror.root, "images/c.jpg")),
      new Uint8Array([1, 2, 3]),
    );
  });
});

Deno.test("writeFiles with no sync program at all still places every file", async () => {
  await withTempDir(async (dir) => {
    await using mirror = await MirrorDir.open({
      viamHome: join(dir, "home"),
      mirrorPath: "mirror",
      syncPrograms: [join(dir, "absent-sync")],
    });
    assert.deepEqual(await mirror.writeFiles(BATCH), [undefined, undefined]);
    assert.equal(await Deno.readTextFile(join(mirror.root, "images/a.jpg")), "alpha");
  });
});

Deno.test("writeFiles holds no descriptor while its batch waits for the sync", async () => {
  await withTempDir(async (dir) => {
    const { mirror } = await mirrorSyncedBy(dir, 0);
    await using _mirror = mirror;
    const openDescriptors = () => [...Deno.readDirSync("/proc/self/fd")].length;
    const before = openDescriptors();
    let whileWaiting = -1;
    const batch = Array.from({ length: 50 }, (_, i) => ({
      path: `images/${i}.jpg`,
      bytes: new Uint8Array([i]),
    }));
    const outcomes = await mirror.writeFiles(batch, () => whileWaiting = openDescriptors());
    assert.deepEqual(outcomes, batch.map(() => undefined));
    assert.ok(
      whileWaiting - before < 5,
      `${whileWaiting - before} more descriptors open while 50 files wait for their sync`,
    );
    assert.equal((await names(join(mirror.root, "images"))).length, 50);
  });
});

Deno.test("a batch leaves no staged name nor second link behind: its placed files, one refused and one failed alike", async () => {
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "home");
    await Deno.mkdir(join(viamHome, "mirror/images"), { recursive: true });
    await Deno.writeTextFile(join(viamHome, "mirror/images/held.jpg"), "a user's own");
    await Deno.writeTextFile(join(viamHome, "mirror/notes"), "a file where a folder is wanted");
    await using mirror = await MirrorDir.open({ viamHome, mirrorPath: "mirror", durable: false });
    const state = join(mirror.root, ".data-mirror");
    const before = await names(state);
    const bytes = new TextEncoder().encode("new");
    const outcomes = await mirror.writeFiles([
      { path: "images/x.jpg", bytes },
      { path: "images/held.jpg", bytes },
      { path: "notes/n.txt", bytes },
      { path: "images/y.jpg", bytes },
    ]);
    assert.equal(outcomes[0], undefined);
    assert.ok(outcomes[1] instanceof Deno.errors.AlreadyExists, String(outcomes[1]));
    assert.ok(outcomes[2] instanceof Error, "no folder where a file is");
    assert.equal(outcomes[3], undefined);
    assert.deepEqual(await names(state), before);
    for (const placed of ["images/x.jpg", "images/y.jpg"]) {
      const info = await Deno.stat(join(mirror.root, placed));
      assert.equal(info.nlink, 1, `${placed} has no other name`);
      assert.equal(await Deno.readTextFile(join(mirror.root, placed)), "new");
    }
    assert.equal(await Deno.readTextFile(join(mirror.root, "images/held.jpg")), "a user's own");
  });
});

Deno.test("open removes the files a killed pass left staged, and the folder earlier versions staged in, and nothing else", async () => {
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "home");
    const state = join(viamHome, "mirror/.data-mirror");
    await Deno.mkdir(join(state, "tmp"), { recursive: true });
    await Deno.mkdir(join(viamHome, "mirror/images"));
    const outside = join(dir, "outside.txt");
    await Deno.writeTextFile(outside, "not the mirror's");
    await Deno.writeTextFile(join(state, "staged-3"), "half a fi"); // killed while writing
    await Deno.writeTextFile(join(viamHome, "mirror/images/a.jpg"), "alpha");
    await Deno.link(join(viamHome, "mirror/images/a.jpg"), join(state, "staged-1")); // ...or placing
    await Deno.symlink(outside, join(state, "staged-2"));
    await Deno.mkdir(join(state, "staged-0/deep"), { recursive: true }); // would fail staged-0
    await Deno.symlink(dir, join(state, "staged-0/deep/up"));
    await Deno.writeTextFile(join(state, "tmp/5"), "left by an earlier version");
    await Deno.writeTextFile(join(state, "staged-notes"), "not a name the program stages under");
    await Deno.writeTextFile(join(state, "manifest.jsonl"), "");

    await using mirror = await MirrorDir.open({ viamHome, mirrorPath: "mirror", durable: false });
    assert.deepEqual(await names(state), ["lock", "manifest.jsonl", "partial", "staged-notes"]);
    assert.equal(await Deno.readTextFile(join(mirror.root, "images/a.jpg")), "alpha");
    assert.equal(
      await Deno.readTextFile(outside),
      "not the mirror's",
      "the symlink went, not its target",
    );

    const outcomes = await mirror.writeFiles([{
      path: "images/b.jpg",
      bytes: new Uint8Array([1]),
    }]);
    assert.deepEqual(outcomes, [undefined]);
    assert.deepEqual(await names(join(mirror.root, "images")), ["a.jpg", "b.jpg"]);
    assert.deepEqual(await names(state), ["lock", "manifest.jsonl", "partial", "staged-notes"]);
  });
});

Deno.test("writeFiles and placeFile name nothing through a folder swapped for a symlink during the pass", async () => {
  await withTempDir(async (dir) => {
    const { mirror } = await mirrorSyncedBy(dir, 0);
    await using _mirror = mirror;
    const outside = join(dir, "outside");
    await Deno.mkdir(outside);
    assert.deepEqual(await mirror.writeFiles(BATCH), [undefined, undefined]);
    // The folder made for this pass's first batch, swapped for a link out of the mirror.
    await Deno.rename(join(mirror.root, "images"), join(dir, "moved"));
    await Deno.symlink(outside, join(mirror.root, "images"));
    const batch = [{ path: "images/c.jpg", bytes: new TextEncoder().encode("charlie") }];
    const [refused] = await mirror.writeFiles(batch);
    assert.ok(refused instanceof Deno.errors.PermissionDenied, String(refused));
    assert.match(refused.message, /refusing to write into images: images became a symlink/);
    // A large file's placement from staging, the same.
    const key = { binaryDataId: "large-1", expectedSize: 5 };
    const staged = await mirror.staging.begin(key);
    await staged.write(new TextEncoder().encode("large"));
    await assert.rejects(
      staged.commit("images/large.bin", { expectedSize: 5 }),
      Deno.errors.PermissionDenied,
    );
    await staged.close();
    assert.deepEqual(await names(outside), []);
  });
});

Deno.test("the root swapped for a symlink while the mirror is opened: nothing made or removed where it leads", async () => {
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "home");
    const root = join(viamHome, "mirror");
    // Where the link will lead: another mirror's tree, its batch being written (`staged-1`).
    const outside = join(dir, "outside");
    await Deno.mkdir(join(outside, ".data-mirror"), { recursive: true });
    await Deno.writeTextFile(join(outside, ".data-mirror", "staged-1"), "theirs");
    await Deno.mkdir(join(root, ".data-mirror"), { recursive: true });
    // A link planted at the lock's name: open replaces it, and tells `warn` first. The swap is
    // made right then, after the root was resolved and checked.
    await Deno.symlink(join(dir, "nowhere"), join(root, ".data-mirror", "lock"));
    let swapped = false;
    const warn = () => {
      if (swapped) return;
      swapped = true;
      Deno.renameSync(root, join(dir, "moved"));
      Deno.symlinkSync(outside, root);
    };
    await rejection(
      () => MirrorDir.open({ viamHome, mirrorPath: "mirror", warn }),
      MirrorLocationError,
      "became a symlink while the mirror was opened",
    );
    assert.ok(swapped);
    assert.equal(await Deno.readTextFile(join(outside, ".data-mirror", "staged-1")), "theirs");
    assert.ok(!(await names(join(outside, ".data-mirror"))).includes("partial"));
  });
});

Deno.test("a folder reached through a link inside the mirror, swapped for a link out of it: nothing named there", async () => {
  await withTempDir(async (dir) => {
    await using mirror = await MirrorDir.open({
      viamHome: join(dir, "home"),
      mirrorPath: "mirror",
    });
    const outside = join(dir, "outside");
    await Deno.mkdir(outside);
    // Planted after the walk: `images` leads to a folder of the mirror, which ensureDir follows.
    await Deno.mkdir(join(mirror.root, "real"));
    await Deno.symlink("real", join(mirror.root, "images"));
    const bytes = new TextEncoder().encode("alpha");
    assert.deepEqual(await mirror.writeFiles([{ path: "images/a.jpg", bytes }]), [undefined]);
    assert.deepEqual(await names(join(mirror.root, "real")), ["a.jpg"]);
    // The folder the link led to, swapped for a link out of the mirror since.
    await Deno.rename(join(mirror.root, "real"), join(dir, "moved"));
    await Deno.symlink(outside, join(mirror.root, "real"));
    const [refused] = await mirror.writeFiles([{ path: "images/b.jpg", bytes }]);
    assert.ok(refused instanceof Deno.errors.PermissionDenied, String(refused));
    const staged = await mirror.staging.begin({ binaryDataId: "large-1", expectedSize: 5 });
    await staged.write(bytes);
    await assert.rejects(staged.commit("images/large.bin"), Deno.errors.PermissionDenied);
    assert.deepEqual(await names(outside), []);
  });
});

Deno.test("the state folder swapped for a symlink while a batch waits for its sync: nothing named from, or removed in, where it leads", async () => {
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "home");
    const state = join(viamHome, "mirror", ".data-mirror");
    // Another mirror's state folder, its own batch staged under the same names.
    const other = join(dir, "other", ".data-mirror");
    await Deno.mkdir(other, { recursive: true });
    for (const name of ["staged-0", "staged-1"]) {
      await Deno.writeTextFile(join(other, name), "theirs");
    }
    // The group sync, run while the batch waits, is where the swap happens.
    const program = join(dir, "swapping-sync");
    await Deno.writeTextFile(
      program,
      `#!/bin/sh\nmv '${state}' '${join(dir, "moved")}' && ln -s '${other}' '${state}'\n`,
      { mode: 0o755 },
    );
    await using mirror = await MirrorDir.open({
      viamHome,
      mirrorPath: "mirror",
      syncPrograms: [program],
    });
    const outcomes = await mirror.writeFiles(BATCH);
    assert.ok(outcomes.every((o) => o instanceof Deno.errors.PermissionDenied), String(outcomes));
    assert.deepEqual(await names(join(mirror.root, "images")), []);
    assert.deepEqual(await names(other), ["staged-0", "staged-1"]);
    for (const name of ["staged-0", "staged-1"]) {
      assert.equal(await Deno.readTextFile(join(other, name)), "theirs");
    }
  });
});

Deno.test("the staging folder swapped for a symlink during the pass: nothing opened or removed where it leads", async () => {
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "home");
    await using mirror = await MirrorDir.open({ viamHome, mirrorPath: "mirror" });
    const outside = join(dir, "outside");
    await Deno.mkdir(outside);
    await Deno.writeTextFile(join(outside, "precious.txt"), "keep");
    // `.data-mirror/partial`, checked a plain folder when the pass opened the mirror, swapped since.
    const partial = join(mirror.stateDir, "partial");
    await Deno.rename(partial, join(dir, "partial-moved"));
    await Deno.symlink(outside, partial);
    // The pass's end sweeps stale partials: it would take every file of the folder the link leads to.
    assert.equal(await mirror.staging.discardStale([]), 0);
    await assert.rejects(
      mirror.staging.begin({ binaryDataId: "large-1", expectedSize: 5 }),
      Deno.errors.PermissionDenied,
    );
    assert.deepEqual(await names(outside), ["precious.txt"]);
    assert.equal(await Deno.readTextFile(join(outside, "precious.txt")), "keep");
  });
});

Deno.test("open refuses a new mirror inside another one, and keeps one made before it", async () => {
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "home");
    await Deno.mkdir(join(viamHome, "a/b"), { recursive: true });
    await Deno.writeTextFile(join(viamHome, "a/b/outer.jpg"), "the outer mirror's");
    // A mirror made in a/b first, then the outer one: both keep working.
    await Deno.mkdir(join(viamHome, "old/inner"), { recursive: true });
    await (await MirrorDir.open({ viamHome, mirrorPath: "old/inner", durable: false })).close();
    await (await MirrorDir.open({ viamHome, mirrorPath: "old", durable: false })).close();
    await (await MirrorDir.open({ viamHome, mirrorPath: "old/inner", durable: false })).close();
    // The outer mirror holds a/b's files: a new mirror there is refused, naming it.
    await (await MirrorDir.open({ viamHome, mirrorPath: "a", durable: false })).close();
    await assert.rejects(
      MirrorDir.open({ viamHome, mirrorPath: "a/b", durable: false }),
      /mirror_path a\/b \(.*\) lies inside .*\/a, which is a mirror/,
    );
    assert.equal(await Deno.readTextFile(join(viamHome, "a/b/outer.jpg")), "the outer mirror's");
  });
});

Deno.test("open refuses a new mirror inside a push folder, whose files wait for their upload", async () => {
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "home");
    await Deno.mkdir(join(viamHome, "outbox/.data-mirror"), { recursive: true });
    await Deno.writeTextFile(join(viamHome, "outbox/.data-mirror/push-journal.json"), "{}");
    await Deno.mkdir(join(viamHome, "outbox/m"), { recursive: true });
    await Deno.writeTextFile(join(viamHome, "outbox/m/wait.txt"), "to be uploaded");
    await assert.rejects(
      MirrorDir.open({ viamHome, mirrorPath: "outbox/m", durable: false }),
      /mirror_path outbox\/m \(.*\) lies inside .*\/outbox, which is a push folder/,
    );
    assert.equal(await Deno.readTextFile(join(viamHome, "outbox/m/wait.txt")), "to be uploaded");
    // One not made yet is refused before it is made: no empty folder left for the push to walk.
    await assert.rejects(
      MirrorDir.open({ viamHome, mirrorPath: "outbox/new/mm", durable: false }),
      /mirror_path outbox\/new\/mm \(.*\) lies inside .*\/outbox, which is a push folder/,
    );
    assert.equal(await Deno.lstat(join(viamHome, "outbox/new")).catch(() => undefined), undefined);
  });
});

Deno.test("open refuses a new mirror around a push folder, whose pushes it would stop", async () => {
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "home");
    await Deno.mkdir(join(viamHome, "m2/a/out/.data-mirror"), { recursive: true });
    await Deno.writeTextFile(join(viamHome, "m2/a/out/.data-mirror/push-journal.json"), "{}");
    await Deno.writeTextFile(join(viamHome, "m2/a/out/wait.txt"), "to be uploaded");
    await assert.rejects(
      MirrorDir.open({ viamHome, mirrorPath: "m2", durable: false }),
      /mirror_path m2 \(.*\) holds the push folder .*\/m2\/a\/out \(.*push-journal.json is its journal\)/,
    );
    // Refused before its state is made: the push of m2/a/out goes on.
    assert.equal(await stateOf(join(viamHome, "m2"), "mirror"), undefined);
    await assertPushPlace(join(viamHome, "m2/a/out"), "m2/a/out");
    // The config check does not look below (a large folder took the module's ValidateConfig past
    // viam-server's 5 s): the pass's open does.
    const { config } = parseConfig({
      app_api_key_id: "k",
      app_api_key: "s",
      tags: ["t"],
      mirror_path: "m2",
    }, {
      env: (name) => name === "VIAM_HOME" ? viamHome : undefined,
    });
    await checkMirrorPlace(config);
    // A folder reached through a symlink, or one holding another mirror, is not looked into.
    await Deno.mkdir(join(viamHome, "m3/inner/.data-mirror/partial"), { recursive: true });
    await Deno.symlink(join(viamHome, "m2"), join(viamHome, "m3/link"));
    await Deno.rename(join(viamHome, "m2/a/out"), join(viamHome, "m3/inner/out"));
    await (await MirrorDir.open({ viamHome, mirrorPath: "m3", durable: false })).close();
    // A `.data-mirror` holding no mirror's state (its lock alone) hides nothing below it.
    await Deno.mkdir(join(viamHome, "m4/x/.data-mirror"), { recursive: true });
    await Deno.writeTextFile(join(viamHome, "m4/x/.data-mirror/lock"), "");
    await Deno.rename(join(viamHome, "m3/inner/out"), join(viamHome, "m4/x/out"));
    await assert.rejects(
      MirrorDir.open({ viamHome, mirrorPath: "m4", durable: false }),
      /mirror_path m4 .* holds the push folder .*\/m4\/x\/out .* remove its \.data-mirror folder/,
    );
  });
});

Deno.test("open refuses a new mirror around a push folder on a disk mounted below it; a stop ends the look", async () => {
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "home");
    const usb = join(viamHome, "m/usb");
    await Deno.mkdir(usb, { recursive: true });
    await withTmpfsAt(usb, async () => {
      // At the mount point, and deeper in it (assertPushPlace refuses that one as inside a mirror).
      for (const out of [usb, join(usb, "photos/out")]) {
        await Deno.mkdir(join(out, ".data-mirror"), { recursive: true });
        await Deno.writeTextFile(join(out, ".data-mirror/push-journal.json"), "{}");
        await assert.rejects(
          MirrorDir.open({ viamHome, mirrorPath: "m", durable: false }),
          new RegExp(`mirror_path m .* holds the push folder ${out} `),
        );
        await Deno.remove(join(out, ".data-mirror"), { recursive: true });
      }
    });
    // The look below a new mirror's folder (once, but read whole) ends at a stop.
    const stop = new AbortController();
    stop.abort(new Error("the mirror was stopped"));
    await assert.rejects(
      MirrorDir.open({ viamHome, mirrorPath: "m", durable: false, signal: stop.signal }),
      /the mirror was stopped/,
    );
  });
});

Deno.test("a long-running mirror whose disk is unmounted is refused, not refilled onto the disk below", async () => {
  await withTempDir(async (home) => {
    const root = join(home, "m");
    await Deno.mkdir(root);
    const seen: { device?: number } = {};
    await withTmpfsAt(root, async () => {
      await (await MirrorDir.open({ viamHome: home, mirrorPath: "m", seen })).close();
    });
    // The disk is gone: the mount point is a bare folder on the file system below.
    await assert.rejects(
      async () => await (await MirrorDir.open({ viamHome: home, mirrorPath: "m", seen })).close(),
      /another file system .* was its disk unmounted/,
    );
    assert.deepEqual([...Deno.readDirSync(root)], [], "nothing written below the mount point");
  });
});

Deno.test("a long-running mirror with a disk mounted at it since is refused, saying a disk was mounted", async () => {
  await withTempDir(async (home) => {
    const root = join(home, "m");
    const seen: { device?: number } = {};
    await (await MirrorDir.open({ viamHome: home, mirrorPath: "m", seen })).close();
    // The operator moves the mirror to a card: an empty one mounted at the mirror.
    await withTmpfsAt(root, async () => {
      const refused = await rejection(
        async () => await (await MirrorDir.open({ viamHome: home, mirrorPath: "m", seen })).close(),
        MirrorLocationError,
        "is now the mount point of another file system than at the last pass (a disk mounted",
      );
      assert.doesNotMatch(refused.message, /unmounted|mount the disk again/);
      assert.deepEqual([...Deno.readDirSync(root)], [], "nothing written on the card");
    });
  });
});

Deno.test("a mirror in a folder of an unmounted disk is not made again below the mount point; one deleted on the same disk is", async () => {
  await withTempDir(async (home) => {
    const disk = join(home, "usb");
    await Deno.mkdir(disk);
    const seen: { device?: number } = {};
    await withTmpfsAt(disk, async () => {
      await (await MirrorDir.open({ viamHome: home, mirrorPath: "usb/faces", seen })).close();
    });
    await assert.rejects(
      async () =>
        await (await MirrorDir.open({ viamHome: home, mirrorPath: "usb/faces", seen })).close(),
      /another file system .* was its disk unmounted/,
    );
    assert.deepEqual([...Deno.readDirSync(disk)], [], "usb/faces not made on the disk below");
    // A mirror folder deleted by hand on the disk the loop knows is made again.
    const sameDisk: { device?: number } = {};
    await (await MirrorDir.open({ viamHome: home, mirrorPath: "faces", seen: sameDisk })).close();
    await Deno.remove(join(home, "faces"), { recursive: true });
    await (await MirrorDir.open({ viamHome: home, mirrorPath: "faces", seen: sameDisk })).close();
    assert.ok((await Deno.lstat(join(home, "faces"))).isDirectory);
  });
});

Deno.test("a loop whose Viam home was removed makes it again on the same disk; a dropped disk's gone mount point is refused, nothing left", async () => {
  await withTempDir(async (base) => {
    const home = join(base, "home");
    const seen: { device?: number } = {};
    await (await MirrorDir.open({ viamHome: home, mirrorPath: "m", seen })).close();
    await Deno.remove(home, { recursive: true });
    await (await MirrorDir.open({ viamHome: home, mirrorPath: "m", seen })).close();
    assert.ok((await Deno.lstat(join(home, "m"))).isDirectory);
    // The home is a disk's mount point: it drops out and its mount point is cleaned up.
    await Deno.remove(home, { recursive: true });
    await Deno.mkdir(home);
    const onDisk: { device?: number } = {};
    await withTmpfsAt(home, async () => {
      await (await MirrorDir.open({ viamHome: home, mirrorPath: "m", seen: onDisk })).close();
    });
    await Deno.remove(home);
    await assert.rejects(
      async () =>
        await (await MirrorDir.open({ viamHome: home, mirrorPath: "m", seen: onDisk })).close(),
      /another file system .* was its disk unmounted/,
    );
    await assert.rejects(Deno.lstat(home), Deno.errors.NotFound, "no home made on the disk below");
  });
});

Deno.test("a Viam home whose link dangles (its disk dropped out) is refused as a dropped disk", async () => {
  const base = await Deno.makeTempDir({ prefix: "data-mirror-home-link-" });
  try {
    const target = join(base, "disk", "viam");
    await Deno.mkdir(target, { recursive: true });
    const home = join(base, "home");
    await Deno.symlink(target, home);
    const seen: { device?: number } = {};
    await (await MirrorDir.open({ viamHome: home, mirrorPath: "m", seen })).close();
    await Deno.remove(join(base, "disk"), { recursive: true }); // the disk dropped out
    let message = "";
    try {
      await (await MirrorDir.open({ viamHome: home, mirrorPath: "m", seen })).close();
      message = "opened";
    } catch (error) {
      message = (error as Error).message;
    }
    console.log("second open:", message);
    assert.doesNotMatch(message, /os error|File exists|No such file/, message);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

/** Runs `fn` with a mirror `m` opened in a new Viam home, removed afterwards. */
function _withOpenMirror(fn: (mirror: MirrorDir) => Promise<void>): Promise<void> {
  return withTempDir(async (home) => {
    await using mirror = await MirrorDir.open({ viamHome: home, mirrorPath: "m", durable: false });
    await fn(mirror);
  });
}

Deno.test("a removal does not fold the letter case of every folder cached (10,000 stale files took seconds)", async () => {
  await _withOpenMirror(async (mirror) => {
    for (let i = 0; i < 2000; i++) await mirror.ensureDir(`cam/h${i}`);
    for (let i = 0; i < 200; i++) Deno.writeTextFileSync(`${mirror.root}/cam/h${i}/f.jpg`, "x");
    const original = String.prototype.toLowerCase;
    let calls = 0;
    String.prototype.toLowerCase = function (this: string) {
      calls++;
      return original.call(this);
    };
    try {
      for (let i = 0; i < 200; i++) assert.equal(await mirror.remove(`cam/h${i}/f.jpg`), true);
    } finally {
      String.prototype.toLowerCase = original;
    }
    assert.ok(calls <= 2 * 200, `${calls} case folds for 200 removals with 2,000 folders cached`);
  });
});

Deno.test("a removed file forgets the folder failure cached beneath it", async () => {
  await _withOpenMirror(async (mirror) => {
    Deno.writeTextFileSync(`${mirror.root}/Dir`, "x");
    await assert.rejects(mirror.ensureDir("Dir/sub"));
    await mirror.remove("Dir");
    assert.ok((await mirror.ensureDir("Dir/sub")).endsWith("/m/Dir/sub"));
  });
});

Deno.test("a removed symlink forgets the folders made through it", async () => {
  await _withOpenMirror(async (mirror) => {
    await Deno.mkdir(`${mirror.root}/real`);
    await Deno.symlink("real", `${mirror.root}/link`);
    const through = await mirror.ensureDir("link/sub");
    await mirror.remove("link");
    const made = await mirror.ensureDir("link/sub");
    assert.ok(made.endsWith("/m/link/sub"), `${through} then ${made}`);
    assert.ok((await Deno.lstat(`${mirror.root}/link`)).isDirectory);
  });
});

Deno.test("open removes a file a killed removal left moved aside (stale-<uuid>) and keeps one kept aside (kept-<uuid>)", async () => {
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "home");
    await (await MirrorDir.open({ viamHome, mirrorPath: "mirror", durable: false })).close();
    const state = join(viamHome, "mirror", ".data-mirror");
    const id = crypto.randomUUID();
    await Deno.writeTextFile(join(state, `stale-${id}`), "was being removed");
    await Deno.writeTextFile(join(state, `kept-${id}`), "could not go back");
    await Deno.writeTextFile(join(state, "stale-notours"), "not a name the program gives");
    await (await MirrorDir.open({ viamHome, mirrorPath: "mirror", durable: false })).close();
    const left = await names(state);
    assert.ok(!left.includes(`stale-${id}`));
    assert.ok(left.includes(`kept-${id}`));
    assert.ok(left.includes("stale-notours"));
  });
});

Deno.test("open removes a file moved aside to delete that is the file looked at, and keeps one written as it was moved, told", async () => {
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "home");
    await (await MirrorDir.open({ viamHome, mirrorPath: "mirror", durable: false })).close();
    const root = join(viamHome, "mirror");
    const state = join(root, ".data-mirror");
    // As a kill between a move aside and its check leaves them: named for the file looked at.
    const moveAside = async (name: string, writeBetween: boolean) => {
      await Deno.writeTextFile(join(root, name), "the mirror's stale copy");
      const looked = await Deno.lstat(join(root, name));
      if (writeBetween) await Deno.writeTextFile(join(root, name), "the user's new version");
      const aside =
        `stale-${looked.ino}-${looked.size}-${looked.mtime?.getTime()}-${crypto.randomUUID()}`;
      await Deno.rename(join(root, name), join(state, aside));
      return aside;
    };
    const same = await moveAside("a.jpg", false);
    const rewritten = await moveAside("b.jpg", true);
    const warnings: string[] = [];
    const warn = (message: string) => warnings.push(message);
    await (await MirrorDir.open({ viamHome, mirrorPath: "mirror", durable: false, warn })).close();
    const left = await names(state);
    assert.ok(!left.includes(same));
    const kept = `kept-${rewritten.slice("stale-".length)}`;
    assert.ok(left.includes(kept), `not kept: ${left.join(", ")}`);
    assert.equal(await Deno.readTextFile(join(state, kept)), "the user's new version");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /changed as it was moved .*not deleted, kept in .*kept-/);
  });
});

testOnExfatFuse(
  "on exFAT, whose inode numbers a remount makes afresh, a leftover moved aside to delete is told by its size and time",
  { name: "home", prefix: "data_mirror_stale_fuse_" },
  async (viamHome) => {
    await (await MirrorDir.open({ viamHome, mirrorPath: "mirror", durable: false })).close();
    const root = join(viamHome, "mirror");
    await Deno.writeTextFile(join(root, "a.jpg"), "the mirror's stale copy");
    const looked = await Deno.lstat(join(root, "a.jpg"));
    // Named before a remount that numbered it afresh (exfat-fuse: as it meets them).
    const aside = `stale-${looked.ino! + 1000}-${looked.size}-${looked.mtime?.getTime()}-` +
      crypto.randomUUID();
    await Deno.rename(join(root, "a.jpg"), join(root, ".data-mirror", aside));
    const warnings: string[] = [];
    const warn = (message: string) => warnings.push(message);
    await (await MirrorDir.open({ viamHome, mirrorPath: "mirror", durable: false, warn })).close();
    assert.deepEqual(
      (await names(join(root, ".data-mirror"))).filter((n) => /^(stale|kept)-/.test(n)),
      [],
    );
    assert.deepEqual(warnings, []);
  },
);

Deno.test("remove moves a stale file out of its folder and leaves nothing of it in the state folder", async () => {
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "home");
    await using mirror = await MirrorDir.open({ viamHome, mirrorPath: "mirror", durable: false });
    await Deno.mkdir(join(mirror.root, "a"));
    await Deno.writeTextFile(join(mirror.root, "a", "x.jpg"), "stale");
    const before = await names(mirror.stateDir);
    assert.equal(await mirror.remove("a/x.jpg"), true);
    assert.equal(await mirror.remove("a/x.jpg"), false, "already gone");
    assert.deepEqual(await names(join(mirror.root, "a")), []);
    assert.deepEqual(await names(mirror.stateDir), before);
  });
});

Deno.test("writeFiles stages nothing where a link leads when the state folder is swapped for one while its folders are made", async () => {
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "home");
    await using mirror = await MirrorDir.open({ viamHome, mirrorPath: "mirror", durable: false });
    const elsewhere = join(dir, "elsewhere");
    await Deno.mkdir(elsewhere);
    // The swap comes while the batch's new folder is made (an await before the files are staged).
    const mkdir = Deno.mkdir;
    let swapped = false;
    Deno.mkdir = async (path: string | URL, options?: Deno.MkdirOptions) => {
      await mkdir(path, options);
      if (!swapped) {
        swapped = true;
        Deno.renameSync(mirror.stateDir, `${mirror.stateDir}.adv`);
        Deno.symlinkSync(elsewhere, mirror.stateDir);
      }
    };
    let outcomes: (Error | undefined)[];
    try {
      outcomes = await mirror.writeFiles([{ path: "new/a.jpg", bytes: new Uint8Array([1]) }]);
    } finally {
      Deno.mkdir = mkdir;
    }
    assert.ok(swapped, "no folder was made: the swap never came");
    assert.match(String(outcomes[0]), /became a symlink during the pass/);
    assert.deepEqual(await names(elsewhere), [], "a file was staged where the link leads");
  });
});

Deno.test("a folder made where a file is being removed meanwhile is made, not refused as gone", async () => {
  // A pass's stale file `dir` is removed while a download makes the folder `dir/` for a listed
  // `dir/sub.png`: the folder's mkdir fails (the file is there), the file goes, and the look that
  // follows finds nothing. That download failed for the pass ("No such file"), and, handed over
  // once, it was not tried again in the pass. The mkdir is held by strace until the file is gone.
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "home");
    const root = join(viamHome, "mirror");
    await Deno.mkdir(root, { recursive: true });
    const inTheWay = join(root, "dir");
    await Deno.writeTextFile(inTheWay, "a stale file");
    const module = new URL("../../src/fs/mirror_dir.ts", import.meta.url).href;
    const script = `
      const { MirrorDir } = await import(${JSON.stringify(module)});
      await using mirror = await MirrorDir.open({
        viamHome: ${JSON.stringify(viamHome)}, mirrorPath: "mirror", durable: false,
      });
      const made = mirror.ensureDir("dir").then(() => "made", (e) => e.name + ": " + e.message);
      setTimeout(() => Deno.removeSync(${JSON.stringify(inTheWay)}), 300);
      console.log(await made);
    `;
    const output = await new Deno.Command("strace", {
      args: [
        "-f",
        "-qq",
        "-o",
        "/dev/null",
        "-P",
        inTheWay,
        "-e",
        "trace=mkdir,mkdirat",
        "-e",
        "inject=mkdir,mkdirat:delay_exit=1000000",
        Deno.execPath(),
        "eval",
        script,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(output.stdout).trim();
    assert.equal(said, "made", new TextDecoder().decode(output.stderr));
    assert.ok((await Deno.lstat(inTheWay)).isDirectory);
  });
});

// Tests of foldersOnWay, the look at a path's folders that stands for an `openat` (real folders).
import assert from "node:assert/strict";
import { join } from "node:path";
import { foldersOnWay, probeFolderSync, settledFoldersOnWay } from "../../src/fs/_util.ts";
import { withTempDir } from "./_helpers.ts";

/** Lets the clock pass the millisecond of the last change (Deno gives times to the millisecond). */
function _nextMillisecond(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 3));
}

Deno.test("foldersOnWay tells a folder flipped with a link and back between two looks, and a link there", async () => {
  await withTempDir(async (root) => {
    const outside = join(root, "..", `outside-${crypto.randomUUID()}`);
    await Deno.mkdir(outside);
    try {
      await Deno.mkdir(join(root, "a/sub"), { recursive: true });
      await _nextMillisecond();
      const before = foldersOnWay(root, "a/sub/f.jpg");
      assert.equal(typeof before, "string");
      assert.equal(foldersOnWay(root, "a/sub/f.jpg"), before, "nothing changed: the same");
      // For the moment of an open: `sub` moved away, a link in its place, then put back.
      await _nextMillisecond();
      Deno.renameSync(join(root, "a/sub"), join(root, "a/sub.away"));
      Deno.symlinkSync(outside, join(root, "a/sub"));
      assert.deepEqual(foldersOnWay(root, "a/sub/f.jpg"), { swapped: "a/sub" });
      Deno.removeSync(join(root, "a/sub"));
      Deno.renameSync(join(root, "a/sub.away"), join(root, "a/sub"));
      const after = foldersOnWay(root, "a/sub/f.jpg");
      assert.equal(typeof after, "string");
      assert.notEqual(after, before, "flipped and put back: told apart");
      // The same by the holding folder's inode alone, for a look around a move of its file.
      await _nextMillisecond();
      const byInode = foldersOnWay(root, "a/sub/f.jpg", { holdingByInode: true });
      await Deno.writeTextFile(join(root, "a/sub/g.jpg"), "made in the holding folder");
      assert.equal(foldersOnWay(root, "a/sub/f.jpg", { holdingByInode: true }), byInode);
      assert.notEqual(foldersOnWay(root, "a/sub/f.jpg"), after, "by its times, it changed");
      await _nextMillisecond();
      Deno.renameSync(join(root, "a/sub"), join(root, "a/sub.away"));
      Deno.renameSync(join(root, "a/sub.away"), join(root, "a/sub"));
      assert.notEqual(
        foldersOnWay(root, "a/sub/f.jpg", { holdingByInode: true }),
        byInode,
        "the holding folder moved and put back: its parent tells",
      );
      await Deno.remove(join(root, "a/sub"), { recursive: true });
      assert.equal(foldersOnWay(root, "a/sub/f.jpg"), undefined, "gone: nothing to look at");
    } finally {
      await Deno.remove(outside, { recursive: true });
    }
  });
});

/**
 * What a look says: `"string"` for a settled look's stamps, else why it is not settled (and it
 * settles in the time that reason allows: a tick and a millisecond, or up to two steps of two
 * seconds and the tick).
 */
function _said(look: ReturnType<typeof settledFoldersOnWay>): string {
  if (typeof look !== "object" || !("unsettled" in look)) return typeof look;
  const most = look.unsettled === "changing" ? 12 : 2 * 2000 + 12;
  assert.ok(look.settlesInMs > 0 && look.settlesInMs <= most, `settles in ${look.settlesInMs} ms`);
  return look.unsettled;
}

/** Asserts `look()` says `expected` right after `stamp(now)`, unless 12 ms went by (then again). */
function _whileRecent(stamp: (now: Date) => void, look: () => unknown, expected: string): void {
  for (let tries = 0;; tries++) {
    const now = Date.now();
    stamp(new Date(now));
    const said = look();
    if (Date.now() - now < 12) return assert.equal(said, expected);
    assert.ok(tries < 5, "five tries took 12 ms each");
  }
}

Deno.test("settledFoldersOnWay waits for a folder by who may change it, on the file system's clock", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(join(root, "a/sub"), { recursive: true });
    // A local disk: this clock, times finer than a millisecond (one time in a thousand falls on a
    // whole second: three probes are not all whole).
    const probes = [0, 1, 2].map(() => probeFolderSync(root));
    const probe = probes.find((p) => p.timeStepMs === 1)!;
    assert.deepEqual(
      probe,
      { uid: Deno.uid(), dev: Deno.statSync(root).dev, clockAheadMs: 0, timeStepMs: 1 },
      "a local disk",
    );
    assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), ["a"], "the probe is gone");
    const settled = (p = probe) =>
      _said(settledFoldersOnWay(root, "a/sub/f.jpg", { settledMs: 12, probe: p }));
    const a = join(root, "a");
    // Changed just now (`sub` made in it): the process's own, written by none other: not waited for.
    await Deno.chmod(a, 0o755);
    assert.equal(settled(), "string");
    // Others may write it: waited for while recent, not once its time is older, nor ahead of the clock.
    await Deno.chmod(a, 0o777);
    _whileRecent((t) => Deno.utimeSync(a, t, t), () => settled(), "changing");
    Deno.utimeSync(a, new Date(Date.now() - 1001), new Date(Date.now() - 1001));
    assert.equal(settled(), "string");
    const ahead = new Date(Date.now() + 5000);
    Deno.utimeSync(a, ahead, ahead);
    assert.equal(settled(), "string", "a time ahead of the clock is not recent");
    // ...unless the file system's clock runs that far ahead (a network file system's server).
    _whileRecent(
      (t) => {
        const stamped = new Date(t.getTime() + 5000);
        Deno.utimeSync(a, stamped, stamped);
      },
      () => settled({ ...probe, clockAheadMs: 5000 }),
      "changing",
    );
    // Another user's: its owner may set its times back; its change time (whole seconds) is now.
    await Deno.chmod(a, 0o755);
    await Deno.chown(a, 65534, 65534);
    for (let tries = 0;; tries++) {
      Deno.utimeSync(a, new Date(2020, 0, 1), new Date(2020, 0, 1));
      const changed = Math.floor(Deno.lstatSync(a).ctime!.getTime() / 1000);
      const said = settled();
      // Told only while a change now could be stamped with that second (a slow turn: once more).
      if (Math.floor((Date.now() - 12) / 1000) <= changed) {
        assert.equal(said, "changed this second");
        break;
      }
      assert.ok(tries < 5, "five tries straddled a second");
    }
    assert.equal(settled({ ...probe, uid: 65534 }), "string", "the process's own");
  });
});

Deno.test("on a file system keeping whole seconds, a folder others may write is waited for by the second", async () => {
  // ext4 with 128-byte inodes keeps whole seconds (so do ext2 and ext3): a flip later in the second
  // of the folder's last change leaves its times as they were.
  await withTempDir(async (dir) => {
    const image = join(dir, "image");
    const disk = join(dir, "disk");
    Deno.writeFileSync(image, new Uint8Array(0));
    Deno.truncateSync(image, 16 * 2 ** 20);
    await Deno.mkdir(disk);
    const run = (command: string, ...args: string[]) => {
      const { success, stderr } = new Deno.Command(command, { args }).outputSync();
      assert.ok(success, `${command}: ${new TextDecoder().decode(stderr)}`);
    };
    run("mkfs.ext4", "-q", "-I", "128", "-F", image);
    run("mount", "-o", "loop", image, disk);
    try {
      const probe = probeFolderSync(disk);
      assert.ok(probe.timeStepMs >= 1000, `time step ${probe.timeStepMs}`);
      assert.equal(probe.clockAheadMs, 0, "the rounding is not taken for another clock");
      const a = join(disk, "a");
      await Deno.mkdir(join(a, "sub"), { recursive: true });
      await Deno.chmod(a, 0o775); // root's, a group may write it
      for (let tries = 0;; tries++) {
        Deno.utimeSync(a, new Date(), new Date());
        const changed = Math.floor(Deno.lstatSync(a).ctime!.getTime() / probe.timeStepMs);
        const said = _said(settledFoldersOnWay(disk, "a/sub/f.jpg", { settledMs: 12, probe }));
        if (Math.floor((Date.now() - 12) / probe.timeStepMs) <= changed) {
          assert.equal(said, "changed this second");
          break;
        }
        assert.ok(tries < 5, "five tries straddled a step");
      }
    } finally {
      run("umount", disk);
    }
  });
});

Deno.test("a folder others may write on a file system other than the probe's, or dated on a whole second, is judged by the second", async () => {
  await withTempDir(async (root) => {
    const probe = [0, 1, 2].map(() => probeFolderSync(root)).find((p) => p.timeStepMs === 1)!;
    const settled = () => _said(settledFoldersOnWay(root, "m/sub/f.jpg", { settledMs: 12, probe }));
    const m = join(root, "m");
    await Deno.mkdir(m);
    await Deno.chmod(m, 0o777); // root's, others may write
    await Deno.mkdir(join(m, "sub"));
    // On the probe's file system, dated on a whole second a while ago: its times may be cut to
    // the second, so its change time (now) is what tells.
    const whole = new Date(Math.floor(Date.now() / 1000) * 1000 - 5000);
    Deno.utimeSync(m, whole, whole);
    assert.equal(settled(), "changed this second");
    Deno.utimeSync(m, new Date(whole.getTime() + 7), new Date(whole.getTime() + 7));
    assert.equal(settled(), "string", "a time finer than the second, older than 12 ms");
    // Another file system mounted there (a tmpfs; its times are fine, but the probe did not see it).
    const mounted = new Deno.Command("mount", { args: ["-t", "tmpfs", "tmpfs", m] }).outputSync();
    assert.ok(mounted.success, new TextDecoder().decode(mounted.stderr));
    try {
      await Deno.chmod(m, 0o777);
      await Deno.mkdir(join(m, "sub"));
      const old = new Date(Date.now() - 60_000);
      Deno.utimeSync(m, old, old);
      assert.equal(settled(), "changed this second", "judged by its change time, in two seconds");
    } finally {
      new Deno.Command("umount", { args: [m] }).outputSync();
    }
  });
});

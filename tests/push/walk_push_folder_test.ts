import assert from "node:assert/strict";
import { join } from "node:path";
import { walkPushFolder } from "../../src/push/walk_push_folder.ts";
import { withStateDirSeenLate } from "./_harness.ts";
import { testOnExfatFuse } from "../support/exfat_fuse.ts";

Deno.test("walk: a folder that cannot be read is reported with its error; the walk goes on", async () => {
  const root = await Deno.makeTempDir({ prefix: "data-mirror-walk-" });
  try {
    await Deno.writeTextFile(join(root, "a.txt"), "a");
    await Deno.mkdir(join(root, "sub"));
    await Deno.writeTextFile(join(root, "sub", "b.txt"), "b");
    await Deno.mkdir(join(root, "z"));
    await Deno.writeTextFile(join(root, "z", "c.txt"), "c");
    const walk = walkPushFolder(root);
    // The root is read at the first step; its subfolders wait. One of them is then swapped for a
    // file (readdir: ENOTDIR), as root sees no EACCES: an unreadable folder.
    const first = await walk.next();
    assert.deepEqual(first.value && [first.value.kind, first.value.path], ["file", "a.txt"]);
    await Deno.remove(join(root, "z"), { recursive: true });
    await Deno.writeTextFile(join(root, "z"), "now a file");
    const rest = await Array.fromAsync(walk);
    assert.deepEqual(rest.map((e) => [e.kind, e.path, e.kind === "skipped" ? e.reason : ""]), [
      ["skipped", "z", "folder not readable"],
      ["file", "sub/b.txt", ""],
    ]);
    const skip = rest[0];
    assert.ok(
      skip.kind === "skipped" && /cannot read .*z: Not a directory/.test(skip.detail ?? ""),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("walk: a push folder that cannot be read fails the walk, naming it", async () => {
  const root = await Deno.makeTempDir({ prefix: "data-mirror-walk-" });
  try {
    const file = join(root, "not-a-folder");
    await Deno.writeTextFile(file, "x");
    await assert.rejects(Array.fromAsync(walkPushFolder(file)), /cannot read .*not-a-folder/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

// A flat folder of captures (a robot offline for days) must not need its whole listing in memory:
// the walk runs in a child under a small heap, over a folder whose entries as an array take more.
Deno.test("the walk of a flat folder of many files stays within a small heap", async () => {
  // Empty files in a tmpfs (the walk reads names and lstats, never contents): on this disk making
  // and removing them took 40 to 140 s when other work was writing to it.
  const root = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "data-mirror-flat-" });
  try {
    const n = 120_000;
    for (let i = 0; i < n; i++) {
      Deno.writeFileSync(
        join(root, `capture-2026-12-04T10-00-00.${String(i).padStart(7, "0")}.jpg`),
        new Uint8Array(0),
      );
    }
    const walk = new URL("../../src/push/walk_push_folder.ts", import.meta.url).href;
    const code = `import { walkPushFolder } from "${walk}";
      let files = 0;
      for await (const e of walkPushFolder(${JSON.stringify(root)})) if (e.kind === "file") files++;
      console.log(files);`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--v8-flags=--max-old-space-size=40", code],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr).slice(0, 300));
    assert.equal(new TextDecoder().decode(out.stdout).trim(), String(n));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/**
 * Walks `root` with `change` made to it just before the walk's second read of its folder `a/` (the
 * first only scans it), and returns what the walk gave, as `kind:path`.
 */
async function _walkChangedBetweenReads(root: string, change: () => void): Promise<string[]> {
  const readDir = Deno.readDir;
  let readsOfA = 0;
  const hooked = (path: string | URL) => {
    if (String(path).endsWith("/a") && ++readsOfA === 2) change();
    return readDir(path);
  };
  Object.defineProperty(Deno, "readDir", { configurable: true, writable: true, value: hooked });
  const seen: string[] = [];
  try {
    for await (const entry of walkPushFolder(root)) seen.push(`${entry.kind}:${entry.path}`);
  } finally {
    Object.defineProperty(Deno, "readDir", { configurable: true, writable: true, value: readDir });
  }
  return seen;
}

Deno.test("a folder changed between the walk's two reads: skipped when it is a file or another's now", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(root, "a"));
    await Deno.writeTextFile(join(root, "a/x.jpg"), "x");
    await Deno.mkdir(join(root, "b"));
    await Deno.writeTextFile(join(root, "b/y.jpg"), "y");
    // Swapped for a file (or unreadable, or an I/O error mid-way): skipped, as when its first read
    // fails, and the walk of the rest goes on instead of failing the pass.
    const swapped = await _walkChangedBetweenReads(root, () => {
      Deno.removeSync(join(root, "a"), { recursive: true });
      Deno.writeTextFileSync(join(root, "a"), "now a file");
    });
    assert.ok(swapped.includes("file:b/y.jpg"), `the rest is walked: ${swapped}`);
    assert.ok(swapped.includes("skipped:a"), `a is skipped: ${swapped}`);
    // Made another mirror's or push folder's: none of its files is given to this push.
    await Deno.remove(join(root, "a"));
    await Deno.mkdir(join(root, "a"));
    await Deno.writeTextFile(join(root, "a/x.jpg"), "x");
    const taken = await _walkChangedBetweenReads(root, () => {
      Deno.mkdirSync(join(root, "a/.data-mirror"));
    });
    assert.ok(!taken.includes("file:a/x.jpg"), `a/x.jpg is another folder's now: ${taken}`);
    assert.ok(taken.includes("skipped:a"), `a is skipped: ${taken}`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a folder past 10,000 entries found another's in the second read gives none of its subfolders", async () => {
  const root = await Deno.makeTempDir();
  const x = join(root, "x");
  try {
    await Deno.mkdir(join(x, "sub"), { recursive: true });
    await Deno.writeTextFile(join(x, "sub/other-mirrors-file.jpg"), "data");
    for (let i = 0; i < 10_001; i++) Deno.writeFileSync(join(x, `f${i}`), new Uint8Array(0));
    await Deno.mkdir(join(x, ".data-mirror"));
    // The race: x's scan is read before its .data-mirror is made; the second read, in the file
    // system's order past 10,000 entries, sees it after the rest (`sub` queued already).
    const seen = await withStateDirSeenLate(x, async () => {
      const seen: string[] = [];
      for await (const entry of walkPushFolder(root)) seen.push(`${entry.kind}:${entry.path}`);
      return seen;
    });
    assert.ok(seen.includes("skipped:x"), "x is skipped as another's");
    assert.ok(!seen.includes("file:x/sub/other-mirrors-file.jpg"), "its subfolder was walked");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

testOnExfatFuse(
  "walk: on exFAT the program's folder kept under another spelling (`.Data-Mirror`) is still its own, passed by",
  { prefix: "data-mirror-walk-exfat-" },
  async (mount) => {
    // Made so by its user before the program first ran there: `.data-mirror` reaches it.
    await Deno.mkdir(join(mount, ".Data-Mirror"));
    await Deno.writeTextFile(join(mount, ".data-mirror", "lock"), "");
    await Deno.writeTextFile(join(mount, "a.txt"), "a");
    const walked = await Array.fromAsync(walkPushFolder(mount));
    assert.deepEqual(walked.map((e) => [e.kind, e.path]), [["file", "a.txt"]]);
  },
);

Deno.test("walk: a folder swapped for a link to another push folder between two of its files: nothing of that folder is walked", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walk-swap-" });
  try {
    const root = join(dir, "outbox");
    const other = join(dir, "other");
    await Deno.mkdir(join(root, "d"), { recursive: true });
    await Deno.mkdir(join(other, "d"), { recursive: true });
    for (const name of ["a.txt", "b.txt"]) {
      await Deno.writeTextFile(join(root, "d", name), `mine ${name}`);
      await Deno.writeTextFile(join(other, "d", name), `theirs ${name}`);
    }
    const walked: { path: string; ino?: number; reason?: string }[] = [];
    for await (const entry of walkPushFolder(root)) {
      walked.push(
        entry.kind === "file"
          ? { path: entry.path, ino: entry.identity.ino }
          : { path: entry.path, reason: entry.reason },
      );
      // Right after the folder's first file: the folder swapped for a link to the other one's.
      if (entry.path === "d/a.txt") {
        await Deno.rename(join(root, "d"), join(dir, "moved"));
        await Deno.symlink(join(other, "d"), join(root, "d"));
      }
    }
    const theirs = (await Deno.lstat(join(other, "d", "b.txt"))).ino;
    assert.ok(!walked.some((e) => e.ino === theirs), JSON.stringify(walked));
    assert.deepEqual(walked.at(-1), { path: "d", reason: "symlink" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

testOnExfatFuse(
  "walk: on exfat-fuse a folder whose inode number changed (the kernel forgot it under memory pressure) is still walked whole",
  { prefix: "data-mirror-walk-exfat-forget-" },
  async (mount) => {
    await Deno.mkdir(join(mount, "d", "sub"), { recursive: true });
    for (const name of ["a.txt", "b.txt", "c.txt"]) {
      await Deno.writeTextFile(join(mount, "d", "sub", name), name);
    }
    const walked: string[] = [];
    let before: number | undefined;
    for await (const entry of walkPushFolder(mount)) {
      walked.push(`${entry.kind}:${entry.path}`);
      if (entry.path === "d/sub/a.txt") {
        before = (await Deno.lstat(join(mount, "d", "sub"))).ino ?? undefined;
        // What memory pressure does: the kernel drops the unused dentries and inodes, and
        // exfat-fuse numbers the folder anew at its next lookup (again until it did).
        for (let i = 0; i < 50; i++) {
          await Deno.writeTextFile("/proc/sys/vm/drop_caches", "2");
          if ((await Deno.lstat(join(mount, "d", "sub"))).ino !== before) break;
        }
      }
    }
    const after = (await Deno.lstat(join(mount, "d", "sub"))).ino ?? undefined;
    assert.notEqual(after, before, "the folder's inode number changed, as the set-up needs");
    assert.deepEqual(walked.sort(), ["file:d/sub/a.txt", "file:d/sub/b.txt", "file:d/sub/c.txt"]);
  },
);

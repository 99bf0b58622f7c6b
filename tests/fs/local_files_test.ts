import assert from "node:assert/strict";
import { join } from "node:path";
import { listLocalFiles } from "../../src/fs/local_files.ts";
import { rejection, withTempDir, withTmpfsAt } from "./_helpers.ts";

Deno.test("a missing root lists nothing", async () => {
  await withTempDir(async (dir) => {
    assert.deepEqual(await listLocalFiles(`${dir}/not-yet`), new Map());
  });
});

Deno.test("lists regular files by relative posix path, skipping state dirs and nested mirrors", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/images/2024/01`, { recursive: true });
    await Deno.mkdir(`${root}/empty/dir`, { recursive: true });
    await Deno.mkdir(`${root}/.data-mirror/partial`, { recursive: true });
    await Deno.mkdir(`${root}/nested/.data-mirror`, { recursive: true });
    await Deno.writeTextFile(`${root}/top.bin`, "12345");
    await Deno.writeTextFile(`${root}/images/2024/01/a b.jpg`, "abc");
    await Deno.writeTextFile(`${root}/images/empty.txt`, "");
    await Deno.writeTextFile(`${root}/.data-mirror/lock`, "{}");
    await Deno.writeTextFile(`${root}/.data-mirror/partial/x.part`, "12");
    // a mirror nested in this one: its files, state dir included, are its own
    await Deno.writeTextFile(`${root}/nested/.data-mirror/f`, "1");
    await Deno.writeTextFile(`${root}/nested/theirs.jpg`, "t");
    await Deno.mkdir(`${root}/deep/er/.data-mirror`, { recursive: true });
    await Deno.writeTextFile(`${root}/deep/er/theirs.jpg`, "t");
    await Deno.writeTextFile(`${root}/deep/mine.jpg`, "m");
    await Deno.writeTextFile(`${root}/.hidden`, "h");
    await Deno.mkdir(`${root}/.Data-Mirror`); // a case variant: the same dir on macOS
    await Deno.writeTextFile(`${root}/.Data-Mirror/f`, "1");
    const files = await listLocalFiles(root);
    assert.deepEqual(
      [...files.entries()].sort(([a], [b]) => a.localeCompare(b)),
      [
        [".hidden", { symlink: false }],
        ["deep/mine.jpg", { symlink: false }],
        ["images/2024/01/a b.jpg", { symlink: false }],
        ["images/empty.txt", { symlink: false }],
        ["top.bin", { symlink: false }],
      ],
    );
  });
});

Deno.test("symlinks are listed as flagged entries and symlinked dirs are not followed", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/mirror`;
    await Deno.mkdir(`${root}/sub`, { recursive: true });
    await Deno.mkdir(`${dir}/outside`);
    await Deno.writeTextFile(`${dir}/outside/secret`, "do not list");
    await Deno.writeTextFile(`${root}/sub/real.txt`, "1234");
    await Deno.symlink(`${root}/sub/real.txt`, `${root}/link-to-file`);
    await Deno.symlink(`${dir}/outside`, `${root}/sub/link-to-dir`);
    await Deno.symlink(`${dir}/gone`, `${root}/dangling`);
    const files = await listLocalFiles(root);
    assert.deepEqual(files.get("link-to-file"), { symlink: true });
    assert.deepEqual(files.get("sub/link-to-dir"), { symlink: true });
    assert.deepEqual(files.get("dangling"), { symlink: true });
    assert.deepEqual(files.get("sub/real.txt"), { symlink: false });
    assert.equal(files.size, 4); // nothing from outside/
  });
});

Deno.test("a root that is a symlink to a directory is listed; a root that is a file is refused", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/real`);
    await Deno.writeTextFile(`${dir}/real/f`, "x");
    await Deno.symlink(`${dir}/real`, `${dir}/alias`);
    assert.deepEqual([...(await listLocalFiles(`${dir}/alias`)).keys()], ["f"]);
    await rejection(() => listLocalFiles(`${dir}/real/f`), Deno.errors.NotADirectory, "root");
    await rejection(() => listLocalFiles("relative"), RangeError, "absolute");
  });
});

Deno.test("other kinds of entries (a unix socket) are not listed", async () => {
  await withTempDir(async (root) => {
    const listener = Deno.listen({ transport: "unix", path: `${root}/socket` });
    try {
      await Deno.writeTextFile(`${root}/file`, "x");
      assert.deepEqual([...(await listLocalFiles(root)).keys()], ["file"]);
    } finally {
      listener.close();
    }
  });
});

Deno.test("a large flat directory is listed completely", async () => {
  await withTempDir(async (root) => {
    const count = 300;
    await Promise.all(
      Array.from({ length: count }, (_, i) => Deno.writeTextFile(`${root}/f${i}`, "x".repeat(i))),
    );
    const files = await listLocalFiles(root);
    assert.equal(files.size, count);
    for (let i = 0; i < count; i++) assert.ok(files.has(`f${i}`));
  });
});

Deno.test("listLocalFiles reads folders several at once, not one per event-loop turn", async () => {
  await withTempDir(async (root) => {
    for (let i = 0; i < 64; i++) {
      await Deno.mkdir(join(root, `d${i}`));
      await Deno.writeFile(join(root, `d${i}`, "f"), new Uint8Array(1));
    }
    // Counted, not timed: the folder reads in flight at once (one at a time, each read waited for
    // a turn of an event loop that a pass's listing keeps busy).
    const readDir = Deno.readDir;
    let reading = 0;
    let most = 0;
    Deno.readDir = (path: string | URL) => {
      const entries = readDir(path);
      return (async function* () {
        reading++;
        most = Math.max(most, reading);
        try {
          yield* entries;
        } finally {
          reading--;
        }
      })();
    };
    let files: Map<string, unknown>;
    try {
      files = await listLocalFiles(root);
    } finally {
      Deno.readDir = readDir;
    }
    assert.equal(files.size, 64);
    // Four at once (`_READS_AT_ONCE`): more made the walk's answers crowd out the listing's.
    assert.equal(most, 4, `${most} folders read at once`);
  });
});

Deno.test("a name that is not valid UTF-8 is left out; a real U+FFFD in a name is not", async () => {
  await withTempDir(async (root) => {
    // Deno names files by strings: the bad bytes come from a shell.
    const made = await new Deno.Command("bash", {
      args: [
        "-c",
        `touch "$(printf 'x\\377.jpeg')"; mkdir "$(printf 'd\\376')"; touch d$'\\376'/in`,
      ],
      cwd: root,
    }).output();
    assert.equal(made.code, 0, new TextDecoder().decode(made.stderr));
    await Deno.writeTextFile(join(root, "y\uFFFD.jpeg"), "real");
    assert.deepEqual([...(await listLocalFiles(root)).keys()].sort(), ["y\uFFFD.jpeg"]);
  });
});

// Mounting needs root, as CI runs.
Deno.test({
  name:
    "a file system mounted below the root (a USB stick) is passed by: its files are not the mirror's",
  fn: async () => {
    await withTempDir(async (root) => {
      await Deno.mkdir(`${root}/usb`);
      await Deno.writeTextFile(`${root}/a.jpg`, "a");
      await withTmpfsAt(`${root}/usb`, async () => {
        await Deno.writeTextFile(`${root}/usb/photo.raw`, "stick");
        const other: string[] = [];
        const files = await listLocalFiles(root, { onPassedBy: (dir) => other.push(dir) });
        assert.deepEqual([...files.keys()], ["a.jpg"]);
        assert.deepEqual(other, ["usb"]);
      });
    });
  },
});

Deno.test("a folder whose path is longer than PATH_MAX is passed by with a warning that says so, not a failed walk", async () => {
  await withTempDir(async (root) => {
    await Deno.writeTextFile(join(root, "kept.jpg"), "k");
    // Made a level at a time relative to the last, as a shell's `cd` and `mkdir` make it.
    const name = "d".repeat(250);
    const cwd = Deno.cwd();
    try {
      Deno.chdir(root);
      for (let i = 0; i < 20; i++) {
        Deno.mkdirSync(name);
        Deno.chdir(name);
      }
      Deno.writeTextFileSync("f", "x");
    } finally {
      Deno.chdir(cwd);
    }
    const warnings: string[] = [];
    const passedBy: string[] = [];
    const files = await listLocalFiles(root, {
      warn: (message) => warnings.push(message),
      onPassedBy: (dir) => passedBy.push(dir),
    });
    assert.deepEqual([...files.keys()], ["kept.jpg"]);
    assert.equal(passedBy.length, 1);
    assert.ok(passedBy[0].length > 4096, passedBy[0].length.toString());
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /whose path is longer than the system takes/);
  });
});

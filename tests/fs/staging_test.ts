import assert from "node:assert/strict";
import { SizeMismatchError, StagingArea } from "../../src/fs/staging.ts";
import { pattern, spawnChild } from "./_child.ts";
import { created, names, rejection, withTempDir } from "./_helpers.ts";

const _ID = "org-1/location-1/file-1"; // ids contain "/": never a file name as such

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

Deno.test("stages a download and commits it under its final name, creating the parents", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/mirror`; // a fresh machine: no root yet
    const staging = await StagingArea.open(root);
    assert.equal(staging.dir, `${await Deno.realPath(root)}/.data-mirror/partial`);
    const staged = await staging.begin({
      binaryDataId: _ID,
      expectedSize: 5,
      finalRelPath: "a/b.txt",
    });
    assert.equal(staged.offset, 0);
    const stagedNames = await names(staging.dir); // a partial and its sidecar, named by hash
    assert.equal(stagedNames.length, 2);
    for (const name of stagedNames) assert.match(name, /^[0-9a-f]{64}\.(part|json)$/);
    await staged.write(new TextEncoder().encode("he"));
    await staged.write(new TextEncoder().encode("llo"));
    assert.equal(await exists(`${root}/a/b.txt`), false); // never under the final name early
    await staged.commit("a/b.txt");
    assert.equal(await Deno.readTextFile(`${root}/a/b.txt`), "hello");
    assert.equal((await Deno.stat(`${root}/a/b.txt`)).mode! & 0o777, created(0o644));
    assert.equal((await Deno.stat(`${root}/a`)).mode! & 0o777, created(0o755));
    assert.deepEqual(await names(staging.dir), []);
    await staged.close(); // already closed by commit: a no-op
    await rejection(() => staged.write(new Uint8Array(1)), Deno.errors.BadResource, "closed");
  });
});

Deno.test("a closed partial is resumed for the same id and size, and discarded otherwise", async () => {
  await withTempDir(async (root) => {
    const staging = await StagingArea.open(root);
    const first = await staging.begin({ binaryDataId: _ID, expectedSize: 10 });
    await first.write(pattern(4));
    await first.close();
    const resumed = await staging.begin({ binaryDataId: _ID, expectedSize: 10 });
    assert.equal(resumed.offset, 4);
    await resumed.write(pattern(10).subarray(4));
    await resumed.close();
    // the platform now reports another size: the bytes held cannot be trusted
    const changed = await staging.begin({ binaryDataId: _ID, expectedSize: 12 });
    assert.equal(changed.offset, 0);
    await changed.write(pattern(12));
    await changed.commit("f.bin");
    assert.deepEqual(await Deno.readFile(`${root}/f.bin`), pattern(12));
    // another id never sees this one's bytes
    const other = await staging.begin({ binaryDataId: `${_ID}-other` });
    assert.equal(other.offset, 0);
    await other.close();
  });
});

Deno.test("a partial without a trustworthy sidecar, or longer than expected, starts over", async () => {
  await withTempDir(async (root) => {
    const staging = await StagingArea.open(root);
    const staged = await staging.begin({ binaryDataId: _ID, expectedSize: 8 });
    await staged.write(pattern(6));
    await staged.close();
    const [part, sidecar] = (await names(staging.dir)).sort((a) => a.endsWith(".part") ? -1 : 1);
    await Deno.writeTextFile(`${staging.dir}/${sidecar}`, "{not json");
    const noSidecar = await staging.begin({ binaryDataId: _ID, expectedSize: 8 });
    assert.equal(noSidecar.offset, 0);
    assert.equal((await Deno.stat(`${staging.dir}/${part}`)).size, 0);
    await noSidecar.write(pattern(8));
    await noSidecar.write(pattern(2)); // more than expected
    await noSidecar.close();
    const tooLong = await staging.begin({ binaryDataId: _ID, expectedSize: 8 });
    assert.equal(tooLong.offset, 0);
    await tooLong.close();
  });
});

Deno.test("restart drops what is held (the server ignored the Range request)", async () => {
  await withTempDir(async (root) => {
    const staging = await StagingArea.open(root);
    const first = await staging.begin({ binaryDataId: _ID, expectedSize: 3 });
    await first.write(pattern(2));
    await first.close();
    const staged = await staging.begin({ binaryDataId: _ID, expectedSize: 3 });
    assert.equal(staged.offset, 2);
    await staged.restart();
    assert.equal(staged.offset, 0);
    await staged.write(new Uint8Array([7, 8, 9]));
    await staged.commit("f.bin");
    assert.deepEqual(await Deno.readFile(`${root}/f.bin`), new Uint8Array([7, 8, 9]));
  });
});

Deno.test("a size mismatch writes nothing under the final name; a short partial is kept to resume", async () => {
  await withTempDir(async (root) => {
    const staging = await StagingArea.open(root);
    const short = await staging.begin({ binaryDataId: _ID, expectedSize: 10 });
    await short.write(pattern(7));
    const error = await rejection(() => short.commit("dir/f.bin"), SizeMismatchError);
    assert.deepEqual([error.path, error.expected, error.actual], ["dir/f.bin", 10, 7]);
    assert.ok(error.message.includes("dir/f.bin"), error.message);
    assert.ok(error.message.includes("10") && error.message.includes("7"), error.message);
    assert.equal(await exists(`${root}/dir/f.bin`), false);
    const resumed = await staging.begin({ binaryDataId: _ID, expectedSize: 10 });
    assert.equal(resumed.offset, 7);
    await resumed.write(pattern(9)); // 16 bytes: too many
    await rejection(() => resumed.commit("dir/f.bin"), SizeMismatchError, "expected 10");
    assert.equal(await exists(`${root}/dir/f.bin`), false);
    assert.deepEqual(await names(staging.dir), []); // wrong content is not kept
    // the size given at commit wins over the key's (unknown at begin)
    const unknown = await staging.begin({ binaryDataId: _ID });
    await unknown.write(pattern(3));
    await rejection(() => unknown.commit("g.bin", { expectedSize: 4 }), SizeMismatchError);
    assert.equal(await exists(`${root}/g.bin`), false);
  });
});

Deno.test("never replaces an existing file, directory or symlink at the final name", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/mirror`;
    await Deno.mkdir(`${root}/taken-dir`, { recursive: true });
    await Deno.writeTextFile(`${root}/taken.txt`, "original");
    await Deno.symlink(`${dir}/would-be-created`, `${root}/dangling`);
    const staging = await StagingArea.open(root);
    for (const finalName of ["taken.txt", "taken-dir", "dangling"]) {
      const staged = await staging.begin({ binaryDataId: `${_ID}/${finalName}`, expectedSize: 3 });
      await staged.write(pattern(3));
      await rejection(() => staged.commit(finalName), Deno.errors.AlreadyExists, finalName);
    }
    assert.equal(await Deno.readTextFile(`${root}/taken.txt`), "original");
    assert.deepEqual(await names(`${root}/taken-dir`), []);
    assert.equal(await exists(`${dir}/would-be-created`), false);
    // the finished partial is kept: committing it elsewhere later needs no new download
    const again = await staging.begin({ binaryDataId: `${_ID}/taken.txt`, expectedSize: 3 });
    assert.equal(again.offset, 3);
    await again.commit("free.txt");
    assert.deepEqual(await Deno.readFile(`${root}/free.txt`), pattern(3));
  });
});

Deno.test("refuses a parent that is a symlink leading outside, or a file, and the state dir", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/mirror`;
    await Deno.mkdir(`${root}/inside-target`, { recursive: true });
    await Deno.mkdir(`${dir}/outside`);
    await Deno.symlink(`${dir}/outside`, `${root}/escape`);
    await Deno.symlink(`${root}/inside-target`, `${root}/alias`);
    await Deno.writeTextFile(`${root}/file`, "x");
    const staging = await StagingArea.open(root);
    await Deno.symlink(`${root}/.data-mirror`, `${root}/state-alias`);
    const attempt = async (finalRelPath: string) => {
      const staged = await staging.begin({ binaryDataId: _ID, expectedSize: 1 });
      if (staged.offset === 0) await staged.write(new Uint8Array([1])); // kept after a refusal
      await staged.commit(finalRelPath);
    };
    await rejection(() => attempt("escape/sub/f"), Deno.errors.PermissionDenied, "outside");
    await rejection(() => attempt("state-alias/f"), Deno.errors.PermissionDenied, "state dir");
    await rejection(() => attempt("file/f"), Deno.errors.NotADirectory, "not a directory");
    await rejection(() => attempt(".data-mirror/f"), Deno.errors.PermissionDenied, "state dir");
    await rejection(() => attempt("../f"), RangeError, "../f");
    await rejection(() => attempt("/abs"), RangeError, "/abs");
    assert.deepEqual(await names(`${dir}/outside`), []);
    assert.deepEqual(await names(dir), ["mirror", "outside"]);
    // a symlink that stays inside the mirror is fine
    await attempt("alias/f");
    assert.deepEqual(await Deno.readFile(`${root}/inside-target/f`), new Uint8Array([1]));
  });
});

Deno.test("a state dir that is a symlink is refused", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/mirror`);
    await Deno.mkdir(`${dir}/elsewhere`);
    await Deno.symlink(`${dir}/elsewhere`, `${dir}/mirror/.data-mirror`);
    await rejection(() => StagingArea.open(`${dir}/mirror`), Deno.errors.NotADirectory, "symlink");
    assert.deepEqual(await names(`${dir}/elsewhere`), []);
  });
});

Deno.test("one id cannot be staged twice at once", async () => {
  await withTempDir(async (root) => {
    const staging = await StagingArea.open(root);
    const first = await staging.begin({ binaryDataId: _ID });
    await rejection(() => staging.begin({ binaryDataId: _ID }), Deno.errors.Busy, _ID);
    const otherArea = await StagingArea.open(root); // another resource on the same mirror
    await rejection(() => otherArea.begin({ binaryDataId: _ID }), Deno.errors.Busy);
    await first.close();
    const second = await staging.begin({ binaryDataId: _ID });
    await second.close();
  });
});

Deno.test("discardStale removes unwanted partials and strays, keeping wanted and open ones", async () => {
  await withTempDir(async (root) => {
    const staging = await StagingArea.open(root);
    for (const id of ["keep", "drop-1", "drop-2"]) {
      const staged = await staging.begin({ binaryDataId: id, finalRelPath: id });
      await staged.write(pattern(5));
      await staged.close();
    }
    const open = await staging.begin({ binaryDataId: "open" });
    await Deno.writeTextFile(`${staging.dir}/.leftover.json.1234.tmp`, "{}");
    assert.equal((await names(staging.dir)).length, 9);
    assert.equal(await staging.discardStale(new Set(["keep", "not-staged"])), 2);
    assert.equal((await names(staging.dir)).length, 4); // "keep" and the open "open"
    const kept = await staging.begin({ binaryDataId: "keep" });
    assert.equal(kept.offset, 5);
    await kept.close();
    await open.close();
    assert.equal(await staging.discardStale(new Set(["keep"])), 1);
    assert.equal((await names(staging.dir)).length, 2);
    assert.equal(await staging.discardStale(new Set()), 1);
    assert.deepEqual(await names(staging.dir), []);
  });
});

Deno.test("a download SIGKILLed mid-way is resumed from its partial by the next process", async () => {
  await withTempDir(async (root) => {
    const size = 100_000;
    const child = spawnChild(root, "stage", [root, _ID, String(size), "37000"]);
    try {
      assert.equal(await child.readLine(), "staged 37000");
      const staging = await StagingArea.open(root);
      // while the child lives, its open handle keeps the partial to itself
      await rejection(
        () => staging.begin({ binaryDataId: _ID, expectedSize: size }),
        Deno.errors.Busy,
      );
    } finally {
      await child.kill();
    }
    const staging = await StagingArea.open(root);
    const staged = await staging.begin({ binaryDataId: _ID, expectedSize: size });
    assert.equal(staged.offset, 37000);
    await staged.write(pattern(size).subarray(staged.offset));
    await staged.commit("models/model.bin");
    assert.deepEqual(await Deno.readFile(`${root}/models/model.bin`), pattern(size));
  });
});

Deno.test("a file written whole (not resumable) empties an old partial and writes no sidecar", async () => {
  await withTempDir(async (root) => {
    const staging = await StagingArea.open(root);
    const old = await staging.begin({ binaryDataId: "o/l/f", expectedSize: 10 });
    await old.write(new TextEncoder().encode("stale"));
    await old.close();
    const sidecars = async () =>
      (await Array.fromAsync(Deno.readDir(staging.dir))).filter((e) => e.name.endsWith(".json"));
    assert.equal((await sidecars()).length, 1);
    const whole = await staging.begin({ binaryDataId: "o/l/f", expectedSize: 3, resumable: false });
    assert.equal(whole.offset, 0);
    await whole.write(new TextEncoder().encode("new"));
    await whole.commit("f.txt", { expectedSize: 3 });
    assert.equal(await Deno.readTextFile(`${root}/f.txt`), "new");
    assert.equal((await sidecars()).length, 0);
  });
});

import assert from "node:assert/strict";
import { closeSync } from "node:fs";
import { join } from "node:path";
import {
  PLACED_LOG_NAME,
  PLACED_RECORD_NAME,
  type PlacedFile,
  PlacedLog,
  PlacedRecord,
} from "../../src/sync/placed_record.ts";
import { withTempDir } from "../fs/_helpers.ts";
import { pollUntil } from "../_poll.ts";
import { peakMemoryBytes } from "../_peak_memory.ts";

const _placed = new Map([
  ["models/detector.tflite", { binaryDataId: "org/loc/v1", size: 5000 }],
  ["a.jpg", { binaryDataId: "org/loc/a", size: 10 }],
]);

Deno.test("placed record: same, other or unknown; the size placed; nothing rewritten when nothing changed", async () => {
  await withTempDir(async (dir) => {
    const empty = await PlacedRecord.read(dir);
    assert.equal(empty.placedFrom("a.jpg", "org/loc/a"), "unknown");
    await empty.save([..._placed.keys()], (path) => _placed.get(path));

    const record = await PlacedRecord.read(dir);
    assert.equal(record.placedFrom("a.jpg", "org/loc/a"), "same");
    assert.equal(record.placedFrom("models/detector.tflite", "org/loc/v2"), "other");
    assert.equal(record.placedFrom("b.jpg", "org/loc/b"), "unknown");
    assert.equal(record.sizeFits("models/detector.tflite", 5000), true);
    assert.equal(record.sizeFits("models/detector.tflite", 4999), false);

    // The same files, nothing placed: not written again.
    const file = join(dir, PLACED_RECORD_NAME);
    const before = await Deno.stat(file);
    await record.save([..._placed.keys()], () => undefined);
    const after = await Deno.stat(file);
    assert.deepEqual([after.ino, after.mtime?.getTime()], [before.ino, before.mtime?.getTime()]);

    // A file gone: dropped; a file placed again from another item: its new id.
    await record.save(
      ["models/detector.tflite"],
      (path) =>
        path === "models/detector.tflite" ? { binaryDataId: "org/loc/v2", size: 7000 } : undefined,
    );
    const next = await PlacedRecord.read(dir);
    assert.equal(next.placedFrom("a.jpg", "org/loc/a"), "unknown");
    assert.equal(next.placedFrom("models/detector.tflite", "org/loc/v2"), "same");
    assert.equal(next.sizeFits("models/detector.tflite", 7000), true);
  });
});

Deno.test("placed record: a file that is not a record, or a symlink, reads as none", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, PLACED_RECORD_NAME);
    for (const bytes of [new Uint8Array(7), new Uint8Array(8), new Uint8Array(8 + 24)]) {
      await Deno.writeFile(file, bytes);
      assert.equal((await PlacedRecord.read(dir)).placedFrom("a.jpg", "org/loc/a"), "unknown");
    }
    // Damaged into a table with no free slot: a lookup still ends.
    await Deno.writeFile(file, new Uint8Array(8 + 64).fill(0x5a));
    assert.equal((await PlacedRecord.read(dir)).placedFrom("a.jpg", "org/loc/a"), "unknown");
    await Deno.remove(file);
    await Deno.writeTextFile(join(dir, "elsewhere"), "x".repeat(24));
    await Deno.symlink(join(dir, "elsewhere"), file);
    assert.equal((await PlacedRecord.read(dir)).placedFrom("a.jpg", "org/loc/a"), "unknown");
  });
});

Deno.test("placed record: a record or log far larger than any written is not read, and said", async () => {
  await withTempDir(async (dir) => {
    await (await PlacedRecord.read(dir)).save(["a.jpg"], (path) => _placed.get(path));
    // Sparse files of 1 GiB (no disk taken): read whole, each took a GiB of memory, outside the
    // heap's limit, and a pass on a Pi was killed for it every time.
    const before = peakMemoryBytes();
    _sparseFile(join(dir, PLACED_LOG_NAME), 1024 ** 3);
    const warnings: string[] = [];
    const warn = (message: string) => warnings.push(message);
    const withLog = await PlacedRecord.read(dir, { warn });
    assert.equal(withLog.placedFrom("a.jpg", "org/loc/a"), "same", "the record itself is read");
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0], /placed\.log is a file of 1073741824 bytes \(more than 32 MiB\)/);
    _sparseFile(join(dir, PLACED_RECORD_NAME), 1024 ** 3);
    warnings.length = 0;
    const record = await PlacedRecord.read(dir, { warn });
    assert.equal(record.placedFrom("a.jpg", "org/loc/a"), "unknown");
    assert.equal(warnings.length, 2, warnings.join("\n"));
    assert.match(warnings[0], /placed is a file of 1073741824 bytes \(more than 32 MiB\), not the/);
    const grown = peakMemoryBytes() - before;
    assert.ok(grown < 256 * 1024 * 1024, `the peak grew by ${grown} bytes`);
  });
});

/** Makes (or resizes) the file at `path` to `bytes`, as a hole: no disk taken. */
function _sparseFile(path: string, bytes: number): void {
  using file = Deno.openSync(path, { write: true, create: true });
  file.truncateSync(bytes);
}

Deno.test("placed record: two paths of one hash are unrecordable, and stay so without a rewrite", async () => {
  // Two paths whose 32-bit FNV-1a hashes collide (found by a birthday search).
  const seen = new Map<number, string>();
  let pair: [string, string] | undefined;
  for (let i = 0; pair === undefined; i++) {
    const path = `cam/${i}.jpg`;
    const hash = _fnv1a(path);
    const other = seen.get(hash);
    if (other !== undefined) pair = [other, path];
    seen.set(hash, path);
  }
  await withTempDir(async (dir) => {
    const placed = (path: string) => ({ binaryDataId: `org/loc/${path}`, size: 1 });
    await (await PlacedRecord.read(dir)).save(pair!, placed);
    const record = await PlacedRecord.read(dir);
    for (const path of pair!) {
      assert.equal(record.placedFrom(path, `org/loc/${path}`), "unrecordable");
      assert.equal(record.sizeFits(path, 1), false);
    }
    const file = join(dir, PLACED_RECORD_NAME);
    const before = await Deno.stat(file);
    await record.save(pair!, () => undefined);
    assert.equal((await Deno.stat(file)).ino, before.ino, "not rewritten pass after pass");
  });
});

/** A pass that places `files` and is killed before it saves the record (its log closed). */
async function _killedPass(dir: string, files: [string, PlacedFile][]): Promise<string[]> {
  const warnings: string[] = [];
  const log = new PlacedLog(dir, await PlacedRecord.read(dir), { warn: (m) => warnings.push(m) });
  log.prepare();
  for (const [path, file] of files) log.add(path, file);
  await log.close();
  return warnings;
}

Deno.test("placed log: files placed by a pass killed before its save are recorded", async () => {
  await withTempDir(async (dir) => {
    await (await PlacedRecord.read(dir)).save(["a.jpg"], (path) => _placed.get(path));
    assert.deepEqual(
      await _killedPass(dir, [["models/detector.tflite", _placed.get("models/detector.tflite")!]]),
      [],
    );
    const record = await PlacedRecord.read(dir);
    assert.equal(record.placedFrom("a.jpg", "org/loc/a"), "same", "the saved record still holds");
    assert.equal(record.placedFrom("models/detector.tflite", "org/loc/v1"), "same");
    assert.equal(record.sizeFits("models/detector.tflite", 5000), true);

    // Killed again: the second pass's log replaces the first's, which is folded in the record.
    await _killedPass(dir, [["b.jpg", { binaryDataId: "org/loc/b", size: 3 }]]);
    const again = await PlacedRecord.read(dir);
    for (const [path, id] of [["a.jpg", "a"], ["models/detector.tflite", "v1"], ["b.jpg", "b"]]) {
      assert.equal(again.placedFrom(path, `org/loc/${id}`), "same", path);
    }
    // A pass that then ends saves it all, and lets the log go.
    await again.save(["a.jpg", "b.jpg"], () => undefined);
    await assert.rejects(Deno.lstat(join(dir, PLACED_LOG_NAME)), Deno.errors.NotFound);
    const saved = await PlacedRecord.read(dir);
    assert.equal(saved.placedFrom("b.jpg", "org/loc/b"), "same");
    assert.equal(saved.placedFrom("models/detector.tflite", "org/loc/v1"), "unknown", "gone");
  });
});

Deno.test("placed log: files logged ahead of their names are recorded; a withdrawn one reads as unknowable until logged again", async () => {
  await withTempDir(async (dir) => {
    await (await PlacedRecord.read(dir)).save(["a.jpg"], (path) => _placed.get(path));
    const log = new PlacedLog(dir, await PlacedRecord.read(dir), { warn: assert.fail });
    // Written when logAhead resolves, before any name is made: a kill from then on finds it.
    await log.logAhead([
      ["b.jpg", { binaryDataId: "org/loc/b", size: 3 }],
      ["c.jpg", { binaryDataId: "org/loc/c", size: 4 }],
      ["a.jpg", { binaryDataId: "org/loc/a2", size: 9 }],
    ]);
    const ahead = await PlacedRecord.read(dir);
    assert.equal(ahead.placedFrom("b.jpg", "org/loc/b"), "same");
    assert.equal(ahead.placedFrom("a.jpg", "org/loc/a2"), "same");
    // c.jpg and a.jpg were not named after all (a file came there meanwhile): what is there is
    // no longer taken for the pass's, nor for the one placed before (a.jpg).
    log.withdraw(["c.jpg", "a.jpg"]);
    const withdrawn = await PlacedRecord.read(dir);
    assert.equal(withdrawn.placedFrom("b.jpg", "org/loc/b"), "same");
    assert.equal(withdrawn.placedFrom("c.jpg", "org/loc/c"), "unrecordable");
    assert.equal(withdrawn.placedFrom("a.jpg", "org/loc/a"), "unrecordable");
    assert.equal(withdrawn.sizeFits("a.jpg", 2), false);
    // Named in a later attempt of the same pass: recorded again.
    await log.logAhead([["c.jpg", { binaryDataId: "org/loc/c", size: 4 }]]);
    await log.close();
    const again = await PlacedRecord.read(dir);
    assert.equal(again.placedFrom("c.jpg", "org/loc/c"), "same");
    assert.equal(again.placedFrom("a.jpg", "org/loc/a"), "unrecordable");
  });
});

Deno.test("placed log: a replacement logged ahead reads as the old version or the new one, settled by the file's size", async () => {
  await withTempDir(async (dir) => {
    // a.jpg placed from org/loc/a at 10 bytes; then b.jpg and a.jpg about to be replaced.
    await (await PlacedRecord.read(dir)).save(
      ["a.jpg", "b.jpg", "c.jpg"],
      (path) => ({ binaryDataId: `org/loc/${path[0]}`, size: 10 }),
    );
    const log = new PlacedLog(dir, await PlacedRecord.read(dir), { warn: assert.fail });
    const next = (path: string): [string, PlacedFile] => [
      path,
      { binaryDataId: `org/loc/${path[0]}2`, size: 12 },
    ];
    await log.logAhead([next("a.jpg"), next("b.jpg"), next("c.jpg")], { replacing: true });
    // Killed here: each path holds the old version (no rename ran) or the new one (it ran).
    const cut = await PlacedRecord.read(dir);
    assert.ok(cut.hasTentative);
    assert.equal(cut.placedFrom("a.jpg", "org/loc/a"), "same", "the old version until settled");
    cut.settleTentative("a.jpg", 12); // renamed: the new version's size
    cut.settleTentative("b.jpg", 10); // not renamed: the old one's
    cut.settleTentative("c.jpg", 7); // neither: a user's file, kept as before
    assert.ok(!cut.hasTentative);
    assert.equal(cut.placedFrom("a.jpg", "org/loc/a2"), "same");
    assert.ok(cut.sizeFits("a.jpg", 12));
    assert.equal(cut.placedFrom("b.jpg", "org/loc/b"), "same");
    assert.ok(cut.sizeFits("b.jpg", 10));
    assert.equal(cut.placedFrom("c.jpg", "org/loc/c"), "same");
    assert.ok(!cut.sizeFits("c.jpg", 7), "a user's file: its size is not the one placed");
    // Confirmed after its rename (a.jpg), withdrawn (b.jpg): no longer tentative.
    log.add(...next("a.jpg"));
    await Promise.resolve();
    log.withdraw(["b.jpg"]);
    const told = await PlacedRecord.read(dir);
    assert.ok(!told.tentativeAt("a.jpg") && !told.tentativeAt("b.jpg"));
    assert.ok(told.tentativeAt("c.jpg"));
    assert.equal(told.placedFrom("a.jpg", "org/loc/a2"), "same");
    assert.equal(told.placedFrom("b.jpg", "org/loc/b"), "unrecordable");
    // A pass that starts a log of its own carries the unsettled one over (its record's file is
    // written without it): killed again, the next pass still finds it.
    const again = new PlacedLog(dir, await PlacedRecord.read(dir), { warn: assert.fail });
    await again.logAhead([["d.jpg", { binaryDataId: "org/loc/d", size: 1 }]]);
    const twice = await PlacedRecord.read(dir);
    assert.ok(twice.tentativeAt("c.jpg"));
    twice.settleTentative("c.jpg", 12);
    assert.equal(twice.placedFrom("c.jpg", "org/loc/c2"), "same");
    await again.close();
  });
});

Deno.test("placed log: a replacement settled by a pass whose log began before the settling is logged: killed again, the next pass keeps what it settled", async () => {
  await withTempDir(async (dir) => {
    await (await PlacedRecord.read(dir)).save(
      ["x.bin"],
      () => ({ binaryDataId: "org/loc/x0", size: 10 }),
    );
    // Pass 1 replaces x.bin (x0 -> x1, 20 bytes), renames it, and is killed before confirming.
    const first = new PlacedLog(dir, await PlacedRecord.read(dir), { warn: assert.fail });
    await first.logAhead([["x.bin", { binaryDataId: "org/loc/x1", size: 20 }]], {
      replacing: true,
    });
    // Pass 2: files streamed while it lists begin its log (its record's file written then still
    // says x0); the walk over, x.bin settles as x1 (20 bytes there); then it replaces x1 by x2
    // and is killed before that rename.
    const record = await PlacedRecord.read(dir);
    const second = new PlacedLog(dir, record, { warn: assert.fail });
    await second.logAhead([["new.bin", { binaryDataId: "org/loc/n", size: 1 }]]);
    second.settleTentative("x.bin", 20);
    assert.equal(record.placedFrom("x.bin", "org/loc/x1"), "same");
    await second.logAhead([["x.bin", { binaryDataId: "org/loc/x2", size: 30 }]], {
      replacing: true,
    });
    // Pass 3: x.bin still holds x1 (20 bytes). Before, the settling was in pass 2's memory only:
    // read as x0's (10 bytes) with x2 tentative, the file fit neither and was kept as a user's,
    // never replaced again (a reviewer, after a run of killed passes).
    const third = await PlacedRecord.read(dir);
    third.settleTentative("x.bin", 20);
    assert.equal(third.placedFrom("x.bin", "org/loc/x1"), "same");
    assert.ok(third.sizeFits("x.bin", 20));
    await second.close();
    await first.close();
  });
});

Deno.test("placed log: a replacement of the same size cut around its rename is from neither version once settled: either one listed is fetched again", async () => {
  await withTempDir(async (dir) => {
    await (await PlacedRecord.read(dir)).save(
      ["e.jpg"],
      () => ({ binaryDataId: "org/loc/e", size: 10 }),
    );
    const log = new PlacedLog(dir, await PlacedRecord.read(dir), { warn: assert.fail });
    await log.logAhead([["e.jpg", { binaryDataId: "org/loc/e2", size: 10 }]], { replacing: true });
    // Killed here, after the rename or before it: the size cannot tell.
    const cut = await PlacedRecord.read(dir);
    cut.settleTentative("e.jpg", 10);
    // The new upload deleted on the platform, the old item listed again: fetched again, not taken
    // for the file there (which may hold the new version's bytes); the new one listed, the same.
    assert.equal(cut.placedFrom("e.jpg", "org/loc/e"), "other");
    assert.equal(cut.placedFrom("e.jpg", "org/loc/e2"), "other");
    assert.ok(cut.sizeFits("e.jpg", 10), "still the mirror's file, not a user's");
    await log.close();
  });
});

Deno.test("placed log: a withdrawal folded into the record by the next pass is named again by that pass's log", async () => {
  await withTempDir(async (dir) => {
    // A pass killed after it withdrew c.jpg (not named): its log holds the withdrawal.
    const first = new PlacedLog(dir, await PlacedRecord.read(dir), { warn: assert.fail });
    await first.logAhead([["c.jpg", { binaryDataId: "org/loc/c", size: 4 }]]);
    first.withdraw(["c.jpg"]);
    await first.close();
    // The next pass folds that log into the record's file as it starts its own, places c.jpg, and
    // is killed before its save.
    const second = new PlacedLog(dir, await PlacedRecord.read(dir), { warn: assert.fail });
    await second.logAhead([["c.jpg", { binaryDataId: "org/loc/c", size: 4 }]]);
    await second.close();
    const record = await PlacedRecord.read(dir);
    assert.equal(record.placedFrom("c.jpg", "org/loc/c"), "same");
    assert.equal(record.sizeFits("c.jpg", 4), true);
    // Saved with its file there and not placed again, a withdrawn path stays unknowable, and a
    // later log still names it.
    const third = new PlacedLog(dir, await PlacedRecord.read(dir), { warn: assert.fail });
    await third.logAhead([["c.jpg", { binaryDataId: "org/loc/c2", size: 5 }]]);
    third.withdraw(["c.jpg"]);
    await third.close();
    const withdrawn = await PlacedRecord.read(dir);
    await withdrawn.save(["c.jpg"], () => undefined);
    assert.equal((await PlacedRecord.read(dir)).placedFrom("c.jpg", "org/loc/c"), "unrecordable");
    const fourth = new PlacedLog(dir, await PlacedRecord.read(dir), { warn: assert.fail });
    await fourth.logAhead([["c.jpg", { binaryDataId: "org/loc/c2", size: 5 }]]);
    await fourth.close();
    assert.equal((await PlacedRecord.read(dir)).placedFrom("c.jpg", "org/loc/c2"), "same");
  });
});

Deno.test("placed log: a log the record already holds (its removal lost) is ignored; a torn entry too", async () => {
  await withTempDir(async (dir) => {
    await _killedPass(dir, [["a.jpg", { binaryDataId: "org/loc/old", size: 10 }]]);
    const stale = await Deno.readFile(join(dir, PLACED_LOG_NAME));
    // The next pass places the file from another item, and saves.
    const record = await PlacedRecord.read(dir);
    await record.save(["a.jpg"], () => ({ binaryDataId: "org/loc/new", size: 10 }));
    await Deno.writeFile(join(dir, PLACED_LOG_NAME), stale);
    assert.equal((await PlacedRecord.read(dir)).placedFrom("a.jpg", "org/loc/new"), "same");

    // A kill in the middle of a write leaves part of an entry at the log's end.
    await _killedPass(dir, [["b.jpg", { binaryDataId: "org/loc/b", size: 3 }]]);
    await Deno.writeFile(join(dir, PLACED_LOG_NAME), new Uint8Array([1, 2, 3, 4, 5]), {
      append: true,
    });
    const torn = await PlacedRecord.read(dir);
    assert.equal(torn.placedFrom("b.jpg", "org/loc/b"), "same");
    assert.equal(torn.placedFrom("a.jpg", "org/loc/new"), "same");
  });
});

Deno.test("placed log: a symlink planted under its name is not written through; nothing placed, no log", async () => {
  await withTempDir(async (dir) => {
    const outside = join(dir, "outside.txt");
    await Deno.writeTextFile(outside, "keep me");
    await Deno.symlink(outside, join(dir, PLACED_LOG_NAME));
    await _killedPass(dir, [["a.jpg", _placed.get("a.jpg")!]]);
    assert.equal(await Deno.readTextFile(outside), "keep me");
    assert.ok((await Deno.lstat(join(dir, PLACED_LOG_NAME))).isFile);
    assert.equal((await PlacedRecord.read(dir)).placedFrom("a.jpg", "org/loc/a"), "same");

    // A pass that gets ready to download but places nothing (a disk at its reserve) makes no log,
    // and leaves the record as it was; so does a log with no entry (a kill before the first).
    const record = await PlacedRecord.read(dir);
    await record.save(["a.jpg"], () => undefined);
    const before = await Deno.stat(join(dir, PLACED_RECORD_NAME));
    const idle = new PlacedLog(dir, await PlacedRecord.read(dir), { warn: assert.fail });
    idle.prepare();
    await idle.close();
    await assert.rejects(Deno.lstat(join(dir, PLACED_LOG_NAME)), Deno.errors.NotFound);
    await (await PlacedRecord.read(dir)).save(["a.jpg"], () => undefined);
    const generation =
      new Uint32Array((await Deno.readFile(join(dir, PLACED_RECORD_NAME))).buffer)[1];
    await Deno.writeFile(
      join(dir, PLACED_LOG_NAME),
      new Uint8Array(new Uint32Array([0x474f4c50, generation]).buffer),
    );
    await (await PlacedRecord.read(dir)).save(["a.jpg"], () => undefined);
    assert.equal((await Deno.stat(join(dir, PLACED_RECORD_NAME))).ino, before.ino);
  });
});

Deno.test("placed log: an error closing it (a network file system's late write error) is told, not thrown", async () => {
  await withTempDir(async (dir) => {
    const warnings: string[] = [];
    const log = new PlacedLog(dir, await PlacedRecord.read(dir), { warn: (m) => warnings.push(m) });
    log.add("a.jpg", _placed.get("a.jpg")!);
    const path = join(dir, PLACED_LOG_NAME);
    await pollUntil(
      "the log is made",
      async () => (await Deno.lstat(path).catch(() => null)) !== null,
    );
    // Its descriptor closed underneath: the close that follows fails (EBADF).
    for (const entry of Deno.readDirSync("/proc/self/fd")) {
      const target = await Deno.readLink(`/proc/self/fd/${entry.name}`).catch(() => "");
      if (target === path) closeSync(Number(entry.name));
    }
    await log.close();
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0], /could not log the files placed/);
  });
});

/** FNV-1a 32 over UTF-16 code units: the record's path hash, for finding a collision. */
function _fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

Deno.test("placed record: a state folder swapped for a symlink during the pass: another mirror's record and log stay", async () => {
  await withTempDir(async (dir) => {
    const other = join(dir, "other", ".data-mirror");
    await Deno.mkdir(other, { recursive: true });
    await Deno.writeTextFile(join(other, PLACED_RECORD_NAME), "theirs");
    await Deno.writeTextFile(join(other, PLACED_LOG_NAME), "their log");
    const state = join(dir, "mirror", ".data-mirror");
    await Deno.mkdir(state, { recursive: true });
    const record = await PlacedRecord.read(state);
    // The state folder, a plain one when the pass read the record, swapped for a link since.
    await Deno.rename(state, join(dir, "moved"));
    await Deno.symlink(other, state);
    await assert.rejects(
      record.save([..._placed.keys()], (path) => _placed.get(path)),
      Deno.errors.PermissionDenied,
    );
    assert.equal(await Deno.readTextFile(join(other, PLACED_RECORD_NAME)), "theirs");
    assert.equal(await Deno.readTextFile(join(other, PLACED_LOG_NAME)), "their log");
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(other), (e) => e.name)).sort(),
      [
        PLACED_RECORD_NAME,
        PLACED_LOG_NAME,
      ].sort(),
    );
  });
});

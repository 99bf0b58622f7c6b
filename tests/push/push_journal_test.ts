import assert from "node:assert/strict";
import { join } from "node:path";
import { withTmpfsAt } from "../fs/_helpers.ts";
import {
  MAX_JOURNAL_FILE_BYTES,
  PUSH_JOURNAL_LOG_NAME,
  PUSH_JOURNAL_NAME,
  PushJournal,
} from "../../src/push/push_journal.ts";

async function _withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "push-journal-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const VERSION = { ino: 7, size: 3, mtimeMs: 1000 };

Deno.test("a journal survives a reopen; an emptied entry is dropped", async () => {
  await _withDir(async (dir) => {
    const journal = await PushJournal.open(dir);
    assert.deepEqual(journal.paths(), []);
    journal.update("a/b.txt", (e) => ({ ...e, inFlight: { ...VERSION, startedMs: 5 } }));
    journal.update(
      "c.txt",
      (e) => ({ ...e, sent: { ...VERSION, binaryDataId: "o/l/f", sentMs: 6 } }),
    );
    await journal.flush();
    const again = await PushJournal.open(dir);
    assert.deepEqual(again.get("a/b.txt"), { inFlight: { ...VERSION, startedMs: 5 } });
    assert.equal(again.get("c.txt")?.sent?.binaryDataId, "o/l/f");
    again.update("a/b.txt", (e) => ({ ...e, inFlight: undefined }));
    await again.flush();
    assert.deepEqual((await PushJournal.open(dir)).paths(), ["c.txt"]);
  });
});

Deno.test("the hash of the bytes sent is kept with a version to delete, not with one kept", async () => {
  await _withDir(async (dir) => {
    const journal = await PushJournal.open(dir);
    const stored = { binaryDataId: "o/l/f", to: "here", ms: 6, sha256: "ab".repeat(32) };
    journal.recordSent("deleted.bin", VERSION, { ...stored, kept: false });
    journal.recordSent("kept.bin", VERSION, { ...stored, kept: true });
    await journal.flush();
    const again = await PushJournal.open(dir);
    assert.equal(again.get("deleted.bin")?.sent?.sha256, stored.sha256);
    assert.equal(again.get("kept.bin")?.sent?.sha256, undefined);
  });
});

Deno.test("changes made while a write runs are all on disk once their flushes resolve", async () => {
  await _withDir(async (dir) => {
    const journal = await PushJournal.open(dir);
    const flushes: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) {
      journal.update(`f${i}`, (e) => ({ ...e, inFlight: { ...VERSION, startedMs: i } }));
      flushes.push(journal.flush());
    }
    await Promise.all(flushes);
    const onDisk = await PushJournal.open(dir);
    assert.equal(onDisk.paths().length, 50);
    assert.equal(onDisk.get("f49")?.inFlight?.startedMs, 49);
    // Appended to the log, not rewritten: the snapshot comes with the compaction.
    assert.deepEqual(await _names(dir), [PUSH_JOURNAL_LOG_NAME]);
    await journal.compact();
    await journal.close();
    assert.deepEqual(await _names(dir), [PUSH_JOURNAL_NAME]);
    assert.equal((await PushJournal.open(dir)).get("f49")?.inFlight?.startedMs, 49);
  });
});

async function _names(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir), (e) => e.name)).sort();
}

Deno.test("a change costs one line in the log, not a rewrite of every entry", async () => {
  await _withDir(async (dir) => {
    const journal = await PushJournal.open(dir);
    for (let i = 0; i < 200; i++) {
      journal.update(`f${i}`, (e) => ({ ...e, inFlight: { ...VERSION, startedMs: i } }));
    }
    await journal.compact();
    const snapshot = (await Deno.stat(join(dir, PUSH_JOURNAL_NAME))).size;
    journal.update("f7", (e) => ({ ...e, inFlight: undefined }));
    await journal.flush();
    await journal.close();
    const log = await Deno.readTextFile(join(dir, PUSH_JOURNAL_LOG_NAME));
    assert.equal(log.split("\n").length, 3); // the generation, the change, the final newline
    assert.ok(log.length < snapshot / 20);
    assert.equal((await Deno.stat(join(dir, PUSH_JOURNAL_NAME))).size, snapshot);
    const again = await PushJournal.open(dir);
    assert.equal(again.get("f7"), undefined);
    assert.equal(again.paths().length, 199);
  });
});

Deno.test("a torn last line (a kill mid-append) is dropped; the next run appends after the last whole line", async () => {
  await _withDir(async (dir) => {
    const journal = await PushJournal.open(dir);
    journal.update("a", (e) => ({ ...e, inFlight: { ...VERSION, startedMs: 1 } }));
    await journal.flush();
    await journal.close();
    const logPath = join(dir, PUSH_JOURNAL_LOG_NAME);
    await Deno.writeTextFile(logPath, '{"p":"b","e":{"inFl', { append: true });
    const reopened = await PushJournal.open(dir);
    assert.deepEqual(reopened.paths(), ["a"]);
    reopened.update("c", (e) => ({ ...e, inFlight: { ...VERSION, startedMs: 3 } }));
    await reopened.flush();
    await reopened.close();
    // Cut off before the append: the log goes on, no rewrite of the journal, no torn fragment.
    assert.deepEqual(await _names(dir), [PUSH_JOURNAL_LOG_NAME]);
    const lines = (await Deno.readTextFile(logPath)).split("\n");
    assert.deepEqual(lines.map((line) => JSON.parse(line || "null")?.p), [
      undefined,
      "a",
      "c",
      undefined,
    ]);
    assert.deepEqual((await PushJournal.open(dir)).paths().sort(), ["a", "c"]);
  });
});

Deno.test("pass after pass, a change is appended to the log: the snapshot is rewritten only once the log outgrows it", async () => {
  await _withDir(async (dir) => {
    const first = await PushJournal.open(dir);
    for (let i = 0; i < 100; i++) {
      first.update(`f${i}`, (e) => ({ ...e, inFlight: { ...VERSION, startedMs: i } }));
    }
    await first.persist(); // no snapshot yet: one is made
    await first.close();
    const snapshot = await Deno.stat(join(dir, PUSH_JOURNAL_NAME));
    for (let run = 0; run < 3; run++) {
      const journal = await PushJournal.open(dir);
      await journal.persist(); // a pass's start: nothing to write
      journal.update(`f${run}`, (e) => ({ ...e, inFlight: undefined }));
      await journal.persist();
      await journal.close();
    }
    const after = await Deno.stat(join(dir, PUSH_JOURNAL_NAME));
    assert.deepEqual([after.ino, after.mtime?.getTime()], [
      snapshot.ino,
      snapshot.mtime?.getTime(),
    ]);
    const log = await Deno.readTextFile(join(dir, PUSH_JOURNAL_LOG_NAME));
    assert.equal(log.split("\n").length, 5); // the generation, three changes, the final newline
    assert.deepEqual((await PushJournal.open(dir)).paths().length, 97);
  });
});

Deno.test("a log older than the snapshot (its removal lost) is not replayed", async () => {
  await _withDir(async (dir) => {
    const journal = await PushJournal.open(dir);
    journal.update("a", (e) => ({ ...e, inFlight: { ...VERSION, startedMs: 1 } }));
    await journal.flush();
    const logPath = join(dir, PUSH_JOURNAL_LOG_NAME);
    const stale = await Deno.readTextFile(logPath);
    journal.update("a", (e) => ({ ...e, inFlight: undefined }));
    await journal.compact();
    await journal.close();
    // As if a power loss had undone the removal of the log the compaction folded in.
    await Deno.writeTextFile(logPath, stale);
    assert.deepEqual((await PushJournal.open(dir)).paths(), []);
  });
});

Deno.test("a symlink planted under the log's name is replaced, never written through", async () => {
  await _withDir(async (dir) => {
    const outside = join(dir, "outside.txt");
    await Deno.writeTextFile(outside, "precious");
    const state = join(dir, "state");
    await Deno.mkdir(state);
    await Deno.symlink(outside, join(state, PUSH_JOURNAL_LOG_NAME));
    for (let i = 0; i < 2; i++) {
      const journal = await PushJournal.open(state);
      journal.update(`f${i}`, (e) => ({ ...e, inFlight: { ...VERSION, startedMs: i } }));
      await journal.flush();
      await journal.close();
    }
    assert.equal(await Deno.readTextFile(outside), "precious");
    const left = await Deno.lstat(join(state, PUSH_JOURNAL_LOG_NAME)).catch(() => undefined);
    assert.ok(left === undefined || left.isFile, "the link is gone, replaced or folded in");
    assert.deepEqual((await PushJournal.open(state)).paths().sort(), ["f0", "f1"]);
  });
});

Deno.test("a journal or log planted as a symlink is not read (counts as none); a damaged one is named without quoting it", async () => {
  await _withDir(async (dir) => {
    const outside = join(dir, "victim.txt");
    await Deno.writeTextFile(outside, '{"version":1,"files":{"VICTIM":{}}}\n');
    const state = join(dir, "state");
    await Deno.mkdir(state);
    for (const name of [PUSH_JOURNAL_NAME, PUSH_JOURNAL_LOG_NAME]) {
      await Deno.symlink(outside, join(state, name));
      const warned: string[] = [];
      const journal = await PushJournal.open(state, { warn: (m) => warned.push(m) });
      assert.deepEqual(journal.paths(), []);
      // Told: what it stood for is lost, and files are sent again (a second copy, in silence).
      assert.equal(warned.length, 1);
      assert.match(
        warned[0],
        new RegExp(`${name} is a symlink, not the program's: not read .* sent again`),
      );
      journal.update("f", (e) => ({ ...e, inFlight: { ...VERSION, startedMs: 1 } }));
      await journal.flush();
      await journal.close();
      assert.deepEqual((await PushJournal.open(state)).paths(), ["f"]);
      await Deno.remove(state, { recursive: true });
      await Deno.mkdir(state);
    }
    // A folder in its place, which no write can replace: refused, saying what to do (a bare
    // "Is a directory" failed every pass).
    await Deno.mkdir(join(state, PUSH_JOURNAL_NAME));
    await assert.rejects(
      PushJournal.open(state),
      /push-journal\.json is a folder, not a file; move the journal .* aside/,
    );
    await Deno.remove(join(state, PUSH_JOURNAL_NAME));
    await Deno.writeTextFile(join(state, PUSH_JOURNAL_NAME), "SECRET-LOOKING {");
    const damaged = await PushJournal.open(state).then(() => undefined, (e: Error) => e);
    assert.match(String(damaged?.message), /is not valid JSON \(SyntaxError\); move the journal/);
    assert.doesNotMatch(String(damaged?.message), /SECRET/);
    // An upload in flight with no start time (edited by hand): named, not a NaN every pass.
    await Deno.writeTextFile(
      join(state, PUSH_JOURNAL_NAME),
      JSON.stringify({ version: 1, files: { "a.txt": { inFlight: { ...VERSION } } } }),
    );
    await assert.rejects(
      PushJournal.open(state),
      /the entry of "a\.txt" has a inFlight whose startedMs is no number; move the journal .* aside/,
    );
    assert.equal(await Deno.readTextFile(outside), '{"version":1,"files":{"VICTIM":{}}}\n');
  });
});

Deno.test("a FIFO swapped in for the log while a pass runs is replaced, not blocked on", async () => {
  await _withDir(async (dir) => {
    const first = await PushJournal.open(dir);
    await first.persist();
    first.update("a.jpg", (e) => ({ ...e, inFlight: { ...VERSION, startedMs: 1 } }));
    await first.flush();
    await first.close();
    const journal = await PushJournal.open(dir); // finds the log: its first write appends to it
    const log = join(dir, PUSH_JOURNAL_LOG_NAME);
    await Deno.remove(log);
    assert.ok(new Deno.Command("mkfifo", { args: [log] }).outputSync().success);
    journal.update("b.jpg", (e) => ({ ...e, inFlight: { ...VERSION, startedMs: 2 } }));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hung = new Promise<"hung">((r) => timer = setTimeout(() => r("hung"), 5000));
    const outcome = await Promise.race([journal.flush().then(() => "flushed"), hung]);
    clearTimeout(timer);
    if (outcome === "hung") {
      (await Deno.open(log, { read: true })).close(); // lets the blocked open go, to end the test
    }
    assert.equal(outcome, "flushed", "the append blocked on the FIFO");
    await journal.close();
    assert.equal((await Deno.lstat(log).catch(() => undefined))?.isFifo ?? false, false);
    const reread = await PushJournal.open(dir);
    assert.deepEqual(reread.paths().sort(), ["a.jpg", "b.jpg"]);
  });
});

Deno.test("an entry of the wrong shape (edited by hand) is an error naming the file and the entry", async () => {
  await _withDir(async (dir) => {
    const snapshot = join(dir, PUSH_JOURNAL_NAME);
    await Deno.writeTextFile(snapshot, '{"version":1,"files":{"a.jpg":{"uploads":5}}}\n');
    const damaged = await PushJournal.open(dir).then(() => undefined, (e: Error) => e);
    assert.ok(
      damaged?.message.startsWith(
        `push journal ${snapshot}: the entry of "a.jpg" has uploads that are no list of uploads; `,
      ),
      String(damaged?.message),
    );
    await Deno.writeTextFile(snapshot, '{"version":1,"files":{"a.jpg":{}}}\n');
    const log = join(dir, PUSH_JOURNAL_LOG_NAME);
    await Deno.writeTextFile(log, '{"generation":0}\n{"p":"a.jpg","e":{"sent":"yes"}}\n');
    const inLog = await PushJournal.open(dir).then(() => undefined, (e: Error) => e);
    assert.ok(
      inLog?.message.startsWith(
        `push journal log ${log} line 2: the entry has a sent that is no object; `,
      ),
      String(inLog?.message),
    );
    // An older version's entry, without the fields added since, is read.
    await Deno.remove(log);
    await Deno.writeTextFile(
      snapshot,
      '{"version":1,"files":{"a.jpg":{"sent":{"ino":1,"size":2,"mtimeMs":3,"binaryDataId":"x","sentMs":4}}}}\n',
    );
    assert.deepEqual((await PushJournal.open(dir)).paths(), ["a.jpg"]);
  });
});

Deno.test("a journal too large to read within the heap is refused, naming the file and what to do", async () => {
  // Read whole and parsed, 400,000 kept files' records took more than the heap: the process (and
  // the mirror beside it) died at every pass. Refused before reading, it is an error of the push.
  for (const name of [PUSH_JOURNAL_NAME, PUSH_JOURNAL_LOG_NAME]) {
    await _withDir(async (dir) => {
      await Deno.writeTextFile(join(dir, name), "");
      await Deno.truncate(join(dir, name), MAX_JOURNAL_FILE_BYTES + 1);
      await assert.rejects(
        PushJournal.open(dir),
        new RegExp(
          `push journal .*${name.replace(".", "\\.")} holds 48\\.0 MiB, more than .*` +
            "Move the files already sent out of the push folder and remove the journal",
        ),
      );
    });
  }
});

Deno.test("a state folder swapped for a symlink during the pass: another push folder's journal is neither replaced nor unlinked", async () => {
  await _withDir(async (dir) => {
    // Another push folder beside this one, with its journal and log.
    const other = join(dir, "other", ".data-mirror");
    await Deno.mkdir(other, { recursive: true });
    await Deno.writeTextFile(join(other, PUSH_JOURNAL_NAME), "theirs");
    await Deno.writeTextFile(join(other, PUSH_JOURNAL_LOG_NAME), "their log");
    const state = join(dir, "outbox", ".data-mirror");
    await Deno.mkdir(state, { recursive: true });
    const journal = await PushJournal.open(state);
    await journal.persist();
    // The state folder, checked a plain one when the pass began, swapped for a link since.
    await Deno.rename(state, join(dir, "moved"));
    await Deno.symlink(other, state);
    journal.update("a.txt", (e) => ({ ...e, inFlight: { ...VERSION, startedMs: 1 } }));
    await assert.rejects(journal.flush(), Deno.errors.PermissionDenied);
    await assert.rejects(journal.compact(), Deno.errors.PermissionDenied);
    await journal.close();
    assert.equal(await Deno.readTextFile(join(other, PUSH_JOURNAL_NAME)), "theirs");
    assert.equal(await Deno.readTextFile(join(other, PUSH_JOURNAL_LOG_NAME)), "their log");
    assert.deepEqual((await Array.fromAsync(Deno.readDir(other))).map((e) => e.name).sort(), [
      PUSH_JOURNAL_NAME,
      PUSH_JOURNAL_LOG_NAME,
    ]);
  });
});

Deno.test("a journal write on a full disk names the journal and says what waits", async () => {
  await _withDir(async (dir) => {
    await withTmpfsAt(dir, async () => {
      const journal = await PushJournal.open(dir);
      await journal.persist();
      // The rest of the 1 MiB file system taken.
      await Deno.writeFile(join(dir, "filler"), new Uint8Array(1024 * 1024)).catch(() => {});
      journal.update("a.jpg", (e) => ({ ...e, inFlight: { ...VERSION, startedMs: 1 } }));
      const error = await journal.flush().then(() => undefined, (e: Error) => e);
      assert.match(
        String(error?.message),
        /the push journal .*push-journal\.(log|json) could not be written: the disk is full \(No space left on device.*\); nothing is uploaded or deleted until space is freed/,
      );
      await journal.close().catch(() => {});
    });
  });
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { PUSH_JOURNAL_NAME, PushJournal } from "../../src/push/push_journal.ts";

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
    // No temporary file is left beside it.
    const names = await Array.fromAsync(Deno.readDir(dir), (e) => e.name);
    assert.deepEqual(names, [PUSH_JOURNAL_NAME]);
  });
});

Deno.test("a journal that is not this format is an error naming the file", async () => {
  await _withDir(async (dir) => {
    await Deno.writeTextFile(join(dir, PUSH_JOURNAL_NAME), "{not json");
    await assert.rejects(PushJournal.open(dir), /push-journal\.json is not valid JSON/);
    await Deno.writeTextFile(join(dir, PUSH_JOURNAL_NAME), '{"version":2,"files":{}}');
    await assert.rejects(PushJournal.open(dir), /unknown format/);
  });
});

// Tests of src/fs/file_system_sync.ts: the system's real `sync`, and recording programs (real
// processes) that show how requests are coalesced and what a failure does.
import assert from "node:assert/strict";
import { join } from "node:path";
import { FileSystemSync } from "../../src/fs/file_system_sync.ts";
import { withTempDir } from "./_helpers.ts";
import { pollUntil } from "../_poll.ts";

/**
 * Writes an executable that stands in for `sync`: it appends `start <folder>` to `log`, sleeps
 * `seconds` (or, `gated`, waits until `open` has been called, some 30 s at most), appends `end`,
 * and exits with `exitCode`.
 */
async function recordingSync(
  dir: string,
  options: { seconds?: number; exitCode?: number; gated?: boolean } = {},
): Promise<{ program: string; log: string; open: () => Promise<void> }> {
  const program = join(dir, `sync-${crypto.randomUUID()}`);
  const log = join(dir, `${crypto.randomUUID()}.log`);
  const gate = join(dir, `${crypto.randomUUID()}.open`);
  const wait = options.gated
    ? `i=0; while [ ! -e '${gate}' ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done\n`
    : `sleep ${options.seconds ?? 0}\n`;
  await Deno.writeTextFile(log, "");
  await Deno.writeTextFile(
    program,
    `#!/bin/sh\necho "start $2" >> '${log}'\n${wait}` +
      `echo end >> '${log}'\nexit ${options.exitCode ?? 0}\n`,
    { mode: 0o755 },
  );
  return { program, log, open: () => Deno.writeTextFile(gate, "") };
}

async function lines(log: string): Promise<string[]> {
  return (await Deno.readTextFile(log)).split("\n").filter((line) => line !== "");
}

Deno.test("FileSystemSync runs this machine's sync program on the folder's file system", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "a"), "bytes");
    await new FileSystemSync(dir).flush();
  });
});

Deno.test("FileSystemSync: a request made while a sync runs waits for the next one, which all such requests share", async () => {
  await withTempDir(async (dir) => {
    const { program, log, open } = await recordingSync(dir, { gated: true });
    const fsSync = new FileSystemSync(dir, { programs: [program] });
    /** How many runs had ended when each request was answered. */
    const endedRuns: number[] = [];
    const answered = async () =>
      endedRuns.push((await lines(log)).filter((line) => line === "end").length);
    const first = fsSync.flush().then(answered);
    // The first run is under way, and holds until the gate opens (ordered, not timed: after a
    // fixed 100 ms wait, a loaded machine's first run of 0.3 s could already have ended).
    await pollUntil("the first run started", async () => (await lines(log)).length > 0);
    const later = [1, 2, 3].map(() => fsSync.flush().then(answered));
    await open();
    await Promise.all([first, ...later]);
    assert.deepEqual(await lines(log), [`start ${dir}`, "end", `start ${dir}`, "end"]);
    // The first was answered after one run; the three later ones only after a second, whole run.
    assert.deepEqual(endedRuns, [1, 2, 2, 2]);
    await fsSync.flush();
    assert.equal(
      (await lines(log)).length,
      6,
      "a request after the others starts a run of its own",
    );
  });
});

Deno.test("FileSystemSync tries the next program when one is not installed, and then keeps to it", async () => {
  await withTempDir(async (dir) => {
    const { program, log } = await recordingSync(dir);
    const fsSync = new FileSystemSync(dir, { programs: [join(dir, "absent-sync"), program] });
    await fsSync.flush();
    await fsSync.flush();
    assert.deepEqual(await lines(log), [`start ${dir}`, "end", `start ${dir}`, "end"]);
  });
});

Deno.test("FileSystemSync without any program rejects, and then rejects at once", async () => {
  await withTempDir(async (dir) => {
    const fsSync = new FileSystemSync(dir, { programs: [join(dir, "absent-sync")] });
    await assert.rejects(fsSync.flush(), Deno.errors.NotFound);
    await assert.rejects(fsSync.flush(), Deno.errors.NotFound);
  });
});

Deno.test("FileSystemSync: once a sync fails, every later request fails without running one, the queued one too", async () => {
  await withTempDir(async (dir) => {
    const { program, log } = await recordingSync(dir, { seconds: 0.2, exitCode: 1 });
    const fsSync = new FileSystemSync(dir, { programs: [program] });
    const first = fsSync.flush();
    const queued = fsSync.flush(); // arrives while the first runs: would start once it ends
    await assert.rejects(first, /exited with code 1/);
    await assert.rejects(queued, /exited with code 1/);
    await assert.rejects(fsSync.flush(), /exited with code 1/);
    assert.deepEqual(await lines(log), [`start ${dir}`, "end"]);
  });
});

/** Progress by bytes with files second: the figures, the rate window, the ETA, resumed bytes. */
import assert from "node:assert/strict";
import { createProgressReporter } from "../../src/cli/progress_reporter.ts";

const MiB = 1024 * 1024;

/** A line reporter writing `lines` at `stop` (an hour's interval), its clock set by `at`. */
async function _lineReporter() {
  const clock = { now: 0 };
  const lines: string[] = [];
  const reporter = await createProgressReporter({
    tty: false,
    writeLine: (line) => lines.push(line),
    intervalMs: 3_600_000,
    now: () => clock.now,
  });
  return { reporter, lines, at: (ms: number) => void (clock.now = ms) };
}

Deno.test("a few large files: the line follows bytes, the ETA comes from the recent rate", async () => {
  const { reporter, lines, at } = await _lineReporter();
  // 2 files of 40 MiB; resumed: 10 MiB were already in staging at the first report.
  reporter.update({ filesDone: 0, filesTotal: 2, bytesDone: 10 * MiB, bytesTotal: 80 * MiB });
  for (let second = 1; second <= 10; second++) {
    at(second * 1000);
    reporter.update({
      filesDone: 0,
      filesTotal: 2,
      bytesDone: (10 + 2 * second) * MiB,
      bytesTotal: 80 * MiB,
    });
  }
  reporter.stop();
  // 2 MiB/s received (not 3: the 10 resumed MiB were not received now), 50 MiB left: 25 s.
  assert.deepEqual(lines, [
    "progress: 30.0 MiB of 80.0 MiB (37%), 0/2 files, 2.0 MiB/s, ETA 25 s",
  ]);
});

Deno.test("the rate forgets what is older than its window; totals may grow; nothing flowing is --", async () => {
  const { reporter, lines } = await _lineReporter();
  reporter.update({ filesDone: 0, filesTotal: 1, bytesDone: 0, bytesTotal: 0 });
  reporter.stop();
  assert.deepEqual(lines, ["progress: 0 B of 0 B, 0/1 files, 0 B/s, ETA --"]);

  const { reporter: second, lines: secondLines, at: secondAt } = await _lineReporter();
  // Fast for 10 s (10 MiB/s), then 1 MiB/s for 20 s while the listing adds files.
  second.update({ filesDone: 0, filesTotal: 10, bytesDone: 0, bytesTotal: 400 * MiB });
  for (let s = 1; s <= 10; s++) {
    secondAt(s * 1000);
    second.update({ filesDone: s, filesTotal: 10, bytesDone: s * 10 * MiB, bytesTotal: 400 * MiB });
  }
  for (let s = 11; s <= 30; s++) {
    secondAt(s * 1000);
    second.update({
      filesDone: 10,
      filesTotal: 20,
      bytesDone: (100 + (s - 10)) * MiB,
      bytesTotal: 500 * MiB,
    });
  }
  assert.equal(second.latest()?.filesTotal, 20);
  second.stop();
  // 120 MiB done, 380 MiB left at 1 MiB/s (the fast start is out of the window).
  assert.deepEqual(secondLines, [
    "progress: 120.0 MiB of 500.0 MiB (24%), 10/20 files, 1.0 MiB/s, ETA 6 min 20 s",
  ]);
});

Deno.test("a partial resumed after the first report adds its bytes, not its rate; failed files are told", async () => {
  const { reporter, lines, at } = await _lineReporter();
  // Small files first at 100 KiB/s; at 5 s a 3 MiB file resumes from 1.8 MiB held, then 1 s more.
  const KiB = 1024;
  for (let s = 0; s <= 5; s++) {
    at(s * 1000);
    reporter.update({ filesDone: s, filesTotal: 7, bytesDone: s * 100 * KiB, bytesTotal: 4 * MiB });
  }
  const held = 1.8 * MiB;
  at(5_001);
  const resumed = { filesDone: 5, filesTotal: 7, bytesTotal: 4 * MiB, bytesResumed: held };
  reporter.update({ ...resumed, bytesDone: 500 * KiB + held });
  at(6_000);
  reporter.update({ ...resumed, bytesDone: 600 * KiB + held, filesDone: 6, filesFailed: 1 });
  reporter.stop();
  // 600 KiB received in 6 s: 100 KiB/s (counting the partial's bytes: 407 KiB/s); a file that
  // failed is told as such, not only as done.
  assert.equal(
    lines[0],
    "progress: 2.4 MiB of 4.0 MiB (59%), 6/7 files (1 failed), 100.0 KiB/s, ETA 17 s",
  );
});

Deno.test("once every file is done, failed ones among them, no time is left", async () => {
  const { reporter, lines, at } = await _lineReporter();
  at(0);
  reporter.update({ filesDone: 0, filesTotal: 2, bytesDone: 0, bytesTotal: 4 });
  at(1_000);
  // The failed file's bytes never come (a reviewer's push line: "ETA 1 s" after the pass).
  reporter.update({ filesDone: 2, filesTotal: 2, filesFailed: 1, bytesDone: 2, bytesTotal: 4 });
  reporter.stop();
  assert.equal(lines.at(-1), "progress: 2 B of 4 B (50%), 2/2 files (1 failed), 2 B/s, ETA 0 s");
});

import assert from "node:assert/strict";
import { IdleWatchdog } from "../../src/async/idle_watchdog.ts";

const _sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("calls back once, with what and how long, after that long without progress", async () => {
  const calls: [string, number][] = [];
  const watchdog = new IdleWatchdog((what, ms) => calls.push([what, ms]));
  watchdog.watch(40, "body");
  await _sleep(150);
  assert.deepEqual(calls, [["body", 40]]);
  watchdog.stop();
});

Deno.test("progress keeps it quiet; a pause is not a stall; stop ends the watch", async () => {
  const calls: string[] = [];
  const watchdog = new IdleWatchdog((what) => calls.push(what));
  watchdog.watch(60, "upload");
  for (let i = 0; i < 6; i++) {
    await _sleep(20);
    watchdog.progress();
  }
  assert.deepEqual(calls, [], "progressing every 20 ms is not a stall of 60 ms");
  watchdog.pause();
  await _sleep(150);
  assert.deepEqual(calls, [], "paused");
  watchdog.progress();
  watchdog.stop();
  await _sleep(100);
  assert.deepEqual(calls, [], "stopped");
});

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

Deno.test("progress keeps it quiet; a pause is not a stall; stop ends the watch", () => {
  // On the test's clock: with real timers, "every 20 ms" was a 20 ms sleep, at least that long; a
  // loaded machine that left 60 ms between two progress calls made it a real stall.
  using clock = _fakeClock();
  const calls: string[] = [];
  const watchdog = new IdleWatchdog((what) => calls.push(what));
  watchdog.watch(60, "upload");
  for (let i = 0; i < 6; i++) {
    clock.advance(20);
    watchdog.progress();
  }
  assert.deepEqual(calls, [], "progressing every 20 ms is not a stall of 60 ms");
  watchdog.pause();
  clock.advance(150);
  assert.deepEqual(calls, [], "paused");
  watchdog.progress();
  watchdog.stop();
  clock.advance(100);
  assert.deepEqual(calls, [], "stopped");
});

Deno.test("a timer that fires late (the process did not run) lets waiting data in first, once a wait", () => {
  // After SIGSTOP and SIGCONT the overdue timer ran before the bytes waiting in the socket were
  // read: every download in flight was cut ("no data for 60000 ms") and resumed.
  using clock = _fakeClock();
  const calls: string[] = [];
  const watchdog = new IdleWatchdog((what) => calls.push(what));
  watchdog.watch(100, "body");
  clock.advance(400, { stopped: true });
  assert.deepEqual(calls, [], "called stalled before what waited was read");
  watchdog.progress(); // the bytes that came while the process was stopped
  clock.advance(60);
  assert.deepEqual(calls, []);
  // Starved for good with a dead stream: the grace is not given twice.
  clock.advance(400, { stopped: true });
  clock.advance(400, { stopped: true });
  assert.deepEqual(calls, ["body"]);
});

/**
 * A clock that moves only when told: `performance.now`, `setTimeout` and `clearTimeout` (what
 * IdleWatchdog reads and arms) are replaced until disposed. `advance` runs the timers due, in order,
 * each at its own time; `stopped`, as a process that did not run: all at the end, late.
 */
function _fakeClock(): { advance(ms: number, options?: { stopped?: boolean }): void } & Disposable {
  const real = {
    now: performance.now,
    setTimeout: globalThis.setTimeout,
    clearTimeout: globalThis.clearTimeout,
  };
  let now = 0;
  let nextId = 1;
  const timers = new Map<number, { at: number; callback: () => void }>();
  performance.now = () => now;
  globalThis.setTimeout = ((callback: () => void, ms = 0) => {
    timers.set(nextId, { at: now + ms, callback });
    return nextId++;
  }) as unknown as typeof setTimeout;
  globalThis.clearTimeout =
    ((id?: number) => void timers.delete(id!)) as unknown as typeof clearTimeout;
  return {
    advance(ms, { stopped = false } = {}) {
      const end = now + ms;
      if (stopped) now = end;
      for (;;) {
        const [id, due] = [...timers].filter(([, timer]) => timer.at <= end)
          .sort(([a, x], [b, y]) => x.at - y.at || a - b)[0] ?? [];
        if (due === undefined) break;
        timers.delete(id!);
        now = Math.max(now, due.at);
        due.callback();
      }
      now = end;
    },
    [Symbol.dispose]() {
      performance.now = real.now;
      globalThis.setTimeout = real.setTimeout;
      globalThis.clearTimeout = real.clearTimeout;
    },
  };
}

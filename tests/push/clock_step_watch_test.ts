/**
 * Push's settle time against a wall clock stepped forward (NTP right after a robot without a
 * real-time clock boots): a file still being written must not look settled by the step.
 */
import assert from "node:assert/strict";
import { ClockStepWatch } from "../../src/push/clock_step_watch.ts";
import { withPush } from "./_harness.ts";

/** Clocks the test moves by hand: the wall clock, and the monotonic one. */
function _clocks() {
  const clocks = { wall: Date.UTC(2026, 0, 1), monotonic: 1_000 };
  const watch = new ClockStepWatch({ wall: () => clocks.wall, monotonic: () => clocks.monotonic });
  return { clocks, watch };
}

Deno.test("a change made before a forward step is settled only after the settle time of real time", () => {
  const { clocks, watch } = _clocks();
  const lastWrite = clocks.wall - 1_000;
  assert.equal(watch.settled(lastWrite, 10_000), true, "no step seen: the wall clock decides");
  clocks.wall += 3_600_000; // NTP steps the clock an hour ahead
  clocks.monotonic += 2_000;
  assert.equal(watch.settled(lastWrite, 10_000), false);
  clocks.monotonic += 9_000;
  clocks.wall += 9_000;
  assert.equal(watch.settled(lastWrite, 10_000), false, "9 s of real time since the step");
  clocks.monotonic += 1_000;
  clocks.wall += 1_000;
  assert.equal(watch.settled(lastWrite, 10_000), true, "10 s of real time since the step");
  // A change after the step is the wall clock's alone.
  assert.equal(watch.settled(clocks.wall - 1, 10_000), true);
});

Deno.test("slewing and steps back are no forward step", () => {
  const { clocks, watch } = _clocks();
  const lastWrite = clocks.wall - 1_000;
  clocks.wall += 60_000 + 30; // a minute with 0.5 ms/s of slewing
  clocks.monotonic += 60_000;
  assert.equal(watch.settled(lastWrite, 10_000), true);
  clocks.wall -= 3_600_000;
  assert.equal(watch.settled(lastWrite - 3_600_000, 10_000), true);
});

Deno.test("push does not send a file still being written when the clock steps ahead between passes", async () => {
  await withPush(async ({ platform, pass, write }) => {
    let step = 0;
    const wall = () => Date.now() + step;
    const clockSteps = new ClockStepWatch({ wall });
    await write("growing.log", "first line\n", 0);
    const before = await pass({ minAgeSeconds: 10 }, { now: wall, clockSteps });
    assert.deepEqual([before.uploaded, before.skippedBy.settling], [0, 1]);
    step = 3_600_000; // the file's last write now looks an hour old
    const after = await pass({ minAgeSeconds: 10 }, { now: wall, clockSteps });
    assert.deepEqual([after.uploaded, after.skippedBy.settling], [0, 1]);
    assert.equal(platform.items().length, 0);
  });
});

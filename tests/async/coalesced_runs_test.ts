import assert from "node:assert/strict";
import { CoalescedRuns } from "../../src/async/coalesced_runs.ts";

/** A task that records its start and end in `log` and ends when `release` is called. */
function gatedTask(log: string[], name: string) {
  const gate = Promise.withResolvers<void>();
  return {
    task: async () => {
      log.push(`start ${name}`);
      await gate.promise;
      log.push(`end ${name}`);
    },
    release: () => gate.resolve(),
    fail: (error: Error) => gate.reject(error),
  };
}

Deno.test("CoalescedRuns: a request while a run goes on waits for a whole next run, which all such requests share", async () => {
  const runs = new CoalescedRuns();
  const log: string[] = [];
  const first = gatedTask(log, "1");
  const second = gatedTask(log, "2");
  const answered: string[] = [];
  const a = runs.request(first.task).then(() => answered.push(`a after ${log.at(-1)}`));
  const b = runs.request(second.task).then(() => answered.push(`b after ${log.at(-1)}`));
  const c = runs.request(() => Promise.reject(new Error("never run"))).then(() =>
    answered.push(`c after ${log.at(-1)}`)
  );
  assert.deepEqual(log, ["start 1"], "the second run waits for the first");
  first.release();
  await a;
  second.release();
  await Promise.all([b, c]);
  assert.deepEqual(log, ["start 1", "end 1", "start 2", "end 2"]);
  assert.deepEqual(answered, ["a after end 1", "b after end 2", "c after end 2"]);
  assert.equal(runs.running, undefined);
});

Deno.test("CoalescedRuns: the next run starts after a failed one, and each request gets its own run's outcome", async () => {
  const runs = new CoalescedRuns();
  const log: string[] = [];
  const first = gatedTask(log, "1");
  const failed = runs.request(first.task);
  const next = runs.request(() => Promise.resolve(void log.push("run 2")));
  first.fail(new Error("disk"));
  await assert.rejects(failed, /disk/);
  await next;
  assert.deepEqual(log, ["start 1", "run 2"]);
});

Deno.test("CoalescedRuns.idle waits for the running and the queued run, failed or not", async () => {
  const runs = new CoalescedRuns();
  const log: string[] = [];
  const first = gatedTask(log, "1");
  const second = gatedTask(log, "2");
  runs.request(first.task).catch(() => {});
  runs.request(second.task);
  let idle = false;
  const waiting = runs.idle().then(() => idle = true);
  first.fail(new Error("disk"));
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(idle, false, "the queued run still goes on");
  second.release();
  await waiting;
  assert.deepEqual(log, ["start 1", "start 2", "end 2"]);
  assert.equal(runs.running, undefined);
});

Deno.test("CoalescedRuns with minIntervalMs: a run starts that long after the last start at the soonest, and requests meanwhile share it", async () => {
  const runs = new CoalescedRuns({ minIntervalMs: 200 });
  const starts: number[] = [];
  const task = () => Promise.resolve(void starts.push(performance.now()));
  const first = runs.request(task);
  assert.equal(starts.length, 1, "the first run starts at once");
  await first;
  await Promise.all([runs.request(task), runs.request(task), runs.request(task)]);
  assert.equal(starts.length, 2, "the three requests shared one run");
  assert.ok(
    starts[1] - starts[0] >= 195,
    `second start ${starts[1] - starts[0]} ms after the first`,
  );
  await runs.idle();
  assert.equal(runs.running, undefined);
});

Deno.test("CoalescedRuns.hasten starts a run waiting out the interval now; with nothing queued it changes nothing", async () => {
  const runs = new CoalescedRuns({ minIntervalMs: 60_000 });
  const starts: number[] = [];
  const task = () => Promise.resolve(void starts.push(performance.now()));
  runs.hasten(); // nothing queued
  await runs.request(task);
  const t0 = performance.now();
  const waiting = runs.request(task);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(starts.length, 1, "the second run waits for the interval");
  runs.hasten();
  await waiting;
  assert.equal(starts.length, 2);
  assert.ok(starts[1] - t0 < 1_000, "started when hastened, not a minute later");
});

Deno.test("CoalescedRuns.hasten during a run: the queued run starts right after it, without the interval", async () => {
  const runs = new CoalescedRuns({ minIntervalMs: 60_000 });
  const log: string[] = [];
  const first = gatedTask(log, "1");
  const running = runs.request(first.task);
  const queued = runs.request(() => Promise.resolve(void log.push("run 2")));
  runs.hasten();
  first.release();
  await running;
  await queued;
  assert.deepEqual(log, ["start 1", "end 1", "run 2"]);
});

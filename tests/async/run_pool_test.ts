import assert from "node:assert/strict";
import { runPool } from "../../src/async/run_pool.ts";

Deno.test("runPool never runs more tasks at once than its concurrency, and runs them all", async () => {
  let running = 0;
  let peak = 0;
  const done: number[] = [];
  function* tasks() {
    for (let i = 0; i < 40; i++) {
      yield async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, i % 3));
        running--;
        done.push(i);
      };
    }
  }
  await runPool(tasks(), { concurrency: 4 });
  assert.equal(peak, 4);
  assert.deepEqual(done.toSorted((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i));
});

Deno.test("runPool pulls tasks lazily and stops starting them when told to", async () => {
  let pulled = 0;
  let stop = false;
  function* tasks() {
    for (let i = 0; i < 1000; i++) {
      pulled++;
      yield () => {
        if (i === 9) stop = true;
        return Promise.resolve();
      };
    }
  }
  await runPool(tasks(), { concurrency: 2, shouldContinue: () => !stop });
  assert.ok(pulled <= 12, `pulled ${pulled} tasks after the stop`);
});

Deno.test("runPool rethrows a task's error after the running tasks settle", async () => {
  let settled = 0;
  const tasks = [
    () => Promise.reject(new Error("boom")),
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      settled++;
    },
  ];
  await assert.rejects(runPool(tasks, { concurrency: 2 }), /boom/);
  assert.equal(settled, 1);
});

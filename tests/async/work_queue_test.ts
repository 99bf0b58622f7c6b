import assert from "node:assert/strict";
import { WorkQueue } from "../../src/async/work_queue.ts";

Deno.test("onIdle is called when the last task settles with nothing pending, and may push more", async () => {
  const order: string[] = [];
  let held: string[] = ["late-1", "late-2"];
  const gate = Promise.withResolvers<void>();
  const queue = new WorkQueue({
    concurrency: 2,
    onIdle: () => {
      order.push("idle");
      const batch = held;
      held = [];
      if (batch.length > 0) queue.push(() => Promise.resolve(void order.push(batch.join("+"))));
    },
  });
  queue.push(async () => {
    await gate.promise;
    order.push("a");
  });
  queue.push(() => Promise.resolve(void order.push("b")));
  assert.equal(queue.running, 2);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(order, ["b"], "not idle while a task still runs");
  gate.resolve();
  await queue.finish();
  assert.deepEqual(order, ["b", "a", "idle", "late-1+late-2", "idle"]);
  assert.equal(queue.running, 0);
});

Deno.test("onIdle is not called once the queue stopped", async () => {
  const controller = new AbortController();
  let idle = 0;
  const queue = new WorkQueue({ concurrency: 1, signal: controller.signal, onIdle: () => idle++ });
  queue.push(() => Promise.resolve(controller.abort()));
  await queue.finish();
  assert.equal(idle, 0);
});

Deno.test("stop starts nothing more; finish waits for the running tasks and counts the dropped", async () => {
  const gate = Promise.withResolvers<void>();
  const done: string[] = [];
  const queue = new WorkQueue({ concurrency: 2 });
  for (const name of ["a", "b", "c", "d"]) {
    queue.push(async () => {
      await gate.promise;
      done.push(name);
    });
  }
  queue.stop();
  let finished = false;
  const finishing = queue.finish().then(() => finished = true);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(finished, false, "finish waits for the two running tasks");
  gate.resolve();
  await finishing;
  assert.deepEqual(done, ["a", "b"]);
  assert.equal(queue.dropped, 2);
  queue.push(() => Promise.resolve(void done.push("e")));
  await queue.finish();
  assert.deepEqual(done, ["a", "b"], "nothing starts after stop");
});

Deno.test("a concurrency function is asked before each start; wake starts what it allows now", async () => {
  let limit = 1;
  const gates = [0, 1, 2].map(() => Promise.withResolvers<void>());
  const queue = new WorkQueue({ concurrency: () => limit });
  gates.forEach((gate) => queue.push(() => gate.promise));
  assert.equal(queue.running, 1);
  limit = 3;
  assert.equal(queue.running, 1, "nothing starts before it is woken or a task settles");
  queue.wake();
  assert.equal(queue.running, 3);
  limit = 0; // read as 1: running tasks go on, nothing more starts
  queue.push(() => Promise.resolve());
  assert.equal(queue.running, 3);
  for (const gate of gates) gate.resolve();
  await queue.finish();
  assert.equal(queue.running, 0);
});

Deno.test("onSettled is called after each task settles, once the queue started what that allowed", async () => {
  const seen: number[] = [];
  const gates = [0, 1, 2].map(() => Promise.withResolvers<void>());
  const queue = new WorkQueue({ concurrency: 2, onSettled: () => seen.push(queue.running) });
  gates.forEach((gate) => queue.push(() => gate.promise));
  gates[0].resolve();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(seen, [2], "the third task had started when the first's settling was told");
  gates[1].resolve();
  gates[2].resolve();
  await queue.finish();
  assert.deepEqual(seen, [2, 1, 0]);
});

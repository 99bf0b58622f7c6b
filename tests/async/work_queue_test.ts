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

import assert from "node:assert/strict";
import { Semaphore } from "../../src/async/semaphore.ts";

/** What became of an acquire by the next turn of the event loop. */
const settled = (promise: Promise<unknown>) =>
  Promise.race([
    promise.then(() => "held", () => "refused"),
    new Promise((resolve) => setTimeout(() => resolve("waiting"), 0)),
  ]);

Deno.test("a semaphore lets `permits` holders in at once and the others in order", async () => {
  const slots = new Semaphore(2);
  await slots.acquire();
  await slots.acquire();
  assert.equal(slots.free, 0);
  const third = slots.acquire();
  const fourth = slots.acquire();
  assert.equal(await settled(third), "waiting");
  slots.release();
  assert.equal(await settled(third), "held");
  assert.equal(await settled(fourth), "waiting");
  slots.release();
  assert.equal(await settled(fourth), "held");
  slots.release();
  slots.release();
  assert.equal(slots.free, 2);
});

Deno.test("a wait given up by its signal takes no permit, and the next waiter gets it", async () => {
  const slots = new Semaphore(1);
  await slots.acquire();
  const stop = new AbortController();
  const abandoned = slots.acquire(stop.signal);
  const next = slots.acquire();
  stop.abort(new Error("timed out"));
  await assert.rejects(abandoned, /timed out/);
  slots.release();
  assert.equal(await settled(next), "held");
  slots.release();
  assert.equal(slots.free, 1, "the abandoned wait did not keep a permit");
  // Already aborted: refused at once, nothing taken.
  await assert.rejects(slots.acquire(AbortSignal.abort(new Error("before"))), /before/);
  assert.equal(slots.free, 1);
});

Deno.test("a holder may take several permits: the waiters go in order, each once its share is free", async () => {
  const budget = new Semaphore(300);
  await budget.acquire(undefined, 200);
  const large = budget.acquire(undefined, 200); // does not fit beside the first
  const small = budget.acquire(undefined, 50); // would fit, but waits behind the one before it
  assert.equal(await settled(large), "waiting");
  assert.equal(await settled(small), "waiting");
  assert.equal(budget.waiting, 2);
  budget.release(200);
  assert.equal(await settled(large), "held");
  assert.equal(await settled(small), "held");
  assert.equal(budget.free, 50);
  budget.release(200);
  budget.release(50);
  // More than the semaphore has is all of it: taken once every permit is free.
  await budget.acquire(undefined, 1_000);
  assert.equal(budget.free, 0);
  budget.release(1_000);
  assert.equal(budget.free, 300);
});

Deno.test("a large wait given up lets the smaller waiters after it in at once", async () => {
  const budget = new Semaphore(300);
  await budget.acquire(undefined, 200);
  const stop = new AbortController();
  const large = budget.acquire(stop.signal, 200);
  const small = budget.acquire(undefined, 50);
  assert.equal(await settled(small), "waiting");
  stop.abort(new Error("removed"));
  await assert.rejects(large, /removed/);
  assert.equal(await settled(small), "held");
  assert.equal(budget.free, 50);
});

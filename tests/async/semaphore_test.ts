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

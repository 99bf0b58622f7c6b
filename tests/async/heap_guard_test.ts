import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { startHeapGuard } from "../../src/async/heap_guard.ts";

Deno.test("the guard collects once the heap grew past the budget, then measures from there", async () => {
  let used = 10;
  const collected: number[] = [];
  using guard = startHeapGuard({
    budgetBytes: 5,
    intervalMs: 5,
    measure: () => used,
    collect: () => {
      collected.push(used);
      used = 12; // what survived
    },
  });
  used = 14; // grown by 4: under the budget
  await sleep(30);
  assert.deepEqual(guard.collections, 0);
  used = 15; // grown by 5
  await sleep(30);
  assert.deepEqual(collected, [15]);
  used = 16; // 4 past what survived: under the budget again
  await sleep(30);
  assert.deepEqual(guard.collections, 1);
  used = 17;
  await sleep(30);
  assert.deepEqual(collected, [15, 17]);
});

Deno.test("a disposed guard stops looking", async () => {
  let used = 0;
  let collections = 0;
  {
    using _guard = startHeapGuard({
      budgetBytes: 1,
      intervalMs: 5,
      measure: () => used,
      collect: () => void collections++,
    });
  }
  used = 100;
  await sleep(30);
  assert.deepEqual(collections, 0);
});

Deno.test("without an exposed gc the guard does nothing", async () => {
  // `deno test` does not pass --expose-gc.
  assert.equal((globalThis as { gc?: unknown }).gc, undefined);
  let used = 0;
  using guard = startHeapGuard({ budgetBytes: 1, intervalMs: 5, measure: () => (used += 10) });
  await sleep(30);
  assert.equal(guard.collections, 0);
});

Deno.test("past its ceiling after a collection, the guard tells it once; garbage over it is collected first", async () => {
  let used = 10;
  let live = 10;
  const reached: number[] = [];
  using _guard = startHeapGuard({
    budgetBytes: 100,
    intervalMs: 5,
    measure: () => used,
    collect: () => void (used = live),
    ceiling: { bytes: 50, onReached: (bytes) => void reached.push(bytes) },
  });
  used = 60; // garbage: a collection brings it back under
  await sleep(30);
  assert.deepEqual(reached, []);
  used = live = 70; // live
  await sleep(30);
  used = live = 90;
  await sleep(30);
  assert.deepEqual(reached, [70]);
});

Deno.test("a ceiling whose caller stopped other work is looked at again once that work has ended", async () => {
  let used = 70;
  const reached: number[] = [];
  let ended!: () => void;
  using _guard = startHeapGuard({
    budgetBytes: 1_000,
    intervalMs: 5,
    measure: () => used,
    ceiling: {
      bytes: 50,
      onReached: (bytes) => {
        reached.push(bytes);
        return new Promise<void>((resolve) => ended = resolve);
      },
    },
  });
  await sleep(30);
  assert.deepEqual(reached, [70]);
  used = 80; // the stopped work still settling: not told again
  await sleep(30);
  assert.deepEqual(reached, [70]);
  ended();
  await sleep(30);
  assert.deepEqual(reached, [70, 80]);
});

Deno.test("without an exposed gc, a ceiling is checked against the heap as measured", async () => {
  let used = 0;
  const reached: number[] = [];
  using _guard = startHeapGuard({
    budgetBytes: 1_000,
    intervalMs: 5,
    measure: () => used,
    ceiling: { bytes: 50, onReached: (bytes) => void reached.push(bytes) },
  });
  await sleep(20);
  used = 60;
  await sleep(30);
  assert.deepEqual(reached, [60]);
});

Deno.test("with V8's gc exposed, the guard bounds the garbage a process keeps", async () => {
  // A process that makes 64 MB of short-lived garbage, some of it living long enough to reach the
  // old generation (as an upload's objects do), under the guard with real V8 measurements.
  const script = `
    import { getHeapStatistics } from "node:v8";
    import { startHeapGuard } from ${
    JSON.stringify(new URL("../../src/async/heap_guard.ts", import.meta.url).href)
  };
    const guard = startHeapGuard({ budgetBytes: 2 * 1024 * 1024, intervalMs: 10 });
    let held = [];
    let peak = 0;
    for (let round = 0; round < 64; round++) {
      held = Array.from({ length: 2000 }, (_, i) => ({ i, text: "x".repeat(400) + round }));
      await new Promise((resolve) => setTimeout(resolve, 12));
      peak = Math.max(peak, getHeapStatistics().used_heap_size);
    }
    console.log(JSON.stringify({ collections: guard.collections, peakMb: peak / 1048576, kept: held.length }));
    Deno.exit(0);
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--v8-flags=--expose-gc,--max-semi-space-size=1", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(output.success, new TextDecoder().decode(output.stderr));
  const report = JSON.parse(new TextDecoder().decode(output.stdout));
  assert(report.collections > 0, JSON.stringify(report));
  // About 1 MB is live at any time; without the guard V8 lets this grow past 10 MB.
  assert(report.peakMb < 10, JSON.stringify(report));
});

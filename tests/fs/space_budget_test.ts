import assert from "node:assert/strict";
import { SpaceBudget } from "../../src/fs/space_budget.ts";

const disk = (availableBytes: number) => () =>
  Promise.resolve({ availableBytes, totalBytes: 1000 });

Deno.test("a booking is granted while the reserve stays free, counting what is already booked", async () => {
  const budget = new SpaceBudget(disk(600), 5); // 50 bytes reserved
  assert.deepEqual(await budget.book([300]), {
    granted: 1,
    space: { availableBytes: 600, totalBytes: 1000 },
    booked: 300,
  });
  // alone 300 more would fit (600 - 300 = 300 >= 50), but 300 are booked already: what the
  // refusal's message names
  assert.deepEqual(await budget.book([300]), {
    granted: 0,
    space: { availableBytes: 600, totalBytes: 1000 },
    booked: 300,
    refusedBytes: 300,
  });
  assert.equal((await budget.book([250])).granted, 1); // 600 - 550 = 50: exactly the reserve
  assert.equal((await budget.book([1])).granted, 0);
  budget.release([250]);
  assert.equal((await budget.book([1])).granted, 1);
  assert.equal(budget.lowestFreeBytes, 600);
});

Deno.test("a batch is granted its longest leading run that fits", async () => {
  const budget = new SpaceBudget(disk(600), 5); // room for 550
  assert.equal((await budget.book([200, 200, 200, 10])).granted, 2);
  assert.equal((await budget.book([150, 100])).granted, 1);
  assert.equal((await budget.book([])).granted, 0);
});

Deno.test("eight downloads at once never book more than the disk holds above the reserve", async () => {
  let free = 20 * 1024 * 1024;
  const budget = new SpaceBudget(
    () => Promise.resolve({ availableBytes: free, totalBytes: 20 * 1024 * 1024 }),
    5,
  );
  const size = 3 * 1024 * 1024;
  const granted = await Promise.all(
    Array.from({ length: 8 }, () => budget.book([size]).then((b) => b.granted)),
  );
  const count = granted.reduce((n, g) => n + g, 0);
  assert.ok(count * size <= free - 0.05 * free, `${count} downloads of 3 MiB booked`);
  assert.equal(count, 6);
  free -= count * size; // written and placed: the disk shows them now
  for (let i = 0; i < count; i++) budget.release([size]);
  assert.equal((await budget.book([size])).granted, 0);
});

Deno.test("files are booked by the whole blocks they take, and given back the same", async () => {
  const budget = new SpaceBudget(
    () => Promise.resolve({ availableBytes: 40_960, totalBytes: 1_000_000, blockBytes: 4096 }),
    0,
  );
  // Ten blocks free: ten files of 1 byte, not 40,960.
  assert.equal((await budget.book(Array(12).fill(1))).granted, 10);
  budget.release([1, 1]);
  // 4097 bytes take two blocks; an empty file none.
  assert.equal((await budget.book([4097, 0, 1])).granted, 2);
  // NFS says 1 MiB, ZFS its record size: a small file is booked at most 64 KiB.
  const nfs = new SpaceBudget(
    () => Promise.resolve({ availableBytes: 640 * 1024, totalBytes: 1e9, blockBytes: 1 << 20 }),
    0,
  );
  assert.equal((await nfs.book(Array(12).fill(200))).granted, 10);
});

Deno.test("nonsense reserves are refused", () => {
  assert.throws(() => new SpaceBudget(disk(1), -1), RangeError);
  assert.throws(() => new SpaceBudget(disk(1), 101), RangeError);
});

Deno.test("released() settles at the next release, and booked counts what is held", async () => {
  const budget = new SpaceBudget(disk(600), 5);
  await budget.book([300, 200]);
  assert.equal(budget.booked, 500);
  let settled = false;
  const waiting = budget.released().then(() => settled = true);
  await Promise.resolve();
  assert.equal(settled, false);
  budget.release([200]);
  await waiting;
  assert.equal(budget.booked, 300);
  // A new wait is for the release after that one.
  let again = false;
  budget.released().then(() => again = true);
  await Promise.resolve();
  assert.equal(again, false);
});

Deno.test("a booking granted in part counts for the other budgets of its device", async () => {
  // One disk with 1,000 bytes free, no reserve: two mirrors of one process on it.
  const first = new SpaceBudget(disk(1_000), 0, { device: 7 });
  const second = new SpaceBudget(disk(1_000), 0, { device: 7 });
  const booked = await first.book([600, 600]);
  assert.equal(booked.granted, 1);
  assert.equal(booked.refusedBytes, 600);
  assert.equal(second.bookedOnDevice, 600);
  // What is left is 400 bytes, not the 1,000 the disk shows before the first's bytes land.
  assert.equal((await second.book([600])).granted, 0);
  assert.equal((await second.book([400])).granted, 1);
  first.close();
  second.close();
});

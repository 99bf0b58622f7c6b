/**
 * The sharded listing against the local data platform through the real remote: shards paged in
 * parallel, and the counts that prove a listing whole before anything may be deleted.
 */
import assert from "node:assert/strict";
import type { RemoteItem } from "../../src/remote/remote_item.ts";
import type { ListFilter, RemoteSource } from "../../src/remote/remote_source.ts";
import { listRemote, shardCount } from "../../src/sync/list_remote.ts";
import { describeDataset, type PlatformDataset, startPlatform } from "../support/platform/mod.ts";
import { RecordingLogger, wrappedRemote } from "./_harness.ts";
import { neverAnswering, remoteOf } from "../remote/_remote_of.ts";

const _NO_FILTER: ListFilter = { tags: [], labels: [] };

/** `dataset` with `time_requested` of item i set to `timeMs(i)`. */
function timed(dataset: PlatformDataset, timeMs: (i: number) => number): PlatformDataset {
  return {
    ...dataset,
    items: dataset.items.map((item, i) => ({ ...item, timeRequestedMs: timeMs(i) })),
  };
}

/** Lists through `remote` and collects what arrived. */
async function list(remote: RemoteSource, filter = _NO_FILTER) {
  const seen = new Set<string>();
  let deliveries = 0;
  const logger = new RecordingLogger();
  const result = await listRemote(remote, filter, {
    logger,
    minRetryDelayMs: 1,
    distinctItems: () => seen.size,
    onItems: (items: RemoteItem[]) => {
      deliveries += items.length;
      for (const item of items) seen.add(item.binaryDataId);
    },
  });
  return { result, seen, deliveries, logger };
}

/** A remote whose interval filter is shifted, as a platform with other interval semantics. */
function shiftedIntervals(remote: RemoteSource, shift: { startMs?: number; endMs?: number }) {
  const moved = (filter: ListFilter): ListFilter =>
    filter.interval === undefined ? filter : {
      ...filter,
      interval: {
        startMs: (filter.interval.startMs ?? 0) + (shift.startMs ?? 0),
        endMs: (filter.interval.endMs ?? 0) + (shift.endMs ?? 0),
      },
    };
  const shifted: RemoteSource = {
    listPage: (filter, last, options) => remote.listPage(moved(filter), last, options),
    count: (filter, options) => remote.count(moved(filter), options),
    fetchInline: (ids, options) => remote.fetchInline(ids, options),
    download: (item, options) => remote.download(item, options),
    classify: (error) => remote.classify(error),
  };
  return shifted;
}

Deno.test("a long listing is paged as shards in parallel and proved whole", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 2500 }]) });
  const { result, seen } = await list(remoteOf(platform));
  assert.equal(result.complete, true);
  assert.equal(result.unproven, undefined);
  assert.ok(result.shards > 1, `${result.shards} shards`);
  assert.deepEqual([...seen].sort(), platform.items().map((i) => i.binaryDataId).sort());
});

Deno.test("a shard's first page is asked for with its count, not after a round of counts", async () => {
  const dataset = describeDataset([{ count: 2_000 }]);
  await using platform = await startPlatform({ dataset, faults: { latencyMs: 30 } });
  const remote = remoteOf(platform);
  const events: string[] = [];
  const recorded: RemoteSource = {
    ...shiftedIntervals(remote, {}),
    count: async (filter, options) => {
      const shard = filter.interval === undefined ? "whole" : "shard";
      events.push(`${shard} count sent`);
      const count = await remote.count(filter, options);
      events.push(`${shard} count back`);
      return count;
    },
    listPage: (filter, last, options) => {
      if (filter.interval !== undefined && last === "") events.push("shard first page sent");
      return remote.listPage(filter, last, options);
    },
  };
  const { result, seen } = await list(recorded);
  assert.ok(result.shards > 1, `${result.shards} shards`);
  assert.equal(result.unproven, undefined);
  assert.equal(seen.size, 2_000);
  const firstPage = events.indexOf("shard first page sent");
  const firstCountBack = events.indexOf("shard count back");
  assert.ok(
    firstPage >= 0 && firstPage < firstCountBack,
    `the first shard page waited for a count: ${events.slice(0, 8).join(", ")}`,
  );
});

Deno.test("a shard whose page comes back short asks for no empty page once its tail count holds", async () => {
  // 2,550 items: shards of about 170, whose last pages are short. A shard that ended on a short
  // page asked for the empty page after it, a round trip and a call each, which the count after
  // its last item (taken anyway) makes needless.
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 2_550 }]) });
  const remote = remoteOf(platform);
  const lastLength = new Map<string, number>();
  const emptyAfter: number[] = [];
  const recorded: RemoteSource = {
    ...shiftedIntervals(remote, {}),
    listPage: async (filter, last, options) => {
      const page = await remote.listPage(filter, last, options);
      if (filter.interval !== undefined && options?.pageSize !== 1) {
        if (page.items.length === 0) emptyAfter.push(lastLength.get(last) ?? -1);
        lastLength.set(page.last, page.items.length);
      }
      return page;
    },
  };
  const { result, seen } = await list(recorded);
  assert.ok(result.shards > 1, `${result.shards} shards`);
  assert.equal(result.unproven, undefined);
  assert.equal(seen.size, 2_550);
  const shortEnds = [...lastLength.values()].filter((length) => length > 0 && length < 100);
  assert.ok(shortEnds.length > 0, "no shard ended on a short page");
  assert.deepEqual(
    emptyAfter.filter((length) => length !== 100),
    [],
    `empty pages asked for after pages of ${emptyAfter.join(", ")} items`,
  );
});

Deno.test("pages shorter than asked all along (a platform's own cap) are paged to the end and proved whole", async () => {
  // The first short page is not the last: its tail count finds the items after it, and the cursor
  // pages on to its empty page, counting its tail once more there: one count more per shard, at
  // most.
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 2_000 }]),
    faults: { maxPageItems: 30 },
  });
  const remote = remoteOf(platform);
  let counts = 0;
  const counted: RemoteSource = {
    ...shiftedIntervals(remote, {}),
    count: (filter, options) => {
      counts++;
      return remote.count(filter, options);
    },
  };
  const { result, seen } = await list(counted);
  assert.ok(result.shards > 1, `${result.shards} shards`);
  assert.equal(result.unproven, undefined);
  assert.equal(seen.size, 2_000);
  // The whole filter's count and the span's after the shards; each shard's own, and its tail's two
  // (from its last millisecond, and after it) after its first short page and again at its end.
  assert.ok(counts <= 2 + 5 * result.shards, `${counts} counts for ${result.shards} shards`);
});

Deno.test("items on shard boundaries, many at one instant, and empty shards are all listed once", async () => {
  // 300 items at one instant, 300 a day later, 300 spread over the second after: shard edges fall
  // on items, most shards of the day between are empty, one instant is denser than any slice.
  const base = describeDataset([{ count: 900 }]);
  const t0 = Date.UTC(2025, 5, 1);
  const dataset = timed(
    base,
    (i) => i < 300 ? t0 : i < 600 ? t0 + 86_400_000 : t0 + 86_400_000 + (i - 600) * 3,
  );
  await using platform = await startPlatform({ dataset });
  const { result, seen } = await list(remoteOf(platform));
  assert.equal(result.complete, true);
  assert.equal(result.unproven, undefined);
  assert.equal(seen.size, 900);
});

Deno.test("a slice denser than its share (a burst of captures) is cut again", async () => {
  // 2,000 items one second apart, and a burst in the first slice: about 1.6 times that slice's
  // share, under the old rule's 2 (left whole then), over the 1.25 that cuts it now.
  const spread = 2_000;
  const wanted = shardCount(spread, 16);
  const burst = Math.round((0.6 * spread) / wanted);
  const t0 = Date.UTC(2025, 2, 1);
  const dataset = timed(
    describeDataset([{ count: spread + burst }]),
    (i) => i < spread ? t0 + i * 1000 : t0 + 500 + (i - spread),
  );
  await using platform = await startPlatform({ dataset });
  const { result, seen } = await list(remoteOf(platform));
  assert.equal(result.complete, true);
  assert.equal(result.unproven, undefined);
  assert.ok(result.shards > shardCount(spread + burst, 16), `${result.shards} shards`);
  assert.equal(seen.size, spread + burst);
});

Deno.test("one item at the epoch (a robot's clock at 1970) does not leave the real span to one cursor", async () => {
  // 10,000 items a second apart and one 55 years earlier: every other item lies in the span's
  // last slice, whose parts are cut again while dense.
  const t0 = Date.UTC(2025, 0, 1);
  const dataset = timed(
    describeDataset([{ count: 10_000, sizeBytes: 10 }]),
    (i) => i === 0 ? 0 : t0 + i * 1000,
  );
  await using platform = await startPlatform({ dataset });
  const pages = new Map<string, number>();
  const remote = wrappedRemote(remoteOf(platform), (real) => ({
    listPage: (filter, last, options) => {
      if ((options?.pageSize ?? 0) > 1) {
        const key = `${filter.interval?.startMs}:${filter.interval?.endMs}`;
        pages.set(key, (pages.get(key) ?? 0) + 1);
      }
      return real.listPage(filter, last, options);
    },
  }));
  const { result, seen } = await list(remote);
  assert.equal(result.complete, true);
  assert.equal(result.unproven, undefined);
  assert.equal(seen.size, 10_000);
  // Without that item: the longest cursor pages 8 pages; one cursor for all would page 101.
  const longest = Math.max(...pages.values());
  assert.ok(longest <= 24, `the longest cursor paged ${longest} pages`);
});

Deno.test("a count that ignores the interval (a proxy) cuts each dense slice once, not down to 1 ms", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 600 }]) });
  let counts = 0;
  const stop = new AbortController();
  const remote = wrappedRemote(remoteOf(platform), (real) => ({
    count: (filter, options) => {
      if (++counts > 5000) stop.abort(new Error("over 5,000 count calls"));
      return real.count({ ...filter, interval: undefined }, options);
    },
  }));
  const seen = new Set<string>();
  const result = await listRemote(remote, _NO_FILTER, {
    logger: new RecordingLogger(),
    minRetryDelayMs: 1,
    signal: stop.signal,
    distinctItems: () => seen.size,
    onItems: (items: RemoteItem[]) => items.forEach((item) => seen.add(item.binaryDataId)),
  });
  assert.equal(seen.size, 600);
  assert.equal(result.complete, true);
  assert.ok(counts <= 300, `${counts} count calls for 600 items`);
});

Deno.test("a count that ignores the interval, with an item deleted after the first count, is not cut down to 1 ms", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 601 }]) });
  let counts = 0;
  const stop = new AbortController();
  const remote = wrappedRemote(
    remoteOf(platform),
    (real) => ({
      count: async (filter, options) => {
        if (++counts > 5000) stop.abort(new Error("over 5,000 count calls"));
        const n = await real.count({ ...filter, interval: undefined }, options);
        // One item deleted on the platform (retention, a user) just after the first count.
        if (counts === 1) platform.replaceDataset(describeDataset([{ count: 600 }]));
        return n;
      },
    }),
  );
  const seen = new Set<string>();
  await listRemote(remote, _NO_FILTER, {
    logger: new RecordingLogger(),
    minRetryDelayMs: 1,
    signal: stop.signal,
    distinctItems: () => seen.size,
    onItems: (items: RemoteItem[]) => items.forEach((item) => seen.add(item.binaryDataId)),
  }).catch(() => {}); // unproven or stopped: the number of calls is what is tested
  // Some 260 parts of five counts at most each (their own, their tail's two after a short page and
  // two more at their end), where cutting down to 1 ms slices went past 5,000.
  assert.ok(counts <= 1500, `${counts} count calls for 600 items`);
});

Deno.test("a platform whose interval end is inclusive lists boundary items twice: still whole", async () => {
  const dataset = timed(describeDataset([{ count: 1200 }]), (i) => Date.UTC(2025, 0, 1) + i * 10);
  await using platform = await startPlatform({ dataset });
  const remote = shiftedIntervals(remoteOf(platform), { endMs: 1 });
  const { result, seen, deliveries } = await list(remote);
  assert.equal(result.complete, true);
  assert.equal(result.unproven, undefined);
  assert.equal(seen.size, 1200);
  assert.ok(deliveries >= 1200);
});

Deno.test("a platform whose interval start is exclusive misses boundary items: the counts catch it and one cursor lists all", async () => {
  // One item every millisecond: every shard's first millisecond holds an item.
  const dataset = timed(describeDataset([{ count: 1200 }]), (i) => Date.UTC(2025, 0, 1) + i);
  await using platform = await startPlatform({ dataset });
  const remote = shiftedIntervals(remoteOf(platform), { startMs: 1 });
  const { result, seen, logger } = await list(remote);
  assert.equal(result.complete, true);
  assert.equal(result.unproven, undefined);
  assert.equal(result.shards, 1, "fell back to one cursor");
  assert.equal(seen.size, 1200);
  // Which check failed is said, where the totals alone can agree.
  assert.match(
    logger.text(),
    /did not add up \(\d+ items, the platform counts 1200; of its (\d+) shards \d+ gave fewer items than counted in them, \d+ ended before their last\)/,
  );
});

Deno.test("a new capture (later than the newest item) added while the listing runs does not make it unproven", async () => {
  const dataset = describeDataset([{ count: 1000 }]);
  await using platform = await startPlatform({ dataset });
  const remote = remoteOf(platform);
  let added = false;
  const adding: RemoteSource = {
    ...remote,
    listPage: async (filter, last, options) => {
      const page = await remote.listPage(filter, last, options);
      if (!added && last !== "") {
        added = true;
        platform.replaceDataset(describeDataset([{ count: 1001 }]));
      }
      return page;
    },
    count: (filter, options) => remote.count(filter, options),
    fetchInline: (ids, options) => remote.fetchInline(ids, options),
    download: (item, options) => remote.download(item, options),
    classify: (error) => remote.classify(error),
  };
  const { result, seen } = await list(adding);
  assert.ok(added);
  assert.equal(result.complete, true);
  assert.equal(result.unproven, undefined);
  assert.ok(seen.size >= 1000);
});

Deno.test("sub-millisecond capture times (as real captures have) are sharded and proved whole at once", async () => {
  // The listed time is rounded up to its millisecond: the oldest item lies just before it.
  const dataset = timed(describeDataset([{ count: 1000 }]), (i) => Date.UTC(2025, 0, 1) + i + 0.25);
  await using platform = await startPlatform({ dataset });
  const { result, seen, logger } = await list(remoteOf(platform));
  assert.equal(result.complete, true);
  assert.equal(result.unproven, undefined);
  assert.ok(result.shards > 1, `${result.shards} shards`);
  assert.equal(seen.size, 1000);
  assert.doesNotMatch(logger.text(), /did not add up/);
});

Deno.test("a listing cut short while older items are added (a backlog upload) is unproven, though it holds as many items as counted", async () => {
  // 150 items: one cursor. The 60 added before the first page is served sort first; the cut
  // listing's two pages then hold 200 items, more than the 150 counted before it, while 10 of the
  // first 150 were never listed.
  const first = describeDataset([{ name: "first", count: 150 }]);
  const backlog = describeDataset([{ name: "backlog", count: 60 }], {
    startTimeMs: first.items[0].timeRequestedMs - 100_000,
  });
  await using platform = await startPlatform({
    dataset: first,
    faults: { endListingAfterPage: 2 },
  });
  const remote = remoteOf(platform);
  let added = false;
  const uploading: RemoteSource = {
    ...shiftedIntervals(remote, {}),
    listPage: (filter, last, options) => {
      if (!added && last === "" && options?.pageSize !== 1) {
        added = true;
        platform.replaceDataset({ ...first, items: [...first.items, ...backlog.items] });
      }
      return remote.listPage(filter, last, options);
    },
  };
  const { result, seen } = await list(uploading);
  assert.ok(added);
  assert.equal(seen.size, 200);
  assert.equal(result.complete, true);
  assert.match(result.unproven ?? "", /returned 200 items but the platform counts 210 after it/);
});

Deno.test("an older item added inside the sharded span before the listing's last count leaves it unproven", async () => {
  const dataset = describeDataset([{ count: 1000 }]);
  const [firstMs, lastMs] = [dataset.items[0].timeRequestedMs, dataset.items[999].timeRequestedMs];
  const late = describeDataset([{ name: "late", count: 1 }], { startTimeMs: firstMs + 500 });
  await using platform = await startPlatform({ dataset });
  const remote = remoteOf(platform);
  const spans: string[] = [];
  const adding: RemoteSource = {
    ...shiftedIntervals(remote, {}),
    count: (filter, options) => {
      const { startMs, endMs } = filter.interval ?? {};
      // The count of the whole span listed comes after the shards' last pages.
      if (startMs === firstMs - 1 && endMs === lastMs + 1) {
        spans.push(`${startMs}..${endMs}`);
        platform.replaceDataset({ ...dataset, items: [...dataset.items, ...late.items] });
      }
      return remote.count(filter, options);
    },
  };
  const { result, seen } = await list(adding);
  assert.ok(result.shards > 1, `${result.shards} shards`);
  assert.equal(spans.length, 1, "the span was counted once, after the shards");
  assert.equal(seen.size, 1000);
  assert.match(result.unproven ?? "", /returned 1000 items but the platform counts 1001 after it/);
});

Deno.test("a listing that fails in one shard stops and is reported incomplete", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 2500 }]),
    faults: { failListingAfterPage: 1 },
  });
  const remote = remoteOf(platform);
  const logger = new RecordingLogger();
  const result = await listRemote(remote, _NO_FILTER, {
    logger,
    minRetryDelayMs: 1,
    attemptsPerPage: 2,
    distinctItems: () => 0,
    onItems: () => {},
  });
  assert.equal(result.complete, false);
  assert.match(result.error ?? "", /listing page 2/);
});

Deno.test("a listing that grows past maxItems stops there when no count bounds it", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 450 }]) });
  const remote = remoteOf(platform);
  // The count fails (as a platform without count_only would): only the pages show the size.
  const uncounted: RemoteSource = {
    ...shiftedIntervals(remote, {}),
    count: () => Promise.reject(new Error("count_only is not supported")),
  };
  const seen = new Set<string>();
  const result = await listRemote(uncounted, _NO_FILTER, {
    logger: new RecordingLogger(),
    minRetryDelayMs: 1,
    attemptsPerPage: 1,
    maxItems: 250,
    distinctItems: () => seen.size,
    onItems: (items) => items.forEach((item) => seen.add(item.binaryDataId)),
  });
  assert.equal(result.complete, false);
  assert.match(result.error ?? "", /matches 300 items or more; one pass holds at most 250/);
  assert.equal(seen.size, 300, "the listing stopped at the page that went past the bound");
});

Deno.test("a listing shorter than the platform's count is complete but unproven", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 150 }]),
    faults: { endListingAfterPage: 1 },
  });
  const { result, seen } = await list(remoteOf(platform));
  assert.equal(result.complete, true);
  assert.equal(seen.size, 100);
  assert.match(result.unproven ?? "", /returned 100 items but the platform counts 150/);
});

Deno.test("a listing leaves no listener on the caller's signal (a loop's signal outlives every pass)", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 300 }]) });
  const remote = remoteOf(platform);
  const controller = new AbortController();
  const added: unknown[] = [];
  const signal = controller.signal;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((type: string, listener: EventListener, options?: unknown) => {
    added.push(listener);
    add(type, listener, options as AddEventListenerOptions);
  }) as typeof signal.addEventListener;
  signal.removeEventListener = ((type: string, listener: EventListener) => {
    const at = added.indexOf(listener);
    if (at >= 0) added.splice(at, 1);
    remove(type, listener);
  }) as typeof signal.removeEventListener;
  for (let pass = 0; pass < 3; pass++) {
    const result = await listRemote(remote, _NO_FILTER, {
      logger: new RecordingLogger(),
      signal,
      distinctItems: () => 300,
      onItems: () => {},
    });
    assert.equal(result.complete, true);
  }
  assert.equal(added.length, 0, "listeners left on the signal");
});

Deno.test("shardCount: the fewest round trips in sequence for the pages in flight", () => {
  // 16 lanes: 10,020 items in 15 shards is one round of counts and one wave of 7 pages + 1 empty.
  assert.equal(shardCount(10_020, 16), 15);
  // A small listing is not cut finer than its pages: 250 items in 3 shards, one page each.
  assert.equal(shardCount(250, 16), 3);
  // Fewer lanes, fewer shards: one wave of counts and pages each.
  assert.equal(shardCount(10_020, 8), 8);
  assert.equal(shardCount(100_000, 1), 2, "at least 2");
  for (const total of [0, 1, 500, 1e6, 1e8]) {
    const shards = shardCount(total, 16);
    assert.ok(shards >= 2 && shards <= 64, `${total}: ${shards}`);
  }
});

Deno.test("a platform whose cursors go round, or whose pages bring nothing new, ends the listing incomplete", async () => {
  // Only a cursor given twice in a row was caught: cursors A, B, A, B... (or a fresh cursor on
  // every page of items already listed) kept a pass listing for good.
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 250 }]) });
  const remote = remoteOf(platform);
  const cycling: RemoteSource = {
    ...shiftedIntervals(remote, {}),
    // Page 3 is page 1 again, with page 1's cursor: A, B, A, B...
    listPage: async (filter, last, options) => {
      const first = await remote.listPage(filter, "", options);
      if (last === "") return first;
      const second = await remote.listPage(filter, first.last, options);
      return last === first.last ? second : first;
    },
  };
  let fresh = 0;
  const renewing: RemoteSource = {
    ...shiftedIntervals(remote, {}),
    // Always page 1, with a cursor never seen before.
    listPage: async (filter, _last, options) => ({
      ...(await remote.listPage(filter, "", options)),
      last: `fresh-${fresh++}`,
    }),
  };
  // The cursor it was given, handed back with the next items: A, then A again.
  const repeating: RemoteSource = {
    ...shiftedIntervals(remote, {}),
    listPage: async (filter, last, options) => {
      const page = await remote.listPage(filter, last, options);
      return last === "" ? page : { ...page, last };
    },
  };
  // Items, and no cursor to ask for the next page with.
  const cursorless: RemoteSource = {
    ...shiftedIntervals(remote, {}),
    listPage: async (filter, last, options) => ({
      ...(await remote.listPage(filter, last, options)),
      last: "",
    }),
  };
  for (
    const [remoteSource, reason] of [
      [cycling, /returned a cursor it had given before/],
      [repeating, /returned a cursor it had given before/],
      [cursorless, /returned no cursor/],
      [renewing, /pages in a row brought no item not listed before/],
    ] as const
  ) {
    const calls = { pages: 0 };
    const counted: RemoteSource = {
      ...remoteSource,
      listPage: (filter, last, options) => {
        calls.pages++;
        return remoteSource.listPage(filter, last, options);
      },
    };
    const result = await listRemote(counted, _NO_FILTER, {
      logger: new RecordingLogger(),
      minRetryDelayMs: 1,
      parallelPages: 1,
      distinctItems: () => 0,
      onItems: () => {},
    });
    assert.equal(result.complete, false);
    assert.match(result.error ?? "", reason);
    assert.ok(calls.pages <= 6, `${calls.pages} pages asked for`);
  }
});

Deno.test("every listing page's bytes are booked on the bandwidth limit as it arrives", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 450, tags: ["a", "b"] }]),
  });
  const remote = remoteOf(platform);
  const taken: number[] = [];
  const pageBytes: number[] = [];
  const measured = wrappedRemote(remote, (real) => ({
    listPage: async (filter, last, options) => {
      const page = await real.listPage(filter, last, options);
      if (options?.pageSize !== 1) pageBytes.push(page.bytes ?? -1);
      return page;
    },
  }));
  const seen = new Set<string>();
  const result = await listRemote(measured, _NO_FILTER, {
    logger: new RecordingLogger(),
    distinctItems: () => seen.size,
    onItems: (items) => items.forEach((item) => seen.add(item.binaryDataId)),
    bandwidth: {
      take: (bytes) => {
        taken.push(bytes);
        return Promise.resolve();
      },
    },
  });
  assert.equal(result.complete, true);
  assert.equal(seen.size, 450);
  // Every page (the empty ones ending each cursor too) was booked, at its answer's size.
  assert.deepEqual(taken.toSorted((a, b) => a - b), pageBytes.toSorted((a, b) => a - b));
  const total = taken.reduce((sum, bytes) => sum + bytes, 0);
  assert.ok(total > 450 * 100, `${total} bytes booked for 450 items' metadata`);
});

Deno.test("a listing stopped by the caller's own error (the walk failing) does not blame the platform's count", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 300 }]),
    faults: { latencyMs: 300 },
  });
  const logger = new RecordingLogger();
  const controller = new AbortController();
  // The walk beside the listing fails while the first count is in flight.
  const walkFailed = new Deno.errors.PermissionDenied("readdir '/mirror/lost+found'");
  setTimeout(() => controller.abort(walkFailed), 100);
  const listed = listRemote(remoteOf(platform), _NO_FILTER, {
    logger,
    minRetryDelayMs: 1,
    distinctItems: () => 0,
    onItems: () => {},
    signal: controller.signal,
  });
  await listed.catch(() => undefined);
  assert.doesNotMatch(logger.text(), /count failed/);
});

Deno.test("a platform that takes the calls and never answers: each call is given up after two timeouts, not eight tries", async () => {
  await using server = neverAnswering();
  const remote = remoteOf(server, { callTimeoutMs: 150 });
  const { result } = await list(remote);
  assert.equal(result.complete, false);
  assert.match(result.error ?? "", /timed out after 150 ms/);
  // The listing's first call signs in: two tries of it, each waiting out its timeout.
  assert.equal(server.signIns(), 2);
});

Deno.test("a platform refusing every call (UNAVAILABLE) is still tried eight times a call", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 10 }]),
    faults: { unavailableRate: 1, unavailableCalls: ["BinaryDataByFilter"] },
  });
  const { result, logger } = await list(remoteOf(platform));
  assert.equal(result.complete, false);
  // The call that ended the listing was retried seven times (the calls beside it were stopped).
  const retries = logger.entries.map((entry) => Number(entry.fields?.attempt ?? 0));
  assert.equal(Math.max(...retries), 7);
});

import assert from "node:assert/strict";
import { CursorError, DatasetIndex, type ItemQuery, matches } from "./dataset_index.ts";
import { describeDataset } from "./describe_dataset.ts";
import type { ItemRecord } from "./item_record.ts";

const ALL: ItemQuery = {
  tagsMode: "any",
  tags: [],
  bboxLabels: [],
  datasetId: "",
  mimeTypes: [],
  organizationIds: [],
  locationIds: [],
};

function _ids(items: readonly ItemRecord[]): string[] {
  return items.map((i) => i.fileId);
}

/** Every page of a listing, following the cursor to the empty page. */
function _listAll(index: DatasetIndex, query: ItemQuery, limit: number, descending = false) {
  const pages: ItemRecord[][] = [];
  let cursor = "";
  for (;;) {
    const page = index.page(query, { limit, cursor, descending });
    pages.push(page.items);
    if (page.items.length === 0) return pages;
    assert.equal(page.pageNumber, pages.length);
    cursor = page.cursor;
  }
}

Deno.test("pages follow the stable order to an empty page; cursors are not ids", () => {
  const index = new DatasetIndex(describeDataset([{ count: 7 }]));
  const pages = _listAll(index, ALL, 3);
  assert.deepEqual(pages.map((p) => p.length), [3, 3, 1, 0]);
  assert.deepEqual(_ids(pages.flat()), _ids(index.items));
  const first = index.page(ALL, { limit: 3, cursor: "", descending: false });
  assert.ok(index.items.every((i) => i.binaryDataId !== first.cursor && i.fileId !== first.cursor));
  // An empty page echoes the cursor: asking again stays at the end rather than restarting.
  const rest = index.page(ALL, { limit: 100, cursor: first.cursor, descending: false });
  assert.equal(rest.items.length, 4);
  const empty = index.page(ALL, { limit: 3, cursor: rest.cursor, descending: false });
  assert.deepEqual([empty.items.length, empty.cursor], [0, rest.cursor]);
});

Deno.test("descending order lists newest first", () => {
  const index = new DatasetIndex(describeDataset([{ count: 5 }]));
  assert.deepEqual(_ids(_listAll(index, ALL, 2, true).flat()), _ids(index.items).reverse());
});

Deno.test("items sort by time_requested then id, whatever the description order", () => {
  const [a, b, c] = describeDataset([{ count: 3 }]).items;
  const index = new DatasetIndex({
    items: [c, { ...b, timeRequestedMs: a.timeRequestedMs }, a],
    datasets: [],
  });
  assert.deepEqual(_ids(index.items), [a.fileId, b.fileId, c.fileId]);
});

Deno.test("a cursor keeps its place when the data set changes between pages", () => {
  const before = describeDataset([{ count: 6 }]);
  const page = new DatasetIndex(before).page(ALL, { limit: 3, cursor: "", descending: false });
  // The page's last item is gone and a new one came after: the listing goes on after the place.
  const after = new DatasetIndex({
    items: [
      ...before.items.filter((i) => i.fileId !== "g0-000002"),
      ...describeDataset([{ name: "new", count: 1 }], { startTimeMs: Date.UTC(2026, 0, 1) }).items,
    ],
    datasets: [],
  });
  const next = after.page(ALL, { limit: 10, cursor: page.cursor, descending: false });
  assert.deepEqual(_ids(next.items), ["g0-000003", "g0-000004", "g0-000005", "new-000000"]);
  assert.equal(next.pageNumber, 2);
});

Deno.test("matches: kinds are ANDed, values inside a kind are ORed", () => {
  const items = describeDataset([{
    count: 8,
    tags: (i) => [["a"], ["b"], ["a", "b"], []][i % 4],
    bboxLabels: (i) => (i < 4 ? ["car"] : ["dog"]),
    classificationLabels: ["cat"],
    datasetIds: (i) => (i % 2 ? ["ds"] : []),
    mimeType: (i) => (i < 6 ? "image/jpeg" : "image/png"),
  }]).items;
  const select = (query: Partial<ItemQuery>) =>
    items.flatMap((item, i) => (matches(item, { ...ALL, ...query }) ? [i] : []));
  assert.deepEqual(select({}), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(select({ tags: ["a"] }), [0, 2, 4, 6]);
  assert.deepEqual(select({ tags: ["a", "b"] }), [0, 1, 2, 4, 5, 6]);
  assert.deepEqual(select({ tagsMode: "tagged" }), [0, 1, 2, 4, 5, 6]);
  assert.deepEqual(select({ tagsMode: "untagged" }), [3, 7]);
  assert.deepEqual(select({ bboxLabels: ["dog"] }), [4, 5, 6, 7]);
  assert.deepEqual(
    select({ bboxLabels: ["cat"] }),
    [],
    "classification labels are not bbox labels",
  );
  assert.deepEqual(select({ datasetId: "ds" }), [1, 3, 5, 7]);
  assert.deepEqual(select({ mimeTypes: ["image/png", "text/plain"] }), [6, 7]);
  assert.deepEqual(
    select({ tags: ["b"], bboxLabels: ["car", "dog"], datasetId: "ds", mimeTypes: ["image/jpeg"] }),
    [1, 5],
  );
  assert.deepEqual(select({ organizationIds: ["other"] }), []);
  assert.deepEqual(select({ locationIds: [items[0].locationId] }).length, 8);
  const t0 = items[0].timeRequestedMs;
  assert.deepEqual(select({ startMs: t0 + 2000, endMs: t0 + 4000 }), [2, 3]);
});

Deno.test("count counts every match; filtered pages skip non-matching items", () => {
  const index = new DatasetIndex(
    describeDataset([{ count: 10, tags: (i) => (i % 3 ? [] : ["x"]) }]),
  );
  const query = { ...ALL, tags: ["x"] };
  assert.equal(index.count(query), 4);
  assert.deepEqual(_listAll(index, query, 3).map(_ids), [
    ["g0-000000", "g0-000003", "g0-000006"],
    ["g0-000009"],
    [],
  ]);
});

Deno.test("malformed cursors are refused; duplicate ids are refused", () => {
  const index = new DatasetIndex(describeDataset([{ count: 2 }]));
  for (
    const cursor of ["not a cursor", index.items[0].binaryDataId, btoa('[0,1,"x"]'), btoa("{}")]
  ) {
    assert.throws(
      () => index.page(ALL, { limit: 1, cursor, descending: false }),
      CursorError,
      cursor,
    );
  }
  const [item] = index.items;
  assert.throws(() => new DatasetIndex({ items: [item, { ...item }], datasets: [] }), /twice/);
  assert.equal(index.get(item.binaryDataId), item);
  assert.equal(index.get("nope"), undefined);
});

import assert from "node:assert/strict";
import fc from "fast-check";
import { ListingIndex } from "../../src/sync/listing_index.ts";
import type { RemoteItem } from "../../src/remote/remote_item.ts";

/** An item with file id `id` named `fileName`. */
function named(id: string, fileName: string): RemoteItem {
  return {
    binaryDataId: `org/loc/${id}`,
    fileId: id,
    fileName,
    fileExt: "",
    mimeType: "",
    uri: "",
  };
}

function indexOf(items: RemoteItem[]): ListingIndex {
  const index = new ListingIndex();
  index.addPage(items);
  return index;
}

/** Adds `item` alone; its path when it is the first item seen at that path, else undefined. */
function firstSighting(index: ListingIndex, item: RemoteItem): string | undefined {
  return index.addPage([item]).firstSightings[0];
}

/** path -> file id of the winner, in the order entries() gives. */
function winners(index: ListingIndex): [string, string][] {
  return [...index.entries()].map((
    [path, item],
  ) => [path, item.binaryDataId.slice("org/loc/".length)]);
}

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest])
  );
}

Deno.test("items map to their paths, sorted by path", () => {
  const index = indexOf([named("3", "b.jpg"), named("1", "/a/x.jpg"), named("2", "")]);
  assert.deepEqual(winners(index), [["2", "2"], ["a/x.jpg", "1"], ["b.jpg", "3"]]);
  assert.deepEqual(
    { listed: index.listed, rejected: index.rejected, duplicates: index.duplicates },
    { listed: 3, rejected: 0, duplicates: 0 },
  );
});

Deno.test("unsafe names are counted and their reasons kept", () => {
  const index = indexOf([named("1", "../etc/passwd"), named("2", "ok.jpg")]);
  assert.deepEqual(winners(index), [["ok.jpg", "2"]]);
  assert.equal(index.listed, 2);
  assert.equal(index.rejected, 1);
  assert.deepEqual(index.rejections, [{
    binaryDataId: "org/loc/1",
    reason: 'file_name "../etc/passwd" has a ".." component',
  }]);
});

Deno.test("items without a binary_data_id are refused, each one, and not counted as listed", () => {
  const idless = (fileName: string) => ({ ...named("x", fileName), binaryDataId: "" });
  const index = indexOf([named("1", "ok.jpg"), idless("a.jpg"), idless("b.jpg"), idless("")]);
  assert.deepEqual(winners(index), [["ok.jpg", "1"]]);
  assert.deepEqual([index.listed, index.rejected], [1, 3]);
  assert.deepEqual(index.rejections.map((r) => r.reason), [
    'file_name "a.jpg" was listed without a binary_data_id',
    'file_name "b.jpg" was listed without a binary_data_id',
    "an item was listed without a binary_data_id",
  ]);
});

Deno.test("stored rejections are capped, the count stays exact", () => {
  const index = indexOf(Array.from({ length: 1005 }, (_, i) => named(`${i}`, `../${i}`)));
  assert.equal(index.rejected, 1005);
  assert.equal(index.rejections.length, 1000);
  assert.equal(index.rejections[999].binaryDataId, "org/loc/999");
});

Deno.test("two items on one path: the smallest binaryDataId wins in any order", () => {
  const items = [named("b", "same.jpg"), named("a", "same.jpg"), named("c", "/same.jpg")];
  for (const order of permutations(items)) {
    const index = indexOf(order);
    assert.deepEqual(winners(index), [["same.jpg", "a"]]);
    assert.equal(index.duplicates, 2);
    assert.equal(index.listed, 3);
  }
});

Deno.test("two items on one path: the one stored last wins in any order; of two stored at once, the smallest id", () => {
  const at = (id: string, ms: number | undefined) => ({
    ...named(id, "m.bin"),
    timeReceivedMs: ms,
  });
  // "a" stored first, "d" without the time (counts as first), "b" and "c" at once: "b" has the
  // smaller id.
  const items = [at("a", 1000), at("c", 3000), at("b", 3000), at("d", undefined)];
  for (const order of permutations(items)) {
    const index = indexOf(order);
    assert.deepEqual(winners(index), [["m.bin", "b"]]);
    assert.equal(index.duplicates, 3);
  }
  // A version pushed later wins over the earlier one, whatever their ids.
  assert.deepEqual(winners(indexOf([at("z", 2000), at("a", 1000)])), [["m.bin", "z"]]);
});

Deno.test("the same binaryDataId listed twice counts once, not as a duplicate", () => {
  const index = indexOf([named("a", "x.jpg"), named("a", "x.jpg"), named("a", "renamed.jpg")]);
  assert.deepEqual(winners(index), [["x.jpg", "a"]]);
  assert.deepEqual([index.listed, index.duplicates, index.rejected], [1, 0, 0]);
  const rejectedTwice = indexOf([named("r", "../x"), named("r", "../x")]);
  assert.deepEqual([rejectedTwice.listed, rejectedTwice.rejected], [1, 1]);
});

Deno.test("a file where another item needs a directory loses, in any order", async (t) => {
  const cases: { name: string; items: RemoteItem[]; kept: [string, string][] }[] = [
    {
      name: "file and file beneath",
      items: [named("1", "a"), named("2", "a/b.jpg")],
      kept: [["a/b.jpg", "2"]],
    },
    {
      name: "a chain keeps only the deepest",
      items: [named("1", "a"), named("2", "a/b"), named("3", "a/b/c")],
      kept: [["a/b/c", "3"]],
    },
    {
      name: "sort-order trap: a-b sorts between a and a/b",
      items: [named("1", "a"), named("2", "a-b"), named("3", "a/b")],
      kept: [["a-b", "2"], ["a/b", "3"]],
    },
    {
      name: "name-only prefix is no conflict",
      items: [named("1", "ab"), named("2", "a/b")],
      kept: [["a/b", "2"], ["ab", "1"]],
    },
    {
      name: "id-named file against a named directory",
      items: [named("x", ""), named("1", "x/y.jpg")],
      kept: [["x/y.jpg", "1"]],
    },
  ];
  for (const { name, items, kept } of cases) {
    await t.step(name, () => {
      for (const order of permutations(items)) {
        const index = indexOf(order);
        assert.deepEqual(winners(index), kept);
        assert.equal(index.duplicates, items.length - kept.length);
      }
    });
  }
});

Deno.test("entries() is a snapshot: later additions show in the next one only", () => {
  const index = indexOf([named("1", "a"), named("3", "c")]);
  const first = index.entries();
  assert.deepEqual([...first.keys()], ["a", "c"]);
  index.addPage([named("2", "a/b"), named("4", "b")]);
  assert.deepEqual([...first.keys()], ["a", "c"]);
  assert.deepEqual(winners(index), [["a/b", "2"], ["b", "4"], ["c", "3"]]);
  assert.equal(index.duplicates, 1);
  // The snapshot of a shadowed listing stays apart from the index too.
  const second = index.entries();
  index.addPage([named("5", "d")]);
  assert.deepEqual([...second.keys()], ["a/b", "b", "c"]);
  assert.deepEqual(winners(index), [["a/b", "2"], ["b", "4"], ["c", "3"], ["d", "5"]]);
});

Deno.test("any page order gives the same index (property)", () => {
  const names = ["a", "a/b", "a/b/c", "b.jpg", "/b.jpg", "c/../d", "", "x/y", "x", "a-b"];
  const ids = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"];
  const items = fc.uniqueArray(fc.tuple(fc.constantFrom(...ids), fc.constantFrom(...names)), {
    maxLength: 12,
    selector: ([id]) => id,
  }).map((pairs) => pairs.map(([id, fileName]) => named(id, fileName)));
  // A second order of the same items, with some items listed again (pages shifting).
  const withOrders = items.chain((list) =>
    fc.tuple(
      fc.constant(list),
      fc.shuffledSubarray(list, { minLength: list.length }),
      fc.subarray(list),
    )
  );
  fc.assert(
    fc.property(withOrders, ([list, shuffled, repeated]) => {
      const a = indexOf(list);
      const b = indexOf([...shuffled, ...repeated]);
      assert.deepEqual(winners(a), winners(b));
      assert.deepEqual(
        [a.listed, a.rejected, a.duplicates],
        [b.listed, b.rejected, b.duplicates],
      );
      assert.equal(a.entries().size + a.rejected + a.duplicates, a.listed);
    }),
    { numRuns: 2000, seed: 7 },
  );
});

Deno.test("a page item alone: the first at a path is named; a later one with a smaller id takes it", () => {
  const index = new ListingIndex();
  assert.equal(firstSighting(index, named("5", "a.jpg")), "a.jpg");
  assert.equal(firstSighting(index, named("5", "a.jpg")), undefined, "the same id again");
  assert.equal(firstSighting(index, named("3", "a.jpg")), undefined);
  assert.equal(index.duplicates, 1);
  assert.equal(index.itemAt("a.jpg")?.binaryDataId, "org/loc/3", "the smallest id holds it now");
  assert.equal(firstSighting(index, named("4", "../x")), undefined, "rejected");
});

Deno.test("addPage() gives each new item's path, winner or not, and the paths seen first", () => {
  const index = new ListingIndex();
  const page = [named("5", "a.jpg"), named("5", "a.jpg"), named("3", "a.jpg"), named("4", "../x")];
  const added = index.addPage([...page, named("6", "b.jpg")]);
  assert.deepEqual(added.paths, ["a.jpg", undefined, "a.jpg", undefined, "b.jpg"]);
  assert.deepEqual(added.firstSightings, ["a.jpg", "b.jpg"]);
  assert.deepEqual(
    added.listed.map((listed) => listed?.binaryDataId),
    ["org/loc/5", undefined, "org/loc/3", undefined, "org/loc/6"],
    "what the index keeps of each new item, the loser of a shared path's too",
  );
  assert.equal(added.listed[2], index.itemAt("a.jpg"), "the winner's is the one it holds");
  const again = index.addPage([named("3", "a.jpg"), named("7", "a.jpg")]);
  assert.deepEqual(again.paths, [undefined, "a.jpg"]);
  assert.deepEqual(again.firstSightings, []);
  assert.deepEqual(again.listed.map((listed) => listed?.binaryDataId), [undefined, "org/loc/7"]);
  // A snapshot reads what the index held when it was taken, by key as in order.
  const snapshot = index.entries();
  index.addPage([named("2", "a.jpg")]);
  assert.equal(snapshot.get("a.jpg")?.binaryDataId, "org/loc/3");
  assert.deepEqual([...snapshot.values()].map((item) => item.binaryDataId), [
    "org/loc/3",
    "org/loc/6",
  ]);
  assert.equal(index.entries().get("a.jpg")?.binaryDataId, "org/loc/2");
});

Deno.test("a path too long once joined to the mirror root is rejected up front", () => {
  const component = "d".repeat(200);
  const long = Array.from({ length: 21 }, () => component).join("/"); // 4220 bytes, parts < 255
  const index = new ListingIndex({ maxPathBytes: 4095 - "/home/pi/.viam/data_mirror".length - 1 });
  assert.equal(firstSighting(index, named("1", long)), undefined);
  assert.equal(
    firstSighting(index, named("2", `${"e".repeat(200)}/ok.jpg`)),
    `${"e".repeat(200)}/ok.jpg`,
  );
  assert.equal(index.rejected, 1);
  assert.match(index.rejections[0].reason, /4095 bytes/);
  // just under the limit with a long root: the root's length counts
  const fits = Array.from({ length: 19 }, () => component).join("/"); // 3818 bytes
  const tight = new ListingIndex({ maxPathBytes: 4095 - 300 - 1 });
  assert.equal(firstSighting(tight, named("3", fits)), undefined);
  assert.equal(
    firstSighting(new ListingIndex({ maxPathBytes: 4095 - 26 - 1 }), named("3", fits)),
    fits,
  );
});

Deno.test("a small file of known size keeps no uri; a large or unsized one does", () => {
  const index = new ListingIndex({ inlineMaxBytes: 1000 });
  const withUri = (id: string, sizeBytes?: number): RemoteItem => ({
    ...named(id, `${id}.bin`),
    uri: `https://app.example/${id}`,
    sizeBytes,
  });
  index.addPage([withUri("small", 10), withUri("large", 5000), withUri("unsized")]);
  assert.equal(index.itemAt("small.bin")?.uri, "");
  assert.equal(index.itemAt("large.bin")?.uri, "https://app.example/large");
  assert.equal(index.itemAt("unsized.bin")?.uri, "https://app.example/unsized");
});

Deno.test("once the listing has ended its count stays, and a page added after throws", () => {
  const index = indexOf([named("1", "a.jpg"), named("2", "a.jpg"), named("1", "a.jpg")]);
  index.addPage([named("3", "../x"), named("4", "b.jpg")]);
  const entries = winners(index);
  index.endListing();
  assert.deepEqual(
    { listed: index.listed, rejected: index.rejected, duplicates: index.duplicates },
    { listed: 4, rejected: 1, duplicates: 1 },
  );
  assert.deepEqual(winners(index), entries);
  assert.throws(() => index.addPage([named("5", "c.jpg")]), /the listing has ended/);
  assert.equal(index.listed, 4);
});

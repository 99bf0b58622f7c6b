import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { itemBytes, itemChunks } from "./content.ts";
import { describeDataset } from "./describe_dataset.ts";
import type { ItemRecord } from "./item_record.ts";

function _item(overrides: Partial<ItemRecord> = {}): ItemRecord {
  const [item] = describeDataset([{ count: 1, sizeBytes: 20_000 }]).items;
  return { ...item, ...overrides };
}

Deno.test("itemBytes is a function of the item and the offset", () => {
  const item = _item({ mimeType: "application/octet-stream" });
  const whole = itemBytes(item);
  assert.equal(whole.length, 20_000);
  assert.deepEqual(itemBytes(item), whole);
  // Any range equals the same slice of the whole, however it is cut.
  for (const [start, end] of [[0, 1], [1, 4097], [4095, 4097], [8192, 12288], [19_999, 20_000]]) {
    assert.deepEqual(
      itemBytes(item, { start, end }),
      whole.subarray(start, end),
      `${start}-${end}`,
    );
  }
  assert.deepEqual(itemBytes(item, { start: 20_000 }), new Uint8Array(0));
  // Not a constant fill: the bytes vary along the file.
  assert.ok(new Set(whole).size > 200);
});

Deno.test("itemChunks concatenate to itemBytes for any chunk size", () => {
  const item = _item();
  const whole = itemBytes(item);
  for (const chunkBytes of [1, 7, 4096, 5000, 65_536]) {
    const chunks = [...itemChunks(item, { start: 3, end: 19_000, chunkBytes })];
    assert.ok(chunks.slice(0, -1).every((c) => c.length === chunkBytes));
    assert.deepEqual(new Uint8Array(chunks.flatMap((c) => [...c])), whole.subarray(3, 19_000));
  }
});

Deno.test("content differs between items and between revisions of one item", () => {
  const [a, b] = describeDataset([{ count: 2, sizeBytes: 4096, mimeType: "text/plain" }]).items;
  assert.notDeepEqual(itemBytes(a), itemBytes(b));
  assert.notDeepEqual(itemBytes(a), itemBytes({ ...a, revision: 1 }));
  // Same id and revision in another record (a replaced data set): the same bytes.
  assert.deepEqual(itemBytes({ ...a, fileName: "renamed.txt" }), itemBytes(a));
});

Deno.test("JPEG and PNG items start with real-looking headers", () => {
  const jpeg = itemBytes(_item({ mimeType: "image/jpeg" }), { end: 11 });
  assert.deepEqual([...jpeg.subarray(0, 4)], [0xff, 0xd8, 0xff, 0xe0]);
  assert.equal(new TextDecoder().decode(jpeg.subarray(6, 10)), "JFIF");
  const png = itemBytes(_item({ mimeType: "image/png" }), { end: 33 });
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(new TextDecoder().decode(png.subarray(12, 16)), "IHDR");
  const view = new DataView(png.buffer);
  assert.deepEqual([view.getUint32(16), view.getUint32(20)], [640, 480]);
  assert.equal(view.getUint32(29), crc32(png.subarray(12, 29)), "IHDR CRC");
  // The header is part of the deterministic content: a range inside it agrees.
  assert.deepEqual(
    itemBytes(_item({ mimeType: "image/png" }), { start: 5, end: 20 }),
    png.slice(5, 20),
  );
  // Files too small for the header get none.
  const tiny = itemBytes(_item({ mimeType: "image/png", sizeBytes: 10 }));
  assert.notDeepEqual([...tiny.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
});

Deno.test("a range deep inside a 1 GiB item costs only that range", () => {
  const item = _item({ sizeBytes: 1024 ** 3 });
  const tail = itemBytes(item, { start: 1024 ** 3 - 10 });
  assert.equal(tail.length, 10);
  assert.deepEqual(itemBytes(item, { start: 1024 ** 3 - 4, end: 1024 ** 3 }), tail.subarray(6));
});

Deno.test("invalid ranges and chunk sizes are refused with the reason", () => {
  const item = _item();
  assert.throws(() => itemBytes(item, { start: 5, end: 4 }), /invalid content range \[5, 4\)/);
  assert.throws(() => itemBytes(item, { start: -1 }), /invalid content range/);
  assert.throws(() => itemBytes(item, { end: 20_001 }), /past the size 20000/);
  assert.throws(() => [...itemChunks(item, { chunkBytes: 0 })], /chunkBytes must be a positive/);
});

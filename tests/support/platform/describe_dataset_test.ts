import assert from "node:assert/strict";
import {
  DEFAULT_LOCATION_ID,
  DEFAULT_ORGANIZATION_ID,
  DEFAULT_START_TIME_MS,
  describeDataset,
  HOSTILE_NAME_COUNT,
} from "./describe_dataset.ts";
import { SAMPLE_DATASET_ID, sampleDataset } from "./sample_dataset.ts";

Deno.test("describeDataset builds ids, times and defaults deterministically", () => {
  const dataset = describeDataset([{ count: 3 }, {
    name: "cams",
    count: 2,
    mimeType: "image/png",
  }]);
  assert.deepEqual(
    dataset,
    describeDataset([{ count: 3 }, { name: "cams", count: 2, mimeType: "image/png" }]),
  );
  const [first, , , cam] = dataset.items;
  assert.equal(first.binaryDataId, `${DEFAULT_ORGANIZATION_ID}/${DEFAULT_LOCATION_ID}/g0-000000`);
  assert.equal(first.fileId, "g0-000000");
  assert.equal(first.fileName, "g0/g0-000000.jpeg");
  assert.equal(first.fileExt, ".jpeg");
  assert.equal(first.mimeType, "image/jpeg");
  assert.equal(first.timeRequestedMs, DEFAULT_START_TIME_MS);
  assert.equal(first.timeReceivedMs, DEFAULT_START_TIME_MS + 250);
  assert.deepEqual([first.tags, first.bboxLabels, first.datasetIds], [[], [], []]);
  assert.equal(cam.binaryDataId.split("/").at(-1), "cams-000000");
  assert.equal(cam.fileName, "cams/cams-000000.png");
  // Times follow the description order across groups, one second apart.
  assert.equal(cam.timeRequestedMs, DEFAULT_START_TIME_MS + 3000);
  // Default sizes vary by index.
  assert.ok(new Set(dataset.items.map((i) => i.sizeBytes)).size > 1);
});

Deno.test("every fifth item has an empty deprecated id unless told otherwise", () => {
  const items = describeDataset([{ count: 10 }]).items;
  assert.deepEqual(items.map((i) => i.legacyId === ""), [
    false,
    false,
    false,
    false,
    true,
    false,
    false,
    false,
    false,
    true,
  ]);
  assert.ok(
    describeDataset([{ count: 10, legacyId: true }]).items.every((i) => i.legacyId === i.fileId),
  );
});

Deno.test("naming styles give the file names found in the field", () => {
  const names = (naming: "named" | "unnamed" | "absolute" | "no-extension") =>
    describeDataset([{ name: "x", count: 1, naming, mimeType: "image/png" }]).items[0];
  assert.deepEqual([names("named").fileName, names("named").fileExt], ["x/x-000000.png", ".png"]);
  assert.deepEqual([names("unnamed").fileName, names("unnamed").fileExt], ["", ".png"]);
  assert.equal(names("absolute").fileName, "/home/pi/captures/x-000000.png");
  assert.deepEqual([names("no-extension").fileName, names("no-extension").fileExt], [
    "x-000000",
    ".png",
  ]);
  const hostile = describeDataset([{ name: "h", count: HOSTILE_NAME_COUNT, naming: "hostile" }])
    .items.map((i) => i.fileName);
  assert.equal(new Set(hostile).size, HOSTILE_NAME_COUNT);
  assert.ok(hostile.includes("../../etc/h-000000"));
  assert.ok(hostile.some((n) => n.includes("\u0000")));
  assert.ok(hostile.some((n) => n.length > 255));
  assert.ok(hostile.every((n) => n.includes("..") || n.includes("\u0000") || n.length > 255));
});

Deno.test("varying fields take a function of the index; an explicit name wins", () => {
  const items = describeDataset([{
    count: 3,
    folder: (i) => `cams/${i % 2}`,
    tags: (i) => (i % 2 ? ["odd"] : []),
    bboxLabels: ["car"],
    sizeBytes: (i) => i * 10,
  }, { count: 1, naming: "unnamed", fileName: "explicit/name.bin" }]).items;
  assert.deepEqual(items.map((i) => i.fileName), [
    "cams/0/g0-000000.jpeg",
    "cams/1/g0-000001.jpeg",
    "cams/0/g0-000002.jpeg",
    "explicit/name.bin",
  ]);
  assert.deepEqual(items.map((i) => i.tags), [[], ["odd"], [], []]);
  assert.deepEqual(items.slice(0, 3).map((i) => i.sizeBytes), [0, 10, 20]);
  assert.deepEqual(items.map((i) => i.bboxLabels), [["car"], ["car"], ["car"], []]);
});

Deno.test("datasets named by items exist; listed ones keep their names", () => {
  const { datasets } = describeDataset(
    [{ count: 2, datasetIds: (i) => (i ? ["ds-a", "ds-b"] : ["ds-a"]) }],
    { datasets: [{ id: "ds-b", name: "Bee" }, { id: "ds-empty", name: "Empty" }] },
  );
  assert.deepEqual(datasets.map((d) => [d.id, d.name]), [
    ["ds-b", "Bee"],
    ["ds-empty", "Empty"],
    ["ds-a", "ds-a"],
  ]);
  assert.ok(datasets.every((d) => d.organizationId === DEFAULT_ORGANIZATION_ID));
});

Deno.test("describeDataset refuses duplicate groups and bad counts or sizes", () => {
  assert.throws(
    () => describeDataset([{ name: "a", count: 1 }, { name: "a", count: 1 }]),
    /"a" is used twice/,
  );
  assert.throws(() => describeDataset([{ count: -1 }]), /count must be >= 0/);
  assert.throws(() => describeDataset([{ count: 1, sizeBytes: 1.5 }]), /size of g0-000000/);
});

Deno.test("sampleDataset: a few hundred small images in every naming style", () => {
  const { items, datasets } = sampleDataset();
  assert.equal(items.length, 310);
  assert.ok(items.every((i) => i.sizeBytes >= 2048 && i.sizeBytes < 40_000));
  assert.ok(items.every((i) => i.mimeType === "image/jpeg" || i.mimeType === "image/png"));
  assert.equal(items.filter((i) => i.fileName === "").length, 60);
  assert.equal(items.filter((i) => i.fileName.startsWith("/home/pi/")).length, 30);
  assert.ok(items.some((i) => i.fileName.startsWith("cameras/front/2025-01-03/")));
  assert.ok(items.some((i) => i.fileName !== "" && !i.fileName.includes(".")));
  assert.ok(items.some((i) => i.legacyId === ""));
  const tags = new Set(items.flatMap((i) => i.tags));
  assert.deepEqual([...tags].sort(), ["demo", "night", "raw", "rear", "synced", "upload"]);
  assert.deepEqual(datasets.map((d) => d.id), [SAMPLE_DATASET_ID]);
  assert.equal(items.filter((i) => i.datasetIds.includes(SAMPLE_DATASET_ID)).length, 60);
});

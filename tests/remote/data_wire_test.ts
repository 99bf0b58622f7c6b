/**
 * The hand-made wire of the calls to the app against two references: the embedded descriptor set
 * (field by field) and `@viamrobotics/sdk`, the official client (the same bytes for the same
 * call, and the inline decoder reading what the SDK's types write).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { dataApi } from "@viamrobotics/sdk";
import { BinaryWriter, protoInt64, Timestamp, WireType } from "@bufbuild/protobuf";
import {
  BinaryDataByFilterRequest,
  BinaryDataByIDsRequest,
  CreateBinaryDataSignedURL,
  ORDER,
} from "../../src/remote/data_wire.ts";
import { decodeInlineBatch } from "../../src/remote/inline_batch.ts";
import { assertMatchesDescriptorSet } from "./_descriptor_check.ts";

Deno.test("BinaryDataByIDsRequest writes the SDK's bytes for any ids, written by hand", () => {
  // Any text: ASCII, the rest of Unicode, lone surrogates, ids long enough for a two-byte length.
  const id = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.string({ unit: "binary", maxLength: 80 }),
    fc.string({ unit: fc.integer({ min: 0xd7f0, max: 0xe010 }).map(String.fromCharCode) }),
  );
  fc.assert(
    fc.property(fc.array(id, { maxLength: 12 }), fc.boolean(), (binaryDataIds, includeBinary) => {
      const request = { binaryDataIds, includeBinary };
      const ours = new BinaryDataByIDsRequest(request).toBinary();
      assert.deepEqual(ours, new dataApi.BinaryDataByIDsRequest(request).toBinary());
    }),
    { numRuns: 400 },
  );
  const long = "org/loc/" + "x".repeat(200);
  assert.deepEqual(
    new BinaryDataByIDsRequest({ binaryDataIds: [long], includeBinary: true }).toBinary(),
    new dataApi.BinaryDataByIDsRequest({ binaryDataIds: [long], includeBinary: true }).toBinary(),
  );
});

Deno.test("the hand-made data messages match the embedded descriptor set, field by field", () => {
  const checked = new Set<string>();
  for (
    const made of [
      BinaryDataByFilterRequest,
      BinaryDataByIDsRequest,
      CreateBinaryDataSignedURL.I,
      CreateBinaryDataSignedURL.O,
    ]
  ) {
    assertMatchesDescriptorSet(made, checked);
  }
  for (
    const name of [
      "viam.app.data.v1.Filter",
      "viam.app.data.v1.TagsFilter",
      "viam.app.data.v1.CaptureInterval",
      "viam.app.data.v1.DataRequest",
    ]
  ) {
    assert.ok(checked.has(name), `${name} was not checked`);
  }
  assert.equal(ORDER.ascending, dataApi.Order.ASCENDING);
  assert.equal(ORDER.descending, dataApi.Order.DESCENDING);
});

Deno.test("a request is the bytes the SDK's generated types make for the same call", () => {
  const interval = {
    start: Timestamp.fromDate(new Date(1_760_000_000_250)),
    end: Timestamp.fromDate(new Date(1_760_000_100_000)),
  };
  const listings = [
    // Every filter field the mirror sends, a page cursor and an order.
    {
      dataRequest: {
        filter: {
          tagsFilter: { tags: ["fleet", "cam"] },
          bboxLabels: ["person", "cat"],
          datasetId: "ds-1",
          mimeType: ["image/jpeg", "image/png"],
          interval,
        },
        limit: protoInt64.uParse(100),
        last: "cursor-7",
        sortOrder: ORDER.ascending,
      },
      includeBinary: false,
      countOnly: false,
      includeInternalData: false,
    },
    // A count of an open-ended interval.
    {
      dataRequest: { filter: { interval: { start: interval.start } }, last: "" },
      includeBinary: false,
      countOnly: true,
      includeInternalData: false,
    },
    // An empty filter: all the data the key can read.
    { dataRequest: { filter: {}, last: "" }, includeBinary: false },
  ];
  listings.forEach((listing, i) => {
    assert.deepEqual(
      new BinaryDataByFilterRequest(listing).toBinary(),
      new dataApi.BinaryDataByFilterRequest(listing as never).toBinary(),
      `listing ${i}`,
    );
  });
  const ids = { binaryDataIds: ["org/loc/a", "org/loc/b", "org/loc/ü"], includeBinary: true };
  assert.deepEqual(
    new BinaryDataByIDsRequest(ids).toBinary(),
    new dataApi.BinaryDataByIDsRequest(ids).toBinary(),
  );
  const signed = { binaryDataId: "org/loc/a" };
  assert.deepEqual(
    new CreateBinaryDataSignedURL.I(signed).toBinary(),
    new dataApi.CreateBinaryDataSignedURLRequest(signed).toBinary(),
  );
  const reply = new dataApi.CreateBinaryDataSignedURLResponse({
    signedUrl: "https://storage.invalid/a?sig=1",
    expiresAt: interval.end,
  }).toBinary();
  assert.equal(
    (CreateBinaryDataSignedURL.O.fromBinary(reply) as unknown as { signedUrl: string }).signedUrl,
    "https://storage.invalid/a?sig=1",
  );
});

Deno.test("an inline batch reads the files the SDK's types write, as views of the response", () => {
  const files = [
    new Uint8Array([1, 2, 3]),
    new Uint8Array(0),
    Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) & 0xff),
  ];
  const response = new dataApi.BinaryDataByIDsResponse({
    data: files.map((binary, i) => ({
      binary,
      metadata: {
        id: `file-${i}`,
        binaryDataId: `org/loc/file-${i}`,
        fileName: `folder/name-${i}.bin`,
        uri: `https://app.invalid/file-${i}`,
        timeRequested: Timestamp.fromDate(new Date(1_760_000_000_000 + i)),
        captureMetadata: { tags: ["t"], mimeType: "application/octet-stream" },
        annotations: { bboxes: [{ label: "x", xMinNormalized: 0.5 }] },
        datasetIds: ["d"],
      },
    })),
    count: protoInt64.uParse(files.length),
  }).toBinary();
  const read = decodeInlineBatch(response);
  assert.deepEqual([...read.keys()], files.map((_, i) => `org/loc/file-${i}`));
  files.forEach((bytes, i) => {
    const got = read.get(`org/loc/file-${i}`)!;
    assert.deepEqual(got, bytes);
    assert.equal(got.buffer, response.buffer, "a view of the response, not a copy");
  });
});

Deno.test("the inline decoder: any field order, metadata in parts, no metadata, cut responses", () => {
  const metadata = (write: (w: BinaryWriter) => void) => {
    const w = new BinaryWriter();
    write(w);
    return w.finish();
  };
  const item = (parts: [number, Uint8Array][]) => {
    const w = new BinaryWriter();
    for (const [field, bytes] of parts) w.tag(field, WireType.LengthDelimited).bytes(bytes);
    return w.finish();
  };
  const response = (...items: Uint8Array[]) => {
    const w = new BinaryWriter();
    w.tag(99, WireType.Varint).uint32(5); // an unknown field first
    for (const bytes of items) w.tag(1, WireType.LengthDelimited).bytes(bytes);
    w.tag(2, WireType.Varint).uint64(items.length);
    return w.finish();
  };
  const idOf = (id: string) => metadata((w) => w.tag(10, WireType.LengthDelimited).string(id));
  const bytes = response(
    // Metadata before the bytes.
    item([[2, idOf("org/loc/first")], [1, new Uint8Array([9, 9])]]),
    // No metadata: not a file of the batch.
    item([[1, new Uint8Array([1])]]),
    // Metadata sent in two parts (merged; the part without an id keeps the first part's id),
    // and the bytes twice (the last wins), with unknown fields in between.
    item([
      [2, idOf("org/loc/second")],
      [1, new Uint8Array([1, 1])],
      [3, new Uint8Array([7])],
      [2, metadata((w) => w.tag(5, WireType.LengthDelimited).string("name.bin"))],
      [1, new Uint8Array([2, 2, 2])],
    ]),
    // Only metadata: an empty file.
    item([[2, idOf("org/loc/empty")]]),
    // One id answered twice with the same bytes: the file.
    item([[2, idOf("org/loc/twice")], [1, new Uint8Array([4])]]),
    item([[2, idOf("org/loc/twice")], [1, new Uint8Array([4])]]),
    // One id answered twice with other bytes (a stray entry naming it): no file for it at all.
    item([[2, idOf("org/loc/torn")], [1, new Uint8Array([5])]]),
    item([[2, idOf("org/loc/torn")], [1, new Uint8Array([6])]]),
    item([[2, idOf("org/loc/torn")], [1, new Uint8Array([5])]]),
  );
  const read = decodeInlineBatch(bytes);
  assert.deepEqual(
    [...read].map(([id, file]) => [id, [...file]]),
    [
      ["org/loc/first", [9, 9]],
      ["org/loc/second", [2, 2, 2]],
      ["org/loc/empty", []],
      ["org/loc/twice", [4]],
    ],
  );
  // Every cut of a response is refused or reads fewer complete files, never bytes past the cut.
  for (let cut = 1; cut < bytes.length; cut++) {
    const part = bytes.slice(0, cut);
    let partial: Map<string, Uint8Array>;
    try {
      partial = decodeInlineBatch(part);
    } catch (error) {
      assert.ok(error instanceof Error, String(error));
      continue;
    }
    for (const [id, file] of partial) {
      if (id === "org/loc/torn") continue; // its first answer alone, before the cut
      assert.deepEqual(file, read.get(id), `cut at ${cut}: ${id}`);
    }
  }
});

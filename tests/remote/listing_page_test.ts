/**
 * The listing decoder against the SDK's own decoding: the same pages, read both ways, give the
 * same items; and the wire cases a generated decoder handles (unknown fields, a message sent in
 * two parts, classifications, `count`).
 */
import assert from "node:assert/strict";
import { dataApi } from "@viamrobotics/sdk";
import { BinaryWriter, WireType } from "@bufbuild/protobuf";
import { decodeListingPage, MAX_PAGE_ITEMS } from "../../src/remote/listing_page.ts";
import { localPathFor } from "../../src/paths.ts";
import type { RemoteItem } from "../../src/remote/remote_item.ts";
import {
  connectSdk,
  describeDataset,
  sampleDataset,
  startPlatform,
} from "../support/platform/mod.ts";
import { remoteOf } from "./_remote_of.ts";

/** What the SDK's decoded message means as an item (the mapping the decoder replaced). */
function fromSdk(data: InstanceType<typeof dataApi.BinaryData>): RemoteItem {
  const meta = data.metadata!;
  const size = dataApi.BinaryMetadata.runtime.bin.listUnknownFields(meta)
    .find((field) => field.no === 11);
  return {
    binaryDataId: meta.binaryDataId,
    fileId: meta.id || meta.binaryDataId.slice(meta.binaryDataId.lastIndexOf("/") + 1),
    fileName: meta.fileName,
    fileExt: meta.fileExt,
    mimeType: meta.captureMetadata?.mimeType ?? "",
    uri: meta.uri,
    sizeBytes: size === undefined ? undefined : _varint(size.data),
    timeRequestedMs: meta.timeRequested?.toDate().getTime(),
    timeRequestedInexact: (meta.timeRequested?.nanos ?? 0) % 1_000_000 ? "rounded-up" : undefined,
    timeReceivedMs: meta.timeReceived?.toDate().getTime(),
    tags: meta.captureMetadata?.tags ?? [],
    bboxes: (meta.annotations?.bboxes ?? []).map((box) => ({
      label: box.label,
      xMin: box.xMinNormalized,
      yMin: box.yMinNormalized,
      xMax: box.xMaxNormalized,
      yMax: box.yMaxNormalized,
      ...(box.confidence === undefined ? {} : { confidence: box.confidence }),
    })),
    datasetIds: meta.datasetIds,
  };
}

function _varint(bytes: Uint8Array): number {
  let value = 0;
  let scale = 1;
  for (const byte of bytes) {
    value += (byte & 0x7f) * scale;
    scale *= 128;
  }
  return value;
}

Deno.test("listPage gives the items the SDK decodes from the same pages", async () => {
  const sample = sampleDataset();
  const extra = describeDataset([{
    name: "boxed",
    count: 7,
    tags: ["demo"],
    bboxLabels: ["a", "b", "c"],
    bboxConfidence: (i) => i % 2 === 0 ? 0.25 + i / 100 : undefined,
    datasetIds: ["d1", "d2"],
    legacyId: false,
  }], { startTimeMs: Date.UTC(2026, 0, 1, 0, 0, 0, 123) });
  await using platform = await startPlatform({
    dataset: { items: [...sample.items, ...extra.items], datasets: sample.datasets },
  });
  const remote = remoteOf(platform);
  const sdk = await connectSdk(platform);
  const filter = { tags: ["demo"], labels: [] };
  let last = "";
  let seen = 0;
  for (;;) {
    const ours = await remote.listPage(filter, last, { pageSize: 37 });
    const theirs = await sdk.dataClient.binaryDataByFilter(
      new dataApi.Filter({ tagsFilter: { tags: ["demo"] } }),
      37,
      undefined,
      last,
      false,
    );
    assert.deepEqual(ours.items, theirs.data.map(fromSdk));
    assert.equal(ours.last, theirs.last);
    if (ours.items.length === 0) break;
    seen += ours.items.length;
    last = ours.last;
  }
  assert.equal(seen, platform.items().length);
  assert.ok(platform.items().some((i) => i.bboxConfidence !== undefined));
  assert.equal(await remote.count(filter), platform.items().length);
});

Deno.test("the decoder skips unknown fields, merges a message sent in parts, reads count", () => {
  const metadata = new dataApi.BinaryMetadata({
    id: "",
    binaryDataId: "org/loc/file-1",
    fileName: "a/b.jpg",
    fileExt: ".jpg",
    uri: "https://example/x",
    captureMetadata: { tags: ["t1"], mimeType: "image/jpeg", robotName: "r" },
    timeRequested: { seconds: 1_700_000_000n, nanos: 5_000_000 },
    timeReceived: { seconds: 1_700_000_001n, nanos: 0 },
    annotations: {
      bboxes: [{
        label: "cat",
        xMinNormalized: 0.1,
        yMinNormalized: 0.2,
        xMaxNormalized: 0.3,
        yMaxNormalized: 0.4,
      }],
      classifications: [{ label: "animal" }],
    },
    datasetIds: ["ds"],
  });
  // A second part of the same metadata: more tags, another box, the size, and unknown fields of
  // every wire type.
  const part = new BinaryWriter()
    .tag(2, WireType.LengthDelimited).bytes(
      new dataApi.CaptureMetadata({ tags: ["t2"] }).toBinary(),
    )
    .tag(8, WireType.LengthDelimited).bytes(
      new dataApi.Annotations({
        bboxes: [{
          label: "dog",
          xMinNormalized: 0.5,
          yMinNormalized: 0.6,
          xMaxNormalized: 0.7,
          yMaxNormalized: 0.8,
          confidence: 0.9,
        }],
      }).toBinary(),
    )
    .tag(11, WireType.Varint).uint64(123_456_789_012)
    .tag(99, WireType.Varint).uint32(7)
    .tag(98, WireType.Bit64).double(1.5)
    .tag(97, WireType.LengthDelimited).string("ignored")
    .tag(96, WireType.Bit32).fixed32(3)
    .tag(95, WireType.Varint).int64(-1) // ten bytes
    .finish();
  const data = new BinaryWriter()
    .tag(1, WireType.LengthDelimited).bytes(new Uint8Array([1, 2, 3]))
    .tag(2, WireType.LengthDelimited).bytes(metadata.toBinary())
    .tag(2, WireType.LengthDelimited).bytes(part)
    .finish();
  const response = new BinaryWriter()
    .tag(1, WireType.LengthDelimited).bytes(data)
    .tag(2, WireType.Varint).uint64(42)
    .tag(3, WireType.LengthDelimited).string("cursor")
    .tag(50, WireType.LengthDelimited).string("unknown")
    .finish();
  const page = decodeListingPage(response);
  assert.equal(page.count, 42);
  assert.equal(page.last, "cursor");
  assert.deepEqual(page.items, [{
    binaryDataId: "org/loc/file-1",
    fileId: "file-1",
    fileName: "a/b.jpg",
    fileExt: ".jpg",
    mimeType: "image/jpeg",
    uri: "https://example/x",
    sizeBytes: 123_456_789_012,
    timeRequestedMs: 1_700_000_000_005,
    timeRequestedInexact: undefined,
    timeReceivedMs: 1_700_000_001_000,
    tags: ["t1", "t2"],
    bboxes: [
      { label: "cat", xMin: 0.1, yMin: 0.2, xMax: 0.3, yMax: 0.4 },
      { label: "dog", xMin: 0.5, yMin: 0.6, xMax: 0.7, yMax: 0.8, confidence: 0.9 },
    ],
    datasetIds: ["ds"],
  }]);
  // An item without size or time has them undefined, as the SDK path gave them.
  const bare = decodeListingPage(
    new dataApi.BinaryDataByFilterResponse({ data: [{ metadata: { binaryDataId: "x/y/z" } }] })
      .toBinary(),
  );
  assert.equal(bare.items[0].sizeBytes, undefined);
  assert.equal(bare.items[0].timeRequestedMs, undefined);
  assert.equal(bare.items[0].timeReceivedMs, undefined);
  assert.equal(bare.items[0].fileId, "z");
});

Deno.test("a time past what a Date holds is read as unset, one just inside it as it is", () => {
  // 8,640,000,000,000 s is the Date limit (8.64e15 ms); a Timestamp's seconds go far past it.
  const limitSeconds = 8_640_000_000_000n;
  const page = decodeListingPage(
    new dataApi.BinaryDataByFilterResponse({
      data: [
        { metadata: { binaryDataId: "o/l/in", timeRequested: { seconds: limitSeconds - 1n } } },
        { metadata: { binaryDataId: "o/l/at", timeRequested: { seconds: limitSeconds } } },
        { metadata: { binaryDataId: "o/l/past", timeRequested: { seconds: 10n ** 15n } } },
        {
          metadata: {
            binaryDataId: "o/l/before",
            timeRequested: { seconds: -limitSeconds },
            timeReceived: { seconds: -(10n ** 15n) },
          },
        },
      ],
    }).toBinary(),
  );
  assert.deepEqual(
    page.items.map((item) => [
      item.binaryDataId,
      item.timeRequestedMs,
      item.timeRequestedInexact,
      item.timeReceivedMs,
    ]),
    [
      ["o/l/in", 8.64e15 - 1000, undefined, undefined],
      ["o/l/at", undefined, "beyond-dates", undefined],
      ["o/l/past", undefined, "beyond-dates", undefined],
      ["o/l/before", undefined, "beyond-dates", undefined],
    ],
  );
  // What a Date makes of the time kept is that very time.
  assert.equal(new Date(page.items[0].timeRequestedMs!).getTime(), 8.64e15 - 1000);
  // A time sent in parts is judged whole: seconds past the limit, then nanos on their own.
  const parts = [{ seconds: 10n ** 15n }, { nanos: 5_000_000 }].map((timeRequested) =>
    new dataApi.BinaryMetadata({ binaryDataId: "o/l/parts", timeRequested }).toBinary()
  );
  const data = new BinaryWriter()
    .tag(2, WireType.LengthDelimited).bytes(parts[0])
    .tag(2, WireType.LengthDelimited).bytes(parts[1])
    .finish();
  const split = decodeListingPage(
    new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(data).finish(),
  );
  assert.equal(split.items[0].timeRequestedMs, undefined);
  assert.equal(split.items[0].timeRequestedInexact, "beyond-dates");
});

Deno.test("a listed size past 2^53 is read as unset, not as a byte count no disk holds", () => {
  // Staging refused it with a RangeError that ended the pass, every pass: no other item
  // downloaded, nothing deleted.
  const metadata = new BinaryWriter()
    .tag(10, WireType.LengthDelimited).string("o/l/f")
    .tag(5, WireType.LengthDelimited).string("a.bin")
    .tag(11, WireType.Varint).uint64("18446744073709551615")
    .finish();
  const binaryData = new BinaryWriter().tag(2, WireType.LengthDelimited).bytes(metadata).finish();
  const page = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(binaryData).finish();
  const [item] = decodeListingPage(page).items;
  assert.equal(item.fileName, "a.bin");
  assert.equal(item.sizeBytes, undefined);
});

Deno.test("a time inside a millisecond is rounded up and marked so; one on it, or none, is not", () => {
  const page = decodeListingPage(
    new dataApi.BinaryDataByFilterResponse({
      data: [
        { metadata: { binaryDataId: "o/l/inside", timeRequested: { seconds: 10n, nanos: 1 } } },
        { metadata: { binaryDataId: "o/l/on", timeRequested: { seconds: 10n, nanos: 2_000_000 } } },
        { metadata: { binaryDataId: "o/l/none" } },
      ],
    }).toBinary(),
  );
  assert.deepEqual(
    page.items.map((item) => [item.binaryDataId, item.timeRequestedMs, item.timeRequestedInexact]),
    [
      ["o/l/inside", 10_001, "rounded-up"],
      ["o/l/on", 10_002, undefined],
      ["o/l/none", undefined, undefined],
    ],
  );
});

Deno.test("a response cut inside a skipped field is refused, not read past its end", () => {
  const whole = new BinaryWriter()
    .tag(3, WireType.LengthDelimited).string("cursor")
    .tag(50, WireType.LengthDelimited).string("an unknown field's value")
    .finish();
  assert.equal(decodeListingPage(whole).last, "cursor");
  for (const cut of [whole.length - 1, whole.length - 10]) {
    assert.throws(() => decodeListingPage(whole.subarray(0, cut)), /premature EOF/);
  }
  const fixed = new BinaryWriter().tag(51, WireType.Bit64).double(1).finish();
  assert.throws(() => decodeListingPage(fixed.subarray(0, 5)), /premature EOF/);
});

Deno.test("a page of more than MAX_PAGE_ITEMS items is refused as it is read", () => {
  const page = (n: number) =>
    new dataApi.BinaryDataByFilterResponse({
      data: Array.from({ length: n }, (_, i) => ({ metadata: { binaryDataId: `o/l/${i}` } })),
    }).toBinary();
  assert.equal(decodeListingPage(page(MAX_PAGE_ITEMS)).items.length, MAX_PAGE_ITEMS);
  assert.throws(() => decodeListingPage(page(MAX_PAGE_ITEMS + 1)), /more than 1000 items/);
});

Deno.test("a name that begins with a byte-order mark keeps it: it is another name", () => {
  const page = decodeListingPage(
    new dataApi.BinaryDataByFilterResponse({
      data: [
        { metadata: { binaryDataId: "o/l/bom", fileName: "\uFEFFa.jpg" } },
        { metadata: { binaryDataId: "o/l/plain", fileName: "a.jpg" } },
      ],
    }).toBinary(),
  );
  assert.deepEqual(page.items.map((i) => i.fileName), ["\uFEFFa.jpg", "a.jpg"]);
});

Deno.test("a name that is not valid UTF-8 on the wire is marked, and refused as a path", () => {
  const item = (id: string, fileName: Uint8Array) => {
    const metadata = new BinaryWriter()
      .tag(10, WireType.LengthDelimited).string(id)
      .tag(5, WireType.LengthDelimited).bytes(fileName)
      .finish();
    return new BinaryWriter().tag(2, WireType.LengthDelimited).bytes(metadata).finish();
  };
  const utf8 = (text: string) => new TextEncoder().encode(text);
  const response = new BinaryWriter()
    .tag(1, WireType.LengthDelimited).bytes(item("o/l/ff", Uint8Array.of(0x62, 0xff, 0xff)))
    .tag(1, WireType.LengthDelimited).bytes(item("o/l/fe", Uint8Array.of(0x62, 0xfe, 0xfe)))
    .tag(1, WireType.LengthDelimited).bytes(item("o/l/ok", utf8("b\uFFFD\uFFFD")))
    .finish();
  const items = decodeListingPage(response).items;
  // Both bad names decode to the third, valid, one: only the bytes tell them apart.
  assert.deepEqual(items.map((i) => i.fileName), Array(3).fill("b\uFFFD\uFFFD"));
  assert.deepEqual(items.map((i) => i.notUtf8), ["file_name", "file_name", undefined]);
  assert.deepEqual(items.map((i) => localPathFor(i)), [
    { ok: false, reason: 'file_name "b\uFFFD\uFFFD": its file_name is not valid UTF-8' },
    { ok: false, reason: 'file_name "b\uFFFD\uFFFD": its file_name is not valid UTF-8' },
    { ok: true, path: "b\uFFFD\uFFFD" },
  ]);
});

import assert from "node:assert/strict";
import { type MethodInfo, protoInt64, Timestamp } from "@bufbuild/protobuf";
import { messageFrame } from "../../src/remote/grpc_http2.ts";
import { BinaryDataByFilterRequest } from "../../src/remote/data_wire.ts";
import {
  CONTENT_FRAME_HEAD_BYTES,
  contentFrame,
  DataSyncService,
} from "../../src/remote/upload_wire.ts";
import { assertMatchesDescriptorSet } from "./_descriptor_check.ts";
import { decodeListingPage } from "../../src/remote/listing_page.ts";
import { viamService } from "../../src/viam_api.ts";

const FileUploadRequest = DataSyncService.methods.fileUpload.I;

Deno.test("a content frame is the generated FileUploadRequest's bytes behind a gRPC prefix", () => {
  // Sizes around the varint boundaries of both length fields (an empty file sends no content).
  for (const size of [1, 3, 125, 126, 127, 128, 16_383, 16_384, 65_536, 300_000, 2_100_000]) {
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = (i * 31 + 7) & 0xff;
    // The bytes are read into place after the head; a longer buffer's tail is not sent.
    const buffer = new Uint8Array(CONTENT_FRAME_HEAD_BYTES + size + 10).fill(0xee);
    buffer.set(data, CONTENT_FRAME_HEAD_BYTES);
    const frame = contentFrame(buffer, size);
    assert.equal(frame.buffer, buffer.buffer, "framed in place, not copied");
    const generic = new FileUploadRequest({
      uploadPacket: { case: "fileContents", value: { data } },
    }).toBinary();
    assert.deepEqual(frame, messageFrame(generic), `size ${size}`);
    const back = FileUploadRequest.fromBinary(frame.subarray(5)) as unknown as {
      uploadPacket: { case: string; value: { data: Uint8Array } };
    };
    assert.equal(back.uploadPacket.case, "fileContents");
    assert.deepEqual(back.uploadPacket.value.data, data);
  }
});

Deno.test("a message frame: flag 0, the length big-endian, the bytes", () => {
  const frame = messageFrame(new Uint8Array([9, 8, 7]));
  assert.deepEqual(frame, new Uint8Array([0, 0, 0, 0, 3, 9, 8, 7]));
});

Deno.test("the hand-made upload messages match the embedded descriptor set, field by field", () => {
  const checked = new Set<string>();
  const made: MethodInfo = DataSyncService.methods.fileUpload;
  const real = viamService(DataSyncService.typeName).methods.fileUpload;
  assert.deepEqual([made.name, made.kind], [real.name, real.kind]);
  assertMatchesDescriptorSet(made.I, checked);
  assertMatchesDescriptorSet(made.O, checked);
  assert.ok(checked.size >= 5, [...checked].join(", "));
});

Deno.test("a push's messages are the bytes the full schema makes and reads", () => {
  const FullRequest = viamService(DataSyncService.typeName).methods.fileUpload.I;
  const metadata = {
    partId: "part-1",
    type: 3,
    fileName: "models/detector.tflite",
    fileExtension: ".tflite",
    tags: ["fleet", "a"],
    datasetIds: ["ds-1"],
    mimeType: "application/octet-stream",
    fileModifyTime: Timestamp.fromDate(new Date(1_760_000_000_123)),
  };
  const request = { uploadPacket: { case: "metadata", value: metadata } } as const;
  assert.deepEqual(
    new (DataSyncService.methods.fileUpload.I)(request).toBinary(),
    new FullRequest(request as never).toBinary(),
  );
  const DataService = viamService("viam.app.data.v1.DataService");
  const FullFilterRequest = DataService.methods.binaryDataByFilter.I;
  const listing = {
    dataRequest: {
      filter: {
        partId: "part-1",
        interval: {
          start: Timestamp.fromDate(new Date(1_760_000_000_000)),
          end: Timestamp.fromDate(new Date(1_760_000_100_000)),
        },
      },
      limit: protoInt64.uParse(100),
      last: "cursor",
      sortOrder: 2,
    },
    includeBinary: false,
  };
  assert.deepEqual(
    new BinaryDataByFilterRequest(listing).toBinary(),
    new FullFilterRequest(listing as never).toBinary(),
  );
  // An answer made with the full schema (with fields a push does not read) reads back, through
  // the decoder a sync pass lists with.
  const FullResponse = DataService.methods.binaryDataByFilter.O;
  const answer = new FullResponse({
    data: [{
      binary: new Uint8Array([1, 2, 3]),
      metadata: {
        id: "legacy",
        binaryDataId: "org/loc/file",
        fileName: "models/detector.tflite",
        fileExt: ".tflite",
        uri: "https://example.invalid/file",
        timeRequested: Timestamp.fromDate(new Date(1_760_000_000_500)),
        timeReceived: Timestamp.fromDate(new Date(1_760_000_001_500)),
        captureMetadata: { partId: "part-1", tags: ["fleet"] },
      },
    }],
    count: protoInt64.uParse(1),
    last: "next",
  } as never).toBinary();
  const read = decodeListingPage(answer);
  assert.equal(read.last, "next");
  assert.equal(read.items[0].binaryDataId, "org/loc/file");
  assert.equal(read.items[0].fileName, "models/detector.tflite");
  assert.equal(read.items[0].timeReceivedMs, 1_760_000_001_500);
  const FullReply = viamService(DataSyncService.typeName).methods.fileUpload.O;
  const reply = new FullReply({ fileId: "f", binaryDataId: "org/loc/f" } as never).toBinary();
  assert.equal(
    (DataSyncService.methods.fileUpload.O.fromBinary(reply) as unknown as { binaryDataId: string })
      .binaryDataId,
    "org/loc/f",
  );
});

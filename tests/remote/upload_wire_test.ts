import assert from "node:assert/strict";
import { messageFrame } from "../../src/remote/grpc_http2.ts";
import {
  CONTENT_FRAME_HEAD_BYTES,
  contentFrame,
  DataSyncService,
} from "../../src/remote/upload_wire.ts";

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

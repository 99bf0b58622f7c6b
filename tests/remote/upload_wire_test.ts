import assert from "node:assert/strict";
import { DataSyncService, fileContentsRequest } from "../../src/remote/upload_wire.ts";

const FileUploadRequest = DataSyncService.methods.fileUpload.I;

Deno.test("a content message encodes as the generated FileUploadRequest does, and decodes back", () => {
  // Sizes around the varint boundaries of both length fields.
  for (const size of [1, 3, 125, 126, 127, 128, 16_383, 16_384, 65_536, 300_000, 2_100_000]) {
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = (i * 31 + 7) & 0xff;
    const fast = fileContentsRequest(data);
    assert.ok(fast instanceof FileUploadRequest, "the transport must not convert it again");
    const generic = new FileUploadRequest({
      uploadPacket: { case: "fileContents", value: { data } },
    })
      .toBinary();
    assert.deepEqual(fast.toBinary(), generic, `size ${size}`);
    const back = FileUploadRequest.fromBinary(fast.toBinary()) as unknown as {
      uploadPacket: { case: string; value: { data: Uint8Array } };
    };
    assert.equal(back.uploadPacket.case, "fileContents");
    assert.deepEqual(back.uploadPacket.value.data, data);
  }
});

/**
 * The wire schema of the upload direction, as protobuf-es v1 / connect v1 message types made by
 * hand with the fields the push side reads and writes (field numbers:
 * `reference/viam-data-api.md`, section 11): `DataSyncService.FileUpload` (the calls both
 * directions make, sign-in and listing, are in `data_wire.ts`). A test holds each field to the
 * project's embedded descriptor set (`src/viam_api.ts`), which the push side does not load:
 * parsing that set and building its registry cost about 5.6 MB of heap in every push.
 * {@linkcode contentFrame} frames the content messages of `FileUpload` around bytes read in place.
 *
 * @example
 * ```ts
 * const { I: Request } = DataSyncService.methods.fileUpload;
 * const bytes = new Request({ uploadPacket: { case: "metadata", value: { fileName } } })
 *   .toBinary();
 * ```
 *
 * @module
 */

import { MethodKind, proto3, ScalarType, Timestamp } from "@bufbuild/protobuf";
import { varintBytes, writeVarint } from "./_wire_writer.ts";

const _STRING = ScalarType.STRING;
// Enums travel as varints: an int32 field reads and writes the same bytes for the values sent.
const _ENUM = ScalarType.INT32;

const _UploadMetadata = proto3.makeMessageType("viam.app.datasync.v1.UploadMetadata", [
  { no: 1, name: "part_id", kind: "scalar", T: _STRING },
  { no: 6, name: "type", kind: "scalar", T: _ENUM },
  { no: 7, name: "file_name", kind: "scalar", T: _STRING },
  { no: 9, name: "file_extension", kind: "scalar", T: _STRING },
  { no: 10, name: "tags", kind: "scalar", T: _STRING, repeated: true },
  { no: 12, name: "dataset_ids", kind: "scalar", T: _STRING, repeated: true },
  { no: 13, name: "mime_type", kind: "scalar", T: _STRING },
  { no: 15, name: "file_modify_time", kind: "message", T: Timestamp },
]);

const _FileData = proto3.makeMessageType("viam.app.datasync.v1.FileData", [
  { no: 1, name: "data", kind: "scalar", T: ScalarType.BYTES },
]);

/** `viam.app.datasync.v1.DataSyncService`: `FileUpload` is the client-streaming upload. */
export const DataSyncService = {
  typeName: "viam.app.datasync.v1.DataSyncService",
  methods: {
    fileUpload: {
      name: "FileUpload",
      I: proto3.makeMessageType("viam.app.datasync.v1.FileUploadRequest", [
        { no: 1, name: "metadata", kind: "message", T: _UploadMetadata, oneof: "upload_packet" },
        { no: 2, name: "file_contents", kind: "message", T: _FileData, oneof: "upload_packet" },
      ]),
      O: proto3.makeMessageType("viam.app.datasync.v1.FileUploadResponse", [
        { no: 2, name: "binary_data_id", kind: "scalar", T: _STRING },
      ]),
      kind: MethodKind.ClientStreaming,
    },
  },
} as const;

/**
 * Room a content frame takes before its bytes: the gRPC message prefix (5 bytes) and the headers
 * of `file_contents` and of its `data` (a tag byte and a varint length of at most 5 bytes each).
 */
export const CONTENT_FRAME_HEAD_BYTES = 5 + 2 * (1 + 5);

/**
 * The gRPC frame of a `FileUploadRequest` carrying `file_contents { data }`, built around bytes
 * already in place: `data` sits in `buffer` at {@linkcode CONTENT_FRAME_HEAD_BYTES}, `length` bytes
 * long, and the prefix and field headers are written right before it. Returns the frame, a view
 * of `buffer`: the file's bytes are read once, into the buffer the stream sends, and never copied
 * (the generic path copied them three times on their way to the socket).
 */
export function contentFrame(buffer: Uint8Array, length: number): Uint8Array {
  const inner = 1 + varintBytes(length) + length;
  const message = 1 + varintBytes(inner) + inner;
  const start = CONTENT_FRAME_HEAD_BYTES - (message - length) - 5;
  let at = start;
  buffer[at++] = 0; // not compressed
  new DataView(buffer.buffer, buffer.byteOffset + at, 4).setUint32(0, message);
  at += 4;
  buffer[at++] = (_FILE_CONTENTS_FIELD << 3) | 2;
  at = writeVarint(buffer, at, inner);
  buffer[at++] = (_DATA_FIELD << 3) | 2;
  at = writeVarint(buffer, at, length);
  return buffer.subarray(start, CONTENT_FRAME_HEAD_BYTES + length);
}

/** `FileUploadRequest.file_contents` (a `FileData`). */
const _FILE_CONTENTS_FIELD = 2;
/** `FileData.data`. */
const _DATA_FIELD = 1;

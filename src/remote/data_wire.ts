/**
 * The wire schema of the calls both directions make to the app, as protobuf-es v1 / connect v1
 * message types made by hand with the fields the program reads and writes (field numbers:
 * `reference/viam-data-api.md`, sections 2 and 7): `proto.rpc.v1.AuthService.Authenticate`, and
 * the requests of `viam.app.data.v1.DataService`'s `BinaryDataByFilter`, `BinaryDataByIDs` and
 * `CreateBinaryDataSignedURL`. Their answers are read by hand (`decodeListingPage`,
 * `decodeInlineBatch`) or with the small reply type here.
 *
 * Why not `@viamrobotics/sdk`'s generated types: loading its 800 KB bundle (every Viam API, the
 * WebRTC client) cost each pass about 100 ms of start-up and 22 MB of resident memory, to encode
 * four requests. A test holds every field here to the project's embedded descriptor set, and the
 * bytes to what the SDK sends for the same call.
 *
 * @example
 * ```ts
 * const bytes = new BinaryDataByIDsRequest({ binaryDataIds: ["org/loc/id"], includeBinary: true })
 *   .toBinary();
 * ```
 *
 * @module
 */

import { MethodKind, proto3, ScalarType, type ServiceType, Timestamp } from "@bufbuild/protobuf";
import { writeVarint } from "./_wire_writer.ts";

const _STRING = ScalarType.STRING;
// Enums travel as varints: an int32 field reads and writes the same bytes for the values sent.
const _ENUM = ScalarType.INT32;

const _CaptureInterval = proto3.makeMessageType("viam.app.data.v1.CaptureInterval", [
  { no: 1, name: "start", kind: "message", T: Timestamp },
  { no: 2, name: "end", kind: "message", T: Timestamp },
]);

const _TagsFilter = proto3.makeMessageType("viam.app.data.v1.TagsFilter", [
  { no: 1, name: "type", kind: "scalar", T: _ENUM },
  { no: 2, name: "tags", kind: "scalar", T: _STRING, repeated: true },
]);

/** `viam.app.data.v1.Filter`, with the fields a mirror or a push filters by. */
export const Filter = proto3.makeMessageType("viam.app.data.v1.Filter", [
  { no: 9, name: "part_id", kind: "scalar", T: _STRING },
  { no: 12, name: "mime_type", kind: "scalar", T: _STRING, repeated: true },
  { no: 13, name: "interval", kind: "message", T: _CaptureInterval },
  { no: 14, name: "tags_filter", kind: "message", T: _TagsFilter },
  { no: 15, name: "bbox_labels", kind: "scalar", T: _STRING, repeated: true },
  { no: 16, name: "dataset_id", kind: "scalar", T: _STRING },
]);

const _DataRequest = proto3.makeMessageType("viam.app.data.v1.DataRequest", [
  { no: 1, name: "filter", kind: "message", T: Filter },
  { no: 2, name: "limit", kind: "scalar", T: ScalarType.UINT64 },
  { no: 3, name: "last", kind: "scalar", T: _STRING },
  { no: 4, name: "sort_order", kind: "scalar", T: _ENUM },
]);

/** `viam.app.data.v1.Order`, as sent in `DataRequest.sort_order`. */
export const ORDER = { descending: 1, ascending: 2 } as const;

/** `viam.app.data.v1.BinaryDataByFilterRequest`: a listing page, or a count. */
export const BinaryDataByFilterRequest = proto3.makeMessageType(
  "viam.app.data.v1.BinaryDataByFilterRequest",
  [
    { no: 1, name: "data_request", kind: "message", T: _DataRequest },
    { no: 2, name: "include_binary", kind: "scalar", T: ScalarType.BOOL },
    { no: 3, name: "count_only", kind: "scalar", T: ScalarType.BOOL },
    { no: 4, name: "include_internal_data", kind: "scalar", T: ScalarType.BOOL },
  ],
);

const _BinaryDataByIDsFields = proto3.makeMessageType(
  "viam.app.data.v1.BinaryDataByIDsRequest",
  [
    { no: 2, name: "include_binary", kind: "scalar", T: ScalarType.BOOL },
    { no: 4, name: "binary_data_ids", kind: "scalar", T: _STRING, repeated: true },
  ],
);

/**
 * `viam.app.data.v1.BinaryDataByIDsRequest`: files by `binary_data_id`, bytes inline. Its
 * `toBinary` writes the same bytes as protobuf-es's (fields in number order, `include_binary` left
 * out when false) straight into one buffer: the generic writer's arrays and a buffer per id made 8
 * MiB of the garbage of a 10,020-file fresh copy (157 calls of 64 ids).
 */
export class BinaryDataByIDsRequest extends _BinaryDataByIDsFields {
  override toBinary(): Uint8Array {
    const { binaryDataIds, includeBinary } = this as unknown as {
      binaryDataIds: string[];
      includeBinary: boolean;
    };
    // At most three bytes per UTF-16 unit, five for a length, one for a tag.
    let most = includeBinary ? 2 : 0;
    for (const id of binaryDataIds) most += 6 + 3 * id.length;
    const out = new Uint8Array(most);
    let at = 0;
    if (includeBinary) {
      out[at++] = (2 << 3) | 0; // include_binary, varint
      out[at++] = 1;
    }
    for (const id of binaryDataIds) {
      out[at++] = (4 << 3) | 2; // binary_data_ids, length-delimited
      at = writeVarint(out, at, _utf8Length(id));
      at = _writeUtf8(out, at, id);
    }
    return out.subarray(0, at);
  }
}

const _encoder = new TextEncoder();

/** The bytes `TextEncoder` makes of `text` (a lone surrogate becomes U+FFFD: three bytes). */
function _utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && _isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function _isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/** Writes `text` as UTF-8 at `at` (ASCII byte by byte, the rest by `TextEncoder`). */
function _writeUtf8(out: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0x80) return at + _encoder.encodeInto(text.slice(i), out.subarray(at)).written;
    out[at++] = unit;
  }
  return at;
}

/** `viam.app.data.v1.DataService.CreateBinaryDataSignedURL`: a URL that needs no key. */
export const CreateBinaryDataSignedURL = {
  name: "CreateBinaryDataSignedURL",
  I: proto3.makeMessageType("viam.app.data.v1.CreateBinaryDataSignedURLRequest", [
    { no: 1, name: "binary_data_id", kind: "scalar", T: _STRING },
  ]),
  O: proto3.makeMessageType("viam.app.data.v1.CreateBinaryDataSignedURLResponse", [
    { no: 1, name: "signed_url", kind: "scalar", T: _STRING },
  ]),
  kind: MethodKind.Unary,
} as const;

const _Credentials = proto3.makeMessageType("proto.rpc.v1.Credentials", [
  { no: 1, name: "type", kind: "scalar", T: _STRING },
  { no: 2, name: "payload", kind: "scalar", T: _STRING },
]);

/** `proto.rpc.v1.AuthService` with its one method a client calls, `Authenticate`. */
export const AuthService = {
  typeName: "proto.rpc.v1.AuthService",
  methods: {
    authenticate: {
      name: "Authenticate",
      I: proto3.makeMessageType("proto.rpc.v1.AuthenticateRequest", [
        { no: 1, name: "entity", kind: "scalar", T: _STRING },
        { no: 2, name: "credentials", kind: "message", T: _Credentials },
      ]),
      O: proto3.makeMessageType("proto.rpc.v1.AuthenticateResponse", [
        { no: 1, name: "access_token", kind: "scalar", T: _STRING },
      ]),
      kind: MethodKind.Unary,
    },
  },
} as const satisfies ServiceType;

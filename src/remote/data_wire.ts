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

/** `viam.app.data.v1.BinaryDataByIDsRequest`: files by `binary_data_id`, bytes inline. */
export const BinaryDataByIDsRequest = proto3.makeMessageType(
  "viam.app.data.v1.BinaryDataByIDsRequest",
  [
    { no: 2, name: "include_binary", kind: "scalar", T: ScalarType.BOOL },
    { no: 4, name: "binary_data_ids", kind: "scalar", T: _STRING, repeated: true },
  ],
);

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

/**
 * The wire schema of the upload direction, as protobuf-es v1 / connect v1 descriptors:
 * `DataSyncService` (`FileUpload`) and `DataService` (to find uploads again) from the project's
 * embedded descriptor set, built on first use (`src/viam_api.ts`: not when the program starts,
 * whatever the command), and `proto.rpc.v1.AuthService`, which that set lacks, made by hand
 * (field numbers: `reference/viam-data-api.md`, section 7). {@linkcode contentFrame} frames the
 * content messages of `FileUpload` around bytes read in place.
 *
 * @example
 * ```ts
 * const { I: Request, O: Response } = AuthService.methods.authenticate;
 * const bytes = new Request({ entity, credentials: { type: "api-key", payload } }).toBinary();
 * const reply = Response.fromBinary(
 *   await unaryCall(connection, "/proto.rpc.v1.AuthService/Authenticate", bytes, options),
 * );
 * ```
 *
 * @module
 */

import {
  type Message,
  type MessageType,
  MethodKind,
  proto3,
  ScalarType,
  type ServiceType,
} from "@bufbuild/protobuf";
import { viamService } from "../viam_api.ts";

/** `viam.app.datasync.v1.DataSyncService`: `FileUpload` is the client-streaming upload. */
export const DataSyncService: ServiceType = _builtOnFirstUse(
  "viam.app.datasync.v1.DataSyncService",
);

/** `viam.app.data.v1.DataService`: `BinaryDataByFilter` finds a part's recent uploads. */
export const DataService: ServiceType = _builtOnFirstUse("viam.app.data.v1.DataService");

/**
 * The service `typeName` of the embedded set, whose methods are built when first read (building
 * the set's registry takes about 40 ms, which no command should pay at start-up).
 */
function _builtOnFirstUse(typeName: string): ServiceType {
  return {
    typeName,
    get methods() {
      return viamService(typeName).methods;
    },
  } as ServiceType;
}

const _Credentials = proto3.makeMessageType("proto.rpc.v1.Credentials", [
  { no: 1, name: "type", kind: "scalar", T: ScalarType.STRING },
  { no: 2, name: "payload", kind: "scalar", T: ScalarType.STRING },
]);

/** `proto.rpc.v1.AuthService` with its one method a client calls, `Authenticate`. */
export const AuthService = {
  typeName: "proto.rpc.v1.AuthService",
  methods: {
    authenticate: {
      name: "Authenticate",
      I: proto3.makeMessageType("proto.rpc.v1.AuthenticateRequest", [
        { no: 1, name: "entity", kind: "scalar", T: ScalarType.STRING },
        { no: 2, name: "credentials", kind: "message", T: _Credentials },
      ]),
      O: proto3.makeMessageType("proto.rpc.v1.AuthenticateResponse", [
        { no: 1, name: "access_token", kind: "scalar", T: ScalarType.STRING },
      ]),
      kind: MethodKind.Unary,
    },
  },
} as const satisfies ServiceType;

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
  _contentFields ??= _contentFieldNumbers();
  const [contentsField, dataField] = _contentFields;
  const inner = 1 + _varintBytes(length) + length;
  const message = 1 + _varintBytes(inner) + inner;
  const start = CONTENT_FRAME_HEAD_BYTES - (message - length) - 5;
  let at = start;
  buffer[at++] = 0; // not compressed
  new DataView(buffer.buffer, buffer.byteOffset + at, 4).setUint32(0, message);
  at += 4;
  buffer[at++] = (contentsField << 3) | 2;
  at = _writeVarint(buffer, at, inner);
  buffer[at++] = (dataField << 3) | 2;
  at = _writeVarint(buffer, at, length);
  return buffer.subarray(start, CONTENT_FRAME_HEAD_BYTES + length);
}

let _contentFields: [number, number] | undefined;

/** `FileUploadRequest.file_contents` (a `FileData`) and `FileData.data`, checked against the set. */
function _contentFieldNumbers(): [number, number] {
  const base = DataSyncService.methods.fileUpload.I as MessageType<Message>;
  const contentsField = _fieldNo(base, "file_contents");
  const dataField = _fieldNo((base.fields.find(contentsField) as { T: MessageType }).T, "data");
  return [contentsField, dataField];
}

function _fieldNo(type: MessageType, name: string): number {
  const field = type.fields.list().find((f) => f.name === name);
  if (field === undefined || field.no > 15) {
    throw new Error(`${type.typeName} has no field ${name} with a one-byte tag`);
  }
  return field.no;
}

function _varintBytes(n: number): number {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

function _writeVarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

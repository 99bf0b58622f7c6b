/**
 * The wire schema of the upload direction, as protobuf-es v1 / connect v1 descriptors:
 * `DataSyncService` (`FileUpload`) and `DataService` (to find uploads again) from the project's
 * embedded descriptor set, built on first use (`src/viam_api.ts`: not when the program starts,
 * whatever the command), and `proto.rpc.v1.AuthService`, which that set lacks, made by hand
 * (field numbers: `reference/viam-data-api.md`, section 7). {@linkcode fileContentsRequest} builds
 * the content messages of `FileUpload` with one copy of the bytes.
 *
 * @example
 * ```ts
 * import { createPromiseClient } from "@connectrpc/connect";
 * import { createGrpcTransport } from "@connectrpc/connect-node";
 * const transport = createGrpcTransport({ baseUrl: "http://127.0.0.1:8080", httpVersion: "2" });
 * const auth = createPromiseClient(AuthService, transport);
 * ```
 *
 * @module
 */

import {
  type BinaryWriteOptions,
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
 * A `FileUploadRequest` carrying `file_contents { data }`. It is the generated message as far as
 * the transport can tell (an instance of its class, so it is not converted again), but it encodes
 * itself directly: the two field headers and the bytes, copied once, where the generic writer
 * copies them three times (a tenth of a large upload's CPU).
 */
export function fileContentsRequest(data: Uint8Array): Message {
  _FileContentsRequest ??= _fileContentsClass();
  return new _FileContentsRequest(data);
}

let _FileContentsRequest: (new (data: Uint8Array) => Message) | undefined;

function _fileContentsClass(): new (data: Uint8Array) => Message {
  const base = DataSyncService.methods.fileUpload.I as MessageType<Message>;
  // `FileUploadRequest.file_contents` (a `FileData`) and `FileData.data`, checked against the set.
  const contentsField = _fieldNo(base, "file_contents");
  const dataField = _fieldNo(
    (base.fields.find(contentsField) as { T: MessageType }).T,
    "data",
  );
  return class extends (base as unknown as new () => Message) {
    readonly #data: Uint8Array;

    constructor(data: Uint8Array) {
      super();
      this.#data = data;
      // What the generic path would hold, for anything that reads the message as a message.
      (this as unknown as { uploadPacket: unknown }).uploadPacket = {
        case: "fileContents",
        value: { data },
      };
    }

    override toBinary(_options?: Partial<BinaryWriteOptions>): Uint8Array {
      const data = this.#data;
      const inner = 1 + _varintBytes(data.length) + data.length;
      const out = new Uint8Array(1 + _varintBytes(inner) + inner);
      let at = 0;
      out[at++] = (contentsField << 3) | 2;
      at = _writeVarint(out, at, inner);
      out[at++] = (dataField << 3) | 2;
      at = _writeVarint(out, at, data.length);
      out.set(data, at);
      return out;
    }
  };
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

/**
 * The wire schema of the upload direction, as protobuf-es v1 / connect v1 descriptors:
 * `DataSyncService` (`FileUpload`) and `DataService` (to find uploads again) from the project's
 * embedded descriptor set, and `proto.rpc.v1.AuthService`, which that set lacks, made by hand
 * (field numbers: `reference/viam-data-api.md`, section 7).
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
  createRegistryFromDescriptors,
  MethodKind,
  proto3,
  ScalarType,
  type ServiceType,
} from "@bufbuild/protobuf";
import { VIAM_DESCRIPTOR_SET } from "../gen/viam_descriptors.ts";

const _registry = createRegistryFromDescriptors(VIAM_DESCRIPTOR_SET);

function _service(typeName: string): ServiceType {
  const service = _registry.findService(typeName);
  if (service === undefined) throw new Error(`VIAM_DESCRIPTOR_SET lacks ${typeName}`);
  return service;
}

/** `viam.app.datasync.v1.DataSyncService`: `FileUpload` is the client-streaming upload. */
export const DataSyncService: ServiceType = _service("viam.app.datasync.v1.DataSyncService");

/** `viam.app.data.v1.DataService`: `BinaryDataByFilter` finds a part's recent uploads. */
export const DataService: ServiceType = _service("viam.app.data.v1.DataService");

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

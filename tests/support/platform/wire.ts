/**
 * The wire schema the local data platform serves, as protobuf-es v1 / connect v1 descriptors:
 * `DataService` and `DataSyncService` from the project's embedded descriptor set (so `BinaryMetadata` has
 * `file_size_bytes`, field 11), and hand-made `AuthService` and `DatasetService`, which that set
 * lacks (field numbers: `reference/viam-data-api.md`, sections 2 and 7).
 *
 * @module
 */

import {
  createRegistryFromDescriptors,
  MethodKind,
  proto3,
  ScalarType,
  type ServiceType,
  Timestamp,
} from "@bufbuild/protobuf";
import { VIAM_DESCRIPTOR_SET } from "../../../src/gen/viam_descriptors.ts";

const _registry = createRegistryFromDescriptors(VIAM_DESCRIPTOR_SET);
const _dataService = _registry.findService("viam.app.data.v1.DataService");
if (_dataService === undefined) {
  throw new Error("VIAM_DESCRIPTOR_SET lacks viam.app.data.v1.DataService");
}

/** `viam.app.data.v1.DataService`, every method (the platform implements the binary ones). */
export const DataService: ServiceType = _dataService;

const _dataSyncService = _registry.findService("viam.app.datasync.v1.DataSyncService");
if (_dataSyncService === undefined) {
  throw new Error("VIAM_DESCRIPTOR_SET lacks viam.app.datasync.v1.DataSyncService");
}

/** `viam.app.datasync.v1.DataSyncService` (the platform implements `FileUpload`). */
export const DataSyncService: ServiceType = _dataSyncService;

const _Credentials = proto3.makeMessageType("proto.rpc.v1.Credentials", [
  { no: 1, name: "type", kind: "scalar", T: ScalarType.STRING },
  { no: 2, name: "payload", kind: "scalar", T: ScalarType.STRING },
]);

const _AuthenticateRequest = proto3.makeMessageType("proto.rpc.v1.AuthenticateRequest", [
  { no: 1, name: "entity", kind: "scalar", T: ScalarType.STRING },
  { no: 2, name: "credentials", kind: "message", T: _Credentials },
]);

const _AuthenticateResponse = proto3.makeMessageType("proto.rpc.v1.AuthenticateResponse", [
  { no: 1, name: "access_token", kind: "scalar", T: ScalarType.STRING },
]);

/** `proto.rpc.v1.AuthService` with its one method the SDK calls, `Authenticate`. */
export const AuthService = {
  typeName: "proto.rpc.v1.AuthService",
  methods: {
    authenticate: {
      name: "Authenticate",
      I: _AuthenticateRequest,
      O: _AuthenticateResponse,
      kind: MethodKind.Unary,
    },
  },
} as const satisfies ServiceType;

const _Dataset = proto3.makeMessageType("viam.app.dataset.v1.Dataset", [
  { no: 1, name: "id", kind: "scalar", T: ScalarType.STRING },
  { no: 2, name: "name", kind: "scalar", T: ScalarType.STRING },
  { no: 3, name: "organization_id", kind: "scalar", T: ScalarType.STRING },
  { no: 4, name: "time_created", kind: "message", T: Timestamp },
]);

const _ListDatasetsByIDsRequest = proto3.makeMessageType(
  "viam.app.dataset.v1.ListDatasetsByIDsRequest",
  [{ no: 1, name: "ids", kind: "scalar", T: ScalarType.STRING, repeated: true }],
);

const _ListDatasetsByOrganizationIDRequest = proto3.makeMessageType(
  "viam.app.dataset.v1.ListDatasetsByOrganizationIDRequest",
  [{ no: 1, name: "organization_id", kind: "scalar", T: ScalarType.STRING }],
);

/** Both list responses have the same shape: `repeated Dataset datasets = 1`. */
const _datasetsField = [
  { no: 1, name: "datasets", kind: "message", T: _Dataset, repeated: true },
] as const;

/** `viam.app.dataset.v1.DatasetService`: the two listing methods. */
export const DatasetService = {
  typeName: "viam.app.dataset.v1.DatasetService",
  methods: {
    listDatasetsByIDs: {
      name: "ListDatasetsByIDs",
      I: _ListDatasetsByIDsRequest,
      O: proto3.makeMessageType(
        "viam.app.dataset.v1.ListDatasetsByIDsResponse",
        [..._datasetsField],
      ),
      kind: MethodKind.Unary,
    },
    listDatasetsByOrganizationID: {
      name: "ListDatasetsByOrganizationID",
      I: _ListDatasetsByOrganizationIDRequest,
      O: proto3.makeMessageType(
        "viam.app.dataset.v1.ListDatasetsByOrganizationIDResponse",
        [..._datasetsField],
      ),
      kind: MethodKind.Unary,
    },
  },
} as const satisfies ServiceType;

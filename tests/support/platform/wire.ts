/**
 * The wire schema the local data platform serves, as protobuf-es v1 / connect v1 descriptors:
 * `DataService` and `DataSyncService` whole, from the project's embedded descriptor set (so
 * `BinaryMetadata` has `file_size_bytes`, field 11, and an upload is read with the full schema,
 * not with the uploader's hand-made subset of it), `AuthService` as the uploader has it (the set
 * lacks it), and a hand-made `DatasetService`, which the set lacks too (field numbers:
 * `reference/viam-data-api.md`, section 2).
 *
 * @module
 */

import { MethodKind, proto3, ScalarType, type ServiceType, Timestamp } from "@bufbuild/protobuf";
import { viamService } from "../../../src/viam_api.ts";

/** `proto.rpc.v1.AuthService`: the program's own hand-made descriptor, shared. */
export { AuthService } from "../../../src/remote/data_wire.ts";

/** `viam.app.data.v1.DataService`, from the embedded descriptor set. */
export const DataService: ServiceType = viamService("viam.app.data.v1.DataService");

/** `viam.app.datasync.v1.DataSyncService`, from the embedded descriptor set. */
export const DataSyncService: ServiceType = viamService("viam.app.datasync.v1.DataSyncService");

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

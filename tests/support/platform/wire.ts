/**
 * The wire schema the local data platform serves, as protobuf-es v1 / connect v1 descriptors:
 * `DataService`, `DataSyncService` and `AuthService` as the program's uploader has them (from the
 * embedded descriptor set, so `BinaryMetadata` has `file_size_bytes`, field 11), and a hand-made
 * `DatasetService`, which that set lacks (field numbers:
 * `reference/viam-data-api.md`, section 2).
 *
 * @module
 */

import { MethodKind, proto3, ScalarType, type ServiceType, Timestamp } from "@bufbuild/protobuf";

/** `AuthService`, `DataService` and `DataSyncService`: the program's own descriptors, shared. */
export { AuthService, DataService, DataSyncService } from "../../../src/remote/upload_wire.ts";

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

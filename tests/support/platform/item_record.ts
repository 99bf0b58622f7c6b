/**
 * The records the local data platform holds: plain objects, so a test can hold 100,000 items
 * cheaply. An item's bytes are not stored: they are generated from the item (see `content.ts`).
 *
 * @module
 */

/** One binary file on the local data platform, as its metadata says. */
export interface ItemRecord {
  /** `org/location/fileid`: the id every data API call takes. */
  binaryDataId: string;
  /** The organization id (first segment of `binaryDataId`). */
  organizationId: string;
  /** The location id (second segment of `binaryDataId`). */
  locationId: string;
  /** The file id (last segment of `binaryDataId`). */
  fileId: string;
  /** The deprecated `metadata.id` as sent: the file id, or empty (clients must fall back). */
  legacyId: string;
  /** `metadata.file_name`: may be empty, absolute, extension-less or hostile. */
  fileName: string;
  /** `metadata.file_ext`, such as `.jpeg`; may be empty. */
  fileExt: string;
  /** `capture_metadata.mime_type`. */
  mimeType: string;
  /** `capture_metadata.tags`. */
  tags: readonly string[];
  /** Labels of the bounding boxes in `metadata.annotations.bboxes`. */
  bboxLabels: readonly string[];
  /**
   * The `confidence` of each of those boxes, when they have one (`optional double`: absent is not
   * 0). Box `k` spans x `(10 + k)/100`..`0.7`, y `(20 + k)/100`..`0.8`.
   */
  bboxConfidence?: number;
  /** Labels of `metadata.annotations.classifications` (never matched by `bbox_labels`). */
  classificationLabels: readonly string[];
  /** `metadata.dataset_ids`. */
  datasetIds: readonly string[];
  /** `metadata.file_size_bytes`: the length of the generated content. */
  sizeBytes: number;
  /** `metadata.time_requested` in epoch milliseconds; the listing order sorts by it. */
  timeRequestedMs: number;
  /** `metadata.time_received` in epoch milliseconds. */
  timeReceivedMs: number;
  /** Content generation: a different revision under the same id gives different bytes. */
  revision: number;
  /** `capture_metadata.part_id`; absent means the platform's one sample part. */
  partId?: string;
  /**
   * The bytes of an item that came in through `FileUpload`, as the chunks received (their lengths
   * add up to `sizeBytes`); absent for generated items, whose bytes follow from `revision`.
   */
  uploadedChunks?: readonly Uint8Array[];
  /** `UploadMetadata.file_modify_time` of an uploaded item, in epoch milliseconds, when sent. */
  fileModifyTimeMs?: number;
}

/** One Viam dataset (`viam.app.dataset.v1.Dataset`). */
export interface DatasetRecord {
  /** The dataset id, as items name it in `datasetIds`. */
  id: string;
  /** The dataset's display name. */
  name: string;
  /** The organization owning it. */
  organizationId: string;
  /** `time_created` in epoch milliseconds. */
  timeCreatedMs: number;
}

/** Everything the local data platform serves: its binary items and its datasets. */
export interface PlatformDataset {
  /** The binary items, in any order (the platform sorts them for listing). */
  items: readonly ItemRecord[];
  /** The datasets `ListDatasetsByIDs` knows. */
  datasets: readonly DatasetRecord[];
}

/**
 * The local data platform for tests, the demo and the benchmarks: a server speaking the Viam app
 * API as `@viamrobotics/sdk` calls it and `FileUpload` as the uploader sends it, its data set builders and its deterministic content.
 *
 * @module
 */

export { CALL_NAMES, type CallCounts, type CallName } from "./calls.ts";
export {
  type ChunkOptions,
  type ContentRange,
  DEFAULT_CHUNK_BYTES,
  itemBytes,
  itemChunks,
} from "./content.ts";
export type { ApiKey } from "./credentials.ts";
export {
  DEFAULT_LOCATION_ID,
  DEFAULT_ORGANIZATION_ID,
  DEFAULT_START_TIME_MS,
  describeDataset,
  type DescribeOptions,
  HOSTILE_NAME_COUNT,
  type ItemGroup,
  type NamingStyle,
  type Varying,
} from "./describe_dataset.ts";
export type { Faults } from "./faults.ts";
export type { DatasetRecord, ItemRecord, PlatformDataset } from "./item_record.ts";
export {
  CONTENT_OF_LIMIT_BYTES,
  DEFAULT_INLINE_LIMIT_BYTES,
  MAX_MESSAGE_BYTES,
  type Platform,
  startPlatform,
  type StartPlatformOptions,
} from "./platform.ts";
export type { RangeRecord } from "./platform_state.ts";
export {
  DEFAULT_PAGE_LIMIT,
  DEFAULT_SIGNED_URL_MINUTES,
  MAX_PAGE_LIMIT,
  MAX_SIGNED_URL_MINUTES,
} from "./rpc_services.ts";
export { type ClientKey, connectSdk, fetchAccessToken } from "./clients.ts";
export { SAMPLE_DATASET_ID, sampleDataset } from "./sample_dataset.ts";
export { SAMPLE_PART_ID } from "./dataset_index.ts";
export { DATA_TYPE_FILE, type UploadCounts } from "./upload_service.ts";

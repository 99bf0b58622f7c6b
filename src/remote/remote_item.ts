/**
 * One binary file as the data platform lists it, reduced to what mirroring needs.
 *
 * A listing of 100,000 items keeps 100,000 of these, so it holds plain strings and numbers rather
 * than the SDK's message objects.
 */
export interface RemoteItem {
  /** `org/location/fileid`: the id every data API call takes. Never a file name. */
  binaryDataId: string;
  /** The bare file id: `metadata.id`, or the last segment of `binaryDataId` when that is empty. */
  fileId: string;
  /** `metadata.file_name`: may be empty, absolute, lack its extension, or try to escape. */
  fileName: string;
  /** `metadata.file_ext`, such as `.jpeg`; may be empty. */
  fileExt: string;
  /** `capture_metadata.mime_type`; may be empty. */
  mimeType: string;
  /** `metadata.uri`: where the bytes can be fetched over HTTP with auth headers; may be empty. */
  uri: string;
  /** `metadata.file_size_bytes` when the platform sent it. */
  sizeBytes?: number;
  /** `metadata.time_requested` in epoch milliseconds, when set: what the listing shards by. */
  timeRequestedMs?: number;
}

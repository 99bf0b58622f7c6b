/**
 * One listed item as the engine sees it, decoupled from the SDK's messages: its id, name, size, times,
 * uri and the metadata the manifest writes.
 *
 * @module
 */
/**
 * One binary file as the data platform lists it, reduced to what mirroring needs.
 *
 * It holds plain strings and numbers rather than the SDK's message objects. A page's items live
 * only while the page is handled: the listing index keeps a compact form of each (without the
 * manifest's fields: tags, bboxes, dataset ids), and the manifest streams those fields to a file.
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
  /**
   * The first of its name fields (`file_name`, `file_ext`, `id`, `binary_data_id`) whose bytes on
   * the wire were not valid UTF-8, when one was: such an item is refused (`localPathFor`).
   */
  notUtf8?: string;
  /** `metadata.file_size_bytes` when the platform sent it. */
  sizeBytes?: number;
  /**
   * `metadata.time_requested` in epoch milliseconds, when set and within {@linkcode DATE_LIMIT_MS}:
   * what the listing shards by.
   */
  timeRequestedMs?: number;
  /**
   * How `timeRequestedMs` differs from the platform's `time_requested`, when it does:
   * `"rounded-up"` when the time fell inside a millisecond (the item lies strictly between
   * `timeRequestedMs - 1` and `timeRequestedMs`), `"beyond-dates"` when it was set but past what a
   * Date holds (`timeRequestedMs` is then unset). The listing's tail check counts by it
   * (`list_remote.ts`): an interval from a millisecond counts neither an item inside the one before
   * nor one with no time, but does count one far in the future.
   */
  timeRequestedInexact?: "rounded-up" | "beyond-dates";
  /**
   * `metadata.time_received` in epoch milliseconds, when set and within {@linkcode DATE_LIMIT_MS}:
   * when the platform stored it.
   */
  timeReceivedMs?: number;
  /** `capture_metadata.tags`; absent or empty when untagged. For the manifest only. */
  tags?: string[];
  /** `annotations.bboxes`; absent or empty when none. For the manifest only. */
  bboxes?: BoundingBox[];
  /** `dataset_ids`: the datasets holding the item; absent or empty when none. For the manifest only. */
  datasetIds?: string[];
}

/** One bounding box of an item (`annotations.bboxes`), its corners normalized to 0..1. */
export interface BoundingBox {
  /** The box's label. */
  label: string;
  /** `x_min_normalized`. */
  xMin: number;
  /** `y_min_normalized`. */
  yMin: number;
  /** `x_max_normalized`. */
  xMax: number;
  /** `y_max_normalized`. */
  yMax: number;
  /** The detector's confidence, 0..1, when the platform sent one. */
  confidence?: number;
}

/**
 * The times a JavaScript Date holds lie strictly within this many ms of 1970 (±100,000,000 days;
 * the limit itself is left out, so that one ms past the last such time still makes a Date). A
 * Timestamp's seconds reach much further, and nothing makes a platform check its dates: a listed
 * time beyond this is taken as unset, and a window edge beyond it bounds nothing.
 */
export const DATE_LIMIT_MS = 8.64e15;

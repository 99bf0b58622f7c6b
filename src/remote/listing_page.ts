/**
 * Reads a `BinaryDataByFilterResponse` straight into the listing's items, with protobuf-es's wire
 * reader: only the fields a pass uses, no message objects. The SDK's decoding builds eight objects
 * per item through reflection (metadata, capture metadata, two timestamps, annotations, boxes),
 * which then became a `RemoteItem`: a no-op pass over 10,020 items spent 0.2 s decoding and as
 * much again collecting that garbage, in a process that lives for one pass.
 *
 * Field numbers are those of `viam.app.data.v1` (`reference/viam-data-api.md`; checked against
 * the SDK's generated types by the tests). Unknown fields are skipped; a singular message that
 * occurs twice is merged, as protobuf requires.
 *
 * @example
 * ```ts
 * const page = decodeListingPage(responseBytes);
 * for (const item of page.items) console.log(item.fileName, item.sizeBytes);
 * ```
 *
 * @module
 */
import { BinaryReader, WireType } from "@bufbuild/protobuf";
import { type BoundingBox, DATE_LIMIT_MS, type RemoteItem } from "./remote_item.ts";
import { messageEnd, readInt64, readTag, readUint64, readUtf8, skipField } from "./_wire_reader.ts";
import type { ListPage } from "./remote_source.ts";

/** A listing page: the items, the cursor, and `count` (set by a `count_only` call). */
export interface DecodedListingPage extends ListPage {
  /** `count`: the number of matches, in a `count_only` answer (0 otherwise). */
  count: number;
}

/**
 * The most items a page may hold: ten times the largest page the program asks for (100). Past it
 * the answer is refused as it is read: 700,000 items in one 16 MiB answer (or two million empty
 * ones in 4 MiB) ran the process out of memory before the listing's own item cap was checked.
 */
export const MAX_PAGE_ITEMS = 1000;

/** Decodes a `BinaryDataByFilterResponse` (refusing one of more than {@linkcode MAX_PAGE_ITEMS}). */
export function decodeListingPage(bytes: Uint8Array): DecodedListingPage {
  // One reader for the whole response: nested messages are read up to their end offset, as the
  // generated code does, rather than each through a reader (and a TextDecoder) of its own.
  const reader = new BinaryReader(bytes);
  const page: DecodedListingPage = { items: [], last: "", count: 0, bytes: bytes.length };
  while (reader.pos < reader.len) {
    const tag = readTag(reader), field = tag >>> 3, wireType: WireType = tag & 7;
    if (field === 1 && wireType === WireType.LengthDelimited) {
      if (page.items.length === MAX_PAGE_ITEMS) {
        throw new RangeError(`a listing page of more than ${MAX_PAGE_ITEMS} items`);
      }
      page.items.push(_binaryData(reader, messageEnd(reader)));
    } else if (field === 2 && wireType === WireType.Varint) {
      page.count = readUint64(reader);
    } else if (field === 3 && wireType === WireType.LengthDelimited) {
      page.last = reader.string();
    } else skipField(reader, wireType);
  }
  return page;
}

/** `BinaryData`: field 2 is the metadata (field 1, the bytes, is empty in a listing). */
function _binaryData(reader: BinaryReader, end: number): RemoteItem {
  const item: RemoteItem = {
    binaryDataId: "",
    fileId: "",
    fileName: "",
    fileExt: "",
    mimeType: "",
    uri: "",
    sizeBytes: undefined,
    timeRequestedMs: undefined,
    timeRequestedInexact: undefined,
    timeReceivedMs: undefined,
    tags: [],
    bboxes: [],
    datasetIds: [],
  };
  while (reader.pos < end) {
    const tag = readTag(reader), field = tag >>> 3, wireType: WireType = tag & 7;
    if (field === 2 && wireType === WireType.LengthDelimited) {
      _metadata(reader, messageEnd(reader), item);
    } else skipField(reader, wireType);
  }
  // `id` is the legacy file id; when absent it is the last part of the binary data id.
  if (item.fileId === "") {
    item.fileId = item.binaryDataId.slice(item.binaryDataId.lastIndexOf("/") + 1);
  }
  // Past any Date: taken as unset, so it neither bounds the listing's shards nor reaches the
  // manifest (every pass failed on such an item before), but marked: the listing's tail check counts
  // it. Once the parts are merged: a time sent in parts is whole only now.
  if (item.timeRequestedMs !== undefined && _withinDates(item.timeRequestedMs) === undefined) {
    item.timeRequestedMs = undefined;
    item.timeRequestedInexact = "beyond-dates";
  }
  item.timeReceivedMs = _withinDates(item.timeReceivedMs);
  return item;
}

/** A name field's text; one that was not valid UTF-8 is named in `item.notUtf8`. */
function _utf8(reader: BinaryReader, item: RemoteItem, field: string): string {
  const { text, valid } = readUtf8(reader);
  if (!valid) item.notUtf8 ??= field;
  return text;
}

/** `ms` when a Date can hold it ({@linkcode DATE_LIMIT_MS}), else undefined. */
function _withinDates(ms: number | undefined): number | undefined {
  return ms !== undefined && Math.abs(ms) < DATE_LIMIT_MS ? ms : undefined;
}

/** `BinaryMetadata`. */
function _metadata(reader: BinaryReader, end: number, item: RemoteItem): void {
  while (reader.pos < end) {
    const tag = readTag(reader), field = tag >>> 3, wireType: WireType = tag & 7;
    if (wireType === WireType.LengthDelimited) {
      switch (field) {
        case 1:
          item.fileId = _utf8(reader, item, "id");
          continue;
        case 2:
          _captureMetadata(reader, messageEnd(reader), item);
          continue;
        case 3:
          item.timeRequestedMs = _timestampMs(
            reader,
            messageEnd(reader),
            item.timeRequestedMs,
            (subMs) => item.timeRequestedInexact = subMs ? "rounded-up" : undefined,
          );
          continue;
        case 4:
          item.timeReceivedMs = _timestampMs(reader, messageEnd(reader), item.timeReceivedMs);
          continue;
        case 5:
          item.fileName = _utf8(reader, item, "file_name");
          continue;
        case 6:
          item.fileExt = _utf8(reader, item, "file_ext");
          continue;
        case 7:
          item.uri = reader.string();
          continue;
        case 8:
          _annotations(reader, messageEnd(reader), item.bboxes!);
          continue;
        case 9:
          item.datasetIds!.push(reader.string());
          continue;
        case 10:
          item.binaryDataId = _utf8(reader, item, "binary_data_id");
          continue;
      }
    } else if (field === 11 && wireType === WireType.Varint) {
      // `file_size_bytes`: not in the SDK's types (0.61.1), but sent by the platform.
      // Past 2^53 it is no byte count (nor a file any disk holds): taken as unset, as a time past
      // any Date is, rather than failing the pass at the staging of its download.
      const size = readUint64(reader);
      item.sizeBytes = Number.isSafeInteger(size) ? size : undefined;
      continue;
    }
    skipField(reader, wireType);
  }
}

/** `CaptureMetadata`: the tags (12) and the MIME type (13). */
function _captureMetadata(reader: BinaryReader, end: number, item: RemoteItem): void {
  while (reader.pos < end) {
    const tag = readTag(reader), field = tag >>> 3, wireType: WireType = tag & 7;
    if (field === 12 && wireType === WireType.LengthDelimited) item.tags!.push(reader.string());
    else if (field === 13 && wireType === WireType.LengthDelimited) item.mimeType = reader.string();
    else skipField(reader, wireType);
  }
}

/**
 * `google.protobuf.Timestamp` in epoch milliseconds (rounded up), merged into `previous` if there
 * was one; `onNanos` is told, for each nanos field, whether it fell inside a millisecond.
 */
function _timestampMs(
  reader: BinaryReader,
  end: number,
  previous: number | undefined,
  onNanos?: (subMs: boolean) => void,
): number {
  let seconds = previous === undefined ? 0 : Math.floor(previous / 1000);
  let nanos = previous === undefined ? 0 : (previous - seconds * 1000) * 1_000_000;
  while (reader.pos < end) {
    const tag = readTag(reader), field = tag >>> 3, wireType: WireType = tag & 7;
    if (field === 1 && wireType === WireType.Varint) seconds = readInt64(reader);
    else if (field === 2 && wireType === WireType.Varint) {
      nanos = reader.int32();
      onNanos?.(nanos % 1_000_000 !== 0);
    } else skipField(reader, wireType);
  }
  // As the generated `Timestamp.toDate` rounds.
  return seconds * 1000 + Math.ceil(nanos / 1_000_000);
}

/** `Annotations`: the bounding boxes (1); classifications are not used. */
function _annotations(reader: BinaryReader, end: number, boxes: BoundingBox[]): void {
  while (reader.pos < end) {
    const tag = readTag(reader), field = tag >>> 3, wireType: WireType = tag & 7;
    if (field === 1 && wireType === WireType.LengthDelimited) {
      boxes.push(_box(reader, messageEnd(reader)));
    } else skipField(reader, wireType);
  }
}

/** `BoundingBox`: the label (2), the normalized corners (3-6) and the confidence (7, optional). */
function _box(reader: BinaryReader, end: number): BoundingBox {
  const box: BoundingBox = { label: "", xMin: 0, yMin: 0, xMax: 0, yMax: 0 };
  while (reader.pos < end) {
    const tag = readTag(reader), field = tag >>> 3, wireType: WireType = tag & 7;
    if (field === 2 && wireType === WireType.LengthDelimited) box.label = reader.string();
    else if (wireType === WireType.Bit64 && field >= 3 && field <= 7) {
      const value = reader.double();
      if (field === 3) box.xMin = value;
      else if (field === 4) box.yMin = value;
      else if (field === 5) box.xMax = value;
      else if (field === 6) box.yMax = value;
      else box.confidence = value;
    } else skipField(reader, wireType);
  }
  return box;
}

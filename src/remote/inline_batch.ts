/**
 * Reads a `BinaryDataByIDsResponse` into what an inline batch needs: each file's bytes by its
 * `binary_data_id`, as views of the response (no copy). Everything else an item's metadata carries
 * (capture metadata, timestamps, annotations) is skipped: the listing already read it, and
 * decoding it into message objects per file was garbage in the hottest path of a fresh copy.
 *
 * Field numbers are those of `viam.app.data.v1` (`reference/viam-data-api.md`, section 2; checked
 * against the SDK's encoding by the tests): `data = 1` (`BinaryData`: `binary = 1`, `metadata =
 * 2`), `BinaryMetadata.binary_data_id = 10`. As protobuf reads them, the last `binary` and the
 * last `binary_data_id` of an item win; an item without metadata is not a file of the batch. An id
 * answered twice with different bytes is no file of it either (its file then fails as not
 * returned): which answer is the file cannot be told.
 *
 * @example
 * ```ts
 * const files = decodeInlineBatch(responseBytes);
 * files.get("org/location/file-id"); // the file's bytes, a view of responseBytes
 * ```
 *
 * @module
 */
import { BinaryReader, WireType } from "@bufbuild/protobuf";
import { messageEnd, readTag, skipField } from "./_wire_reader.ts";

/** Decodes a `BinaryDataByIDsResponse` into the files' bytes by `binary_data_id`. */
export function decodeInlineBatch(bytes: Uint8Array): Map<string, Uint8Array> {
  const reader = new BinaryReader(bytes);
  const files = new Map<string, Uint8Array>();
  // Ids answered twice with different bytes: which is the file cannot be told, so neither is.
  let torn: Set<string> | undefined;
  while (reader.pos < reader.len) {
    const tag = readTag(reader), field = tag >>> 3, wireType: WireType = tag & 7;
    if (field === 1 && wireType === WireType.LengthDelimited) {
      const file = _binaryData(reader, messageEnd(reader), bytes);
      if (file === undefined || torn?.has(file.id)) continue;
      const before = files.get(file.id);
      if (before === undefined) files.set(file.id, file.binary);
      else if (!_sameBytes(before, file.binary)) {
        files.delete(file.id);
        (torn ??= new Set()).add(file.id);
      }
    } else skipField(reader, wireType);
  }
  return files;
}

function _sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `BinaryData`: its bytes (1) and its metadata (2), in either order; none without an id. */
function _binaryData(
  reader: BinaryReader,
  end: number,
  bytes: Uint8Array,
): { id: string; binary: Uint8Array } | undefined {
  let binary = bytes.subarray(0, 0);
  let id: string | undefined;
  while (reader.pos < end) {
    const tag = readTag(reader), field = tag >>> 3, wireType: WireType = tag & 7;
    if (field === 1 && wireType === WireType.LengthDelimited) {
      const length = reader.uint32();
      if (reader.pos + length > end) throw new RangeError("premature EOF");
      binary = bytes.subarray(reader.pos, reader.pos + length);
      reader.pos += length;
    } else if (field === 2 && wireType === WireType.LengthDelimited) {
      id = _binaryDataId(reader, messageEnd(reader), id ?? "");
    } else skipField(reader, wireType);
  }
  return id === undefined ? undefined : { id, binary };
}

/** `BinaryMetadata.binary_data_id` (10), or `previous` when this part of it has none. */
function _binaryDataId(reader: BinaryReader, end: number, previous: string): string {
  let id = previous;
  while (reader.pos < end) {
    const tag = readTag(reader), field = tag >>> 3, wireType: WireType = tag & 7;
    if (field === 10 && wireType === WireType.LengthDelimited) id = reader.string();
    else skipField(reader, wireType);
  }
  return id;
}

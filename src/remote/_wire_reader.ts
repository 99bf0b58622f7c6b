/**
 * The few steps the hand-written decoders (`listing_page.ts`, `inline_batch.ts`) take on top of
 * protobuf-es's `BinaryReader`, without the garbage its own `tag()` (an array per field) and
 * `skip()` (a view of what it skipped) make for every field of every item.
 *
 * @module
 */
import { type BinaryReader, WireType } from "@bufbuild/protobuf";

/** Reads a field's tag (field number × 8 + wire type), refusing field 0 and unknown wire types. */
export function readTag(reader: BinaryReader): number {
  const tag = reader.uint32();
  if (tag >>> 3 === 0 || (tag & 7) > WireType.Bit32) {
    throw new Error(`illegal tag: field no ${tag >>> 3} wire type ${tag & 7}`);
  }
  return tag;
}

/** Skips a field's value without making a view of it; refuses to move past the end. */
export function skipField(reader: BinaryReader, wireType: WireType): void {
  switch (wireType) {
    case WireType.Varint:
      reader.uint32(); // reads (and drops the high bits of) a varint of any length
      break;
    case WireType.Bit64:
      reader.pos += 8;
      break;
    case WireType.Bit32:
      reader.pos += 4;
      break;
    case WireType.LengthDelimited: {
      const length = reader.uint32();
      reader.pos += length;
      break;
    }
    default:
      reader.skip(wireType); // groups: not in these messages
  }
  if (reader.pos > reader.len) throw new RangeError("premature EOF");
}

/** Reads a length prefix: where the message it announces ends (refused past the buffer's end). */
export function messageEnd(reader: BinaryReader): number {
  const end = reader.uint32() + reader.pos;
  if (end > reader.len) throw new RangeError("premature EOF");
  return end;
}

// `ignoreBOM`: a leading U+FEFF is part of the name (dropped, "\uFEFFa.jpg" would land on "a.jpg").
const _lenient = new TextDecoder("utf-8", { ignoreBOM: true });
const _strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Reads a string field as protobuf-es's `string()` does (bad bytes become U+FFFD), but keeping a
 * leading byte-order mark, which that drops, and says whether its bytes were valid UTF-8: two
 * names that differ only in bad bytes decode to one, so a name from the platform that was not
 * valid UTF-8 must not become a path. Checked strictly only when the text holds a U+FFFD: no cost
 * for the usual name.
 */
export function readUtf8(reader: BinaryReader): { text: string; valid: boolean } {
  const bytes = reader.bytes();
  const text = _lenient.decode(bytes);
  if (!text.includes("\uFFFD")) return { text, valid: true };
  try {
    _strict.decode(bytes);
    return { text, valid: true };
  } catch {
    return { text, valid: false };
  }
}

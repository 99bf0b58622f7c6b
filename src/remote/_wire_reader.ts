/**
 * The few steps the hand-written decoders (`listing_page.ts`, `inline_batch.ts`) take on top of
 * protobuf-es's `BinaryReader`, without the garbage its own `tag()` (an array per field), `skip()`
 * (a view of what it skipped) and `int64()`/`uint64()` (an array and a BigInt) make for every
 * field of every item.
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

/** The low and high 32 bits of the varint {@linkcode _readVarint64} read last. */
let _low = 0;
let _high = 0;

/**
 * Reads a 64-bit varint into {@linkcode _low} and {@linkcode _high}, as protobuf-es's `varint64()`
 * does (the same bytes taken, the same errors), without the array it answers with.
 */
function _readVarint64(reader: BinaryReader): void {
  const buf = (reader as unknown as { buf: Uint8Array }).buf;
  let low = 0;
  let high = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    const byte = buf[reader.pos++];
    low |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return _ended(reader, low, high);
  }
  const middle = buf[reader.pos++];
  low |= (middle & 0x0f) << 28;
  high = (middle & 0x70) >> 4;
  if ((middle & 0x80) === 0) return _ended(reader, low, high);
  for (let shift = 3; shift <= 31; shift += 7) {
    const byte = buf[reader.pos++];
    high |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return _ended(reader, low, high);
  }
  throw new Error("invalid varint");
}

function _ended(reader: BinaryReader, low: number, high: number): void {
  if (reader.pos > reader.len) throw new RangeError("premature EOF");
  _low = low;
  _high = high;
}

/**
 * Reads a `uint64` field as `Number(reader.uint64())` does (rounded to the nearest double past
 * 2^53), without a BigInt and its two-number array: three of them per listed item.
 */
export function readUint64(reader: BinaryReader): number {
  _readVarint64(reader);
  // Below 2^31 the low word itself: a small integer V8 keeps in the field, where the product below
  // is a double it boxes (a listed item's size kept in 16 bytes more, 1.5 MB at 100,000 items).
  if (_high === 0 && _low >= 0) return _low;
  return (_high >>> 0) * 0x1_0000_0000 + (_low >>> 0); // exact parts, one rounding: as Number(bigint)
}

/** Reads an `int64` field as `Number(reader.int64())` does (see {@linkcode readUint64}). */
export function readInt64(reader: BinaryReader): number {
  _readVarint64(reader);
  return (_high | 0) * 0x1_0000_0000 + (_low >>> 0);
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

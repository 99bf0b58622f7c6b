/**
 * The varint the hand-written encoders (`data_wire.ts`, `upload_wire.ts`) write lengths with, into a
 * buffer they sized themselves: protobuf-es's `BinaryWriter` grows arrays of numbers instead.
 *
 * @module
 */

/** The bytes {@linkcode writeVarint} takes for `n` (a whole number below 2^53). */
export function varintBytes(n: number): number {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

/** Writes `n` (a whole number below 2^53) as a varint at `at` in `out`; returns where it ends. */
export function writeVarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

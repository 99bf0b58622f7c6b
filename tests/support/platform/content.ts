/**
 * Deterministic content of the local data platform's items: each byte is a function of the item
 * (`binaryDataId`, `revision`) and its offset, so a 1 GiB file costs no memory and any range of it
 * can be produced directly (for `Range` requests and for assertions). Items that came in through
 * `FileUpload` carry their bytes instead.
 *
 * Items whose MIME type is `image/jpeg` or `image/png` start with a real-looking header (JFIF APP0,
 * or PNG signature and IHDR), so sample files look like images to tools that sniff headers.
 *
 * @module
 */

import type { ItemRecord } from "./item_record.ts";

/** The chunk size {@linkcode itemChunks} yields by default. */
export const DEFAULT_CHUNK_BYTES = 64 * 1024;

/** A byte range of an item's content: `[start, end)`. */
export interface ContentRange {
  /** First offset; defaults to 0. */
  start?: number;
  /** Offset after the last byte; defaults to the item's size. */
  end?: number;
}

/** Options of {@linkcode itemChunks}. */
export interface ChunkOptions extends ContentRange {
  /** Bytes per yielded chunk (the last may be shorter); defaults to {@linkcode DEFAULT_CHUNK_BYTES}. */
  chunkBytes?: number;
}

/** Bytes per generated block: every block is seeded on its own, so any offset is reachable. */
const BLOCK_BYTES = 4096;

/**
 * The content of an item (or the given range of it) as one array. Meant for small files and
 * assertions; stream large ones with {@linkcode itemChunks}.
 */
export function itemBytes(item: ItemRecord, range: ContentRange = {}): Uint8Array {
  const [start, end] = _bounds(item, range);
  const out = new Uint8Array(end - start);
  _fill(item, start, out);
  return out;
}

/**
 * Writes the whole content of an item into `target`, which must be exactly its size: for a response
 * laid out around it. Aligned to 4 bytes, it is generated in place.
 */
export function writeItemBytes(item: ItemRecord, target: Uint8Array): void {
  if (target.length !== item.sizeBytes) {
    throw new RangeError(
      `target of ${target.length} bytes for ${item.binaryDataId} of ${item.sizeBytes} bytes`,
    );
  }
  _fill(item, 0, target);
}

/** The content of an item (or the given range of it) as successive chunks. */
export function* itemChunks(
  item: ItemRecord,
  options: ChunkOptions = {},
): Generator<Uint8Array, void, undefined> {
  const [start, end] = _bounds(item, options);
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0) {
    throw new RangeError(`chunkBytes must be a positive integer, got ${chunkBytes}`);
  }
  for (let offset = start; offset < end; offset += chunkBytes) {
    const chunk = new Uint8Array(Math.min(chunkBytes, end - offset));
    _fill(item, offset, chunk);
    yield chunk;
  }
}

function _bounds(item: ItemRecord, range: ContentRange): [number, number] {
  const start = range.start ?? 0;
  const end = range.end ?? item.sizeBytes;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`invalid content range [${start}, ${end}) of ${item.binaryDataId}`);
  }
  if (end > item.sizeBytes) {
    throw new RangeError(
      `content range end ${end} is past the size ${item.sizeBytes} of ${item.binaryDataId}`,
    );
  }
  return [start, end];
}

/** Writes the item's bytes from `offset` on into the whole of `target`. */
function _fill(item: ItemRecord, offset: number, target: Uint8Array): void {
  if (item.uploadedChunks !== undefined) return _copyUploaded(item.uploadedChunks, offset, target);
  const seed = _hash(`${item.binaryDataId}\u0000${item.revision}`);
  let scratch: Int32Array | undefined;
  let written = 0;
  while (written < target.length) {
    const position = offset + written;
    const index = Math.floor(position / BLOCK_BYTES);
    const within = position - index * BLOCK_BYTES;
    const n = Math.min(BLOCK_BYTES - within, target.length - written);
    const at = target.byteOffset + written;
    if (n === BLOCK_BYTES && at % 4 === 0) {
      // A whole, aligned block: generate in place, no copy.
      _generateBlock(seed, index, new Int32Array(target.buffer, at, BLOCK_BYTES / 4));
    } else {
      scratch ??= new Int32Array(BLOCK_BYTES / 4);
      _generateBlock(seed, index, scratch);
      target.set(new Uint8Array(scratch.buffer, within, n), written);
    }
    written += n;
  }
  const header = _headerOf(item);
  if (header.length <= item.sizeBytes && offset < header.length) {
    const from = header.subarray(offset, Math.min(header.length, offset + target.length));
    target.set(from, 0);
  }
}

/** Copies the uploaded bytes from `offset` on into the whole of `target`. */
function _copyUploaded(chunks: readonly Uint8Array[], offset: number, target: Uint8Array): void {
  let start = 0;
  let written = 0;
  for (const chunk of chunks) {
    if (written === target.length) return;
    const end = start + chunk.length;
    if (end > offset + written) {
      const from = offset + written - start;
      const n = Math.min(chunk.length - from, target.length - written);
      target.set(chunk.subarray(from, from + n), written);
      written += n;
    }
    start = end;
  }
}

/**
 * Fills one block from a counter seeded by the item seed and the block index, each word passed
 * through a bijective multiply-xorshift mix: cheap (about a second per GiB), all words of a block
 * distinct and every block starting elsewhere, so misplaced or misordered bytes show.
 */
function _generateBlock(seed: number, index: number, words: Int32Array): void {
  const high = Math.floor(index / 0x1_0000_0000);
  let x = _mix(seed ^ _mix(index >>> 0) ^ Math.imul(high, 0x9e3779b1)) | 0;
  for (let i = 0; i < words.length; i++) {
    x = (x + 0x6d2b79f5) | 0;
    const w = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d);
    words[i] = w ^ (w >>> 12);
  }
}

/** FNV-1a over the UTF-16 code units: a cheap, stable 32-bit hash. */
function _hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
}

/** The murmur3 finalizer: spreads every input bit over the output. */
function _mix(value: number): number {
  let h = value >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const _JPEG_HEADER = new Uint8Array([
  0xff,
  0xd8,
  0xff,
  0xe0,
  0x00,
  0x10,
  0x4a,
  0x46,
  0x49,
  0x46,
  0x00,
  0x01,
  0x01,
  0x00,
  0x00,
  0x01,
  0x00,
  0x01,
  0x00,
  0x00,
]);

const _PNG_HEADER = _pngHeader(640, 480);
const _NO_HEADER = new Uint8Array(0);

function _headerOf(item: ItemRecord): Uint8Array {
  if (item.mimeType === "image/jpeg") return _JPEG_HEADER;
  if (item.mimeType === "image/png") return _PNG_HEADER;
  return _NO_HEADER;
}

/** PNG signature plus an IHDR chunk (8-bit RGB) with its CRC. */
function _pngHeader(width: number, height: number): Uint8Array {
  const out = new Uint8Array(8 + 4 + 4 + 13 + 4);
  const view = new DataView(out.buffer);
  out.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 0);
  view.setUint32(8, 13);
  out.set(new TextEncoder().encode("IHDR"), 12);
  view.setUint32(16, width);
  view.setUint32(20, height);
  out.set([8, 2, 0, 0, 0], 24);
  view.setUint32(29, _crc32(out.subarray(12, 29)));
  return out;
}

/** CRC-32 (IEEE), as PNG chunks carry it. */
function _crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}

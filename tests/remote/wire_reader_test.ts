import assert from "node:assert/strict";
import fc from "fast-check";
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf";
import { readInt64, readUint64 } from "../../src/remote/_wire_reader.ts";

/** What `f` answers on `reader`, or the error it throws, with where the reader stopped. */
function outcome(reader: BinaryReader, f: (reader: BinaryReader) => number): string {
  try {
    return `${f(reader)} at ${reader.pos}`;
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`;
  }
}

Deno.test("readInt64 and readUint64 read what Number(int64()) and Number(uint64()) read", () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      fc.uint8Array({ maxLength: 12 }),
      (signed, unsigned, rest) => {
        const writer = new BinaryWriter();
        writer.int64(signed).uint64(unsigned).raw(rest);
        const bytes = writer.finish();
        const ours = new BinaryReader(bytes), theirs = new BinaryReader(bytes);
        assert.equal(outcome(ours, readInt64), outcome(theirs, (r) => Number(r.int64())));
        assert.equal(outcome(ours, readUint64), outcome(theirs, (r) => Number(r.uint64())));
        // Arbitrary bytes (a varint too long or cut short): the same value, or the same error.
        assert.equal(outcome(ours, readInt64), outcome(theirs, (r) => Number(r.int64())));
      },
    ),
    { numRuns: 50_000 },
  );
});

Deno.test("readUint64 rounds past 2^53 as Number(bigint) does", () => {
  for (const value of [2n ** 53n + 1n, 2n ** 64n - 1n, 2n ** 63n + 2n ** 10n + 1n]) {
    const reader = new BinaryReader(new BinaryWriter().uint64(value).finish());
    assert.equal(readUint64(reader), Number(value));
  }
});

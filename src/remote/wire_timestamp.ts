/**
 * A `google.protobuf.Timestamp` of an epoch-millisecond time, before 1970 too. protobuf-es 1.10's
 * `Timestamp.fromDate` takes the milliseconds' remainder with `%`, which is negative before 1970:
 * -1500 ms went out as -2 s and -500,000,000 ns, which a server reads as -2.5 s (Go's `AsTime`
 * adds the two), so a filter's `end` of 1969-12-31T23:59:58.500Z left out the last second before
 * it, and the files of the items there were deleted. The protobuf rule is nanos in [0, 1e9).
 *
 * @example
 * ```ts
 * timestampOfMs(-1500); // { seconds: -2n, nanos: 500_000_000 }
 * ```
 *
 * @module
 */
import { protoInt64, Timestamp } from "@bufbuild/protobuf";

/** `ms` (epoch milliseconds, whole) as a Timestamp whose nanos lie in [0, 1e9). */
export function timestampOfMs(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return new Timestamp({
    seconds: protoInt64.parse(seconds),
    nanos: Math.round((ms - seconds * 1000) * 1_000_000),
  });
}

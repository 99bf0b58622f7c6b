/**
 * Assertions shared by the platform's tests.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ConnectError, dataApi } from "@viamrobotics/sdk";

/** Asserts that `promise` rejects with a ConnectError of `code` whose message matches `pattern`. */
export async function assertConnectError(
  promise: Promise<unknown>,
  code: number,
  pattern: RegExp = /./,
): Promise<ConnectError> {
  const error = await promise.then(
    () => assert.fail(`expected a ConnectError with code ${code}, but the call succeeded`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ConnectError, `expected a ConnectError, got ${error}`);
  assert.equal(error.code, code, error.message);
  assert.match(error.message, pattern);
  return error;
}

/**
 * Whether `promise` settles within `ms`. Used only one way round: "still pending after `ms`" for
 * something held far longer (a minute of latency), so it cannot fail on a slow machine.
 */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settled = promise.then(() => true, () => true);
  const timeout = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `metadata.file_size_bytes` as the SDK 0.61.1 client received it: an unknown field 11 (varint),
 * since its `BinaryMetadata` has no such property. Undefined when the field was not sent.
 */
export function fileSizeBytesOf(
  metadata: InstanceType<typeof dataApi.BinaryMetadata>,
): bigint | undefined {
  const field = dataApi.BinaryMetadata.runtime.bin.listUnknownFields(metadata)
    .find((f) => f.no === 11);
  if (field === undefined) return undefined;
  assert.equal(field.wireType, 0, "file_size_bytes is a varint");
  let value = 0n;
  for (const [i, byte] of field.data.entries()) value |= BigInt(byte & 0x7f) << BigInt(7 * i);
  return value;
}

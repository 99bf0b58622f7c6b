/**
 * The calls the local data platform counts, by name.
 *
 * @module
 */

/** Every counted call: the RPC method names, and `download` for HTTP GETs of `uri`s and signed URLs. */
export const CALL_NAMES = [
  "Authenticate",
  "BinaryDataByFilter",
  "BinaryDataByIDs",
  "CreateBinaryDataSignedURL",
  "ListDatasetsByIDs",
  "ListDatasetsByOrganizationID",
  "FileUpload",
  "download",
] as const;

/** The name of a counted call. */
export type CallName = typeof CALL_NAMES[number];

/** How many times each call was received (answered or failed). */
export type CallCounts = Record<CallName, number>;

/** Counts with every call at zero. */
export function zeroCallCounts(): CallCounts {
  return Object.fromEntries(CALL_NAMES.map((name) => [name, 0])) as CallCounts;
}

/**
 * The counts of one pass, as the CLI's `--json` line and DoCommand report them.
 *
 * @module
 */
/** What one pass did. The CLI's `--json` line and the module's DoCommand results carry these keys. */
export interface Summary {
  /** Items the listing returned. */
  listed: number;
  /** Files written. */
  downloaded: number;
  /** Items whose file was already present. */
  skipped: number;
  /** Items that lost to another item mapped to the same path. */
  duplicate: number;
  /** Items whose name was unsafe (escapes the mirror, reserved, too long): not written. */
  rejected: number;
  /** Local files removed because the platform no longer has them. */
  deleted: number;
  /** Items or deletions that failed. */
  failed: number;
  /** Bytes written. */
  bytes: number;
  /** Wall time of the pass in milliseconds. */
  durationMs: number;
}

/** A summary with every count at zero. */
export function emptySummary(): Summary {
  return {
    listed: 0,
    downloaded: 0,
    skipped: 0,
    duplicate: 0,
    rejected: 0,
    deleted: 0,
    failed: 0,
    bytes: 0,
    durationMs: 0,
  };
}

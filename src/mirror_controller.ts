/**
 * What a running mirror answers to its shells (DoCommand, the CLI's `--watch`): its status, the
 * reports of a sync, a push and a dry run, and why a command was refused.
 *
 * @module
 */
import type { Summary } from "./sync/summary.ts";

/** What one push pass did (the upload side): its counts, and why it failed if it did. */
export interface PushSummary {
  /** Files found in the push folder. */
  found: number;
  /** Files uploaded (recovered ones included). */
  uploaded: number;
  /**
   * Of `uploaded`, files an earlier run had sent before it was cut off, found stored and not sent
   * again (omitted when none).
   */
  recovered?: number;
  /** Files left for later (settling, unchanged, backing off...). */
  skipped: number;
  /** Files deleted locally after their upload. */
  deleted: number;
  /** Files that failed. */
  failed: number;
  /** Of `skipped`, files waiting on their own retry delay after a failure (omitted when none). */
  waiting?: number;
  /** Of `failed`, refusals held until the file changes, not tried this pass (omitted when none). */
  held?: number;
  /** Bytes uploaded. */
  bytes: number;
  /** Wall time in milliseconds. */
  durationMs: number;
  /** Why the push pass as a whole failed, if it did. */
  error?: string;
  /** The first files that failed, and why (as a sync report's `failures`). */
  failures?: { path: string; error: string; permanent: boolean }[];
}

/**
 * What a sync run on demand answers: its summary and, when it is not whole, why: the listing did
 * not complete (`error`: nothing was deleted), a guard held work back (`guard`), or files failed
 * (`failures`, the first ones). A caller reading only the counts would take such a pass for a good
 * one.
 */
export interface SyncReport extends Summary {
  /** Why the listing did not complete (the pass deleted nothing). */
  error?: string;
  /** What the free-space reserve or a delete guard held back. */
  guard?: string;
  /** Files that failed, with why (at most 1000). */
  failures?: { path: string; error: string }[];
}

/** A push pass that did nothing (a failed one adds its `error`). */
export function emptyPushSummary(): PushSummary {
  return { found: 0, uploaded: 0, skipped: 0, deleted: 0, failed: 0, bytes: 0, durationMs: 0 };
}

/** What a mirror is doing now. */
export type MirrorState = "idle" | "syncing" | "backing_off" | "guarded" | "stopped";

/** A snapshot of a mirror's state, as DoCommand `status` returns it. Never holds a secret. */
export interface MirrorStatus {
  /** idle, syncing, backing_off (a pass failed; retrying later), guarded (a safety guard held work back), stopped. */
  state: MirrorState;
  /** The summary of the last pass that finished, if any. */
  lastSummary?: Summary;
  /** The last error, if the last pass failed. */
  lastError?: string;
  /** What the last pass did before it failed (files it deleted, downloaded), when it failed. */
  failedPass?: Summary;
  /** Why a guard held work back (empty listing with delete, free-space reserve), if one did. */
  guard?: string;
  /** When the next pass is due (ISO 8601), unless stopped. */
  nextPassAt?: string;
  /** The current backoff delay in seconds while backing off. */
  backoffSeconds?: number;
  /** Items failing lately, each retried on its own growing delay (up to one hour). */
  failingItems?: number;
  /** Passes run since start. */
  passes: number;
  /** Failed passes in a row. */
  consecutiveFailures: number;
  /** The last push pass, when a push folder is configured. */
  lastPush?: PushSummary;
}

/** What a pass would do, without doing it. Lists are capped; counts are exact. */
export interface DryRunReport {
  /** Items listed. */
  listed: number;
  /** Files already present. */
  skipped: number;
  /** Items losing to another item on the same path. */
  duplicate: number;
  /** Items with unsafe names. */
  rejected: number;
  /** How many files would be downloaded. */
  downloadCount: number;
  /** Bytes that would be downloaded, when sizes are known. */
  downloadBytes: number;
  /** How many files would be deleted. */
  deleteCount: number;
  /** The first paths that would be downloaded. */
  downloads: string[];
  /** The first paths that would be deleted. */
  deletes: string[];
  /**
   * How many listed items could not be written where they go (a nested mirror, a mount point or an
   * unreadable folder on the way, a folder at their path): a pass fails them.
   */
  conflictCount: number;
  /** The first of those, with why. */
  conflicts: { path: string; reason: string }[];
  /** Why deletion would be held back, if it would. */
  deleteBlocked?: string;
  /** Why the listing stopped early, if it did: the report then covers only what was listed. */
  error?: string;
}

/**
 * Why a mirror did not run a command asked of it: its configuration has no part for it
 * (`not-configured`: `push` without a `push_path`) or the mirror is stopping (`stopped`). A refusal,
 * not a failure of a run: the module answers FAILED_PRECONDITION and ABORTED, not INTERNAL.
 */
export class CommandRefusedError extends Error {
  /** Which refusal. */
  readonly reason: "not-configured" | "stopped";

  constructor(reason: "not-configured" | "stopped", message: string) {
    super(message);
    this.name = "CommandRefusedError";
    this.reason = reason;
  }
}

/** One running mirror (one module resource, or one CLI `--watch`): its loop, on demand passes and status. */
export interface MirrorController {
  /**
   * Runs a pass now, or joins the one in flight, and returns its report; rejects with a
   * {@linkcode CommandRefusedError} when the mirror is stopped.
   */
  syncNow(): Promise<SyncReport>;
  /** Lists and plans without changing anything. */
  dryRun(): Promise<DryRunReport>;
  /**
   * Runs a push pass now (or joins the one in flight) and returns its counts; rejects with a
   * {@linkcode CommandRefusedError} when no push folder is configured or the mirror is stopped.
   */
  pushNow(): Promise<PushSummary>;
  /** The current status. */
  status(): MirrorStatus;
  /** Stops the loop; an in-flight pass is cancelled without leaving partial files under final names. */
  stop(): Promise<void>;
}

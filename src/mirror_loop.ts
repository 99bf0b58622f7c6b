/**
 * The scheduler of one mirror: a pass at start and every `sync_frequency` seconds, backing off while
 * passes fail, with passes on demand and a clean stop.
 *
 * @example
 * ```ts
 * const loop = new MirrorLoop(config, { logger });
 * loop.start();
 * await loop.syncNow(); // runs a pass now, or joins the one in flight
 * await loop.stop();
 * ```
 *
 * @module
 */
import { backoffDelay } from "./async/backoff.ts";
import { collectGarbageNow } from "./async/heap_guard.ts";
import type { MirrorConfig } from "./config.ts";
import { describeError, PassCancelledError } from "./remote/errors.ts";
import { ItemBackoff } from "./async/item_backoff.ts";
import type { Logger } from "./logger.ts";
import { type BandwidthLimit, bandwidthLimitOf } from "./async/bandwidth_limit.ts";
import {
  CommandRefusedError,
  type DryRunReport,
  emptyPushSummary,
  type MirrorController,
  type MirrorState,
  type MirrorStatus,
  type PushSummary,
  type SyncReport,
} from "./mirror_controller.ts";
import type { RemoteSource } from "./remote/remote_source.ts";
import { emptySummary, type Summary } from "./sync/summary.ts";
import {
  dryRunPass,
  partialResultOf,
  type PassOptions,
  type PassResult,
  runPass,
} from "./sync/run_pass.ts";
import { partialPushOf } from "./push/run_push_pass.ts";
import { pushSummary } from "./push/push_side.ts";
import { ViamRemote } from "./remote/viam_remote.ts";

/** Failing passes are retried with a delay that grows up to this (one hour, as Viam's data sync). */
const _MAX_BACKOFF_MS = 60 * 60 * 1000;
/** The longest wait for the first pass after a restart that resumes a backoff (see `start`). */
const _RESUMED_BACKOFF_MAX_MS = 60_000;

/** Options of {@linkcode MirrorLoop}. */
export interface MirrorLoopOptions {
  /** Where passes report. */
  logger: Logger;
  /** Builds the remote (the real Viam client by default). */
  createRemote?: (config: MirrorConfig) => RemoteSource;
  /** Names this loop in the mirror lock. */
  owner?: string;
  /** Randomness for the backoff jitter (tests pass a fixed one). */
  random?: () => number;
  /** Called after every pass, e.g. to persist the status. */
  onPassEnd?: (status: MirrorStatus) => void;
  /**
   * Called when a push pass ends (on demand, after a pass, or of its own), with the status;
   * `ofItsOwn` when the push side's own timer started it (during a long pass or a backoff), not a
   * pass nor a caller.
   */
  onPushEnd?: (status: MirrorStatus, push: { ofItsOwn: boolean }) => void;
  /**
   * The level of the "sync pass done" line (default info): debug where the caller prints each
   * pass itself (`sync --watch`), so that a journal under systemd holds one line per pass.
   */
  passDoneLevel?: "info" | "debug";
  /** Passed through to every pass (progress, retry tuning). */
  pass?: Omit<PassOptions, "logger" | "signal" | "owner">;
  /**
   * The status saved before a restart with the same config: its counts carry on, and a backoff
   * still running is honoured instead of retrying at once.
   */
  resume?: MirrorStatus;
  /**
   * The push side, when a push folder is configured: runs one push pass, pacing its chunks with
   * the limiter the loop shares between both directions. It runs after every sync pass, every
   * interval while a sync pass runs longer or passes fail, and on demand
   * ({@linkcode MirrorLoop.pushNow}).
   */
  push?: (options: { signal: AbortSignal; bandwidth?: BandwidthLimit }) => Promise<PushSummary>;
  /**
   * Whether the push after a pass runs apart from it (the module): a slow push then holds neither
   * the next sync pass nor a `sync` asked meanwhile. The CLI's `--watch` reports each pass with
   * its push, so it waits for it.
   */
  pushApart?: boolean;
}

/**
 * The periodic scheduler of one mirror: a pass at start, then one every `sync_frequency` seconds
 * (counted from the end of the previous pass, so passes never overlap), backing off exponentially with
 * jitter while passes fail, up to one hour. A failing item is retried on its own growing delay instead,
 * so one broken file does not slow the whole mirror. A pass can be asked for now; stop cancels cleanly.
 */
export class MirrorLoop implements MirrorController {
  readonly #config: MirrorConfig;
  readonly #options: MirrorLoopOptions;
  readonly #remote: RemoteSource;
  readonly #abort = new AbortController();
  readonly #itemBackoff: ItemBackoff;
  #inFlight?: Promise<SyncReport>;
  #cutPass?: Summary;
  #pushInFlight?: Promise<PushSummary>;
  /** What the last passes found: the root's file system, a listing that matched nothing (`seen`). */
  readonly #mirrorSeen: NonNullable<PassOptions["seen"]> = {};
  #dryRunInFlight?: Promise<DryRunReport>;
  /** One limiter for both directions: `bandwidth_limit` covers the whole link. */
  readonly #bandwidth?: BandwidthLimit;
  #timer?: ReturnType<typeof setTimeout>;
  /** Push passes of their own while a sync pass runs or the sync side backs off. */
  #pushTimer?: ReturnType<typeof setInterval>;
  #state: MirrorState = "idle";
  #status: Omit<MirrorStatus, "state"> = { passes: 0, consecutiveFailures: 0 };

  /** Creates the loop; call {@linkcode MirrorLoop.start} to begin. */
  constructor(config: MirrorConfig, options: MirrorLoopOptions) {
    this.#config = config;
    this.#options = options;
    this.#remote = (options.createRemote ?? _viamRemote)(config);
    this.#bandwidth = bandwidthLimitOf(config);
    this.#itemBackoff = new ItemBackoff({
      minMs: this.#baseDelayMs(),
      maxMs: _MAX_BACKOFF_MS,
      random: options.random,
    });
    if (options.resume) {
      const { state: _, nextPassAt: __, ...kept } = options.resume;
      this.#status = { ...kept };
    }
  }

  /**
   * Runs the first pass now (or, resuming a backoff, when it ends, within a minute) and keeps the
   * schedule from then on.
   */
  start(): void {
    const resume = this.#options.resume;
    // A restart is often what ends the trouble (a robot rebooted once its network is back): the
    // saved backoff, up to an hour, is waited out for a minute at most. The failures are still
    // counted, so a pass that fails again backs off as far as before.
    const due = resume?.consecutiveFailures && resume.nextPassAt
      ? Math.min(Date.parse(resume.nextPassAt) - Date.now(), _RESUMED_BACKOFF_MAX_MS)
      : 0;
    if (due > 0) {
      this.#state = "backing_off";
      this.#options.logger.info(
        `resuming after ${resume!.consecutiveFailures} failed pass(es): next pass at ` +
          new Date(Date.now() + due).toISOString(),
      );
    }
    // The push side keeps its own pace through a resumed backoff too, as after a failed pass; a
    // resource that only pushes backs off its pushes themselves (its passes are its pushes).
    if (due > 0 && !this.#config.pushOnly) this.#startPushTimer();
    // Never later than the backoff saved (a clock put back since would stretch it), nor the longest.
    const saved = resume?.backoffSeconds === undefined
      ? _MAX_BACKOFF_MS
      : resume.backoffSeconds * 1000;
    this.#schedule(Math.min(Math.max(due, 0), saved, _MAX_BACKOFF_MS));
  }

  syncNow(): Promise<SyncReport> {
    if (this.#abort.signal.aborted) return Promise.reject(_stopped());
    // Asked of a resource that only pushes (its schedule runs `#runPass`): an all-zero sync
    // summary would answer for a push that may have failed.
    if (this.#config.pushOnly) return Promise.reject(_nothingToMirror());
    return this.#runPass();
  }

  /** Runs a scheduled pass now, or joins the one in flight. */
  #runPass(): Promise<SyncReport> {
    if (this.#inFlight) return this.#inFlight;
    clearTimeout(this.#timer);
    // A pass longer than the interval (a first mirror of gigabytes on a slow link takes hours) does
    // not hold the upload side: a folder filling on the robot is pushed at its pace meanwhile.
    if (this.#config.pushOnly) clearInterval(this.#pushTimer);
    else this.#startPushTimer();
    const pass = this.#pass();
    this.#inFlight = pass;
    pass.then(
      () => this.#afterPass(),
      () => this.#afterPass(),
    );
    return pass;
  }

  pushNow(): Promise<PushSummary> {
    return this.#push({ ofItsOwn: false });
  }

  #push(started: { ofItsOwn: boolean }): Promise<PushSummary> {
    const push = this.#options.push;
    if (push === undefined) {
      return Promise.reject(
        new CommandRefusedError("not-configured", "no push folder is configured (push_path)"),
      );
    }
    if (this.#abort.signal.aborted) return Promise.reject(_stopped());
    if (this.#pushInFlight) return this.#pushInFlight;
    const run = push({ signal: this.#abort.signal, bandwidth: this.#bandwidth }).then(
      (summary) => {
        this.#status.lastPush = summary;
        // Cut off by a stop (the resource removed or reconfigured): the caller is told so (the
        // module answers ABORTED, as for a cut sync pass), not handed counts that look like a pass.
        if (this.#abort.signal.aborted && summary.error !== undefined) {
          throw this.#abort.signal.reason;
        }
        return summary;
      },
      (error) => {
        // Failed part way: what it had sent and deleted is not to be told as nothing.
        const partial = partialPushOf(error);
        const counts = partial === undefined ? emptyPushSummary() : pushSummary(partial);
        this.#status.lastPush = { ...counts, error: describeError(error) };
        throw error;
      },
    ).finally(() => {
      this.#pushInFlight = undefined;
      if (this.#config.pushOnly && !this.#abort.signal.aborted) this.#settlePushOnly();
      this.#options.onPushEnd?.(this.status(), started);
    });
    this.#pushInFlight = run;
    return run;
  }

  /**
   * A resource that only pushes: its push passes are its passes, and so is their failure (a key
   * refused, the platform out of reach): the status says so and the passes back off, as a sync
   * pass's do (it said idle, no error, while every upload failed). A push asked for on its own
   * (DoCommand) sets the schedule too: one that ends well after a backoff ends the backoff.
   */
  #settlePushOnly(): void {
    const pushed = this.#status.lastPush;
    // Counted as a sync pass is: one that ended, whole or with files failing (it said 0 for good).
    if (pushed !== undefined && pushed.error === undefined) this.#status.passes++;
    if (pushed?.error !== undefined) this.#failed(pushed.error, false);
    else if (
      this.#status.consecutiveFailures > 0 && this.#status.lastError !== undefined &&
      pushed !== undefined && pushed.uploaded === 0 &&
      (pushed.failed - (pushed.held ?? 0) > 0 || (pushed.waiting ?? 0) > 0)
    ) {
      // Nothing went (its files wait on their own delays after the failure, or fail one by one,
      // too few to be "in a row"): no sign the failure ended, so it is still told and backed off
      // (the status went back to idle, no error, while every upload was refused). Files that are
      // not to go at all (empty, settling, kept and unchanged) say nothing of it: a pass finding
      // only those ends the failure (it was told, and backed off up to an hour, for good), and so
      // do refusals held until their file changes: not tried, they say nothing of it either.
      this.#failed(this.#status.lastError, false);
    } else {
      // Files that failed wait on their own delays (the journal's), as a sync's failing items.
      this.#status.consecutiveFailures = 0;
      this.#status.backoffSeconds = undefined;
      const first = pushed?.failures?.[0];
      this.#status.lastError = first
        ? `${pushed!.failed} file(s) not uploaded, e.g. ${first.path}: ${first.error}`
        : undefined;
      this.#state = "idle";
    }
    // The scheduled pass sets its own next one when it ends (`#afterPass`).
    if (this.#inFlight === undefined) this.#scheduleAfter();
  }

  /**
   * A caller asking while a dry run is in flight shares it, as `syncNow` and `pushNow` share theirs:
   * each dry run holds a whole listing, so eight DoCommand calls at once on 10,000 items held eight
   * (195 MB) before they were joined.
   */
  dryRun(): Promise<DryRunReport> {
    if (this.#config.pushOnly) return Promise.reject(_nothingToMirror());
    if (this.#dryRunInFlight) return this.#dryRunInFlight;
    const run = dryRunPass(this.#config, this.#remote, {
      ...this.#options.pass,
      logger: this.#options.logger,
      signal: this.#abort.signal,
    }).finally(() => this.#dryRunInFlight = undefined);
    this.#dryRunInFlight = run;
    return run;
  }

  status(): MirrorStatus {
    return { state: this.#state, ...this.#status };
  }

  /** Whether a pass (its sync part, or the push after it) is running now. */
  get passInFlight(): boolean {
    return this.#inFlight !== undefined;
  }

  /** What the pass `stop()` cut off had done, if it cut one (the CLI's `--watch` reports it). */
  get cutPass(): Summary | undefined {
    return this.#cutPass;
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    clearInterval(this.#pushTimer);
    this.#abort.abort();
    await this.#inFlight?.catch((error) => {
      if (error instanceof PassCancelledError) {
        this.#cutPass = (error.result as PassResult | undefined)?.summary;
      }
    });
    // A push of its own (while sync backed off) holds the push folder's lock and the uploader.
    await this.#pushInFlight?.catch(() => {});
    this.#state = "stopped";
    this.#status.nextPassAt = undefined;
  }

  #afterPass(): void {
    this.#inFlight = undefined;
    // The pass's garbage (its listing, index and plan) is returned now, while the loop sleeps,
    // rather than whenever V8 gets to it: on a 1 GB robot the resident size stays flat from pass
    // to pass (a full collection of a heap of a few MB takes milliseconds, once per pass).
    collectGarbageNow();
    if (this.#abort.signal.aborted) return;
    this.#scheduleAfter();
    // While passes fail the push side keeps its own pace; after a good one it comes with each pass.
    if (this.#status.consecutiveFailures > 0 && !this.#config.pushOnly) this.#startPushTimer();
    else clearInterval(this.#pushTimer);
    this.#options.onPassEnd?.(this.status());
  }

  /**
   * Push passes of their own, every interval, while a sync pass runs or passes fail (until a pass
   * ends well). The upload side keeps its own pace meanwhile: a folder filling on the robot does
   * not wait up to an hour for an unrelated download filter, a busy mirror, the platform's listing
   * or a long download. One in flight is joined, not doubled.
   */
  #startPushTimer(): void {
    if (this.#options.push === undefined) return;
    clearInterval(this.#pushTimer);
    this.#pushTimer = setInterval(() => {
      this.#pushAfterPass({ ofItsOwn: true }).catch(() => {});
    }, Math.max(this.#config.syncFrequencySeconds * 1000, 1000));
  }

  /** Schedules the next pass: an interval on, or the backoff while passes fail. */
  #scheduleAfter(): void {
    this.#schedule(
      this.#status.consecutiveFailures === 0
        ? this.#config.syncFrequencySeconds * 1000
        : this.#status.backoffSeconds! * 1000,
    );
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#status.nextPassAt = new Date(Date.now() + delayMs).toISOString();
    this.#timer = setTimeout(() => {
      if (!this.#abort.signal.aborted) this.#runPass().catch(() => {});
    }, delayMs);
  }

  async #pass(): Promise<SyncReport> {
    const { logger } = this.#options;
    if (this.#config.pushOnly) {
      // Nothing to list or mirror: each pass is the push side's.
      this.#status.nextPassAt = undefined;
      await this.#pushAfterPass(); // its outcome is the pass's (`#settlePushOnly`)
      return emptySummary();
    }
    this.#state = "syncing";
    this.#status.nextPassAt = undefined; // set again when this pass ends
    let result: PassResult;
    try {
      result = await runPass(this.#config, this.#remote, {
        ...this.#options.pass,
        logger,
        signal: this.#abort.signal,
        owner: this.#options.owner,
        itemBackoff: this.#itemBackoff,
        bandwidth: this.#bandwidth,
        seen: this.#mirrorSeen,
      });
    } catch (error) {
      if (this.#abort.signal.aborted) {
        this.#state = "stopped";
        const cut = error instanceof PassCancelledError ? error : new PassCancelledError();
        // What it had done by then (deletions included), as the pass-done line would say it.
        const done = (cut.result as PassResult | undefined)?.summary;
        logger.info("pass cancelled: the mirror was stopped", done && { ...done });
        throw cut;
      }
      // Nothing was held back by this pass: an earlier pass's guard is not shown beside its error.
      this.#status.guard = undefined;
      // What it did before it failed (deletes that ran, files placed): not to be told as nothing.
      const partial = partialResultOf(error)?.summary;
      if (partial !== undefined) this.#status.failedPass = partial;
      else delete this.#status.failedPass;
      this.#failed(describeError(error), this.#remote.classify(error) === "auth");
      logger.error(`sync pass failed: ${this.#status.lastError}`, {
        retryInSeconds: this.#status.backoffSeconds,
      });
      await this.#pushAfter(); // the sync side's failure is not the push side's
      throw error;
    }
    this.#status.passes++;
    this.#status.lastSummary = result.summary;
    delete this.#status.failedPass;
    this.#status.guard = result.guard;
    const { summary } = result;
    this.#status.failingItems = this.#itemBackoff.size || undefined;
    if (result.error) {
      this.#failed(result.error, false);
      logger.warn(`sync pass incomplete: ${this.#status.lastError}`, {
        retryInSeconds: this.#status.backoffSeconds,
      });
    } else {
      // Failing items wait on their own delays (the item backoff): the mirror keeps its pace.
      this.#status.consecutiveFailures = 0;
      this.#status.backoffSeconds = undefined;
      const first = result.failures[0];
      // Items that failed earlier and wait for their retry count as failed without a failure of
      // this pass: the reason is said all the same, not an exit code 1 with nothing beside it.
      this.#status.lastError = first
        ? `${summary.failed} item(s) failed, e.g. ${first.path}: ${first.error}`
        : summary.failed > 0
        ? `${summary.failed} item(s) failed in an earlier pass and wait for their next retry`
        : undefined;
      this.#state = result.guard ? "guarded" : "idle";
    }
    logger[this.#options.passDoneLevel ?? "info"]("sync pass done", { ...summary });
    await this.#pushAfter();
    return {
      ...summary,
      ...(result.error !== undefined && { error: result.error }),
      ...(result.guard !== undefined && { guard: result.guard }),
      ...(result.failures.length > 0 && { failures: result.failures }),
    };
  }

  /**
   * The push after a pass: awaited, or with `pushApart` started and left to run (a push stalled on
   * a slow uplink, minutes a file, must not hold the mirror's next pass, nor a `sync` asked
   * meanwhile; pushNow joins the push in flight).
   */
  async #pushAfter(): Promise<void> {
    if (this.#options.pushApart) void this.#pushAfterPass();
    else await this.#pushAfterPass();
  }

  /** The push side of a periodic pass: its failures are its own (logged, in the status). */
  async #pushAfterPass(started = { ofItsOwn: false }): Promise<void> {
    if (this.#options.push === undefined || this.#abort.signal.aborted) return;
    try {
      const { failures: _failures, ...counts } = await this.#push(started); // each logged already
      // The push pass logs its own summary line: this one, the same counts again, is for debugging
      // (at sync_frequency 1 it was a second line a second in viam-server's logs).
      this.#options.logger.debug("push pass done", counts);
    } catch (error) {
      if (this.#abort.signal.aborted) return;
      this.#options.logger.error(`push pass failed: ${describeError(error)}`);
    }
  }

  /** The first retry delay: the pass interval, kept between 1 s and 1 min. */
  #baseDelayMs(): number {
    return Math.min(Math.max(this.#config.syncFrequencySeconds * 1000, 1000), 60_000);
  }

  #failed(message: string, auth: boolean): void {
    const failures = ++this.#status.consecutiveFailures;
    // Refused credentials will not fix themselves in seconds: start those retries further out.
    const delay = backoffDelay(auth ? failures + 3 : failures, {
      minMs: this.#baseDelayMs(),
      maxMs: _MAX_BACKOFF_MS,
      random: this.#options.random,
    });
    this.#status.lastError = message;
    this.#status.backoffSeconds = Math.round(delay / 100) / 10;
    this.#state = "backing_off";
  }
}

function _viamRemote(config: MirrorConfig): RemoteSource {
  return new ViamRemote({
    appUrl: config.appUrl,
    apiKeyId: config.apiKeyId,
    apiKey: config.apiKey,
  });
}

/** The refusal of `sync` and `dry_run` asked of a resource that only pushes. */
function _nothingToMirror(): CommandRefusedError {
  return new CommandRefusedError(
    "not-configured",
    "this resource only pushes (push_path, and no tags, labels or dataset_id): nothing to " +
      "mirror; push runs its pass",
  );
}

/** The refusal of a command asked of a stopped mirror. */
function _stopped(): CommandRefusedError {
  return new CommandRefusedError("stopped", "the mirror is stopped");
}

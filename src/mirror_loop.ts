import { backoffDelay } from "./async/backoff.ts";
import type { MirrorConfig } from "./config.ts";
import { describeError, PassCancelledError } from "./remote/errors.ts";
import { ItemBackoff } from "./async/item_backoff.ts";
import type { Logger } from "./logger.ts";
import type {
  DryRunReport,
  MirrorController,
  MirrorState,
  MirrorStatus,
} from "./mirror_controller.ts";
import type { RemoteSource } from "./remote/remote_source.ts";
import type { Summary } from "./sync/summary.ts";
import { dryRunPass, type PassOptions, type PassResult, runPass } from "./sync/run_pass.ts";
import { ViamRemote } from "./remote/viam_remote.ts";

/** Failing passes are retried with a delay that grows up to this (one hour, as Viam's data sync). */
export const MAX_BACKOFF_MS = 60 * 60 * 1000;

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
  /** Passed through to every pass (progress, retry tuning). */
  pass?: Omit<PassOptions, "logger" | "signal" | "owner">;
  /**
   * The status saved before a restart with the same config: its counts carry on, and a backoff
   * still running is honoured instead of retrying at once.
   */
  resume?: MirrorStatus;
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
  #inFlight?: Promise<Summary>;
  #timer?: ReturnType<typeof setTimeout>;
  #state: MirrorState = "idle";
  #status: Omit<MirrorStatus, "state"> = { passes: 0, consecutiveFailures: 0 };

  /** Creates the loop; call {@linkcode MirrorLoop.start} to begin. */
  constructor(config: MirrorConfig, options: MirrorLoopOptions) {
    this.#config = config;
    this.#options = options;
    this.#remote = (options.createRemote ?? _viamRemote)(config);
    this.#itemBackoff = new ItemBackoff({
      minMs: this.#baseDelayMs(),
      maxMs: MAX_BACKOFF_MS,
      random: options.random,
    });
    if (options.resume) {
      const { state: _, nextPassAt: __, ...kept } = options.resume;
      this.#status = { ...kept };
    }
  }

  /**
   * Runs the first pass now (or, resuming a backoff, when it ends) and keeps the schedule from then
   * on.
   */
  start(): void {
    const resume = this.#options.resume;
    const due = resume?.consecutiveFailures && resume.nextPassAt
      ? Date.parse(resume.nextPassAt) - Date.now()
      : 0;
    if (due > 0) {
      this.#state = "backing_off";
      this.#options.logger.info(`resuming a backoff: next pass at ${resume!.nextPassAt}`);
    }
    // Never later than the longest backoff, whatever the saved file says.
    this.#schedule(Math.min(Math.max(due, 0), MAX_BACKOFF_MS));
  }

  syncNow(): Promise<Summary> {
    if (this.#abort.signal.aborted) return Promise.reject(new Error("the mirror is stopped"));
    if (this.#inFlight) return this.#inFlight;
    clearTimeout(this.#timer);
    const pass = this.#pass();
    this.#inFlight = pass;
    pass.then(
      () => this.#afterPass(),
      () => this.#afterPass(),
    );
    return pass;
  }

  dryRun(): Promise<DryRunReport> {
    return dryRunPass(this.#config, this.#remote, {
      ...this.#options.pass,
      logger: this.#options.logger,
      signal: this.#abort.signal,
    });
  }

  status(): MirrorStatus {
    return { state: this.#state, ...this.#status };
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#abort.abort();
    await this.#inFlight?.catch(() => {});
    this.#state = "stopped";
    this.#status.nextPassAt = undefined;
  }

  #afterPass(): void {
    this.#inFlight = undefined;
    if (this.#abort.signal.aborted) return;
    const failures = this.#status.consecutiveFailures;
    const intervalMs = this.#config.syncFrequencySeconds * 1000;
    this.#schedule(failures === 0 ? intervalMs : this.#status.backoffSeconds! * 1000);
    this.#options.onPassEnd?.(this.status());
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#status.nextPassAt = new Date(Date.now() + delayMs).toISOString();
    this.#timer = setTimeout(() => {
      this.syncNow().catch(() => {});
    }, delayMs);
  }

  async #pass(): Promise<Summary> {
    const { logger } = this.#options;
    this.#state = "syncing";
    let result: PassResult;
    try {
      result = await runPass(this.#config, this.#remote, {
        ...this.#options.pass,
        logger,
        signal: this.#abort.signal,
        owner: this.#options.owner,
        itemBackoff: this.#itemBackoff,
      });
    } catch (error) {
      if (this.#abort.signal.aborted) {
        this.#state = "stopped";
        logger.info("pass cancelled: the mirror was stopped");
        throw error instanceof PassCancelledError ? error : new PassCancelledError();
      }
      this.#failed(describeError(error), this.#remote.classify(error) === "auth");
      logger.error(`sync pass failed: ${this.#status.lastError}`, {
        retryInSeconds: this.#status.backoffSeconds,
      });
      throw error;
    }
    this.#status.passes++;
    this.#status.lastSummary = result.summary;
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
      this.#status.lastError = first
        ? `${summary.failed} item(s) failed, e.g. ${first.path}: ${first.error}`
        : undefined;
      this.#state = result.guard ? "guarded" : "idle";
    }
    logger.info("sync pass done", { ...summary });
    return summary;
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
      maxMs: MAX_BACKOFF_MS,
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

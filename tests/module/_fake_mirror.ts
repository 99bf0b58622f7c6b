import type { Logger } from "../../src/logger.ts";
import type {
  DryRunReport,
  MirrorController,
  MirrorStatus,
  PushSummary,
} from "../../src/mirror_controller.ts";
import { PassCancelledError } from "../../src/remote/errors.ts";
import { emptySummary, type Summary } from "../../src/sync/summary.ts";

/** What a {@linkcode FakeMirror} answers. */
export interface FakeMirrorOptions {
  /** The summary `syncNow` resolves with. */
  summary?: Summary;
  /** Fields merged into the idle status `status()` returns. */
  status?: Partial<MirrorStatus>;
  /** When true, every pass waits for {@linkcode FakeMirror.release}. */
  holdPasses?: boolean;
  /** When true, `stop()` never resolves (a hung engine). */
  hangOnStop?: boolean;
  /** Rejects `syncNow` with this message. */
  syncError?: string;
  /** Rejects `syncNow` as a pass cut off by the mirror's stop does, having done this. */
  syncCutAfter?: Summary;
  /** Rejects `dryRun` as a dry run cut off by the mirror's stop does (an `AbortError`). */
  dryRunAborted?: boolean;
  /** Called when `stop()` is. */
  onStop?: () => void;
}

/** A MirrorController whose timing the test controls; it records what was asked of it. */
export class FakeMirror implements MirrorController {
  /** Passes started (joined calls do not count). */
  passes = 0;
  /** True once `stop()` was called. */
  stopped = false;
  readonly #options: FakeMirrorOptions;
  #inFlight: Promise<Summary> | undefined;
  #releases: (() => void)[] = [];
  #passStarted: (() => void)[] = [];

  /** A fake; `logger` is what the module handed to createMirror. */
  constructor(readonly logger: Logger, options: FakeMirrorOptions = {}) {
    this.#options = options;
  }

  /** Resolves once a pass is in flight. */
  passInFlight(): Promise<void> {
    if (this.#inFlight !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.#passStarted.push(resolve));
  }

  /** Lets held passes finish. */
  release(): void {
    for (const release of this.#releases.splice(0)) release();
  }

  syncNow(): Promise<Summary> {
    this.#inFlight ??= this.#pass().finally(() => this.#inFlight = undefined);
    return this.#inFlight;
  }

  dryRun(): Promise<DryRunReport> {
    if (this.#options.dryRunAborted) {
      return Promise.reject(new DOMException("The signal has been aborted", "AbortError"));
    }
    return Promise.resolve({
      listed: 3,
      skipped: 1,
      duplicate: 0,
      rejected: 0,
      downloadCount: 2,
      downloadBytes: 2048,
      deleteCount: 0,
      downloads: ["a.jpg", "b/c.png"],
      deletes: [],
      conflictCount: 0,
      conflicts: [],
    });
  }

  pushNow(): Promise<PushSummary> {
    return Promise.resolve({
      found: 2,
      uploaded: 1,
      skipped: 1,
      deleted: 1,
      failed: 0,
      bytes: 1024,
      durationMs: 5,
    });
  }

  status(): MirrorStatus {
    return {
      state: this.stopped ? "stopped" : this.#inFlight ? "syncing" : "idle",
      passes: this.passes,
      consecutiveFailures: 0,
      ...this.#options.status,
    };
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.release();
    this.#options.onStop?.();
    return this.#options.hangOnStop ? new Promise(() => {}) : Promise.resolve();
  }

  async #pass(): Promise<Summary> {
    this.passes++;
    for (const started of this.#passStarted.splice(0)) started();
    if (this.#options.holdPasses) {
      await new Promise<void>((resolve) => this.#releases.push(resolve));
    }
    if (this.#options.syncError !== undefined) throw new Error(this.#options.syncError);
    if (this.#options.syncCutAfter !== undefined) {
      const cut = new PassCancelledError<{ summary: Summary }>();
      cut.result = { summary: this.#options.syncCutAfter };
      throw cut;
    }
    return this.#options.summary ?? { ...emptySummary(), listed: 5, downloaded: 2, bytes: 4096 };
  }
}

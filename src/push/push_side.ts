/**
 * The push side of a running mirror: one push pass at a time for the push folder of a config, with
 * one uploader (one HTTP/2 connection) kept for the mirror's life. What the module's loop runs
 * after every sync pass and on DoCommand `push`.
 *
 * @example
 * ```ts
 * const push = createPushSide(config, {
 *   partId,
 *   logger,
 *   owner: "module mirror1",
 *   env: (name) => Deno.env.get(name),
 * });
 * if (push) new MirrorLoop(config, { logger, push: push.run });
 * ```
 *
 * @module
 */
import type { BandwidthLimit } from "../async/bandwidth_limit.ts";
import { assertPushPartId, type MirrorConfig } from "../config.ts";
import type { Logger } from "../logger.ts";
import type { PushSummary } from "../mirror_controller.ts";
import { FileUploader } from "../remote/file_upload.ts";
import { processClockSteps } from "./clock_step_watch.ts";
import { type PushResult, runPushPass } from "./run_push_pass.ts";

/** Options of {@linkcode createPushSide}. */
export interface PushSideOptions {
  /** The robot part the files belong to: `VIAM_MACHINE_PART_ID` in a module. */
  partId: string | undefined;
  /** Where the passes report. */
  logger: Logger;
  /** Names the process in the push folder's lock. */
  owner: string;
  /** Reads the environment (the proxy the uploads tunnel through: see `FileUploaderOptions`). */
  env: (name: string) => string | undefined;
}

/** A mirror's push side. */
export interface PushSide extends AsyncDisposable {
  /** Runs one push pass, pacing its chunks with `bandwidth` when given. */
  run(options: { signal: AbortSignal; bandwidth?: BandwidthLimit }): Promise<PushSummary>;
}

/**
 * The push side of `config`, or undefined when it has no push folder.
 *
 * @throws {ConfigError} with a push folder and no `partId` ({@linkcode assertPushPartId}).
 */
export function createPushSide(
  config: MirrorConfig,
  options: PushSideOptions,
): PushSide | undefined {
  const push = config.push;
  if (push === undefined) return undefined;
  assertPushPartId(config, options.partId);
  const partId = options.partId!;
  let uploader: FileUploader | undefined;
  // One for the process's life: a step of the clock shows between passes, and a resource
  // reconfigured after a step (the cloud's config arriving as NTP sets the clock) must still know it.
  const clockSteps = processClockSteps();
  return {
    async run({ signal, bandwidth }) {
      uploader ??= new FileUploader({
        appUrl: config.appUrl,
        apiKeyId: config.apiKeyId,
        apiKey: config.apiKey,
        env: options.env,
      });
      const result = await runPushPass(push, {
        uploader,
        partId,
        appUrl: config.appUrl,
      }, {
        logger: options.logger,
        signal,
        owner: options.owner,
        clockSteps,
        beforeChunk: bandwidth
          ? (bytes, chunkSignal) => bandwidth.take(bytes, chunkSignal)
          : undefined,
      });
      return pushSummary(result);
    },
    async [Symbol.asyncDispose]() {
      await uploader?.close();
    },
  };
}

/** The counts of a push pass, without its lists. */
export function pushSummary(result: PushResult): PushSummary {
  return {
    found: result.found,
    uploaded: result.uploaded,
    ...(result.recovered ? { recovered: result.recovered } : {}),
    skipped: result.skipped,
    deleted: result.deleted,
    failed: result.failed,
    bytes: result.bytes,
    durationMs: result.durationMs,
    ...(result.skippedBy["backing off"] ? { waiting: result.skippedBy["backing off"] } : {}),
    ...(result.held ? { held: result.held } : {}),
    ...(result.error === undefined ? {} : { error: result.error }),
    ...(result.failures.length === 0 ? {} : { failures: result.failures.slice(0, 10) }),
  };
}

/**
 * The body of `data-mirror sync`: one pass, a dry run, or passes every `--sync-frequency` seconds
 * with `--watch`; what each printed and which exit code it ends with ({@linkcode EXIT}).
 *
 * @module
 */
import { ConfigError, type MirrorConfig, parseConfig } from "../config.ts";
import { checkConfigLocations } from "../fs/mirror_location.ts";
import { checkMirrorPlace } from "../fs/mirror_dir.ts";
import { LockedError } from "../fs/mirror_lock.ts";
import type { LogLevel } from "../logger.ts";
import type { DryRunReport, PushSummary } from "../mirror_controller.ts";
import type { PushSide } from "../push/push_side.ts";
import { describeError, type PassCancelledError } from "../remote/errors.ts";
import type { RemoteSource } from "../remote/remote_source.ts";
import { ViamRemote } from "../remote/viam_remote.ts";
import { dryRunPass, partialResultOf, type PassResult, runPass } from "../sync/run_pass.ts";
import { emptySummary, type Summary } from "../sync/summary.ts";
import type { TransferProgress } from "../sync/transfer_files.ts";
import { inCliTerms } from "./attribute_flags.ts";
import {
  type CliOutput,
  formatBytes,
  formatPath,
  formatPushSummary,
  formatSummary,
} from "./cli_output.ts";
import { readConfigFile } from "./config_file.ts";
import {
  attributesFromFlags,
  type EnvReader,
  splitKeyPairWarning,
  type SyncFlags,
} from "./config_from_flags.ts";
import { listenForStop } from "./command_stop.ts";
import { EXIT } from "./exit_codes.ts";
import { signalExitCode } from "../stop_signal.ts";
import { createProgressReporter } from "./progress_reporter.ts";

/** The `sync` command's options as commander parses them. */
export interface SyncCommandFlags extends SyncFlags {
  dryRun?: boolean;
  json?: boolean;
  watch?: boolean;
  logLevel: LogLevel;
}

/** What a command body needs from the process. */
export interface CommandContext {
  /** Reads an environment variable. */
  env: EnvReader;
  /** Where the command prints. */
  output: CliOutput;
  /** True when stderr is a terminal (live progress bar). */
  tty: boolean;
}

/**
 * Runs `sync` and resolves to its exit code.
 *
 * @throws {ConfigError} or {@linkcode ConfigFileError} for a bad configuration (exit 2 upstream).
 */
export async function runSync(flags: SyncCommandFlags, context: CommandContext): Promise<number> {
  const { output } = context;
  using stop = listenForStop(output.logger);
  const fileAttributes = flags.config !== undefined
    ? await readConfigFile(flags.config)
    : undefined;
  const attributes = attributesFromFlags(flags, { fileAttributes, env: context.env });
  const { config, warnings } = parseConfig(attributes, { env: context.env });
  output.rememberSecret(config.apiKey);
  const splitPair = splitKeyPairWarning(flags.apiKeyId, fileAttributes, context.env);
  if (splitPair !== undefined) warnings.push(splitPair);
  if (config.pushOnly && (!flags.watch || flags.dryRun)) {
    // The module (and `--watch`) runs such a config as a push folder alone; one pass would mirror
    // everything the key can read. Filed under the config, not push_path (whose flag is push's).
    throw new ConfigError([{
      field: "config",
      message: "the config only pushes (push_path, and no tags, labels or dataset_id to mirror): " +
        "one sync pass has nothing to mirror; run push with it (or sync --watch, which pushes " +
        "every sync_frequency), or give --tags, --labels or --dataset-id to mirror as well",
    }]);
  }
  const partId = context.env("VIAM_MACHINE_PART_ID");
  if (config.push && flags.watch && !flags.dryRun && !partId) {
    throw new ConfigError([{
      field: "VIAM_MACHINE_PART_ID",
      message: "push_path is set, and sync --watch runs its push side as the module does: set " +
        "VIAM_MACHINE_PART_ID to the machine part the uploads belong to",
    }]);
  }
  if (config.push && !flags.watch && !flags.dryRun) {
    output.logger.warn(
      "push_path is not pushed by one sync pass: push --config sends it, and sync --watch runs both",
    );
  }
  await checkConfigLocations(config);
  // A mirror inside a push folder (or a new one inside another mirror) is a configuration fault,
  // exit 2 as validate says: refused here before the sign-in, not as a failed pass (exit 1). So is
  // a push folder in a mirror or in another push folder, where --watch pushes it (one pass does
  // not: its mirror is not refused over a folder it leaves alone).
  await checkMirrorPlace(flags.watch ? config : { ...config, push: undefined });
  for (const warning of warnings) output.logger.warn(warning);
  if (flags.syncFrequency !== undefined && !flags.watch && !flags.dryRun) {
    output.logger.warn("--sync-frequency has no effect without --watch: this runs one pass");
  }
  if (flags.watch && flags.dryRun) {
    output.logger.warn("--watch has no effect with --dry-run: this runs one dry run");
  }
  const remote = new ViamRemote({
    appUrl: config.appUrl,
    apiKeyId: config.apiKeyId,
    apiKey: config.apiKey,
  });
  // --dry-run first: with it, nothing changes, whatever else is asked.
  if (flags.dryRun) return await _dryRun(config, remote, context, stop.signal, () => stop.by);
  if (flags.watch) {
    // Only --watch has a push side and a loop (`_watch`): one pass loads neither, nor their
    // HTTP/2, TLS and hashing modules: 1.1 MB of heap, and 1.2 MiB of peak resident memory on an
    // empty pass (medians of ten alternated pairs).
    const { createPushSide } = await import("../push/push_side.ts");
    const push = createPushSide(config, {
      partId,
      logger: output.logger,
      owner: "cli --watch",
      env: context.env,
    });
    try {
      return await _watch(config, remote, push, context, stop.signal, () => stop.by);
    } finally {
      await push?.[Symbol.asyncDispose]();
    }
  }
  return await _onePass(config, remote, context, stop.signal, () => stop.by);
}

async function _onePass(
  config: MirrorConfig,
  remote: RemoteSource,
  { output, tty }: CommandContext,
  signal: AbortSignal,
  stoppedBy: () => Deno.Signal | undefined,
): Promise<number> {
  const progress = await createProgressReporter({ tty, writeLine: (line) => output.note(line) });
  let result: PassResult | undefined;
  let failure: unknown;
  try {
    result = await runPass(config, remote, {
      logger: output.logger,
      signal,
      owner: "cli",
      onProgress: (p) => progress.update(p),
      guardReported: true, // its `held back:` line
    });
  } catch (error) {
    failure = error;
    if (signal.aborted) result = (error as PassCancelledError<PassResult>).result;
  } finally {
    progress.stop();
  }
  const interrupted = signal.aborted ? stoppedBy() : undefined;
  if (interrupted !== undefined) {
    return _reportInterrupted(config, output, interrupted, result, progress.latest());
  }
  if (failure !== undefined) {
    // In the flags' words, as a finished pass's error is (the heap's stop names the filter's).
    const why = inCliTerms(describeError(failure));
    const error = failure instanceof LockedError ? failure.message : `sync failed: ${why}`;
    // What it did before it failed (a key refused part way: the files of the pages before), on
    // the summary line a finished pass prints, ending with why it failed, as that one's does.
    const partial = partialResultOf(failure)?.summary;
    output.line(`mirror: ${config.mirrorRoot}`);
    output.line(_countsLine(formatSummary(partial ?? emptySummary()), why));
    output.error(error);
    output.document({
      ..._document(config, partial ?? emptySummary()),
      error,
      exitCode: EXIT.failed,
    });
    return EXIT.failed;
  }
  return _reportPass(config, output, result!);
}

/** The exit code of a finished pass: failed, held back by a guard, or ok. */
function _passExitCode(
  error: string | undefined,
  summary: Summary,
  guard: string | undefined,
): number {
  return error !== undefined || summary.failed > 0
    ? EXIT.failed
    : guard !== undefined
    ? EXIT.heldBack
    : EXIT.ok;
}

/** A dry run's summary line: what it listed and would do (none of it, for one that failed). */
function _dryRunCounts(report: DryRunReport | undefined): string {
  const r = report ?? {
    listed: 0,
    downloadCount: 0,
    downloadBytes: 0,
    skipped: 0,
    deleteCount: 0,
    duplicate: 0,
    rejected: 0,
    conflictCount: 0,
  };
  return `dry run: ${r.listed} listed, ${r.downloadCount} to download ` +
    `(${formatBytes(r.downloadBytes)}), ${r.skipped} present, ${r.deleteCount} to delete, ` +
    `${r.duplicate} duplicate, ${r.rejected} rejected` +
    (r.conflictCount > 0 ? `, ${r.conflictCount} would fail` : "");
}

/** Prints a finished pass and returns its exit code. */
function _reportPass(config: MirrorConfig, output: CliOutput, result: PassResult): number {
  const guard = result.guard === undefined ? undefined : inCliTerms(result.guard);
  const error = result.error === undefined ? undefined : inCliTerms(result.error);
  output.line(`mirror: ${config.mirrorRoot}`);
  output.line(_countsLine(formatSummary(result.summary), error));
  if (guard !== undefined) output.line(`held back: ${guard}`);
  if (error !== undefined) output.error(error);
  const exitCode = _passExitCode(error, result.summary, guard);
  output.document({
    ..._document(config, result.summary),
    ...(error === undefined ? {} : { error }),
    ...(guard === undefined ? {} : { guard }),
    failures: result.failures,
    exitCode,
  });
  return exitCode;
}

function _reportInterrupted(
  config: MirrorConfig,
  output: CliOutput,
  signal: Deno.Signal,
  result: PassResult | undefined,
  progress: TransferProgress | undefined,
): number {
  const exitCode = signalExitCode(signal);
  const summary = result?.summary ?? {
    ...emptySummary(),
    downloaded: progress?.filesDone ?? 0,
    bytes: progress?.bytesDone ?? 0,
  };
  const done = result !== undefined
    ? formatSummary(summary)
    : progress !== undefined
    ? `${progress.filesDone} of ${progress.filesTotal} files (${
      formatBytes(progress.bytesDone)
    } of ` +
      `${formatBytes(progress.bytesTotal)}) done`
    : "nothing done yet";
  const error = _interrupted(signal, summary.bytes + (progress?.bytesDone ?? 0) > 0);
  output.line(`mirror: ${config.mirrorRoot}`);
  output.line(`interrupted: ${done}`);
  output.error(error);
  output.document({ ..._document(config, summary), interrupted: signal, error, exitCode });
  return exitCode;
}

/**
 * What an interrupted pass left: partial downloads to resume when bytes had come, none when none
 * had; `undefined` when it is not known (a pass of `--watch`, whose summary counts finished files
 * only).
 */
function _interrupted(signal: Deno.Signal, bytesCame: boolean | undefined): string {
  return bytesCame === undefined
    ? `interrupted by ${signal}: partial downloads, if any, stay in staging and resume next time`
    : bytesCame
    ? `interrupted by ${signal}: partial downloads stay in staging and resume next time`
    : `interrupted by ${signal}: nothing had been written yet, nothing to resume`;
}

async function _watch(
  config: MirrorConfig,
  remote: RemoteSource,
  push: PushSide | undefined,
  { output }: CommandContext,
  signal: AbortSignal,
  stoppedBy: () => Deno.Signal | undefined,
): Promise<number> {
  let pass = 0;
  let completed = 0; // passes that ran to their end (a failed pass keeps the last summary)
  // A push of its own gets a line and a document when it ends; a pass that joined it (its push
  // after the sync found it running) does not count it again.
  let toldOnItsOwn: PushSummary | undefined;
  const { MirrorLoop } = await import("../mirror_loop.ts");
  const loop = new MirrorLoop(config, {
    logger: output.logger,
    owner: "cli --watch",
    createRemote: () => remote,
    push: push?.run,
    // Each pass gets its own line below: the loop's "sync pass done" would say it twice, and the
    // pass its guard.
    passDoneLevel: "debug",
    pass: { guardReported: true },
    onPassEnd: (status) => {
      pass++;
      const ran = status.passes > completed;
      completed = status.passes;
      const summary = ran
        ? status.lastSummary ?? emptySummary()
        : status.failedPass ?? emptySummary();
      const guard = status.guard === undefined ? undefined : inCliTerms(status.guard);
      const error = status.lastError === undefined ? undefined : inCliTerms(status.lastError);
      // The pass's own failure: items that failed are in its counts already.
      const passError = status.consecutiveFailures > 0 ? error : undefined;
      if (!config.pushOnly) {
        output.line(`pass ${pass}: ${_countsLine(formatSummary(summary), passError)}`);
      }
      // The push side ran after it (its failures are in its own summary, and logged).
      const pushed = config.push && status.lastPush !== toldOnItsOwn ? status.lastPush : undefined;
      if (pushed) output.line(`pass ${pass} push: ${_pushLine(pushed)}`);
      if (guard !== undefined) output.line(`held back: ${guard}`);
      if (error !== undefined) output.error(error);
      output.document({
        ..._document(config, summary),
        ...(pushed ? { push: pushed } : {}),
        pass,
        ...(error === undefined ? {} : { error }),
        ...(guard === undefined ? {} : { guard }),
        // What this pass alone would have exited with (the command itself exits 0 when stopped).
        exitCode: _passExitCode(error, summary, guard) || _pushExitCode(pushed),
      });
    },
    // Pushes the push side runs on its own pace while a pass runs long or passes fail: uploads a
    // `--json` reader counting them from the pass documents would miss.
    onPushEnd: (status, { ofItsOwn }) => {
      const pushed = status.lastPush;
      if (!ofItsOwn || pushed === undefined) return;
      toldOnItsOwn = pushed;
      output.line(`push of its own: ${_pushLine(pushed)}`);
      output.document({
        command: "sync",
        ..._where(config),
        push: pushed,
        pushOfItsOwn: true,
        exitCode: _pushExitCode(pushed),
      });
    },
  });
  const every = `every ${config.syncFrequencySeconds} s`;
  output.logger.info(
    config.pushOnly
      ? `watching: pushing ${config.push!.pushRoot} ${every}`
      : `watching: a pass ${every} into ${config.mirrorRoot}` +
        (config.push ? `, then pushing ${config.push.pushRoot}` : ""),
  );
  loop.start();
  if (!signal.aborted) {
    await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
  }
  const before = loop.status();
  const cut = loop.passInFlight;
  await loop.stop();
  const by = stoppedBy();
  if (cut && by !== undefined) {
    // The pass in flight was stopped, in its sync part or in the push after it: it gets its line
    // and document too, as every pass does, with what it had done.
    pass++;
    const synced = before.state !== "syncing" && before.passes > completed;
    const summary = loop.cutPass ?? (synced ? before.lastSummary : undefined) ?? emptySummary();
    // The push that ended while it stopped (the pass's own, whatever became of its sync part), not
    // one already told: a push of its own the pass had joined has its document (`onPushEnd`).
    const ended = loop.status().lastPush;
    const pushed = config.push && ended !== before.lastPush && ended !== toldOnItsOwn
      ? ended
      : undefined;
    // A push-only pass downloads nothing: no partial download to speak of.
    const error = config.pushOnly ? `interrupted by ${by}` : _interrupted(by, undefined);
    if (!config.pushOnly) output.line(`pass ${pass}: interrupted: ${formatSummary(summary)}`);
    if (pushed) output.line(`pass ${pass} push: interrupted: ${formatPushSummary(pushed)}`);
    output.document({
      ..._document(config, summary),
      ...(pushed ? { push: pushed } : {}),
      pass,
      interrupted: by,
      error,
      exitCode: signalExitCode(by),
    });
  }
  return EXIT.ok;
}

/** A push pass's counts, and why it stopped when it did not end (its counts alone read as done). */
function _pushLine(pushed: PushSummary): string {
  return _countsLine(
    formatPushSummary(pushed),
    pushed.error === undefined ? undefined : inCliTerms(pushed.error),
  );
}

/**
 * A pass's counts, with the error it ended with: a line read alone (stdout, a log view) must not
 * pass for a clean pass when the listing was cut short ("0 failed" counts items, not the pass).
 */
function _countsLine(counts: string, error: string | undefined): string {
  return error === undefined ? counts : `${counts}; failed: ${error}`;
}

/** A push pass's own exit code: failed when a file or the pass failed. */
function _pushExitCode(pushed: PushSummary | undefined): number {
  return pushed !== undefined && (pushed.failed > 0 || pushed.error !== undefined)
    ? EXIT.failed
    : EXIT.ok;
}

async function _dryRun(
  config: MirrorConfig,
  remote: RemoteSource,
  { output }: CommandContext,
  signal: AbortSignal,
  stoppedBy: () => Deno.Signal | undefined,
): Promise<number> {
  let report: DryRunReport;
  try {
    report = await dryRunPass(config, remote, { logger: output.logger, signal });
  } catch (error) {
    const interrupted = signal.aborted ? stoppedBy() : undefined;
    if (interrupted !== undefined) {
      return _reportInterrupted(config, output, interrupted, undefined, undefined);
    }
    const message = `dry run failed: ${describeError(error)}`;
    output.line(`mirror: ${config.mirrorRoot}`);
    // The summary line every outcome prints, with nothing done and why it failed.
    output.line(_countsLine(_dryRunCounts(undefined), describeError(error)));
    output.error(message);
    output.document({
      ..._document(config, emptySummary()),
      dryRun: true,
      error: message,
      exitCode: EXIT.failed,
    });
    return EXIT.failed;
  }
  const guard = report.deleteBlocked === undefined ? undefined : inCliTerms(report.deleteBlocked);
  const error = report.error === undefined ? undefined : inCliTerms(report.error);
  output.line(`mirror: ${config.mirrorRoot}`);
  for (const path of report.downloads) output.line(`would download ${formatPath(path)}`);
  for (const path of report.deletes) output.line(`would delete ${formatPath(path)}`);
  for (const { path, reason } of report.conflicts) {
    output.line(`would fail ${formatPath(path)}: ${reason}`);
  }
  if (guard !== undefined) output.line(`would not delete: ${guard}`);
  output.line(_countsLine(_dryRunCounts(report), error));
  if (error !== undefined) output.error(error);
  // As the pass would end: its conflicts fail it.
  const exitCode = error !== undefined || report.conflictCount > 0
    ? EXIT.failed
    : guard !== undefined
    ? EXIT.heldBack
    : EXIT.ok;
  output.document({
    command: "sync",
    dryRun: true,
    mirrorRoot: config.mirrorRoot,
    ...report,
    ...(error === undefined ? {} : { error }),
    ...(guard === undefined ? {} : { deleteBlocked: guard, guard }),
    exitCode,
  });
  return exitCode;
}

/** The fields every `sync` document starts with. */
function _document(config: MirrorConfig, summary: Summary): Record<string, unknown> {
  // A config that only pushes has no mirror (its passes are the push documents'); its counts stay
  // for the documents' shape.
  return { command: "sync", ..._where(config), ...summary };
}

/** Which mirror a document is of: its folder, or none (a config that only pushes). */
function _where(config: MirrorConfig): Record<string, unknown> {
  return config.pushOnly ? { pushOnly: true } : { mirrorRoot: config.mirrorRoot };
}

/**
 * The body of `data-mirror push`: one upload pass of a folder inside `.viam` into Viam data
 * management (`push_*` attributes, the same `parseConfig` as the module), what it printed and its
 * exit code: 0 when nothing failed, 1 otherwise, 2 for a usage error (a missing part id).
 *
 * @module
 */
import { bandwidthLimitOf } from "../async/bandwidth_limit.ts";
import { ConfigError, type ConfigIssue, parseConfig } from "../config.ts";
import { checkConfigLocations } from "../fs/mirror_location.ts";
import { checkMirrorPlace } from "../fs/mirror_dir.ts";
import { LockedError } from "../fs/mirror_lock.ts";
import type { LogLevel } from "../logger.ts";
import { pushSummary } from "../push/push_side.ts";
import {
  MAX_UPLOADS_PER_PASS,
  partialPushOf,
  type PushResult,
  runPushPass,
} from "../push/run_push_pass.ts";
import { describeError } from "../remote/errors.ts";
import { FileUploader } from "../remote/file_upload.ts";
import { formatDryPushSummary, formatPath, formatPushSummary } from "./cli_output.ts";
import { readConfigFile } from "./config_file.ts";
import {
  attributesFromFlags,
  numberOrText,
  splitKeyPairWarning,
  type SyncFlags,
} from "./config_from_flags.ts";
import { listenForStop } from "./command_stop.ts";
import { EXIT } from "./exit_codes.ts";
import { signalExitCode } from "../stop_signal.ts";
import { createProgressReporter } from "./progress_reporter.ts";
import { PushUsageError } from "./push_usage_error.ts";
import type { CommandContext } from "./sync_command.ts";

/** The `push` command's options as commander parses them. */
export interface PushCommandFlags extends Pick<SyncFlags, "config" | "apiKeyId" | "appUrl"> {
  partId?: string;
  pushPath?: string;
  tags?: string[];
  datasetId?: string[];
  keep?: boolean;
  minAge?: string;
  bwlimit?: string;
  dryRun?: boolean;
  json?: boolean;
  logLevel: LogLevel;
}

/**
 * Runs `push` and resolves to its exit code.
 *
 * @throws {PushUsageError} without a part id (neither `--part-id` nor `VIAM_MACHINE_PART_ID`) or
 * a push folder; `ConfigError` / `ConfigFileError` for a bad configuration (exit 2 upstream).
 */
export async function runPush(flags: PushCommandFlags, context: CommandContext): Promise<number> {
  const { output } = context;
  using stop = listenForStop(output.logger);
  // Trimmed (a part id is a UUID): blank (`--part-id "$UNSET "`), the uploads would have gone to
  // a part of that name; with a space kept, to none of the machine's.
  const partId = (flags.partId ?? context.env("VIAM_MACHINE_PART_ID"))?.trim();
  const noPartId = partId
    ? undefined
    : "--part-id is required: the machine part the files belong to (or set VIAM_MACHINE_PART_ID)";
  const fileAttributes = flags.config !== undefined
    ? await readConfigFile(flags.config)
    : undefined;
  // Only the connection flags: `--tags` here are the uploads' tags, not a mirror filter.
  const attributes = attributesFromFlags(
    { apiKeyId: flags.apiKeyId, appUrl: flags.appUrl },
    { fileAttributes, env: context.env },
  );
  const set = (name: string, value: unknown) => {
    if (value !== undefined) attributes[name] = value;
  };
  set("push_path", flags.pushPath);
  set("push_tags", flags.tags);
  set("push_dataset_ids", flags.datasetId);
  set("push_keep", flags.keep);
  set("push_min_age", numberOrText(flags.minAge));
  set("bandwidth_limit", numberOrText(flags.bwlimit));
  const noFolder = "the folder to upload, inside .viam";
  let parsed: ReturnType<typeof parseConfig>;
  try {
    parsed = parseConfig(attributes, { env: context.env });
  } catch (error) {
    // Every problem at once, the flags' with the attributes' (a reviewer fixed a push in three
    // runs: the part id, then the key and the app URL, then the folder).
    if (!(error instanceof ConfigError)) throw error;
    const missing: ConfigIssue[] = [];
    if (noPartId !== undefined) missing.push({ field: "part_id", message: noPartId });
    if (attributes.push_path === undefined) {
      missing.push({ field: "push_path", message: `push_path is required: ${noFolder}` });
    }
    throw missing.length === 0 ? error : new ConfigError([...missing, ...error.issues]);
  }
  const { config, warnings } = parsed;
  output.rememberSecret(config.apiKey);
  const splitPair = splitKeyPairWarning(flags.apiKeyId, fileAttributes, context.env);
  if (splitPair !== undefined) warnings.push(splitPair);
  // Before any warning: without the folder, "push_tags: no effect without push_path" would come
  // first, in the attributes' words, ahead of the one thing to fix. A config file's misspelt
  // `push-path` is what to fix then: its warning says which it is.
  const { push } = config;
  if (!partId || push === undefined) {
    const typo = warnings.find((warning) => warning.includes('(did you mean "push_path"?)'));
    const problems = [
      ...(noPartId === undefined ? [] : [noPartId]),
      ...(push === undefined
        ? [`--push-path is required: ${noFolder}${typo ? `; ${typo}` : ""}`]
        : []),
    ];
    throw new PushUsageError(`push: ${problems.join("; ")}`);
  }
  await checkConfigLocations(config);
  // Its push folder alone: a mirror the same config file names is sync's (exit 2, no call made).
  await checkMirrorPlace({ ...config, pushOnly: true });
  // In the attributes' words, as a config file's: mapped to flags, a file's misspelt key was
  // suggested a flag, and a folder named like an attribute was changed in a path (a re-reviewer).
  for (const warning of warnings) output.logger.warn(warning);
  await using uploader = new FileUploader({
    appUrl: config.appUrl,
    apiKeyId: config.apiKeyId,
    apiKey: config.apiKey,
    env: context.env,
  });
  const bandwidth = bandwidthLimitOf(config);
  const progress = await createProgressReporter({
    tty: context.tty,
    writeLine: (line) => output.note(line),
  });
  let result: PushResult;
  try {
    result = await runPushPass(push, { uploader, partId, appUrl: config.appUrl }, {
      logger: output.logger,
      signal: stop.signal,
      owner: "cli push",
      dryRun: flags.dryRun,
      retryFailedNow: true,
      onProgress: (p) =>
        progress.update({
          filesDone: p.filesDone,
          filesTotal: p.filesTotal,
          filesFailed: p.filesFailed,
          bytesDone: p.bytesSent,
          bytesTotal: p.bytesTotal,
        }),
      beforeChunk: bandwidth ? (bytes, signal) => bandwidth.take(bytes, signal) : undefined,
    });
  } catch (error) {
    const message = error instanceof LockedError
      ? error.message
      : `push failed: ${describeError(error)}`;
    const exitCode = stop.by ? signalExitCode(stop.by) : EXIT.failed;
    // What it did before it failed: files sent and deleted are not to be reported as none.
    const partial = partialPushOf(error);
    const counts = partial === undefined ? undefined : pushSummary(partial);
    output.line(`push folder: ${push.pushRoot}`);
    if (counts !== undefined) output.line(formatPushSummary(counts));
    output.error(message);
    output.document({
      command: "push",
      pushPath: push.pushRoot,
      ...counts,
      error: message,
      exitCode,
    });
    return exitCode;
  } finally {
    progress.stop();
  }
  const summary = pushSummary(result);
  const exitCode = stop.by
    ? signalExitCode(stop.by)
    : result.failed > 0 || result.error !== undefined
    ? EXIT.failed
    : EXIT.ok;
  output.line(`push folder: ${push.pushRoot}`);
  for (const path of result.planned ?? []) output.line(`would upload ${formatPath(path)}`);
  output.line(
    result.toUpload === undefined
      ? formatPushSummary(summary)
      : formatDryPushSummary({ ...summary, toUpload: result.toUpload, toDelete: result.toDelete }),
  );
  if (result.backlog) {
    output.note(
      `more files than one pass sends (${
        MAX_UPLOADS_PER_PASS.toLocaleString("en-US")
      }): run push again`,
    );
  }
  for (const [reason, count] of Object.entries(result.skippedBy)) {
    output.note(`skipped ${count}: ${reason}`);
  }
  for (const failure of result.failures) output.error(`${failure.path}: ${failure.error}`);
  if (result.error !== undefined) output.error(result.error);
  output.document({
    command: "push",
    pushPath: push.pushRoot,
    ...(flags.dryRun ? { dryRun: true } : {}),
    ...summary,
    recovered: result.recovered, // 0 too: the field the JSON has always had
    skippedBy: result.skippedBy,
    failures: result.failures,
    ...(result.planned === undefined ? {} : { planned: result.planned }),
    ...(result.toUpload === undefined ? {} : { toUpload: result.toUpload }),
    ...(result.toDelete === undefined ? {} : { toDelete: result.toDelete }),
    ...(result.backlog ? { backlog: true } : {}),
    ...(stop.by === undefined ? {} : { interrupted: stop.by }),
    exitCode,
  });
  return exitCode;
}

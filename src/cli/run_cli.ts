import { Command, CommanderError, Option } from "commander";
import { ConfigError, type MirrorConfig, parseConfig } from "../config.ts";
import { describeError } from "../remote/errors.ts";
import { LockedError } from "../fs/mirror_lock.ts";
import { LOG_LEVELS, type Logger, type LogLevel } from "../logger.ts";
import type { DryRunReport } from "../mirror_controller.ts";
import { MirrorLoop } from "../mirror_loop.ts";
import type { RemoteSource } from "../remote/remote_source.ts";
import { emptySummary, type Summary } from "../sync/summary.ts";
import { dryRunPass, type PassResult, runPass } from "../sync/run_pass.ts";
import { ViamRemote } from "../remote/viam_remote.ts";
import {
  attributesFromFlags,
  type EnvReader,
  parseList,
  type SyncFlags,
} from "./config_from_flags.ts";
import { CLI_COMMANDS } from "./commands.ts";
import { ConfigFileError, readConfigFile } from "./config_file.ts";
import { createProgressReporter, formatBytes } from "./progress_reporter.ts";
import { createTerminalLogger } from "./terminal_logger.ts";
import denoJson from "../../deno.json" with { type: "json" };

/** Exit codes of the CLI. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** What the CLI needs from its process; the defaults are the real ones. */
export interface CliEnvironment {
  /** Reads an environment variable. */
  env: EnvReader;
  /** Writes a line to stdout. */
  out: (line: string) => void;
  /** Writes a line to stderr. */
  err: (line: string) => void;
  /** True when stderr is a terminal (live progress bar). */
  tty: boolean;
  /** Runs the module on a socket (wired by the app; absent where the module is not available). */
  runModule?: (socketPath: string, options: { logLevel: LogLevel }) => Promise<number>;
}

class _UsageError extends Error {}

/**
 * Runs the `data-mirror` command line and resolves to the exit code: 0 when the pass completed,
 * 1 when it failed or some items failed, 2 for a usage or configuration error.
 */
export async function runCli(args: string[], environment: CliEnvironment): Promise<number> {
  const { out, err } = environment;
  if (args.some(_isApiKeyFlag)) {
    // Refused before anything else reads the arguments, so the key is quoted nowhere.
    err(`data-mirror: ${API_KEY_FLAG_REFUSED}`);
    return EXIT.usage;
  }
  let exitCode: number = EXIT.ok;
  const program = new Command("data-mirror")
    .description(
      "Mirror binary data (images, models, any file) from Viam data management into ~/.viam/<mirror_path>.",
    )
    .version(denoJson.version, "-V, --version")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => out(text.trimEnd()),
      // Usage errors quote what was typed: a key given to a misspelt flag, or as a stray argument,
      // must not be printed back.
      writeErr: (text) => err(_redactArguments(text.trimEnd(), args, environment.env)),
    })
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText("after", `\n${API_KEY_HELP}`);

  program.command("sync")
    .description("Run one sync pass (or keep running passes with --watch), then exit.")
    .option("--config <file>", "JSON file with the module's attributes (flags override it)")
    .option("--api-key-id <id>", "API key id (default: $VIAM_API_KEY_ID)")
    .option("--tags <a,b>", "capture tags to mirror (any of them)", parseList)
    .option("--labels <a,b>", "bounding-box labels to mirror (any of them)", parseList)
    .option("--dataset-id <id>", "dataset to mirror")
    .option(
      "--mirror-path <path>",
      "folder relative to $VIAM_HOME (default ~/.viam): default data_mirror",
    )
    .option("--delete", "delete local files the platform no longer lists")
    .option("--allow-delete-all", "with --delete, also delete everything when the listing is empty")
    .option(
      "--max-delete <n|p%>",
      "with --delete, a pass that would delete more files than this deletes none " +
        "(default: 50% of the mirror's files, at least 10)",
    )
    .option(
      "--protected-dir <dir>",
      "a directory never pruned, nor any file in it (repeatable)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option("--app-url <url>", "Viam app URL (default https://app.viam.com)")
    .option("--concurrency <n>", "downloads in flight at once (default 8)")
    .option("--sync-frequency <seconds>", "seconds between passes with --watch (default 60)")
    .option("--free-space-reserve <percent>", "share of the disk to keep free (default 5)")
    .option("--dry-run", "print what would be downloaded and deleted; change nothing")
    .option("--json", "print the summary as a JSON object on the last line of stdout")
    .option("--watch", "keep running passes every --sync-frequency seconds until SIGINT/SIGTERM")
    .addOption(
      new Option("--log-level <level>", "lowest log level shown on stderr")
        .choices(LOG_LEVELS).default("info"),
    )
    .action(async (flags: SyncFlags & _RunFlags) => {
      exitCode = await _sync(flags, environment);
    })
    .addHelpText("after", `\n${API_KEY_HELP}`);

  program.command("validate")
    .description("Check a config file (the module's attributes as JSON); exit 0 when valid.")
    .requiredOption("--config <file>", "JSON file with the module's attributes")
    .action(async (flags: { config: string }) => {
      exitCode = await _validate(flags.config, environment);
    });

  program.command("module")
    .description("Serve the Viam module protocol on a unix socket (what viam-server runs).")
    .argument("[socket]", "socket path (default: $VIAM_MODULE_ADDRESS)")
    .addOption(
      new Option("--log-level <level>", "lowest level sent to viam-server").choices(LOG_LEVELS)
        .default("info"),
    )
    .action(async (socket: string | undefined, flags: { logLevel: LogLevel }) => {
      const socketPath = environment.env("VIAM_MODULE_ADDRESS") || socket;
      if (!socketPath) throw new _UsageError("module: no socket path given");
      if (!environment.runModule) throw new _UsageError("module: not available in this build");
      exitCode = await environment.runModule(socketPath, { logLevel: flags.logLevel });
    });

  try {
    await program.parseAsync(args, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with exit code 0.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof ConfigError) {
      err("data-mirror: invalid configuration:");
      for (const issue of error.issues) err(`  ${issue.message}${_flagHint(issue.field)}`);
      return EXIT.usage;
    }
    if (error instanceof _UsageError || error instanceof ConfigFileError) {
      err(`data-mirror: ${error.message}`);
      return EXIT.usage;
    }
    err(`data-mirror: ${describeError(error)}`);
    return EXIT.failed;
  }
  if (args.length === 0) {
    program.outputHelp();
    return EXIT.usage;
  }
  return exitCode;
}

/** How the CLI takes the API key; shown under `--help`. */
export const API_KEY_HELP =
  "The API key comes from the environment (VIAM_API_KEY_ID, VIAM_API_KEY) or from app_api_key_id /\n" +
  "app_api_key in the --config file, never from a flag: a command line shows in ps, in the shell's\n" +
  "history and in the line `deno task` echoes.";

/** The usage error for `--api-key`: it names the safe ways and never quotes the value. */
export const API_KEY_FLAG_REFUSED =
  "--api-key is not accepted: a key on the command line shows in ps, in the shell's history and in " +
  "the line `deno task` echoes. Set VIAM_API_KEY (and VIAM_API_KEY_ID) in the environment, or put " +
  "app_api_key in the --config file.";

/** `--api-key`, `--api-key=...`: the refused flag in either form. */
function _isApiKeyFlag(arg: string): boolean {
  return arg === "--api-key" || arg.startsWith("--api-key=");
}

interface _RunFlags {
  dryRun?: boolean;
  json?: boolean;
  watch?: boolean;
  logLevel: LogLevel;
}

async function _loadConfig(
  flags: SyncFlags,
  environment: CliEnvironment,
  logger: Logger,
): Promise<MirrorConfig> {
  const fileAttributes = flags.config ? await readConfigFile(flags.config) : undefined;
  const attributes = attributesFromFlags(flags, { fileAttributes, env: environment.env });
  const { config, warnings } = parseConfig(attributes, { env: environment.env });
  for (const warning of warnings) logger.warn(warning);
  return config;
}

async function _sync(flags: SyncFlags & _RunFlags, environment: CliEnvironment): Promise<number> {
  const logger = createTerminalLogger({ level: flags.logLevel, write: environment.err });
  const config = await _loadConfig(flags, environment, logger);
  const remote = new ViamRemote({
    appUrl: config.appUrl,
    apiKeyId: config.apiKeyId,
    apiKey: config.apiKey,
  });
  if (flags.dryRun) return await _dryRun(config, remote, flags, environment, logger);
  if (flags.watch) return await _watch(config, remote, flags, environment, logger);

  const progress = createProgressReporter({ tty: environment.tty, writeLine: environment.err });
  const abort = new AbortController();
  const stopOnSignal = () => abort.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stopOnSignal);
  let result: PassResult;
  try {
    result = await runPass(config, remote, {
      logger,
      signal: abort.signal,
      owner: "cli",
      onProgress: (p) => progress.update(p),
    });
  } catch (error) {
    progress.stop();
    const reason = abort.signal.aborted
      ? "interrupted by a signal: partial downloads are kept in staging and resume next time"
      : describeError(error);
    logger.error(error instanceof LockedError ? error.message : `sync failed: ${reason}`);
    _printSummary({ ...emptySummary() }, flags, environment, reason);
    return EXIT.failed;
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, stopOnSignal);
  }
  progress.stop();
  _printSummary(result.summary, flags, environment, result.error, result.guard);
  return result.error || result.summary.failed > 0 ? EXIT.failed : EXIT.ok;
}

async function _watch(
  config: MirrorConfig,
  remote: RemoteSource,
  flags: _RunFlags,
  environment: CliEnvironment,
  logger: Logger,
): Promise<number> {
  const loop = new MirrorLoop(config, {
    logger,
    owner: "cli --watch",
    createRemote: () => remote,
    onPassEnd: (status) => {
      if (status.lastSummary) {
        _printSummary(status.lastSummary, flags, environment, status.lastError, status.guard);
      }
    },
  });
  const stopped = Promise.withResolvers<void>();
  const onSignal = () => stopped.resolve();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  logger.info(`watching: a pass every ${config.syncFrequencySeconds} s into ${config.mirrorRoot}`);
  loop.start();
  await stopped.promise;
  for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
  logger.info("stopping");
  await loop.stop();
  return EXIT.ok;
}

async function _dryRun(
  config: MirrorConfig,
  remote: RemoteSource,
  flags: _RunFlags,
  environment: CliEnvironment,
  logger: Logger,
): Promise<number> {
  const { out } = environment;
  let report: DryRunReport;
  try {
    report = await dryRunPass(config, remote, { logger });
  } catch (error) {
    logger.error(`dry run failed: ${describeError(error)}`);
    if (flags.json) {
      out(JSON.stringify({ ...emptySummary(), dryRun: true, error: describeError(error) }));
    }
    return EXIT.failed;
  }
  for (const path of report.downloads) out(`would download ${path}`);
  for (const path of report.deletes) out(`would delete ${path}`);
  if (report.deleteBlocked) out(`would not delete: ${report.deleteBlocked}`);
  out(
    `dry run: ${report.listed} listed, ${report.downloadCount} to download ` +
      `(${formatBytes(report.downloadBytes)}), ${report.skipped} present, ` +
      `${report.deleteCount} to delete, ${report.duplicate} duplicate, ${report.rejected} rejected`,
  );
  if (report.error) out(`error: ${report.error}`);
  if (flags.json) out(JSON.stringify({ ...emptySummary(), ...report, dryRun: true }));
  return report.error ? EXIT.failed : EXIT.ok;
}

function _printSummary(
  summary: Summary,
  flags: _RunFlags,
  environment: CliEnvironment,
  error?: string,
  guard?: string,
): void {
  const { out } = environment;
  out(
    `${summary.listed} listed, ${summary.downloaded} downloaded (${formatBytes(summary.bytes)}), ` +
      `${summary.skipped} skipped, ${summary.deleted} deleted, ${summary.failed} failed, ` +
      `${summary.duplicate} duplicate, ${summary.rejected} rejected in ` +
      `${(summary.durationMs / 1000).toFixed(1)} s`,
  );
  if (guard) out(`held back: ${guard}`);
  if (error) out(`error: ${error}`);
  if (flags.json) out(JSON.stringify({ ...summary, error, guard }));
}

async function _validate(path: string, environment: CliEnvironment): Promise<number> {
  const attributes = await readConfigFile(path);
  try {
    const { config, warnings } = parseConfig(attributes, { env: environment.env });
    for (const warning of warnings) environment.err(`warning: ${warning}`);
    environment.out(`${path}: valid; mirrors into ${config.mirrorRoot}`);
    return EXIT.ok;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    environment.err(`${path}: invalid`);
    for (const issue of error.issues) environment.err(`  ${issue.field}: ${issue.message}`);
    return EXIT.usage;
  }
}

/** Where a CLI user sets an attribute that is missing or wrong. */
function _flagHint(field: string): string {
  const hints: Record<string, string> = {
    app_api_key:
      " (set the VIAM_API_KEY environment variable, or app_api_key in the --config file)",
    app_api_key_id: " (use --api-key-id, or the VIAM_API_KEY_ID environment variable)",
    sync_frequency: " (--sync-frequency)",
    mirror_path: " (--mirror-path)",
    concurrency: " (--concurrency)",
    free_space_reserve_percent: " (--free-space-reserve)",
    max_delete: " (--max-delete)",
    app_url: " (--app-url)",
    dataset_id: " (--dataset-id)",
    protected_dirs: " (--protected-dir)",
  };
  return hints[field] ?? "";
}

/**
 * Hides, in a usage error, every argument that could be a secret: the value of `--api-key` (and of
 * the `VIAM_API_KEY` variable), whatever follows `=` in an option, and any bare argument (no command
 * takes one but `module`, whose socket path is no secret but is hidden all the same).
 */
function _redactArguments(text: string, args: string[], env: EnvReader): string {
  const secrets = new Set<string>();
  const key = env("VIAM_API_KEY");
  if (key) secrets.add(key);
  args.forEach((arg, i) => {
    const eq = arg.indexOf("=");
    if (arg.startsWith("-") && eq > 0) secrets.add(arg.slice(eq + 1));
    else if (!arg.startsWith("-") && (i > 0 || !CLI_COMMANDS.includes(arg))) secrets.add(arg);
  });
  let redacted = text;
  for (
    const secret of [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length)
  ) {
    redacted = redacted.replaceAll(secret, "[redacted]");
  }
  return redacted;
}

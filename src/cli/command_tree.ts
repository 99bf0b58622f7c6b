/**
 * The CLI's command tree: every command, option, description and help text, and nothing else.
 * Each command's body lives in its own file (`sync_command.ts`, `validate_command.ts`,
 * `completion_script.ts`); the tree hands it the parsed options. The shell completion is generated
 * from this tree, so it cannot drift from it.
 *
 * @module
 */
import { Argument, Command, InvalidArgumentError, Option } from "commander";
import { LOG_LEVELS } from "../logger.ts";
import denoJson from "../../deno.json" with { type: "json" };
import { MODULE_COMMAND } from "./commands.ts";
import { parseList } from "./config_from_flags.ts";
import { EXIT_CODES_HELP, PUSH_EXIT_CODES_HELP } from "./exit_codes.ts";
import type { PushCommandFlags } from "./push_command.ts";
import type { SyncCommandFlags } from "./sync_command.ts";
import type { ValidateFlags } from "./validate_command.ts";

/** The bodies the tree calls; each records its exit code. */
export interface CommandActions {
  /** `sync`. */
  sync(flags: SyncCommandFlags): Promise<void>;
  /** `validate`. */
  validate(flags: ValidateFlags): Promise<void>;
  /** `push`. */
  push(flags: PushCommandFlags): Promise<void>;
  /** `completion <shell>`; `program` is the whole tree. */
  completion(shell: string, program: Command): void;
}

/** Where commander writes help and its own errors. */
export interface CommandTreeOutput {
  /** Help and version text (stdout). */
  writeOut: (text: string) => void;
  /** Commander's usage errors (stderr, or captured for `--json`). */
  writeErr: (text: string) => void;
}

/** The shells `completion` can write a script for. */
const _COMPLETION_SHELLS = ["bash", "zsh"] as const;

/** How the CLI takes the API key; shown under `--help`. */
const _API_KEY_HELP =
  "The API key comes from app_api_key_id / app_api_key in the --config file, else from the\n" +
  "environment (VIAM_API_KEY_ID, VIAM_API_KEY); --api-key-id replaces the id. The key is taken\n" +
  "never from a flag: a command line shows in ps, in the shell's history and in the line\n" +
  "`deno task` echoes.";

const _MODULE_HELP =
  "viam-server starts the module itself, as `data-mirror <socket-path>` (or a loopback\n" +
  "host:port in TCP mode; `data-mirror module <address>` spells it out): add it to a machine\n" +
  "in the Viam app; see the README.";

/** Builds the `data-mirror` command tree; parsing it calls `actions`. */
export function buildCommandTree(actions: CommandActions, output: CommandTreeOutput): Command {
  const program = new Command("data-mirror")
    .description(
      "Mirror binary data (images, models, any file) from Viam data management into ~/.viam/<mirror_path>.",
    )
    .version(denoJson.version, "-V, --version")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => output.writeOut(text.trimEnd()),
      writeErr: (text) => output.writeErr(text.trimEnd()),
    })
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText("after", `\n${_MODULE_HELP}\n\n${_API_KEY_HELP}\n\n${EXIT_CODES_HELP}`);

  program.command("sync")
    .description("Run one sync pass (or keep running passes with --watch), then exit.")
    .option("--config <file>", "JSON file with the module's attributes (flags override it)")
    .option("--api-key-id <id>", "API key id (default: $VIAM_API_KEY_ID)")
    .option("--tags <a,b>", "capture tags to mirror (any of them)", parseList)
    .option("--labels <a,b>", "bounding-box labels to mirror (any of them)", parseList)
    .option("--dataset-id <id>", "dataset to mirror")
    .option("--mime-types <a,b>", "MIME types to mirror (any of them), e.g. image/jpeg", parseList)
    .option("--start <time>", "only data captured at or after this ISO 8601 time")
    .option("--end <time>", "only data captured before this ISO 8601 time")
    .option("--max-age <duration>", "only data captured within this window, e.g. 7d, 12h, 30m")
    .option(
      "--mirror-path <path>",
      "the mirror folder, relative to $VIAM_HOME (itself ~/.viam by default); default data_mirror",
    )
    .option("--delete", "delete the files the mirror placed that the platform no longer lists")
    .option("--allow-delete-all", "with --delete, also delete everything when the listing is empty")
    .option(
      "--max-delete <n|p%>",
      "with --delete, a pass that would delete more files than this deletes none " +
        "(default: 50% of the mirror's files, at least 10)",
    )
    .option(
      "--protected-dir <dir>",
      "a directory never pruned, nor any file in it (repeatable, added to those of --config)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option("--app-url <url>", "Viam app URL (default https://app.viam.com)")
    .option(
      "--concurrency <n>",
      "inline calls in flight at once, large files streaming beside them (default 4)",
    )
    .option(
      "--bwlimit <rate>",
      "bandwidth limit of this run (listing, downloads, --watch's uploads), bytes/s: 512k, 2M (0: none)",
    )
    .option("--sync-frequency <seconds>", "seconds between passes with --watch (default 60, min 1)")
    .option("--free-space-reserve <percent>", "share of the disk to keep free (default 5)")
    .option("--no-manifest", "do not write <mirror>/.data-mirror/manifest.jsonl after each pass")
    .option("--dry-run", "print what would be downloaded and deleted; change nothing")
    .option(
      "--json",
      "stdout is one JSON document (one per pass with --watch); text goes to stderr",
    )
    .option("--watch", "keep running passes every --sync-frequency seconds until SIGINT/SIGTERM")
    .addOption(
      new Option("--log-level <level>", "lowest log level shown on stderr")
        .choices(LOG_LEVELS).default("info"),
    )
    .addHelpText("after", `\n${_API_KEY_HELP}\n\n${EXIT_CODES_HELP}`)
    .action((flags: SyncCommandFlags) => actions.sync(flags));

  program.command("validate")
    .description("Check a config file (the module's attributes as JSON); exit 0 when valid.")
    .requiredOption("--config <file>", "JSON file with the module's attributes")
    .option("--json", "print the result as one JSON document on stdout")
    .action((flags: ValidateFlags) => actions.validate(flags));

  program.command("push")
    .description(
      "Upload a folder inside .viam into Viam data management (once each), then delete each file " +
        "the platform has (unless --keep).",
    )
    .option("--config <file>", "JSON file with the module's attributes (flags override it)")
    .option("--api-key-id <id>", "API key id (default: $VIAM_API_KEY_ID)")
    .option(
      "--part-id <id>",
      "the machine part the files belong to (default: $VIAM_MACHINE_PART_ID)",
    )
    .option(
      "--push-path <path>",
      "the folder to upload, relative to $VIAM_HOME (itself ~/.viam by default); required",
    )
    .option("--tags <a,b>", "tags every uploaded file gets", parseList)
    .option(
      "--dataset-id <id>",
      "a dataset every uploaded file is added to (repeatable)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option("--keep", "keep files after their upload (an unchanged file is never sent twice)")
    .option("--min-age <seconds>", "settle time: skip files modified more recently (default 10)")
    .option("--app-url <url>", "Viam app URL (default https://app.viam.com)")
    .option(
      "--bwlimit <rate>",
      "bandwidth limit of this run's uploads, bytes/s: 512k, 2M (0: none)",
    )
    .option("--dry-run", "print what would be uploaded and deleted; send and change nothing")
    .option("--json", "stdout is one JSON document; text goes to stderr")
    .addOption(
      new Option("--log-level <level>", "lowest log level shown on stderr")
        .choices(LOG_LEVELS).default("info"),
    )
    .addHelpText("after", `\n${_API_KEY_HELP}\n\n${PUSH_EXIT_CODES_HELP}`)
    .action((flags: PushCommandFlags) => actions.push(flags));

  // Never run from here (the program serves the module before the CLI is built), nor listed among
  // the CLI's commands: its help page, for `module --help` and `help module`, which printed the
  // program's instead (and `help module` exited 2).
  program.command(MODULE_COMMAND, { hidden: true })
    .description("Serve the Viam module protocol (viam-server starts it so; see the README).")
    .argument(
      "[address]",
      "a unix socket path (ending in .sock), or a loopback 127.0.0.1:<port> (viam-server's " +
        "TCP mode) (default: $VIAM_MODULE_ADDRESS)",
    )
    .option("--log-level <level>", "debug, info, warn or error (default: info)")
    // The address decides how it is served: a reviewer read "127.0.0.1:<port> with --tcp-mode" as
    // the flag being needed for one, and found it ignored beside a socket path.
    .option(
      "--tcp-mode",
      "what viam-server passes in TCP mode; accepted, not needed: the address decides",
    );

  program.command("completion")
    .description("Print a shell completion script (see the README to install it).")
    .addArgument(new Argument("<shell>", "the shell").choices(_COMPLETION_SHELLS))
    .action((shell: string) => actions.completion(shell, program));

  _refuseFlagsAsValues(program);
  return program;
}

/**
 * Makes every option that takes a value refuse one that starts with `--`. Commander takes the next
 * word as the value whatever it is, so a forgotten value swallowed the flag after it:
 * `--mirror-path --dry-run --delete` ran a real pass, with deletes, into `~/.viam/--dry-run`.
 */
function _refuseFlagsAsValues(program: Command): void {
  for (const command of [program, ...program.commands]) {
    for (const option of command.options) {
      if (!option.required && !option.optional) continue;
      const parse = option.parseArg;
      option.argParser((value: string, previous: unknown) => {
        if (value.startsWith("--")) {
          throw new InvalidArgumentError(
            `it is a flag, not a value: give ${option.long} its value (nothing was run)`,
          );
        }
        if (parse) return parse(value, previous);
        // A flag of one value given twice (`--dataset-id real --dataset-id typo`) would keep the
        // last in silence: a typo then mirrors nothing, or another folder.
        if (previous !== undefined && previous !== option.defaultValue) {
          throw new InvalidArgumentError(
            `${option.long} was given twice: give it once (nothing was run)`,
          );
        }
        return value;
      });
    }
  }
}

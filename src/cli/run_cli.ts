/**
 * The `data-mirror` command line: reads the arguments through the command tree
 * (`command_tree.ts`), runs the command's body, and turns every outcome into output and an exit
 * code ({@linkcode EXIT}). With `--json`, every outcome, usage errors included, is one JSON
 * document on stdout.
 *
 * @example
 * ```ts
 * const code = await runCli(["sync", "--tags", "a"], {
 *   env: (name) => Deno.env.get(name),
 *   out: console.log,
 *   err: console.error,
 *   tty: Deno.stderr.isTerminal(),
 * });
 * ```
 *
 * @module
 */
import { type Command, CommanderError } from "commander";
import { ConfigError, type ConfigIssue } from "../config.ts";
import { editDistance } from "../edit_distance.ts";
import { printUsageError, unknownCommandMessage } from "../invocation.ts";
import { LOG_LEVELS, type LogLevel } from "../logger.ts";
import { redactArguments } from "../redaction.ts";
import { describeError } from "../remote/errors.ts";
import { flagForAttributeSpelling, flagHint } from "./attribute_flags.ts";
import { CliOutput } from "./cli_output.ts";
import { buildCommandTree } from "./command_tree.ts";
import { CLI_COMMANDS } from "./commands.ts";
import { completionScript } from "./completion_script.ts";
import { ConfigFileError } from "./config_file.ts";
import type { EnvReader } from "./config_from_flags.ts";
import { EXIT } from "./exit_codes.ts";
import { PushUsageError } from "./push_usage_error.ts";
import type { CommandContext } from "./sync_command.ts";

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
}

/** The usage error for `--api-key`: it names the safe ways and never quotes the value. */
const _API_KEY_FLAG_REFUSED =
  "--api-key is not accepted: a key on the command line shows in ps, in the shell's history and in " +
  "the line `deno task` echoes. Set VIAM_API_KEY (and VIAM_API_KEY_ID) in the environment, or put " +
  "app_api_key in the --config file.";

/** Runs the command line and resolves to the exit code ({@linkcode EXIT}). */
export async function runCli(args: string[], environment: CliEnvironment): Promise<number> {
  const json = args.includes("--json");
  const output = new CliOutput({
    json,
    out: environment.out,
    err: environment.err,
    logLevel: _logLevel(args),
    secrets: [environment.env("VIAM_API_KEY") ?? ""],
  });
  if (args.some(_isApiKeyFlag)) {
    // Refused before anything reads the arguments, so the key is quoted nowhere.
    return _usageError(output, _API_KEY_FLAG_REFUSED);
  }
  const context: CommandContext = { env: environment.env, output, tty: environment.tty };
  let exitCode: number = EXIT.ok;
  const usageText: string[] = [];
  const helpText: string[] = [];
  // Each command's body is loaded when it runs: `sync` never loads the uploader, `--help` and
  // `validate` never load the SDK (a third of a second of start-up on a Pi-class CPU).
  const program = buildCommandTree({
    sync: async (flags) => {
      const { runSync } = await import("./sync_command.ts");
      exitCode = await runSync(flags, context);
    },
    push: async (flags) => {
      const { runPush } = await import("./push_command.ts");
      exitCode = await runPush(flags, context);
    },
    validate: async (flags) => {
      const { runValidate } = await import("./validate_command.ts");
      exitCode = await runValidate(flags, context);
    },
    completion: (shell, tree) => {
      environment.out(completionScript(shell as "bash" | "zsh", tree));
    },
  }, {
    // With --json, help and the version become one document (below): stdout holds nothing else.
    writeOut: (text) => json ? helpText.push(text) : environment.out(text),
    // Commander quotes what was typed: a key given to a misspelt flag must not be printed back.
    writeErr: (raw) => {
      const text = _attributeSpellingHint(
        _elsewhereHint(_valuedOptionHint(raw, args, program), args, program),
        args,
        program,
      );
      const redacted = redactArguments(text, args, {
        commands: CLI_COMMANDS,
        secrets: [environment.env("VIAM_API_KEY") ?? ""],
        plainOptions: ["--log-level"],
      });
      if (json) usageText.push(redacted); // in the document, and for people on stderr
      environment.err(redacted);
    },
  });

  const unknownCommand = _unknownCommand(args, program);
  if (unknownCommand !== undefined) {
    printUsageError(
      { mode: "usage-error", message: unknownCommandMessage(unknownCommand), json },
      { out: environment.out, err: environment.err },
    );
    return EXIT.usage;
  }
  const flagAsValue = _helpOrVersionAsValue(args, program);
  if (flagAsValue !== undefined) return _usageError(output, flagAsValue);
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with exit code 0.
      if (error.exitCode === 0) {
        // Each write is a line of its own on a terminal (the help, then the text after it).
        if (json) output.document(_helpDocument(error.code, helpText.join("\n")));
        return EXIT.ok;
      }
      const hint = _optionBeforeCommand(error, args, program);
      if (hint !== undefined) environment.err(hint);
      if (json) {
        output.document({ error: _usageDocumentText(usageText, hint), exitCode: EXIT.usage });
      }
      return EXIT.usage;
    }
    if (error instanceof ConfigError) {
      output.note("data-mirror: invalid configuration:");
      const issues: (ConfigIssue & { hint?: string })[] = error.issues.map((issue) => {
        const hint = flagHint(issue.field);
        return hint === undefined ? issue : { ...issue, hint };
      });
      for (const { message, hint } of issues) {
        output.note(`  ${message}${hint === undefined ? "" : ` (${hint})`}`);
      }
      output.document({ error: "invalid configuration", issues, exitCode: EXIT.usage });
      return EXIT.usage;
    }
    if (error instanceof ConfigFileError || error instanceof PushUsageError) {
      return _usageError(output, error.message);
    }
    output.error(describeError(error));
    output.document({ error: describeError(error), exitCode: EXIT.failed });
    return EXIT.failed;
  }
  if (args.length === 0) {
    program.outputHelp();
    return EXIT.usage;
  }
  return exitCode;
}

function _usageError(output: CliOutput, message: string): number {
  output.note(`data-mirror: ${message}`);
  output.document({ error: message, exitCode: EXIT.usage });
  return EXIT.usage;
}

/** `--api-key`, `--api-key=...`: the refused flag in either form. */
function _isApiKeyFlag(arg: string): boolean {
  return arg === "--api-key" || arg.startsWith("--api-key=");
}

/** The `--log-level` given, for output made before commander has read it. */
function _logLevel(args: string[]): LogLevel {
  const index = args.indexOf("--log-level");
  const value = index >= 0
    ? args[index + 1]
    : args.find((arg) => arg.startsWith("--log-level="))?.slice("--log-level=".length);
  return LOG_LEVELS.find((level) => level === value) ?? "info";
}

/** The `--json` document of `--help` (its text in `help`) or `--version` (in `version`). */
function _helpDocument(code: string, text: string): Record<string, unknown> {
  return code === "commander.version"
    ? { version: text.trim(), exitCode: EXIT.ok }
    : { help: text, exitCode: EXIT.ok };
}

/**
 * The first word of `args` that is neither an option nor an option's value, when it is no
 * command: `data-mirror --json synk` is a misspelt command, where commander would name `--json` as
 * an unknown option of the program. Undefined when a command is there, or help or the version is
 * asked for (commander answers those).
 */
function _unknownCommand(args: readonly string[], program: Command): string | undefined {
  if (args.some((arg) => _HELP_OR_VERSION.includes(arg))) return undefined;
  const takesValue = _valueOptions(program);
  const known = new Set(
    [...program.options, ...program.commands.flatMap((command) => command.options)]
      .flatMap((option) => [option.long, option.short]),
  );
  for (let i = 0; i < args.length; i++) {
    if (!args[i].startsWith("-")) {
      if (CLI_COMMANDS.includes(args[i])) return undefined;
      // The value of an option no command has (`--tag rear sync`): the option is what is wrong,
      // and commander names it.
      const before = args[i - 1];
      // (`--` is no option: it ends them, and the word after it is the command.)
      if (
        before?.startsWith("-") && before !== "--" && !before.includes("=") && !known.has(before)
      ) return undefined;
      return args[i];
    }
    if (takesValue.has(args[i])) i++;
  }
  return undefined;
}

const _HELP_OR_VERSION = ["--help", "-h", "--version", "-V"];

/** The flags of the commands' options that take a value, long and short. */
function _valueOptions(program: Command): Set<string | undefined> {
  return new Set(
    program.commands.flatMap((command) => command.options)
      .filter((option) => option.required || option.optional)
      .flatMap((option) => [option.long, option.short]),
  );
}

/**
 * The usage error of a help or version flag where an option's value should be (`--tags -V
 * --delete`), or undefined: commander answered the flag, the version printed with exit 0 and
 * nothing run, or took `-h` for a folder's name (a reviewer). The forgotten value is what to fix,
 * as for `--mirror-path --dry-run`.
 */
function _helpOrVersionAsValue(args: readonly string[], program: Command): string | undefined {
  const takesValue = _valueOptions(program);
  for (let i = 0; i + 1 < args.length && args[i] !== "--"; i++) {
    if (takesValue.has(args[i]) && _HELP_OR_VERSION.includes(args[i + 1])) {
      return `option ${args[i]} got ${args[i + 1]}: it is a flag, not a value: give ${args[i]} ` +
        "its value (nothing was run)";
    }
  }
  return undefined;
}

/**
 * Commander suggests `--tags` for `--tag rear` but not for `--tag=rear` (it compares the whole
 * word, value and all): the same suggestion from the name alone. `text` as it is otherwise.
 */
function _valuedOptionHint(text: string, args: readonly string[], program: Command): string {
  const unknown = /^error: unknown option '(--[^'=]+)=[^']*'/.exec(text);
  const command = program.commands.find((c) => c.name() === args.find((a) => !a.startsWith("-")));
  if (unknown === null || command === undefined || text.includes("(Did you mean ")) return text;
  const name = unknown[1].slice(2);
  let best: { long: string; distance: number } | undefined;
  for (const long of command.options.map((option) => option.long ?? "")) {
    const distance = editDistance(name, long.slice(2));
    if (best === undefined || distance < best.distance) best = { long, distance };
  }
  if (best === undefined || best.distance > Math.max(1, Math.floor(name.length / 3))) return text;
  // The very name is unknown only before its command (`--log-level=debug sync`): its place is
  // what is wrong, as the hint after this one says.
  if (best.distance === 0) return text;
  const [first, ...rest] = text.split("\n");
  return [first, `(Did you mean ${best.long}?)`, ...rest].join("\n");
}

/**
 * Commander's unknown-option error for an option that belongs to another command (`sync
 * --min-age`, push's) says so instead of suggesting a near name of this one (`--max-age`, which with
 * `--delete` deletes what ages out). `text` as it is otherwise.
 */
function _elsewhereHint(text: string, args: readonly string[], program: Command): string {
  const unknown = _UNKNOWN_OPTION.exec(text);
  const name = args.find((arg) => !arg.startsWith("-"));
  if (unknown === null || name === undefined) return text;
  // Before the command (`--json sync`) it is the program's option: see _optionBeforeCommand.
  const at = args.findIndex((arg) => arg === unknown[1] || arg.startsWith(`${unknown[1]}=`));
  if (at < args.indexOf(name)) return text;
  const owners = program.commands
    .filter((command) => command.name() !== name)
    .filter((command) => command.options.some((option) => option.long === unknown[1]))
    .map((command) => command.name());
  if (owners.length === 0) return text;
  return _withHint(text, `(${unknown[1]} is an option of ${owners.join(", ")}, not of ${name})`);
}

/**
 * For an unknown flag spelt as an attribute (`push --push-tags`), the flag that sets it in place of
 * commander's suggestion by spelling (see `flagForAttributeSpelling`); `text` as it is otherwise.
 */
function _attributeSpellingHint(text: string, args: readonly string[], program: Command): string {
  const unknown = _UNKNOWN_OPTION.exec(text);
  const command = program.commands.find((c) => c.name() === args.find((a) => !a.startsWith("-")));
  if (unknown === null || command === undefined) return text;
  const flags = command.options.map((option) => option.long ?? "");
  const flag = flagForAttributeSpelling(unknown[1], command.name(), flags);
  if (flag === undefined) return text;
  return _withHint(
    text,
    `(Did you mean ${flag}? It sets ${unknown[1].slice(2).replaceAll("-", "_")})`,
  );
}

/** Commander's error for an unknown option, with or without a value: the option's name. */
const _UNKNOWN_OPTION = /^error: unknown option '(--[^'=]+)(?:=[^']*)?'/;

/** Commander's error `text` with `hint` in place of its own suggestion, under its first line. */
function _withHint(text: string, hint: string): string {
  const [first, ...rest] = text.split("\n");
  return [first, hint, ...rest.filter((line) => !line.startsWith("(Did you mean "))].join("\n");
}

/**
 * The `--json` document's text for a usage error commander printed: `usage: ` and its first line,
 * with its suggestion (`(Did you mean --tags?)`) and `hint` when there is one.
 */
function _usageDocumentText(texts: string[], hint: string | undefined): string {
  const lines = texts.join("\n").split("\n");
  const first = (lines[0] ?? "").replace(/^error: /, "");
  const suggestion = lines.find((line) => /^\((Did you mean |--)/.test(line));
  return [`usage: ${first}`, suggestion, hint].filter(Boolean).join(" ");
}

/**
 * A hint when an option came before the command (`data-mirror --json sync`): commander reads it
 * as an option of the program, which has none but `--help` and `--version`.
 */
function _optionBeforeCommand(
  error: CommanderError,
  args: string[],
  program: Command,
): string | undefined {
  if (error.code !== "commander.unknownOption") return undefined;
  const command = args.findIndex((arg) => CLI_COMMANDS.includes(arg));
  if (command <= 0) return undefined;
  // The command's own options only (`--tag rear sync`: sync has no --tag, whose name is what is
  // wrong), and by name only: a value given with `=` is never printed back (it may be a key).
  const own = program.commands.find((c) => c.name() === args[command])?.options ?? [];
  const options = args.slice(0, command).filter((arg) => arg.startsWith("-"))
    .map((arg) => arg.split("=")[0])
    .filter((name) => own.some((option) => option.long === name || option.short === name));
  if (options.length === 0) return undefined;
  return `(options go after the command: data-mirror ${args[command]} ${options.join(" ")} ...)`;
}

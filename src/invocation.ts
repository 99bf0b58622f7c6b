/**
 * The one reading of how the program was started: a CLI command, or the Viam module on a unix socket
 * or a loopback TCP port, or a usage error. The permission bootstrap (`main.ts`, through
 * `src/permissions.ts`) reads it to know what to grant, and the program (`src/program.ts`) reads it
 * to know what to start, so the two can never disagree.
 *
 * No npm code in its import graph: the bootstrap runs it with the broad baked permissions.
 *
 * How viam-server starts a module: `<exe> <address> [--log-level=<level>] [--tcp-mode]`, with
 * `VIAM_MODULE_ADDRESS` holding the same address (newer servers), and in TCP mode an address
 * `127.0.0.1:<port>`. The address decides where the module serves, as in Viam's Go SDK: a module
 * inherits viam-server's whole environment, so `VIAM_TCP_SOCKETS=false` (or `true` beside a socket
 * path) must not stop it from serving where viam-server will connect.
 *
 * @example
 * ```ts
 * import { readInvocation } from "./invocation.ts";
 *
 * const invocation = readInvocation(["/tmp/viam-module-x/m.sock"], { env: () => undefined });
 * // { mode: "module", address: { kind: "unix", path: "/tmp/viam-module-x/m.sock", ... }, ... }
 * ```
 *
 * @module
 */
import { CLI_COMMANDS, MODULE_COMMAND } from "./cli/commands.ts";
import { editDistance } from "./edit_distance.ts";
import { LOG_LEVELS, type LogLevel, parseLogLevel } from "./logger.ts";
import { isLoopbackHost } from "./loopback_host.ts";

/** Where the module serves: a unix socket, or a TCP port on a loopback host. */
export type ModuleAddress =
  | {
    /** A unix domain socket. */
    readonly kind: "unix";
    /** Its path, as given. */
    readonly path: string;
    /** Where the address came from (`VIAM_MODULE_ADDRESS`, `the address argument`). */
    readonly from: string;
  }
  | {
    /** TCP, viam-server's `--tcp-mode`. */
    readonly kind: "tcp";
    /** A loopback host: `127.0.0.1` (any `127.x.y.z`), `localhost` or `::1`. */
    readonly host: string;
    /** 1 to 65535. */
    readonly port: number;
    /** Where the address came from. */
    readonly from: string;
  };

/** The program serves the Viam module protocol. */
export interface ModuleInvocation {
  /** Always `module`. */
  readonly mode: "module";
  /** Where to serve. */
  readonly address: ModuleAddress;
  /** `--log-level` (viam-server passes the module config's `log_level`); default `info`. */
  readonly logLevel: LogLevel;
  /**
   * Why `logLevel` is not the level asked for: one this program does not know (`trace`) is run at
   * `info`. Refused, a module viam-server starts so would exit and be started again, every 5 s.
   */
  readonly logLevelNote?: string;
}

/** The program runs a CLI command (`sync`, `validate`, `help`, `--help`, ...). */
export interface CliInvocation {
  /** Always `cli`. */
  readonly mode: "cli";
  /** The arguments for the CLI, unchanged. */
  readonly args: readonly string[];
  /** Files named by `--config FILE` / `--config=FILE` (`-`, standard input, is not one). */
  readonly configFiles: readonly string[];
  /** True when `--json` is on the line: output, usage errors included, is one JSON document. */
  readonly json: boolean;
}

/** The arguments make no sense: the program prints the message and exits with code 2. */
export interface UsageErrorInvocation {
  /** Always `usage-error`. */
  readonly mode: "usage-error";
  /** What is wrong, with a "did you mean" where one fits. */
  readonly message: string;
  /** True when `--json` is on the line: the error is printed as one JSON document on stdout. */
  readonly json: boolean;
}

/** How the program was started. */
export type Invocation = ModuleInvocation | CliInvocation | UsageErrorInvocation;

/** Where {@linkcode readInvocation} reads the environment from. */
export interface ReadInvocationOptions {
  /** Reads one environment variable (`VIAM_MODULE_ADDRESS`). */
  env: (name: string) => string | undefined;
}

/** The exit code of a usage error. */
export const USAGE_EXIT_CODE = 2;

const _TCP_MODE_FLAG = "--tcp-mode";
const _LOG_LEVEL_FLAG = "--log-level";
/** `host:port`: no slash, a colon, digits (`[::1]:port` included). */
const _HOST_PORT = /^(?<host>\[[^\]/]*\]|[^/:]*):(?<port>\d+)$/;

/**
 * Reads `args` (and `VIAM_MODULE_ADDRESS`) into an {@linkcode Invocation}.
 *
 * Module mode: `data-mirror module [address]`; a first argument that is clearly a module address (a
 * path ending in `.sock`, as viam-server names every module socket, a `unix:` URL, or `host:port`)
 * or the variable's own value; or `VIAM_MODULE_ADDRESS` set with no command (it then wins over an
 * address argument, which older servers pass alone). Any other first word that is not a command is
 * a usage error naming the closest command, with the variable set or not: `data-mirror synk` must
 * not serve a module on `./synk` (nor on the variable's address), nor `data-mirror ~/.viam/faces`
 * one on that folder's name.
 */
export function readInvocation(
  args: readonly string[],
  options: ReadInvocationOptions,
): Invocation {
  const json = args.includes("--json");
  const [first] = args;
  const envAddress = options.env("VIAM_MODULE_ADDRESS") || undefined;
  if (first === MODULE_COMMAND) {
    // `module --help` is a question for the CLI, never a module start.
    if (args.some((arg) => arg === "--help" || arg === "-h")) return _cliInvocation(args, json);
    return _moduleInvocation(args.slice(1), envAddress, json);
  }
  // `help synk`: the same usage error as `synk`; `help help`: the program's help. Commander printed
  // the program's help as an error for both.
  if (first === "help" && args[1] !== undefined && !args[1].startsWith("-")) {
    if (args[1] === "help") return _cliInvocation(["--help", ...args.slice(2)], json);
    if (!CLI_COMMANDS.includes(args[1])) return _usageError(unknownCommandMessage(args[1]), json);
  }
  if (first !== undefined && CLI_COMMANDS.includes(first)) return _cliInvocation(args, json);
  if (first === undefined || first.startsWith("-")) {
    // `--help`, `--version`; viam-server always passes the address first, but a server that sets
    // only the variable and passes the module's flags is a module start too.
    const moduleFlagsOnly = args.length > 0 && args.every(_isModuleFlag);
    if (envAddress !== undefined && (args.length === 0 || moduleFlagsOnly)) {
      return _moduleInvocation(args, envAddress, json);
    }
    return _cliInvocation(args, json);
  }
  // With the variable set too, only an address starts the module: `synk` under viam-server's
  // environment (a shell on the robot) is a misspelt command, not a module start.
  if (_looksLikeAddress(first) || first === envAddress) {
    return _moduleInvocation(args, envAddress, json);
  }
  // `127.0.0.1:8080x`: a mistyped module address, said as one (`user:secret`, whose "port" starts
  // with no digit, is not printed).
  if (/^(\[[^\]/]*\]|[\w.-]*):([+\d][^/\s]*)?$/.test(first) && first.length <= 64) {
    const address = parseModuleAddress(first, { from: "the address argument" });
    if (typeof address === "string") return _usageError(`module: ${address}`, json);
  }
  return _usageError(unknownCommandMessage(first), json);
}

/**
 * `unknown command "synk" (did you mean "sync"? ...)`: the usage error for a first word that is no
 * command, quoted only when it looks like one (a key pasted in the wrong place is not printed).
 */
export function unknownCommandMessage(word: string): string {
  return `unknown command ${_quoteWord(word)}${_didYouMean(word)}`;
}

/**
 * Prints a usage error: lines for people on `err` (stderr), and with `json` one JSON document
 * (`{"error": ..., "exitCode": 2}`) on `out` (stdout), which then holds nothing else.
 */
export function printUsageError(
  error: UsageErrorInvocation,
  { out, err }: { out: (text: string) => void; err: (text: string) => void } = {
    out: console.log,
    err: console.error,
  },
): void {
  if (error.json) {
    out(JSON.stringify({ error: `usage: ${error.message}`, exitCode: USAGE_EXIT_CODE }));
  }
  err(`data-mirror: ${error.message}\n(run data-mirror --help for usage)`);
}

function _moduleInvocation(
  rest: readonly string[],
  envAddress: string | undefined,
  json: boolean,
): Invocation {
  let logLevel: LogLevel = "info";
  let logLevelNote: string | undefined;
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === _TCP_MODE_FLAG) {
      continue; // the address says TCP (host:port) or not
    } else if (arg === _LOG_LEVEL_FLAG || arg.startsWith(`${_LOG_LEVEL_FLAG}=`)) {
      const spaced = arg === _LOG_LEVEL_FLAG;
      const value = spaced ? rest[i + 1] : arg.slice(_LOG_LEVEL_FLAG.length + 1);
      const level = parseLogLevel(value);
      // `--log-level <address>`: the word after it is the address, not a level of its own.
      if (spaced && level !== undefined) i++;
      logLevel = level ?? "info";
      logLevelNote = level !== undefined
        ? undefined
        : `${_LOG_LEVEL_FLAG} ${_quoteWord(value ?? "")} is not one of ${
          LOG_LEVELS.join(", ")
        }: logging at info`;
    } else if (arg.startsWith("-")) {
      // Flags a newer viam-server may add: a module must not fail to start over them.
      continue;
    } else {
      positional.push(arg);
    }
  }
  if (positional.length > 1) {
    return _usageError(`module: one address expected, got ${positional.length}`, json);
  }
  const raw = envAddress ?? positional[0];
  if (raw === undefined || raw === "") {
    return _usageError(
      "module: no address given (pass a socket path or 127.0.0.1:<port>, or set " +
        "VIAM_MODULE_ADDRESS)",
      json,
    );
  }
  const from = envAddress !== undefined ? "VIAM_MODULE_ADDRESS" : "the address argument";
  const address = parseModuleAddress(raw, { from });
  if (typeof address === "string") return _usageError(`module: ${address}`, json);
  return { mode: "module", address, logLevel, ...(logLevelNote && { logLevelNote }) };
}

/**
 * Reads a module or parent address: `host:port` is TCP (the host must be loopback: the protocol is
 * unauthenticated), anything else a unix socket path (a `unix:` prefix dropped). A name with a
 * colon, no slash and no `unix:` is a mistyped `host:port` (`127.0.0.1:8080x`, `localhost:+9000`),
 * not a socket to make in the working folder. Returns the address, or a message saying why it
 * cannot be used.
 */
export function parseModuleAddress(
  raw: string,
  options: { from: string },
): ModuleAddress | string {
  const { from } = options;
  const tcp = _HOST_PORT.exec(raw);
  if (tcp === null) {
    if (raw.includes(":") && !raw.includes("/") && !raw.startsWith("unix:")) {
      return `${JSON.stringify(raw)} (${from}) is not host:port with a port of digits (such as ` +
        `127.0.0.1:8080); a unix socket's path needs a slash (./${raw}) or a unix: prefix`;
    }
    return { kind: "unix", path: raw.replace(/^unix:(\/\/)?/, ""), from };
  }
  const host = tcp.groups!.host.replace(/^\[(.*)\]$/, "$1");
  const port = Number(tcp.groups!.port);
  if (!isLoopbackHost(host)) {
    return `refusing the address ${JSON.stringify(raw)} (${from}): the module protocol is ` +
      "unauthenticated gRPC, so only a loopback host (127.0.0.1, localhost, ::1) is allowed";
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return `the port of ${JSON.stringify(raw)} (${from}) must be between 1 and 65535`;
  }
  return { kind: "tcp", host, port, from };
}

/** `address` as a log line names it: the path, or `host:port`. */
export function formatModuleAddress(address: ModuleAddress): string {
  if (address.kind === "unix") return address.path;
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  return `${host}:${address.port}`;
}

/** A `.sock` path, a `unix:` URL or `host:port`: never a misspelt command or a folder. */
function _looksLikeAddress(word: string): boolean {
  return word.endsWith(".sock") || word.startsWith("unix:") || _HOST_PORT.test(word);
}

function _isModuleFlag(arg: string): boolean {
  return arg === _TCP_MODE_FLAG || arg.startsWith(`${_LOG_LEVEL_FLAG}=`);
}

function _cliInvocation(args: readonly string[], json: boolean): CliInvocation {
  return { mode: "cli", args: [...args], configFiles: _configFiles(args), json };
}

function _usageError(message: string, json: boolean): UsageErrorInvocation {
  return { mode: "usage-error", message, json };
}

/**
 * `word` quoted when it looks like a command; otherwise a placeholder: an API key pasted in the
 * wrong place must not be printed back.
 */
function _quoteWord(word: string): string {
  return /^[A-Za-z][A-Za-z_-]{0,15}$/.test(word) ? JSON.stringify(word) : "(not shown)";
}

/** ` (did you mean "sync"?)` for the command closest to `word`, or an empty string. */
function _didYouMean(word: string): string {
  const lower = word.toLowerCase();
  let best: { command: string; distance: number } | undefined;
  for (const command of CLI_COMMANDS) {
    const distance = command.startsWith(lower) && lower.length >= 2
      ? 1
      : editDistance(lower, command);
    if (best === undefined || distance < best.distance) best = { command, distance };
  }
  const commands = `commands: ${CLI_COMMANDS.join(", ")}`;
  if (best !== undefined && best.distance <= Math.max(1, Math.floor(best.command.length / 3))) {
    return ` (did you mean ${JSON.stringify(best.command)}? ${commands})`;
  }
  return ` (${commands}; a module socket path ends in .sock)`;
}

/** The values of every `--config FILE` / `--config=FILE` (`-` means standard input: no file). */
function _configFiles(args: readonly string[]): string[] {
  const files: string[] = [];
  args.forEach((arg, index) => {
    const value = arg === "--config"
      ? args[index + 1]
      : arg.startsWith("--config=")
      ? arg.slice("--config=".length)
      : undefined;
    if (value !== undefined && value !== "" && value !== "-") files.push(value);
  });
  return files;
}

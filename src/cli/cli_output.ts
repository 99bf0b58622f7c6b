/**
 * What the CLI prints and where, in one place.
 *
 * - Without `--json`: the result (mirror path, summary, what was held back) on stdout; logs,
 *   progress and errors on stderr.
 * - With `--json`: stdout holds exactly one JSON document per pass (one in all for a one-shot run,
 *   a usage or a configuration error; one per pass with `--watch`) and nothing else; the human lines
 *   go to stderr.
 * - An error is printed once: a pass error that the engine already logged is not printed again.
 * - Every line, on both streams, is scrubbed of the API key (defence in depth: no message is meant
 *   to hold it).
 *
 * @example
 * ```ts
 * import { CliOutput } from "./cli_output.ts";
 *
 * const output = new CliOutput({ json: false, out: console.log, err: console.error, logLevel: "info" });
 * output.line("mirror: /home/pi/.viam/data_mirror");
 * ```
 *
 * @module
 */
import type { Logger, LogLevel } from "../logger.ts";
import type { PushSummary } from "../mirror_controller.ts";
import type { Summary } from "../sync/summary.ts";
import { scrubSecrets } from "../redaction.ts";
import { createTerminalLogger } from "./terminal_logger.ts";
import { inCliTerms } from "./attribute_flags.ts";

/** Options of {@linkcode CliOutput}. */
export interface CliOutputOptions {
  /** `--json`: stdout is reserved for the JSON document. */
  json: boolean;
  /** Writes a line to stdout. */
  out: (line: string) => void;
  /** Writes a line to stderr. */
  err: (line: string) => void;
  /** The lowest log level shown. */
  logLevel: LogLevel;
  /** Secrets known from the start (the `VIAM_API_KEY` value); more with `rememberSecret`. */
  secrets?: Iterable<string>;
}

/** The CLI's stdout and stderr, with the `--json` contract and each error printed once. */
export class CliOutput {
  /** The logger the engine writes to (stderr). */
  readonly logger: Logger;
  readonly #options: CliOutputOptions;
  /** Error and warning messages logged since the last result, to print no error twice. */
  #logged: string[] = [];

  readonly #secrets: Set<string>;

  constructor(options: CliOutputOptions) {
    this.#secrets = new Set(options.secrets);
    this.#options = {
      ...options,
      out: (line) => options.out(scrubSecrets(line, this.#secrets)),
      err: (line) => options.err(scrubSecrets(line, this.#secrets)),
    };
    const terminal = createTerminalLogger({ level: options.logLevel, write: this.#options.err });
    const remembered = (log: Logger["error"]): Logger["error"] => (message, fields) => {
      // The engine words an attribute as the module's (`mirror_path`); the CLI prints the same
      // error in its terms (`--mirror-path`): either one says it once.
      this.#logged.push(message, inCliTerms(message));
      log(message, fields);
    };
    this.logger = {
      ...terminal,
      warn: remembered(terminal.warn),
      error: remembered(terminal.error),
    };
  }

  /** Scrubs `secret` (the configured API key) from everything printed from now on. */
  rememberSecret(secret: string): void {
    this.#secrets.add(secret);
  }

  /** True with `--json`. */
  get json(): boolean {
    return this.#options.json;
  }

  /** A line of the result: stdout, or stderr with `--json`. */
  line(text: string): void {
    (this.#options.json ? this.#options.err : this.#options.out)(text);
  }

  /** A note for the user (warnings, usage help) on stderr. */
  note(text: string): void {
    this.#options.err(text);
  }

  /** An error on stderr as `data-mirror: <text>`, unless a logged message already said it. */
  error(text: string): void {
    if (this.#logged.some((message) => message.includes(text))) return;
    this.#options.err(`data-mirror: ${text}`);
  }

  /** With `--json`, the result document on stdout; ends the current result (see `error`). */
  document(value: Record<string, unknown>): void {
    if (this.#options.json) this.#options.out(JSON.stringify(value));
    this.#logged = [];
  }
}

/** One line for a pass: `12 listed, 3 downloaded (1.2 MiB), ... in 1.4 s`. */
export function formatSummary(summary: Summary): string {
  return `${summary.listed} listed, ${summary.downloaded} downloaded (${
    formatBytes(summary.bytes)
  }), ${summary.skipped} skipped, ${summary.deleted} deleted, ${summary.failed} failed, ` +
    `${summary.duplicate} duplicate, ${summary.rejected} rejected in ${
      (summary.durationMs / 1000).toFixed(1)
    } s`;
}

/** A push pass's counts as one line, as `push` and each pass of `sync --watch` print them. */
export function formatPushSummary(summary: PushSummary): string {
  // Counted as uploaded, though sent by a run cut off before: said, as nothing went this time.
  const recovered = summary.recovered
    ? `; ${summary.recovered} of them stored by an earlier run cut off, not sent again`
    : "";
  return `${summary.found} found, ${summary.uploaded} uploaded (${formatBytes(summary.bytes)}` +
    `${recovered}), ` +
    `${summary.skipped} skipped, ${summary.deleted} deleted, ${summary.failed} failed in ` +
    `${(summary.durationMs / 1000).toFixed(1)} s`;
}

/**
 * A dry run's line: what would be sent and deleted, not counts of things done (a dry run said "3
 * deleted" beside "nothing sent or deleted", and its JSON `deleted` counted would-be deletes).
 */
export function formatDryPushSummary(
  summary: PushSummary & { toUpload: number; toDelete?: number },
): string {
  return `${summary.found} found, ${summary.toUpload} to upload, ${summary.toDelete ?? 0} to ` +
    `delete, ${summary.skipped} skipped, ${summary.failed} failed in ` +
    `${(summary.durationMs / 1000).toFixed(1)} s (dry run: nothing sent or deleted)`;
}

/**
 * A path as a line shows it: as it is, or JSON-quoted when it holds what a terminal would not show
 * faithfully (controls, line or paragraph separators, format characters such as U+202E, which
 * turns `evil\u202Egepj.exe` into what reads as `evilexe.jpeg`), and edge white space.
 */
export function formatPath(path: string): string {
  if (!/[\p{Cc}\p{Cf}\u2028\u2029]|^\s|\s$/u.test(path)) return path;
  // JSON leaves format characters and the separators raw: escaped here too.
  return JSON.stringify(path).replace(
    /[\p{Cc}\p{Cf}\u2028\u2029]/gu,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Bytes in binary units, e.g. `1.5 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A duration for an ETA: `45 s`, `3 min 20 s`, `2 h 5 min`. */
export function formatDuration(seconds: number): string {
  const whole = Math.max(0, Math.ceil(seconds));
  if (whole < 60) return `${whole} s`;
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${whole % 60} s`;
  return `${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} min`;
}

/**
 * The logging interface of the engine, with viam-server's level names: the CLI writes to the
 * terminal, the module to viam-server's log.
 *
 * @example
 * ```ts
 * const threshold = parseLogLevel("WARNING") ?? "info"; // "warn"
 * levelEnabled("info", threshold); // false
 * ```
 *
 * @module
 */
/** Log levels, lowest first, as viam-server names them. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Structured context of a log line; never holds a secret. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/**
 * Where the engine reports what it does. The CLI writes to the terminal, the module sends each entry to
 * viam-server's `RobotService/Log`.
 */
export interface Logger {
  /** Details useful when diagnosing. */
  debug(message: string, fields?: LogFields): void;
  /** What happened: a pass started, files written. */
  info(message: string, fields?: LogFields): void;
  /** Something the operator should look at; work went on. */
  warn(message: string, fields?: LogFields): void;
  /** Something failed. */
  error(message: string, fields?: LogFields): void;
}

/** A viam-server log level, in any case (`warning` is read as `warn`), or undefined. */
export function parseLogLevel(value: string | undefined): LogLevel | undefined {
  const normalised = value?.toLowerCase() === "warning" ? "warn" : value?.toLowerCase();
  return LOG_LEVELS.find((level) => level === normalised);
}

/** True when a message at `level` passes a logger set to `threshold`. */
export function levelEnabled(level: LogLevel, threshold: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(threshold);
}

/**
 * `text` as one log line: control characters (C0, newline and ESC among them, DEL, C1), line and
 * paragraph separators and format characters (U+202E turns a name around) escaped as `\uXXXX`.
 * Messages quote names with `quoteName` (`paths.ts`), but the system's own error messages quote a
 * path raw (`readdir '<path>'`): a folder named `x\nERROR ...` then forged a line, or an escape
 * sequence drove the terminal, in every log a pass wrote.
 */
export function escapeLogText(text: string): string {
  return text.replace(
    /[\p{Cc}\p{Cf}\u2028\u2029]/gu,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * The CLI's logger: one line per entry on stderr, `LEVEL message key=value...`.
 *
 * @example
 * ```ts
 * import { createTerminalLogger } from "./terminal_logger.ts";
 *
 * createTerminalLogger({ level: "info", write: console.error }).info("pass done", { listed: 3 });
 * ```
 *
 * @module
 */
import {
  escapeLogText,
  levelEnabled,
  type LogFields,
  type Logger,
  type LogLevel,
} from "../logger.ts";

/** Options of {@linkcode createTerminalLogger}. */
export interface TerminalLoggerOptions {
  /** The lowest level written. */
  level: LogLevel;
  /** Writes one finished line (a newline is appended by the caller of `write`). */
  write: (line: string) => void;
}

/**
 * A logger for the CLI: one line per entry, `LEVEL message key=value...`, on stderr so that stdout
 * keeps the summary (and the `--json` line) clean.
 */
export function createTerminalLogger(options: TerminalLoggerOptions): Logger {
  const log = (level: LogLevel) => (message: string, fields?: LogFields) => {
    if (!levelEnabled(level, options.level)) return;
    options.write(
      escapeLogText(`${level.toUpperCase().padEnd(5)} ${message}${_formatFields(fields)}`),
    );
  };
  return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}

function _formatFields(fields: LogFields | undefined): string {
  if (!fields) return "";
  let text = "";
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const shown = typeof value === "string" && /[\s"=]/.test(value) ? JSON.stringify(value) : value;
    text += ` ${key}=${shown}`;
  }
  return text;
}

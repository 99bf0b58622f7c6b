/**
 * Log entries sent to viam-server (`RobotService/Log` on the parent's socket), queued so that a
 * logger never waits, with lines on stderr when there is no parent to send them to.
 *
 * @module
 */
import * as net from "node:net";
import { Timestamp } from "@bufbuild/protobuf";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { Transport } from "@connectrpc/connect";
import type { ModuleAddress } from "../invocation.ts";
import {
  escapeLogText,
  levelEnabled,
  type LogFields,
  type Logger,
  type LogLevel,
} from "../logger.ts";
import { REDACTED, SecretRedactor } from "../redaction.ts";
import { VIAM_SERVICES } from "./viam_services.ts";
import { withDeadline } from "../async/deadline.ts";

/** How {@linkcode ParentLogSink} is set up. */
export interface ParentLogSinkOptions {
  /** The lowest level passed on (the module's `--log-level`). */
  threshold: LogLevel;
  /** Scrubs remembered secrets from every message. */
  redactor: SecretRedactor;
  /** Entries held while the parent is slow; past this the oldest are dropped (and counted). Default 1000. */
  capacity?: number;
  /**
   * How long the connection to the parent may stay unused before it is ended; the next entry opens
   * another. Default 0: ended as soon as the entries queued have gone (see `_IDLE_MS`).
   */
  idleMs?: number;
  /**
   * Where an entry goes when there is no parent or sending it failed. Default: stdout, stderr for
   * errors only (viam-server logs every stderr line as an ERROR).
   */
  writeLine?: (line: string, level: LogLevel) => void;
  /**
   * How long close() waits for queued entries to reach the parent before printing them instead.
   * Default 1 s: viam-server sends SIGTERM to the whole group 3.3 s after its own, and the module's
   * stop takes up to 1.75 s before it.
   */
  flushTimeoutMs?: number;
}

interface _Entry {
  level: LogLevel;
  loggerName: string;
  message: string;
  time: Date;
}

/** The module's logger name in viam-server's logs: its entries and the sink's own notices. */
export const MODULE_LOGGER_NAME = "data-mirror";
// A Log call slower than this counts as failed: the entry goes to stdout instead.
const _SEND_TIMEOUT_MS = 5_000;
// See ParentLogSinkOptions.flushTimeoutMs.
const _FLUSH_TIMEOUT_MS = 1_000;
// How long an unused connection to the parent stays open by default (see ParentLogSinkOptions):
// not at all. Deno 2.9.6's HTTP/2 client aborts the process in nghttp2 (an assertion, or a
// segfault) taking in a GOAWAY on a session whose streams have ended (denoland/deno#36788); left
// open 60 s, a pass a minute kept it open for good, and a log server closing gracefully (as
// viam-server's does as it shuts down) crashed the module in 3 to 5 of 6 tries. Ended after each
// drain, 0 of 25 (a unix connection and its settings: a millisecond or two per drain).
const _IDLE_MS = 0;

function _defaultWriteLine(line: string, level: LogLevel): void {
  if (level === "error") console.error(line);
  else console.log(line);
}

function _formatField(value: string | number | boolean): string {
  const text = String(value);
  return /[\s"=]/.test(text) || text === "" ? JSON.stringify(text) : text;
}

/**
 * Sends log entries to viam-server, one per `viam.robot.v1.RobotService/Log` call (the parent rejects
 * batches), over plaintext gRPC on its unix socket (or its loopback TCP port in TCP mode). Loggers never wait: entries are queued and sent in
 * order in the background; when the parent falls behind, the oldest entries are dropped and counted.
 * Until {@linkcode ParentLogSink.connect} (no parent, or `VIAM_NO_MODULE_PARENT`) and whenever a send
 * fails, entries are printed as lines instead.
 */
export class ParentLogSink {
  readonly #threshold: LogLevel;
  readonly #redactor: SecretRedactor;
  readonly #capacity: number;
  readonly #idleMs: number;
  readonly #flushTimeoutMs: number;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #writeLine: (line: string, level: LogLevel) => void;
  readonly #queue: _Entry[] = [];
  #address: string | undefined;
  /** The parent's address, once connected (entries are printed until then). */
  #target: ModuleAddress | undefined;
  #session: Http2SessionManager | undefined;
  #socket: net.Socket | undefined;
  #transport: Transport | undefined;
  #draining: Promise<void> | undefined;
  #dropped = 0;
  #unreportedDrops = 0;
  #closed = false;

  /** A sink that prints lines until it is connected to a parent. */
  constructor(options: ParentLogSinkOptions) {
    this.#threshold = options.threshold;
    this.#redactor = options.redactor;
    this.#capacity = options.capacity ?? 1000;
    this.#idleMs = options.idleMs ?? _IDLE_MS;
    this.#flushTimeoutMs = options.flushTimeoutMs ?? _FLUSH_TIMEOUT_MS;
    this.#writeLine = options.writeLine ?? _defaultWriteLine;
  }

  /** Entries dropped so far because the parent did not take them fast enough. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Sends entries to the parent listening at `address` (a unix socket, or a TCP port) from now on.
   * Calling it again with the same address changes nothing; another address replaces the connection.
   */
  connect(address: ModuleAddress): void {
    const key = address.kind === "unix" ? address.path : `${address.host}:${address.port}`;
    if (this.#closed || key === this.#address) return;
    this.#disconnect();
    this.#address = key;
    this.#target = address;
  }

  /**
   * The transport to the parent, made anew (with a session manager of its own) after each
   * connection ended: a session manager whose socket was destroyed still handed its dead session to
   * the next call for a few turns, and the entry went to stdout instead of viam-server.
   */
  #openTransport(): Transport | undefined {
    const address = this.#target;
    if (address === undefined || this.#transport !== undefined) return this.#transport;
    // The authority is only a name in the :authority header; the connection is made here, so that
    // it can be ended by its socket (see #disconnect). Its idle close is ours, not the session
    // manager's (which sends a GOAWAY): see #kick.
    this.#session = new Http2SessionManager(
      "http://localhost",
      { idleConnectionTimeoutMs: Number.POSITIVE_INFINITY },
      {
        createConnection: () => {
          const socket = address.kind === "unix"
            ? net.connect(address.path)
            : net.connect({ host: address.host, port: address.port });
          this.#socket = socket;
          return socket;
        },
      },
    );
    return this.#transport = createGrpcTransport({
      httpVersion: "2",
      baseUrl: "http://localhost",
      sessionManager: this.#session,
    });
  }

  /**
   * A logger whose entries carry `name` as their `logger_name`, from `threshold` up (the sink's
   * own, the module's `--log-level`, when absent).
   */
  logger(name: string, threshold: LogLevel = this.#threshold): Logger {
    const log = (level: LogLevel) => (message: string, fields?: LogFields): void => {
      if (levelEnabled(level, threshold)) this.#add(level, name, message, fields);
    };
    return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
  }

  /**
   * Stops sending: waits a short while for queued entries to reach the parent, prints the rest and
   * closes the connection. Later entries are printed.
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#draining !== undefined) await withDeadline(this.#draining, this.#flushTimeoutMs);
    for (const entry of this.#queue.splice(0)) this.#print(entry);
    this.#disconnect();
  }

  /**
   * Ends the connection to the parent by closing its socket, without a GOAWAY: Deno 2.9.6 can
   * crash inside nghttp2 while it sends one on a session that has carried calls
   * (denoland/deno#36788; see `_endWithoutGoaway` in `module_server.ts`). The session manager,
   * aborted after, finds its connection closed and sends nothing.
   */
  #disconnect(): void {
    clearTimeout(this.#idleTimer);
    this.#endConnection();
  }

  #add(level: LogLevel, loggerName: string, message: string, fields?: LogFields): void {
    const parts = [message];
    for (const [key, value] of Object.entries(fields ?? {})) {
      if (value === undefined) continue;
      parts.push(`${key}=${SecretRedactor.isSecretName(key) ? REDACTED : _formatField(value)}`);
    }
    const entry = {
      level,
      loggerName,
      message: escapeLogText(this.#redactor.scrub(parts.join(" "))),
      time: new Date(),
    };
    if (this.#target === undefined || this.#closed) {
      this.#print(entry);
      return;
    }
    if (this.#queue.length >= this.#capacity) {
      this.#queue.shift();
      this.#dropped++;
      this.#unreportedDrops++;
    }
    this.#queue.push(entry);
    this.#kick();
  }

  #kick(): void {
    if (this.#draining !== undefined) return;
    clearTimeout(this.#idleTimer);
    this.#draining = this.#drain().finally(() => {
      this.#draining = undefined;
      // An entry queued after the loop's last check but before this callback would wait forever.
      if (this.#queue.length > 0 && !this.#closed) this.#kick();
      else if (!this.#closed) this.#closeWhenIdle();
    });
  }

  /**
   * Ends the connection by its socket once it has gone unused for `idleMs`; the session manager
   * opens another for the next entry. Deno 2.9.6's client can crash taking in a GOAWAY on a
   * session whose streams have ended (denoland/deno#36788), which viam-server sends as it shuts
   * down: see `_IDLE_MS`.
   */
  #closeWhenIdle(): void {
    this.#idleTimer = setTimeout(() => this.#endConnection(), this.#idleMs);
    Deno.unrefTimer(this.#idleTimer);
  }

  /**
   * Closes the connection's socket, if one is open (no GOAWAY: see #disconnect), and lets its
   * session manager go: the next entry makes another ({@linkcode ParentLogSink.#openTransport}).
   */
  #endConnection(): void {
    this.#socket?.destroy();
    this.#socket = undefined;
    this.#session?.abort();
    this.#session = undefined;
    this.#transport = undefined;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      if (this.#unreportedDrops > 0) {
        const count = this.#unreportedDrops;
        this.#unreportedDrops = 0;
        await this.#send({
          level: "warn",
          loggerName: MODULE_LOGGER_NAME,
          message: `dropped ${count} log entries: viam-server did not take them fast enough`,
          time: new Date(),
        });
      }
      const entry = this.#queue.shift();
      if (entry !== undefined) await this.#send(entry);
    }
  }

  async #send(entry: _Entry): Promise<void> {
    const transport = this.#openTransport();
    if (transport === undefined) {
      this.#print(entry);
      return;
    }
    try {
      await transport.unary(
        VIAM_SERVICES.robot,
        VIAM_SERVICES.robot.methods.log,
        undefined,
        _SEND_TIMEOUT_MS,
        undefined,
        {
          logs: [{
            level: entry.level,
            time: Timestamp.fromDate(entry.time),
            loggerName: entry.loggerName,
            message: entry.message,
          }],
        },
      );
    } catch {
      // The parent is gone or overloaded: the entry must not be lost, so it is printed.
      this.#print(entry);
    }
  }

  #print(entry: _Entry): void {
    this.#writeLine(
      `${entry.time.toISOString()} ${entry.level.toUpperCase()} ${entry.loggerName} ${entry.message}`,
      entry.level,
    );
  }
}

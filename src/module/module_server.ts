/**
 * The module's server: listens on the unix socket or loopback TCP port viam-server gave, at once,
 * and serves the module's services (`module_services.ts`) once they are loaded. Listening first
 * matters: viam-server polls for the socket (every 100 ms), then calls Ready with a 3 s timeout and
 * retries; a request that arrives while the services load waits for them.
 *
 * @module
 */
import * as http2 from "node:http2";
import { formatModuleAddress, type ModuleAddress } from "../invocation.ts";
import type { Logger, LogLevel } from "../logger.ts";
import type { MirrorController } from "../mirror_controller.ts";
import type { MirrorResource } from "./module_service.ts";
import type { ModuleServices } from "./module_services.ts";
import { withDeadline } from "../async/deadline.ts";

/** How the module is run: where it listens, how it logs, and the engine it wraps. */
export interface ModuleOptions {
  /**
   * Where to listen (`VIAM_MODULE_ADDRESS`, else the first argument): a unix socket, or in TCP mode
   * a loopback host and port.
   */
  address: ModuleAddress;
  /** The lowest level logged (`--log-level`). */
  logLevel: LogLevel;
  /** False when `VIAM_NO_MODULE_PARENT` is set: viam-server's socket is never dialled. */
  parentLogging: boolean;
  /** Checks attributes; throws, with a message naming the attribute, when they are invalid. */
  validate(
    attributes: Record<string, unknown>,
  ): { warnings: string[] } | Promise<{ warnings: string[] }>;
  /** Builds and starts the mirror of one resource; `logger` reaches viam-server's log. */
  createMirror(
    resource: MirrorResource,
    logger: Logger,
  ): MirrorController | Promise<MirrorController>;
  /** How long closing waits for the mirrors to stop before going on without them. Default 1500 ms. */
  stopTimeoutMs?: number;
  /**
   * Where log lines go when there is no parent or sending to it failed. Default: stdout, stderr for
   * errors only (viam-server logs every stderr line as an ERROR).
   */
  writeLine?: (line: string, level: LogLevel) => void;
}

/** A running module. */
export interface ModuleHandle {
  /** Where it listens. */
  readonly address: ModuleAddress;
  /**
   * Stops every mirror (waiting at most `stopTimeoutMs`), closes the server and its connections,
   * removes the socket and flushes the logs. Calling it again returns the same promise.
   */
  close(): Promise<void>;
}

// Owner and group only: any local user who can connect could trigger passes. viam-server starts
// the module as its own user, so the group bit covers a shared-group setup without opening it to all.
const SOCKET_MODE = 0o770;
// How long closing lets open connections end on their own before ending them.
const SESSION_GRACE_MS = 250;

// Removes the socket at path, if any: one left by a killed predecessor blocks listen(), and ours goes
// on exit. Anything else at the path is not ours to delete.
async function _removeSocket(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (!info.isSocket) {
    throw new Error(`the module socket path ${path} exists and is not a socket: not replacing it`);
  }
  await Deno.remove(path);
}

function _listen(server: http2.Http2Server, address: ModuleAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const listening = () => {
      server.off("error", reject);
      resolve();
    };
    server.once("error", reject);
    if (address.kind === "unix") server.listen(address.path, listening);
    else server.listen(address.port, address.host, listening);
  });
}

/**
 * Starts the module: serves `viam.module.v1.ModuleService`, gRPC reflection and both generic APIs
 * (plaintext gRPC over HTTP/2 with trailers) on `options.address`: a unix socket (replacing a stale
 * socket left there; removed again on close), or a loopback TCP port. It listens before the
 * services are loaded (requests wait for them); resolves once they are.
 */
export async function startModule(options: ModuleOptions): Promise<ModuleHandle> {
  const { address } = options;
  const socketPath = address.kind === "unix" ? address.path : undefined;
  if (socketPath !== undefined) await _removeSocket(socketPath);
  const loading = import("./module_services.ts").then((module) =>
    module.createModuleServices(options)
  );
  let services: ModuleServices | undefined;
  const server = http2.createServer((request, response) => {
    if (services !== undefined) {
      services.handle(request, response);
      return;
    }
    loading.then(
      (loaded) => loaded.handle(request, response),
      () => response.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR),
    );
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  await _listen(server, address);
  // Port 0 (tests) asks the system for a free port: report the one it gave.
  const bound = server.address();
  const listening: ModuleAddress = address.kind === "tcp" && typeof bound === "object" && bound
    ? { ...address, port: bound.port }
    : address;
  try {
    if (socketPath !== undefined) await Deno.chmod(socketPath, SOCKET_MODE);
    services = await loading;
  } catch (error) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (socketPath !== undefined) await _removeSocket(socketPath);
    throw error;
  }
  const { logger, table, sink } = services;
  logger.info(`listening on ${formatModuleAddress(listening)}`);

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    const running = table.names();
    if (!await withDeadline(table.stopAll(), options.stopTimeoutMs ?? 1500)) {
      logger.warn(`closing without waiting longer for ${running.join(", ")} to stop`);
    }
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // viam-server normally closes its connection before signalling. A connection still open after a
    // grace period is ended here. Not at once: destroying a session while the peer's GOAWAY arrives
    // can abort Deno 2.9.6 inside nghttp2 (denoland/deno#36788).
    if (!await withDeadline(closed, SESSION_GRACE_MS)) {
      for (const session of sessions) session.destroy();
      await closed;
    }
    if (socketPath !== undefined) await _removeSocket(socketPath);
    logger.info("stopped");
    await sink.close();
  };
  return {
    address: listening,
    close: () => closing ??= close(),
  };
}

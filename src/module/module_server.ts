/**
 * The module's server: listens on the unix socket or loopback TCP port viam-server gave, at once,
 * and serves the module's services (`module_services.ts`) once they are loaded. Listening first
 * matters: viam-server polls for the socket (every 100 ms), then calls Ready with a 3 s timeout and
 * retries; a request that arrives while the services load waits for them.
 *
 * @module
 */
import * as http2 from "node:http2";
import { createConnection, type Socket } from "node:net";
import { formatModuleAddress, type ModuleAddress } from "../invocation.ts";
import type { LogLevel } from "../logger.ts";
import type { ModuleServiceOptions } from "./module_service.ts";
import type { ModuleServices } from "./module_services.ts";
import { withDeadline } from "../async/deadline.ts";

/**
 * How the module is run: where it listens, how it logs, and the engine it wraps (`validate`,
 * `admits` and `createMirror`, handed to the module service as they are).
 */
export interface ModuleOptions
  extends Pick<ModuleServiceOptions, "validate" | "admits" | "createMirror"> {
  /**
   * Where to listen (`VIAM_MODULE_ADDRESS`, else the first argument): a unix socket, or in TCP mode
   * a loopback host and port.
   */
  address: ModuleAddress;
  /** The lowest level logged (`--log-level`). */
  logLevel: LogLevel;
  /** False when `VIAM_NO_MODULE_PARENT` is set: viam-server's socket is never dialled. */
  parentLogging: boolean;
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
const _SOCKET_MODE = 0o770;
// How long closing lets calls in flight answer before ending the connections they are on.
const _CALL_GRACE_MS = 250;

// Removes the socket at path, if any: one left by a killed predecessor blocks listen(), and ours goes
// on exit. Anything else at the path is not ours to delete. `check` may refuse a socket found there.
async function _removeSocket(
  path: string,
  what = "the module socket path",
  check?: () => Promise<void>,
): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (!info.isSocket) {
    throw new Error(`${what} ${path} exists and is not a socket: not replacing it`);
  }
  await check?.();
  await Deno.remove(path);
}

// Clears the module's socket path before it listens: a socket nobody answers on (left by a killed
// predecessor) is removed; one another process serves (a module already running there) is left to
// it, and this module does not start: taking the path over would cut that one off from its callers,
// and removing it on exit would leave neither reachable.
async function _clearSocketPath(address: Extract<ModuleAddress, { kind: "unix" }>): Promise<void> {
  const { path } = address;
  await _removeSocket(path, "the module socket path", async () => {
    if (!(await _isServed(path))) return;
    throw new Error(
      `cannot serve on ${formatModuleAddress(address)}: another process serves it (is a module ` +
        "already running there?)",
    );
  });
}

// Whether a process accepts connections on the unix socket at path.
function _isServed(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = createConnection({ path });
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", (error: Error & { code?: string }) => {
      if (error.code === "ECONNREFUSED" || error.code === "ENOENT") resolve(false);
      else reject(error);
    });
  });
}

// Removes the module's socket on exit, unless another has replaced it since (its inode differs).
async function _removeOwnSocket(path: string, inode: number | null): Promise<void> {
  try {
    const info = await Deno.lstat(path);
    if (!info.isSocket || info.ino !== inode) return;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  await Deno.remove(path);
}

// The longest path a unix socket address holds: sun_path less its NUL.
const _SUN_PATH_MAX = Deno.build.os === "darwin" ? 103 : 107;
// Staging names made by this process: two modules of one process (tests) never share one.
let _stagings = 0;

function _byteLength(path: string): number {
  return new TextEncoder().encode(path).length;
}

// A unix socket's file appears at bind(), a moment before listen(): a client that connects in
// between is refused (ECONNREFUSED), and one that does not retry (grpc-js, a script) fails. So the
// socket is bound under a staging name in the same directory, given its mode, then linked into
// place (a link, unlike a rename, never replaces what appeared there meanwhile): it appears only
// once it accepts connections. The staging name is unique to the process and the call; a directory
// too long for it (but not for the final name) binds in place instead.
function _stagingSocketPath(path: string): string | undefined {
  const slash = path.lastIndexOf("/");
  const staging = `${path.slice(0, slash + 1)}.dm${Deno.pid}-${_stagings++}.sock`;
  return _byteLength(staging) <= _SUN_PATH_MAX ? staging : undefined;
}

function _listen(server: http2.Http2Server, address: ModuleAddress, at = address): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (error: Error) =>
      reject(new Error(`cannot serve on ${formatModuleAddress(address)}: ${error.message}`));
    const listening = () => {
      server.off("error", failed);
      resolve();
    };
    server.once("error", failed);
    if (at.kind === "unix") server.listen(at.path, listening);
    else server.listen(at.port, at.host, listening);
  });
}

/** Listens on the unix socket `address`; resolves to the inode of the socket in place. */
async function _listenOnSocket(
  server: http2.Http2Server,
  address: Extract<ModuleAddress, { kind: "unix" }>,
): Promise<number | null> {
  const bytes = _byteLength(address.path);
  if (bytes > _SUN_PATH_MAX) {
    throw new Error(
      `cannot serve on ${formatModuleAddress(address)}: the path is ${bytes} bytes, more than ` +
        `the ${_SUN_PATH_MAX} a unix socket address holds`,
    );
  }
  const staging = _stagingSocketPath(address.path);
  const bound = staging ?? address.path;
  if (staging !== undefined) await _removeSocket(staging, "the module socket's staging path");
  await _listen(server, address, { ...address, path: bound });
  let linked = false;
  try {
    await Deno.chmod(bound, _SOCKET_MODE);
    if (staging !== undefined) {
      await Deno.link(staging, address.path);
      linked = true;
      await Deno.remove(staging);
    }
    return (await Deno.lstat(address.path)).ino;
  } catch (error) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    for (const path of linked ? [bound, address.path] : [bound]) {
      await _removeSocket(path).catch(() => {});
    }
    throw new Error(`cannot serve on ${formatModuleAddress(address)}: ${(error as Error).message}`);
  }
}

/**
 * Starts the module: serves `viam.module.v1.ModuleService`, gRPC reflection and both generic APIs
 * (plaintext gRPC over HTTP/2 with trailers) on `options.address`: a unix socket (replacing a stale
 * socket left there, never one another process serves; removed again on close unless replaced
 * since), or a loopback TCP port. It listens before the
 * services are loaded (requests wait for them); resolves once they are.
 */
export async function startModule(options: ModuleOptions): Promise<ModuleHandle> {
  const { address } = options;
  if (address.kind === "unix") await _clearSocketPath(address);
  // Loaded once the socket listens, or at a call that comes first: begun before the listen, the
  // loading (the services' module graph, connect-node and its undici among it) held the thread
  // through the listen's awaits, and the socket appeared with the services, 346 ms from spawn
  // instead of 171 (medians, `scripts/start_time.ts`); viam-server, looking for the socket every
  // 100 ms, connects sooner and its Ready is answered as soon as the services are in.
  let loading: Promise<ModuleServices> | undefined;
  const load = () =>
    loading ??= import("./module_services.ts").then((module) =>
      module.createModuleServices(options)
    );
  let services: ModuleServices | undefined;
  // Each call in flight, until its answer has finished.
  const calls = new Set<Promise<void>>();
  const server = http2.createServer((request, response) => {
    const answered = new Promise<void>((resolve) => response.once("close", resolve));
    calls.add(answered);
    answered.then(() => calls.delete(answered));
    if (services !== undefined) {
      services.handle(request, response);
      return;
    }
    load().then(
      (loaded) => loaded.handle(request, response),
      () => response.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR),
    );
  });
  const connections = _endWithoutGoaway(server);
  // The socket this module put in place, removed on close (if it is still there).
  let socket: { path: string; inode: number | null } | undefined;
  if (address.kind === "unix") {
    socket = { path: address.path, inode: await _listenOnSocket(server, address) };
  } else await _listen(server, address);
  // Port 0 (tests) asks the system for a free port: report the one it gave.
  const bound = server.address();
  const listening: ModuleAddress = address.kind === "tcp" && typeof bound === "object" && bound
    ? { ...address, port: bound.port }
    : address;
  try {
    services = await load();
  } catch (error) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (socket !== undefined) await _removeOwnSocket(socket.path, socket.inode);
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
    // A call still in flight (a sync the stop just ended) gets a moment to send its answer, then
    // every connection is ended (without a GOAWAY, see _endWithoutGoaway).
    await withDeadline(Promise.all(calls), _CALL_GRACE_MS);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of connections) socket.destroy();
    await closed;
    if (socket !== undefined) await _removeOwnSocket(socket.path, socket.inode);
    logger.info("stopped");
    await sink.close();
  };
  return {
    address: listening,
    close: () => closing ??= close(),
  };
}

/**
 * Makes every connection of `server` end by closing its socket, never with a GOAWAY, and returns
 * the open connections' sockets. Deno 2.9.6's HTTP/2 (nghttp2 in the runtime) aborts the whole
 * process on an assertion, or dies of SIGSEGV, while it sends a GOAWAY on a server session that
 * has served calls (denoland/deno#36788, open). Its server sends one in answer to the peer's GOAWAY,
 * which viam-server's client sends when it closes the connection, and on each session at
 * `server.close()`. Fault row 13 (`tests/faults/module_stops.ts`, the real program: a sync, the
 * client's close, SIGTERM) counted 3 and 1 crashes in two runs of 200 stops; none in two runs once
 * the sessions end by their sockets. A peer sees the connection end, as when a process exits; its
 * calls in flight fail as they would after a GOAWAY that refuses them.
 */
function _endWithoutGoaway(server: http2.Http2Server): Set<Socket> {
  const connections = new Set<Socket>();
  // Both events come from the same synchronous dispatch: "connection" first (prepended, so before
  // the server's own listener), then "session" for that socket from within the server's listener.
  let arriving: Socket | undefined;
  server.prependListener("connection", (socket: Socket) => {
    arriving = socket;
    connections.add(socket);
    socket.once("close", () => connections.delete(socket));
  });
  server.on("session", (session: http2.ServerHttp2Session) => {
    const socket = arriving;
    arriving = undefined;
    if (socket === undefined) return;
    // The peer's GOAWAY: with an error code the session is destroyed, and a destroyed socket means
    // no GOAWAY in reply; without one the session is closed, which for this server ends the socket.
    session.once("goaway", () => socket.destroy());
    session.close = (callback?: () => void): void => {
      if (callback !== undefined) session.once("close", callback);
      socket.destroy();
    };
  });
  return connections;
}

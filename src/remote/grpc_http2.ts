/**
 * gRPC over HTTP/2 on `node:http2`, for the upload direction: one connection to the app
 * ({@linkcode Http2Connection}: TLS for `https://`, cleartext with prior knowledge for `http://`),
 * client-streaming calls that write frames as they come with the stream's back-pressure
 * ({@linkcode GrpcCall}), and unary calls ({@linkcode unaryCall}).
 *
 * Written here rather than through connect-node: its envelope and stream layers copied every chunk
 * of an upload twice more on its way to the socket (a 256 MiB upload took 0.9 s more CPU than a
 * plain HTTP/2 writer, and was slower than the SDK-style sequential uploader it is measured
 * against), and importing it loads undici for a Headers polyfill Deno never needs (0.1 s and
 * 10 MB at the start of every push).
 *
 * Errors are `ConnectError`s: the HTTP status mapped as gRPC maps it, else the `grpc-status` and
 * `grpc-message` of the trailers (or of the headers of a trailers-only reply); a stream or
 * connection that fails is `Unavailable` (transient), as connect-node reports a reset stream.
 *
 * @example
 * ```ts
 * await using connection = new Http2Connection("https://app.viam.com");
 * const reply = await unaryCall(connection, "/proto.rpc.v1.AuthService/Authenticate", bytes, {
 *   headers: {},
 *   timeoutMs: 60_000,
 * });
 * ```
 *
 * @module
 */
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  type IncomingHttpHeaders,
} from "node:http2";
import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { LinkedAbort } from "../async/linked_abort.ts";
import { TimeoutError } from "./errors.ts";
import { codeFromHttpStatus, statusError } from "./grpc_status.ts";
import { type HttpProxy, openTunnel } from "./proxy_tunnel.ts";

/** How long a proxy may take to connect and open a tunnel (a direct connection has its calls' own). */
const _TUNNEL_TIMEOUT_MS = 30_000;

/**
 * One HTTP/2 connection, opened on first use and opened again after it failed, was told to go
 * away, or was discarded (a stalled stream may mean a dead connection: the next call should not
 * wait on it too). A connection with no stream open closes after `idleMs`; one with a stream open
 * is never idle, however long it is silent (an upload paced by a bandwidth limit sends nothing
 * for 64 s before each 64 KiB at 1 KiB/s: a silence of the socket closed the connection under it,
 * every try, pass after pass). A stalled call is its own watchdog's to end.
 */
export class Http2Connection implements AsyncDisposable {
  readonly #origin: string;
  /** The origin's host (an IPv6 address without its brackets) and port. */
  readonly #target: { host: string; port: number };
  readonly #idleMs: number;
  /** The proxy to tunnel through (see `proxy_tunnel.ts`). */
  readonly #proxy?: HttpProxy;
  #session?: ClientHttp2Session;
  #socket?: Socket;
  #tunnel?: Socket;
  /** The tunnel being opened, which every call that needs a connection meanwhile waits for. */
  #tunnelling?: Promise<ClientHttp2Session>;
  /** Ends the tunnel being opened: the connection was dropped or closed meanwhile. */
  #cancelTunnel?: AbortController;
  #verifying?: { session: ClientHttp2Session; done: Promise<void> };
  #openStreams = 0;
  #idleTimer?: ReturnType<typeof setTimeout>;

  /**
   * Connects to `origin` (`https://host[:port]` or `http://host[:port]`) on first use, through
   * `proxy`'s tunnel when one is given (see `proxyFromEnvironment`).
   */
  constructor(origin: string, options: { idleMs?: number; proxy?: HttpProxy } = {}) {
    this.#origin = origin;
    const url = new URL(origin);
    this.#target = {
      host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: Number(url.port || (url.protocol === "https:" ? 443 : 80)),
    };
    this.#idleMs = options.idleMs ?? 60_000;
    this.#proxy = options.proxy;
  }

  /** Opens a stream for a POST to `path`; `signal` ends a wait for a proxy's tunnel. */
  async request(
    path: string,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<ClientHttp2Stream> {
    const session = await this.#open(signal);
    const stream = session.request({
      [constants.HTTP2_HEADER_METHOD]: "POST",
      [constants.HTTP2_HEADER_PATH]: path,
      "content-type": "application/grpc+proto",
      te: "trailers",
      ...headers,
    });
    this.#openStreams++;
    clearTimeout(this.#idleTimer);
    // Open until it closes, or until the server's side ends: a call the server refused before it
    // read the request (a trailers-only answer) ends, and Deno's node:http2 never reports its
    // close, so counted until `close` it kept the connection from ever idling out.
    let counted = true;
    const over = () => {
      if (!counted) return;
      counted = false;
      if (--this.#openStreams === 0) this.#startIdleTimer();
    };
    stream.once("close", over);
    stream.once("end", over);
    return stream;
  }

  /**
   * Pings the connection and drops it when no answer comes within `timeoutMs`: after a stream
   * stalled, a dead connection (a link gone without a reset) must not stall the next call too.
   */
  verify(timeoutMs = 5_000): Promise<void> {
    const session = this.#session;
    if (session === undefined || session.closed || session.destroyed) return Promise.resolve();
    // One ping answers for every stream that stalled at once (after the process was stopped or
    // starved, their watchdogs fire in one tick): node:http2 cancels pings past its 10
    // outstanding, and a cancelled ping is no dead connection.
    if (this.#verifying?.session === session) return this.#verifying.done;
    const done = this.#ping(session, timeoutMs).finally(() => {
      if (this.#verifying?.done === done) this.#verifying = undefined;
    });
    this.#verifying = { session, done };
    return done;
  }

  async #ping(session: ClientHttp2Session, timeoutMs: number): Promise<void> {
    const alive = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      try {
        session.ping((error) => {
          clearTimeout(timer);
          resolve(error === null);
        });
      } catch {
        clearTimeout(timer);
        resolve(false);
      }
    });
    if (!alive && this.#session === session) this.discard();
  }

  /**
   * Drops the connection by closing its socket; streams still open on it are cut (the server stores
   * nothing of them). The next call connects again. No GOAWAY is sent: one right after a large
   * upload made the local platform's HTTP/2 server (nghttp2 in Deno 2.9.6) abort on an assertion
   * while it processed it, reproducibly; a connection that just ends, as when a process exits, it
   * handles.
   */
  discard(): void {
    clearTimeout(this.#idleTimer);
    // A tunnel still opening would otherwise become a connection of a closed object (60 s idle).
    this.#cancelTunnel?.abort(new Error("the connection was closed while its tunnel opened"));
    this.#cancelTunnel = undefined;
    const session = this.#session;
    const socket = this.#socket;
    const tunnel = this.#tunnel;
    this.#session = undefined;
    this.#socket = undefined;
    this.#tunnel = undefined;
    if (socket !== undefined && !socket.destroyed) socket.destroy();
    else if (session !== undefined && !session.destroyed) session.destroy();
    if (tunnel !== undefined && !tunnel.destroyed) tunnel.destroy();
  }

  /** Closes the connection (see {@linkcode Http2Connection.discard}). */
  close(): Promise<void> {
    this.discard();
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The connection, opened (through the proxy's tunnel, if one is set) unless it is. */
  #open(signal: AbortSignal): ClientHttp2Session | Promise<ClientHttp2Session> {
    const current = this.#session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const proxy = this.#proxy;
    if (proxy === undefined) return this.#connect();
    this.#tunnelling ??= this.#connectThrough(proxy).finally(() => this.#tunnelling = undefined);
    return _orAbort(this.#tunnelling, signal);
  }

  async #connectThrough(proxy: HttpProxy): Promise<ClientHttp2Session> {
    const cancel = new AbortController();
    this.#cancelTunnel = cancel;
    let tunnel: Socket;
    try {
      tunnel = await openTunnel(
        proxy,
        this.#target,
        AbortSignal.any([AbortSignal.timeout(_TUNNEL_TIMEOUT_MS), cancel.signal]),
      );
    } finally {
      if (this.#cancelTunnel === cancel) this.#cancelTunnel = undefined;
    }
    // Closed in the turn the tunnel opened: no session of a closed connection.
    if (cancel.signal.aborted) {
      tunnel.destroy();
      throw cancel.signal.reason;
    }
    this.#tunnel = tunnel;
    return this.#connect(tunnel);
  }

  /** Opens the connection, directly or over `tunnel` (a proxy's, to the origin). */
  #connect(tunnel?: Socket): ClientHttp2Session {
    const { host, port } = this.#target;
    const session = connect(this.#origin, {
      // The socket is opened here so that closing can end it without a GOAWAY (see `discard`).
      createConnection: () => {
        const socket = this.#origin.startsWith("https:")
          ? tlsConnect({
            ...(tunnel === undefined ? { host, port } : { socket: tunnel }),
            servername: isIP(host) ? undefined : host,
            ALPNProtocols: ["h2"],
          })
          : netConnect({ host, port });
        this.#socket = socket;
        return socket;
      },
    });
    // Errors reach the calls on it (their streams fail); the connection is then opened again.
    const drop = () => {
      if (this.#session === session) this.#session = undefined;
    };
    session.on("error", drop);
    session.on("goaway", drop);
    session.on("close", drop);
    this.#session = session;
    this.#startIdleTimer();
    return session;
  }

  /** Closes the connection after `idleMs` unless a stream opens meanwhile. */
  #startIdleTimer(): void {
    clearTimeout(this.#idleTimer);
    if (this.#session === undefined) return;
    this.#idleTimer = setTimeout(() => {
      if (this.#openStreams === 0) this.discard();
    }, this.#idleMs);
    Deno.unrefTimer(this.#idleTimer as unknown as number);
  }
}

/**
 * One client-streaming gRPC call: {@linkcode GrpcCall.send} each frame, then
 * {@linkcode GrpcCall.finish} for the reply's message bytes. {@linkcode GrpcCall.reset} (or the
 * signal) cancels it: the server discards what it received.
 */
export class GrpcCall {
  readonly #stream: ClientHttp2Stream;
  readonly #received: Uint8Array[] = [];
  /** Resolves once the call is over: the server's whole answer is in, the stream closed, or reset. */
  readonly #over: Promise<void>;
  /** Resolves `#over`. */
  #markOver!: () => void;
  #status?: number;
  #headers?: IncomingHttpHeaders;
  #trailers?: IncomingHttpHeaders;
  #failure?: Error;
  #isClosed = false;
  /** The server's side has ended: nothing more is read, and nothing written is read by it. */
  #ended = false;
  /**
   * Ends a wait for `drain` when the server answers first (its status, in the trailers or the
   * headers, or the end of its side), or the stream closes or is reset.
   */
  #wake?: () => void;

  private constructor(stream: ClientHttp2Stream) {
    this.#stream = stream;
    stream.on("response", (headers) => {
      this.#headers = headers;
      this.#status = Number(headers[":status"]);
      // A status in the headers is a trailers-only reply (grpc-go's answer to an error raised
      // before any reply): no `trailers` event will come to stop a write waiting for room.
      if (headers["grpc-status"] !== undefined) this.#wake?.();
    });
    stream.on("trailers", (trailers) => {
      this.#trailers = trailers;
      this.#wake?.();
    });
    stream.on("data", (chunk: Uint8Array) => this.#received.push(chunk));
    stream.on("error", (error: Error) => this.#failure ??= error);
    this.#over = new Promise((resolve) => this.#markOver = resolve);
    // The server's side has ended: every message and the trailers are in. Waiting for `close` as
    // well hung an upload the platform refused early (UNAVAILABLE before reading it, beside other
    // uploads on the connection): the stream never finished its writable side, so `close` never
    // came, and neither the reply's watchdog nor SIGTERM could end the wait (found by a fault test).
    stream.once("end", () => {
      this.#ended = true;
      this.#wake?.();
      this.#markOver();
    });
    stream.once("close", () => {
      this.#isClosed = true;
      this.#wake?.();
      this.#markOver();
    });
  }

  /** Opens a call to `path` on the connection; `signal` resets it. */
  static async open(
    connection: Http2Connection,
    path: string,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<GrpcCall> {
    signal.throwIfAborted();
    let stream: ClientHttp2Stream;
    try {
      stream = await connection.request(path, headers, signal);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      connection.discard();
      throw _unavailable(error);
    }
    const call = new GrpcCall(stream);
    signal.addEventListener("abort", () => call.reset(), { once: true });
    return call;
  }

  /**
   * Writes a frame; waits while the stream's buffer is full. `written` is called once the stream
   * has handed the frame's bytes on and holds it no more (never, if the stream fails first): its
   * memory may then be used again.
   */
  async send(frame: Uint8Array, written?: () => void): Promise<void> {
    this.#throwIfClosed();
    const accepted = this.#stream.write(frame, (error) => {
      if (error === null || error === undefined) written?.();
    });
    if (accepted) return;
    // Until the buffer drains, or the server answers early (a refusal) or the stream closes.
    await new Promise<void>((resolve) => {
      const done = () => {
        this.#stream.off("drain", done);
        this.#wake = undefined;
        resolve();
      };
      this.#stream.on("drain", done);
      this.#wake = done;
    });
    this.#throwIfClosed();
  }

  /** Ends the request and resolves to the reply message's bytes, or throws the call's error. */
  async finish(): Promise<Uint8Array> {
    this.#stream.end();
    await this.#over;
    // Over but not closed (the server answered before it read the request): let the stream go.
    if (!this.#stream.closed && !this.#stream.destroyed) this.#stream.close();
    const refused = this.#httpError();
    if (refused !== undefined) throw refused;
    const answered = this.#statusError();
    if (answered !== undefined) throw answered;
    if ((this.#trailers ?? this.#headers)?.["grpc-status"] === undefined) {
      throw _unavailable(this.#failure ?? new Error("the stream closed without a status"));
    }
    const reply = _concat(this.#received);
    const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
    if (reply.length < 5 || view.getUint32(1) !== reply.length - 5) {
      throw new ConnectError("protocol error: the reply is not one message", Code.Internal);
    }
    return reply.subarray(5);
  }

  /**
   * Resets the stream (RST_STREAM, the request never ended): the server discards what it
   * received. A `send` or `finish` waiting on the stream stops waiting, even when the stream will
   * not report its close.
   */
  reset(): void {
    if (!this.#stream.closed && !this.#stream.destroyed) {
      // Destroyed, not closed: Deno's `close(NGHTTP2_CANCEL)` ends the request first (an empty
      // DATA frame with END_STREAM, then the RST_STREAM), and a server that stores a client
      // stream once it ends stored a file changed part way through its upload. `destroy` sends
      // the RST_STREAM alone (INTERNAL_ERROR, for the error given).
      this.#stream.destroy(new Error("the call was reset"));
    }
    this.#wake?.();
    this.#markOver();
  }

  /** Throws when the server already answered with an error, or ended or closed the stream early. */
  #throwIfClosed(): void {
    const answered = this.#statusError();
    if (answered !== undefined) throw answered;
    if (this.#isClosed || this.#ended) {
      throw this.#httpError() ??
        _unavailable(this.#failure ?? new Error("the stream closed early"));
    }
  }

  /** The error an HTTP status other than 200 stands for (a proxy's 503, say), if one came. */
  #httpError(): ConnectError | undefined {
    const status = this.#status;
    if (status === undefined || status === 200) return undefined;
    return new ConnectError(`HTTP ${status}`, codeFromHttpStatus(status));
  }

  /** The error the `grpc-status` received so far stands for, if it is not OK. */
  #statusError(): ConnectError | undefined {
    const trailers = this.#trailers ?? this.#headers;
    const message = trailers?.["grpc-message"];
    return statusError(
      _header(trailers?.["grpc-status"]),
      _header(message),
    );
  }
}

/** Options of {@linkcode unaryCall}. */
export interface UnaryCallOptions {
  /** Request headers (the bearer token). */
  headers: Record<string, string>;
  /** Rejects with a {@linkcode TimeoutError} after this long. */
  timeoutMs: number;
  /** Cancels the call (rejects with its reason). */
  signal?: AbortSignal;
}

/** A unary call: one encoded request message to `path`; resolves to the reply message's bytes. */
export async function unaryCall(
  connection: Http2Connection,
  path: string,
  request: Uint8Array,
  options: UnaryCallOptions,
): Promise<Uint8Array> {
  using stop = new LinkedAbort(options.signal);
  const timer = setTimeout(
    () => stop.abort(new TimeoutError(path, options.timeoutMs)),
    options.timeoutMs,
  );
  try {
    const call = await GrpcCall.open(connection, path, options.headers, stop.signal);
    await call.send(messageFrame(request));
    return await call.finish();
  } catch (error) {
    if (stop.signal.aborted) throw stop.signal.reason;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** The gRPC frame of an encoded message: its prefix and its bytes. */
export function messageFrame(message: Uint8Array): Uint8Array {
  const frame = new Uint8Array(5 + message.length);
  new DataView(frame.buffer).setUint32(1, message.length);
  frame.set(message, 5);
  return frame;
}

function _header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `work`'s outcome, or `signal`'s reason if it aborts first (`work` goes on for whoever else waits). */
function _orAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    // Always followed, so that a failure of `work` is never left unhandled.
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function _unavailable(error: unknown): ConnectError {
  return ConnectError.from(error, Code.Unavailable);
}

function _concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return all;
}

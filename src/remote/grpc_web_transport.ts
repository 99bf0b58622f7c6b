/**
 * The gRPC-web transport of the program's calls to the app (sign-in, listing pages, inline batches,
 * signed URLs): unary calls over `fetch` that read their response into one buffer and decode it
 * there, instead of connect-web's path, which allocates every 64 KiB network chunk, then the whole
 * body, then a copy of the message. A fresh copy of 10,000 small files moves 330 MB through inline
 * calls; three allocations per byte made V8 collect garbage every 64 MB of buffers and kept that
 * much garbage resident.
 *
 * A caller that makes the same call again and again (inline batches) passes a
 * {@linkcode ResponseLanding} in the call's context values ({@linkcode LANDING}), or a function
 * that gives one (it may wait, and is given the call's signal), asked only once the response's body
 * is on its way (a call waiting on the network holds no buffer). The response is read into it and
 * the decoded `bytes` fields are views of it, valid until the landing is used for the next call.
 * Without one, each response gets a buffer of its own. The program makes no streaming call over
 * gRPC-web (a push streams over HTTP/2, `grpc_http2.ts`): `stream` refuses.
 *
 * Errors are `ConnectError`s with the codes connect-web gives: the HTTP status mapped
 * when it is not 2xx, else `grpc-status` from the trailers (or the headers of a trailers-only
 * reply), `Unknown` for a failed fetch and `Canceled` for an abort.
 *
 * @example
 * ```ts
 * const landing = new ResponseLanding();
 * const contextValues = createContextValues().set(LANDING, landing);
 * const response = await transport.unary(service, method, signal, undefined, undefined, request,
 *   contextValues);
 * // response.message's bytes fields are views of `landing` until its next use.
 * ```
 *
 * @module
 */
import type {
  AnyMessage,
  Message,
  MethodInfo,
  PartialMessage,
  ServiceType,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextKey,
  type StreamResponse,
  type Transport,
  type UnaryResponse,
} from "@connectrpc/connect";
import { codeFromHttpStatus, decodeGrpcMessage, statusError } from "./grpc_status.ts";
import { type ConnectionUse, http1Client } from "./http1_client.ts";

/** A response larger than this is refused (an inline batch is at most a few MiB). */
const _MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
const _FIRST_BYTES = 64 * 1024;
const _TRAILER_FLAG = 0x80;
const _COMPRESSED_FLAG = 0x01;

/**
 * A growable buffer a response body is read into, used again call after call. Reading detaches
 * the views of the previous response (they read as empty), so a view kept too long cannot show
 * another response's bytes.
 */
export class ResponseLanding {
  #memory: ArrayBuffer;

  /** Starts with `bytes` of room (it grows to what responses need). */
  constructor(bytes = _FIRST_BYTES) {
    this.#memory = new ArrayBuffer(Math.max(1024, bytes));
  }

  /** The room it has now. */
  get capacity(): number {
    return this.#memory.byteLength;
  }

  /**
   * Makes room for a response of about `bytes` before the call, in one allocation (what it holds
   * now is not kept): growing by doubling as a 3 MiB body arrives allocates twice that and copies
   * it, per landing.
   */
  reserve(bytes: number): void {
    if (bytes > this.#memory.byteLength) this.#memory = new ArrayBuffer(bytes);
  }

  /**
   * Reads `body` to its end and returns the bytes, a view of this landing. Throws when the body is
   * larger than `maxBytes`. `expectedBytes` (a Content-Length) makes room once, up front, instead
   * of doubling as bytes come. When a read fails, the landing's memory may be gone with it: use a
   * new landing after a failure.
   */
  async read(
    body: ReadableStream<Uint8Array>,
    maxBytes = _MAX_RESPONSE_BYTES,
    expectedBytes?: number,
    onBytes?: (bytes: number) => void,
  ): Promise<Uint8Array> {
    let length = 0;
    if (expectedBytes !== undefined && expectedBytes < maxBytes) {
      // And a byte more: the read that finds the end needs room.
      this.#reserve(0, expectedBytes + 1, maxBytes);
    }
    let byob: ReadableStreamBYOBReader | undefined;
    try {
      byob = body.getReader({ mode: "byob" });
    } catch {
      // Not a byte stream: copy its chunks in.
      const reader = body.getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          this.#reserve(length, value.length, maxBytes);
          new Uint8Array(this.#memory).set(value, length);
          length += value.length;
          onBytes?.(value.length);
        }
      } catch (error) {
        // A body given up (too large, too slow) lets its connection go.
        reader.cancel(error).catch(() => {});
        throw error;
      }
      return new Uint8Array(this.#memory, 0, length);
    }
    try {
      for (;;) {
        this.#reserve(length, 1, maxBytes);
        const room = new Uint8Array(this.#memory, length, this.#memory.byteLength - length);
        const { value, done } = await byob.read(room);
        if (value !== undefined) this.#memory = value.buffer as ArrayBuffer;
        if (done || value === undefined) break;
        length += value.length;
        onBytes?.(value.length);
      }
    } catch (error) {
      // A body given up (too large, too slow) lets its connection go.
      byob.cancel(error).catch(() => {});
      throw error;
    }
    return new Uint8Array(this.#memory, 0, length);
  }

  /** Makes room for `more` bytes after `length`, keeping the first `length`. */
  #reserve(length: number, more: number, maxBytes: number): void {
    // Checked first: a landing grown by an earlier, larger answer holds room past `maxBytes`.
    // (The read that finds the end asks one byte past the body.)
    if (length + more > maxBytes + 1) {
      throw new ConnectError(
        `response larger than ${maxBytes} bytes`,
        Code.ResourceExhausted,
      );
    }
    if (length + more <= this.#memory.byteLength) return;
    const grown = new ArrayBuffer(
      Math.min(maxBytes + 1, Math.max(length + more, this.#memory.byteLength * 2)),
    );
    new Uint8Array(grown).set(new Uint8Array(this.#memory, 0, length));
    this.#memory = grown;
  }
}

/** A landing, or what gives one when the response's body arrives (given the call's signal). */
export type LandingSource =
  | ResponseLanding
  | ((signal: AbortSignal | undefined) => ResponseLanding | Promise<ResponseLanding>);

/**
 * The context key a caller puts its {@linkcode ResponseLanding} under, or a function that gives one
 * when the response's body arrives.
 */
export const LANDING = createContextKey<LandingSource | undefined>(
  undefined,
  { description: "the buffer a unary response is read into" },
);

/**
 * The context key of a function called as each part of a response's body arrives: the stall guard
 * of a call whose answer may take long on a slow link (an idle watchdog's `progress`).
 */
export const BODY_PROGRESS = createContextKey<((bytes: number) => void) | undefined>(
  undefined,
  { description: "called as a response body's bytes arrive" },
);

/** Options of {@linkcode createLandingTransport}. */
export interface LandingTransportOptions {
  /** The app's URL (`https://app.viam.com`); a call goes to `<baseUrl>/<service>/<method>`. */
  baseUrl: string;
  /**
   * The largest answer a method's call may read (default 64 MiB for every method): a platform
   * that sends more than a method's answers ever hold is refused before it fills memory.
   */
  maxResponseBytes?: (method: string) => number | undefined;
  /** The pool a method's calls take their connections from (default `metadata` for every method). */
  connectionUse?: (method: string) => ConnectionUse;
}

/** A gRPC-web transport whose unary calls read into one buffer (see the module's notes). */
export function createLandingTransport(options: LandingTransportOptions): Transport {
  return {
    unary<I extends Message<I> = AnyMessage, O extends Message<O> = AnyMessage>(
      service: ServiceType,
      method: MethodInfo<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: PartialMessage<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      return _unary(options.baseUrl, {
        service,
        method,
        maxBytes: options.maxResponseBytes?.(method.name) ?? _MAX_RESPONSE_BYTES,
        client: http1Client(options.connectionUse?.(method.name) ?? "metadata"),
        signal,
        timeoutMs,
        header,
        input,
        landing: contextValues?.get(LANDING),
        onBytes: contextValues?.get(BODY_PROGRESS),
      });
    },
    stream<I extends Message<I> = AnyMessage, O extends Message<O> = AnyMessage>(
      _service: ServiceType,
      method: MethodInfo<I, O>,
    ): Promise<StreamResponse<I, O>> {
      return Promise.reject(
        new ConnectError(`${method.name}: no streaming calls over gRPC-web`, Code.Unimplemented),
      );
    },
  };
}

interface _Call<I extends Message<I>, O extends Message<O>> {
  service: ServiceType;
  method: MethodInfo<I, O>;
  signal: AbortSignal | undefined;
  timeoutMs: number | undefined;
  header: HeadersInit | undefined;
  input: PartialMessage<I>;
  landing: LandingSource | undefined;
  /** Called as the answer's body arrives, with the bytes of each part. */
  onBytes: ((bytes: number) => void) | undefined;
  /** The largest answer read. */
  maxBytes: number;
  /** The client whose connections the call takes. */
  client: Deno.HttpClient;
}

async function _unary<I extends Message<I>, O extends Message<O>>(
  baseUrl: string,
  call: _Call<I, O>,
): Promise<UnaryResponse<I, O>> {
  const { service, method } = call;
  const headers = new Headers(call.header);
  headers.set("content-type", "application/grpc-web+proto");
  headers.set("x-grpc-web", "1");
  const signals = call.signal === undefined ? [] : [call.signal];
  if (call.timeoutMs !== undefined && call.timeoutMs > 0) {
    headers.set("grpc-timeout", `${call.timeoutMs}m`);
    signals.push(AbortSignal.timeout(call.timeoutMs));
  }
  const message = call.input instanceof method.I ? call.input : new method.I(call.input);
  const payload = message.toBinary();
  const body = new Uint8Array(5 + payload.length);
  new DataView(body.buffer).setUint32(1, payload.length);
  body.set(payload, 5);
  const url = `${baseUrl.replace(/\/$/, "")}/${service.typeName}/${method.name}`;
  try {
    const response = await fetch(url, {
      client: call.client,
      method: "POST",
      headers,
      body,
      redirect: "error",
      signal: signals.length === 0 ? undefined : AbortSignal.any(signals),
    });
    if (response.status < 200 || response.status >= 300) {
      await response.body?.cancel();
      throw new ConnectError(
        response.headers.has("grpc-message")
          ? decodeGrpcMessage(response.headers.get("grpc-message")!)
          // The URL asked (it holds no secret: app_url refuses credentials): a 404 says which
          // app_url serves no such API (a path after the host, a proxy's wrong prefix).
          : `HTTP ${response.status} from ${url}`,
        codeFromHttpStatus(response.status),
        response.headers,
      );
    }
    const type = response.headers.get("content-type")?.split(";")[0].trim().toLowerCase();
    if (type !== undefined && type !== "" && !type.startsWith("application/grpc")) {
      // A captive portal's or a proxy's page: its first bytes read as a gRPC-web frame "cut"
      // short, which told the operator nothing.
      await response.body?.cancel();
      throw new ConnectError(
        `${url} answered ${type}, not gRPC-web (a captive portal or a proxy's page?)`,
        Code.Unavailable,
        response.headers,
      );
    }
    const headerError = _statusError(response.headers);
    let landing: ResponseLanding | undefined;
    if (response.body !== null) {
      try {
        landing = await _landingOf(call.landing, call.signal);
      } catch (error) {
        // No turn to be read (given up while waiting): its connection goes, as a read's would.
        response.body.cancel(error).catch(() => {});
        throw error;
      }
    }
    const bytes = response.body === null || landing === undefined
      ? new Uint8Array(0)
      : await landing.read(
        response.body,
        call.maxBytes,
        _contentLength(response.headers),
        call.onBytes,
      );
    let output: O | undefined;
    let trailer: Headers | undefined;
    for (let at = 0; at < bytes.length;) {
      if (at + 5 > bytes.length) {
        throw new ConnectError("protocol error: cut frame", Code.Internal);
      }
      const flags = bytes[at];
      const length = new DataView(bytes.buffer, bytes.byteOffset + at + 1, 4).getUint32(0);
      const data = bytes.subarray(at + 5, at + 5 + length);
      if (data.length !== length) {
        throw new ConnectError("protocol error: cut frame", Code.Internal);
      }
      at += 5 + length;
      if ((flags & _COMPRESSED_FLAG) !== 0) {
        throw new ConnectError("protocol error: received compressed output", Code.Internal);
      }
      if ((flags & _TRAILER_FLAG) !== 0) {
        if (trailer !== undefined) throw new ConnectError("extra trailer", Code.Internal);
        trailer = _parseTrailer(data);
        continue;
      }
      if (output !== undefined) throw new ConnectError("extra message", Code.Unimplemented);
      output = method.O.fromBinary(data);
    }
    if (trailer === undefined) {
      if (headerError !== undefined) throw headerError;
      // A trailers-only reply carries its status in the headers.
      if (response.headers.has("grpc-status")) trailer = response.headers;
      else throw new ConnectError("missing trailer", Code.Unknown);
    }
    const trailerError = _statusError(trailer);
    if (trailerError !== undefined) throw trailerError;
    if (output === undefined) throw new ConnectError("missing message", Code.Unimplemented);
    return {
      stream: false,
      service,
      method,
      header: response.headers,
      message: output,
      trailer,
    };
  } catch (error) {
    throw _asConnectError(error, call.signal);
  }
}

function _asConnectError(error: unknown, signal: AbortSignal | undefined): unknown {
  if (error instanceof ConnectError) return error;
  if (signal?.aborted) return new ConnectError(String(signal.reason), Code.Canceled);
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return new ConnectError("the operation timed out", Code.DeadlineExceeded);
  }
  // As connect-web reports a refused or reset connection.
  return ConnectError.from(error, Code.Unknown);
}

/** Where a body is read: the caller's landing (asked for now), else a buffer of its own. */
function _landingOf(
  landing: LandingSource | undefined,
  signal: AbortSignal | undefined,
): ResponseLanding | Promise<ResponseLanding> {
  if (typeof landing === "function") return landing(signal);
  return landing ?? new ResponseLanding();
}

/** The announced body size, if any. */
function _contentLength(headers: Headers): number | undefined {
  const length = Number(headers.get("content-length") ?? NaN);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}

function _statusError(headers: Headers): ConnectError | undefined {
  return statusError(headers.get("grpc-status"), headers.get("grpc-message"));
}

/** A trailer frame: HTTP/1-style `name: value` lines. */
function _parseTrailer(data: Uint8Array): Headers {
  const trailer = new Headers();
  for (const line of new TextDecoder().decode(data).split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0) trailer.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return trailer;
}

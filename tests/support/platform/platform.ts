/**
 * The local data platform: a server on 127.0.0.1 that speaks the Viam app API as
 * `@viamrobotics/sdk` 0.61.1 calls it (gRPC-web over HTTP/1.1), serves item downloads, takes
 * `FileUpload` streams (gRPC over HTTP/2 cleartext with prior knowledge, on the same port), and
 * injects faults.
 *
 * @example
 * ```ts
 * await using platform = await startPlatform({ dataset: sampleDataset() });
 * const client = await createViamClient({
 *   serviceHost: platform.url,
 *   credentials: { type: "api-key", authEntity: platform.apiKeyId, payload: platform.apiKey },
 * });
 * platform.setFaults({ latencyMs: 5, dropBodyAfterBytes: 1000 });
 * ```
 *
 * @module
 */

import { randomBytes, randomUUID } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage } from "node:http";
import { createServer as createHttp2Server } from "node:http2";
import type { AddressInfo, Server, Socket } from "node:net";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { CALL_NAMES, type CallCounts, type CallName } from "./calls.ts";
import { itemBytes } from "./content.ts";
import { type ApiKey, Credentials } from "./credentials.ts";
import { DatasetIndex } from "./dataset_index.ts";
import { DOWNLOAD_PATH_PREFIX, serveDownload } from "./download_route.ts";
import { type Faults, FaultState } from "./faults.ts";
import type { ItemRecord, PlatformDataset } from "./item_record.ts";
import { PlatformState, type RangeRecord } from "./platform_state.ts";
import { registerServices } from "./rpc_services.ts";
import { type UploadCounts, zeroUploadCounts } from "./upload_service.ts";

/** The gRPC message size limit (4 MiB), gRPC's default: a larger `FileUpload` chunk is refused. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** The start of the HTTP/2 connection preface (`PRI * HTTP/2.0`). */
const _H2_PREFACE = new TextEncoder().encode("PRI * HTTP/2.0");

/**
 * Items larger than this (256 KiB) are refused inline unless `inlineLimitBytes` says otherwise:
 * the program asks for files up to its own limit (1 MiB) inline, so a test's file of 300 kB to
 * 1 MiB comes by uri after its refusal, the way a platform with a lower limit sends it. The
 * benchmark and `deno task platform` answer up to `MAX_MESSAGE_BYTES`, as Viam's platform does.
 */
export const DEFAULT_INLINE_LIMIT_BYTES = 256 * 1024;

/** `contentOf` refuses items larger than this (64 MiB): stream those with `itemChunks`. */
export const CONTENT_OF_LIMIT_BYTES = 64 * 1024 * 1024;

/** Options of {@linkcode startPlatform}. */
export interface StartPlatformOptions {
  /** The data set served; defaults to an empty one. */
  dataset?: PlatformDataset;
  /** TCP port on 127.0.0.1; defaults to 0 (any free port). */
  port?: number;
  /** Items larger than this are refused inline; defaults to {@linkcode DEFAULT_INLINE_LIMIT_BYTES}. */
  inlineLimitBytes?: number;
  /** The accepted API keys (the first is `apiKeyId`/`apiKey`); defaults to one random key. */
  apiKeys?: readonly ApiKey[];
  /** The clock of signed URL expiry (epoch ms); defaults to `Date.now`. */
  now?: () => number;
  /** Faults in force from the start; defaults to none. */
  faults?: Faults;
}

/** A running local data platform. */
export interface Platform extends AsyncDisposable {
  /** `http://127.0.0.1:PORT`: the SDK's `serviceHost`. */
  readonly url: string;
  /** The TCP port listened on. */
  readonly port: number;
  /** The first API key's id (`authEntity`). */
  readonly apiKeyId: string;
  /** The first API key (`payload`). */
  readonly apiKey: string;
  /** A snapshot of the calls received since start or the last `resetCalls()`. */
  readonly calls: Readonly<CallCounts>;
  /** How `FileUpload` streams ended since start or `resetCalls()`. */
  readonly uploads: Readonly<UploadCounts>;
  /** A snapshot of the `Range` headers downloads received since start or `resetCalls()`. */
  readonly ranges: readonly RangeRecord[];
  /**
   * The client ports of the HTTP/1.1 connections `call` came on since start or `resetCalls()`:
   * which connections carried which calls.
   */
  callPorts(call: CallName): ReadonlySet<number>;
  /** The faults in force. */
  readonly faults: Readonly<Faults>;
  /** Replaces every fault at once (absent knobs are off; `{}` clears all). Takes effect at once. */
  setFaults(faults: Faults): void;
  /** Serves another data set from now on (downloads in flight finish with the old item). */
  replaceDataset(dataset: PlatformDataset): void;
  /** Zeroes the call and upload counters and forgets the recorded ranges. */
  resetCalls(): void;
  /** Invalidates every access token issued: later calls answer UNAUTHENTICATED (16). */
  revokeTokens(): void;
  /** The items served now, in listing order (oldest first), uploads included: a snapshot. */
  items(): readonly ItemRecord[];
  /** The item with this id; throws when there is none. */
  item(binaryDataId: string): ItemRecord;
  /** The item's full content, for assertions; throws above {@linkcode CONTENT_OF_LIMIT_BYTES}. */
  contentOf(binaryDataId: string): Uint8Array;
  /** The item's `metadata.uri`. */
  uriOf(binaryDataId: string): string;
  /** Stops listening, cuts connections and downloads in flight, ends pending waits. Idempotent. */
  close(): Promise<void>;
}

/** Starts a local data platform on 127.0.0.1 and resolves once it listens. */
export async function startPlatform(options: StartPlatformOptions = {}): Promise<Platform> {
  const inlineLimitBytes = options.inlineLimitBytes ?? DEFAULT_INLINE_LIMIT_BYTES;
  if (!Number.isSafeInteger(inlineLimitBytes) || inlineLimitBytes < 0) {
    throw new RangeError(`inlineLimitBytes must be an integer >= 0, got ${inlineLimitBytes}`);
  }
  const apiKeys = options.apiKeys ??
    [{ id: randomUUID(), key: randomBytes(24).toString("base64url") }];
  const state = new PlatformState({
    dataset: options.dataset ?? { items: [], datasets: [] },
    credentials: new Credentials(apiKeys),
    inlineLimitBytes,
    now: options.now ?? Date.now,
  });
  state.faultState = new FaultState(options.faults ?? {});
  const rpc = connectNodeAdapter({
    routes: (router) => registerServices(router, state),
    readMaxBytes: MAX_MESSAGE_BYTES,
  });
  const http1 = createHttpServer((req, res) => {
    _notePort(state, req);
    if (req.url?.startsWith(DOWNLOAD_PATH_PREFIX)) void serveDownload(state, req, res);
    else rpc(req, res);
  });
  const http2 = createHttp2Server(rpc);
  const sockets = new Set<Socket>();
  // One port for both: each connection's first bytes say whether it speaks HTTP/2 (prior knowledge).
  // The HTTP/1 server listens itself: Deno's node:http ends a kept-alive connection after its first
  // response when the connection was accepted by another server and handed over ("connection"),
  // so every SDK call would open a new connection and race the close (ECONNRESET, retried).
  const acceptHttp1 = http1.listeners("connection") as ((socket: Socket) => void)[];
  http1.removeAllListeners("connection");
  http1.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    _route(socket, (isH2) => {
      if (isH2) {
        // An HTTP server's connections are half-open (a client's FIN does not end them); an HTTP/2
        // session needs its connection to end with the client, or a killed client's stream is never
        // seen as cut.
        socket.allowHalfOpen = false;
        http2.emit("connection", socket);
      } else {
        for (const accept of acceptHttp1) accept.call(http1, socket);
      }
    });
  });
  const server: Server = http1;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  state.url = `http://127.0.0.1:${port}`;
  return new _LocalPlatform(state, { server, sockets }, port);
}

/**
 * Reads a connection's first bytes until they match or leave the HTTP/2 preface, puts them back,
 * and hands the connection on.
 */
function _route(socket: Socket, handOver: (isH2: boolean) => void): void {
  let head = new Uint8Array(0);
  const onData = (chunk: Uint8Array): void => {
    const joined = new Uint8Array(head.length + chunk.length);
    joined.set(head);
    joined.set(chunk, head.length);
    head = joined;
    const n = Math.min(head.length, _H2_PREFACE.length);
    const matches = head.subarray(0, n).every((byte, i) => byte === _H2_PREFACE[i]);
    if (matches && head.length < _H2_PREFACE.length) return; // not enough bytes to tell yet
    socket.off("data", onData);
    socket.pause();
    socket.unshift(head);
    handOver(matches);
    socket.resume();
  };
  socket.on("data", onData);
  socket.on("error", () => socket.destroy());
}

interface _Listener {
  server: Server;
  sockets: Set<Socket>;
}

class _LocalPlatform implements Platform {
  readonly url: string;
  readonly port: number;
  readonly apiKeyId: string;
  readonly apiKey: string;
  #state: PlatformState;
  #listener: _Listener;
  #closed: Promise<void> | undefined;

  constructor(state: PlatformState, listener: _Listener, port: number) {
    this.#state = state;
    this.#listener = listener;
    this.port = port;
    this.url = state.url;
    this.apiKeyId = state.credentials.apiKeys[0].id;
    this.apiKey = state.credentials.apiKeys[0].key;
  }

  get calls(): Readonly<CallCounts> {
    return { ...this.#state.calls };
  }

  get uploads(): Readonly<UploadCounts> {
    return { ...this.#state.uploads };
  }

  get ranges(): readonly RangeRecord[] {
    return [...this.#state.ranges];
  }

  callPorts(call: CallName): ReadonlySet<number> {
    return new Set(this.#state.callPorts.get(call));
  }

  get faults(): Readonly<Faults> {
    return this.#state.faultState.faults;
  }

  setFaults(faults: Faults): void {
    this.#state.faultState = new FaultState(faults);
  }

  replaceDataset(dataset: PlatformDataset): void {
    this.#state.index = new DatasetIndex(dataset);
  }

  resetCalls(): void {
    for (const name of Object.keys(this.#state.calls) as (keyof CallCounts)[]) {
      this.#state.calls[name] = 0;
    }
    this.#state.ranges = [];
    this.#state.callPorts = new Map();
    this.#state.uploads = zeroUploadCounts();
  }

  revokeTokens(): void {
    this.#state.credentials.revokeAccessTokens();
  }

  items(): readonly ItemRecord[] {
    return [...this.#state.index.items];
  }

  item(binaryDataId: string): ItemRecord {
    const item = this.#state.index.get(binaryDataId);
    if (item === undefined) throw new Error(`the platform has no item ${binaryDataId}`);
    return item;
  }

  contentOf(binaryDataId: string): Uint8Array {
    const item = this.item(binaryDataId);
    if (item.sizeBytes > CONTENT_OF_LIMIT_BYTES) {
      throw new RangeError(
        `${binaryDataId} has ${item.sizeBytes} bytes, above ${CONTENT_OF_LIMIT_BYTES}: ` +
          "compare it chunk by chunk with itemChunks()",
      );
    }
    return itemBytes(item);
  }

  uriOf(binaryDataId: string): string {
    return this.#state.uriOf(this.item(binaryDataId));
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#state.lifetime.abort(new Error("the platform closed"));
      const { server, sockets } = this.#listener;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Notes the client port an HTTP/1.1 request came from under its call's name (see `callPorts`). */
function _notePort(state: PlatformState, req: IncomingMessage): void {
  const path = req.url ?? "";
  const name = path.startsWith(DOWNLOAD_PATH_PREFIX) ? "download" : path.split("/").pop();
  const call = CALL_NAMES.find((known) => known === name);
  const port = req.socket.remotePort;
  if (call === undefined || port === undefined) return;
  let ports = state.callPorts.get(call);
  if (ports === undefined) state.callPorts.set(call, ports = new Set());
  ports.add(port);
}

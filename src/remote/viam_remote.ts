import { createGrpcWebTransport, type GrpcWebTransportOptions } from "@connectrpc/connect-web";
import { createViamClient, dataApi, Timestamp } from "@viamrobotics/sdk";
import type { ViamClient } from "@viamrobotics/sdk";
import { ConnectError } from "@viamrobotics/sdk";
import { classifyError } from "./classify_error.ts";
import { type ErrorKind, HttpStatusError, TimeoutError, TooLargeError } from "./errors.ts";
import type { RemoteItem } from "./remote_item.ts";
import type {
  DownloadBody,
  DownloadOptions,
  DownloadTarget,
  ListFilter,
  ListOptions,
  ListPage,
  RemoteCallOptions,
  RemoteSource,
} from "./remote_source.ts";

/** How to reach the data platform. */
export interface ViamRemoteOptions {
  /** `https://app.viam.com`, or another deployment (the local platform in tests). */
  appUrl: string;
  /** API key id. */
  apiKeyId: string;
  /** API key: kept in memory only, never logged. */
  apiKey: string;
  /** Per-call timeout for RPCs, in milliseconds (default 60 s). */
  callTimeoutMs?: number;
  /** Timeout for a download's response headers, in milliseconds (default 60 s). */
  downloadHeadersTimeoutMs?: number;
}

/** The largest page the platform serves; the Viam CLI uses the same cap. */
const _MAX_PAGE = 100;
const _FILE_SIZE_FIELD = 11;
const _RESOURCE_EXHAUSTED = 8;
const _ORDER = {
  ascending: dataApi.Order.ASCENDING,
  descending: dataApi.Order.DESCENDING,
} as const;

/**
 * The data platform through the real `@viamrobotics/sdk` client: listing pages, inline batches, and
 * HTTP downloads by `uri` (or a signed URL) with `Range`.
 */
export class ViamRemote implements RemoteSource {
  #client?: Promise<ViamClient>;
  readonly #options: ViamRemoteOptions;

  /** Creates the remote; the first call authenticates. */
  constructor(options: ViamRemoteOptions) {
    this.#options = options;
  }

  async listPage(filter: ListFilter, last: string, options: ListOptions = {}): Promise<ListPage> {
    const pageSize = Math.min(options.pageSize ?? _MAX_PAGE, _MAX_PAGE);
    const order = options.order === undefined ? undefined : _ORDER[options.order];
    const page = await this.#call("BinaryDataByFilter", options, (client) =>
      // includeBinary must be false: the SDK defaults to true and would send every file's bytes.
      client.dataClient.binaryDataByFilter(_sdkFilter(filter), pageSize, order, last, false));
    return { items: page.data.map(_toRemoteItem), last: page.last };
  }

  classify(error: unknown): ErrorKind {
    return classifyError(error);
  }

  async count(filter: ListFilter, options: RemoteCallOptions = {}): Promise<number> {
    const result = await this.#call(
      "BinaryDataByFilter",
      options,
      (client) =>
        client.dataClient.binaryDataByFilter(
          _sdkFilter(filter),
          undefined,
          undefined,
          "",
          false,
          true,
        ),
    );
    return Number(result.count);
  }

  async fetchInline(
    ids: string[],
    options: RemoteCallOptions = {},
  ): Promise<Map<string, Uint8Array>> {
    try {
      const data = await this.#call(
        "BinaryDataByIDs",
        options,
        (client) => client.dataClient.binaryDataByIds(ids, true),
      );
      const result = new Map<string, Uint8Array>();
      for (const item of data) {
        if (item.metadata) result.set(item.metadata.binaryDataId, item.binary);
      }
      return result;
    } catch (error) {
      if (_isTooLarge(error)) throw new TooLargeError(ids, error);
      throw error;
    }
  }

  async download(item: DownloadTarget, options: DownloadOptions = {}): Promise<DownloadBody> {
    const offset = options.offset ?? 0;
    // Identity: with a compressed body, sizes and Range offsets would count compressed bytes.
    const headers = new Headers({ "accept-encoding": "identity" });
    if (offset > 0) headers.set("range", `bytes=${offset}-`);
    const what = `download of ${item.binaryDataId}`;
    let response: Response;
    if (item.uri && this.#isAppOrigin(item.uri)) {
      // The API-key headers are what the Viam CLI sends for uri downloads. They go to the app's own
      // origin only: fetch would carry them across a redirect, so redirects are followed by hand,
      // without them.
      const keyed = new Headers(headers);
      keyed.set("key_id", this.#options.apiKeyId);
      keyed.set("key", this.#options.apiKey);
      response = await this.#fetch(item.uri, keyed, options.signal, "manual");
      const location = response.headers.get("location");
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        response = await this.#fetch(new URL(location, item.uri).href, headers, options.signal);
      }
    } else {
      // No uri, or one on another host, which must not see the key: ask for a signed URL.
      const url = await this.#call(
        "CreateBinaryDataSignedURL",
        options,
        (client) => client.dataClient.createBinaryDataSignedURL(item.binaryDataId),
      );
      response = await this.#fetch(url, headers, options.signal);
    }
    if (response.status === 416 && offset > 0) {
      // Asked for the bytes after a partial that already holds the whole file (a process killed
      // between the last write and the rename): nothing is left to send.
      await response.body?.cancel();
      const total = /^bytes \*\/(\d+)$/.exec(response.headers.get("content-range") ?? "");
      if (total && Number(total[1]) === offset) {
        return { body: new Blob([]).stream(), start: offset, totalSize: offset };
      }
      return this.download(item, { ...options, offset: 0 });
    }
    if (response.status !== 200 && response.status !== 206) {
      await response.body?.cancel();
      throw new HttpStatusError(response.status, what);
    }
    if (!response.body) throw new HttpStatusError(response.status, `${what}: no body`);
    const start = response.status === 206 ? _rangeStart(response.headers) : 0;
    if (start !== 0 && start !== offset) {
      await response.body.cancel();
      throw new HttpStatusError(response.status, `${what}: asked for byte ${offset}, got ${start}`);
    }
    return { body: response.body, start, totalSize: _totalSize(response, start) };
  }

  /**
   * Fetches with a timeout on the response headers only: slow bodies are fine (stalls are caught by
   * the reader), and the caller's signal goes to fetch itself so aborting also stops the body.
   */
  async #fetch(
    url: string,
    headers: Headers,
    signal: AbortSignal | undefined,
    redirect: RequestRedirect = "follow",
  ): Promise<Response> {
    const headersTimeoutMs = this.#options.downloadHeadersTimeoutMs ?? 60_000;
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(new TimeoutError("download headers", headersTimeoutMs)),
      headersTimeoutMs,
    );
    try {
      return await fetch(url, {
        headers,
        redirect,
        signal: signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs an SDK call with a timeout, re-authenticating once when the token was refused. */
  async #call<T>(
    what: string,
    options: RemoteCallOptions,
    fn: (client: ViamClient) => Promise<T>,
  ): Promise<T> {
    const timeout = this.#options.callTimeoutMs ?? 60_000;
    for (let reauthenticated = false;; reauthenticated = true) {
      const connecting = this.#connect();
      const client = await this.#withTimeout(
        "Authenticate",
        timeout,
        options.signal,
        () => connecting,
      );
      try {
        return await this.#withTimeout(what, timeout, options.signal, () => fn(client));
      } catch (error) {
        // The SDK never refreshes its token: a refused token means a new client, once. Calls
        // in flight together share that new client (only the first to fail drops the old one).
        if (reauthenticated || classifyError(error) !== "auth") throw error;
        if (this.#client === connecting) this.#client = undefined;
      }
    }
  }

  #connect(): Promise<ViamClient> {
    if (!this.#client) {
      _useWholeBodyTransport();
      const pending = createViamClient({
        serviceHost: this.#options.appUrl,
        credentials: {
          type: "api-key",
          authEntity: this.#options.apiKeyId,
          payload: this.#options.apiKey,
        },
      });
      // A failed authentication is not cached: the next call tries again.
      pending.catch(() => {
        if (this.#client === pending) this.#client = undefined;
      });
      this.#client = pending;
    }
    return this.#client;
  }

  /** True when `url` is on the configured app's origin: the only place the API key is sent. */
  #isAppOrigin(url: string): boolean {
    try {
      return new URL(url).origin === new URL(this.#options.appUrl).origin;
    } catch {
      return false;
    }
  }

  async #withTimeout<T>(
    what: string,
    ms: number,
    signal: AbortSignal | undefined,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    signal?.throwIfAborted();
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // Reject first, so the race reports the timeout rather than the abort it causes.
        reject(new TimeoutError(what, ms));
        controller.abort();
      }, ms);
    });
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener("abort", () => reject(controller.signal.reason), {
        once: true,
      });
    });
    // The SDK's calls take no signal: stop waiting for them on abort or timeout (fetches do stop).
    const work = fn(controller.signal);
    try {
      return await Promise.race([work, expired, aborted]);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      work.catch(() => {});
      expired.catch(() => {});
      aborted.catch(() => {});
    }
  }
}

/**
 * Makes the SDK's gRPC-web calls read each response body whole before decoding it, through the
 * transport hook the SDK offers (`globalThis.VIAM.GRPC_TRANSPORT_FACTORY`, given the same options
 * as its own transport). Connect-web 1.x's envelope reader appends every network chunk by copying
 * all it holds so far, which is quadratic in the response size: a 3 MiB inline batch arriving in
 * 64 KiB chunks was copied some 70 MiB over, and took a third of a fresh pass's CPU. Read whole,
 * the body is one chunk and is copied once. Responses are bounded (a batch is at most 3 MiB).
 */
function _useWholeBodyTransport(): void {
  const viam = ((globalThis as { VIAM?: Record<string, unknown> }).VIAM ??= {});
  viam.GRPC_TRANSPORT_FACTORY ??= (options: GrpcWebTransportOptions) =>
    createGrpcWebTransport({ ...options, fetch: _wholeBodyFetch });
}

async function _wholeBodyFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const response = await fetch(input, init);
  const bytes = response.body === null ? undefined : await response.bytes();
  // One chunk: a Response built from bytes may hand them on in 64 KiB slices.
  const body = bytes === undefined ? null : new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

function _sdkFilter(filter: ListFilter): InstanceType<typeof dataApi.Filter> {
  const { startMs, endMs } = filter.interval ?? {};
  return new dataApi.Filter({
    tagsFilter: filter.tags.length ? { tags: filter.tags } : undefined,
    bboxLabels: filter.labels,
    datasetId: filter.datasetId ?? "",
    mimeType: filter.mimeTypes ?? [],
    interval: filter.interval === undefined ? undefined : new dataApi.CaptureInterval({
      start: startMs === undefined ? undefined : Timestamp.fromDate(new Date(startMs)),
      end: endMs === undefined ? undefined : Timestamp.fromDate(new Date(endMs)),
    }),
  });
}

function _isTooLarge(error: unknown): boolean {
  return error instanceof ConnectError &&
    (error.code === _RESOURCE_EXHAUSTED || error.message.includes("INCLUDE_BINARY_TOO_LARGE"));
}

function _toRemoteItem(data: InstanceType<typeof dataApi.BinaryData>): RemoteItem {
  const meta = data.metadata ?? new dataApi.BinaryMetadata();
  const binaryDataId = meta.binaryDataId;
  const fileId = meta.id || binaryDataId.slice(binaryDataId.lastIndexOf("/") + 1);
  return {
    binaryDataId,
    fileId,
    fileName: meta.fileName,
    fileExt: meta.fileExt,
    mimeType: meta.captureMetadata?.mimeType ?? "",
    uri: meta.uri,
    sizeBytes: _fileSizeBytes(meta),
    timeRequestedMs: meta.timeRequested?.toDate().getTime(),
    tags: meta.captureMetadata?.tags ?? [],
    bboxes: (meta.annotations?.bboxes ?? []).map((box) => ({
      label: box.label,
      xMin: box.xMinNormalized,
      yMin: box.yMinNormalized,
      xMax: box.xMaxNormalized,
      yMax: box.yMaxNormalized,
      ...(box.confidence === undefined ? {} : { confidence: box.confidence }),
    })),
    datasetIds: meta.datasetIds,
  };
}

/** `file_size_bytes` (field 11) is not a property in SDK 0.61.1: it arrives as an unknown varint. */
function _fileSizeBytes(meta: InstanceType<typeof dataApi.BinaryMetadata>): number | undefined {
  const unknown = dataApi.BinaryMetadata.runtime.bin.listUnknownFields(meta)
    .findLast((field) => field.no === _FILE_SIZE_FIELD && field.wireType === 0);
  if (!unknown) return undefined;
  let value = 0;
  let scale = 1;
  for (const byte of unknown.data) {
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return value;
    scale *= 128;
  }
  return undefined;
}

function _rangeStart(headers: Headers): number {
  const match = /^bytes (\d+)-/.exec(headers.get("content-range") ?? "");
  return match ? Number(match[1]) : 0;
}

function _totalSize(response: Response, start: number): number | undefined {
  const range = /\/(\d+)$/.exec(response.headers.get("content-range") ?? "");
  if (range) return Number(range[1]);
  const length = response.headers.get("content-length");
  return length === null ? undefined : start + Number(length);
}

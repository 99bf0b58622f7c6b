/**
 * {@linkcode RemoteSource} over the Viam TypeScript SDK: the data client signed in with the API key,
 * pages and counts of `BinaryDataByFilter`, inline `BinaryDataByIDs`, and uri downloads with Range
 * resumption, through the HTTP clients of `http1_client.ts`: the listing's and the files' (and the
 * proxy, if any).
 *
 * @module
 */
import { type AnyMessage, type MethodInfo, MethodKind, type ServiceType } from "@bufbuild/protobuf";
import { ConnectError, createContextValues, type Transport } from "@connectrpc/connect";
import { IdleWatchdog } from "../async/idle_watchdog.ts";
import { LinkedAbort } from "../async/linked_abort.ts";
import { RateFloor } from "../async/rate_floor.ts";
import { Semaphore } from "../async/semaphore.ts";
import { AccessToken } from "./access_token.ts";
import { classifyError } from "./classify_error.ts";
import { timestampOfMs } from "./wire_timestamp.ts";
import {
  AuthService,
  BinaryDataByFilterRequest,
  BinaryDataByIDsRequest,
  CreateBinaryDataSignedURL,
  Filter,
  ORDER,
} from "./data_wire.ts";
import {
  BODY_PROGRESS,
  createLandingTransport,
  LANDING,
  type LandingSource,
  ResponseLanding,
} from "./grpc_web_transport.ts";
import { http1Client } from "./http1_client.ts";
import { decodeInlineBatch } from "./inline_batch.ts";
import { type DecodedListingPage, decodeListingPage } from "./listing_page.ts";
import {
  type ErrorKind,
  HttpStatusError,
  IncompleteBodyError,
  ItemNotFoundError,
  TimeoutError,
  TooLargeError,
  UncheckableBodyError,
} from "./errors.ts";
import {
  type DownloadBody,
  type DownloadOptions,
  type DownloadTarget,
  type InlineBatch,
  type InlineOptions,
  type ListFilter,
  type ListOptions,
  type ListPage,
  MIN_BODY_BYTES_PER_SECOND,
  type RemoteCallOptions,
  type RemoteSource,
} from "./remote_source.ts";

/** How to reach the data platform. */
export interface ViamRemoteOptions {
  /** `https://app.viam.com`, or another deployment (the local platform in tests). */
  appUrl: string;
  /** API key id. */
  apiKeyId: string;
  /** API key: kept in memory only, never logged. */
  apiKey: string;
  /**
   * Per-call timeout for RPCs, in milliseconds (default 60 s): a call's whole time, but for an
   * inline batch's answer, which may take longer as long as its bytes keep coming (no byte for
   * this long fails it), and whose wait for its turn to be read does not count.
   */
  callTimeoutMs?: number;
  /**
   * Kept response buffers are let go after this many milliseconds without a call (default 5 s):
   * a module's mirror keeps its remote between passes, and should not hold its buffers (an inline
   * answer's 2 MiB, the listing pages') through the minute between them.
   */
  keepBuffersMs?: number;
}

/** The largest page the platform serves; the Viam CLI uses the same cap. */
const _MAX_PAGE = 100;
/** The largest listing answer read: 8 MiB, some 80 KiB an item of a 100-item page. */
const _MAX_PAGE_BYTES = 8 * 1024 * 1024;
/** How long a download waits for its response headers, in milliseconds. */
const _DOWNLOAD_HEADERS_TIMEOUT_MS = 60_000;
const _NOT_FOUND = 5;
const _RESOURCE_EXHAUSTED = 8;
/**
 * Landings kept per kind of call (inline batches, listing pages): one per call in flight at the
 * default concurrency; more calls at once take fresh ones, which the garbage collector frees.
 */
const _KEPT_LANDINGS = 8;
/**
 * Inline answers read at once: a call whose answer arrives while one is being read or written
 * waits (its bytes wait in the connection), so the calls in flight hide the network's latency
 * with one batch-sized buffer instead of one per call. The pass is bound by the CPU writing the
 * files, not by reading answers: on the bench's fresh copy (10,020 files, 8 calls in flight), four
 * at once peaked at 134-141 MiB, one at 119-124 MiB, in the same wall time (four alternated pairs).
 */
const _INLINE_READS = 1;
/** A landing grown past this (an unusually large response) is not kept. */
const _KEPT_LANDING_BYTES = 8 * 1024 * 1024;
const _DATA_SERVICE = {
  typeName: "viam.app.data.v1.DataService",
  methods: {},
} as ServiceType;
/** `BinaryDataByIDs`, its answer read by {@linkcode decodeInlineBatch} into the files' bytes. */
const _BINARY_DATA_BY_IDS = {
  name: "BinaryDataByIDs",
  I: BinaryDataByIDsRequest,
  O: { fromBinary: decodeInlineBatch },
  kind: MethodKind.Unary,
} as const;
/** `BinaryDataByFilter`, its answer read by {@linkcode decodeListingPage} into items. */
const _BINARY_DATA_BY_FILTER = {
  name: "BinaryDataByFilter",
  I: BinaryDataByFilterRequest,
  O: { fromBinary: decodeListingPage },
  kind: MethodKind.Unary,
} as const;

/**
 * The data platform over gRPC-web, as the Viam SDKs reach it: sign-in with the API key for an
 * access token (`proto.rpc.v1.AuthService`), listing pages, inline batches and signed URLs from
 * `DataService`, and HTTP downloads by `uri` (or a signed URL) with `Range`. The messages are the
 * hand-made types of `data_wire.ts` and the answers are read by hand, not through
 * `@viamrobotics/sdk`: its bundle cost every pass about 100 ms and 22 MB to load (the tests hold
 * this wire to the SDK's).
 */
export class ViamRemote implements RemoteSource {
  /** The access token, signed in for on first use and again when refused. */
  readonly #token = new AccessToken(() => this.#signIn());
  readonly #transport: Transport;
  readonly #options: ViamRemoteOptions;
  get #callTimeoutMs(): number {
    return this.#options.callTimeoutMs ?? 60_000;
  }
  /** Buffers inline responses are read into, waiting for the next call (a few MiB each). */
  readonly #inlineLandings: ResponseLanding[] = [];
  /** The inline answer being read or written now ({@linkcode _INLINE_READS} at most). */
  readonly #inlineReads = new Semaphore(_INLINE_READS);
  /** Buffers listing pages are read into (tens of KiB each). */
  readonly #listingLandings: ResponseLanding[] = [];
  /** Lets the kept landings go once no call has used them for a while. */
  #releaseTimer?: ReturnType<typeof setTimeout>;

  /** Creates the remote; the first call authenticates. */
  constructor(options: ViamRemoteOptions) {
    this.#options = options;
    this.#transport = createLandingTransport({
      baseUrl: options.appUrl,
      // A page of 100 items' metadata is tens of KiB; 16 pages in flight of the general 64 MiB
      // bound took a padded listing to 981 MiB resident.
      maxResponseBytes: (method) => method === "BinaryDataByFilter" ? _MAX_PAGE_BYTES : undefined,
      // The files' bytes apart from the listing's pages, each in buffers of their size.
      connectionUse: (method) => method === _BINARY_DATA_BY_IDS.name ? "files" : "metadata",
    });
  }

  /**
   * One page of metadata, decoded straight into items ({@linkcode decodeListingPage}), asked for
   * as the SDK asks for it with `includeBinary` false (the SDK defaults to true: every file's
   * bytes).
   */
  async listPage(filter: ListFilter, last: string, options: ListOptions = {}): Promise<ListPage> {
    const pageSize = Math.min(options.pageSize ?? _MAX_PAGE, _MAX_PAGE);
    const { items, last: next, bytes } = await this.#listing(filter, options, {
      limit: BigInt(pageSize),
      sortOrder: options.order === undefined ? undefined : ORDER[options.order],
      last,
    }, false);
    return { items, last: next, bytes };
  }

  /**
   * Signs in now unless a token is had or coming (bounded by the call timeout, as every sign-in
   * is); a failure is not kept: the first call signs in again.
   */
  signInAhead(): void {
    this.#token.prefetch();
  }

  classify(error: unknown): ErrorKind {
    return classifyError(error);
  }

  async count(filter: ListFilter, options: RemoteCallOptions = {}): Promise<number> {
    const answer = await this.#listing(filter, options, { last: "" }, true);
    // A platform (or a proxy) that ignores `count_only` answers with a page, and its count, absent,
    // reads as 0: a "count" that would prove any listing whole, however short it was cut.
    if (answer.items.length > 0) {
      throw new Error("the platform answered a count with items: it does not count (count_only)");
    }
    return answer.count;
  }

  /**
   * Keeps a landing for the next call, unless enough are kept or it grew unusually large, and
   * (re)starts the timer that lets them all go when calls stop.
   */
  #keep(kept: ResponseLanding[], landing: ResponseLanding): void {
    if (kept.length < _KEPT_LANDINGS && landing.capacity <= _KEPT_LANDING_BYTES) kept.push(landing);
    clearTimeout(this.#releaseTimer);
    this.#releaseTimer = setTimeout(() => {
      this.#inlineLandings.length = 0;
      this.#listingLandings.length = 0;
    }, this.#options.keepBuffersMs ?? 5_000);
    // Not a reason for the process to stay up.
    Deno.unrefTimer(this.#releaseTimer);
  }

  /**
   * A `BinaryDataByFilter` call. Its answer is read into a kept landing, which is free again as
   * soon as it is decoded: the items hold strings and numbers, no views of it.
   */
  async #listing(
    filter: ListFilter,
    options: RemoteCallOptions,
    page: { limit?: bigint; sortOrder?: number; last: string },
    countOnly: boolean,
  ): Promise<DecodedListingPage> {
    const landing = this.#listingLandings.pop() ?? new ResponseLanding();
    const answer = await this.#call(
      "BinaryDataByFilter",
      options,
      (headers, signal) =>
        _unary(this.#transport, _DATA_SERVICE, _BINARY_DATA_BY_FILTER, {
          input: new BinaryDataByFilterRequest({
            dataRequest: { filter: _wireFilter(filter), ...page },
            includeBinary: false,
            countOnly,
            includeInternalData: false,
          }),
          headers,
          signal,
          landing,
        }),
    );
    // (After a failure the landing is dropped: a call that timed out may still be reading.)
    this.#keep(this.#listingLandings, landing);
    return answer;
  }

  /**
   * One `BinaryDataByIDs` call, read into a landing buffer kept for the next call: the files are
   * views of it, so a pass of 10,000 small files allocates a few landings instead of three
   * buffers per response ({@linkcode createLandingTransport}). The landing is taken when the
   * answer's body arrives, not while the call waits on the network: at 20 ms a call, eight calls
   * in flight held eight batch-sized buffers (3 MiB then), most of them empty.
   */
  async fetchInline(ids: string[], options: InlineOptions = {}): Promise<InlineBatch> {
    let landing: ResponseLanding | undefined;
    let abandoned = false;
    const land = async (signal: AbortSignal | undefined, watchdog: IdleWatchdog) => {
      // The answer has begun. From here the call lasts as long as its bytes keep coming: a 2 MiB
      // answer takes more than the call timeout below 35 KB/s (an LTE link in a field, or calls
      // sharing one), and each try of every batch timed out, pass after pass. Waiting for its
      // turn to be read is no stall of the link's.
      watchdog.pause();
      // (A call made again after a refused token reads into the same one.)
      if (landing === undefined) {
        await this.#inlineReads.acquire(signal);
        if (abandoned) {
          this.#inlineReads.release();
          throw new Error("the inline call was given up");
        }
        landing = this.#inlineLandings.pop() ?? new ResponseLanding();
        // The files and their metadata (about a kilobyte each), in one allocation.
        if (options.expectedBytes !== undefined) {
          landing.reserve(options.expectedBytes + ids.length * 1024 + 64 * 1024);
        }
      }
      watchdog.watch(this.#callTimeoutMs, "BinaryDataByIDs (no byte of its answer)");
      return landing;
    };
    // A trickle (a byte every 20 s) would hold the batch as long as it liked.
    const floor = new RateFloor({
      windowMs: this.#callTimeoutMs,
      minBytesPerSecond: MIN_BODY_BYTES_PER_SECOND,
    });
    const arrived = (bytes: number, watchdog: IdleWatchdog) => {
      options.onBytes?.(bytes);
      watchdog.progress();
      const slow = floor.add(bytes);
      if (slow !== undefined) throw new IncompleteBodyError(`BinaryDataByIDs: ${slow}`);
    };
    let files: Map<string, Uint8Array>;
    try {
      files = await this.#call(
        "BinaryDataByIDs",
        options,
        (headers, signal, watchdog) =>
          _unary(this.#transport, _DATA_SERVICE, _BINARY_DATA_BY_IDS, {
            input: new BinaryDataByIDsRequest({ binaryDataIds: ids, includeBinary: true }),
            headers,
            signal,
            landing: (signal) => land(signal, watchdog),
            onBytes: (bytes) => arrived(bytes, watchdog),
          }),
      );
    } catch (error) {
      // The landing is dropped: a call that timed out may still be reading into it.
      abandoned = true;
      if (landing !== undefined) this.#inlineReads.release();
      if (_isTooLarge(error)) throw new TooLargeError(ids, error);
      if (error instanceof ConnectError && error.code === _NOT_FOUND) {
        throw new ItemNotFoundError(error);
      }
      throw error;
    }
    let disposed = false;
    return {
      files,
      [Symbol.dispose]: () => {
        if (disposed) return;
        disposed = true;
        files.clear();
        if (landing === undefined) return;
        this.#inlineReads.release();
        this.#keep(this.#inlineLandings, landing);
      },
    };
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
        async (headers, signal) => {
          const reply = await _unary(this.#transport, _DATA_SERVICE, CreateBinaryDataSignedURL, {
            input: new CreateBinaryDataSignedURL.I({ binaryDataId: item.binaryDataId }),
            headers,
            signal,
          });
          return (reply as unknown as { signedUrl: string }).signedUrl;
        },
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
    const encoding = response.headers.get("content-encoding")?.trim();
    if (encoding && encoding.toLowerCase() !== "identity") {
      await response.body.cancel();
      throw new UncheckableBodyError(
        `${what} came ${encoding}-encoded, not as the file's own bytes (identity was asked for)`,
      );
    }
    const start = response.status === 206 ? _rangeStart(response.headers) : 0;
    if (start === undefined) {
      // Partial content that does not say where it starts: the partial cannot be resumed from it.
      await response.body.cancel();
      if (offset === 0) {
        throw new UncheckableBodyError(`${what} came as partial content without a Content-Range`);
      }
      return this.download(item, { ...options, offset: 0 });
    }
    if (start !== 0 && start !== offset) {
      await response.body.cancel();
      throw new HttpStatusError(response.status, `${what}: asked for byte ${offset}, got ${start}`);
    }
    return {
      body: response.body,
      start,
      totalSize: _totalSize(response, start),
      contentType: response.headers.get("content-type") ?? undefined,
    };
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
    // fetch reads `file:` (and `data:`) URLs too, and resolves a bare path against the program's
    // own `file:` URL: a redirect or a signed URL naming one had a local file the program may read
    // (viam-server's tokens in the Viam home, a --config file with the key) placed as the item.
    const protocol = URL.parse(url)?.protocol;
    if (protocol !== "http:" && protocol !== "https:") {
      throw new UncheckableBodyError(
        `the platform gave a download URL that is not http(s) (${
          protocol === undefined ? "no absolute URL" : `scheme ${JSON.stringify(protocol)}`
        }): not fetched`,
      );
    }
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(new TimeoutError("download headers", _DOWNLOAD_HEADERS_TIMEOUT_MS)),
      _DOWNLOAD_HEADERS_TIMEOUT_MS,
    );
    try {
      return await fetch(url, {
        client: http1Client("files"),
        headers,
        redirect,
        signal: signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Runs a call with the access token (signing in first when there is none) and a timeout; a
   * refused token is dropped and the call made once more with a new one.
   */
  async #call<T>(
    what: string,
    options: RemoteCallOptions,
    fn: (headers: Headers, signal: AbortSignal, watchdog: IdleWatchdog) => Promise<T>,
  ): Promise<T> {
    const timeout = this.#callTimeoutMs;
    return await this.#token.use(
      (token) =>
        this.#withTimeout(
          what,
          timeout,
          options.signal,
          (signal, watchdog) =>
            fn(new Headers({ authorization: `Bearer ${token}` }), signal, watchdog),
        ),
      {
        isRefused: (error) => classifyError(error) === "auth",
        wait: (signingIn) =>
          this.#withTimeout("Authenticate", timeout, options.signal, () => signingIn),
      },
    );
  }

  /**
   * A new access token: `Authenticate` with the API key, bounded by the call timeout. Unbounded, a
   * sign-in the platform took and never answered stayed the token every call waited on (each
   * call's own timeout ended, the sign-in never did): no other was ever sent, and the mirror
   * stopped for good. A token that cannot travel in a header is refused here, unquoted.
   */
  async #signIn(): Promise<string> {
    const timeout = this.#callTimeoutMs;
    const reply = await this.#withTimeout(
      "Authenticate",
      timeout,
      undefined,
      (signal) =>
        _unary(this.#transport, AuthService, AuthService.methods.authenticate, {
          input: new AuthService.methods.authenticate.I({
            entity: this.#options.apiKeyId,
            credentials: { type: "api-key", payload: this.#options.apiKey },
          }),
          headers: new Headers(),
          signal,
        }),
    );
    const token = (reply as unknown as { accessToken: string }).accessToken;
    if (!/^[\x21-\x7e]+$/.test(token)) {
      throw new Error("the platform's access token is empty or not a valid header value");
    }
    return token;
  }

  /** True when `url` is on the configured app's origin: the only place the API key is sent. */
  #isAppOrigin(url: string): boolean {
    try {
      return new URL(url).origin === new URL(this.#options.appUrl).origin;
    } catch {
      return false;
    }
  }

  /**
   * Runs `fn` until it ends, or until `ms` pass without progress: a call that reports none (most)
   * has `ms` in all; one that does (`fn` is given the watchdog) may take longer while it moves.
   */
  async #withTimeout<T>(
    what: string,
    ms: number,
    signal: AbortSignal | undefined,
    fn: (signal: AbortSignal, watchdog: IdleWatchdog) => Promise<T>,
  ): Promise<T> {
    signal?.throwIfAborted();
    using stop = new LinkedAbort(signal);
    let expire: (error: TimeoutError) => void = () => {};
    const expired = new Promise<never>((_, reject) => expire = reject);
    const watchdog = new IdleWatchdog((idle, idleMs) => {
      // Reject first, so the race reports the timeout rather than the abort it causes.
      expire(new TimeoutError(idle, idleMs));
      stop.abort();
    });
    watchdog.watch(ms, what);
    const aborted = new Promise<never>((_, reject) => {
      stop.signal.addEventListener("abort", () => reject(stop.signal.reason), {
        once: true,
      });
    });
    // The call's fetch stops on the signal; the race also ends the wait at once when it fires.
    const work = fn(stop.signal, watchdog);
    try {
      return await Promise.race([work, expired, aborted]);
    } finally {
      watchdog.stop();
      work.catch(() => {});
      expired.catch(() => {});
      aborted.catch(() => {});
    }
  }
}

/**
 * One unary call on the landing transport; the answer is what the method's `fromBinary` makes of
 * the reply (a hand decoder's result, or a message).
 */
async function _unary<T>(
  transport: Transport,
  service: ServiceType,
  method: { name: string; O: { fromBinary(bytes: Uint8Array): T }; kind: MethodKind.Unary },
  call: {
    input: AnyMessage;
    headers: Headers;
    signal: AbortSignal | undefined;
    landing?: LandingSource;
    onBytes?: (bytes: number) => void;
  },
): Promise<T> {
  const response = await transport.unary(
    service,
    method as unknown as MethodInfo,
    call.signal,
    undefined,
    call.headers,
    call.input,
    createContextValues().set(LANDING, call.landing).set(BODY_PROGRESS, call.onBytes),
  );
  return response.message as unknown as T;
}

/** The listing's filter as `viam.app.data.v1.Filter`. */
function _wireFilter(filter: ListFilter): InstanceType<typeof Filter> {
  const { startMs, endMs } = filter.interval ?? {};
  return new Filter({
    tagsFilter: filter.tags.length ? { tags: filter.tags } : undefined,
    bboxLabels: filter.labels,
    datasetId: filter.datasetId ?? "",
    mimeType: filter.mimeTypes ?? [],
    interval: filter.interval === undefined ? undefined : {
      start: startMs === undefined ? undefined : timestampOfMs(startMs),
      end: endMs === undefined ? undefined : timestampOfMs(endMs),
    },
  });
}

function _isTooLarge(error: unknown): boolean {
  return error instanceof ConnectError &&
    (error.code === _RESOURCE_EXHAUSTED || error.message.includes("INCLUDE_BINARY_TOO_LARGE"));
}

/** Where a 206's bytes start, from its Content-Range; undefined when it does not say. */
function _rangeStart(headers: Headers): number | undefined {
  const match = /^bytes (\d+)-/.exec(headers.get("content-range") ?? "");
  return match ? Number(match[1]) : undefined;
}

function _totalSize(response: Response, start: number): number | undefined {
  const range = /\/(\d+)$/.exec(response.headers.get("content-range") ?? "");
  if (range) return Number(range[1]);
  // Partial content of a file whose size it does not give (`bytes 0-999/*`): its length is the
  // part's, not the file's.
  if (response.status === 206) return undefined;
  const length = response.headers.get("content-length");
  return length === null ? undefined : start + Number(length);
}

/**
 * A client of `DataSyncService/FileUpload`: gRPC over HTTP/2 (TLS for `https://`, cleartext with
 * prior knowledge for `http://`), authenticated with an API key, streaming a file from disk in
 * chunks so that no file is ever held whole in memory. It also finds a part's recent uploads again
 * (`BinaryDataByFilter` by `part_id` and `interval`), which the push pass needs for exactly-once.
 *
 * Not through `@viamrobotics/sdk`'s `fileUpload`: its transport is gRPC-web over `fetch`, which
 * cannot stream a request body, and it takes the whole file as one array.
 *
 * @example
 * ```ts
 * await using uploader = new FileUploader({ appUrl, apiKeyId, apiKey, env: (name) => Deno.env.get(name) });
 * using file = await Deno.open("/home/pi/.viam/outbox/a.jpg");
 * const { binaryDataId } = await uploader.upload(
 *   { read: (buffer, position) => file.seek(position, Deno.SeekMode.Start).then(() => file.read(buffer)).then((n) => n ?? 0) },
 *   { partId, fileName: "a.jpg", fileExtension: ".jpg", tags: [], datasetIds: [] },
 * );
 * ```
 *
 * @module
 */

import { protoInt64 } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { IdleWatchdog } from "../async/idle_watchdog.ts";
import { LinkedAbort } from "../async/linked_abort.ts";
import { retry, type RetryOptions } from "../async/retry.ts";
import { classifyError } from "./classify_error.ts";
import { isTimeout, TimeoutError } from "./errors.ts";
import { GrpcCall, Http2Connection, messageFrame, unaryCall } from "./grpc_http2.ts";
import { proxyFromEnvironment } from "./proxy_tunnel.ts";
import { decodeListingPage } from "./listing_page.ts";
import { AccessToken } from "./access_token.ts";
import { timestampOfMs } from "./wire_timestamp.ts";
import { AuthService, BinaryDataByFilterRequest, ORDER } from "./data_wire.ts";
import { CONTENT_FRAME_HEAD_BYTES, contentFrame, DataSyncService } from "./upload_wire.ts";

/**
 * Content bytes per `FileData` message: 64 KiB, what the SDKs send. Measured (128 MiB file, client
 * and local platform in one process over loopback, CPU of both): 32 KiB 2.5 s, 64 KiB 1.6 s,
 * 128 KiB 1.9 s, 1 MiB 3.5 s, 4 MiB 10.8 s; larger messages cost more as they are re-buffered
 * whole on both sides, and hold more memory per upload in flight.
 */
const _DEFAULT_UPLOAD_CHUNK_BYTES = 64 * 1024;

/** The largest chunk allowed: gRPC's default message limit (4 MiB) less room for the framing. */
const _MAX_UPLOAD_CHUNK_BYTES = 4 * 1024 * 1024 - 1024;

/** `DataType.DATA_TYPE_FILE`. */
const _DATA_TYPE_FILE = 3;
/** The largest listing page the platform serves. */
const _PAGE_LIMIT = 100;

/** How to reach the platform. */
export interface FileUploaderOptions {
  /** `https://app.viam.com`, or another deployment (`http://` for the local platform). */
  appUrl: string;
  /** API key id. */
  apiKeyId: string;
  /** API key: kept in memory only, never logged. */
  apiKey: string;
  /** Content bytes per message; defaults to {@linkcode _DEFAULT_UPLOAD_CHUNK_BYTES}. */
  chunkBytes?: number;
  /** Timeout of `Authenticate`, of each listing call and of the reply after the last chunk (60 s). */
  callTimeoutMs?: number;
  /** An upload whose stream takes no chunk for this long is abandoned, as transient (60 s). */
  idleTimeoutMs?: number;
  /**
   * Reads the environment: the proxy to tunnel through comes from it, as the mirror's `fetch`
   * takes its own (`proxyFromEnvironment`).
   */
  env: (name: string) => string | undefined;
}

/** What the platform stores about an uploaded file (`UploadMetadata`). */
export interface UploadMetadata {
  /** The robot part the file belongs to. */
  partId: string;
  /** `file_name`: the push pass sends the path below the push folder, with `/`. */
  fileName: string;
  /** `file_extension`, with its dot (`.jpg`), or empty. */
  fileExtension: string;
  /** Tags. */
  tags: readonly string[];
  /** Dataset ids the file is added to. */
  datasetIds: readonly string[];
  /** `mime_type`, when known. */
  mimeType?: string;
  /** `file_modify_time`. */
  fileModifyTime?: Date;
}

/** Where the content comes from: positional reads, so an upload can start again at byte 0. */
export interface UploadSource {
  /** Reads up to `buffer.length` bytes at `position`; resolves to the count, 0 at the end. */
  read(buffer: Uint8Array, position: number): Promise<number>;
  /**
   * The size of the content, when known: exactly this much is read (less if it ends first), in
   * buffers no larger than what is left (a 4 KiB file takes 4 KiB of buffer, not 64), and no read
   * is spent finding the end. The caller checks, before the stream closes (`beforeClose`), that
   * the content did not change meanwhile: the push pass compares the file's size and mtime.
   * Without it, the content is read until a read returns nothing.
   */
  size?: number;
}

/** Options of one {@linkcode FileUploader.upload}. */
export interface UploadOptions {
  /** Cancels the upload: the stream is reset, so the platform stores nothing. */
  signal?: AbortSignal;
  /** Awaited before each chunk is sent, with its size: the hook of a bandwidth limiter. */
  beforeChunk?: (bytes: number, signal: AbortSignal) => Promise<void>;
  /**
   * Called after each chunk was handed to the stream, with its size: progress by bytes. When an
   * attempt fails (its stream reset), called once with minus what it sent, so that the sum is what
   * the attempt under way (or the one that stored the file) sent.
   */
  onChunk?: (bytes: number) => void;
  /**
   * Awaited after the last chunk and before the stream is closed; when it throws, the stream is
   * reset instead (nothing stored) and the upload rejects with that error. The push pass checks
   * there that the file did not change while it was read.
   */
  beforeClose?: () => Promise<void>;
}

/** The platform's answer to a completed upload. */
export interface UploadResult {
  /** The id of the stored binary data. */
  binaryDataId: string;
  /** Content bytes sent. */
  bytes: number;
}

/** One of a part's uploads, as `BinaryDataByFilter` lists it. */
export interface ListedUpload {
  /** Its binary data id. */
  binaryDataId: string;
  /** `file_name`. */
  fileName: string;
  /** `file_ext`. */
  fileExt: string;
  /** `file_size_bytes`. */
  sizeBytes: number;
  /** `time_requested`, epoch ms (0 when absent). */
  timeRequestedMs: number;
  /** `time_received`, epoch ms (0 when absent). */
  timeReceivedMs: number;
  /** `capture_metadata.tags`. */
  tags: string[];
  /** `dataset_ids`: the datasets holding it (absent from older fakes: none). */
  datasetIds?: string[];
  /** Where its bytes can be downloaded (`""`: by a signed URL). */
  uri: string;
}

/**
 * Chunk buffers kept per upload for the next chunks once written out: a 256 MiB upload allocated
 * 4,096 buffers of 64 KiB, garbage that V8 collected only every 64 MB or so, and that much more
 * resident memory.
 */
const _SPARE_BUFFERS = 4;
const _FILE_UPLOAD_PATH = "/viam.app.datasync.v1.DataSyncService/FileUpload";
const _AUTHENTICATE_PATH = "/proto.rpc.v1.AuthService/Authenticate";
const _BINARY_DATA_BY_FILTER_PATH = "/viam.app.data.v1.DataService/BinaryDataByFilter";

/** The uploader: one HTTP/2 connection, one access token, any number of uploads at once. */
export class FileUploader implements AsyncDisposable {
  readonly #options: FileUploaderOptions;
  readonly #connection: Http2Connection;
  readonly #chunkBytes: number;
  readonly #token = new AccessToken(() => this.#authenticate());

  /**
   * Checks the options (and the proxy the environment names: see `proxy_tunnel.ts`); connects on
   * first use.
   */
  constructor(options: FileUploaderOptions) {
    const url = new URL(options.appUrl);
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new RangeError(`app URL must be http:// or https://, got ${url.protocol}`);
    }
    const chunkBytes = options.chunkBytes ?? _DEFAULT_UPLOAD_CHUNK_BYTES;
    if (
      !Number.isSafeInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > _MAX_UPLOAD_CHUNK_BYTES
    ) {
      throw new RangeError(
        `chunkBytes must be an integer in [1, ${_MAX_UPLOAD_CHUNK_BYTES}], got ${chunkBytes}`,
      );
    }
    this.#options = options;
    this.#chunkBytes = chunkBytes;
    // A proxy this connection cannot go through is refused here, once, not at every call: retried
    // as an unreachable platform, a push tried each file eight times for a setting that stays.
    this.#connection = new Http2Connection(url.origin, {
      proxy: proxyFromEnvironment(url, options.env),
    });
  }

  /**
   * Streams `source` from byte 0 to its end as one file, with `metadata`, and resolves to the
   * platform's answer. A refused token is renewed once (the file is then sent again from byte 0).
   * Errors are ConnectErrors as the platform sent them (classify with `classifyError`), a
   * {@linkcode TimeoutError} for a stalled stream, the source's own errors, or the signal's reason.
   */
  async upload(
    source: UploadSource,
    metadata: UploadMetadata,
    options: UploadOptions = {},
  ): Promise<UploadResult> {
    return await this.#authenticated(
      async (headers) => await this.#uploadOnce(source, metadata, options, headers),
      options.signal,
    );
  }

  /**
   * The uploads of `partId` whose `time_requested` is `sinceMs` or later and that `keep` takes,
   * newest first, from at most `maxScanned` of the newest (all pages). Used to find out whether an
   * upload cut off before its answer was stored after all. No end: the platform stamps an upload by
   * its own clock, which may be hours or years ahead of a robot's not yet set by NTP (an end by this
   * clock missed the stored copy: the file went twice). From such a clock the start reaches far
   * back: the newest first and the bound keep that listing short, and `keep` keeps only what may be
   * the copy looked for. A page that fails for a transient reason is asked for again on
   * `retry`'s schedule (by default once): a platform refusing a share of calls failed the file
   * whose answer was lost at the first refusal, and held every such file back for a pass.
   */
  async listUploads(
    partId: string,
    sinceMs: number,
    options: {
      signal?: AbortSignal;
      keep?: (upload: ListedUpload) => boolean;
      maxScanned?: number;
      retry?: Pick<RetryOptions, "attempts" | "minDelayMs" | "maxDelayMs" | "timeoutAttempts">;
    } = {},
  ): Promise<ListedUpload[]> {
    const { keep = () => true, maxScanned = Infinity } = options;
    const schedule = {
      attempts: 1,
      minDelayMs: 0,
      maxDelayMs: 0,
      ...options.retry,
      isTimeout,
      isRetriable: (error: unknown) => classifyError(error) === "transient",
      signal: options.signal,
    };
    const filter = { partId, interval: { start: timestampOfMs(sinceMs) } };
    const found: ListedUpload[] = [];
    let last = "";
    let scanned = 0;
    while (scanned < maxScanned) {
      const request = new BinaryDataByFilterRequest({
        dataRequest: {
          filter,
          limit: protoInt64.uParse(Math.min(_PAGE_LIMIT, maxScanned - scanned)),
          last,
          sortOrder: ORDER.descending,
        },
        includeBinary: false,
      }).toBinary();
      const page = decodeListingPage(
        await retry(
          () =>
            this.#authenticated(
              (headers) =>
                unaryCall(this.#connection, _BINARY_DATA_BY_FILTER_PATH, request, {
                  headers,
                  timeoutMs: this.#callTimeoutMs,
                  signal: options.signal,
                }),
              options.signal,
            ),
          schedule,
        ),
      );
      if (page.items.length === 0) break;
      scanned += page.items.length;
      for (const item of page.items) {
        if (item.binaryDataId === "") continue; // no metadata
        const upload = {
          binaryDataId: item.binaryDataId,
          fileName: item.fileName,
          fileExt: item.fileExt,
          sizeBytes: item.sizeBytes ?? 0,
          timeRequestedMs: item.timeRequestedMs ?? 0,
          timeReceivedMs: item.timeReceivedMs ?? 0,
          tags: item.tags ?? [],
          datasetIds: item.datasetIds ?? [],
          uri: item.uri,
        };
        if (keep(upload)) found.push(upload);
      }
      if (page.last === "" || page.last === last) break;
      last = page.last;
    }
    return found;
  }

  /**
   * The bytes the platform holds for a listed upload, as a stream (downloaded as `sync` downloads:
   * its uri, else a signed URL). Used to make sure a stored upload is the file about to be deleted
   * before it is taken for it; the download client is loaded only then.
   */
  async openStored(
    upload: Pick<ListedUpload, "binaryDataId" | "uri">,
    options: { signal?: AbortSignal } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const { ViamRemote } = await import("./viam_remote.ts");
    const remote = new ViamRemote({
      appUrl: this.#options.appUrl,
      apiKeyId: this.#options.apiKeyId,
      apiKey: this.#options.apiKey,
      callTimeoutMs: this.#callTimeoutMs,
    });
    const { body, start } = await remote.download(upload, { signal: options.signal });
    if (start !== 0) {
      await body.cancel();
      throw new Error(`the download of ${upload.binaryDataId} did not start at byte 0`);
    }
    return body;
  }

  /** Closes the connection (streams still open are reset). */
  close(): Promise<void> {
    return this.#connection.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #uploadOnce(
    source: UploadSource,
    metadata: UploadMetadata,
    options: UploadOptions,
    headers: Record<string, string>,
  ): Promise<UploadResult> {
    options.signal?.throwIfAborted();
    const idleMs = this.#options.idleTimeoutMs ?? 60_000;
    const replyMs = this.#options.callTimeoutMs ?? 60_000;
    // Aborted by the caller, by a stall, or by a failure of our own side (read, beforeClose).
    using stop = new LinkedAbort(options.signal);
    const watchdog = new IdleWatchdog((what, ms) => stop.abort(new TimeoutError(what, ms)));
    let bytes = 0;
    const chunkBytes = this.#chunkBytes;
    /** Chunk buffers the stream has written out, to read the next chunks into. */
    const spare: Uint8Array[] = [];
    const metadataFrame = messageFrame(
      new (DataSyncService.methods.fileUpload.I)({
        uploadPacket: {
          case: "metadata",
          value: {
            partId: metadata.partId,
            type: _DATA_TYPE_FILE,
            fileName: metadata.fileName,
            fileExtension: metadata.fileExtension,
            tags: [...metadata.tags],
            datasetIds: [...metadata.datasetIds],
            mimeType: metadata.mimeType ?? "",
            fileModifyTime: metadata.fileModifyTime === undefined
              ? undefined
              : timestampOfMs(metadata.fileModifyTime.getTime()),
          },
        },
      }).toBinary(),
    );
    const call = await GrpcCall.open(this.#connection, _FILE_UPLOAD_PATH, headers, stop.signal);
    try {
      watchdog.watch(idleMs, "upload stream (no progress)");
      await call.send(metadataFrame);
      for (;;) {
        const left = source.size === undefined
          ? chunkBytes
          : Math.min(chunkBytes, source.size - bytes);
        if (left <= 0) break;
        // Read in place into a buffer the stream no longer holds (see `GrpcCall.send`).
        const wanted = CONTENT_FRAME_HEAD_BYTES + left;
        const free = spare.pop();
        const buffer = free !== undefined && free.length >= wanted ? free : new Uint8Array(wanted);
        const n = await source.read(
          buffer.subarray(CONTENT_FRAME_HEAD_BYTES, CONTENT_FRAME_HEAD_BYTES + left),
          bytes,
        );
        stop.signal.throwIfAborted();
        if (n === 0) break;
        watchdog.progress();
        if (options.beforeChunk !== undefined) {
          // A bandwidth limiter's wait is not a stall.
          watchdog.pause();
          await options.beforeChunk(n, stop.signal);
          watchdog.progress();
        }
        await call.send(contentFrame(buffer, n), () => {
          if (spare.length < _SPARE_BUFFERS) spare.push(buffer);
        });
        watchdog.progress();
        bytes += n;
        options.onChunk?.(n);
      }
      // The caller's check is not a stall either: on FUSE it reads the whole file again (a 2 GB
      // video from a USB 2 stick: over a minute, which timed out every try of every pass).
      watchdog.pause();
      await options.beforeClose?.();
      stop.signal.throwIfAborted();
      watchdog.watch(replyMs, "upload reply");
      const reply = await call.finish();
      const response = DataSyncService.methods.fileUpload.O.fromBinary(reply) as unknown as {
        binaryDataId: string;
      };
      if (response.binaryDataId === "") {
        // An answer that names no id (a gateway's, another version's) does not say the file is
        // stored: the push side deletes a file on an id only. It looks for a stored copy instead,
        // as after a lost answer, and sends the file again when there is none.
        throw new ConnectError(
          "the platform answered the upload without a binary_data_id: not taken as stored",
          Code.Internal,
        );
      }
      return { binaryDataId: response.binaryDataId, bytes };
    } catch (error) {
      // Reset, not ended: the platform stores nothing of a stream that does not end cleanly. Its
      // bytes count no more (a renewed token sends the file again within this upload).
      call.reset();
      if (bytes > 0) options.onChunk?.(-bytes);
      if (options.signal?.aborted) throw options.signal.reason;
      if (stop.signal.reason instanceof TimeoutError) await this.#connection.verify();
      if (stop.signal.aborted) throw stop.signal.reason;
      throw error;
    } finally {
      watchdog.stop();
    }
  }

  /**
   * Runs `call` with the bearer header; on UNAUTHENTICATED renews the token and runs it once more.
   * A sign-in under way is shared, so it is not cancelled, but `signal` ends the wait for it: a
   * platform that accepts connections and never answers held a stop for the sign-in's whole
   * timeout (a push stopped by Ctrl-C exited after 55 s).
   */
  #authenticated<T>(
    call: (headers: Record<string, string>) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    return this.#token.use((token) => call({ authorization: `Bearer ${token}` }), {
      isRefused: (error) => error instanceof ConnectError && error.code === Code.Unauthenticated,
      wait: (signingIn) => _unlessAborted(signingIn, signal),
    });
  }

  /** A new access token: `Authenticate` with the API key. */
  #authenticate(): Promise<string> {
    const { I: Request, O: Response } = AuthService.methods.authenticate;
    const request = new Request({
      entity: this.#options.apiKeyId,
      credentials: { type: "api-key", payload: this.#options.apiKey },
    }).toBinary();
    return unaryCall(this.#connection, _AUTHENTICATE_PATH, request, {
      headers: {},
      timeoutMs: this.#callTimeoutMs,
    }).then((reply) =>
      (Response.fromBinary(reply) as unknown as { accessToken: string }).accessToken
    );
  }

  get #callTimeoutMs(): number {
    return this.#options.callTimeoutMs ?? 60_000;
  }
}

/** `promise`, or the signal's reason as soon as it aborts. */
function _unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

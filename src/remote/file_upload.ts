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
 * await using uploader = new FileUploader({ appUrl, apiKeyId, apiKey });
 * using file = await Deno.open("/home/pi/.viam/outbox/a.jpg");
 * const { binaryDataId } = await uploader.upload(
 *   { read: (buffer, position) => file.seek(position, Deno.SeekMode.Start).then(() => file.read(buffer)).then((n) => n ?? 0) },
 *   { partId, fileName: "a.jpg", fileExtension: ".jpg", tags: [], datasetIds: [] },
 * );
 * ```
 *
 * @module
 */

import { protoInt64, Timestamp } from "@bufbuild/protobuf";
import { Code, ConnectError, createPromiseClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { IdleWatchdog } from "../async/idle_watchdog.ts";
import { TimeoutError } from "./errors.ts";
import { AuthService, DataService, DataSyncService, fileContentsRequest } from "./upload_wire.ts";

/**
 * Content bytes per `FileData` message: 64 KiB, what the SDKs send. Measured (128 MiB file, client
 * and local platform in one process over loopback, CPU of both): 32 KiB 2.5 s, 64 KiB 1.6 s,
 * 128 KiB 1.9 s, 1 MiB 3.5 s, 4 MiB 10.8 s; larger messages cost more as they are re-buffered
 * whole on both sides, and hold more memory per upload in flight.
 */
export const DEFAULT_UPLOAD_CHUNK_BYTES = 64 * 1024;

/** The largest chunk allowed: gRPC's default message limit (4 MiB) less room for the framing. */
export const MAX_UPLOAD_CHUNK_BYTES = 4 * 1024 * 1024 - 1024;

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
  /** Content bytes per message; defaults to {@linkcode DEFAULT_UPLOAD_CHUNK_BYTES}. */
  chunkBytes?: number;
  /** Timeout of `Authenticate`, of each listing call and of the reply after the last chunk (60 s). */
  callTimeoutMs?: number;
  /** An upload whose stream takes no chunk for this long is abandoned, as transient (60 s). */
  idleTimeoutMs?: number;
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
  /** Called after each chunk was handed to the stream, with its size: progress by bytes. */
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
}

/** The window of `time_requested` to list, in epoch ms (start inclusive). */
export interface UploadInterval {
  /** Earliest `time_requested`. */
  startMs: number;
  /** Latest `time_requested` (the platform may treat it as exclusive). */
  endMs: number;
}

/** What a listed binary data looks like on the wire (the fields read). */
interface _BinaryData {
  metadata?: {
    binaryDataId: string;
    fileName: string;
    fileExt: string;
    fileSizeBytes: bigint;
    timeRequested?: Timestamp;
    timeReceived?: Timestamp;
  };
}

/** Chunks read from the source at once. */
const _CHUNKS_PER_READ = 4;

/** The uploader: one HTTP/2 connection, one access token, any number of uploads at once. */
export class FileUploader implements AsyncDisposable {
  readonly #options: FileUploaderOptions;
  readonly #session: Http2SessionManager;
  readonly #transport: Transport;
  readonly #chunkBytes: number;
  #token?: Promise<string>;

  /** Checks the options; connects on first use. */
  constructor(options: FileUploaderOptions) {
    const url = new URL(options.appUrl);
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new RangeError(`app URL must be http:// or https://, got ${url.protocol}`);
    }
    const chunkBytes = options.chunkBytes ?? DEFAULT_UPLOAD_CHUNK_BYTES;
    if (
      !Number.isSafeInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > MAX_UPLOAD_CHUNK_BYTES
    ) {
      throw new RangeError(
        `chunkBytes must be an integer in [1, ${MAX_UPLOAD_CHUNK_BYTES}], got ${chunkBytes}`,
      );
    }
    this.#options = options;
    this.#chunkBytes = chunkBytes;
    const baseUrl = url.origin;
    this.#session = new Http2SessionManager(baseUrl, {
      pingIntervalMs: 30_000,
      idleConnectionTimeoutMs: 60_000,
    });
    this.#transport = createGrpcTransport({
      baseUrl,
      httpVersion: "2",
      sessionManager: this.#session,
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
    return await this.#authenticated(async (headers) =>
      await this.#uploadOnce(source, metadata, options, headers)
    );
  }

  /**
   * Every upload of `partId` whose `time_requested` lies in `interval`, oldest first (all pages).
   * Used to find out whether an upload cut off before its answer was stored after all.
   */
  async listUploads(
    partId: string,
    interval: UploadInterval,
    options: { signal?: AbortSignal } = {},
  ): Promise<ListedUpload[]> {
    // deno-lint-ignore no-explicit-any
    const data = createPromiseClient(DataService, this.#transport) as any;
    const filter = {
      partId,
      interval: {
        start: Timestamp.fromDate(new Date(interval.startMs)),
        end: Timestamp.fromDate(new Date(interval.endMs)),
      },
    };
    const found: ListedUpload[] = [];
    let last = "";
    for (;;) {
      const page = await this.#authenticated((headers) =>
        data.binaryDataByFilter({
          dataRequest: { filter, limit: protoInt64.uParse(_PAGE_LIMIT), last, sortOrder: 2 },
          includeBinary: false,
        }, this.#callOptions(headers, options.signal))
      ) as { data: _BinaryData[]; last: string };
      if (page.data.length === 0) return found;
      for (const { metadata } of page.data) {
        if (metadata === undefined) continue;
        found.push({
          binaryDataId: metadata.binaryDataId,
          fileName: metadata.fileName,
          fileExt: metadata.fileExt,
          sizeBytes: Number(metadata.fileSizeBytes),
          timeRequestedMs: metadata.timeRequested?.toDate().getTime() ?? 0,
          timeReceivedMs: metadata.timeReceived?.toDate().getTime() ?? 0,
        });
      }
      if (page.last === "" || page.last === last) return found;
      last = page.last;
    }
  }

  /** Closes the connection (streams still open are reset). */
  close(): Promise<void> {
    this.#session.abort();
    return Promise.resolve();
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
    const stop = new AbortController();
    const onAbort = () => stop.abort(options.signal?.reason);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const watchdog = new IdleWatchdog((what, ms) => stop.abort(new TimeoutError(what, ms)));
    let localError: { error: unknown } | undefined;
    let bytes = 0;
    const chunkBytes = this.#chunkBytes;
    async function* requests() {
      yield {
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
              : Timestamp.fromDate(metadata.fileModifyTime),
          },
        },
      };
      try {
        watchdog.watch(idleMs, "upload stream (no progress)");
        for (;;) {
          // A fresh block per read (the transport may still hold the previous one's chunks),
          // several chunks at once: a quarter of the reads for a large file.
          const most = chunkBytes * _CHUNKS_PER_READ;
          const left = source.size === undefined ? most : Math.min(most, source.size - bytes);
          if (left <= 0) break;
          const block = new Uint8Array(left);
          const n = await source.read(block, bytes);
          if (n === 0) break;
          watchdog.progress();
          for (let at = 0; at < n; at += chunkBytes) {
            const data = block.subarray(at, Math.min(n, at + chunkBytes));
            if (options.beforeChunk !== undefined) {
              // A bandwidth limiter's wait is not a stall.
              watchdog.pause();
              await options.beforeChunk(data.length, stop.signal);
              watchdog.progress();
            }
            yield fileContentsRequest(data);
            watchdog.progress();
            bytes += data.length;
            options.onChunk?.(data.length);
          }
        }
        await options.beforeClose?.();
      } catch (error) {
        localError = { error };
        stop.abort(error);
        throw error;
      }
      watchdog.watch(replyMs, "upload reply");
    }
    try {
      // deno-lint-ignore no-explicit-any
      const sync = createPromiseClient(DataSyncService, this.#transport) as any;
      const response = await sync.fileUpload(requests(), { headers, signal: stop.signal });
      return { binaryDataId: response.binaryDataId as string, bytes };
    } catch (error) {
      if (localError !== undefined) throw localError.error;
      if (options.signal?.aborted) throw options.signal.reason;
      if (stop.signal.reason instanceof TimeoutError) throw stop.signal.reason;
      throw error;
    } finally {
      watchdog.stop();
      options.signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Runs `call` with the bearer header; on UNAUTHENTICATED renews the token and runs it once more. */
  async #authenticated<T>(call: (headers: Record<string, string>) => Promise<T>): Promise<T> {
    for (let renewed = false;; renewed = true) {
      const pending = this.#token ??= this.#authenticate();
      const token = await pending;
      try {
        return await call({ authorization: `Bearer ${token}` });
      } catch (error) {
        if (renewed || !(error instanceof ConnectError) || error.code !== Code.Unauthenticated) {
          throw error;
        }
        if (this.#token === pending) this.#token = undefined;
      }
    }
  }

  #authenticate(): Promise<string> {
    const auth = createPromiseClient(AuthService, this.#transport);
    const pending = auth.authenticate({
      entity: this.#options.apiKeyId,
      credentials: { type: "api-key", payload: this.#options.apiKey },
    }, { timeoutMs: this.#options.callTimeoutMs ?? 60_000 }).then((r) => r.accessToken as string);
    // A failed authentication is not kept: the next call tries again.
    pending.catch(() => {
      if (this.#token === pending) this.#token = undefined;
    });
    return pending;
  }

  #callOptions(headers: Record<string, string>, signal?: AbortSignal) {
    return { headers, signal, timeoutMs: this.#options.callTimeoutMs ?? 60_000 };
  }
}

/**
 * The engine's only view of the platform: four calls (a listing page, a count, an inline batch, a
 * download by uri) and how to treat their errors. The SDK stays behind it (`ViamRemote`), so the
 * stages never import it.
 *
 * @module
 */
import type { ErrorKind } from "./errors.ts";
import type { RemoteItem } from "./remote_item.ts";

/** What to list: kinds are ANDed, values inside `tags`, `labels` and `mimeTypes` are ORed. */
export interface ListFilter {
  /** Capture tags (matched by OR). */
  tags: string[];
  /** Bounding-box labels (matched by OR). */
  labels: string[];
  /** Dataset id, or undefined for none. */
  datasetId?: string;
  /** MIME types (matched by OR); empty or absent for any. */
  mimeTypes?: string[];
  /**
   * A window on `time_requested`, in epoch milliseconds: `startMs` is inclusive, `endMs` is meant
   * exclusive (the platform's own semantics are not documented; the listing checks its counts).
   */
  interval?: { startMs?: number; endMs?: number };
}

/** Options shared by every remote call. */
export interface RemoteCallOptions {
  /** Aborts the call (pass cancelled, resource removed, process stopping). */
  signal?: AbortSignal;
}

/** Options of {@linkcode RemoteSource.fetchInline}. */
export interface InlineOptions extends RemoteCallOptions {
  /** The files' bytes together, when known: the response is read into a buffer that size. */
  expectedBytes?: number;
  /**
   * Told of each chunk of the answer as it comes (of every try, those cut off midway too, which
   * crossed the link all the same): what a bandwidth limit books beside the files' bytes.
   */
  onBytes?: (bytes: number) => void;
}

/** Options of {@linkcode RemoteSource.listPage}. */
export interface ListOptions extends RemoteCallOptions {
  /** Items asked for per page; the platform may return fewer. Defaults to 100. */
  pageSize?: number;
  /** Order by `time_requested`; the platform's default when absent. */
  order?: "ascending" | "descending";
}

/** One page of a listing. */
export interface ListPage {
  /** The items; an empty page ends the listing. */
  items: RemoteItem[];
  /** The cursor to ask for the next page with. */
  last: string;
  /** The answer's size in bytes, when known: what a bandwidth limit books for it. */
  bytes?: number;
}

/** An HTTP body being downloaded, starting at `start` of the file. */
export interface DownloadBody {
  /** The bytes from `start` on. */
  body: ReadableStream<Uint8Array>;
  /** The offset the body starts at: the asked offset when the server honoured `Range`, else 0. */
  start: number;
  /** The whole file's size when the server said it (Content-Range or Content-Length). */
  totalSize?: number;
  /** The Content-Type the server gave the body, if any. */
  contentType?: string;
}

/**
 * The files of one inline call, by binary data id. The bytes may be views of a buffer the remote
 * reads its next inline response into: use them, then dispose of the batch (`using`), and keep no
 * view after that. Dispose of every batch, and soon: the remote may read one inline answer at a
 * time, and a batch held holds that turn (a caller that holds a batch while it waits for another
 * may wait forever).
 */
export interface InlineBatch extends Disposable {
  /** binary data id -> the file's bytes. */
  readonly files: ReadonlyMap<string, Uint8Array>;
}

/** Options of {@linkcode RemoteSource.download}. */
export interface DownloadOptions extends RemoteCallOptions {
  /** Bytes already held: ask for the rest with `Range`. */
  offset?: number;
}

/**
 * The slowest a download's body (a uri's, an inline batch's answer) may come, averaged over each
 * call timeout's window (about a kilobyte a minute), `bandwidth_limit`'s waits left out: a server
 * trickling a byte every 20 s never tripped a stall guard, and held the pass (and every later one)
 * for as long as it liked.
 */
export const MIN_BODY_BYTES_PER_SECOND = 16;

/**
 * The data platform as the sync engine sees it. The real one (`ViamRemote`) speaks gRPC-web to the
 * app as the Viam SDKs do; tests use the same real one against the local data platform.
 */
export interface RemoteSource {
  /**
   * Lists one page of metadata (no bytes) after the cursor `last` (`""` for the first page). A
   * caller follows `last` until an empty page; a failed page can be asked for again.
   */
  listPage(filter: ListFilter, last: string, options?: ListOptions): Promise<ListPage>;
  /** Counts the items the filter matches (`count_only`), to check a listing against. */
  count(filter: ListFilter, options?: RemoteCallOptions): Promise<number>;
  /**
   * Fetches several binaries inline in one call. Throws {@linkcode TooLargeError} when the platform
   * refuses to send them inline (the caller then downloads each by uri), and
   * {@linkcode ItemNotFoundError} when one of them is not on the platform.
   */
  fetchInline(ids: string[], options?: InlineOptions): Promise<InlineBatch>;
  /** Opens an HTTP download of one item (its `uri`, else a signed URL). */
  download(item: DownloadTarget, options?: DownloadOptions): Promise<DownloadBody>;
  /**
   * How an error of this remote should be handled (retry, back off, stop): the one place that knows
   * the transport's error types, so the stages never import them.
   */
  classify(error: unknown): ErrorKind;
  /**
   * Starts what the first call needs (a sign-in) now, without waiting for it: a pass asks before
   * it opens the mirror, so that the round trip overlaps the opening. Optional: a remote with
   * nothing to prepare has no such method.
   */
  signInAhead?(): void;
}

/** What a download needs of an item. */
export type DownloadTarget = Pick<RemoteItem, "binaryDataId" | "uri">;

import {
  classifyError,
  describeError,
  IncompleteBodyError,
  TooLargeError,
} from "../remote/errors.ts";
import { fitsReserve, type FreeSpace, freeSpace } from "../fs/free_space.ts";
import type { StagedFile, StagingArea } from "../fs/staging.ts";
import type { Logger } from "../logger.ts";
import type { Download } from "./plan.ts";
import type { RemoteSource } from "../remote/remote_source.ts";
import { retry } from "../async/retry.ts";
import { runPool } from "../async/run_pool.ts";

/** Files up to this size are fetched inline, several to a call. */
export const INLINE_MAX_BYTES = 256 * 1024;
const _BATCH_MAX_ITEMS = 16;
const _BATCH_MAX_BYTES = 2 * 1024 * 1024;

/** Progress of the transfer stage. */
export interface TransferProgress {
  /** Files finished (written or failed). */
  filesDone: number;
  /** Files planned. */
  filesTotal: number;
  /** Bytes received so far. */
  bytesDone: number;
  /** Bytes planned, counting only files whose size is known. */
  bytesTotal: number;
}

/** One file that could not be written this pass. */
export interface TransferFailure {
  /** Its local path, relative to the mirror. */
  path: string;
  /** Its id on the platform. */
  binaryDataId: string;
  /** Why. */
  error: string;
}

/** The outcome of the transfer stage. */
export interface TransferResult {
  /** Files written. */
  downloaded: number;
  /** Bytes written. */
  bytes: number;
  /**
   * Files found already in place when their download was ready to be renamed: put there meanwhile by
   * someone else, or the same file under another case on a case-insensitive file system. Kept, as
   * any existing file is.
   */
  skipped: number;
  /** Files that failed after their retries. */
  failures: TransferFailure[];
  /** Set when the free-space reserve stopped further downloads. */
  spaceGuard?: string;
}

/** Options of {@linkcode transferFiles}. */
export interface TransferOptions {
  /** The mirror root (absolute). */
  root: string;
  /** Calls in flight at once. */
  concurrency: number;
  /** Percentage of the filesystem to keep free. */
  reservePercent: number;
  /** Where failures and retries are reported. */
  logger: Logger;
  /** Stops the stage; partial files stay in staging for a later resume. */
  signal?: AbortSignal;
  /** Called as files and bytes complete. */
  onProgress?: (progress: TransferProgress) => void;
  /** Tries per file, the first included (default 4). */
  attempts?: number;
  /** Delay before a file's first retry, in milliseconds (default 500). */
  minRetryDelayMs?: number;
  /** A download body that sends nothing for this long is retried (default 60 s). */
  idleTimeoutMs?: number;
}

/** What the transfer stage needs from the outside world. */
export interface TransferDeps {
  /** The data platform. */
  remote: RemoteSource;
  /** Where files are written before they are renamed into place. */
  staging: StagingArea;
  /** Measures free space (the real file system's by default; tests pass their own). */
  space?: (path: string) => Promise<FreeSpace>;
}

/**
 * The transfer stage: downloads planned files with bounded concurrency. Small files travel inline,
 * several to a `BinaryDataByIDs` call; large ones (or any the platform refuses inline) stream from their
 * uri with `Range` resume. Every file goes through staging and is size-checked before it is renamed
 * into place, so no partial file ever carries a final name. A file that would eat into the free-space
 * reserve stops further downloads for this pass.
 */
export async function transferFiles(
  downloads: Download[],
  deps: TransferDeps,
  options: TransferOptions,
): Promise<TransferResult> {
  const run = new _Transfer(deps, options, downloads);
  await runPool(run.tasks(downloads), {
    concurrency: options.concurrency,
    signal: options.signal,
    shouldContinue: () => run.result.spaceGuard === undefined,
  });
  options.signal?.throwIfAborted();
  return run.result;
}

/** What a staged file holds, and the whole file's size once known. */
interface _Held {
  bytes: number;
  total?: number;
}

class _Transfer {
  readonly result: TransferResult = { downloaded: 0, bytes: 0, skipped: 0, failures: [] };
  readonly #progress: TransferProgress;

  constructor(
    readonly deps: TransferDeps,
    readonly options: TransferOptions,
    downloads: Download[],
  ) {
    this.#progress = {
      filesDone: 0,
      filesTotal: downloads.length,
      bytesDone: 0,
      bytesTotal: downloads.reduce((sum, d) => sum + (d.item.sizeBytes ?? 0), 0),
    };
  }

  /** Inline batches of small files, then one task per large file, lazily. */
  *tasks(downloads: Download[]): Iterable<() => Promise<void>> {
    let batch: Download[] = [];
    let batchBytes = 0;
    for (const download of downloads) {
      const size = download.item.sizeBytes;
      if (size === undefined || size > INLINE_MAX_BYTES) {
        // Unknown sizes go alone: a refusal then costs one call, not a whole batch.
        yield size === undefined
          ? () => this.#inlineBatch([download])
          : () => this.#guarded(download, () => this.#byUri(download));
        continue;
      }
      if (batch.length === _BATCH_MAX_ITEMS || batchBytes + size > _BATCH_MAX_BYTES) {
        const full = batch;
        yield () => this.#inlineBatch(full);
        batch = [];
        batchBytes = 0;
      }
      batch.push(download);
      batchBytes += size;
    }
    if (batch.length) yield () => this.#inlineBatch(batch);
  }

  async #inlineBatch(batch: Download[]): Promise<void> {
    const { remote } = this.deps;
    const { signal } = this.options;
    let data: Map<string, Uint8Array>;
    try {
      data = await this.#retry(
        "BinaryDataByIDs",
        () => remote.fetchInline(batch.map((d) => d.item.binaryDataId), { signal }),
      );
    } catch (error) {
      if (error instanceof TooLargeError) {
        for (const download of batch) await this.#guarded(download, () => this.#byUri(download));
        return;
      }
      if (classifyError(error) === "aborted") throw error;
      for (const download of batch) this.#fail(download, error);
      return;
    }
    for (const download of batch) {
      const bytes = data.get(download.item.binaryDataId);
      if (!bytes) {
        this.#fail(download, new Error("the platform did not return it"));
        continue;
      }
      await this.#guarded(download, () => this.#writeInline(download, bytes));
    }
  }

  async #writeInline(download: Download, bytes: Uint8Array): Promise<void> {
    const staged = await this.deps.staging.begin({
      binaryDataId: download.item.binaryDataId,
      expectedSize: download.item.sizeBytes,
      resumable: false,
    });
    try {
      await staged.write(bytes);
      await staged.commit(download.path, { expectedSize: download.item.sizeBytes ?? bytes.length });
    } finally {
      await staged.close();
    }
    this.#bytes(bytes.length);
    this.#done(download, bytes.length);
  }

  async #byUri(download: Download): Promise<void> {
    const staged = await this.deps.staging.begin({
      binaryDataId: download.item.binaryDataId,
      expectedSize: download.item.sizeBytes,
      finalRelPath: download.path,
    });
    // What the staged file holds; kept current chunk by chunk so a retry resumes at the right offset.
    const held: _Held = { bytes: staged.offset, total: download.item.sizeBytes };
    try {
      // A partial that already holds every byte (killed between the last write and the rename)
      // needs no request at all: a Range past the end would be refused.
      if (held.total === undefined || held.bytes < held.total) {
        await this.#retry(download.path, () => this.#fetchInto(staged, download, held));
      }
      await staged.commit(download.path, { expectedSize: held.total ?? held.bytes });
    } finally {
      await staged.close();
    }
    this.#done(download, held.bytes);
  }

  /** One attempt: asks for the bytes after `held.bytes` and appends them. */
  async #fetchInto(staged: StagedFile, download: Download, held: _Held): Promise<void> {
    const body = await this.deps.remote.download(download.item, {
      offset: held.bytes,
      signal: this.options.signal,
    });
    if (body.start !== held.bytes) {
      // The server ignored Range: start over.
      await staged.restart();
      held.bytes = 0;
    }
    held.total ??= body.totalSize;
    await this.#stream(body.body, staged, held);
    if (held.total !== undefined && held.bytes < held.total) {
      throw new IncompleteBodyError(`${held.bytes} of ${held.total} bytes`);
    }
  }

  /** Appends a body to the staged file, counting into `held` as chunks land. */
  async #stream(
    body: ReadableStream<Uint8Array>,
    staged: StagedFile,
    held: _Held,
  ): Promise<void> {
    const reader = body.getReader();
    const idleMs = this.options.idleTimeoutMs ?? 60_000;
    try {
      for (;;) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const idle = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new IncompleteBodyError(`no data for ${idleMs} ms`)),
            idleMs,
          );
        });
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await Promise.race([reader.read(), idle]);
        } finally {
          clearTimeout(timer);
        }
        if (chunk.done) return;
        await staged.write(chunk.value);
        held.bytes += chunk.value.length;
        this.#bytes(chunk.value.length);
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  /** Runs a file's work unless the reserve forbids it; records a failure instead of throwing. */
  async #guarded(download: Download, work: () => Promise<void>): Promise<void> {
    if (this.result.spaceGuard !== undefined) return;
    try {
      const space = await (this.deps.space ?? freeSpace)(this.options.root);
      if (!fitsReserve(space, download.item.sizeBytes ?? 0, this.options.reservePercent)) {
        this.result.spaceGuard = `free-space reserve of ${this.options.reservePercent}% reached ` +
          `(${space.availableBytes} of ${space.totalBytes} bytes free): downloads paused`;
        this.options.logger.warn(this.result.spaceGuard, { path: download.path });
        return;
      }
      await work();
    } catch (error) {
      if (classifyError(error) === "aborted") throw error;
      if (error instanceof Deno.errors.AlreadyExists) {
        this.result.skipped++;
        this.#progress.filesDone++;
        this.options.logger.info(`kept ${download.path}: a file is already there`);
        return;
      }
      this.#fail(download, error);
    }
  }

  #retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return retry(fn, {
      attempts: this.options.attempts ?? 4,
      minDelayMs: this.options.minRetryDelayMs ?? 500,
      maxDelayMs: 30_000,
      signal: this.options.signal,
      onRetry: (error, attempt, delayMs) =>
        this.options.logger.warn(`${what} failed, retrying in ${delayMs} ms`, {
          attempt,
          error: describeError(error),
        }),
    });
  }

  #bytes(n: number): void {
    this.#progress.bytesDone += n;
    this.options.onProgress?.({ ...this.#progress });
  }

  #done(download: Download, size: number): void {
    this.result.downloaded++;
    this.result.bytes += size;
    this.#progress.filesDone++;
    this.options.logger.debug(`wrote ${download.path}`, { bytes: size });
    this.options.onProgress?.({ ...this.#progress });
  }

  #fail(download: Download, error: unknown): void {
    const message = describeError(error);
    this.result.failures.push({
      path: download.path,
      binaryDataId: download.item.binaryDataId,
      error: message,
    });
    this.#progress.filesDone++;
    this.options.logger.error(`failed to download ${download.path}`, {
      binaryDataId: download.item.binaryDataId,
      error: message,
    });
    this.options.onProgress?.({ ...this.#progress });
  }
}

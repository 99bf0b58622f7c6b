import { classifyError, describeError } from "../remote/errors.ts";
import { ListingIndex } from "./listing_index.ts";
import type { Logger } from "../logger.ts";
import type { ListFilter, RemoteSource } from "../remote/remote_source.ts";
import { retry } from "../async/retry.ts";

/** Options of {@linkcode listRemote}. */
export interface ListRemoteOptions {
  /** Where retries and progress are reported. */
  logger: Logger;
  /** Cancels the listing (the promise rejects with the abort reason). */
  signal?: AbortSignal;
  /** Tries per page, the first included (default 5). */
  attemptsPerPage?: number;
  /** Delay before the first retry of a page, in milliseconds (default 500). */
  minRetryDelayMs?: number;
}

/** The outcome of the listing stage. */
export interface ListingResult {
  /** What was listed, mapped to local paths and deduplicated. */
  index: ListingIndex;
  /** True only when the listing reached its empty last page without any error. */
  complete: boolean;
  /** Why the listing stopped early, when it did. */
  error?: string;
}

/**
 * The list stage: follows the cursor page by page (metadata only) until an empty page, retrying a
 * failed page from the same cursor. Items are folded into a compact index as they arrive, so the
 * SDK's objects for a large listing are never held at once. A listing that stops early is returned as
 * incomplete: the caller must then delete nothing.
 */
export async function listRemote(
  remote: RemoteSource,
  filter: ListFilter,
  options: ListRemoteOptions,
): Promise<ListingResult> {
  const index = new ListingIndex();
  const { logger, signal } = options;
  let last = "";
  for (let pageNumber = 1;; pageNumber++) {
    let page;
    try {
      page = await retry(() => remote.listPage(filter, last, { signal }), {
        attempts: options.attemptsPerPage ?? 5,
        minDelayMs: options.minRetryDelayMs ?? 500,
        maxDelayMs: 30_000,
        signal,
        onRetry: (error, attempt, delayMs) =>
          logger.warn(`listing page ${pageNumber} failed, retrying in ${delayMs} ms`, {
            attempt,
            error: describeError(error),
          }),
      });
    } catch (error) {
      // A refused key or a cancelled pass ends the pass itself, not just the listing.
      const kind = classifyError(error);
      if (kind === "aborted" || kind === "auth") throw error;
      return {
        index,
        complete: false,
        error: `listing page ${pageNumber}: ${describeError(error)}`,
      };
    }
    if (page.items.length === 0) return { index, complete: true };
    for (const item of page.items) index.add(item);
    // A page without a new cursor would make us ask for the same page forever.
    if (!page.last || page.last === last) {
      return {
        index,
        complete: false,
        error: `listing page ${pageNumber}: the platform returned no new cursor`,
      };
    }
    last = page.last;
  }
}

/**
 * The errors the stages raise and tell apart (too large, not found, an HTTP status, a cut or
 * uncheckable body, a cancelled pass, a timeout), their kinds, and one way to describe any error
 * without a secret in it.
 *
 * @module
 */
/** The platform refused to send a binary inline because it is too large: fetch it by uri instead. */
export class TooLargeError extends Error {
  /** @param binaryDataIds The ids the refused call asked for. */
  constructor(readonly binaryDataIds: string[], cause?: unknown) {
    super(`binary data too large to fetch inline (${binaryDataIds.length} item(s))`, { cause });
    this.name = "TooLargeError";
  }
}

/**
 * An inline call refused because an item it asked for is not on the platform (deleted since it was
 * listed): the call names no item, so the caller splits the batch to find it.
 */
export class ItemNotFoundError extends Error {
  /** @param cause The platform's refusal. */
  constructor(cause: Error) {
    super(cause.message, { cause });
    this.name = "ItemNotFoundError";
  }
}

/** An HTTP download answered with a status other than 200 or 206. */
export class HttpStatusError extends Error {
  /** @param status The HTTP status received. */
  constructor(readonly status: number, what: string) {
    super(`${what}: HTTP ${status}`);
    this.name = "HttpStatusError";
  }
}

/**
 * A download whose bytes cannot be checked against the file's size: sent encoded although `identity`
 * was asked for, or of a length nobody declared (no size in the listing, no `Content-Length` or
 * `Content-Range`), where a cut connection would pass for the end of the file. Never placed; not
 * retried (the same answer would come again).
 */
export class UncheckableBodyError extends Error {
  /**
   * True when the answer was refused before any of it was written: a partial it was to extend or
   * replace is as it was, and may be resumed.
   */
  readonly beforeWriting: boolean;
  /**
   * @param detail What the answer lacked.
   * @param options `beforeWriting`: see the field (default false).
   */
  constructor(detail: string, options: { beforeWriting?: boolean } = {}) {
    super(`download not written: ${detail}`);
    this.name = "UncheckableBodyError";
    this.beforeWriting = options.beforeWriting ?? false;
  }
}

/** A download body that ended, or stalled, before the whole file arrived. */
export class IncompleteBodyError extends Error {
  /** @param detail What was received against what was expected. */
  constructor(detail: string) {
    super(`download body incomplete: ${detail}`);
    this.name = "IncompleteBodyError";
  }
}

/** A pass cut off because its mirror was stopped (resource removed, process stopping). */
export class PassCancelledError<T = unknown> extends Error {
  /** What the pass had done when it was cut off, when the pass got that far. */
  result?: T;

  constructor() {
    super("the mirror was stopped during the pass; partial downloads stay in staging and resume");
    this.name = "PassCancelledError";
  }
}

/** A call that did not answer in time. */
export class TimeoutError extends Error {
  /** @param what The call that timed out. */
  constructor(what: string, ms: number) {
    super(`${what} timed out after ${ms} ms`);
    this.name = "TimeoutError";
  }
}

/** Whether `error` is a call's {@linkcode TimeoutError} (or a failure it caused). */
export function isTimeout(error: unknown): boolean {
  return error instanceof TimeoutError ||
    (error as { cause?: unknown } | null)?.cause instanceof TimeoutError;
}

/**
 * How a failure should be handled:
 * - `transient`: retry with backoff (unavailable, timeouts, dropped connections, 5xx).
 * - `auth`: the credentials were refused: do not hammer; the loop backs off.
 * - `aborted`: the caller cancelled: stop quietly.
 * - `fatal`: retrying cannot help (bad request, not found, a local disk error).
 */
export type ErrorKind = "transient" | "auth" | "aborted" | "fatal";

/**
 * The kind of a failure met by work that `signal` stops: `aborted` only when `signal` was aborted.
 * connect reports the caller's own cancel and a CANCELED the server answered (a proxy or a load
 * balancer cancelling the call) with the same code: the second is a failure to retry, not a stop.
 * One such answer stopped a whole pass (no later download, no delete, the loop backing off).
 */
export function kindUnder(kind: ErrorKind, signal: AbortSignal | undefined): ErrorKind {
  return kind === "aborted" && !signal?.aborted ? "transient" : kind;
}

/**
 * True for the error an abort leaves (the signal's reason, a fetch `AbortError`, or the `AbortError`
 * of `node:timers/promises`): a cancelled pass, not a failure.
 */
export function isAbortError(error: unknown): boolean {
  return error instanceof PassCancelledError ||
    ((error instanceof DOMException || error instanceof Error) && error.name === "AbortError");
}

/**
 * A one-line description of an error for logs and status, without stack. A failed `fetch` says
 * only "fetch failed": what failed (the host, "Connection refused", a DNS error) is in its cause,
 * which is told after it. Any URL's query string is left out, in the message and its causes (a
 * signed download URL carries a token there), and each is cut at 4 KiB (a server's error page of a
 * megabyte, as a gRPC status message, is no line for a log).
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // Its own message too: fetch's "Invalid URL: '<url>'" quotes a malformed signed URL whole.
  let described = _told(error.message || error.name);
  const seen = new Set<unknown>([error]);
  for (let cause = error.cause; cause instanceof Error && !seen.has(cause); cause = cause.cause) {
    seen.add(cause);
    const told = _told(cause.message);
    if (told !== "" && !described.includes(told)) described += `: ${told}`;
  }
  if (_isAccessError(error)) described += _ACCESS_HINT;
  if (answeredWithoutTls(error)) {
    described += " (the server answered without TLS: is app_url http://, not https://?)";
  }
  return described;
}

/**
 * Said after an operating system's refusal (EACCES, EPERM) of a file the program needs: most often
 * the mirror (or its state) was made by another user, as `sudo data-mirror sync` or a module run as
 * root leaves it, and this one may not write there; else a folder lacks this user's permission
 * (one made with mode 644 cannot be searched: nothing in it can be looked at).
 */
const _ACCESS_HINT = " (refused to this user: made by another user, as a `sudo data-mirror " +
  "sync` or viam-server's module run as root leaves files? Run as that user, or give this one the " +
  "folder: chown -R; or the file, or a folder on its way, lacks this user's permission to read, " +
  "write or search it: chmod u+rw, u+rwx for a folder)";

function _isAccessError(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return code === "EACCES" || code === "EPERM";
}

/**
 * Whether `error` (or a cause of it) is TLS meeting a server that answered in plain HTTP: rustls's
 * "received corrupt message of type InvalidContentType", as an https:// `app_url` pointing at an
 * http:// server (a local platform, a port forwarded) gets.
 */
export function answeredWithoutTls(error: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e = error; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    if (e.message.includes("corrupt message of type InvalidContentType")) return true;
  }
  return false;
}

/** The most characters told of one message of an error or its causes. */
const _MAX_TOLD = 4096;

/**
 * `text` cut at {@linkcode _MAX_TOLD} characters, with every URL's query string left out (cut first:
 * the patterns' work is bounded, and a query cut short is left out as a whole one).
 */
function _told(text: string): string {
  // Well formed: a cut inside a surrogate pair would leave half of it.
  const cut = text.length > _MAX_TOLD ? text.slice(0, _MAX_TOLD).toWellFormed() : text;
  const told = cut.replace(_QUOTED_QUERY_STRING, "$1").replace(_QUERY_STRING, _withoutQuery)
    .replace(_SIGNATURE, "$1[redacted]");
  return cut === text ? told : `${told}… (${text.length - _MAX_TOLD} more characters)`;
}

/**
 * A signed URL's credentials wherever they stand (`?X-Goog-Signature=...`, `&token=...`), `$1` the
 * name: what the URL patterns cannot tell is a URL (a malformed one quoted with both an apostrophe
 * and a space in it) still shows no token.
 */
const _SIGNATURE =
  /([?&](?:x-goog-signature|x-goog-credential|x-amz-signature|x-amz-credential|x-amz-security-token|signature|sig|token|access_token)=)[^\s&"'#]+/gi;

/**
 * A URL (`$1`) with its query string: each up to a space or a double quote. A `(`, `)` or `'` is
 * legal unencoded in a URL's path and query (`photo%20(1).jpg`), so neither ends it; only what
 * closes the URL's context (`(url): ...`, `'url'`) stays after the query.
 */
const _QUERY_STRING = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s"?]*)\?[^\s"]*/gi;

/** The URL of a `_QUERY_STRING` match, and the brackets, quotes and stops that closed it. */
function _withoutQuery(match: string, url: string): string {
  let end = match.length;
  while (end > 0 && ")'],;:.".includes(match[end - 1])) end--;
  return url + match.slice(end);
}

/**
 * A URL quoted whole (`'$1'`, which may hold a space where fetch refused it as malformed:
 * `Invalid URL: '...'`) with its query string. Each match starts at a quote and ends at the next:
 * one that ran from every URL to the end of its line took minutes over a long message.
 */
const _QUOTED_QUERY_STRING = /('[a-z][a-z0-9+.-]*:\/\/[^\n'?]*)\?[^\n']*/gi;

import { ConnectError } from "@viamrobotics/sdk";

/** The platform refused to send a binary inline because it is too large: fetch it by uri instead. */
export class TooLargeError extends Error {
  /** @param binaryDataIds The ids the refused call asked for. */
  constructor(readonly binaryDataIds: string[], cause?: unknown) {
    super(`binary data too large to fetch inline (${binaryDataIds.length} item(s))`, { cause });
    this.name = "TooLargeError";
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

/** A download body that ended, or stalled, before the whole file arrived. */
export class IncompleteBodyError extends Error {
  /** @param detail What was received against what was expected. */
  constructor(detail: string) {
    super(`download body incomplete: ${detail}`);
    this.name = "IncompleteBodyError";
  }
}

/** A pass cut off because its mirror was stopped (resource removed, process stopping). */
export class PassCancelledError extends Error {
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

/**
 * How a failure should be handled:
 * - `transient`: retry with backoff (unavailable, timeouts, dropped connections, 5xx).
 * - `auth`: the credentials were refused: do not hammer; the loop backs off.
 * - `aborted`: the caller cancelled: stop quietly.
 * - `fatal`: retrying cannot help (bad request, not found, a local disk error).
 */
export type ErrorKind = "transient" | "auth" | "aborted" | "fatal";

// gRPC status codes (connect's Code enum values).
const _CANCELED = 1;
const _UNKNOWN = 2;
const _DEADLINE_EXCEEDED = 4;
const _PERMISSION_DENIED = 7;
const _RESOURCE_EXHAUSTED = 8;
const _ABORTED = 10;
const _INTERNAL = 13;
const _UNAVAILABLE = 14;
const _UNAUTHENTICATED = 16;

/** Classifies an error thrown by a remote call or a download. */
export function classifyError(error: unknown): ErrorKind {
  if (error instanceof PassCancelledError) return "aborted";
  if (error instanceof DOMException && error.name === "AbortError") return "aborted";
  if (error instanceof TimeoutError || error instanceof IncompleteBodyError) return "transient";
  if (error instanceof HttpStatusError) {
    if (error.status === 401 || error.status === 403) return "auth";
    return error.status >= 500 || error.status === 429 || error.status === 408
      ? "transient"
      : "fatal";
  }
  if (error instanceof ConnectError) {
    switch (error.code) {
      case _UNAUTHENTICATED:
      case _PERMISSION_DENIED:
        return "auth";
      case _CANCELED:
        return "aborted";
      case _UNKNOWN: // the SDK's transport reports a refused or reset connection as unknown
      case _DEADLINE_EXCEEDED:
      case _RESOURCE_EXHAUSTED:
      case _ABORTED:
      case _INTERNAL:
      case _UNAVAILABLE:
        return "transient";
      default:
        return "fatal";
    }
  }
  // fetch and stream failures (connection refused or reset, body cut short) surface as TypeError or
  // as Deno's connection errors.
  if (
    error instanceof TypeError || error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionRefused || error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.ConnectionAborted || error instanceof Deno.errors.BrokenPipe
  ) {
    return "transient";
  }
  return "fatal";
}

/** A one-line description of an error for logs and status, without stack. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

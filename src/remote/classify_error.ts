/**
 * What an error from the platform means for a retry: transient (retried), auth (stop and say so),
 * aborted (the pass was cancelled) or fatal.
 *
 * @example
 * ```ts
 * if (classifyError(new TypeError("connection reset")) === "transient") {
 *   // retried with back-off
 * }
 * ```
 *
 * @module
 */
// connect's `ConnectError` recognizes the errors of any connect copy by their shape (its
// `instanceof` is structural): connect-node's, the gRPC-web transport's and the SDK's bundled copy
// (which the tests use as a reference client) classify alike.
import { ConnectError } from "@connectrpc/connect";
import {
  answeredWithoutTls,
  type ErrorKind,
  HttpStatusError,
  IncompleteBodyError,
  isAbortError,
  TimeoutError,
} from "./errors.ts";

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

/**
 * Classifies an error thrown by a remote call or a download: the one place that knows the
 * transport's error type (the stages ask the remote, {@linkcode RemoteSource.classify}).
 */
export function classifyError(error: unknown): ErrorKind {
  if (isAbortError(error)) return "aborted";
  // An https:// app URL whose server speaks plain HTTP fails every try alike (wrapped by connect as
  // an unknown error, which a refused connection is too): said at once.
  if (answeredWithoutTls(error)) return "fatal";
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
      case _UNKNOWN: // gRPC-web reports a refused or reset connection as unknown
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

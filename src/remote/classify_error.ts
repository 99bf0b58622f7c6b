// connect's `ConnectError` recognizes the errors of any connect copy by their shape (its
// `instanceof` is structural): the SDK's bundled one and connect-node's classify alike, and the push
// side, which never needs the SDK, does not load its 1 MB bundle for this one class.
import { ConnectError } from "@connectrpc/connect";
import {
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
 * Classifies an error thrown by a remote call or a download: the one place that knows the SDK's
 * error type (the stages ask the remote, {@linkcode RemoteSource.classify}).
 */
export function classifyError(error: unknown): ErrorKind {
  if (isAbortError(error)) return "aborted";
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

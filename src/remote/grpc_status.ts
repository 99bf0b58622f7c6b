/**
 * gRPC statuses as both transports read them (`grpc_web_transport.ts` for the SDK's calls,
 * `grpc_http2.ts` for uploads): an HTTP status mapped as gRPC maps it, and `grpc-status` /
 * `grpc-message` made into a `ConnectError` with connect's codes.
 *
 * @example
 * ```ts
 * const error = statusError(response.headers.get("grpc-status"), response.headers.get("grpc-message"));
 * if (error !== undefined) throw error;
 * ```
 *
 * @module
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** gRPC's mapping of an HTTP status other than 200 (as connect maps it). */
export function codeFromHttpStatus(status: number): Code {
  switch (status) {
    case 400:
      return Code.Internal;
    case 401:
      return Code.Unauthenticated;
    case 403:
      return Code.PermissionDenied;
    case 404:
      return Code.Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return Code.Unavailable;
    default:
      return Code.Unknown;
  }
}

/**
 * The error a `grpc-status` other than 0 stands for, with its `grpc-message` (percent-decoded);
 * `undefined` for OK or no status.
 */
export function statusError(
  status: string | null | undefined,
  message: string | null | undefined,
): ConnectError | undefined {
  if (status === null || status === undefined || status === "0") return undefined;
  const code = Number(status);
  return new ConnectError(
    decodeGrpcMessage(message ?? ""),
    Number.isInteger(code) && code > 0 && code <= 16 ? code : Code.Unknown,
  );
}

/** A `grpc-message` as sent (percent-encoded), decoded; kept as is when it is not valid. */
export function decodeGrpcMessage(message: string): string {
  try {
    return decodeURIComponent(message);
  } catch {
    return message;
  }
}

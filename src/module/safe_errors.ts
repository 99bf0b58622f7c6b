/**
 * The last word on every error the module answers with: its message scrubbed of the secrets the
 * module knows and cut to a size a gRPC status carries. The message travels as the `grpc-message`
 * trailer, and an answer whose trailers pass what the peer accepts (64 KB here) was not answered
 * at all: the HTTP/2 server reset the stream and dropped the connection, so viam-server saw
 * INTERNAL "RST_STREAM" with no field named, and its next call on the connection failed too. A
 * config with 700 bad `protected_dirs` entries, or a DoCommand or resource name of 100 KB, did it.
 * Each handler already says what went wrong; this holds for any message, whoever wrote it.
 *
 * @example
 * ```ts
 * const routes = (router: ConnectRouter) =>
 *   registerModuleService(withSafeErrors(router, redactor), options);
 * ```
 *
 * @module
 */
import { ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { type MethodInfo, MethodKind, type ServiceType } from "@bufbuild/protobuf";
import type { SecretRedactor } from "../redaction.ts";

/**
 * The most UTF-8 bytes of a message answered: percent-encoded (at most three characters a byte),
 * 48 KB, under what a peer accepts as a whole header block.
 */
const _MAX_MESSAGE_BYTES = 16 * 1024;

/**
 * `router`, whose unary handlers' errors are scrubbed by `redactor` and cut to
 * {@linkcode _MAX_MESSAGE_BYTES} (their code and metadata kept). Streaming handlers (gRPC
 * reflection) are registered as they are: they answer with names the module holds.
 */
export function withSafeErrors(router: ConnectRouter, redactor: SecretRedactor): ConnectRouter {
  const register = router.rpc.bind(router) as unknown as _Rpc;
  const rpc: _Rpc = (service, method, impl, options) => {
    if (method.kind !== MethodKind.Unary) register(service, method, impl, options);
    else {
      register(service, method, async (...call: unknown[]) => {
        try {
          return await impl(...call);
        } catch (error) {
          throw _safe(error, redactor);
        }
      }, options);
    }
    return safeRouter;
  };
  const safeRouter: ConnectRouter = new Proxy(router, {
    get: (target, key, receiver) => key === "rpc" ? rpc : Reflect.get(target, key, receiver),
  });
  return safeRouter;
}

/** `ConnectRouter.rpc` as the module calls it (a service, one of its methods, the handler). */
type _Rpc = (
  service: ServiceType,
  method: MethodInfo,
  impl: (...call: unknown[]) => unknown,
  options?: unknown,
) => ConnectRouter;

function _safe(error: unknown, redactor: SecretRedactor): ConnectError {
  const connect = ConnectError.from(error);
  // Well formed: connect percent-encodes the message as the grpc-message trailer, and a lone
  // surrogate (one a cut split, or any in the text) threw there: the call was never answered.
  const message = _bounded(redactor.scrub(connect.rawMessage)).toWellFormed();
  if (message === connect.rawMessage) return connect;
  const safe = new ConnectError(message, connect.code, connect.metadata, undefined, connect.cause);
  safe.details = connect.details;
  return safe;
}

/** `message` cut to at most {@linkcode _MAX_MESSAGE_BYTES} UTF-8 bytes, saying how much went. */
function _bounded(message: string): string {
  const encoder = new TextEncoder();
  if (encoder.encode(message).length <= _MAX_MESSAGE_BYTES) return message;
  const room = _MAX_MESSAGE_BYTES - 64; // for the note after the cut
  let cut = message.slice(0, room);
  while (encoder.encode(cut).length > room) cut = cut.slice(0, Math.floor(cut.length * 0.9));
  return `${cut}… (${message.length - cut.length} more characters not shown)`;
}

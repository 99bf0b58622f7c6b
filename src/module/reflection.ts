/**
 * gRPC server reflection for the module's services, which viam-server needs before it will use a
 * module: each file descriptor answered with its transitive imports.
 *
 * @module
 */
import type {
  AnyMessage,
  DescriptorProto,
  EnumDescriptorProto,
  FileDescriptorProto,
  FileDescriptorSet,
  PartialMessage,
} from "@bufbuild/protobuf";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import { VIAM_SERVICES } from "./viam_services.ts";

/** What {@linkcode registerReflection} serves. */
export interface ReflectionOptions {
  /** The descriptor set every file, symbol and extension is looked up in. */
  descriptors: FileDescriptorSet;
  /** The fully qualified names `list_services` answers with. */
  services: readonly string[];
}

interface _Index {
  files: Map<string, { proto: FileDescriptorProto; bytes: Uint8Array }>;
  // fully qualified symbol (no leading dot) -> the file defining it
  symbols: Map<string, string>;
  // extended message (no leading dot) -> field number -> the file defining the extension
  extensions: Map<string, Map<number, string>>;
}

type _Answer = PartialMessage<AnyMessage>;

function _join(scope: string, name: string): string {
  return scope === "" ? name : `${scope}.${name}`;
}

function _indexEnums(
  index: _Index,
  file: string,
  scope: string,
  enums: EnumDescriptorProto[],
): void {
  for (const enumType of enums) {
    index.symbols.set(_join(scope, enumType.name ?? ""), file);
    // Enum values are scoped like siblings of their enum (C++ scoping rules).
    for (const value of enumType.value) index.symbols.set(_join(scope, value.name ?? ""), file);
  }
}

function _indexMessages(
  index: _Index,
  file: string,
  scope: string,
  messages: DescriptorProto[],
): void {
  for (const message of messages) {
    const name = _join(scope, message.name ?? "");
    index.symbols.set(name, file);
    for (const field of message.field) index.symbols.set(_join(name, field.name ?? ""), file);
    for (const oneof of message.oneofDecl) index.symbols.set(_join(name, oneof.name ?? ""), file);
    _indexExtensions(index, file, name, message.extension);
    _indexEnums(index, file, name, message.enumType);
    _indexMessages(index, file, name, message.nestedType);
  }
}

function _indexExtensions(
  index: _Index,
  file: string,
  scope: string,
  extensions: FileDescriptorProto["extension"],
): void {
  for (const extension of extensions) {
    index.symbols.set(_join(scope, extension.name ?? ""), file);
    const extendee = (extension.extendee ?? "").replace(/^\./, "");
    const numbers = index.extensions.get(extendee) ?? new Map<number, string>();
    numbers.set(extension.number ?? 0, file);
    index.extensions.set(extendee, numbers);
  }
}

function _buildIndex(descriptors: FileDescriptorSet): _Index {
  const index: _Index = { files: new Map(), symbols: new Map(), extensions: new Map() };
  for (const proto of descriptors.file) {
    const file = proto.name ?? "";
    const scope = proto.package ?? "";
    index.files.set(file, { proto, bytes: proto.toBinary() });
    _indexMessages(index, file, scope, proto.messageType);
    _indexEnums(index, file, scope, proto.enumType);
    _indexExtensions(index, file, scope, proto.extension);
    for (const service of proto.service) {
      const name = _join(scope, service.name ?? "");
      index.symbols.set(name, file);
      for (const method of service.method) index.symbols.set(_join(name, method.name ?? ""), file);
    }
  }
  return index;
}

// The file first, then every file it imports, directly or not: a client needs all of them to build
// the descriptor, and grpc-go's client fails the module's start-up on an unresolvable import.
function _withImports(index: _Index, file: string): Uint8Array[] {
  const seen = new Set<string>([file]);
  const order = [file];
  for (let i = 0; i < order.length; i++) {
    for (const dependency of index.files.get(order[i])?.proto.dependency ?? []) {
      if (!seen.has(dependency)) {
        seen.add(dependency);
        order.push(dependency);
      }
    }
  }
  return order.flatMap((name) => {
    const bytes = index.files.get(name)?.bytes;
    return bytes === undefined ? [] : [bytes];
  });
}

function _files(index: _Index, file: string | undefined, missing: string): _Answer {
  if (file === undefined || !index.files.has(file)) return _error(Code.NotFound, missing);
  return {
    case: "fileDescriptorResponse",
    value: { fileDescriptorProto: _withImports(index, file) },
  };
}

function _error(code: Code, message: string): _Answer {
  return { case: "errorResponse", value: { errorCode: code, errorMessage: message } };
}

function _answer(index: _Index, services: readonly string[], request: AnyMessage): _Answer {
  const asked = request.messageRequest as { case?: string; value?: unknown } | undefined;
  switch (asked?.case) {
    case "listServices":
      return {
        case: "listServicesResponse",
        value: { service: services.map((name) => ({ name })) },
      };
    case "fileByFilename": {
      const file = String(asked.value);
      return _files(index, file, `file not found: ${file}`);
    }
    case "fileContainingSymbol": {
      const symbol = String(asked.value).replace(/^\./, "");
      return _files(index, index.symbols.get(symbol), `symbol not found: ${symbol}`);
    }
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = asked.value as {
        containingType: string;
        extensionNumber: number;
      };
      const type = containingType.replace(/^\./, "");
      return _files(
        index,
        index.extensions.get(type)?.get(extensionNumber),
        `extension not found: ${type} ${extensionNumber}`,
      );
    }
    case "allExtensionNumbersOfType": {
      const type = String(asked.value).replace(/^\./, "");
      if (!index.symbols.has(type)) return _error(Code.NotFound, `type not found: ${type}`);
      return {
        case: "allExtensionNumbersResponse",
        value: {
          baseTypeName: type,
          extensionNumber: [...(index.extensions.get(type)?.keys() ?? [])],
        },
      };
    }
    default:
      return _error(Code.InvalidArgument, "the reflection request names nothing to look up");
  }
}

/**
 * Registers gRPC server reflection (`grpc.reflection.v1alpha` and `grpc.reflection.v1`
 * `ServerReflection/ServerReflectionInfo`) on `router`: viam-server resolves each handler's
 * `proto_service` through it right after `Ready`, and never starts a module without it. Files are
 * answered with every transitive import; an unknown name gets an `error_response` with NOT_FOUND.
 */
export function registerReflection(router: ConnectRouter, options: ReflectionOptions): void {
  // Built at the first request, not at start: viam-server waits for the socket, not for reflection.
  let index: _Index | undefined;
  for (const service of [VIAM_SERVICES.reflectionV1alpha, VIAM_SERVICES.reflectionV1]) {
    router.rpc(
      service,
      service.methods.serverReflectionInfo,
      async function* (requests: AsyncIterable<AnyMessage>) {
        for await (const request of requests) {
          yield {
            validHost: request.host,
            originalRequest: request,
            messageResponse: _answer(
              index ??= _buildIndex(options.descriptors),
              options.services,
              request,
            ),
          };
        }
      },
    );
  }
}

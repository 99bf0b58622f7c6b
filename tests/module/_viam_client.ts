// A gRPC client independent of the module's own code (grpc-js + proto-loader), replaying what
// viam-server does: wait for the socket, Ready with retries, reflection, then the module RPCs.
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { VIAM_DESCRIPTOR_SET } from "../../src/gen/viam_descriptors.ts";

const definition = protoLoader.loadFileDescriptorSetFromBuffer(
  Buffer.from(VIAM_DESCRIPTOR_SET.toBinary()),
  { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true },
);
const packages = grpc.loadPackageDefinition(definition);

function _constructor(typeName: string): grpc.ServiceClientConstructor {
  // deno-lint-ignore no-explicit-any
  let node: any = packages;
  for (const part of typeName.split(".")) node = node[part];
  return node as grpc.ServiceClientConstructor;
}

/** The grpc-js service definition of `typeName` (for fake servers). */
export function serviceDefinition(typeName: string): grpc.ServiceDefinition {
  return _constructor(typeName).service;
}

/** A JSON value as proto-loader represents a google.protobuf.Value. */
function _toValue(value: unknown): Record<string, unknown> {
  if (value === null || value === undefined) return { null_value: "NULL_VALUE" };
  if (typeof value === "number") return { number_value: value };
  if (typeof value === "string") return { string_value: value };
  if (typeof value === "boolean") return { bool_value: value };
  if (Array.isArray(value)) return { list_value: { values: value.map(_toValue) } };
  return { struct_value: toStruct(value as Record<string, unknown>) };
}

function _fromValue(value: Record<string, unknown>): unknown {
  switch (value.kind) {
    case "number_value":
    case "string_value":
    case "bool_value":
      return value[value.kind as string];
    case "list_value":
      return (value.list_value as { values: Record<string, unknown>[] }).values.map(_fromValue);
    case "struct_value":
      return fromStruct(value.struct_value);
    default:
      return null;
  }
}

// Loaded from a descriptor set, proto-loader sees Struct's map field as its underlying repeated
// FieldsEntry message: a list of {key, value}.
type _StructMessage = { fields?: { key: string; value: Record<string, unknown> }[] };

/** A JSON object as proto-loader represents a google.protobuf.Struct. */
export function toStruct(json: Record<string, unknown>): _StructMessage {
  return { fields: Object.entries(json).map(([key, value]) => ({ key, value: _toValue(value) })) };
}

/** The JSON object a proto-loader google.protobuf.Struct holds. */
export function fromStruct(struct: unknown): Record<string, unknown> {
  const fields = (struct as _StructMessage | null | undefined)?.fields ?? [];
  return Object.fromEntries(fields.map(({ key, value }) => [key, _fromValue(value)]));
}

type _UnaryMethod = (
  request: unknown,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response: Record<string, unknown>) => void,
) => void;

/** A failed call: the gRPC status code and details. */
export interface CallError {
  code: grpc.status;
  details: string;
}

/**
 * The gRPC target for a module address as the tests write it: a socket path (absolute), or
 * `host:port` in TCP mode.
 */
export function grpcTarget(address: string): string {
  return address.startsWith("/") ? `unix:${address}` : address;
}

/** Clients of every service a module serves, on one unix socket or TCP port. */
export class ViamClient {
  readonly module: grpc.Client;
  readonly service: grpc.Client;
  readonly component: grpc.Client;
  readonly reflection: grpc.Client;
  readonly reflectionV1: grpc.Client;

  /** Clients of the module at `address`: a socket path, or `host:port`. */
  constructor(address: string) {
    const target = grpcTarget(address);
    const credentials = grpc.credentials.createInsecure();
    const make = (typeName: string) => new (_constructor(typeName))(target, credentials);
    this.module = make("viam.module.v1.ModuleService");
    this.service = make("viam.service.generic.v1.GenericService");
    this.component = make("viam.component.generic.v1.GenericService");
    this.reflection = make("grpc.reflection.v1alpha.ServerReflection");
    this.reflectionV1 = make("grpc.reflection.v1.ServerReflection");
  }

  /** One unary call; rejects with a {@linkcode CallError}. */
  call(
    client: grpc.Client,
    method: string,
    request: Record<string, unknown>,
    timeoutMs = 5_000,
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const fn = (client as unknown as Record<string, _UnaryMethod>)[method];
      fn.call(
        client,
        request,
        { deadline: Date.now() + timeoutMs },
        (error: grpc.ServiceError | null, response: Record<string, unknown>) => {
          // connect percent-encodes grpc-message as the spec says; grpc-go (viam-server) decodes
          // every escape, grpc-js only some (decodeURI): decode the rest as viam-server would.
          if (error) {
            reject({ code: error.code, details: _decoded(error.details) } satisfies CallError);
          } else resolve(response);
        },
      );
    });
  }

  /** The error a call fails with; throws if it succeeds. */
  async callError(
    client: grpc.Client,
    method: string,
    request: Record<string, unknown>,
  ): Promise<CallError> {
    try {
      await this.call(client, method, request);
    } catch (error) {
      return error as CallError;
    }
    throw new Error(`${method} succeeded but was expected to fail`);
  }

  /**
   * Ready as viam-server calls it: 3 s per call, retried every 200 ms while UNAVAILABLE, DEADLINE_EXCEEDED,
   * RESOURCE_EXHAUSTED or CANCELLED, and while `ready` is false.
   */
  async ready(request: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const retryable = [
      grpc.status.UNAVAILABLE,
      grpc.status.DEADLINE_EXCEEDED,
      grpc.status.RESOURCE_EXHAUSTED,
      grpc.status.CANCELLED,
    ];
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        const response = await this.call(this.module, "Ready", request, 3_000);
        if (response.ready === true) return response;
      } catch (error) {
        if (!retryable.includes((error as CallError).code)) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error("the module never became ready");
  }

  /** Sends reflection requests on one stream and collects the responses. */
  reflect(
    requests: Record<string, unknown>[],
    client: grpc.Client = this.reflection,
  ): Promise<Record<string, unknown>[]> {
    return new Promise((resolve, reject) => {
      const responses: Record<string, unknown>[] = [];
      const stream =
        (client as unknown as Record<string, () => grpc.ClientDuplexStream<unknown, unknown>>)
          .ServerReflectionInfo.call(client);
      stream.on("data", (response) => {
        responses.push(response as Record<string, unknown>);
        if (responses.length === requests.length) stream.end();
      });
      stream.on("error", reject);
      stream.on("end", () => resolve(responses));
      for (const request of requests) stream.write(request);
    });
  }

  /** Closes every client. */
  close(): void {
    for (
      const client of [
        this.module,
        this.service,
        this.component,
        this.reflection,
        this.reflectionV1,
      ]
    ) {
      client.close();
    }
  }
}

/** A module ComponentConfig (proto-loader form). */
export function componentConfig(
  name: string,
  api: string,
  attributes: Record<string, unknown>,
): Record<string, unknown> {
  return { name, api, model: "viam-soleng:data:mirror", attributes: toStruct(attributes) };
}

/**
 * Resolves once the module at `address` can be reached: a file exists at a socket path, or a TCP
 * connection to `host:port` is accepted (viam-server polls every 100 ms, the default).
 */
export async function waitForSocket(
  address: string,
  attempts = 100,
  intervalMs = 100,
): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    try {
      if (address.startsWith("/")) {
        await Deno.lstat(address);
      } else {
        const { hostname, port } = splitHostPort(address);
        (await Deno.connect({ hostname, port })).close();
      }
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
  throw new Error(`nothing listens at ${address}`);
}

/** The host and port of `host:port`. */
export function splitHostPort(address: string): { hostname: string; port: number } {
  const colon = address.lastIndexOf(":");
  return { hostname: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}

/** A TCP port on 127.0.0.1 that nothing listens on right now, as viam-server picks one. */
export function freeLoopbackPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * `details` with what grpc-js left percent-encoded decoded; as it is when it holds a `%` that
 * escapes nothing (grpc-js decoded that one already: "max_delete 50%" threw a URIError here).
 */
function _decoded(details: string): string {
  try {
    return decodeURIComponent(details);
  } catch {
    return details;
  }
}

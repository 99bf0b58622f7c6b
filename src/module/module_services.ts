/**
 * Everything the module serves, behind one HTTP/2 request handler: `viam.module.v1.ModuleService`,
 * both generic APIs of the mirror and gRPC reflection, with the logger to viam-server and the table
 * of running resources they share. Loaded by `module_server.ts` while its socket already listens:
 * this is the heavy part of the module's start (connect, the descriptor registry).
 *
 * @module
 */
import type * as http2 from "node:http2";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { VIAM_DESCRIPTOR_SET } from "../gen/viam_descriptors.ts";
import type { Logger } from "../logger.ts";
import { MIRROR_APIS } from "./mirror_model.ts";
import { registerMirrorService } from "./mirror_service.ts";
import type { ModuleOptions } from "./module_server.ts";
import { registerModuleService } from "./module_service.ts";
import { MODULE_LOGGER_NAME, ParentLogSink } from "./parent_logger.ts";
import { registerReflection } from "./reflection.ts";
import { ResourceTable } from "./resource_table.ts";
import { withSafeErrors } from "./safe_errors.ts";
import { SecretRedactor } from "../redaction.ts";
import { VIAM_SERVICES } from "./viam_services.ts";

/** The largest request the module reads (a resource's config, a DoCommand): 4 MiB. */
const _MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/** The module's services, ready to take requests. */
export interface ModuleServices {
  /** Answers one HTTP/2 request (plaintext gRPC with trailers; nothing else is served). */
  handle(request: http2.Http2ServerRequest, response: http2.Http2ServerResponse): void;
  /** The module's own logger (lifecycle events), to viam-server once Ready names it. */
  logger: Logger;
  /** The running resources. */
  table: ResourceTable;
  /** Where log entries go; closed last. */
  sink: ParentLogSink;
}

/** Builds the module's services for `options`. */
export function createModuleServices(options: ModuleOptions): ModuleServices {
  const redactor = new SecretRedactor();
  const sink = new ParentLogSink({
    threshold: options.logLevel,
    redactor,
    writeLine: options.writeLine,
  });
  const logger = sink.logger(MODULE_LOGGER_NAME);
  const table = new ResourceTable();
  const routes = (connectRouter: ConnectRouter): void => {
    const router = withSafeErrors(connectRouter, redactor);
    registerModuleService(router, {
      validate: options.validate,
      admits: options.admits,
      createMirror: options.createMirror,
      table,
      sink,
      parentLogging: options.parentLogging,
      redactor,
      logger,
    });
    registerMirrorService(router, { table, redactor });
    registerReflection(router, {
      descriptors: VIAM_DESCRIPTOR_SET,
      services: [
        VIAM_SERVICES.module.typeName,
        ...MIRROR_APIS.map((api) => api.service.typeName),
        VIAM_SERVICES.reflectionV1alpha.typeName,
        VIAM_SERVICES.reflectionV1.typeName,
      ],
    });
  };
  const handle = connectNodeAdapter({
    routes,
    grpc: true,
    grpcWeb: false,
    connect: false,
    // gRPC's own default. Unbounded, a 32 MB DoCommand took 22-27 s of CPU and 460 MB to read
    // (connect copies the buffer at every chunk): refused now from its length prefix.
    readMaxBytes: _MAX_REQUEST_BYTES,
  });
  return { handle, logger, table, sink };
}

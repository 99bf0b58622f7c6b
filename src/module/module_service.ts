/**
 * `viam.module.v1.ModuleService`, the calls viam-server makes to manage the module's resources: Ready,
 * ValidateConfig, AddResource, ReconfigureResource and RemoveResource.
 *
 * @module
 */
import { describeError } from "../remote/errors.ts";
import type { AnyMessage, PartialMessage, Struct } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { parseModuleAddress } from "../invocation.ts";
import { type Logger, type LogLevel, parseLogLevel } from "../logger.ts";
import type { MirrorController } from "../mirror_controller.ts";
import { MIRROR_APIS, MIRROR_MODEL } from "./mirror_model.ts";
import type { ParentLogSink } from "./parent_logger.ts";
import {
  ConfigSupersededError,
  ResourceNotRunningError,
  ResourceRemovedError,
  type ResourceTable,
} from "./resource_table.ts";
import type { SecretRedactor } from "../redaction.ts";
import { VIAM_SERVICES } from "./viam_services.ts";

/** One configured mirror, as the module hands it to the engine. */
export interface MirrorResource {
  /** The short resource name (`mirror1`). */
  name: string;
  /** The API triplet it was configured under (`rdk:service:generic` or `rdk:component:generic`). */
  api: string;
  /** Its attributes as plain JSON (may hold secrets: never log them). */
  attributes: Record<string, unknown>;
  /**
   * The resource's own log level (`log_configuration.level`, set per resource in the app), when it
   * has a known one: its logger goes by it instead of the module's `--log-level`.
   */
  logLevel?: LogLevel;
}

/** What the module service needs from the engine and from the rest of the module. */
export interface ModuleServiceOptions {
  /** Checks attributes; throws, naming the attribute, when they are invalid. */
  validate(
    attributes: Record<string, unknown>,
  ): { warnings: string[] } | Promise<{ warnings: string[] }>;
  /**
   * Throws when `resource` could not start beside the other resources (its folders overlapping
   * another's): asked before a running configuration of it is stopped (see `PutOptions.precheck`).
   */
  admits?(resource: MirrorResource): void | Promise<void>;
  /** Builds and starts the mirror of one resource; `logger` reaches viam-server's log. */
  createMirror(
    resource: MirrorResource,
    logger: Logger,
  ): MirrorController | Promise<MirrorController>;
  /** The running resources. */
  table: ResourceTable;
  /** Where logs go; connected to the parent on `Ready` when `parentLogging`. */
  sink: ParentLogSink;
  /** False when `VIAM_NO_MODULE_PARENT` is set: the parent is never dialled. */
  parentLogging: boolean;
  /** Learns the secrets of every config seen, to keep them out of logs and errors. */
  redactor: SecretRedactor;
  /** The module's own logger (lifecycle events). */
  logger: Logger;
}

function _readConfig(request: AnyMessage): MirrorResource {
  const config = request.config as AnyMessage | undefined;
  const name = String(config?.name ?? "");
  const apiName = String(config?.api ?? "");
  const model = String(config?.model ?? "");
  const api = MIRROR_APIS.find((candidate) => candidate.api === apiName);
  if (api === undefined) {
    const served = MIRROR_APIS.map((candidate) => candidate.api).join(", ");
    // A viam-server that names the resource only by the deprecated `namespace` and `type` (which
    // do not say service or component) cannot be served: said so, rather than as an unknown API.
    const deprecated = apiName === "" && (config?.namespace || config?.type)
      ? ` (the request names the resource only by the deprecated namespace ${
        JSON.stringify(String(config?.namespace ?? ""))
      } and type ${
        JSON.stringify(String(config?.type ?? ""))
      }, which an older viam-server sends: upgrade viam-server)`
      : "";
    throw new ConnectError(
      `config.api ${
        JSON.stringify(apiName)
      } is not served by this module (it serves ${served})${deprecated}`,
      Code.InvalidArgument,
    );
  }
  if (model !== MIRROR_MODEL) {
    throw new ConnectError(
      `config.model ${
        JSON.stringify(model)
      } is not served by this module (it serves ${MIRROR_MODEL})`,
      Code.InvalidArgument,
    );
  }
  if (name === "") throw new ConnectError("config.name is empty", Code.InvalidArgument);
  const logConfiguration = config?.logConfiguration as AnyMessage | undefined;
  return {
    name,
    api: api.api,
    attributes: _attributesOf(config?.attributes as Struct | undefined),
    logLevel: parseLogLevel(String(logConfiguration?.level ?? "")),
  };
}

/** NOT_FOUND for a reconfiguration of a resource that is not running (or was removed meanwhile). */
function _notRunning(resource: MirrorResource): ConnectError {
  return new ConnectError(
    `cannot reconfigure ${resource.api}/${resource.name}: it is not running`,
    Code.NotFound,
  );
}

/**
 * The attributes as JSON, field by field: a value JSON cannot hold (NaN, an infinity, a Value with
 * no kind set) is INVALID_ARGUMENT naming its attribute, where the whole Struct's conversion threw
 * an anonymous INTERNAL error.
 */
function _attributesOf(struct: Struct | undefined): Record<string, unknown> {
  const attributes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) {
    try {
      attributes[key] = value.toJson();
    } catch {
      throw new ConnectError(
        `attribute ${
          JSON.stringify(key)
        } holds a value JSON cannot (NaN, an infinity or no value ` +
          "at all)",
        Code.InvalidArgument,
      );
    }
  }
  return attributes;
}

/**
 * Registers `viam.module.v1.ModuleService`: `Ready` (always ready; the handler map lists the mirror
 * model under both generic APIs; the parent's address is kept for logging), `ValidateConfig`
 * (INVALID_ARGUMENT naming the attribute; warnings are logged), `AddResource`, `ReconfigureResource`
 * (the old controller is stopped before the new one starts) and `RemoveResource` (awaits the stop).
 */
export function registerModuleService(router: ConnectRouter, options: ModuleServiceOptions): void {
  const { table, sink, redactor, logger } = options;

  // Returns the warnings; a failure is INVALID_ARGUMENT, its message scrubbed of secrets.
  const validate = async (fullName: string, resource: MirrorResource): Promise<string[]> => {
    redactor.remember(resource.attributes);
    try {
      return (await options.validate(resource.attributes)).warnings;
    } catch (error) {
      throw new ConnectError(
        redactor.scrub(`invalid config for ${fullName}: ${describeError(error)}`),
        Code.InvalidArgument,
      );
    }
  };

  const start = async (
    request: AnyMessage,
    verb: "started" | "reconfigured",
  ): Promise<PartialMessage<AnyMessage>> => {
    const resource = _readConfig(request);
    const fullName = `${resource.api}/${resource.name}`;
    // Taken before the check, which takes a while: a removal (and an addition) done while it
    // runs wins, and so does a configuration sent after it that is applied first.
    const ticket = table.ticket(fullName);
    // A refused configuration (or one that fails to start) leaves a running resource as it was:
    // the error says so, or the operator would believe the mirror stopped.
    const kept = () =>
      table.get(resource.api, resource.name) !== undefined
        ? "; it runs on with its previous configuration"
        : "";
    try {
      await validate(fullName, resource);
    } catch (error) {
      table.release(ticket);
      if (!(error instanceof ConnectError)) throw error;
      throw new ConnectError(`${error.rawMessage}${kept()}`, error.code, error.metadata);
    }
    try {
      const replaced = await table.put(
        fullName,
        () => options.createMirror(resource, sink.logger(fullName, resource.logLevel)),
        {
          ticket,
          reconfigure: verb === "reconfigured",
          precheck: () => options.admits?.(resource),
        },
      );
      logger.info(`${verb} ${fullName}${replaced ? " (replacing the running one)" : ""}`);
    } catch (error) {
      if (error instanceof ResourceNotRunningError) throw _notRunning(resource);
      if (error instanceof ResourceRemovedError) {
        throw new ConnectError(
          `${fullName} was not ${verb}: it was removed while this configuration was checked`,
          Code.Aborted,
        );
      }
      if (error instanceof ConfigSupersededError) {
        throw new ConnectError(
          `${fullName} was not ${verb} with this configuration: one sent after it was applied first`,
          Code.Aborted,
        );
      }
      throw new ConnectError(
        redactor.scrub(`could not start ${fullName}: ${describeError(error)}${kept()}`),
        Code.Internal,
      );
    }
    return {};
  };

  const { methods } = VIAM_SERVICES.module;

  router.rpc(
    VIAM_SERVICES.module,
    methods.ready,
    (request: AnyMessage): Promise<PartialMessage<AnyMessage>> => {
      // A socket path (older servers sent a `unix:` URL in `parent_address`), or `host:port` in
      // TCP mode.
      const raw = String(request.rawParentAddress || request.parentAddress || "");
      if (raw !== "" && options.parentLogging) {
        const parent = parseModuleAddress(raw, { from: "Ready's parent address" });
        if (typeof parent === "string") logger.warn(`not sending logs to viam-server: ${parent}`);
        else sink.connect(parent);
      }
      return Promise.resolve({
        ready: true,
        handlermap: {
          handlers: MIRROR_APIS.map((api) => ({
            subtype: {
              subtype: { namespace: "rdk", type: api.type, subtype: "generic" },
              protoService: api.service.typeName,
            },
            models: [MIRROR_MODEL],
          })),
        },
        webrtcAnswer: "",
      });
    },
  );

  router.rpc(
    VIAM_SERVICES.module,
    methods.validateConfig,
    async (request: AnyMessage): Promise<PartialMessage<AnyMessage>> => {
      const resource = _readConfig(request);
      const fullName = `${resource.api}/${resource.name}`;
      const resourceLogger = sink.logger(fullName, resource.logLevel);
      for (const warning of await validate(fullName, resource)) resourceLogger.warn(warning);
      return { dependencies: [], optionalDependencies: [] };
    },
  );

  router.rpc(
    VIAM_SERVICES.module,
    methods.addResource,
    (request: AnyMessage) => start(request, "started"),
  );

  router.rpc(
    VIAM_SERVICES.module,
    methods.reconfigureResource,
    (request: AnyMessage): Promise<PartialMessage<AnyMessage>> => {
      const resource = _readConfig(request);
      // One being reconfigured already is reconfigured again after it (changes run in order).
      if (
        (table.get(resource.api, resource.name) === undefined &&
          !table.isReplacing(resource.api, resource.name)) ||
        table.isBeingRemoved(resource.api, resource.name)
      ) {
        throw _notRunning(resource);
      }
      // Checked again when its turn comes (a removal may overtake its validation): see `put`.
      return start(request, "reconfigured");
    },
  );

  router.rpc(
    VIAM_SERVICES.module,
    methods.removeResource,
    async (request: AnyMessage): Promise<PartialMessage<AnyMessage>> => {
      const fullName = String(request.name ?? "");
      let removed: boolean;
      try {
        removed = await table.remove(fullName);
      } catch (error) {
        throw new ConnectError(
          redactor.scrub(`stopping ${fullName} failed: ${describeError(error)}`),
          Code.Internal,
        );
      }
      if (!removed) {
        throw new ConnectError(`no resource named "${fullName}" in this module`, Code.NotFound);
      }
      logger.info(`stopped ${fullName}`);
      return {};
    },
  );
}

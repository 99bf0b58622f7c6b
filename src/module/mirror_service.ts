/**
 * The mirror's resource API as viam-server calls it: DoCommand (`sync`, `status`, `dry_run`, `push`),
 * GetStatus, and GetGeometries where the API has it.
 *
 * @module
 */
import { describeError, isAbortError, PassCancelledError } from "../remote/errors.ts";
import { type AnyMessage, type JsonValue, type PartialMessage, Struct } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { CommandRefusedError, type MirrorController } from "../mirror_controller.ts";
import { MIRROR_APIS, type MirrorApi } from "./mirror_model.ts";
import type { ResourceTable } from "./resource_table.ts";
import type { SecretRedactor } from "../redaction.ts";
import type { Summary } from "../sync/summary.ts";

/** What the mirror's resource APIs answer from. */
export interface MirrorServiceOptions {
  /** The running resources. */
  table: ResourceTable;
  /** Scrubs secrets from every result and error. */
  redactor: SecretRedactor;
}

// DoCommand's commands, in the order error messages list them.
const _COMMANDS: Record<string, (controller: MirrorController) => Promise<unknown>> = {
  sync: (controller) => controller.syncNow(),
  status: (controller) => Promise.resolve(controller.status()),
  dry_run: (controller) => controller.dryRun(),
  push: (controller) => controller.pushNow(),
};

/**
 * Registers DoCommand and GetStatus on both `viam.service.generic.v1.GenericService` and
 * `viam.component.generic.v1.GenericService`, plus GetGeometries (always empty) on the component.
 * Calls are routed by the short resource name within their API; an unknown name is NOT_FOUND, one
 * being reconfigured (its old loop stopped, its new one not started yet) ABORTED.
 * DoCommand `{"command": "sync"}` runs a pass now (or joins the one in flight) and returns its
 * summary, `"status"` the mirror's status, `"dry_run"` what a pass would do, `"push"` runs an
 * upload pass of the push folder now and returns its counts (FAILED_PRECONDITION without a
 * `push_path`); anything else is INVALID_ARGUMENT listing the known commands, and so is a known
 * command with any other key (none takes an argument). Calls never wait for each other.
 */
export function registerMirrorService(router: ConnectRouter, options: MirrorServiceOptions): void {
  const { table, redactor } = options;

  const find = (api: MirrorApi, request: AnyMessage): MirrorController => {
    const name = String(request.name ?? "");
    const controller = table.get(api.api, name);
    if (controller === undefined && table.isReplacing(api.api, name)) {
      throw new ConnectError(
        `${api.api} ${name} is being reconfigured: try again once it runs again`,
        Code.Aborted,
      );
    }
    if (controller === undefined) {
      throw new ConnectError(
        `no ${api.api} resource named "${name}" in this module`,
        Code.NotFound,
      );
    }
    return controller;
  };
  // Results leave the module: secrets are scrubbed, and undefined fields dropped (Struct has none).
  const toStruct = (value: unknown): Struct =>
    Struct.fromJson(JSON.parse(JSON.stringify(redactor.scrubJson(value) ?? {})) as JsonValue);

  for (const api of MIRROR_APIS) {
    const { methods } = api.service;
    router.rpc(
      api.service,
      methods.doCommand,
      async (request: AnyMessage): Promise<PartialMessage<AnyMessage>> => {
        const controller = find(api, request);
        const command = (request.command as Struct | undefined)?.toJson() as
          | Record<string, JsonValue>
          | undefined;
        const name = command?.command;
        const known = Object.keys(_COMMANDS).join(", ");
        if (typeof name !== "string" || !Object.hasOwn(_COMMANDS, name)) {
          const what = name === undefined
            ? 'the command has no "command" key'
            : `unknown command ${JSON.stringify(name)}`;
          throw new ConnectError(`${what}; known commands: ${known}`, Code.InvalidArgument);
        }
        // No command takes an argument: one ignored would change what runs unseen (`"dry_run":
        // true` beside `sync` ran a pass that deleted).
        const extra = Object.keys(command ?? {}).filter((key) => key !== "command");
        if (extra.length > 0) {
          const asCommand = extra.find((key) => Object.hasOwn(_COMMANDS, key));
          throw new ConnectError(
            `${name} takes no other key than "command"; got ${
              extra.map((key) => JSON.stringify(key)).join(", ")
            }${asCommand === undefined ? "" : ` (for that, send {"command": "${asCommand}"})`}`,
            Code.InvalidArgument,
          );
        }
        try {
          return { result: toStruct(await _COMMANDS[name](controller)) };
        } catch (error) {
          if (error instanceof CommandRefusedError) {
            const code = error.reason === "stopped" ? Code.Aborted : Code.FailedPrecondition;
            throw new ConnectError(`${name} refused: ${error.message}`, code);
          }
          // Cut off by the resource's removal or reconfiguration: ABORTED, whatever the command.
          if (isAbortError(error) && !(error instanceof PassCancelledError)) {
            throw new ConnectError(`${name} cut off: the mirror was stopped`, Code.Aborted);
          }
          const done = error instanceof PassCancelledError
            ? (error.result as { summary?: Summary } | undefined)?.summary
            : undefined;
          // A cut pass may have deleted files already: the caller is told how many.
          const doneBy = done === undefined
            ? ""
            : `; by then ${done.downloaded} downloaded, ${done.deleted} deleted, ${done.failed} failed`;
          throw new ConnectError(
            redactor.scrub(`${name} failed: ${describeError(error)}${doneBy}`),
            error instanceof PassCancelledError ? Code.Aborted : Code.Internal,
          );
        }
      },
    );
    router.rpc(
      api.service,
      methods.getStatus,
      (request: AnyMessage): Promise<PartialMessage<AnyMessage>> =>
        Promise.resolve({ result: toStruct(find(api, request).status()) }),
    );
    if (methods.getGeometries !== undefined) {
      router.rpc(
        api.service,
        methods.getGeometries,
        (request: AnyMessage): Promise<PartialMessage<AnyMessage>> => {
          find(api, request);
          // A mirror has no physical extent.
          return Promise.resolve({ geometries: [] });
        },
      );
    }
  }
}

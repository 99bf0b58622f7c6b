import assert from "node:assert/strict";
import type { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import {
  createRegistryFromDescriptors,
  FileDescriptorProto,
  FileDescriptorSet,
} from "@bufbuild/protobuf";
import { pollUntil } from "../_poll.ts";
import { startModule } from "../../src/module/module_server.ts";
import type { FakeMirror } from "./_fake_mirror.ts";
import { emptySummary } from "../../src/sync/summary.ts";
import { fakeValidate, SECRET_KEY, TRANSPORTS, withModule } from "./_harness.ts";
import { CLIENT_PREFACE, encodeFrame, FRAME, type FrameLog, readFrames } from "./_raw_http2.ts";
import {
  componentConfig,
  fromStruct,
  splitHostPort,
  toStruct,
  ViamClient,
  waitForSocket,
} from "./_viam_client.ts";

const SERVICE_API = "rdk:service:generic";
const COMPONENT_API = "rdk:component:generic";

function _files(response: Record<string, unknown>): FileDescriptorProto[] {
  const answer = response.file_descriptor_response as { file_descriptor_proto: Buffer[] } | null;
  assert.ok(answer, `expected files, got ${JSON.stringify(response.error_response)}`);
  return answer.file_descriptor_proto.map((bytes) =>
    FileDescriptorProto.fromBinary(new Uint8Array(bytes))
  );
}

// Imports before importers, as createRegistryFromDescriptors needs them (reflection answers the
// asked-for file first); throws on an import that is not in the list.
function _dependencyOrder(files: FileDescriptorProto[]): FileDescriptorProto[] {
  const byName = new Map(files.map((file) => [file.name, file]));
  const ordered: FileDescriptorProto[] = [];
  const visit = (name: string) => {
    const file = byName.get(name);
    if (file === undefined) throw new Error(`import ${name} was not returned`);
    if (ordered.includes(file)) return;
    file.dependency.forEach(visit);
    ordered.push(file);
  };
  files.forEach((file) => visit(file.name ?? ""));
  return ordered;
}

async function _add(client: ViamClient, name: string, api: string): Promise<void> {
  await client.call(client.module, "AddResource", {
    config: componentConfig(name, api, { app_api_key: SECRET_KEY, tags: ["a"] }),
  });
}

async function _command(
  client: ViamClient,
  target: grpc.Client,
  name: string,
  command: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const response = await client.call(target, "DoCommand", { name, command: toStruct(command) });
  return fromStruct(response.result);
}

Deno.test("module: the socket is group-writable and Ready lists both generic APIs", async () => {
  await withModule(async ({ client, address }) => {
    assert.equal((await Deno.lstat(address)).mode! & 0o777, 0o770);
    const response = await client.ready({ raw_parent_address: "", parent_address: "" });
    assert.equal(response.ready, true);
    const { handlers } = response.handlermap as {
      handlers: {
        models: string[];
        subtype: { subtype: Record<string, string>; proto_service: string };
      }[];
    };
    assert.deepEqual(
      handlers.map((handler) => ({
        models: handler.models,
        namespace: handler.subtype.subtype.namespace,
        type: handler.subtype.subtype.type,
        subtype: handler.subtype.subtype.subtype,
        protoService: handler.subtype.proto_service,
      })),
      [
        {
          models: ["viam-soleng:data:mirror"],
          namespace: "rdk",
          type: "service",
          subtype: "generic",
          protoService: "viam.service.generic.v1.GenericService",
        },
        {
          models: ["viam-soleng:data:mirror"],
          namespace: "rdk",
          type: "component",
          subtype: "generic",
          protoService: "viam.component.generic.v1.GenericService",
        },
      ],
    );
  });
});

Deno.test("module: reflection resolves each handler's proto_service to a complete descriptor", async () => {
  await withModule(async ({ client }) => {
    const ready = await client.ready();
    const services = (ready.handlermap as { handlers: { subtype: { proto_service: string } }[] })
      .handlers.map((handler) => handler.subtype.proto_service);
    for (const reflection of [client.reflection, client.reflectionV1]) {
      const responses = await client.reflect(
        services.map((service) => ({ file_containing_symbol: service })),
        reflection,
      );
      assert.equal(responses.length, services.length);
      for (const [i, response] of responses.entries()) {
        const files = _files(response);
        const names = new Set(files.map((file) => file.name));
        assert.equal(
          files[0].service.some((s) => `${files[0].package}.${s.name}` === services[i]),
          true,
        );
        for (const file of files) {
          for (const dependency of file.dependency) {
            assert.ok(names.has(dependency), `${file.name} imports ${dependency}, not returned`);
          }
        }
        // Every type the service's methods use resolves from the returned files alone (building
        // a registry throws on any unresolved reference, as the defining file alone shows).
        assert.throws(() =>
          createRegistryFromDescriptors(new FileDescriptorSet({ file: [files[0]] }))
        );
        const registry = createRegistryFromDescriptors(
          new FileDescriptorSet({ file: _dependencyOrder(files) }),
        );
        const service = registry.findService(services[i]);
        assert.ok(service);
        assert.deepEqual(
          Object.values(service.methods).map((m) => `${m.name}(${m.I.typeName})`).slice(0, 2),
          [
            "DoCommand(viam.common.v1.DoCommandRequest)",
            "GetStatus(viam.common.v1.GetStatusRequest)",
          ],
        );
      }
    }
  });
});

Deno.test("module: reflection answers list_services, file_by_filename, methods and unknown names", async () => {
  await withModule(async ({ client }) => {
    const [list, byName, method, missingSymbol, missingFile, extension] = await client.reflect([
      { list_services: "" },
      { file_by_filename: "common/v1/common.proto" },
      { file_containing_symbol: "viam.module.v1.ModuleService.Ready" },
      { file_containing_symbol: "viam.nothing.v1.Nothing" },
      { file_by_filename: "nothing.proto" },
      {
        file_containing_extension: {
          containing_type: "google.protobuf.MethodOptions",
          extension_number: 72295728,
        },
      },
    ]);
    assert.deepEqual(
      (list.list_services_response as { service: { name: string }[] }).service.map((s) => s.name)
        .sort(),
      [
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "viam.component.generic.v1.GenericService",
        "viam.module.v1.ModuleService",
        "viam.service.generic.v1.GenericService",
      ],
    );
    assert.deepEqual(_files(byName).map((file) => file.name), [
      "common/v1/common.proto",
      "google/protobuf/descriptor.proto",
      "google/protobuf/struct.proto",
      "google/protobuf/timestamp.proto",
    ]);
    assert.equal(_files(method)[0].name, "module/v1/module.proto");
    assert.deepEqual(missingSymbol.error_response, {
      error_code: grpc.status.NOT_FOUND,
      error_message: "symbol not found: viam.nothing.v1.Nothing",
    });
    assert.equal(
      (missingFile.error_response as { error_code: number }).error_code,
      grpc.status.NOT_FOUND,
    );
    // google.api.http, the annotation the generic services' methods carry.
    assert.equal(_files(extension)[0].name, "google/api/annotations.proto");
  });
});

Deno.test("module: ValidateConfig rejects a bad config naming the attribute, and logs warnings", async () => {
  await withModule(async ({ client, lines }) => {
    const missingKey = await client.callError(client.module, "ValidateConfig", {
      config: componentConfig("mirror1", SERVICE_API, { sync_frequency: 5 }),
    });
    assert.equal(missingKey.code, grpc.status.INVALID_ARGUMENT);
    assert.match(missingKey.details, /rdk:service:generic\/mirror1: app_api_key: required/);

    const wrongApi = await client.callError(client.module, "ValidateConfig", {
      config: componentConfig("mirror1", "rdk:component:camera", { app_api_key: SECRET_KEY }),
    });
    assert.equal(wrongApi.code, grpc.status.INVALID_ARGUMENT);
    assert.match(wrongApi.details, /config\.api "rdk:component:camera"/);
    // An older viam-server's request, by the deprecated namespace and type only: said so.
    const deprecated = await client.callError(client.module, "ValidateConfig", {
      config: {
        ...componentConfig("mirror1", "", { app_api_key: SECRET_KEY }),
        namespace: "rdk",
        type: "generic",
      },
    });
    assert.equal(deprecated.code, grpc.status.INVALID_ARGUMENT);
    assert.match(deprecated.details, /deprecated namespace "rdk" and type "generic".*upgrade/);

    const good = await client.call(client.module, "ValidateConfig", {
      config: componentConfig("mirror1", COMPONENT_API, { app_api_key: SECRET_KEY }),
    });
    assert.deepEqual(good, { dependencies: [], optional_dependencies: [] });
    assert.ok(
      lines.some(({ line, level }) =>
        level === "warn" && line.includes("rdk:component:generic/mirror1") &&
        line.includes("every file the key can read is mirrored")
      ),
    );
  });
});

Deno.test("module: an attribute JSON cannot hold (NaN, no value) is INVALID_ARGUMENT naming it", async () => {
  await withModule(async ({ client }) => {
    const nan = await client.callError(client.module, "ValidateConfig", {
      config: componentConfig("mirror1", SERVICE_API, { app_api_key: SECRET_KEY, max_age: NaN }),
    });
    assert.equal(nan.code, grpc.status.INVALID_ARGUMENT);
    assert.match(nan.details, /^attribute "max_age" holds a value JSON cannot/);
    const config = componentConfig("mirror1", SERVICE_API, { app_api_key: SECRET_KEY });
    const empty = await client.callError(client.module, "AddResource", {
      config: { ...config, attributes: { fields: [{ key: "tags", value: {} }] } },
    });
    assert.equal(empty.code, grpc.status.INVALID_ARGUMENT);
    assert.match(empty.details, /^attribute "tags" holds a value JSON cannot/);
  });
});

Deno.test("module: DoCommand sync, status and dry_run, GetStatus and GetGeometries on both APIs", async () => {
  await withModule(async ({ client, mirror }) => {
    await client.ready();
    // One short name under both APIs: two separate resources.
    await _add(client, "mirror1", SERVICE_API);
    await _add(client, "mirror1", COMPONENT_API);
    for (
      const [target, api] of [[client.service, SERVICE_API], [
        client.component,
        COMPONENT_API,
      ]] as const
    ) {
      assert.deepEqual(await _command(client, target, "mirror1", { command: "sync" }), {
        listed: 5,
        downloaded: 2,
        skipped: 0,
        duplicate: 0,
        rejected: 0,
        deleted: 0,
        failed: 0,
        bytes: 4096,
        durationMs: 0,
      });
      assert.equal(mirror(`${api}/mirror1`).passes, 1);
      assert.deepEqual(await _command(client, target, "mirror1", { command: "status" }), {
        state: "idle",
        passes: 1,
        consecutiveFailures: 0,
      });
      const report = await _command(client, target, "mirror1", { command: "dry_run" });
      assert.equal(report.downloadCount, 2);
      assert.deepEqual(report.downloads, ["a.jpg", "b/c.png"]);
      const status = await client.call(target, "GetStatus", { name: "mirror1" });
      assert.equal(fromStruct(status.result).state, "idle");
    }
    const geometries = await client.call(client.component, "GetGeometries", { name: "mirror1" });
    assert.deepEqual(geometries.geometries, []);
  });
});

Deno.test("module: a request over 4 MiB is refused as it begins, and the module serves on", async () => {
  await withModule(async ({ client }) => {
    await _add(client, "mirror1", SERVICE_API);
    const huge = await client.callError(client.service, "DoCommand", {
      name: "mirror1",
      command: toStruct({ command: "status", padding: "x".repeat(5 * 1024 * 1024) }),
    });
    assert.equal(huge.code, grpc.status.RESOURCE_EXHAUSTED, huge.details);
    assert.match(huge.details, /larger than .*4194304/);
    const status = await _command(client, client.service, "mirror1", { command: "status" });
    assert.equal(typeof status.state, "string");
  });
});

Deno.test("module: unknown commands are INVALID_ARGUMENT, unknown names NOT_FOUND", async () => {
  await withModule(async ({ client }) => {
    await _add(client, "mirror1", SERVICE_API);
    const unknown = await client.callError(client.service, "DoCommand", {
      name: "mirror1",
      command: toStruct({ command: "explode" }),
    });
    assert.equal(unknown.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(
      unknown.details,
      'unknown command "explode"; known commands: sync, status, dry_run, push',
    );
    const missing = await client.callError(client.service, "DoCommand", {
      name: "mirror1",
      command: toStruct({}),
    });
    assert.equal(missing.code, grpc.status.INVALID_ARGUMENT);
    assert.match(missing.details, /no "command" key; known commands: sync, status, dry_run/);
    // An argument no command takes is refused, not ignored: this would have run a real pass.
    const argument = await client.callError(client.service, "DoCommand", {
      name: "mirror1",
      command: toStruct({ command: "sync", dry_run: true }),
    });
    assert.equal(argument.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(
      argument.details,
      'sync takes no other key than "command"; got "dry_run" (for that, send {"command": "dry_run"})',
    );
    const extra = await client.callError(client.service, "DoCommand", {
      name: "mirror1",
      command: toStruct({ command: "status", verbose: true, x: 1 }),
    });
    assert.equal(extra.details, 'status takes no other key than "command"; got "verbose", "x"');

    for (
      const [target, method] of [
        [client.service, "GetStatus"],
        [client.component, "GetStatus"], // mirror1 exists only as a service
        [client.component, "GetGeometries"],
      ] as const
    ) {
      const error = await client.callError(target, method, { name: "mirror1x" });
      assert.equal(error.code, grpc.status.NOT_FOUND);
    }
    const wrongApi = await client.callError(client.component, "DoCommand", {
      name: "mirror1",
      command: toStruct({ command: "status" }),
    });
    assert.equal(wrongApi.code, grpc.status.NOT_FOUND);
    assert.match(wrongApi.details, /no rdk:component:generic resource named "mirror1"/);
  });
});

Deno.test("module: an error of any length is answered, cut, and the connection serves on", async () => {
  await withModule(async ({ client }) => {
    await _add(client, "mirror1", SERVICE_API);
    // As the grpc-message trailer, a message over 64 KB reset the stream and the connection.
    // Cut inside a surrogate pair (the emoji after 17 characters), a lone half was left, which
    // connect could not percent-encode: the call was never answered.
    for (const command of ["x".repeat(100_000), "é".repeat(100_000), "😀".repeat(20_000)]) {
      const long = await client.callError(client.service, "DoCommand", {
        name: "mirror1",
        command: toStruct({ command }),
      });
      assert.equal(long.code, grpc.status.INVALID_ARGUMENT, long.details.slice(0, 200));
      assert.match(long.details, /^unknown command "[^"]+… \(\d+ more characters not shown\)$/);
      assert.ok(new TextEncoder().encode(long.details).length <= 16 * 1024);
    }
    const longName = await client.callError(client.service, "GetStatus", {
      name: "m".repeat(100_000),
    });
    assert.equal(longName.code, grpc.status.NOT_FOUND);
    assert.match(longName.details, /^no rdk:service:generic resource named "m+… \(/);
    // The key pasted as a command name is not echoed.
    const key = await client.callError(client.service, "DoCommand", {
      name: "mirror1",
      command: toStruct({ command: SECRET_KEY }),
    });
    assert.equal(
      key.details,
      'unknown command "[redacted]"; known commands: sync, status, dry_run, push',
    );
    // The same connection answers on.
    const status = await _command(client, client.service, "mirror1", { command: "status" });
    assert.equal(typeof status.state, "string");
  });
});

Deno.test("module: a dry run cut off by the mirror's stop is ABORTED, as a cut sync is", async () => {
  await withModule(async ({ client }) => {
    await _add(client, "mirror1", SERVICE_API);
    const cut = await client.callError(client.service, "DoCommand", {
      name: "mirror1",
      command: toStruct({ command: "dry_run" }),
    });
    assert.equal(cut.code, grpc.status.ABORTED);
    assert.equal(cut.details, "dry_run cut off: the mirror was stopped");
  }, { mirror: { dryRunAborted: true } });
});

Deno.test("module: a sync cut off by the mirror's stop is ABORTED and says what it had done", async () => {
  await withModule(async ({ client }) => {
    await _add(client, "mirror1", SERVICE_API);
    const cut = await client.callError(client.service, "DoCommand", {
      name: "mirror1",
      command: toStruct({ command: "sync" }),
    });
    assert.equal(cut.code, grpc.status.ABORTED);
    assert.equal(
      cut.details,
      "sync failed: the mirror was stopped during the pass; partial downloads stay in staging " +
        "and resume; by then 3 downloaded, 816 deleted, 1 failed",
    );
  }, {
    mirror: {
      syncCutAfter: { ...emptySummary(), listed: 10, downloaded: 3, deleted: 816, failed: 1 },
    },
  });
});

Deno.test("module: RemoveResource stops the mirror; ReconfigureResource replaces it", async () => {
  await withModule(async ({ client, created, mirror }) => {
    await _add(client, "mirror1", SERVICE_API);
    const first = mirror(`${SERVICE_API}/mirror1`);
    await client.call(client.module, "ReconfigureResource", {
      config: componentConfig("mirror1", SERVICE_API, { app_api_key: SECRET_KEY, tags: ["b"] }),
    });
    assert.equal(first.stopped, true);
    assert.equal(created.length, 2);
    assert.deepEqual(created[1].resource.attributes, { app_api_key: SECRET_KEY, tags: ["b"] });
    const second = mirror(`${SERVICE_API}/mirror1`);
    assert.equal(second.stopped, false);

    await client.call(client.module, "RemoveResource", { name: `${SERVICE_API}/mirror1` });
    assert.equal(second.stopped, true);
    const gone = await client.callError(client.service, "GetStatus", { name: "mirror1" });
    assert.equal(gone.code, grpc.status.NOT_FOUND);
    const again = await client.callError(client.module, "RemoveResource", {
      name: `${SERVICE_API}/mirror1`,
    });
    assert.equal(again.code, grpc.status.NOT_FOUND);
    const notRunning = await client.callError(client.module, "ReconfigureResource", {
      config: componentConfig("mirror2", SERVICE_API, { app_api_key: SECRET_KEY }),
    });
    assert.equal(notRunning.code, grpc.status.NOT_FOUND);
  });
});

/**
 * The harness's validator, except that the check of a config whose only tag is `tag` waits until
 * `release` is called (`entered` resolves as it begins): a check that takes a while.
 */
function _validateHolding(tag: string) {
  const entered = Promise.withResolvers<void>();
  const released = Promise.withResolvers<void>();
  const validate = async (attributes: Record<string, unknown>) => {
    if (JSON.stringify(attributes.tags) === JSON.stringify([tag])) {
      entered.resolve();
      await released.promise;
    }
    return fakeValidate(attributes);
  };
  return { validate, entered: entered.promise, release: () => released.resolve() };
}

/**
 * `mirror1` (under the service API) runs no more, and its name is free again: adding it starts a
 * mirror as usual (one more in `created`).
 */
async function _assertFreeAgain(client: ViamClient, created: readonly unknown[]): Promise<void> {
  const gone = await client.callError(client.service, "GetStatus", { name: "mirror1" });
  assert.equal(gone.code, grpc.status.NOT_FOUND);
  const before = created.length;
  await _add(client, "mirror1", SERVICE_API);
  assert.equal(created.length, before + 1);
}

Deno.test("module: a removal (and an addition) that overtakes a reconfiguration's check is not undone by it", async (t) => {
  for (const addedAgain of [false, true]) {
    await t.step(addedAgain ? "removed and added again" : "removed", async () => {
      const { validate, entered, release } = _validateHolding("slow");
      await withModule(async ({ client, created, mirror }) => {
        await _add(client, "mirror1", SERVICE_API);
        const reconfiguring = client.callError(client.module, "ReconfigureResource", {
          config: componentConfig("mirror1", SERVICE_API, {
            app_api_key: SECRET_KEY,
            tags: ["slow"],
          }),
        });
        await entered;
        await client.call(client.module, "RemoveResource", { name: `${SERVICE_API}/mirror1` });
        if (addedAgain) await _add(client, "mirror1", SERVICE_API);
        release();
        const refused = await reconfiguring;
        assert.equal(refused.code, grpc.status.NOT_FOUND);
        assert.match(
          refused.details,
          /cannot reconfigure rdk:service:generic\/mirror1: it is not running/,
        );
        assert.equal(created.length, addedAgain ? 2 : 1, "a mirror made for the new configuration");
        if (addedAgain) {
          assert.equal(mirror(`${SERVICE_API}/mirror1`).stopped, false, "the one added again");
          return;
        }
        await _assertFreeAgain(client, created);
      }, { validate });
    });
  }
});

Deno.test("module: a removal that comes while an addition is checked is done, and the addition starts nothing", async () => {
  const { validate, entered, release } = _validateHolding("slow");
  await withModule(async ({ client, created }) => {
    const adding = client.callError(client.module, "AddResource", {
      config: componentConfig("mirror1", SERVICE_API, { app_api_key: SECRET_KEY, tags: ["slow"] }),
    });
    await entered;
    // viam-server gave up on the addition (its deadline passed) and removes the resource.
    await client.call(client.module, "RemoveResource", { name: `${SERVICE_API}/mirror1` });
    release();
    const refused = await adding;
    assert.equal(refused.code, grpc.status.ABORTED);
    assert.match(
      refused.details,
      /rdk:service:generic\/mirror1 was not started: it was removed while this configuration was checked/,
    );
    assert.equal(created.length, 0, "a mirror left running that viam-server believes removed");
    await _assertFreeAgain(client, created);
  }, { validate });
});

Deno.test("module: a reconfiguration that comes while a removal waits its turn is NOT_FOUND at once", async () => {
  await withModule(async ({ client, created }) => {
    await _add(client, "mirror1", SERVICE_API);
    const reconfigure = (tags: string[]) =>
      client.callError(client.module, "ReconfigureResource", {
        config: componentConfig("mirror1", SERVICE_API, { app_api_key: SECRET_KEY, tags }),
      });
    // A reconfiguration whose old mirror never stops holds the resource's changes; a removal
    // waits behind it (neither is awaited here).
    void reconfigure(["b"]);
    await pollUntil("the old mirror is being stopped", () => created[0].mirror.stopped);
    void client.callError(client.module, "RemoveResource", { name: `${SERVICE_API}/mirror1` });
    // Sent on the same connection, the calls arrive in order; the pause is a margin only.
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Let in behind the removal, it would replace what a later AddResource makes.
    const refused = await Promise.race([
      reconfigure(["c"]),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("not answered: queued behind the removal")), 2_000)
      ),
    ]);
    assert.equal(refused.code, grpc.status.NOT_FOUND);
    assert.equal(created.length, 1, "no mirror made for it");
  }, { mirror: { hangOnStop: true }, stopTimeoutMs: 100 });
});

Deno.test("module: of two reconfigurations, the one sent last runs, whichever is checked first", async () => {
  const { validate, entered, release } = _validateHolding("older");
  await withModule(async ({ client, created }) => {
    await _add(client, "mirror1", SERVICE_API);
    const reconfigure = (tags: string[]) =>
      client.callError(client.module, "ReconfigureResource", {
        config: componentConfig("mirror1", SERVICE_API, { app_api_key: SECRET_KEY, tags }),
      });
    const older = reconfigure(["older"]);
    await entered;
    await client.call(client.module, "ReconfigureResource", {
      config: componentConfig("mirror1", SERVICE_API, { app_api_key: SECRET_KEY, tags: ["newer"] }),
    });
    release();
    const superseded = await older;
    assert.equal(superseded.code, grpc.status.ABORTED);
    assert.match(superseded.details, /one sent after it was applied first/);
    assert.deepEqual(created.map(({ resource }) => resource.attributes.tags).slice(1), [["newer"]]);
    assert.equal(created[1].mirror.stopped, false);
  }, { validate });
});

Deno.test("module: a refused reconfiguration says the resource runs on with its previous configuration", async () => {
  await withModule(async ({ client, mirror }) => {
    await _add(client, "mirror1", SERVICE_API);
    const running = mirror(`${SERVICE_API}/mirror1`);
    const refused = await client.callError(client.module, "ReconfigureResource", {
      config: componentConfig("mirror1", SERVICE_API, {
        app_api_key: SECRET_KEY,
        tags: ["a"],
        sync_frequency: "often",
      }),
    });
    assert.equal(refused.code, grpc.status.INVALID_ARGUMENT);
    assert.match(refused.details, /sync_frequency/);
    assert.match(refused.details, /it runs on with its previous configuration$/);
    assert.equal(running.stopped, false);
    // A resource not running yet is refused without that note.
    const added = await client.callError(client.module, "AddResource", {
      config: componentConfig("mirror2", SERVICE_API, {
        app_api_key: SECRET_KEY,
        sync_frequency: "x",
      }),
    });
    assert.equal(added.code, grpc.status.INVALID_ARGUMENT);
    assert.doesNotMatch(added.details, /previous configuration/);
  });
});

Deno.test("module: the server keeps answering while a slow sync runs, and syncs join", async () => {
  await withModule(async ({ client, mirror }) => {
    await client.ready();
    await _add(client, "mirror1", SERVICE_API);
    const slow = mirror(`${SERVICE_API}/mirror1`);
    const firstSync = _command(client, client.service, "mirror1", { command: "sync" });
    await slow.passInFlight();
    const secondSync = _command(client, client.service, "mirror1", { command: "sync" });

    assert.equal((await client.ready()).ready, true);
    const status = await _command(client, client.service, "mirror1", { command: "status" });
    assert.equal(status.state, "syncing");
    await _add(client, "mirror2", COMPONENT_API);
    assert.equal(
      fromStruct((await client.call(client.component, "GetStatus", { name: "mirror2" })).result)
        .state,
      "idle",
    );

    slow.release();
    const [first, second] = await Promise.all([firstSync, secondSync]);
    assert.equal(first.downloaded, 2);
    assert.deepEqual(second, first);
    assert.equal(slow.passes, 1);
  }, { mirror: { holdPasses: true } });
});

for (const transport of TRANSPORTS) {
  Deno.test(`module (${transport}): log entries reach the parent one per call, named after the resource`, async () => {
    await withModule(async ({ client, parent, mirror, lines }) => {
      await client.ready({ raw_parent_address: parent.address });
      await _add(client, "mirror1", COMPONENT_API);
      const { logger } = mirror(`${COMPONENT_API}/mirror1`);
      logger.debug("below the threshold");
      logger.info("pass finished", { downloaded: 2, path: "a b.jpg" });
      logger.error("pass failed");
      await parent.received(3);
      assert.ok(parent.calls.every((logs) => logs.length === 1));
      assert.deepEqual(
        parent.entries.map(({ level, logger_name, message }) => ({ level, logger_name, message })),
        [
          {
            level: "info",
            logger_name: "data-mirror",
            message: "started rdk:component:generic/mirror1",
          },
          {
            level: "info",
            logger_name: "rdk:component:generic/mirror1",
            message: 'pass finished downloaded=2 path="a b.jpg"',
          },
          { level: "error", logger_name: "rdk:component:generic/mirror1", message: "pass failed" },
        ],
      );
      assert.ok(parent.entries.every((entry) => Number(entry.time?.seconds) > 0));
      assert.ok(!lines.some(({ line }) => line.includes("pass finished")));
    }, { transport });
  });
}

Deno.test("module: a resource's own log level (log_configuration, set in the app) rules its logger", async () => {
  await withModule(async ({ client, parent, mirror }) => {
    await client.ready({ raw_parent_address: parent.address });
    await client.call(client.module, "AddResource", {
      config: {
        ...componentConfig("chatty", COMPONENT_API, { app_api_key: SECRET_KEY, tags: ["a"] }),
        log_configuration: { level: "Debug" },
      },
    });
    await client.call(client.module, "AddResource", {
      config: {
        ...componentConfig("quiet", COMPONENT_API, { app_api_key: SECRET_KEY, tags: ["b"] }),
        log_configuration: { level: "warning" },
      },
    });
    await _add(client, "plain", COMPONENT_API);
    for (const name of ["chatty", "quiet", "plain"]) {
      const { logger } = mirror(`${COMPONENT_API}/${name}`);
      logger.debug(`${name} debug`);
      logger.info(`${name} info`);
      logger.warn(`${name} warn`);
    }
    await parent.received(9);
    assert.deepEqual(
      parent.entries.filter(({ logger_name }) => logger_name !== "data-mirror")
        .map(({ message }) => message),
      ["chatty debug", "chatty info", "chatty warn", "quiet warn", "plain info", "plain warn"],
    );
  });
});

Deno.test("module: an older server's unix: parent_address is dialled when raw_parent_address is empty", async () => {
  await withModule(async ({ client, parent }) => {
    await client.ready({ parent_address: `unix://${parent.address}`, raw_parent_address: "" });
    await _add(client, "mirror1", SERVICE_API);
    await parent.received(1);
    assert.equal(parent.entries[0].message, "started rdk:service:generic/mirror1");
  });
});

Deno.test("module: without parent logging the parent is never dialled and lines are printed", async () => {
  await withModule(async ({ client, parent, mirror, lines }) => {
    await client.ready({ raw_parent_address: parent.address });
    await _add(client, "mirror1", SERVICE_API);
    mirror(`${SERVICE_API}/mirror1`).logger.warn("disk almost full");
    mirror(`${SERVICE_API}/mirror1`).logger.debug("details");
    assert.ok(
      lines.some(({ line, level }) =>
        level === "warn" && / WARN rdk:service:generic\/mirror1 disk almost full$/.test(line)
      ),
    );
    assert.ok(lines.some(({ line }) => line.endsWith("details")));
    assert.equal(parent.calls.length, 0);
  }, { parentLogging: false, logLevel: "debug" });
});

Deno.test("module: secrets never appear in logs, errors or status", async () => {
  await withModule(async ({ client, parent, mirror, lines }) => {
    await client.ready({ raw_parent_address: parent.address });
    const badFrequency = await client.callError(client.module, "ValidateConfig", {
      config: componentConfig("mirror1", SERVICE_API, {
        app_api_key: SECRET_KEY,
        sync_frequency: "often",
      }),
    });
    assert.match(badFrequency.details, /sync_frequency: must be a number/);
    await _add(client, "mirror1", SERVICE_API);
    const { logger } = mirror(`${SERVICE_API}/mirror1`);
    logger.info(`connecting with ${SECRET_KEY}`, { app_api_key: SECRET_KEY, key_hint: "abc" });
    logger.error("failed", { token: "tok-123456789" });
    const status = await _command(client, client.service, "mirror1", { command: "status" });
    const getStatus = fromStruct(
      (await client.call(client.service, "GetStatus", { name: "mirror1" })).result,
    );
    const syncError = await client.callError(client.service, "DoCommand", {
      name: "mirror1",
      command: toStruct({ command: "sync" }),
    });
    assert.equal(syncError.code, grpc.status.INTERNAL);
    await parent.received(3);
    const everything = JSON.stringify([
      badFrequency,
      parent.entries,
      lines,
      status,
      getStatus,
      syncError,
    ]);
    assert.ok(everything.includes("[redacted]"));
    assert.ok(!everything.includes(SECRET_KEY));
    assert.ok(!everything.includes("tok-123456789"));
    assert.equal(status.lastError, "auth failed for key [redacted]");
  }, {
    mirror: {
      status: { lastError: `auth failed for key ${SECRET_KEY}` },
      syncError: `the platform refused ${SECRET_KEY}`,
    },
  });
});

Deno.test("module: a stale socket is replaced; anything else at the path is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dm-module-" });
  try {
    // What a SIGKILLed module leaves behind (a clean close would unlink it).
    const stale = `${dir}/stale.sock`;
    const holder = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `Deno.listen({ transport: "unix", path: ${
          JSON.stringify(stale)
        } }); setInterval(() => {}, 1000);`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitForSocket(stale);
    holder.kill("SIGKILL");
    await holder.status;
    assert.ok((await Deno.lstat(stale)).isSocket);
    await withModuleAt(stale);

    const file = `${dir}/file.sock`;
    await Deno.writeTextFile(file, "not a socket");
    await assert.rejects(() => withModuleAt(file), /exists and is not a socket/);
    assert.equal(await Deno.readTextFile(file), "not a socket");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("module: a socket another module serves is left to it; a socket replaced meanwhile is not removed on close", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dm-module-" });
  try {
    // A second module started on the path of a running one took its socket over (calls reached
    // the newcomer) and, on its exit, removed it: the first one served nobody any more.
    const path = `${dir}/m.sock`;
    const first = await _startWithoutMirrors(path);
    const inode = (await Deno.lstat(path)).ino;
    await assert.rejects(() => _startWithoutMirrors(path), /another process serves it/);
    assert.equal((await Deno.lstat(path)).ino, inode, "the first module's socket is in place");
    const client = new ViamClient(path);
    await client.call(client.module, "Ready", {});
    client.close();
    // Whatever replaced the socket is not the module's to remove.
    await Deno.remove(path);
    const other = Deno.listen({ transport: "unix", path });
    await first.close();
    assert.ok((await Deno.lstat(path)).isSocket, "the other socket is left in place");
    other.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("module: a socket path longer than a socket address holds is refused up front, naming it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dm-module-" });
  try {
    const long = `${dir}/${"d".repeat(120 - dir.length)}.sock`;
    await assert.rejects(
      () => withModuleAt(long),
      (error: Error) =>
        error.message.includes(long) && /is 1\d\d bytes, more than the 107/.test(error.message),
    );
    assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing was left in the folder");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("module: the socket is staged beside its path and linked into place: only its path is left while it runs, nothing after", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dm-module-" });
  try {
    // Short and long final names alike (a staging name is some 15 bytes).
    for (const name of ["m.sock", "data-mirror-abcde.sock"]) {
      await withModuleAt(`${dir}/${name}`, () => {
        assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [name]);
        assert.ok(Deno.lstatSync(`${dir}/${name}`).isSocket);
      });
      assert.deepEqual([...Deno.readDirSync(dir)], [], "the socket goes on close");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A module on the unix socket `path` that may not create a mirror (its socket is the test). */
function _startWithoutMirrors(path: string) {
  return startModule({
    address: { kind: "unix", path, from: "the test" },
    logLevel: "error",
    parentLogging: false,
    validate: () => ({ warnings: [] }),
    createMirror: () => {
      throw new Error("no mirror in this test");
    },
    writeLine: () => {},
  });
}

async function withModuleAt(socketPath: string, whileRunning?: () => void): Promise<void> {
  const module = await _startWithoutMirrors(socketPath);
  try {
    whileRunning?.();
  } finally {
    await module.close();
  }
  await assert.rejects(() => Deno.lstat(socketPath), Deno.errors.NotFound);
}

Deno.test("module: close stops every mirror, removes the socket, and does not wait on a hung stop", async () => {
  await withModule(async ({ client, module, address, mirror, lines }) => {
    await _add(client, "mirror1", SERVICE_API);
    await _add(client, "mirror2", COMPONENT_API);
    client.close();
    await module.close();
    assert.equal(mirror(`${SERVICE_API}/mirror1`).stopped, true);
    assert.equal(mirror(`${COMPONENT_API}/mirror2`).stopped, true);
    assert.ok(
      lines.some(({ line }) =>
        line.includes("closing without waiting longer for rdk:service:generic/mirror1")
      ),
    );
    await assert.rejects(() => Deno.lstat(address), Deno.errors.NotFound);
    const another = new ViamClient(address);
    const late = await another.callError(another.module, "Ready", {});
    another.close();
    assert.equal(late.code, grpc.status.UNAVAILABLE);
  }, { mirror: { hangOnStop: true }, stopTimeoutMs: 100 });
});

Deno.test("module: close lets a call in flight answer before it ends the connections", async () => {
  // As with the engine, stopping a mirror ends its pass, whose sync call then answers.
  let held: FakeMirror | undefined;
  await withModule(async ({ client, module, mirror }) => {
    await _add(client, "mirror1", SERVICE_API);
    held = mirror(`${SERVICE_API}/mirror1`);
    const syncing = _command(client, client.service, "mirror1", { command: "sync" });
    await held.passInFlight();
    await module.close();
    assert.equal((await syncing).downloaded, 2);
  }, { mirror: { holdPasses: true, onStop: () => held?.release() } });
});

/** A bare HTTP/2 client on `address` that has sent the preface and its settings. */
async function _rawPeer(address: string): Promise<{ conn: Deno.Conn; frames: FrameLog }> {
  const conn = address.startsWith("/")
    ? await Deno.connect({ transport: "unix", path: address })
    : await Deno.connect(splitHostPort(address));
  await conn.write(CLIENT_PREFACE);
  await conn.write(encodeFrame(FRAME.settings));
  return { conn, frames: readFrames(conn) };
}

// Deno 2.9.6 can crash inside nghttp2 while it sends a GOAWAY (denoland/deno#36788): the module
// ends a connection by closing it, both when the peer goes away and when the module closes.
for (const transport of TRANSPORTS) {
  Deno.test(`module (${transport}): a peer's GOAWAY is answered by the end of the connection, not a GOAWAY`, async () => {
    await withModule(async ({ address, client }) => {
      await client.call(client.module, "Ready", { parent_address: "" });
      // NO_ERROR closes a session, an error code destroys it: two paths in Deno's HTTP/2.
      for (const code of [0x0, 0x2]) {
        const peer = await _rawPeer(address);
        await peer.frames.seen(FRAME.settings);
        const goaway = new Uint8Array(8); // last stream 0, then the error code
        new DataView(goaway.buffer).setUint32(4, code);
        await peer.conn.write(encodeFrame(FRAME.goaway, goaway));
        const types = await peer.frames.ended();
        assert.ok(!types.includes(FRAME.goaway), `code ${code}: the server sent frames ${types}`);
      }
      // The module still serves other connections.
      await client.call(client.module, "Ready", { parent_address: "" });
    }, { transport, parentLogging: false });
  });

  Deno.test(`module (${transport}): close ends open connections without a GOAWAY`, async () => {
    await withModule(async ({ address, module }) => {
      const peer = await _rawPeer(address);
      await peer.frames.seen(FRAME.settings);
      await module.close();
      const types = await peer.frames.ended();
      assert.ok(!types.includes(FRAME.goaway), `the server sent frames of types ${types}`);
    }, { transport, parentLogging: false });
  });
}

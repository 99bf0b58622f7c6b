/**
 * End to end: the real program (its bundle: `main.js`, the narrowing bootstrap, the real sync
 * engine) runs as a process under the production permission flags, started and driven the way
 * viam-server does it, by a gRPC client that is not the module's code (`@grpc/grpc-js`), against
 * the local data platform.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { FileDescriptorProto, FileDescriptorSet } from "@bufbuild/protobuf";
import { productionRunArgs } from "../../scripts/mirror.ts";
import {
  describeDataset,
  type ItemRecord,
  type Platform,
  type PlatformDataset,
  startPlatform,
} from "../support/platform/mod.ts";
import { readTree } from "../sync/_harness.ts";
import { FakeParent } from "./_fake_parent.ts";
import { type ProcessExit, stopProcess, type Transport, TRANSPORTS } from "./_harness.ts";
import {
  type CallError,
  componentConfig,
  freeLoopbackPort,
  fromStruct,
  grpcTarget,
  splitHostPort,
  toStruct,
  ViamClient,
  waitForSocket,
} from "./_viam_client.ts";
import { programBundle } from "../../scripts/program_bundle.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const MAIN = await programBundle();
const SERVICE_API = "rdk:service:generic";
const COMPONENT_API = "rdk:component:generic";
const SERVICE_PROTO = "viam.service.generic.v1.GenericService";
const COMPONENT_PROTO = "viam.component.generic.v1.GenericService";
const MODEL = "viam-soleng:data:mirror";
/** Distinctive, so that any leak of it shows in a plain substring search. */
const API_KEY = { id: "e2e-key-id-4d1c", key: "E2E-SECRET-9f8e7d6c5b4a3210-do-not-leak" };
/** Large enough that only the start pass and the passes a test asks for run. */
const SYNC_FREQUENCY = 3600;
/** Items above this come by uri, so that the slow-body fault can hold a pass. */
const INLINE_LIMIT = 16 * 1024;
/** At {@linkcode SLOW_BYTES_PER_SECOND}, far longer than any test waits. */
const SLOW_ITEM_BYTES = 2 * 1024 * 1024;
const SLOW_BYTES_PER_SECOND = 64 * 1024;
/** What `viam module update-models` sets: the module must not dial viam-server. */
const NO_PARENT = { VIAM_NO_MODULE_PARENT: "true" };

/**
 * Tag `one`: small images, inline. Tag `two`: files under `models/`, one of them (100 kB) by uri.
 * With `slow`, a 2 MiB item tagged `two` and `slow`. Groups are in this order so that shrinking
 * `one` or adding `slow` keeps the other items' ids and times.
 */
function _dataset(options: { oneCount: number; slow: boolean }): PlatformDataset {
  const binary = { mimeType: "application/octet-stream" };
  return describeDataset([
    {
      name: "two",
      count: 3,
      folder: "models",
      tags: ["two"],
      sizeBytes: (i) => i === 0 ? 100_000 : 2_000 + i,
      ...binary,
    },
    { name: "one", count: options.oneCount, folder: "cams/front", tags: ["one"] },
    ...(options.slow
      ? [{
        name: "slow",
        count: 1,
        folder: "models/big",
        tags: ["two", "slow"],
        sizeBytes: SLOW_ITEM_BYTES,
        ...binary,
      }]
      : []),
  ]);
}

/** The platform's items carrying `tag`. */
function _tagged(platform: Platform, tag: string): ItemRecord[] {
  return platform.items().filter((item) => item.tags.includes(tag));
}

/** Mirror attributes pointing at `platform`, with the test's key and a long interval. */
function _attributes(platform: Platform, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    app_url: platform.url,
    app_api_key_id: API_KEY.id,
    app_api_key: API_KEY.key,
    sync_frequency: SYNC_FREQUENCY,
    ...extra,
  };
}

/**
 * Where a test's module lives: a temp dir with the `.viam` home and a dedicated socket dir, and how
 * viam-server reaches it (a unix socket there, or in TCP mode a loopback port).
 */
interface _Paths {
  dir: string;
  viamHome: string;
  socketDir: string;
  transport: Transport;
  /** The module's address: its socket path, or `127.0.0.1:<port>`. */
  address: string;
}

async function _paths(transport: Transport): Promise<_Paths> {
  const dir = await Deno.makeTempDir({ prefix: "dm-e2e-" });
  // viam-server makes a `viam-module-*` dir in the temp dir for the sockets; the bootstrap grants
  // the socket's directory, so it must be a dedicated one (never /tmp itself).
  const socketDir = join(dir, "viam-module-e2e");
  await Deno.mkdir(socketDir);
  return {
    dir,
    viamHome: join(dir, ".viam"),
    socketDir,
    transport,
    address: _newAddress(transport, socketDir, "qwxyz"),
  };
}

/** A fresh module address, as viam-server picks one at every (re)start. */
function _newAddress(transport: Transport, socketDir: string, name: string): string {
  return transport === "unix"
    ? join(socketDir, `data-mirror-${name}.sock`)
    : `127.0.0.1:${freeLoopbackPort()}`;
}

/** viam-server's own endpoint, on the same transport as the module. */
function _startParent(paths: _Paths): Promise<FakeParent> {
  return FakeParent.start(
    paths.transport === "unix" ? join(paths.socketDir, "parent.sock") : "127.0.0.1:0",
  );
}

/** Asserts that nothing is left listening at `address`: the socket file is gone, the port closed. */
async function _assertClosed(address: string): Promise<void> {
  if (address.startsWith("/")) {
    await assert.rejects(() => Deno.lstat(address), Deno.errors.NotFound);
  } else {
    await assert.rejects(() => Deno.connect(splitHostPort(address)), Deno.errors.ConnectionRefused);
  }
}

/** The module process, its output drained while it runs (a full pipe would block it). */
interface _ModuleProcess {
  child: Deno.ChildProcess;
  output: Promise<Deno.CommandOutput>;
}

/** How {@linkcode _spawn} starts the module. */
interface _SpawnOptions {
  /** The address, when not the default one (viam-server picks a new one on every restart). */
  address?: string;
  /** Variables added to the environment. */
  env?: Record<string, string>;
}

// `deno run <production flags> --config deno.json dist/program/main.js <address> --log-level=debug
// [--tcp-mode]`, with the variables viam-server adds to its own environment.
function _spawn(paths: _Paths, options: _SpawnOptions = {}): _ModuleProcess {
  const address = options.address ?? paths.address;
  const child = new Deno.Command(Deno.execPath(), {
    args: productionRunArgs(MAIN, [
      address,
      "--log-level=debug",
      ...(paths.transport === "tcp" ? ["--tcp-mode"] : []),
    ]),
    cwd: ROOT,
    env: {
      VIAM_HOME: paths.viamHome,
      VIAM_MODULE_DATA: join(paths.viamHome, "module-data", "local", "data-mirror"),
      VIAM_MODULE_ADDRESS: address,
      VIAM_MODULE_NAME: "data-mirror",
      // Inherited from viam-server's environment; the address decides, not this (a "false" here
      // once made the module refuse its socket).
      VIAM_TCP_SOCKETS: paths.transport === "tcp" ? "true" : "false",
      ...options.env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return { child, output: child.output() };
}

// SIGTERM, as viam-server stops a module.
function _terminate(module: _ModuleProcess): Promise<ProcessExit> {
  return stopProcess(module.child, { output: module.output, signal: "SIGTERM" });
}

/** The serialized files of one reflection `FileDescriptorResponse` (proto-loader form). */
function _fileBytes(response: Record<string, unknown>): Uint8Array[] {
  const answer = response.file_descriptor_response as { file_descriptor_proto: Buffer[] } | null;
  assert.ok(answer, `reflection answered ${JSON.stringify(response.error_response)}`);
  return answer.file_descriptor_proto.map((bytes) => new Uint8Array(bytes));
}

/**
 * Resolves `service` through reflection v1alpha as viam-server does: the file containing the
 * symbol, then, by file name, any import not returned yet. Returns the files by name; an import
 * that reflection cannot supply fails the test.
 */
async function _reflectService(
  client: ViamClient,
  service: string,
): Promise<Map<string, FileDescriptorProto>> {
  const files = new Map<string, FileDescriptorProto>();
  const add = (response: Record<string, unknown>) => {
    for (const bytes of _fileBytes(response)) {
      const file = FileDescriptorProto.fromBinary(bytes);
      files.set(file.name ?? "", file);
    }
  };
  add((await client.reflect([{ file_containing_symbol: service }]))[0]);
  for (;;) {
    const missing = [...new Set([...files.values()].flatMap((file) => file.dependency))]
      .filter((name) => !files.has(name));
    if (missing.length === 0) return files;
    (await client.reflect(missing.map((name) => ({ file_by_filename: name })))).forEach(add);
    for (const name of missing) assert.ok(files.has(name), `reflection cannot supply ${name}`);
  }
}

/**
 * A grpc-js client of `options.service` built from the reflected `files` alone, as viam-server
 * calls a module's resource API: loading fails if a type they use cannot be resolved.
 */
function _reflectedClient(
  files: Map<string, FileDescriptorProto>,
  options: { service: string; address: string },
): grpc.Client {
  const set = new FileDescriptorSet({ file: [...files.values()] });
  const definition = protoLoader.loadFileDescriptorSetFromBuffer(Buffer.from(set.toBinary()), {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  // deno-lint-ignore no-explicit-any
  let node: any = grpc.loadPackageDefinition(definition);
  for (const part of options.service.split(".")) node = node?.[part];
  assert.equal(typeof node, "function", `${options.service} is not in the reflected files`);
  const Client = node as grpc.ServiceClientConstructor;
  return new Client(grpcTarget(options.address), grpc.credentials.createInsecure());
}

/** One resource of the module, reached through one of its APIs. */
interface _Target {
  /** The connection to the module. */
  client: ViamClient;
  /** The API's client (the generic service's or the generic component's). */
  api: grpc.Client;
  /** The short resource name. */
  name: string;
}

async function _command(
  target: _Target,
  command: Record<string, unknown>,
  options: { timeoutMs?: number } = {},
): Promise<Record<string, unknown>> {
  const response = await target.client.call(
    target.api,
    "DoCommand",
    { name: target.name, command: toStruct(command) },
    // A sync or push runs a whole pass: in a fresh process on a loaded machine, more than the
    // client's 5 s default.
    options.timeoutMs ?? 60_000,
  );
  return fromStruct(response.result);
}

async function _getStatus(target: _Target): Promise<Record<string, unknown>> {
  const response = await target.client.call(target.api, "GetStatus", { name: target.name });
  return fromStruct(response.result);
}

/** How a DoCommand ended: its result, or the error it failed with. */
interface _Settled {
  result?: Record<string, unknown>;
  error?: CallError;
}

// DoCommand `sync` for a pass that the test stops long before its slow body could finish.
function _slowSync(target: _Target): Promise<_Settled> {
  return _command(target, { command: "sync" }, { timeoutMs: 60_000 }).then(
    (result) => ({ result }),
    (error: CallError) => ({ error }),
  );
}

async function _until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** The sizes of the partial downloads in a mirror's staging area. */
async function _partialSizes(mirrorRoot: string): Promise<number[]> {
  const dir = join(mirrorRoot, ".data-mirror", "partial");
  const sizes: number[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.endsWith(".part")) sizes.push((await Deno.stat(join(dir, entry.name))).size);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return sizes;
}

/** Resolves once bytes of a download are in the staging area of the mirror at `mirrorRoot`. */
function _untilStaging(mirrorRoot: string): Promise<void> {
  return _until(
    `a download is being staged under ${mirrorRoot}`,
    async () => (await _partialSizes(mirrorRoot)).some((size) => size > 0),
  );
}

function _bytesEqual(actual: Uint8Array | undefined, expected: Uint8Array): boolean {
  return actual !== undefined && actual.length === expected.length &&
    actual.every((byte, i) => byte === expected[i]);
}

/** Asserts that the files under `mirror.root` are exactly `mirror.items`, with their exact bytes. */
async function _assertMirror(
  platform: Platform,
  mirror: { root: string; items: readonly ItemRecord[] },
): Promise<void> {
  const tree = await readTree(mirror.root);
  assert.deepEqual([...tree.keys()].sort(), mirror.items.map((item) => item.fileName).sort());
  for (const item of mirror.items) {
    assert.ok(
      _bytesEqual(tree.get(item.fileName), platform.contentOf(item.binaryDataId)),
      `content of ${item.fileName}`,
    );
  }
}

for (const transport of TRANSPORTS) {
  Deno.test(`module e2e (${transport}): the real engine under the production permissions, as viam-server drives it`, async (t) => {
    const paths = await _paths(transport);
    await using platform = await startPlatform({
      dataset: _dataset({ oneCount: 4, slow: false }),
      inlineLimitBytes: INLINE_LIMIT,
      apiKeys: [API_KEY],
    });
    const parent = await _startParent(paths);
    const module = _spawn(paths);
    const client = new ViamClient(paths.address);
    const reflected: grpc.Client[] = [];
    // mirror1 under the service API, mirror2 under the component API, each in its own directory;
    // both are called through clients built from the reflected descriptors.
    const mirror1 = {
      name: "mirror1",
      api: SERVICE_API,
      root: join(paths.viamHome, "mirrors", "one"),
      attributes: _attributes(platform, {
        tags: ["one"],
        mirror_path: "mirrors/one",
        delete: true,
      }),
    };
    const mirror2 = {
      name: "mirror2",
      api: COMPONENT_API,
      root: join(paths.viamHome, "mirrors", "two"),
      attributes: _attributes(platform, { tags: ["two"], mirror_path: "mirrors/two" }),
    };
    const target = (mirror: { name: string; api: string }): _Target => ({
      client,
      api: reflected[mirror.api === SERVICE_API ? 0 : 1],
      name: mirror.name,
    });
    const addResource = (mirror: typeof mirror1) =>
      client.call(client.module, "AddResource", {
        config: componentConfig(mirror.name, mirror.api, mirror.attributes),
        dependencies: [],
      });
    // Everything that left the module over gRPC, for the "never leaks the key" check.
    const seen: unknown[] = [];
    const keep = <T>(value: T): T => {
      seen.push(value);
      return value;
    };
    // What the cut slow download left in staging, in bytes.
    let held = 0;
    let exit: ProcessExit;
    try {
      await t.step("the socket appears and Ready lists both generic APIs", async () => {
        await waitForSocket(paths.address);
        const ready = await client.ready({ raw_parent_address: parent.address });
        const { handlers } = ready.handlermap as {
          handlers: {
            models: string[];
            subtype: { subtype: Record<string, string>; proto_service: string };
          }[];
        };
        assert.deepEqual(
          handlers.map(({ models, subtype: { subtype, proto_service } }) => ({
            api: `${subtype.namespace}:${subtype.type}:${subtype.subtype}`,
            proto_service,
            models,
          })),
          [
            { api: SERVICE_API, proto_service: SERVICE_PROTO, models: [MODEL] },
            { api: COMPONENT_API, proto_service: COMPONENT_PROTO, models: [MODEL] },
          ],
        );
      });

      await t.step("reflection resolves each proto_service to a complete descriptor", async () => {
        for (const service of [SERVICE_PROTO, COMPONENT_PROTO]) {
          const files = await _reflectService(client, service);
          assert.ok(files.has("google/protobuf/struct.proto"), `${service}: Struct's file`);
          reflected.push(_reflectedClient(files, { service, address: paths.address }));
        }
      });

      await t.step("ValidateConfig names the bad attribute and accepts a good config", async () => {
        const validate = (attributes: Record<string, unknown>) => ({
          config: componentConfig(mirror1.name, mirror1.api, attributes),
        });
        const { app_api_key: _, ...keyless } = mirror1.attributes;
        for (
          const [attributes, expected] of [
            [{ ...mirror1.attributes, sync_frequency: 0.5 }, /sync_frequency must be a number/],
            [keyless, /app_api_key is required/],
            // The key pasted into the wrong attribute: named, never quoted.
            [{ ...mirror1.attributes, tags: API_KEY.key }, /tags must be a list/],
            // No VIAM_MACHINE_PART_ID here: every upload would fail behind a clean status.
            [{ ...mirror1.attributes, push_path: "outbox" }, /VIAM_MACHINE_PART_ID is not/],
          ] as const
        ) {
          const error = keep(
            await client.callError(client.module, "ValidateConfig", validate(attributes)),
          );
          assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
          assert.match(error.details, expected);
        }
        const good = await client.call(
          client.module,
          "ValidateConfig",
          validate(mirror1.attributes),
        );
        assert.deepEqual([good.dependencies, good.optional_dependencies], [[], []]);
      });

      await t.step(
        "AddResource under each API; sync returns the summary of the mirrored set",
        async () => {
          await addResource(mirror1);
          await addResource(mirror2);
          for (const [mirror, tag] of [[mirror1, "one"], [mirror2, "two"]] as const) {
            // Joins the start pass if it still runs, else runs another: either way the counts cover
            // every item of the mirror's tag.
            const summary = keep(await _command(target(mirror), { command: "sync" }));
            const items = _tagged(platform, tag);
            assert.equal(summary.listed, items.length);
            assert.equal(Number(summary.downloaded) + Number(summary.skipped), items.length);
            assert.deepEqual(
              [summary.failed, summary.rejected, summary.duplicate, summary.deleted],
              [0, 0, 0, 0],
            );
            await _assertMirror(platform, { root: mirror.root, items });

            const status = keep(await _command(target(mirror), { command: "status" }));
            assert.equal(status.state, "idle");
            assert.deepEqual(status.lastSummary, summary);
            assert.deepEqual(keep(await _getStatus(target(mirror))), status);
            // The next pass is sync_frequency after the end of the last one.
            const nextPassAt = Date.parse(String(status.nextPassAt));
            assert.ok(
              nextPassAt > Date.now() + (SYNC_FREQUENCY - 60) * 1000,
              `${status.nextPassAt}`,
            );
          }
        },
      );

      await t.step("dry_run lists the file delete would remove and changes nothing", async () => {
        const before = await readTree(mirror1.root);
        const gone = _tagged(platform, "one").at(-1)!;
        platform.replaceDataset(_dataset({ oneCount: 3, slow: false }));
        const report = keep(await _command(target(mirror1), { command: "dry_run" }));
        assert.deepEqual(
          [report.listed, report.skipped, report.downloadCount, report.deleteCount],
          [3, 3, 0, 1],
        );
        assert.deepEqual(report.deletes, [gone.fileName]);
        assert.equal(report.deleteBlocked, undefined);
        const after = await readTree(mirror1.root);
        assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
        for (const [path, bytes] of before) assert.ok(_bytesEqual(after.get(path), bytes), path);
      });

      await t.step(
        "push asked of a mirror without a push_path is FAILED_PRECONDITION",
        async () => {
          const refused = await client.callError(target(mirror1).api, "DoCommand", {
            name: mirror1.name,
            command: toStruct({ command: "push" }),
          });
          assert.equal(refused.code, grpc.status.FAILED_PRECONDITION);
          assert.equal(refused.details, "push refused: no push folder is configured (push_path)");
        },
      );

      await t.step(
        "the module answers during a slow pass; RemoveResource stops it cleanly",
        async () => {
          platform.replaceDataset(_dataset({ oneCount: 3, slow: true }));
          platform.setFaults({ bodyBytesPerSecond: SLOW_BYTES_PER_SECOND });
          const syncing = _slowSync(target(mirror2));
          await _untilStaging(mirror2.root);

          assert.equal(keep(await _getStatus(target(mirror2))).state, "syncing");
          assert.equal(keep(await _command(target(mirror1), { command: "status" })).state, "idle");
          assert.equal((await client.ready()).ready, true);

          // A reconfiguration onto mirror1's folder is refused, and leaves the pass running: not
          // cut off (and the old configuration started again), as before 2026-12-07.
          const overlapping = await client.callError(client.module, "ReconfigureResource", {
            config: componentConfig(mirror2.name, mirror2.api, {
              ...mirror2.attributes,
              mirror_path: "mirrors/one",
            }),
          });
          assert.match(
            overlapping.details,
            /mirrors\/one overlaps .*mirrors\/one, used by .* mirror1: .*; it runs on with its previous configuration$/,
          );
          const unsettled = Symbol("the pass runs on");
          assert.equal(
            await Promise.race([syncing, new Promise((ok) => setTimeout(ok, 500, unsettled))]),
            unsettled,
          );
          assert.equal(keep(await _getStatus(target(mirror2))).state, "syncing");

          await client.call(client.module, "RemoveResource", {
            name: `${mirror2.api}/${mirror2.name}`,
          });
          const settled = keep(await syncing);
          assert.equal(settled.result, undefined, "a stopped pass does not report success");
          assert.equal(settled.error?.code, grpc.status.ABORTED);
          assert.match(settled.error?.details ?? "", /the mirror was stopped during the pass/);
          const removed = await client.callError(target(mirror2).api, "GetStatus", {
            name: mirror2.name,
          });
          assert.equal(removed.code, grpc.status.NOT_FOUND);

          // Only the files of the earlier pass are under final names; the slow item's bytes wait in
          // staging for a later pass.
          const items = _tagged(platform, "two").filter((item) => !item.tags.includes("slow"));
          await _assertMirror(platform, { root: mirror2.root, items });
          const partials = await _partialSizes(mirror2.root);
          assert.equal(partials.length, 1);
          held = partials[0];
          assert.ok(held > 0 && held < SLOW_ITEM_BYTES, `a partial of ${held} bytes`);
        },
      );

      await t.step("AddResource again resumes the cut download from its partial", async () => {
        platform.setFaults({});
        platform.resetCalls();
        await addResource(mirror2);
        const summary = keep(await _command(target(mirror2), { command: "sync" }));
        const items = _tagged(platform, "two");
        assert.deepEqual([summary.listed, summary.failed], [items.length, 0]);
        const slow = _tagged(platform, "slow")[0];
        assert.deepEqual(
          platform.ranges.filter((range) => range.binaryDataId === slow.binaryDataId),
          _resumeRanges(slow.binaryDataId, held),
        );
        await _assertMirror(platform, { root: mirror2.root, items });
        assert.deepEqual(await _partialSizes(mirror2.root), []);
      });

      await t.step("logs reached the parent, one entry per call", async () => {
        const removedLog = `stopped ${mirror2.api}/${mirror2.name}`;
        await _until(
          "the parent has the removal's log",
          () => parent.entries.some((entry) => entry.message === removedLog),
        );
        assert.ok(parent.calls.every((logs) => logs.length === 1));
        const lines = parent.entries.map((entry) =>
          `${entry.level} ${entry.logger_name}: ${entry.message}`
        );
        for (
          const expected of [
            `info data-mirror: started ${mirror1.api}/${mirror1.name}`,
            `info data-mirror: started ${mirror2.api}/${mirror2.name}`,
            `info ${mirror1.api}/${mirror1.name}: sync pass done listed=4 `,
            `info ${mirror2.api}/${mirror2.name}: sync pass done listed=3 `,
            // --log-level=debug lets the per-file entries through.
            `debug ${mirror2.api}/${mirror2.name}: wrote models/big/slow-000000.bin `,
          ]
        ) {
          assert.ok(
            lines.some((line) => line.startsWith(expected)),
            `${expected} in\n${lines.join("\n")}`,
          );
        }
      });
    } finally {
      client.close();
      for (const reflectedClient of reflected) reflectedClient.close();
      exit = await _terminate(module);
      parent.close();
      await platform.close();
    }
    try {
      await t.step("SIGTERM: exit 0, socket removed, the key never left the module", async () => {
        assert.deepEqual([exit.code, exit.signal], [0, null], exit.stderr);
        await _assertClosed(paths.address);
        // With a parent, every log goes to it: nothing on stderr, which viam-server logs as errors.
        assert.equal(exit.stderr, "");
        assert.equal(parent.entries.at(-1)?.message, "stopped");
        for (
          const [where, text] of [
            ["stdout", exit.stdout],
            ["stderr", exit.stderr],
            ["the parent's log", JSON.stringify(parent.calls)],
            ["gRPC results and errors", JSON.stringify(seen)],
          ]
        ) {
          assert.ok(!text.includes(API_KEY.key), `the API key appears in ${where}`);
        }
      });
    } finally {
      await Deno.remove(paths.dir, { recursive: true });
    }
  });

  Deno.test(`module e2e (${transport}): without a parent, logs go to stdout; SIGTERM during a slow pass exits 0`, async () => {
    const paths = await _paths(transport);
    await using platform = await startPlatform({
      dataset: _dataset({ oneCount: 2, slow: false }),
      inlineLimitBytes: INLINE_LIMIT,
      apiKeys: [API_KEY],
    });
    const parent = await _startParent(paths);
    const module = _spawn(paths, { env: NO_PARENT });
    const client = new ViamClient(paths.address);
    const mirror = { client, api: client.service, name: "mirror1" };
    const root = join(paths.viamHome, "data_mirror");
    let exit: ProcessExit | undefined;
    let summary: Record<string, unknown>;
    let stopped: _Settled;
    try {
      await waitForSocket(paths.address);
      // viam-server names its socket even so: the module must not dial it.
      await client.ready({ raw_parent_address: parent.address });
      await client.call(client.module, "AddResource", {
        config: componentConfig(mirror.name, SERVICE_API, _attributes(platform, { tags: ["two"] })),
      });
      summary = await _command(mirror, { command: "sync" });
      platform.replaceDataset(_dataset({ oneCount: 2, slow: true }));
      platform.setFaults({ bodyBytesPerSecond: SLOW_BYTES_PER_SECOND });
      const syncing = _slowSync(mirror);
      await _untilStaging(root);
      const exiting = _terminate(module);
      stopped = await syncing; // the module answers the cut call before it closes
      // Closed before the module ends its connection: a GOAWAY arriving at a Deno http2 client
      // with a stream still open can abort the client inside nghttp2 (denoland/deno#36788), and
      // the client here is this test process.
      client.close();
      exit = await exiting;
    } finally {
      client.close();
      exit ??= await _terminate(module);
      parent.close();
    }
    try {
      assert.deepEqual([exit.code, exit.signal], [0, null], exit.stderr);
      assert.equal(summary.listed, 3);
      assert.notEqual(stopped.error, undefined, "a pass cut by SIGTERM does not report success");
      assert.deepEqual(parent.calls, []);
      assert.match(exit.stdout, / INFO data-mirror listening on /);
      assert.match(exit.stdout, / INFO rdk:service:generic\/mirror1 sync pass done listed=3 /);
      // stderr is for errors only (viam-server logs each of its lines as an ERROR).
      assert.equal(exit.stderr, "");
      assert.ok(!exit.stdout.includes(API_KEY.key), "the API key appears on stdout");
      await _assertClosed(paths.address);
      const items = _tagged(platform, "two").filter((item) => !item.tags.includes("slow"));
      await _assertMirror(platform, { root, items });
    } finally {
      await Deno.remove(paths.dir, { recursive: true });
    }
  });

  Deno.test(`module e2e (${transport}): a module killed mid-download resumes from its partial once restarted`, async () => {
    const paths = await _paths(transport);
    await using platform = await startPlatform({
      dataset: _dataset({ oneCount: 0, slow: true }),
      inlineLimitBytes: INLINE_LIMIT,
      apiKeys: [API_KEY],
      faults: { bodyBytesPerSecond: SLOW_BYTES_PER_SECOND },
    });
    const config = componentConfig(
      "mirror1",
      COMPONENT_API,
      _attributes(platform, { tags: ["slow"] }),
    );
    const root = join(paths.viamHome, "data_mirror");
    try {
      // First life: the start pass stages part of the slow item, then the process is killed.
      const first = _spawn(paths, { env: NO_PARENT });
      const firstClient = new ViamClient(paths.address);
      let killed: Deno.CommandOutput;
      try {
        await waitForSocket(paths.address);
        await firstClient.ready();
        await firstClient.call(firstClient.module, "AddResource", { config });
        await _untilStaging(root);
      } finally {
        firstClient.close();
        first.child.kill("SIGKILL");
        killed = await first.output;
      }
      assert.equal(killed.signal, "SIGKILL");
      const [held] = await _partialSizes(root);
      assert.ok(held > 0 && held < SLOW_ITEM_BYTES, `a partial of ${held} bytes`);
      await _assertMirror(platform, { root, items: [] });

      // Second life, as viam-server restarts a crashed module: a new address, Ready, the same
      // config.
      platform.setFaults({});
      const address = _newAddress(transport, paths.socketDir, "rstrt");
      const second = _spawn(paths, { address, env: NO_PARENT });
      const client = new ViamClient(address);
      let summary: Record<string, unknown>;
      let exit: ProcessExit;
      try {
        await waitForSocket(address);
        await client.ready();
        await client.call(client.module, "AddResource", { config });
        summary = await _command({ client, api: client.component, name: "mirror1" }, {
          command: "sync",
        });
      } finally {
        client.close();
        exit = await _terminate(second);
      }
      assert.deepEqual([exit.code, exit.signal], [0, null], exit.stderr);
      assert.equal(summary.failed, 0);
      // The locks of the killed process (the mirror's, the partial's) died with it, and the download
      // went on from the bytes it had staged.
      const slow = _tagged(platform, "slow")[0];
      assert.deepEqual(platform.ranges, _resumeRanges(slow.binaryDataId, held));
      await _assertMirror(platform, { root, items: [slow] });
      assert.deepEqual(await _partialSizes(root), []);
    } finally {
      await Deno.remove(paths.dir, { recursive: true });
    }
  });

  Deno.test(`module e2e (${transport}): DoCommand push uploads the push folder with the machine's part id`, async () => {
    const paths = await _paths(transport);
    await using platform = await startPlatform({
      dataset: describeDataset([{ count: 1, tags: ["elsewhere"] }]),
      inlineLimitBytes: INLINE_LIMIT,
      apiKeys: [API_KEY],
    });
    const outbox = join(paths.viamHome, "outbox");
    const attributes = _attributes(platform, {
      tags: ["fleet"],
      push_path: "outbox",
      push_tags: ["fleet"],
      push_min_age: 0,
    });
    const module = _spawn(paths, { env: { ...NO_PARENT, VIAM_MACHINE_PART_ID: "part-e2e-1" } });
    const client = new ViamClient(paths.address);
    const mirror = { client, api: client.service, name: "mirror1" };
    let exit: ProcessExit;
    let pushed: Record<string, unknown>;
    let status: Record<string, unknown>;
    try {
      await waitForSocket(paths.address);
      await client.ready();
      await client.call(client.module, "AddResource", {
        config: componentConfig(mirror.name, SERVICE_API, attributes),
      });
      // The start pass and its push run first (nothing to push yet); then a file arrives.
      await _until(
        "the first push pass ended",
        async () => (await _command(mirror, { command: "status" })).lastPush !== undefined,
      );
      await Deno.mkdir(join(outbox, "models"), { recursive: true });
      await Deno.writeTextFile(join(outbox, "models", "detector.tflite"), "weights v1");
      pushed = await _command(mirror, { command: "push" });
      status = await _command(mirror, { command: "status" });
    } finally {
      client.close();
      exit = await _terminate(module);
    }
    try {
      assert.deepEqual([exit.code, exit.signal], [0, null], exit.stderr);
      assert.equal(pushed.uploaded, 1, JSON.stringify(pushed));
      assert.equal(pushed.failed, 0);
      assert.equal(pushed.deleted, 1, "the local file goes once the platform has it");
      assert.deepEqual(status.lastPush, pushed);
      const stored = platform.items().filter((item) => item.tags.includes("fleet"));
      assert.deepEqual(stored.map((item) => [item.fileName, item.partId]), [
        ["models/detector.tflite", "part-e2e-1"],
      ]);
      assert.equal(
        new TextDecoder().decode(platform.contentOf(stored[0].binaryDataId)),
        "weights v1",
      );
      await assert.rejects(
        Deno.lstat(join(outbox, "models", "detector.tflite")),
        Deno.errors.NotFound,
      );
      assert.ok(!exit.stdout.includes(API_KEY.key) && !exit.stderr.includes(API_KEY.key));
    } finally {
      await Deno.remove(paths.dir, { recursive: true });
    }
  });
}

/**
 * The Range requests of a download resumed from a partial of `held` bytes: from 64 KiB before its
 * end (those bytes are compared with the partial's first); a shorter partial is asked for whole,
 * without Range.
 */
function _resumeRanges(
  binaryDataId: string,
  held: number,
): { binaryDataId: string; range: string }[] {
  const check = 64 * 1024;
  return held > check ? [{ binaryDataId, range: `bytes=${held - check}-` }] : [];
}

Deno.test("module e2e: a module that cannot serve (its port taken) says so in one plain line and exits 1", async () => {
  const home = await Deno.makeTempDir({ prefix: "data-mirror-busy-" });
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const address = `127.0.0.1:${(taken.addr as Deno.NetAddr).port}`;
  try {
    const run = await new Deno.Command(Deno.execPath(), {
      args: productionRunArgs(MAIN, [address, "--log-level=info", "--tcp-mode"]),
      cwd: ROOT,
      env: { VIAM_HOME: home, VIAM_MODULE_ADDRESS: address, VIAM_NO_MODULE_PARENT: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 1, stderr);
    // viam-server logs every stderr line as an error: one line, no stack, no colour codes.
    assert.match(
      stderr,
      new RegExp(`^data-mirror: module: cannot serve on ${address}: listen EADDRINUSE[^\\n]*\\n$`),
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

/**
 * The real program as a Viam module, started the way viam-server starts it (the bundle's
 * `main.js <socket>` under the production permission flags, with `VIAM_HOME`,
 * `VIAM_MODULE_DATA` and `VIAM_MODULE_ADDRESS`), without a parent to log to, and a grpc-js client
 * on its socket.
 *
 * @module
 */
import { join } from "node:path";
import { productionRunArgs } from "../../scripts/mirror.ts";
import { stopProcess } from "../module/_harness.ts";
import { denoCacheEnv } from "../_program.ts";
import {
  componentConfig,
  fromStruct,
  toStruct,
  ViamClient,
  waitForSocket,
} from "../module/_viam_client.ts";
import type { FaultRig } from "./fault_rig.ts";
import { programBundle } from "../../scripts/program_bundle.ts";

const _MAIN = await programBundle();

/** A running module and a client on it. */
export interface ModuleProcess extends AsyncDisposable {
  /** A client of every service the module serves. */
  readonly client: ViamClient;
  /** `$VIAM_MODULE_DATA`, where the module keeps its resources' status. */
  readonly moduleData: string;
  /** Its process id (for /proc). */
  readonly pid: number;
  /** Whether the process still runs. */
  running(): boolean;
  /**
   * Rejects, with its exit code and the end of its output, if the process ends before
   * {@linkcode ModuleProcess.stop}: race a call with it so that a crash fails at once.
   */
  readonly crashed: Promise<never>;
  /** SIGTERM, as viam-server stops a module; resolves to its exit code and output. */
  stop(): Promise<{ code: number; stdout: string; stderr: string }>;
  /**
   * Adds a mirror as viam-server would: the generic service `name`, with the rig's key and
   * platform and `attributes` besides.
   */
  addMirror(name: string, attributes: Record<string, unknown>): Promise<void>;
  /** Runs the DoCommand `{ command }` of the mirror `name`; resolves to its result. */
  command(name: string, command: string, timeoutMs: number): Promise<Record<string, unknown>>;
}

/** Starts the module for a Viam home (its socket in a dedicated folder beside it). */
export async function startModuleProcess(rig: FaultRig, home: string): Promise<ModuleProcess> {
  const socketDir = join(home, "..", "viam-module-faults");
  await Deno.mkdir(socketDir, { recursive: true });
  const socketPath = join(socketDir, "data-mirror-faults.sock");
  const moduleData = join(home, "module-data", "local", "data-mirror");
  const child = new Deno.Command(Deno.execPath(), {
    args: productionRunArgs(_MAIN, [socketPath, "--log-level=debug"]),
    env: {
      VIAM_HOME: home,
      VIAM_MODULE_DATA: moduleData,
      VIAM_MODULE_ADDRESS: socketPath,
      VIAM_MODULE_NAME: "data-mirror",
      VIAM_NO_MODULE_PARENT: "true",
      // Deno's own cache: without it a DENO_DIR user's module cannot load its npm packages.
      ...denoCacheEnv(),
    },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  let exited = false;
  let stopping = false;
  const crashed = output.then((result) => {
    exited = true;
    if (stopping) return new Promise<never>(() => {});
    const decoder = new TextDecoder();
    throw new Error(
      `the module exited (code ${result.code}, signal ${result.signal}): ` +
        decoder.decode(result.stderr).slice(-1500) + decoder.decode(result.stdout).slice(-1500),
    );
  });
  crashed.catch(() => {}); // observed by those who race with it
  try {
    await waitForSocket(socketPath);
  } catch (error) {
    // Say why: the module's own last words, not only that nothing listens.
    if (!exited) child.kill("SIGKILL");
    const result = await output;
    const decoder = new TextDecoder();
    throw new Error(
      `${(error as Error).message} (the module: code ${result.code}, signal ${result.signal}): ` +
        decoder.decode(result.stderr).slice(-1500) + decoder.decode(result.stdout).slice(-1500),
    );
  }
  const client = new ViamClient(socketPath);
  await client.ready();
  let stopped: Promise<{ code: number; stdout: string; stderr: string }> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      client.close();
      const exit = await stopProcess(child, { output, signal: "SIGTERM" });
      rig.checkNoSecret("the module's stdout", exit.stdout);
      rig.checkNoSecret("the module's stderr", exit.stderr);
      return exit;
    })();
    return stopped;
  };
  return {
    client,
    moduleData,
    pid: child.pid,
    running: () => !exited,
    crashed,
    stop,
    async addMirror(name, attributes) {
      await client.call(client.module, "AddResource", {
        config: componentConfig(name, "rdk:service:generic", {
          app_api_key_id: rig.key.id,
          app_api_key: rig.key.key,
          app_url: rig.platform.url,
          ...attributes,
        }),
        dependencies: [],
      });
    },
    async command(name, command, timeoutMs) {
      const reply = await client.call(client.service, "DoCommand", {
        name,
        command: toStruct({ command }),
      }, timeoutMs);
      return fromStruct(reply.result);
    },
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}

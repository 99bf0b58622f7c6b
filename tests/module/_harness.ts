import type { ModuleAddress } from "../../src/invocation.ts";
import type { LogLevel } from "../../src/logger.ts";
import { type ModuleHandle, startModule } from "../../src/module/module_server.ts";
import type { MirrorResource } from "../../src/module/module_service.ts";
import { FakeMirror, type FakeMirrorOptions } from "./_fake_mirror.ts";
import { FakeParent } from "./_fake_parent.ts";
import { ViamClient } from "./_viam_client.ts";

/** The API key every test config carries: it must never come out of the module. */
export const SECRET_KEY = "s3cr3t-api-key-0123456789abcdef";

/** The two ways viam-server reaches a module: a unix socket, or a loopback TCP port. */
export const TRANSPORTS = ["unix", "tcp"] as const;

/** One of {@linkcode TRANSPORTS}. */
export type Transport = typeof TRANSPORTS[number];

/** A started module, a client on its socket, and what the fakes recorded. */
export interface Harness {
  /** Where the module listens: its socket path, or `127.0.0.1:<port>`. */
  address: string;
  /** A grpc-js client on the module's address. */
  client: ViamClient;
  /** A fake viam-server log endpoint (same transport); the module dials it once Ready names it. */
  parent: FakeParent;
  /** The running module. */
  module: ModuleHandle;
  /** Every mirror created, in order, with the resource it was created for. */
  created: { resource: MirrorResource; mirror: FakeMirror }[];
  /** Lines the module printed (no parent, or sending failed). */
  lines: { line: string; level: LogLevel }[];
  /** The latest mirror created for the full name `api/name`. */
  mirror(fullName: string): FakeMirror;
}

/** How {@linkcode withModule} sets the module up. */
export interface HarnessOptions {
  /** What every created fake mirror does. */
  mirror?: FakeMirrorOptions;
  /** Default true. */
  parentLogging?: boolean;
  /** Default `info`. */
  logLevel?: LogLevel;
  /** How long closing waits for mirrors to stop (the module default when absent). */
  stopTimeoutMs?: number;
  /** Default `unix`. */
  transport?: Transport;
  /** Checks a config in place of {@linkcode fakeValidate} (e.g. one that waits for the test). */
  validate?: (
    attributes: Record<string, unknown>,
  ) => { warnings: string[] } | Promise<{ warnings: string[] }>;
}

/**
 * A validator shaped like the engine's: `app_api_key` is required, `sync_frequency` must be a
 * number, and a config without a filter gets a warning.
 */
export function fakeValidate(attributes: Record<string, unknown>): { warnings: string[] } {
  if (typeof attributes.app_api_key !== "string") {
    throw new Error("app_api_key: required, a string");
  }
  if ("sync_frequency" in attributes && typeof attributes.sync_frequency !== "number") {
    throw new Error(
      `sync_frequency: must be a number of seconds (key ${attributes.app_api_key} ignored)`,
    );
  }
  return {
    warnings: attributes.tags === undefined
      ? ["no tags, labels or dataset_id: every file the key can read is mirrored"]
      : [],
  };
}

/** Runs `test` against a module started in a fresh temp dir, then closes and removes everything. */
export async function withModule(
  test: (harness: Harness) => Promise<void>,
  options: HarnessOptions = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dm-module-" });
  const tcp = options.transport === "tcp";
  const parent = await FakeParent.start(tcp ? "127.0.0.1:0" : `${dir}/parent.sock`);
  const moduleAddress: ModuleAddress = tcp
    ? { kind: "tcp", host: "127.0.0.1", port: 0, from: "the test" }
    : { kind: "unix", path: `${dir}/data-mirror-abcde.sock`, from: "the test" };
  const created: Harness["created"] = [];
  const lines: Harness["lines"] = [];
  const module = await startModule({
    address: moduleAddress,
    logLevel: options.logLevel ?? "info",
    parentLogging: options.parentLogging ?? true,
    validate: options.validate ?? fakeValidate,
    createMirror: (resource, logger) => {
      const mirror = new FakeMirror(logger, options.mirror);
      created.push({ resource, mirror });
      return mirror;
    },
    stopTimeoutMs: options.stopTimeoutMs,
    writeLine: (line, level) => lines.push({ line, level }),
  });
  const address = module.address.kind === "unix"
    ? module.address.path
    : `127.0.0.1:${module.address.port}`;
  const client = new ViamClient(address);
  const mirror = (fullName: string): FakeMirror => {
    const found = created.findLast(({ resource }) =>
      `${resource.api}/${resource.name}` === fullName
    );
    if (found === undefined) throw new Error(`no mirror was created for ${fullName}`);
    return found.mirror;
  };
  try {
    await test({ address, client, parent, module, created, lines, mirror });
  } finally {
    // Each side closes the connections it opened, clients first: under Deno 2.9.6 an HTTP/2
    // client receiving GOAWAY can abort the process (denoland/deno#36788).
    client.close();
    await module.close();
    parent.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** How a stopped process ended and what it printed. */
export interface ProcessExit {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/**
 * Sends `signal` and waits for the exit. A process still running 3 s later is killed, which fails the
 * caller's exit assertions: viam-server escalates to SIGKILL after 3.3 s (protocol reference,
 * section 10). `output` is the child's pending `output()` (it can be asked for only once).
 */
export async function stopProcess(
  child: Deno.ChildProcess,
  options: { output: Promise<Deno.CommandOutput>; signal: Deno.Signal },
): Promise<ProcessExit> {
  try {
    child.kill(options.signal);
  } catch (error) {
    // Already exited: its exit status tells what happened.
    if (!(error instanceof TypeError)) throw error;
  }
  const killer = setTimeout(() => child.kill("SIGKILL"), 3_000);
  try {
    const output = await options.output;
    const decoder = new TextDecoder();
    return {
      code: output.code,
      signal: output.signal,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    clearTimeout(killer);
  }
}

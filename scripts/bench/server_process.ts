/**
 * A benchmark server in its own process, so that its CPU can be read apart from the program under
 * test (they share the cores): the local data platform (for data-mirror) or the directory-index
 * server (for rclone), serving a {@linkcode BenchSet} with a per-request latency.
 *
 * Run as a script, it is the server: `server_process.ts <kind> <set JSON> <latency ms>`; it prints one
 * JSON line (`url`, and the API key for the platform), then answers JSON commands read line by line
 * from stdin (`variant`, `calls`, `reset`, and for the push benchmark `clear` and `checkUploads`)
 * with one JSON line each, and exits when stdin closes.
 *
 * @example
 * ```ts
 * await using server = await startServerProcess({ kind: "platform", set, latencyMs: 20 });
 * await server.useVariant("churn");
 * console.log(await server.calls(), await server.cpuSeconds());
 * ```
 *
 * @module
 */

import { createInterface } from "node:readline";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { MAX_MESSAGE_BYTES, startPlatform } from "../../tests/support/platform/mod.ts";
import { type BenchSet, datasetOf, type SetVariant } from "./bench_set.ts";
import { startDirIndexServer } from "./dir_index_server.ts";
import { processCpuSeconds } from "./process_usage.ts";
import type { TreeCheck } from "./tree_check.ts";
import { checkUploads } from "./upload_check.ts";

/** Which server: the local data platform, or the directory-index server rclone copies from. */
export type ServerKind = "platform" | "dir-index";

/** Options of {@linkcode startServerProcess}. */
export interface ServerProcessOptions {
  /** Which server. */
  kind: ServerKind;
  /** The data set; the `base` variant is served first. */
  set: BenchSet;
  /** Delay before answering each request, in milliseconds. */
  latencyMs: number;
}

/** A server running in a child process. */
export interface ServerProcess extends AsyncDisposable {
  /** Its base URL. */
  readonly url: string;
  /** The platform's API key (empty for the directory-index server). */
  readonly apiKeyId: string;
  /** The platform's API key secret (empty for the directory-index server). */
  readonly apiKey: string;
  /** The child's process id. */
  readonly pid: number;
  /** Serves this variant of the set from now on. */
  useVariant(variant: SetVariant): Promise<void>;
  /**
   * The requests received since start or `resetCalls()`, by kind (the directory-index server also
   * counts the `bytes` of file bodies it sent).
   */
  calls(): Promise<Record<string, number>>;
  /** Zeroes the request counters. */
  resetCalls(): Promise<void>;
  /** The platform: forgets every item (uploads included) and serves an empty data set. */
  clear(): Promise<void>;
  /**
   * The platform: compares what it holds with the `base` files of `set`, as a push of them with
   * this part and tag should have left it (every file once, its size and bytes, nothing else).
   */
  checkUploads(want: { set: BenchSet; partId: string; tag: string }): Promise<TreeCheck>;
  /** The child's user + system CPU seconds so far. */
  cpuSeconds(): Promise<number>;
  /** Ends the child (closes its stdin) and waits for it. */
  close(): Promise<void>;
}

/** Starts a server process and resolves once it listens. */
export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--quiet",
      "--config",
      fileURLToPath(new URL("../../deno.json", import.meta.url)),
      import.meta.filename!,
      options.kind,
      JSON.stringify(options.set),
      String(options.latencyMs),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = _lineReader(child.stdout);
  const writer = child.stdin.getWriter();
  const ask = async (command: Record<string, unknown>): Promise<unknown> => {
    await writer.write(new TextEncoder().encode(`${JSON.stringify(command)}\n`));
    return JSON.parse(await lines());
  };
  const hello = JSON.parse(await lines()) as { url: string; apiKeyId: string; apiKey: string };
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      await writer.close();
      await child.status;
    })();
    return closed;
  };
  return {
    ...hello,
    pid: child.pid,
    async useVariant(variant) {
      await ask({ op: "variant", variant });
    },
    calls: async () => (await ask({ op: "calls" })) as Record<string, number>,
    async resetCalls() {
      await ask({ op: "reset" });
    },
    async clear() {
      await ask({ op: "clear" });
    },
    checkUploads: async (want) => (await ask({ op: "checkUploads", ...want })) as TreeCheck,
    cpuSeconds: () => processCpuSeconds(child.pid),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Reads a byte stream line by line: each call resolves to the next line. */
function _lineReader(stream: ReadableStream<Uint8Array>): () => Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  return async () => {
    while (!buffered.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the server process ended unexpectedly");
      buffered += value;
    }
    const at = buffered.indexOf("\n");
    const line = buffered.slice(0, at);
    buffered = buffered.slice(at + 1);
    return line;
  };
}

/** The child side: starts the server, then answers commands until stdin closes. */
async function _serve(kind: ServerKind, set: BenchSet, latencyMs: number): Promise<void> {
  const dataset = datasetOf(set, "base");
  const server = kind === "platform"
    // Inline up to the message limit, as Viam's platform answers (the tests' default refuses more).
    ? await startPlatform({ dataset, faults: { latencyMs }, inlineLimitBytes: MAX_MESSAGE_BYTES })
    : await startDirIndexServer({ dataset, latencyMs });
  const key = "apiKey" in server
    ? { apiKeyId: server.apiKeyId, apiKey: server.apiKey }
    : { apiKeyId: "", apiKey: "" };
  console.log(JSON.stringify({ url: server.url, ...key }));
  for await (const line of createInterface({ input: process.stdin })) {
    const command = JSON.parse(line) as {
      op: string;
      variant?: SetVariant;
      set?: BenchSet;
      partId?: string;
      tag?: string;
    };
    let answer: unknown = { ok: true };
    if (command.op === "variant") server.replaceDataset(datasetOf(set, command.variant!));
    else if (command.op === "reset") server.resetCalls();
    else if (command.op === "calls") answer = server.calls;
    else if (command.op === "clear") server.replaceDataset({ items: [], datasets: [] });
    else if (command.op === "checkUploads" && "items" in server) {
      answer = checkUploads(server.items(), datasetOf(command.set!, "base"), {
        partId: command.partId!,
        tag: command.tag!,
      });
    }
    console.log(JSON.stringify(answer));
  }
  await server.close();
}

if (import.meta.main) {
  const [kind, set, latency] = Deno.args;
  await _serve(kind as ServerKind, JSON.parse(set) as BenchSet, Number(latency));
}

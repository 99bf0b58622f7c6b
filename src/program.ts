/**
 * The composition root: reads how the program was started (`src/invocation.ts`) and starts either
 * the CLI or the Viam module directly, the module with its mirrors wired to the remote (Viam's data
 * API). `src/worker_main.ts` runs it inside the confined Worker.
 *
 * Each mode's own code is evaluated only when that mode runs (literal dynamic imports: Deno still
 * loads them with the Worker's module graph, under the bootstrap's read permission): the CLI never
 * evaluates the module's gRPC server and descriptor registry, the module never evaluates the
 * command-line parser and the progress bar. Measured with `scripts/start_time.ts`.
 *
 * @example
 * ```ts
 * import { runProgram } from "./program.ts";
 *
 * Deno.exit(await runProgram(["validate", "--config", "mirror.json"]));
 * ```
 *
 * @module
 */
import {
  type ModuleInvocation,
  printUsageError,
  readInvocation,
  USAGE_EXIT_CODE,
} from "./invocation.ts";
import type { Logger } from "./logger.ts";
import { deliverStop, signalExitCode } from "./stop_signal.ts";
import type { MirrorController } from "./mirror_controller.ts";
import type { MirrorResource } from "./module/module_service.ts";

/** Reads one environment variable (the Worker may read only the production list). */
type _Env = (name: string) => string | undefined;

/**
 * Runs the program for `args` (`Deno.args`) and resolves to the process exit code: a CLI command's
 * code, 0 once a module stopped cleanly on SIGTERM/SIGINT, 2 for a usage error.
 */
export async function runProgram(args: readonly string[]): Promise<number> {
  const env: _Env = (name) => Deno.env.get(name);
  const invocation = readInvocation(args, { env });
  switch (invocation.mode) {
    case "usage-error": {
      printUsageError(invocation);
      return USAGE_EXIT_CODE;
    }
    case "module":
      return await _runModule(invocation, env);
    case "cli": {
      const { runCli } = await import("./cli/run_cli.ts");
      const code = await runCli([...invocation.args], {
        env,
        out: _writeOut,
        err: _writeErr,
        tty: Deno.stderr.isTerminal(),
      });
      // Output lost is no success: a closed pipe ends as SIGPIPE would (141), another error with 1.
      if (_stdoutFailed === undefined || code !== 0) return code;
      return _stdoutFailed === "pipe" ? signalExitCode("SIGPIPE") : 1;
    }
  }
}

const _encoder = new TextEncoder();

/** Waited on (never woken) between tries of a write that would block. */
const _pause = new Int32Array(new SharedArrayBuffer(4));

/** Whether stderr failed a write: its lines (logs, progress, errors) are dropped from then on. */
let _stderrFailed = false;

/**
 * Writes one line to stderr, where the CLI's logs and messages go. A write that fails (stderr sent
 * to a log file on a full disk) drops them from then on: the pass goes on, and with `--json` its
 * document still reaches stdout; it threw, and the run ended with exit 1 and no document, its
 * pass done.
 */
function _writeErr(line: string): void {
  if (_stderrFailed) return;
  try {
    console.error(line);
  } catch {
    _stderrFailed = true;
  }
}

/** Whether stdout failed a write already (its error is told once). */
let _stdoutFailed: "pipe" | "other" | undefined;

/**
 * Writes one line of the CLI's output to stdout. A reader gone (`sync --watch | head -n 1` done, a
 * `| jq` that died) stops the program as SIGPIPE stops other tools: `console.log` drops the write
 * error, and a mirror went on for ever with its output lost. Another write error (stdout on a full
 * disk) stops it too, said once on stderr, instead of ending it with a stack trace.
 */
function _writeOut(line: string): void {
  if (_stdoutFailed !== undefined) return;
  const bytes = _encoder.encode(`${line}\n`);
  try {
    for (let at = 0; at < bytes.length;) {
      try {
        at += Deno.stdout.writeSync(bytes.subarray(at));
      } catch (error) {
        // A stdout left non-blocking by another program (a shared tty) and a slow reader: wait.
        if (!(error instanceof Deno.errors.WouldBlock)) throw error;
        Atomics.wait(_pause, 0, 0, 10);
      }
    }
  } catch (error) {
    _stdoutFailed = error instanceof Deno.errors.BrokenPipe ? "pipe" : "other";
    if (!(error instanceof Deno.errors.BrokenPipe)) {
      _writeErr(`data-mirror: writing to stdout failed (${(error as Error).message}): stopping`);
    }
    deliverStop("SIGPIPE");
  }
}

/**
 * Serves the module until SIGTERM/SIGINT. The engine (the config check, the sync loop and the Viam
 * SDK behind the remote) is loaded at the first ValidateConfig or resource, not before the socket
 * listens: viam-server waits for the socket, and a module with no resource yet needs none of it.
 */
async function _runModule(invocation: ModuleInvocation, env: _Env): Promise<number> {
  const [{ MirrorRoots }, { runModule }, { processClockSteps }] = await Promise.all([
    import("./module/mirror_roots.ts"),
    import("./module/run_module.ts"),
    import("./push/clock_step_watch.ts"),
  ]);
  // Watching the wall clock from the start: a step before the first push folder counts too.
  processClockSteps();
  const roots = new MirrorRoots();
  const moduleData = env("VIAM_MODULE_DATA");
  const createMirror = async (
    resource: MirrorResource,
    logger: Logger,
  ): Promise<MirrorController> => {
    const [{ startResourceMirror }, { ViamRemote }] = await Promise.all([
      import("./module/start_resource_mirror.ts"),
      import("./remote/viam_remote.ts"),
    ]);
    return await startResourceMirror(resource, logger, {
      env,
      moduleData,
      roots,
      // The composition's one remote: Viam's data API, with the resource's key.
      loop: {
        createRemote: (config) =>
          new ViamRemote({
            appUrl: config.appUrl,
            apiKeyId: config.apiKeyId,
            apiKey: config.apiKey,
          }),
      },
    });
  };
  // A module that cannot serve (the port taken, the socket's folder missing) says so in one line:
  // viam-server logs each line of its stderr as an error, and restarts it.
  const failed = (error: unknown) => {
    console.error(`data-mirror: module: ${error instanceof Error ? error.message : error}`);
    return 1;
  };
  // On stdout, which viam-server logs at INFO (stderr would be an ERROR), before anything else.
  if (invocation.logLevelNote !== undefined) console.log(`data-mirror: ${invocation.logLevelNote}`);
  return await runModule({
    admits: async (resource) => {
      const { assertResourceRootsFree } = await import("./module/start_resource_mirror.ts");
      assertResourceRootsFree(resource, { env, roots });
    },
    address: invocation.address,
    logLevel: invocation.logLevel,
    parentLogging: !env("VIAM_NO_MODULE_PARENT"),
    validate: async (attributes) => {
      const [{ assertPushPartId, parseConfig }, { checkConfigLocations }, { checkMirrorPlace }] =
        await Promise.all([
          import("./config.ts"),
          import("./fs/mirror_location.ts"),
          import("./fs/mirror_dir.ts"),
        ]);
      const { config, warnings } = parseConfig(attributes, { env, unsetAsOriginal: true });
      assertPushPartId(config, env("VIAM_MACHINE_PART_ID"));
      await checkConfigLocations(config);
      await checkMirrorPlace(config);
      return { warnings };
    },
    createMirror,
  }).then(() => 0, failed);
}

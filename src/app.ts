import { runCli } from "./cli/run_cli.ts";
import { parseConfig } from "./config.ts";
import { formatUsageError, readInvocation, USAGE_EXIT_CODE } from "./invocation.ts";
import type { Logger, LogLevel } from "./logger.ts";
import { MirrorRoots } from "./module/mirror_roots.ts";
import type { MirrorResource } from "./module/module_service.ts";
import { runModule } from "./module/run_module.ts";
import { startResourceMirror } from "./module/start_resource_mirror.ts";

/**
 * The program: `data-mirror <socket-path> [--log-level=L]` (how viam-server starts a module) or a CLI
 * command (`sync`, `validate`). Resolves to the process exit code.
 */
export async function runApp(args: string[]): Promise<number> {
  const env = (name: string) => Deno.env.get(name);
  const invocation = readInvocation(args, { env });
  if (invocation.mode === "usage-error") {
    const text = formatUsageError(invocation);
    if (invocation.json) console.log(text);
    else console.error(text);
    return USAGE_EXIT_CODE;
  }
  if (invocation.mode === "module") {
    const { address } = invocation;
    if (address.kind === "tcp") {
      console.error("data-mirror: TCP mode is not supported yet");
      return 1;
    }
    return await _runModule(address.path, { logLevel: invocation.logLevel });
  }
  return await runCli(invocation.args as string[], {
    env,
    out: (line: string) => console.log(line),
    err: (line: string) => console.error(line),
    tty: Deno.stderr.isTerminal(),
  });
}

async function _runModule(socketPath: string, options: { logLevel: LogLevel }): Promise<number> {
  const env = (name: string) => Deno.env.get(name);
  const roots = new MirrorRoots();
  await runModule({
    socketPath,
    logLevel: options.logLevel,
    parentLogging: !env("VIAM_NO_MODULE_PARENT"),
    validate: (attributes) => ({ warnings: parseConfig(attributes, { env }).warnings }),
    createMirror: (resource: MirrorResource, logger: Logger) =>
      startResourceMirror(resource, logger, { env, moduleData: env("VIAM_MODULE_DATA"), roots }),
  });
  return 0;
}

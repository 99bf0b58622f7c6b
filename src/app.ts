import { CLI_COMMANDS, MODULE_COMMAND } from "./cli/commands.ts";
import { runCli } from "./cli/run_cli.ts";
import { parseConfig } from "./config.ts";
import { LOG_LEVELS, type Logger, type LogLevel } from "./logger.ts";
import { MirrorRoots } from "./module/mirror_roots.ts";
import type { MirrorResource } from "./module/module_service.ts";
import { runModule } from "./module/run_module.ts";
import { startResourceMirror } from "./module/start_resource_mirror.ts";

/**
 * The program: `data-mirror <socket-path> [--log-level=L]` (how viam-server starts a module) or a CLI
 * command (`sync`, `validate`, `module`). Resolves to the process exit code.
 */
export async function runApp(args: string[]): Promise<number> {
  const env = (name: string) => Deno.env.get(name);
  const cli = {
    env,
    out: (line: string) => console.log(line),
    err: (line: string) => console.error(line),
    tty: Deno.stderr.isTerminal(),
  };
  // viam-server passes the socket path first; anything that is not a command is taken as one.
  const first = args[0];
  if (
    first === MODULE_COMMAND ||
    (first !== undefined && !first.startsWith("-") && !CLI_COMMANDS.includes(first))
  ) {
    const rest = first === MODULE_COMMAND ? args.slice(1) : args;
    const socketPath = env("VIAM_MODULE_ADDRESS") ||
      rest.find((arg, i) => !arg.startsWith("-") && rest[i - 1] !== "--log-level");
    if (!socketPath) {
      console.error("data-mirror: module: no socket path given");
      return 2;
    }
    const level = rest.find((arg) => arg.startsWith("--log-level="))?.slice(12) ??
      rest[rest.indexOf("--log-level") + 1];
    const logLevel = LOG_LEVELS.find((known) => known === level) ?? "info";
    return await _runModule(socketPath, { logLevel });
  }
  return await runCli(args, cli);
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

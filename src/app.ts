import { CLI_COMMANDS } from "./cli/commands.ts";
import { runCli } from "./cli/run_cli.ts";
import { parseConfig } from "./config.ts";
import type { Logger, LogLevel } from "./logger.ts";
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
    runModule: _runModule,
  };
  // viam-server passes the socket path first; anything that is not a command is taken as one.
  const first = args[0];
  if (first !== undefined && !first.startsWith("-") && !CLI_COMMANDS.includes(first)) {
    return await runCli(["module", ...args], cli);
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

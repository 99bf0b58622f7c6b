import { CLI_COMMANDS } from "./cli/commands.ts";
import { runCli } from "./cli/run_cli.ts";
import { parseConfig } from "./config.ts";
import type { Logger, LogLevel } from "./logger.ts";
import type { MirrorController } from "./mirror_controller.ts";
import { MirrorLoop } from "./mirror_loop.ts";
import { MirrorRoots } from "./mirror_roots.ts";
import type { MirrorResource } from "./module/module_service.ts";
import { runModule } from "./module/run_module.ts";
import { describeError } from "./errors.ts";
import {
  configFingerprint,
  readStatusFile,
  statusFilePath,
  writeStatusFile,
} from "./status_file.ts";

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
      _startMirror(resource, logger, { moduleData: env("VIAM_MODULE_DATA"), roots }),
  });
  return 0;
}

/**
 * Starts the loop of one resource, on a mirror root no other resource overlaps. With
 * `VIAM_MODULE_DATA` (set by viam-server), its status is saved
 * after every pass and read back at start, so a restart with the same config keeps its counts and
 * its backoff.
 */
async function _startMirror(
  resource: MirrorResource,
  logger: Logger,
  options: { moduleData: string | undefined; roots: MirrorRoots },
): Promise<MirrorController> {
  const env = (name: string) => Deno.env.get(name);
  const { config, warnings } = parseConfig(resource.attributes, { env });
  for (const warning of warnings) logger.warn(warning);
  const { moduleData } = options;
  const path = moduleData ? statusFilePath(moduleData, resource) : undefined;
  const fingerprint = await configFingerprint(config);
  const saved = path ? await readStatusFile(path) : undefined;
  // Claimed last, once nothing can fail before the loop exists to release it.
  const release = options.roots.claim(config.mirrorRoot, `${resource.api} ${resource.name}`);
  const loop = new MirrorLoop(config, {
    logger,
    owner: `module ${resource.name}`,
    resume: saved?.fingerprint === fingerprint ? saved.status : undefined,
    onPassEnd: (status) => {
      if (!path) return;
      writeStatusFile(path, { fingerprint, status }).catch((error) =>
        logger.warn(`could not save the status to ${path}: ${describeError(error)}`)
      );
    },
  });
  loop.start();
  return {
    syncNow: () => loop.syncNow(),
    dryRun: () => loop.dryRun(),
    status: () => loop.status(),
    stop: async () => {
      await loop.stop();
      release();
    },
  };
}

/**
 * A CLI command's stop: from the command's start it listens for SIGINT and SIGTERM (and for a stop
 * the bootstrap passes on while the program loads), logs the first, and aborts the command's
 * signal. Listening from the start means a stop while the configuration is read is heard, and the
 * configuration error's exit code stands. Held until the command returns: a second signal (Ctrl-C
 * reaches `deno task` and its children too, and `deno task mirror` forwards it) must not kill a
 * stop in progress.
 *
 * @example
 * ```ts
 * import { listenForStop } from "./command_stop.ts";
 *
 * using stop = listenForStop(output.logger);
 * await runPass(config, remote, { logger: output.logger, signal: stop.signal });
 * if (stop.by !== undefined) return signalExitCode(stop.by);
 * ```
 *
 * @module
 */
import type { Logger } from "../logger.ts";
import { onStopSignal } from "../stop_signal.ts";

/** A command's stop, listened for until disposed of. */
export interface CommandStop extends Disposable {
  /** Aborted by the first stop. */
  readonly signal: AbortSignal;
  /** The signal that stopped the command, if one did. */
  readonly by: Deno.Signal | undefined;
}

/** Listens for the command's stop (see the module's notes); dispose of it when the command returns. */
export function listenForStop(logger: Logger): CommandStop {
  const controller = new AbortController();
  let by: Deno.Signal | undefined;
  const listening = onStopSignal((signal) => {
    by = signal;
    // SIGPIPE stands for stdout failing, whatever the cause (a reader gone, a full disk), which
    // the program has already said.
    logger.info(
      signal === "SIGPIPE" ? "stdout cannot be written: stopping" : `${signal}: stopping`,
    );
    controller.abort();
  });
  return {
    signal: controller.signal,
    get by() {
      return by;
    },
    [Symbol.dispose]: () => listening[Symbol.dispose](),
  };
}

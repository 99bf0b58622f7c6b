/**
 * The module's run from start to a clean exit: serve until SIGTERM or SIGINT, then stop every mirror,
 * close the server and remove the socket.
 *
 * @module
 */
import { onStopSignal } from "../stop_signal.ts";
import { type ModuleOptions, startModule } from "./module_server.ts";

/**
 * Runs the module until SIGTERM or SIGINT (viam-server sends SIGTERM after removing every resource;
 * the bootstrap, `main.ts`, stops it so when viam-server itself is gone), then closes it:
 * mirrors stopped, server closed, socket removed. Resolves once closed, so the program can exit 0;
 * signals arriving while it closes are ignored rather than killing it halfway.
 */
export async function runModule(options: ModuleOptions): Promise<void> {
  const signalled = Promise.withResolvers<void>();
  using _stop = onStopSignal(() => signalled.resolve());
  const module = await startModule(options);
  await signalled.promise;
  await module.close();
}

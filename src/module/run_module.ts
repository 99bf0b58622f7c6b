import { type ModuleOptions, startModule } from "./module_server.ts";

const SIGNALS: Deno.Signal[] = ["SIGTERM", "SIGINT"];

/**
 * Runs the module until SIGTERM or SIGINT (viam-server sends SIGTERM after removing every resource),
 * then closes it: mirrors stopped, server closed, socket removed. Resolves once closed, so the
 * program can exit 0; signals arriving while it closes are ignored rather than killing it halfway.
 */
export async function runModule(options: ModuleOptions): Promise<void> {
  let onSignal = (): void => {};
  const signalled = new Promise<void>((resolve) => onSignal = resolve);
  for (const signal of SIGNALS) Deno.addSignalListener(signal, onSignal);
  try {
    const module = await startModule(options);
    await signalled;
    await module.close();
  } finally {
    for (const signal of SIGNALS) Deno.removeSignalListener(signal, onSignal);
  }
}

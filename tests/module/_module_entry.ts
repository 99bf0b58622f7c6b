// The module as a real process, with fake mirrors: what viam-server would start. Takes the socket
// path like the real entry point (VIAM_MODULE_ADDRESS first, then the first argument).
import { runModule } from "../../src/module/run_module.ts";
import { FakeMirror } from "./_fake_mirror.ts";

await runModule({
  socketPath: Deno.env.get("VIAM_MODULE_ADDRESS") ?? Deno.args[0],
  logLevel: "info",
  parentLogging: Deno.env.get("VIAM_NO_MODULE_PARENT") === undefined,
  validate: () => ({ warnings: [] }),
  createMirror: (resource, logger) =>
    new FakeMirror(logger, { onStop: () => console.log(`fake mirror ${resource.name} stopped`) }),
});
console.log("runModule resolved");

// The module as a real process, with fake mirrors: what viam-server would start. Reads its address
// as the real program does (src/invocation.ts: VIAM_MODULE_ADDRESS first, then the arguments).
import { readInvocation } from "../../src/invocation.ts";
import { runModule } from "../../src/module/run_module.ts";
import { FakeMirror } from "./_fake_mirror.ts";

const invocation = readInvocation(Deno.args, { env: (name) => Deno.env.get(name) });
if (invocation.mode !== "module") throw new Error(`not a module invocation: ${Deno.args}`);
await runModule({
  address: invocation.address,
  logLevel: invocation.logLevel,
  parentLogging: Deno.env.get("VIAM_NO_MODULE_PARENT") === undefined,
  validate: () => ({ warnings: [] }),
  createMirror: (resource, logger) =>
    new FakeMirror(logger, { onStop: () => console.log(`fake mirror ${resource.name} stopped`) }),
});
console.log("runModule resolved");

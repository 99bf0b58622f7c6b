/**
 * `deno task platform`: runs the local data platform with the sample data set until SIGINT or
 * SIGTERM, printing what a client needs to reach it.
 *
 * Usage: `main.ts [--port N] [--api-key-id ID --api-key KEY]` (port 0, the default, picks a free
 * one; without a key pair a random one is made).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type ApiKey, MAX_MESSAGE_BYTES, sampleDataset, startPlatform } from "./mod.ts";

/** Parses the command line; throws an Error naming the bad argument. */
function _options(args: string[]): { port: number; apiKeys?: ApiKey[] } {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string", default: "0" },
      "api-key-id": { type: "string" },
      "api-key": { type: "string" },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port must be an integer in [0, 65535], got "${values.port}"`);
  }
  const id = values["api-key-id"];
  const key = values["api-key"];
  if ((id === undefined) !== (key === undefined)) {
    throw new Error("--api-key-id and --api-key go together");
  }
  return { port, apiKeys: id === undefined || key === undefined ? undefined : [{ id, key }] };
}

if (import.meta.main) {
  let options;
  try {
    options = _options(Deno.args);
  } catch (error) {
    console.error(`platform: ${(error as Error).message}`);
    Deno.exit(2);
  }
  const dataset = sampleDataset();
  const platform = await startPlatform({
    ...options,
    dataset,
    inlineLimitBytes: MAX_MESSAGE_BYTES, // as Viam's platform answers (the tests refuse more)
  });
  const stop = async (): Promise<void> => {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    await platform.close();
    console.log("platform: stopped");
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  // A local, throwaway key for a test server: printing it is the point of this command.
  console.log(
    [
      `url: ${platform.url}`,
      `api_key_id: ${platform.apiKeyId}`,
      `api_key: ${platform.apiKey}`,
      `items: ${dataset.items.length} (sample data set)`,
      "platform: running until SIGINT/SIGTERM",
    ].join("\n"),
  );
}

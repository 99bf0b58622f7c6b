/**
 * Run with `--v8-flags=--expose-gc` by `run_pass_test.ts`: starts a pass whose one download is
 * slow, runs a full garbage collection once the download is under way, cancels the pass, and
 * prints how it ended: `cancelled` when the cancellation reached the download, or `still waiting`
 * when it did not within 10 s (the idle timeout is two minutes).
 *
 * Arguments: app URL, API key id, API key, Viam home.
 */
import { join } from "node:path";
import { parseConfig } from "../../src/config.ts";
import { ViamRemote } from "../../src/remote/viam_remote.ts";
import { runPass } from "../../src/sync/run_pass.ts";
import { RecordingLogger } from "./_harness.ts";

const [appUrl, apiKeyId, apiKey, home] = Deno.args;
const { config } = parseConfig({ app_api_key_id: apiKeyId, app_api_key: apiKey, app_url: appUrl }, {
  env: (name) => (name === "VIAM_HOME" ? home : undefined),
});
const controller = new AbortController();
const running = runPass(config, new ViamRemote({ appUrl, apiKeyId, apiKey }), {
  logger: new RecordingLogger(),
  signal: controller.signal,
  idleTimeoutMs: 120_000,
});
const partials = join(config.mirrorRoot, ".data-mirror", "partial");
for (let tries = 0; tries < 400; tries++) {
  const names = await Array.fromAsync(Deno.readDir(partials)).catch(() => []);
  if (names.length > 0) break;
  await new Promise((resolve) => setTimeout(resolve, 25));
}
(globalThis as unknown as { gc: () => void }).gc();
controller.abort(new Error("stopped"));
console.log(
  await Promise.race([
    running.then(() => "completed", () => "cancelled"),
    new Promise((resolve) => setTimeout(() => resolve("still waiting"), 10_000)),
  ]),
);
Deno.exit(0);

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { createViamClient } from "@viamrobotics/sdk";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

function _spawn(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/**
 * Runs main.ts with `args` until it says it runs, calls `use` with its output so far, then sends
 * `signal` (even when `use` fails, so no platform outlives its test) and reads the rest.
 */
async function _runMain(
  args: string[],
  signal: Deno.Signal,
  use: (out: string) => Promise<void> | void,
): Promise<{ rest: string; code: number }> {
  const child = _spawn(args);
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  let exited = false;
  try {
    while (!out.includes("platform: running")) {
      const { value, done } = await lines.read();
      exited = done;
      assert.ok(!done, `the platform exited early: ${out}`);
      out += value;
    }
    await use(out);
  } finally {
    if (!exited) child.kill(signal);
  }
  let rest = "";
  for (let r = await lines.read(); !r.done; r = await lines.read()) rest += r.value;
  await child.stderr.cancel();
  return { rest, code: (await child.status).code };
}

Deno.test("deno task platform: serves the sample data set, prints how to reach it, stops on SIGTERM", async () => {
  const { rest, code } = await _runMain(["--port", "0"], "SIGTERM", async (out) => {
    const field = (name: string): string => {
      const match = new RegExp(`^${name}: (\\S+)$`, "m").exec(out);
      assert.ok(match, `no ${name} in ${out}`);
      return match[1];
    };
    assert.match(field("url"), /^http:\/\/127\.0\.0\.1:\d+$/);
    const client = await createViamClient({
      serviceHost: field("url"),
      credentials: { type: "api-key", authEntity: field("api_key_id"), payload: field("api_key") },
    });
    const counted = await client.dataClient.binaryDataByFilter(
      undefined,
      0,
      undefined,
      "",
      false,
      true,
    );
    assert.equal(counted.count, 310n);
  });
  assert.equal(code, 0);
  assert.match(rest, /platform: stopped/);
});

Deno.test("deno task platform: a bad --port is refused, naming it", async () => {
  const output = await _spawn(["--port", "70000"]).output();
  assert.equal(output.code, 2);
  assert.match(
    new TextDecoder().decode(output.stderr),
    /--port must be an integer in \[0, 65535\], got "70000"/,
  );
  const unpaired = await _spawn(["--api-key-id", "id-only"]).output();
  assert.equal(unpaired.code, 2);
  assert.match(new TextDecoder().decode(unpaired.stderr), /--api-key-id and --api-key go together/);
});

Deno.test("deno task platform: --api-key-id and --api-key fix the key; SIGINT stops it", async () => {
  const args = ["--api-key-id", "fixed-id", "--api-key", "fixed-key"];
  const { code } = await _runMain(args, "SIGINT", (out) => {
    assert.match(out, /^api_key_id: fixed-id$/m);
    assert.match(out, /^api_key: fixed-key$/m);
  });
  assert.equal(code, 0);
});

/**
 * The reader of the program's stdout goes away (`sync --watch --json | head -n 1`, a `| jq` that
 * died): the program stops as other tools do on SIGPIPE, instead of mirroring on with its output
 * lost. The real program (production permissions) against the local data platform.
 */
import assert from "node:assert/strict";
import { describeDataset, type Platform, startPlatform } from "../support/platform/mod.ts";
import { productionRunArgs } from "../../scripts/mirror.ts";
import { denoCacheEnv } from "../_program.ts";
import { programBundle } from "../../scripts/program_bundle.ts";

const _MAIN = await programBundle();

/** `sync --watch --json`, a pass a second, against `platform`: its command line and environment. */
function _watch(platform: Platform, home: string) {
  const args = ["sync", "--watch", "--sync-frequency", "1", "--json", "--app-url", platform.url];
  return {
    command: [
      Deno.execPath(),
      ...productionRunArgs(_MAIN, args),
    ],
    env: {
      NO_COLOR: "1",
      VIAM_HOME: home,
      VIAM_API_KEY_ID: platform.apiKeyId,
      VIAM_API_KEY: platform.apiKey,
      ...denoCacheEnv(),
    },
  };
}

Deno.test("sync --watch stops once its stdout's reader is gone", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 3 }]) });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-stdout-closed-" });
  const { command, env } = _watch(platform, home);
  const child = new Deno.Command(command[0], {
    args: command.slice(1),
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let killer: ReturnType<typeof setTimeout> | undefined;
  try {
    // Read the first pass's document, then close the pipe, as `head -n 1` does.
    const reader = child.stdout.getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      assert.ok(!done, "the program closed its stdout before the first pass's document");
      text += new TextDecoder().decode(value);
    }
    assert.equal(JSON.parse(text.split("\n")[0]).downloaded, 3);
    await reader.cancel();
    // The next pass (a second later) writes its document and finds nobody reading.
    killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const status = await child.status;
    assert.equal(status.signal, null, `still running after 30 s: ${await stderr}`);
    assert.equal(status.code, 141, await stderr); // as a shell reports SIGPIPE: its output was lost
    assert.match(await stderr, /stdout cannot be written: stopping/);
  } finally {
    clearTimeout(killer);
    try {
      child.kill("SIGKILL");
    } catch {
      // It has ended.
    }
    await child.status;
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("sync --watch whose stdout fails a write (a full disk) says so once and stops", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 1 }]) });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-stdout-full-" });
  const { command, env } = _watch(platform, home);
  const quoted = command.map((word) => `'${word.replaceAll("'", `'"'"'`)}'`).join(" ");
  try {
    const run = await new Deno.Command("timeout", {
      args: ["60", "sh", "-c", `exec ${quoted} > /dev/full`],
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 1, stderr); // stopped (not killed by the timeout: 124), its output lost
    assert.match(stderr, /writing to stdout failed \(No space left on device.*\): stopping/);
    assert.equal(stderr.match(/writing to stdout failed/g)?.length, 1);
    assert.doesNotMatch(stderr, /SIGPIPE/, "a full disk is no broken pipe");
    assert.doesNotMatch(stderr, /Uncaught|at file:/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("sync --json whose stderr fails a write (a full disk) still prints its document, exit 0", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 2 }]) });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-stderr-full-" });
  const { command, env } = _watch(platform, home);
  // One pass, which logs to stderr (its mirror's path first).
  const oneShot = command.filter((word) => word !== "--watch");
  const quoted = oneShot.map((word) => `'${word.replaceAll("'", `'"'"'`)}'`).join(" ");
  try {
    const run = await new Deno.Command("timeout", {
      args: ["60", "sh", "-c", `exec ${quoted} 2> /dev/full`],
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    const stdout = new TextDecoder().decode(run.stdout);
    assert.equal(run.code, 0, stdout);
    assert.equal(JSON.parse(stdout.trim()).downloaded, 2);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

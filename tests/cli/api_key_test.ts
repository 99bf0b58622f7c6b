/**
 * No documented way of running the CLI prints the API key: `--api-key` is refused without quoting
 * it, and the ways the README shows (the environment, the `--config` file) are run both as the
 * program itself and through `deno task mirror`, whose echo of the command line is captured too.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describeDataset, startPlatform } from "../support/platform/mod.ts";
import { type ProgramOutput, runProgram } from "../_program.ts";

const KEY = { id: "api-key-test-id", key: "API-KEY-TEST-SECRET-7c1e9b04d2" };
const _ROOT = new URL("../..", import.meta.url);

function assertKeyNowhere(output: ProgramOutput): void {
  assert.ok(!output.stdout.includes(KEY.key), `the key on stdout:\n${output.stdout}`);
  assert.ok(!output.stderr.includes(KEY.key), `the key on stderr:\n${output.stderr}`);
}

/** `deno task mirror <args>` from the project root, as the README shows it; output captured. */
async function denoTaskMirror(
  args: string[],
  options: { home: string; env?: Record<string, string> },
): Promise<ProgramOutput> {
  const inherited = Object.entries(Deno.env.toObject()).filter(([name]) =>
    !name.startsWith("VIAM_")
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "mirror", ...args],
    cwd: _ROOT,
    env: {
      ...Object.fromEntries(inherited),
      NO_COLOR: "1",
      VIAM_HOME: options.home,
      ...options.env,
    },
    clearEnv: true,
    stdin: "null",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return {
    code: output.code,
    signal: output.signal,
    stdout: decode(output.stdout),
    stderr: decode(output.stderr),
  };
}

Deno.test("--api-key is refused with exit 2, names the safe ways, and never quotes the key", async () => {
  const home = await Deno.makeTempDir({ prefix: "data-mirror-key-" });
  try {
    const forms = [
      ["sync", "--api-key", KEY.key, "--tags", "a"],
      ["sync", `--api-key=${KEY.key}`, "--json"],
      ["validate", "--api-key", KEY.key, "--config", "x.json"],
    ];
    for (const args of forms) {
      const output = await runProgram(args, { viamHome: home });
      assertKeyNowhere(output);
      assert.equal(output.code, 2, output.stderr);
      assert.match(
        output.stderr,
        /^data-mirror: --api-key is not accepted: a key on the command line shows in ps, in the shell's history and in the line `deno task` echoes\. Set VIAM_API_KEY \(and VIAM_API_KEY_ID\) in the environment, or put app_api_key in the --config file\.$/m,
      );
    }
    const help = await runProgram(["sync", "--help"], { viamHome: home });
    assert.doesNotMatch(help.stdout, /--api-key </);
    assert.match(help.stdout, /never from a flag/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("deno task mirror with the key in the environment or in the config file prints it nowhere", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 2, tags: ["a"] }]),
    apiKeys: [KEY],
  });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-key-" });
  try {
    const byEnv = await denoTaskMirror(["sync", "--app-url", platform.url, "--tags", "a"], {
      home,
      env: { VIAM_API_KEY_ID: KEY.id, VIAM_API_KEY: KEY.key },
    });
    assertKeyNowhere(byEnv);
    assert.equal(byEnv.code, 0, byEnv.stderr);
    assert.match(byEnv.stderr, /Task mirror /, "the task runner's echo is part of what is checked");
    assert.match(byEnv.stdout, /2 listed, 2 downloaded/);

    const config = join(home, "attributes.json");
    await Deno.writeTextFile(
      config,
      JSON.stringify({ app_api_key_id: KEY.id, app_api_key: KEY.key, tags: ["a"] }),
    );
    const byFile = await denoTaskMirror(
      ["sync", "--app-url", platform.url, "--config", config, "--mirror-path", "other"],
      { home },
    );
    assertKeyNowhere(byFile);
    assert.equal(byFile.code, 0, byFile.stderr);
    assert.match(byFile.stdout, /2 listed, 2 downloaded/);

    // A wrong key, given the same ways, is not printed either.
    const refused = await denoTaskMirror(["sync", "--app-url", platform.url, "--tags", "a"], {
      home,
      env: { VIAM_API_KEY_ID: KEY.id, VIAM_API_KEY: `${KEY.key}-WRONG` },
    });
    assertKeyNowhere(refused);
    assert.equal(refused.code, 1);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

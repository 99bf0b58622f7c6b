/**
 * The CLI in process, for outcomes that need no platform: usage and configuration errors with and
 * without `--json` (stdout is then exactly one JSON document), help texts, and the API key refusal.
 */
import assert from "node:assert/strict";
import { type CliEnvironment, runCli } from "../../src/cli/run_cli.ts";
import { startPlatform } from "../support/platform/mod.ts";

const KEY = "RUN-CLI-TEST-SECRET-3b9d0e";

async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const environment: CliEnvironment = {
    env: (name) => ({ VIAM_HOME: "/tmp/run-cli-test-home", ...env })[name],
    out: (line) => stdout.push(line),
    err: (line) => stderr.push(line),
    tty: false,
  };
  const code = await runCli(args, environment);
  for (const line of [...stdout, ...stderr]) assert.ok(!line.includes(KEY), `key in: ${line}`);
  return { code, stdout, stderr };
}

/** stdout parsed as exactly one JSON document. */
function onlyDocument(stdout: string[]): Record<string, unknown> {
  assert.equal(stdout.length, 1, `one document, got:\n${stdout.join("\n")}`);
  return JSON.parse(stdout[0]);
}

Deno.test("--json usage errors are one JSON document on stdout, the text on stderr", async () => {
  const unknown = await cli(["sync", "--bogus", "--json"]);
  assert.equal(unknown.code, 2);
  assert.deepEqual(onlyDocument(unknown.stdout), {
    error: "usage: unknown option '--bogus'",
    exitCode: 2,
  });
  assert.match(unknown.stderr.join("\n"), /unknown option '--bogus'/, "the text for people");
  // The suggestion the text gives is in the document too.
  const near = await cli(["sync", "--tag", "demo", "--json"]);
  assert.deepEqual(onlyDocument(near.stdout), {
    error: "usage: unknown option '--tag' (Did you mean --tags?)",
    exitCode: 2,
  });
  // An option before the command: where it goes (of the command's own options; sync has no
  // --key), the value of any never printed back.
  const early = await cli(["--json", "--key=" + KEY, "sync"]);
  assert.equal(early.code, 2);
  assert.deepEqual(onlyDocument(early.stdout), {
    error: "usage: unknown option '--json' (options go after the command: data-mirror sync " +
      "--json ...)",
    exitCode: 2,
  });
  assert.ok(early.stderr.some((line) => line.includes("options go after the command")));

  const refused = await cli(["sync", "--api-key", KEY, "--json"]);
  assert.equal(refused.code, 2);
  assert.match(String(onlyDocument(refused.stdout).error), /^--api-key is not accepted/);

  const stray = await cli(["sync", KEY, "--json"]);
  assert.equal(stray.code, 2);
  assert.deepEqual(onlyDocument(stray.stdout), {
    error: "usage: too many arguments for 'sync'. Expected 0 arguments but got 1: [redacted].",
    exitCode: 2,
  });

  const badFile = await cli(["sync", "--config", "/dev/null/x", "--json"]);
  assert.equal(badFile.code, 2);
  assert.match(
    String(onlyDocument(badFile.stdout).error),
    /^cannot read config file "\/dev\/null\/x"/,
  );
});

Deno.test("--help and --version with --json are one JSON document too", async () => {
  for (
    const args of [["sync", "--json", "--help"], ["help", "sync", "--json"], [
      "push",
      "--json",
      "-h",
    ]]
  ) {
    const help = await cli(args);
    assert.equal(help.code, 0);
    const document = onlyDocument(help.stdout);
    assert.match(String(document.help), /^Usage: data-mirror (sync|push)/, args.join(" "));
    assert.equal(document.exitCode, 0);
  }
  // The text as the terminal shows it, line for line (a blank line was lost before the text after
  // the commands).
  for (const args of [["--help"], ["push", "--help"]]) {
    const plain = await cli(args);
    assert.equal(
      onlyDocument((await cli([...args, "--json"])).stdout).help,
      plain.stdout.join("\n"),
    );
  }
  const version = await cli(["--version", "--json"]);
  const plain = (await cli(["--version"])).stdout; // without --json, the text as it is
  assert.match(plain.join(""), /^\d+\.\d+\.\d+$/);
  assert.deepEqual(onlyDocument(version.stdout), { version: plain.join(""), exitCode: 0 });
});

Deno.test("a flag where a value should be is a usage error, never the value (a forgotten value must not run a pass)", async () => {
  for (
    const args of [
      ["sync", "--mirror-path", "--dry-run", "--tags", "t"],
      ["sync", "--tags", "--delete"],
      ["sync", "--protected-dir", "--dry-run", "--delete", "--tags", "t"],
      ["sync", "--log-level", "--watch", "--tags", "t"],
      ["push", "--push-path", "--dry-run", "--tags", "t"],
      ["validate", "--config", "--dry-run"],
      // A help or version flag: the version printed, exit 0, nothing run (or -h a folder's name).
      ["sync", "--tags", "-V", "--delete"],
      ["sync", "--mirror-path", "-h", "--dry-run", "--tags", "t"],
    ]
  ) {
    const { code, stdout, stderr } = await cli(args);
    assert.equal(code, 2, args.join(" "));
    assert.equal(stdout.length, 0, args.join(" "));
    assert.match(stderr.join("\n"), /it is a flag, not a value: give --[a-z-]+ its value/);
  }
  const json = await cli(["sync", "--mirror-path", "--delete", "--tags", "t", "--json"]);
  assert.equal(json.code, 2);
  assert.match(String(onlyDocument(json.stdout).error), /give --mirror-path its value/);
});

Deno.test("a flag of one value given twice is a usage error; list flags add up", async () => {
  for (
    const args of [
      ["sync", "--tags", "t", "--dataset-id", "real", "--dataset-id", "typo"],
      ["sync", "--tags", "t", "--mirror-path", "a", "--mirror-path", "b"],
      ["push", "--tags", "t", "--push-path", "out", "--push-path", "outbox"],
      ["validate", "--config", "a.json", "--config", "b.json"],
    ]
  ) {
    const { code, stdout, stderr } = await cli(args);
    assert.equal(code, 2, args.join(" "));
    assert.equal(stdout.length, 0, args.join(" "));
    assert.match(stderr.join("\n"), /--[a-z-]+ was given twice: give it once \(nothing was run\)/);
  }
  // --tags and --protected-dir are meant to be repeated: not refused (the run then fails its
  // own way here, for want of a key).
  const lists = await cli([
    "sync",
    "--tags",
    "a",
    "--tags",
    "b",
    "--protected-dir",
    "x",
    "--protected-dir",
    "y",
  ]);
  assert.doesNotMatch(lists.stderr.join("\n"), /given twice/);
});

Deno.test('an empty filter flag (--tags "$UNSET") is a usage error, not a mirror of everything', async () => {
  for (const args of [["sync", "--tags", ""], ["sync", "--labels", ","], ["push", "--tags", " "]]) {
    const { code, stderr } = await cli(args);
    assert.equal(code, 2, args.join(" "));
    assert.match(stderr.join("\n"), /it names nothing \(blank, or only commas\)/);
  }
});

Deno.test("configuration errors: each message names its field once, with the flag to fix it", async () => {
  const human = await cli(["sync", "--concurrency", "0", "--max-delete", "lots"]);
  assert.equal(human.code, 2);
  assert.deepEqual(human.stdout, []);
  assert.deepEqual(human.stderr, [
    "data-mirror: invalid configuration:",
    "  app_api_key is required: a non-empty string, the API key with access to Viam data " +
    "management (set the VIAM_API_KEY environment variable, or app_api_key in the --config file)",
    "  app_api_key_id is required: a non-empty string, the id of that API key (set the " +
    "VIAM_API_KEY_ID environment variable, or app_api_key_id in the --config file (or --api-key-id))",
    "  max_delete must be a whole number of files (such as 500) or a percentage of the mirror's " +
    'files from "0%" to "100%", got "lots" (--max-delete)',
    "  concurrency must be a whole number from 1 to 64, got 0 (--concurrency)",
  ]);

  const json = await cli(["sync", "--concurrency", "0", "--json"], { VIAM_API_KEY_ID: "id" });
  assert.equal(json.code, 2);
  const document = onlyDocument(json.stdout);
  assert.equal(document.error, "invalid configuration");
  // Each issue's hint says where a CLI user sets it, as the text output does.
  assert.deepEqual(document.issues, [{
    field: "app_api_key",
    message: "app_api_key is required: a non-empty string, the API key with access to Viam data " +
      "management",
    hint: "set the VIAM_API_KEY environment variable, or app_api_key in the --config file",
  }, {
    field: "concurrency",
    message: "concurrency must be a whole number from 1 to 64, got 0",
    hint: "--concurrency",
  }]);
});

Deno.test("--help names every exit code, how the key is given, and how the module starts", async () => {
  const help = await cli(["--help"]);
  assert.equal(help.code, 0);
  const text = help.stdout.join("\n");
  for (
    const line of [
      /^ {2}0 {4}the pass completed \(--watch: stopped by SIGINT or SIGTERM\)$/m,
      /^ {2}1 {4}the pass failed, or some files failed, or stdout could not be written$/m,
      /^ {2}2 {4}usage or configuration error; nothing was done$/m,
      /^ {2}3 {4}the pass completed but a guard held work back/m,
      /^ {2}130 {2}a one-shot pass interrupted by SIGINT \(143: SIGTERM\)/m,
      /^ {2}141 {2}stdout's reader went away/m,
      /viam-server starts the module itself, as `data-mirror <socket-path>`/,
      /never from a flag/,
      /^ {2}completion /m,
    ]
  ) {
    assert.match(text, line);
  }
  assert.doesNotMatch(text, /^ {2}module /m, "the module is no CLI command");
  const sync = (await cli(["sync", "--help"])).stdout.join("\n");
  assert.match(sync, /--max-delete <n\|p%>/);
  assert.match(sync, /Exit codes:/);
  // push's own: no guard, no --watch, no downloads to resume.
  const push = (await cli(["push", "--help"])).stdout.join("\n");
  assert.match(push, /^ {2}0 {4}the push pass completed$/m);
  assert.match(push, /^ {2}130 {2}interrupted by SIGINT \(143: SIGTERM\); files cut off go again/m);
  assert.doesNotMatch(push, /--watch|partial downloads|^ {2}3 /m);
});

Deno.test("an option of another command is named as such, not answered with a near name of this one", async () => {
  // `--max-age 3` is what commander suggested: a 3-second window, which with --delete deletes
  // what ages out.
  const minAge = await cli(["sync", "--tags", "a", "--min-age", "3"]);
  assert.equal(minAge.code, 2);
  const text = minAge.stderr.join("\n");
  assert.match(text, /unknown option '--min-age'\n\(--min-age is an option of push, not of sync\)/);
  assert.doesNotMatch(text, /--max-age/);
  const keep = await cli(["sync", "--keep", "--json"]);
  assert.deepEqual(onlyDocument(keep.stdout), {
    error: "usage: unknown option '--keep' (--keep is an option of push, not of sync)",
    exitCode: 2,
  });
  // An option no command has keeps commander's own suggestion, given with `=` too.
  assert.match((await cli(["sync", "--tag", "a"])).stderr.join("\n"), /Did you mean --tags\?/);
  const joined = await cli(["sync", "--tag=rear"]);
  assert.equal(joined.code, 2);
  assert.match(joined.stderr.join("\n"), /unknown option '--tag=rear'\n\(Did you mean --tags\?\)/);
  assert.deepEqual(onlyDocument((await cli(["sync", "--tag=rear", "--json"])).stdout), {
    error: "usage: unknown option '--tag=rear' (Did you mean --tags?)",
    exitCode: 2,
  });
  assert.match(
    (await cli(["sync", "--min-age=3"])).stderr.join("\n"),
    /^\(--min-age is an option of push, not of sync\)$/m,
  );
  // A flag spelt as its attribute: the flag that sets it, not the nearest spelling (commander
  // offered --push-path for --push-tags, taking a tag for a folder).
  for (
    const [args, flag] of [
      [["push", "--push-tags=x"], "--tags"],
      [["push", "--push-keep"], "--keep"],
      [["push", "--bandwidth-limit", "1M"], "--bwlimit"],
      [["sync", "--protected-dirs", "m"], "--protected-dir"],
    ] as const
  ) {
    const text = (await cli([...args])).stderr.join("\n");
    assert.match(text, new RegExp(`^\\(Did you mean ${flag}\\? It sets [a-z_]+\\)$`, "m"), text);
  }
  // A push_ attribute's flag is push's: never offered to sync, where --tags is the filter.
  assert.doesNotMatch((await cli(["sync", "--push-tags", "x"])).stderr.join("\n"), /--tags/);
});

Deno.test("a word that is no command after an option is named as the unknown command", async () => {
  // Commander named `--json` as the program's unknown option: the misspelt word is what is wrong.
  const json = await cli(["--json", "synk"]);
  assert.equal(json.code, 2);
  assert.deepEqual(onlyDocument(json.stdout), {
    error: 'usage: unknown command "synk" (did you mean "sync"? commands: sync, validate, ' +
      "push, completion, module, help)",
    exitCode: 2,
  });
  assert.match(json.stderr.join("\n"), /^data-mirror: unknown command "synk"/);
  // An option's value is no command: the option before the command is what is wrong there.
  const config = await cli(["--config", "faces.json", "sync"]);
  assert.equal(config.code, 2);
  assert.match(config.stderr.join("\n"), /unknown option '--config'/);
  assert.match(config.stderr.join("\n"), /options go after the command/);
  // The value of a misspelt option before the command: the option is what is wrong.
  const misspelt = (await cli(["--tag", "rear", "sync"])).stderr.join("\n");
  assert.match(misspelt, /unknown option '--tag'/);
  assert.doesNotMatch(misspelt, /unknown command/);
  assert.doesNotMatch(misspelt, /options go after the command/, "sync has no --tag to move");
  // An option of the command given before it with =value: its place is wrong, not its name.
  const early = (await cli(["--log-level=debug", "sync"])).stderr.join("\n");
  assert.doesNotMatch(early, /Did you mean --log-level\?/);
  assert.match(early, /options go after the command/);
  // `--` ends the options: the word after it is the command asked for.
  const dashed = await cli(["--json", "--", "synk"]);
  assert.match(onlyDocument(dashed.stdout).error as string, /unknown command "synk"/);
  assert.match((await cli(["--", "synk"])).stderr.join("\n"), /unknown command "synk" \(did you/);
  // A word that is no command is not quoted when it may be a pasted key.
  const pasted = await cli(["--json", "AbCdEf0123456789AbCdEf0123456789"]);
  assert.doesNotMatch(pasted.stdout.join("\n") + pasted.stderr.join("\n"), /AbCdEf0123/);
});

Deno.test("sync and push warn of a key id and a key taken from two places", async () => {
  await using platform = await startPlatform({});
  const dir = await Deno.makeTempDir();
  try {
    const config = `${dir}/c.json`;
    // The file's key, the environment's id beside a pair of its own: the platform refuses it.
    await Deno.writeTextFile(
      config,
      JSON.stringify({ app_api_key: "k".repeat(32), tags: ["t"], app_url: platform.url }),
    );
    const env = {
      VIAM_HOME: dir,
      VIAM_API_KEY_ID: "env-id",
      VIAM_API_KEY: "e".repeat(32),
      VIAM_MACHINE_PART_ID: "part",
    };
    const sync = await cli(["sync", "--config", config, "--dry-run"], env);
    assert.match(sync.stderr.join("\n"), /the API key comes from the config file, and its id/);
    await Deno.mkdir(`${dir}/outbox`);
    const push = await cli(["push", "--config", config, "--push-path", "outbox", "--dry-run"], env);
    assert.match(push.stderr.join("\n"), /the API key comes from the config file, and its id/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("module --help and help module print the module's own page", async () => {
  for (const args of [["module", "--help"], ["help", "module"]]) {
    const help = await cli(args);
    assert.equal(help.code, 0, args.join(" "));
    const text = help.stdout.join("\n");
    assert.match(text, /^Usage: data-mirror module \[options\] \[address\]/);
    assert.match(text, /--tcp-mode/);
  }
  // Still no command of the CLI's own list, nor of its completion.
  assert.doesNotMatch((await cli(["--help"])).stdout.join("\n"), /^ {2}module /m);
  assert.doesNotMatch((await cli(["completion", "bash"])).stdout.join("\n"), /\bmodule\b/);
});

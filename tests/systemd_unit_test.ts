/**
 * The systemd recipe in docs/systemd/: the unit keeps keys off the command line, its environment
 * file names only variables the program may read, and the unit's command line, run with that
 * environment (test values substituted), really mirrors and stops cleanly on SIGTERM.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readInvocation } from "../src/invocation.ts";
import { ALLOWED_ENV } from "../src/permissions.ts";
import { runProgram, spawnProgram } from "./_program.ts";
import { describeDataset, startPlatform } from "./support/platform/mod.ts";

const DOCS = new URL("../docs/systemd/", import.meta.url);

/** The `Key=value` lines of a unit's sections (comments and headers dropped). */
function unitSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (match) settings.set(match[1], [...(settings.get(match[1]) ?? []), match[2]]);
  }
  return settings;
}

/** The `NAME=value` lines of an environment file. */
function envFile(text: string): Record<string, string> {
  return Object.fromEntries(
    text.split("\n").filter((line) => /^[A-Z_]+=/.test(line)).map((line) => {
      const at = line.indexOf("=");
      return [line.slice(0, at), line.slice(at + 1)];
    }),
  );
}

const unit = unitSettings(await Deno.readTextFile(new URL("data-mirror.service", DOCS)));
const envExample = envFile(await Deno.readTextFile(new URL("data-mirror.env.example", DOCS)));
const [executable, ...execArgs] = unit.get("ExecStart")![0].split(" ");

Deno.test("the unit takes keys from its environment file only, never from the command line", () => {
  assert.deepEqual(unit.get("EnvironmentFile"), ["/etc/data-mirror/data-mirror.env"]);
  assert.equal(executable, "/usr/local/bin/data-mirror");
  assert.ok(!execArgs.some((arg) => /api-key/.test(arg)), execArgs.join(" "));
  const invocation = readInvocation(execArgs, { env: () => undefined });
  assert.deepEqual(invocation, {
    mode: "cli",
    args: ["sync", "--watch", "--config", "/etc/data-mirror/mirror.json"],
    configFiles: ["/etc/data-mirror/mirror.json"],
    json: false,
  });
  assert.deepEqual(unit.get("User"), ["data-mirror"]);
  assert.deepEqual(unit.get("KillSignal"), ["SIGTERM"]);
});

Deno.test("the unit restarts after a failure, but not after a configuration error (exit 2)", async () => {
  assert.deepEqual(unit.get("Restart"), ["on-failure"]);
  assert.deepEqual(unit.get("RestartPreventExitStatus"), ["2"]);
  // The real program: a bad attribute in the config file exits 2.
  const dir = await Deno.makeTempDir({ prefix: "data-mirror-unit-" });
  try {
    const config = join(dir, "mirror.json");
    await Deno.writeTextFile(config, JSON.stringify({ tags: ["t"], sync_frequency: 0 }));
    const run = await runProgram(["sync", "--watch", "--config", config], {
      viamHome: join(dir, "home"),
      env: { VIAM_API_KEY_ID: "id", VIAM_API_KEY: "key" },
    });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /sync_frequency/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("systemd-analyze verify accepts the unit (its executable stood in for by deno)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dm-unit-" });
  try {
    const text = await Deno.readTextFile(new URL("data-mirror.service", DOCS));
    const unitPath = join(dir, "data-mirror.service");
    await Deno.writeTextFile(unitPath, text.replace(executable, Deno.execPath()));
    const { code, stdout, stderr } = await new Deno.Command("systemd-analyze", {
      args: ["verify", "--man=no", unitPath],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const printed = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assert.equal(code, 0, printed);
    assert.equal(printed, "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the environment file names the key and the Viam home, and only variables the program may read", () => {
  assert.deepEqual(Object.keys(envExample).sort(), [
    "NO_COLOR",
    "VIAM_API_KEY",
    "VIAM_API_KEY_ID",
    "VIAM_HOME",
  ]);
  for (const name of Object.keys(envExample)) assert.ok(ALLOWED_ENV.includes(name), name);
  // Inside the StateDirectory the unit creates, not the service user's home itself.
  assert.equal(envExample.VIAM_HOME, `/var/lib/${unit.get("StateDirectory")![0]}/.viam`);
});

/**
 * The example config written to `dir`, pointed at the platform at `appUrl`, and the unit's command
 * line reading it: what each test of the unit's run starts from.
 */
async function _unitSetUp(
  dir: string,
  appUrl: string,
): Promise<{ example: Record<string, unknown>; args: string[] }> {
  const example = JSON.parse(await Deno.readTextFile(new URL("mirror.json.example", DOCS)));
  const config = join(dir, "mirror.json");
  await Deno.writeTextFile(config, JSON.stringify({ ...example, app_url: appUrl }));
  const args = execArgs.map((arg) => arg === "/etc/data-mirror/mirror.json" ? config : arg);
  return { example, args };
}

/** The example environment file's variables with test values, the Viam home `viamHome`. */
function _unitEnv(
  viamHome: string,
  key: { apiKeyId: string; apiKey: string },
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    ...envExample,
    VIAM_HOME: viamHome,
    VIAM_API_KEY_ID: key.apiKeyId,
    VIAM_API_KEY: key.apiKey,
    ...extra,
  };
}

Deno.test("the unit's command line with its environment mirrors, then exits 0 on SIGTERM without printing the key", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 3, tags: ["fleet"] }, { name: "other", count: 2 }]),
  });
  const dir = await Deno.makeTempDir({ prefix: "dm-systemd-" });
  try {
    // The example config, pointed at the local platform; the example environment with test values.
    const { example, args } = await _unitSetUp(dir, platform.url);
    const viamHome = join(dir, "state", ".viam");
    await using program = spawnProgram(args, {
      viamHome,
      env: _unitEnv(viamHome, platform, { HOME: join(dir, "state") }),
    });
    const mirror = join(viamHome, example.mirror_path as string);
    for (let attempt = 0; (await _files(mirror)).length < 3; attempt++) {
      assert.ok(!program.exited, `the program exited: ${program.stderr()}`);
      assert.ok(attempt < 300, "the first pass did not mirror the fleet files");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    program.kill("SIGTERM");
    const output = await program.done;
    assert.deepEqual([output.code, output.signal], [0, null], output.stderr);
    assert.equal((await _files(mirror)).length, 3);
    for (const text of [output.stdout, output.stderr]) {
      assert.ok(!text.includes(platform.apiKey), "the key was printed");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The regular files under `dir` (none when it does not exist), the program's own folder aside. */
async function _files(dir: string): Promise<string[]> {
  const files: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name === ".data-mirror") continue;
      if (entry.isDirectory) files.push(...await _files(join(dir, entry.name)));
      else if (entry.isFile) files.push(join(dir, entry.name));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return files;
}

/**
 * Whether systemd restarts a unit with `Restart=on-failure` after this end (systemd.service(5)):
 * exit code 0 and the signals SIGHUP, SIGINT, SIGTERM and SIGPIPE are clean, and are restarted only
 * when `RestartForceExitStatus=` names them; `RestartPreventExitStatus=` wins over a failure.
 */
function _restartsAfter(end: { code: number; signal: Deno.Signal | null }): boolean {
  const force = (unit.get("RestartForceExitStatus") ?? []).flatMap((value) => value.split(/\s+/));
  const prevent = (unit.get("RestartPreventExitStatus") ?? []).flatMap((value) =>
    value.split(/\s+/)
  );
  const status = end.signal ?? String(end.code);
  if (force.includes(status)) return true;
  if (prevent.includes(status)) return false;
  const clean = end.signal === null
    ? end.code === 0
    : ["SIGHUP", "SIGINT", "SIGTERM", "SIGPIPE"].includes(end.signal);
  return !clean;
}

Deno.test("a SIGHUP (the usual reload) ends the program, and the unit starts it again", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 2, tags: ["fleet"] }]),
  });
  const dir = await Deno.makeTempDir({ prefix: "dm-systemd-hup-" });
  try {
    const { args } = await _unitSetUp(dir, platform.url);
    const viamHome = join(dir, "state", ".viam");
    await using program = spawnProgram(args, {
      viamHome,
      env: _unitEnv(viamHome, platform, { HOME: join(dir, "state") }),
    });
    await program.waitFor("stdout", (text) => text.includes("pass 1:"));
    program.kill("SIGHUP");
    const output = await program.done;
    // The program has no reload: a SIGHUP ends it. A unit that left it stopped would mirror nothing
    // more until someone noticed; restarted, it also reads a rotated key from the environment file.
    assert.ok(
      _restartsAfter(output),
      `the unit does not restart the program after code ${output.code}, signal ${output.signal}`,
    );
    // A configuration error still stops it for good, and a SIGTERM (systemctl stop) is not undone.
    assert.equal(_restartsAfter({ code: 2, signal: null }), false);
    assert.equal(_restartsAfter({ code: 0, signal: null }), false);
    assert.equal(_restartsAfter({ code: 1, signal: null }), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a VIAM_HOME with a space or CR kept at its end (a quoted value in the environment file) is refused, nothing made", async () => {
  await using platform = await startPlatform({
    dataset: describeDataset([{ count: 2, tags: ["fleet"] }]),
  });
  const dir = await Deno.makeTempDir({ prefix: "dm-systemd-home-space-" });
  try {
    // One pass of the unit's command line (the watch would not end by itself).
    const args = (await _unitSetUp(dir, platform.url)).args.filter((arg) => arg !== "--watch");
    // systemd keeps the spaces of `VIAM_HOME="/var/lib/data-mirror/.viam "`; other launchers keep
    // an unquoted value's trailing space or a CRLF file's carriage return.
    for (const viamHome of [join(dir, ".viam "), join(dir, ".viam\r"), join(dir, " .viam")]) {
      const run = await runProgram(args, { viamHome, env: _unitEnv(viamHome, platform) });
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /VIAM_HOME .*white space/);
      const made = [...Deno.readDirSync(dir)].map((entry) => entry.name);
      assert.deepEqual(made, ["mirror.json"], `a twin of the Viam home was made: ${run.stderr}`);
    }
    // A folder above the Viam home may end in a space: a stick labelled `DATA ` mounts so.
    const onStick = join(dir, "DATA ", ".viam");
    await Deno.mkdir(onStick, { recursive: true });
    const run = await runProgram(args, { viamHome: onStick, env: _unitEnv(onStick, platform) });
    assert.equal(run.code, 0, run.stderr);
    assert.ok([...Deno.readDirSync(onStick)].length > 0, "nothing mirrored under DATA /.viam");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

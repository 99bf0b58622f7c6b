import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ALLOWED_ENV,
  ALLOWED_SYS,
  assertNarrowed,
  type Grants,
  PRODUCTION_FLAGS,
  PRODUCTION_V8_FLAGS,
  resolveGrants,
  workerPermissions,
} from "../src/permissions.ts";
import { type Invocation, readInvocation } from "../src/invocation.ts";
import { describeDataset, startPlatform } from "./support/platform/mod.ts";
import { BUNDLE_DIR } from "../scripts/program_bundle.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const PROBE_MIRROR = fileURLToPath(new URL("./fixtures/probe_mirror.ts", import.meta.url));
const BROAD_HOST = fileURLToPath(new URL("./fixtures/broad_host.ts", import.meta.url));
/** The permissions the probe's runner (`scripts/mirror.ts`, as the demo uses it) runs with. */
const RUNNER_FLAGS = ["--allow-run", "--allow-read"];

// ---------------------------------------------------------------------------------------------
// The set itself

Deno.test("PRODUCTION_FLAGS grant the network, the file system (narrowed later), the listed env and sys names, the sync program, and nothing else", () => {
  const flags = new Map(PRODUCTION_FLAGS.map((flag) => {
    const equals = flag.indexOf("=");
    return equals < 0 ? [flag, undefined] : [flag.slice(0, equals), flag.slice(equals + 1)];
  }));
  assert.deepEqual([...flags.keys()].sort(), [
    "--allow-env",
    "--allow-net",
    "--allow-read",
    "--allow-run",
    "--allow-sys",
    "--allow-write",
    "--ignore-env",
    "--no-prompt",
    "--unstable-worker-options",
    "--v8-flags",
  ]);
  assert.deepEqual(flags.get("--v8-flags")?.split(","), [...PRODUCTION_V8_FLAGS]);
  assert.deepEqual(flags.get("--allow-env")?.split(","), [...ALLOWED_ENV]);
  assert.deepEqual(flags.get("--allow-sys")?.split(","), [...ALLOWED_SYS]);
  assert.deepEqual(flags.get("--allow-run")?.split(","), ["/usr/bin/sync", "/bin/sync"]);
  for (const name of ["--allow-net", "--allow-read", "--allow-write", "--ignore-env"]) {
    assert.equal(flags.get(name), undefined, `${name} takes no list`);
  }
});

Deno.test("ALLOWED_ENV holds every variable the program reads by name and no secret-bearing catch-all", () => {
  for (
    const name of [
      "HOME",
      "VIAM_HOME",
      "VIAM_MODULE_DATA",
      "VIAM_MODULE_ADDRESS",
      "VIAM_MODULE_NAME",
      "VIAM_NO_MODULE_PARENT",
      "VIAM_API_KEY_ID",
      "VIAM_API_KEY",
      "BUF_BIGINT_DISABLE",
    ]
  ) {
    assert.ok(ALLOWED_ENV.includes(name), name);
  }
  assert.equal(new Set(ALLOWED_ENV).size, ALLOWED_ENV.length);
  assert.ok(!ALLOWED_ENV.some((name) => name === "" || name.includes("*")));
});

Deno.test("workerPermissions narrows the file system to the grants, runs only sync and denies ffi and import", () => {
  const grants: Grants = { read: ["/srv/a/.viam", "/srv/a/cfg.json"], write: ["/srv/a/.viam"] };
  assert.deepEqual(workerPermissions(grants), {
    net: true,
    read: ["/srv/a/.viam", "/srv/a/cfg.json"],
    write: ["/srv/a/.viam"],
    env: [...ALLOWED_ENV],
    sys: ["statfs", "osRelease"],
    run: ["/usr/bin/sync", "/bin/sync"],
    ffi: false,
    import: false,
  });
});

Deno.test("assertNarrowed refuses the broad permissions of this test process, naming them", () => {
  assert.throws(
    assertNarrowed,
    (error: Error) =>
      [
        "writing anywhere",
        "reading anywhere",
        "reading /etc",
        "running any program",
        "running /bin/sh",
        "loading native libraries",
      ]
        .every((what) => error.message.includes(what)),
  );
});

// ---------------------------------------------------------------------------------------------
// resolveGrants

/** An env reader over `vars` (unset names read as undefined, as under `--ignore-env`). */
function envOf(vars: Record<string, string>): (name: string) => string | undefined {
  return (name) => vars[name];
}

/** `args` read as the bootstrap reads them, with `env`. */
function invocationOf(args: string[], env: (name: string) => string | undefined): Invocation {
  return readInvocation(args, { env });
}

/** The grants for `args` in the environment `env`, as the bootstrap resolves them. */
function grantsFor(args: string[], options: { env: (name: string) => string | undefined }): Grants {
  return resolveGrants(invocationOf(args, options.env), options);
}

async function withTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  // The real path: on some systems the temp dir itself is behind a symlink.
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "permissions-test-" }));
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("resolveGrants: CLI mode grants the Viam home read-write and the --config file read-only", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "home/.viam"), { recursive: true });
    await Deno.writeTextFile(join(dir, "cfg.json"), "{}");
    const env = envOf({ HOME: join(dir, "home") });
    assert.deepEqual(grantsFor(["sync", "--config", join(dir, "cfg.json")], { env }), {
      read: [join(dir, "home/.viam"), join(dir, "cfg.json")],
      write: [join(dir, "home/.viam")],
    });
    assert.deepEqual(
      grantsFor(["validate", `--config=${join(dir, "cfg.json")}`], { env }).read,
      [join(dir, "home/.viam"), join(dir, "cfg.json")],
    );
  });
});

Deno.test("resolveGrants: $VIAM_HOME wins over $HOME, and $VIAM_MODULE_DATA is granted too", async () => {
  await withTempDir((dir) => {
    const env = envOf({
      HOME: join(dir, "home"),
      VIAM_HOME: join(dir, "viam"),
      VIAM_MODULE_DATA: join(dir, "viam/module-data/local/mirror"),
    });
    const grants = grantsFor(["sync"], { env });
    assert.deepEqual(grants.write, [join(dir, "viam"), join(dir, "viam/module-data/local/mirror")]);
    assert.deepEqual(grants.read, grants.write);
  });
});

Deno.test("resolveGrants: a Viam home that does not exist yet is granted where it will be", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "real"));
    await Deno.symlink(join(dir, "real"), join(dir, "link"));
    const env = envOf({ VIAM_HOME: join(dir, "link/not/yet") });
    assert.deepEqual(grantsFor(["sync"], { env }).write, [
      join(dir, "link/not/yet"),
      join(dir, "real/not/yet"),
    ]);
  });
});

Deno.test("resolveGrants: a symlinked Viam home is granted as written and as its real path", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "disk/viam"), { recursive: true });
    await Deno.symlink(join(dir, "disk/viam"), join(dir, "viam"));
    const env = envOf({ VIAM_HOME: join(dir, "viam") });
    assert.deepEqual(grantsFor(["sync"], { env }).write, [
      join(dir, "viam"),
      join(dir, "disk/viam"),
    ]);
  });
});

Deno.test("resolveGrants: no Viam home is granted when it cannot be located or is relative", () => {
  assert.deepEqual(grantsFor(["sync"], { env: envOf({}) }), { read: [], write: [] });
  assert.deepEqual(grantsFor(["sync"], { env: envOf({ VIAM_HOME: "rel/viam" }) }), {
    read: [],
    write: [],
  });
  assert.deepEqual(grantsFor(["sync"], { env: envOf({ VIAM_MODULE_DATA: "data" }) }), {
    read: [],
    write: [],
  });
});

Deno.test("resolveGrants refuses a Viam home that is too broad, naming the variable", async () => {
  await withTempDir(async (dir) => {
    const home = join(dir, "home");
    await Deno.mkdir(join(home, "projects"), { recursive: true });
    await Deno.mkdir(join(dir, "tmp"));
    await Deno.symlink("/", join(dir, "root-link"));
    await Deno.symlink("/tmp", join(dir, "top-link"));
    const cases: [Record<string, string>, RegExp][] = [
      [{ VIAM_HOME: "/" }, /VIAM_HOME\) "\/": it is the root or a top-level directory/],
      [{ VIAM_HOME: "/tmp" }, /VIAM_HOME\) "\/tmp"/],
      [{ VIAM_HOME: "/home" }, /VIAM_HOME\) "\/home"/],
      [{ VIAM_HOME: "/home/../etc/." }, /"\/etc"/],
      [{ HOME: home, VIAM_HOME: home }, /it is or contains/],
      [{ HOME: join(home, "projects"), VIAM_HOME: home }, /it is or contains/],
      [{ TMPDIR: join(dir, "tmp"), VIAM_HOME: dir }, /it is or contains/],
      [{ VIAM_HOME: join(dir, "root-link") }, /"\/": it is the root/],
      [{ HOME: "/" }, /the Viam home \(HOME\) "\/.viam": it is the root or a top-level/],
      // `~/.viam` a link to a disk mounted at a top-level folder: told what would do instead.
      [
        { VIAM_HOME: join(dir, "top-link") },
        new RegExp(
          `"/tmp": it is the root or a top-level directory; use a folder below it ` +
            `\\("/tmp/viam", say\\), as the target of "${join(dir, "top-link")}"`,
        ),
      ],
      [{ VIAM_HOME: "/" }, /top-level directory; point it at a dedicated directory/],
    ];
    for (const [vars, message] of cases) {
      assert.throws(
        () => grantsFor(["sync"], { env: envOf(vars) }),
        message,
        JSON.stringify(vars),
      );
    }
    assert.throws(
      () => grantsFor(["sync"], { env: envOf({ VIAM_MODULE_DATA: "/var" }) }),
      /VIAM_MODULE_DATA "\/var"/,
    );
    await Deno.writeTextFile(join(dir, "a-file"), "");
    assert.throws(
      () => grantsFor(["sync"], { env: envOf({ VIAM_HOME: join(dir, "a-file/.viam") }) }),
      /cannot resolve the Viam home \(VIAM_HOME\) ".*a-file\/\.viam": Not a directory/,
    );
  });
});

Deno.test("resolveGrants: module mode grants the socket's directory, from $VIAM_MODULE_ADDRESS or the argument", async () => {
  await withTempDir((dir) => {
    const socketDir = join(dir, "viam-module-abc");
    const socket = join(socketDir, "data-mirror-xyzab.sock");
    const write = (args: string[], vars: Record<string, string> = {}) =>
      grantsFor(args, { env: envOf(vars) }).write;
    assert.deepEqual(write([socket, "--log-level=debug"]), [socketDir]);
    assert.deepEqual(write(["module", socket]), [socketDir]);
    assert.deepEqual(write(["module", "--log-level", "debug", socket]), [socketDir]);
    assert.deepEqual(write(["module"], { VIAM_MODULE_ADDRESS: socket }), [socketDir]);
    assert.deepEqual(write([join(dir, "old.sock")], { VIAM_MODULE_ADDRESS: socket }), [socketDir]);
    // The CLI commands never serve the module: no socket grant even with the variable set.
    assert.deepEqual(write(["sync"], { VIAM_MODULE_ADDRESS: socket }), []);
    assert.deepEqual(write(["--help"], { VIAM_MODULE_ADDRESS: socket }), []);
    assert.deepEqual(write(["help"]), []);
    // TCP mode: an address, not a path.
    assert.deepEqual(write(["127.0.0.1:45123", "--tcp-mode"]), []);
    assert.deepEqual(write(["module"], { VIAM_MODULE_ADDRESS: "127.0.0.1:45123" }), []);
  });
});

Deno.test("resolveGrants refuses a socket directory that is too broad", () => {
  assert.throws(
    () => grantsFor(["/tmp/data-mirror.sock"], { env: envOf({}) }),
    /module socket \(the address argument\) "\/tmp": it is the root or a top-level directory/,
  );
  assert.throws(
    () => grantsFor(["module"], { env: envOf({ VIAM_MODULE_ADDRESS: "/x.sock" }) }),
    /module socket \(VIAM_MODULE_ADDRESS\) "\/"/,
  );
  assert.throws(
    () => grantsFor(["/home/pi/x.sock"], { env: envOf({ HOME: "/home/pi" }) }),
    /"\/home\/pi": it is or contains "\/home\/pi"/,
  );
});

Deno.test("resolveGrants: --config must name a file; a missing one is granted as written", async () => {
  await withTempDir((dir) => {
    assert.throws(
      () => grantsFor(["sync", "--config", dir], { env: envOf({}) }),
      /--config ".*" is a directory: it must name a file/,
    );
    assert.deepEqual(
      grantsFor(["validate", "--config", join(dir, "missing.json")], { env: envOf({}) }),
      { read: [join(dir, "missing.json")], write: [] },
    );
    assert.deepEqual(grantsFor(["sync", "--config", "-"], { env: envOf({}) }).read, []);
  });
});

// ---------------------------------------------------------------------------------------------
// The boundary, in real processes: scripts/mirror.ts's runner starts the production bootstrap
// (main.ts runConfined) with the production flags; tests/fixtures/probe_worker.ts stands in for
// the program and reports what it could do. `deno task mirror` itself runs below.

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** This process's environment without the variables that steer the program, plus `vars`. */
function childEnv(vars: Record<string, string>): Record<string, string> {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) =>
      !name.startsWith("VIAM_") && name !== "PROBE_SECRET"
    ),
  );
  return { ...base, NO_COLOR: "1", ...vars };
}

/** `deno task -q mirror <args>`, as a user runs it from the project's folder. */
function spawnMirrorTask(args: string[], vars: Record<string, string>): Deno.ChildProcess {
  return _spawnDenoCli(["task", "-q", "mirror", ...args], vars, ROOT);
}

/** `deno run <flags> <script> <args>`. */
function spawnDeno(
  flags: string[],
  script: string,
  args: string[],
  vars: Record<string, string>,
): Deno.ChildProcess {
  return _spawnDenoCli(["run", ...flags, script, ...args], vars);
}

/** Deno's CLI with `denoArgs`, in {@linkcode childEnv} with `vars`, its output piped. */
function _spawnDenoCli(
  denoArgs: string[],
  vars: Record<string, string>,
  cwd?: string,
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: denoArgs,
    cwd,
    env: childEnv(vars),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function collect(child: Deno.ChildProcess): Promise<RunResult> {
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

function runProbe(args: string[], vars: Record<string, string>): Promise<RunResult> {
  return collect(spawnDeno(RUNNER_FLAGS, PROBE_MIRROR, args, vars));
}

function probeReport(result: RunResult): Record<string, string> {
  const line = result.stdout.split("\n").find((text) => text.startsWith("PROBE {"));
  assert.ok(line, `no probe report; exit ${result.code}, stderr: ${result.stderr}`);
  return JSON.parse(line.slice("PROBE ".length));
}

Deno.test("under the production set a write outside the Viam home, reading /etc/passwd and running a program other than sync fail with NotCapable; the Viam home is writable and syncable", async () => {
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "viam-home");
    await Deno.mkdir(viamHome);
    const config = join(dir, "config", "cfg.json");
    await Deno.mkdir(dirname(config));
    await Deno.writeTextFile(config, "{}");
    await Deno.writeTextFile(join(dir, "config", "beside.txt"), "not granted");
    const result = await runProbe(["sync", "--config", config], {
      VIAM_HOME: viamHome,
      PROBE_SECRET: "must-stay-unreadable",
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(probeReport(result), {
      selfCheck: "ok",
      writeInside: "ok",
      renameInside: "ok",
      statfs: "ok",
      writeOutside: "NotCapable",
      readPasswd: "NotCapable",
      run: "NotCapable",
      runShell: "NotCapable",
      syncMirror: "ok",
      osRelease: "ok",
      envHome: "ok",
      envSecret: "undefined",
      readConfig: "ok",
      readBesideConfig: "NotCapable",
    });
    assert.equal(await Deno.readTextFile(join(viamHome, "probe/inside.txt")), "inside");
    assert.ok((await Deno.stat(join(viamHome, "probe/renamed.txt"))).isFile);
    await assert.rejects(Deno.stat(join(dir, "outside.txt")), Deno.errors.NotFound);
  });
});

Deno.test("under the production set a module may listen in its socket directory and nowhere else", async () => {
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "viam-home");
    const socketDir = join(dir, "sockets", "viam-module-probe");
    await Deno.mkdir(viamHome);
    await Deno.mkdir(socketDir, { recursive: true });
    const socket = join(socketDir, "data-mirror-abcde.sock");
    const result = await runProbe([socket, "--log-level=info"], {
      VIAM_HOME: viamHome,
      VIAM_MODULE_ADDRESS: socket,
    });
    assert.equal(result.code, 0, result.stderr);
    const report = probeReport(result);
    assert.equal(report.selfCheck, "ok");
    assert.equal(report.listenSocket, "ok");
    assert.equal(report.writeBesideSocketDir, "NotCapable");
    assert.equal(report.writeOutside, "NotCapable");
  });
});

Deno.test("under the production set a Viam home reached through a symlink, not yet created, is writable", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "disk"));
    await Deno.symlink(join(dir, "disk"), join(dir, "link"));
    const viamHome = join(dir, "link", ".viam");
    const result = await runProbe(["sync"], { VIAM_HOME: viamHome });
    assert.equal(result.code, 0, result.stderr);
    const report = probeReport(result);
    assert.equal(report.writeInside, "ok");
    assert.equal(report.writeOutside, "NotCapable");
    assert.equal(await Deno.readTextFile(join(dir, "disk/.viam/probe/inside.txt")), "inside");
  });
});

Deno.test("the bootstrap refuses to start with a Viam home of / and runs nothing", async () => {
  const result = await runProbe(["sync"], { VIAM_HOME: "/" });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /refusing to grant the Viam home \(VIAM_HOME\) "\/"/);
  assert.ok(!result.stdout.includes("PROBE"), result.stdout);
  // With --json, stdout is the one JSON document it promises in every outcome.
  const json = await runProbe(["sync", "--json"], { VIAM_HOME: "/" });
  assert.equal(json.code, 2);
  const document = JSON.parse(json.stdout);
  assert.equal(document.exitCode, 2);
  assert.match(document.error, /^refusing to grant the Viam home \(VIAM_HOME\) "\/"/);
});

Deno.test("a misspelt command (data-mirror synk) exits 2 with a suggestion, starts nothing, creates nothing", async () => {
  await withTempDir(async (dir) => {
    const vars = { VIAM_HOME: join(dir, "viam-home") };
    const human = await collect(spawnMirrorTask(["synk"], vars));
    assert.equal(human.code, 2);
    assert.equal(human.stdout, "");
    assert.equal(
      human.stderr,
      'data-mirror: unknown command "synk" (did you mean "sync"? commands: sync, validate, ' +
        "push, completion, module, help)\n(run data-mirror --help for usage)\n",
    );
    const json = await collect(
      spawnMirrorTask(["synk", "--json"], vars),
    );
    assert.equal(json.code, 2);
    assert.deepEqual(JSON.parse(json.stdout), {
      error: 'usage: unknown command "synk" (did you mean "sync"? commands: sync, validate, ' +
        "push, completion, module, help)",
      exitCode: 2,
    });
    // No socket named synk, no Viam home: nothing ran.
    const entries = [];
    for await (const entry of Deno.readDir(dir)) entries.push(entry.name);
    assert.deepEqual(entries, []);
    await assert.rejects(Deno.lstat(join(ROOT, "synk")), Deno.errors.NotFound);
  });
});

Deno.test("scripts/mirror.ts forwards SIGTERM to the program and exits with the program's code", async () => {
  await withTempDir(async (dir) => {
    const child = spawnDeno(RUNNER_FLAGS, PROBE_MIRROR, ["sync", "--wait-signal"], {
      VIAM_HOME: join(dir, "viam-home"),
    });
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("PROBE-WAITING")) {
      const { value, done } = await lines.read();
      assert.ok(!done, `the probe ended before waiting: ${seen}`);
      seen += value;
    }
    child.kill("SIGTERM");
    const [status] = await Promise.all([child.status, lines.cancel(), child.stderr.cancel()]);
    assert.equal(status.code, 43);
  });
});

Deno.test("src/worker_main.ts refuses to run the program under broad permissions", async () => {
  const result = await collect(
    spawnDeno(["-A", "--unstable-worker-options"], BROAD_HOST, [], {}),
  );
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /refusing to run with permissions broader than the production set \(granted: writing anywhere/,
  );
});

// ---------------------------------------------------------------------------------------------
// The real program under the production set, through `deno task mirror` itself.

Deno.test("deno task mirror is one deno run of the bundle's main.js under the production flags, nothing in between, after the bundle task", async () => {
  const denoJson = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  assert.equal(
    denoJson.tasks.mirror.command,
    ["deno", "run", ...PRODUCTION_FLAGS, `${BUNDLE_DIR}/main.js`].join(" "),
  );
  assert.deepEqual(denoJson.tasks.mirror.dependencies, ["bundle"]);
  assert.match(denoJson.tasks.bundle.command, / scripts\/program_bundle\.ts$/);
});

Deno.test("deno task mirror: the real program validates a config file under the production set", async () => {
  await withTempDir(async (dir) => {
    const config = join(dir, "cfg.json");
    await Deno.writeTextFile(config, JSON.stringify({ app_api_key: "k", app_api_key_id: "id" }));
    const result = await collect(
      spawnMirrorTask(["validate", "--config", config], {
        VIAM_HOME: join(dir, "viam-home"),
      }),
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /valid/);
  });
});

Deno.test("deno task mirror: a path in /proc or /dev is refused in the program's words, not Deno's (no --allow-all to give)", async () => {
  await withTempDir(async (dir) => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      // What `--config <(echo ...)` passes: a pipe's /dev/fd path.
      [
        ["validate", "--config", "/dev/fd/0"],
        { VIAM_HOME: join(dir, "viam-home") },
        /--config "\/dev\/fd\/0": it lies in \/proc, \/dev or \/sys, .*process substitution/,
      ],
      [
        ["sync", "--tags", "t", "--app-url", "http://127.0.0.1:9"],
        { VIAM_HOME: "/proc/1" },
        /the Viam home \(VIAM_HOME\) "\/proc\/1": it lies in \/proc, \/dev or \/sys/,
      ],
    ];
    for (const [args, env, message] of cases) {
      const result = await collect(spawnMirrorTask(args, env));
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /allow-all/);
    }
  });
});

Deno.test("deno task mirror: a real sync pass under the production set writes only under $VIAM_HOME", async () => {
  await using platform = await startPlatform({ dataset: describeDataset([{ count: 6 }]) });
  await withTempDir(async (dir) => {
    const viamHome = join(dir, "viam-home");
    const result = await collect(
      spawnMirrorTask(["sync", "--app-url", platform.url, "--json"], {
        VIAM_HOME: viamHome,
        VIAM_API_KEY_ID: platform.apiKeyId,
        VIAM_API_KEY: platform.apiKey,
      }),
    );
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout.trim().split("\n").at(-1)!);
    assert.equal(summary.downloaded, 6);
    assert.equal(summary.failed, 0);
    const entries = [];
    for await (const entry of Deno.readDir(dir)) entries.push(entry.name);
    assert.deepEqual(entries, ["viam-home"]);
  });
});

Deno.test("deno task mirror: the real module serves on its socket under the production set and stops on SIGTERM", async () => {
  await withTempDir(async (dir) => {
    const socketDir = join(dir, "viam-module-test");
    await Deno.mkdir(socketDir);
    const socket = join(socketDir, "data-mirror-abcde.sock");
    const child = spawnMirrorTask([socket], {
      VIAM_HOME: join(dir, "viam-home"),
      VIAM_MODULE_ADDRESS: socket,
      VIAM_NO_MODULE_PARENT: "true",
    });
    const output = collect(child);
    let exited = false;
    child.status.then(() => exited = true);
    // The socket appears once the module listens (viam-server polls for it the same way).
    while (!exited && !(await _isSocket(socket))) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (exited) assert.fail(`the module exited before listening: ${(await output).stderr}`);
    child.kill("SIGTERM");
    const result = await output;
    assert.equal(result.code, 0, result.stderr);
  });
});

async function _isSocket(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isSocket === true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

import assert from "node:assert/strict";
import { type Invocation, printUsageError, readInvocation } from "../src/invocation.ts";

function read(args: string[], vars: Record<string, string> = {}): Invocation {
  return readInvocation(args, { env: (name) => vars[name] });
}

function usageMessage(invocation: Invocation): string {
  assert.equal(invocation.mode, "usage-error", JSON.stringify(invocation));
  return (invocation as { message: string }).message;
}

const SOCKET = "/tmp/viam-module-x/data-mirror-abcde.sock";

Deno.test("invocation: how viam-server starts a module on a unix socket", () => {
  assert.deepEqual(read([SOCKET, "--log-level=debug"]), {
    mode: "module",
    address: { kind: "unix", path: SOCKET, from: "the address argument" },
    logLevel: "debug",
  });
  // Newer servers set the variable too: it wins over the argument.
  assert.deepEqual(read(["/old/x.sock"], { VIAM_MODULE_ADDRESS: SOCKET }), {
    mode: "module",
    address: { kind: "unix", path: SOCKET, from: "VIAM_MODULE_ADDRESS" },
    logLevel: "info",
  });
  assert.deepEqual(read([], { VIAM_MODULE_ADDRESS: SOCKET }).mode, "module");
  assert.deepEqual(read(["--log-level=warn"], { VIAM_MODULE_ADDRESS: SOCKET }), {
    mode: "module",
    address: { kind: "unix", path: SOCKET, from: "VIAM_MODULE_ADDRESS" },
    logLevel: "warn",
  });
  // A relative path is clearly a socket when it ends in .sock.
  assert.deepEqual(read(["m.sock"]), {
    mode: "module",
    address: { kind: "unix", path: "m.sock", from: "the address argument" },
    logLevel: "info",
  });
});

Deno.test("invocation: `module [address]` with its options in any order", () => {
  assert.deepEqual(read(["module", "--log-level", "error", SOCKET]), {
    mode: "module",
    address: { kind: "unix", path: SOCKET, from: "the address argument" },
    logLevel: "error",
  });
  assert.deepEqual(read(["module"], { VIAM_MODULE_ADDRESS: SOCKET }), {
    mode: "module",
    address: { kind: "unix", path: SOCKET, from: "VIAM_MODULE_ADDRESS" },
    logLevel: "info",
  });
  // A flag a newer viam-server may add does not stop the module.
  assert.equal(read(["module", SOCKET, "--some-new-flag"]).mode, "module");
  assert.match(usageMessage(read(["module"])), /module: no address given/);
  assert.match(usageMessage(read(["module", "a.sock", "b.sock"])), /one address expected, got 2/);
  // A level it does not know runs the module at info, said: refused, viam-server would start it
  // again every 5 s, for good.
  assert.deepEqual(read([SOCKET, "--log-level=trace"]), {
    mode: "module",
    address: { kind: "unix", path: SOCKET, from: "the address argument" },
    logLevel: "info",
    logLevelNote: '--log-level "trace" is not one of debug, info, warn, error: logging at info',
  });
  // Given without a level before the address: the address is not taken for one.
  assert.deepEqual(read(["module", "--log-level", SOCKET]), {
    mode: "module",
    address: { kind: "unix", path: SOCKET, from: "the address argument" },
    logLevel: "info",
    logLevelNote: "--log-level (not shown) is not one of debug, info, warn, error: logging at info",
  });
  // A word with a colon that is no host:port is not printed back (a credential pasted there).
  assert.match(usageMessage(read(["admin:hunter2"])), /unknown command \(not shown\)/);
});

Deno.test("invocation: TCP mode serves on a loopback port and refuses any other host", () => {
  assert.deepEqual(read(["127.0.0.1:34567", "--tcp-mode"]), {
    mode: "module",
    address: { kind: "tcp", host: "127.0.0.1", port: 34567, from: "the address argument" },
    logLevel: "info",
  });
  assert.deepEqual(read(["module", "localhost:4000"]).mode, "module");
  assert.deepEqual(
    read(["--tcp-mode"], { VIAM_MODULE_ADDRESS: "[::1]:4000", VIAM_TCP_SOCKETS: "true" }),
    {
      mode: "module",
      address: { kind: "tcp", host: "::1", port: 4000, from: "VIAM_MODULE_ADDRESS" },
      logLevel: "info",
    },
  );
  assert.match(
    usageMessage(read(["module", "0.0.0.0:4000", "--tcp-mode"])),
    /module: refusing the address "0.0.0.0:4000" \(the address argument\).*only a loopback host/,
  );
  assert.match(usageMessage(read(["192.168.1.5:4000"])), /only a loopback host/);
  assert.match(usageMessage(read(["127.0.0.1:70000"])), /must be between 1 and 65535/);
  // A mistyped port is not a socket to make in the working folder under that name.
  for (
    const typo of ["127.0.0.1:8080x", "127.0.0.1:1e4", "localhost:+9000", "localhost:", ":80a"]
  ) {
    const said = `module: ${JSON.stringify(typo)} (the address argument) is not host:port with ` +
      `a port of digits (such as 127.0.0.1:8080); a unix socket's path needs a slash (./${typo}) ` +
      "or a unix: prefix";
    assert.equal(usageMessage(read(["module", typo])), said);
    // Given without `module` (as viam-server passes an address), said so too.
    assert.equal(usageMessage(read([typo])), said);
  }
  for (const path of ["./a:b.sock", "unix:mod.sock", "mod.sock"]) {
    assert.equal(read(["module", path]).mode, "module", path);
  }
});

Deno.test("invocation: the address decides unix or TCP, whatever VIAM_TCP_SOCKETS or --tcp-mode say", () => {
  // The module inherits viam-server's environment: a VIAM_TCP_SOCKETS of "false", or one set for
  // another program, must not stop it from serving on the socket viam-server connects to.
  for (const value of ["false", "0", "no", "true", "1"]) {
    assert.deepEqual(read([SOCKET, "--tcp-mode"], { VIAM_TCP_SOCKETS: value }), {
      mode: "module",
      address: { kind: "unix", path: SOCKET, from: "the address argument" },
      logLevel: "info",
    });
  }
  assert.deepEqual(read(["127.0.0.1:4000"], { VIAM_TCP_SOCKETS: "false" }).mode, "module");
});

Deno.test("invocation: the CLI commands, with the config files the bootstrap grants", () => {
  assert.deepEqual(read(["sync", "--config", "a.json", "--config=b.json", "--json"]), {
    mode: "cli",
    args: ["sync", "--config", "a.json", "--config=b.json", "--json"],
    configFiles: ["a.json", "b.json"],
    json: true,
  });
  assert.deepEqual(read(["validate", "--config", "-"]), {
    mode: "cli",
    args: ["validate", "--config", "-"],
    configFiles: [],
    json: false,
  });
  // A command wins over the module's variable: `data-mirror sync` under viam-server's env syncs.
  assert.equal(read(["sync"], { VIAM_MODULE_ADDRESS: SOCKET }).mode, "cli");
  assert.equal(read(["--help"], { VIAM_MODULE_ADDRESS: SOCKET }).mode, "cli");
  assert.equal(read(["--version"]).mode, "cli");
  assert.equal(read([]).mode, "cli");
  assert.equal(read(["help"]).mode, "cli");
  assert.equal(read(["module", "--help"], { VIAM_MODULE_ADDRESS: SOCKET }).mode, "cli");
});

Deno.test("invocation: a misspelt command is a usage error with a suggestion, never a socket", () => {
  assert.equal(
    usageMessage(read(["synk"])),
    'unknown command "synk" (did you mean "sync"? commands: sync, validate, push, completion, module, help)',
  );
  assert.match(usageMessage(read(["valdate", "--config", "x.json"])), /did you mean "validate"/);
  assert.match(usageMessage(read(["SYNC"])), /did you mean "sync"/);
  assert.match(
    usageMessage(read(["mirror"])),
    /unknown command "mirror" \(commands: .*; a module socket path ends in \.sock\)/,
  );
  // Nor under viam-server's environment (a shell on the robot): the variable's address is served
  // only when no word, a module flag, or an address comes first.
  assert.match(
    usageMessage(read(["synk", "--dry-run"], { VIAM_MODULE_ADDRESS: SOCKET })),
    /unknown command "synk" \(did you mean "sync"\?/,
  );
  assert.equal(read([SOCKET], { VIAM_MODULE_ADDRESS: SOCKET }).mode, "module");
  assert.equal(read(["/srv/m"], { VIAM_MODULE_ADDRESS: "/srv/m" }).mode, "module");
  // A folder's path given as the first word (the mirror meant) serves no module on it.
  assert.match(usageMessage(read(["/home/pi/.viam/faces"])), /a module socket path ends in \.sock/);
  // Asked help of: the same (commander printed the whole help as its error).
  assert.match(
    usageMessage(read(["help", "synk"])),
    /^unknown command "synk" \(did you mean "sync"\?/,
  );
  assert.equal(read(["help", "module"]).mode, "cli");
  const helpHelp = read(["help", "help", "--json"]);
  assert.deepEqual(helpHelp.mode === "cli" && helpHelp.args, ["--help", "--json"]);
  // Something that could be a key pasted in the wrong place is not printed back.
  const key = "abcdef0123456789abcdef0123456789";
  assert.ok(!usageMessage(read([key])).includes(key));
});

Deno.test("invocation: a usage error is two lines for people, and one JSON document too with --json", () => {
  const error = read(["synk", "--json"]);
  assert.equal(error.mode, "usage-error");
  if (error.mode !== "usage-error") return;
  const printed = (json: boolean) => {
    const out: string[] = [], err: string[] = [];
    printUsageError({ ...error, json }, { out: (t) => out.push(t), err: (t) => err.push(t) });
    return { out, err };
  };
  const text = 'data-mirror: unknown command "synk" (did you mean "sync"? commands: sync, ' +
    "validate, push, completion, module, help)\n(run data-mirror --help for usage)";
  const withJson = printed(true);
  assert.equal(withJson.out.length, 1);
  assert.deepEqual(JSON.parse(withJson.out[0]), {
    error: 'usage: unknown command "synk" (did you mean "sync"? commands: sync, validate, ' +
      "push, completion, module, help)",
    exitCode: 2,
  });
  assert.deepEqual(withJson.err, [text]);
  assert.deepEqual(printed(false), { out: [], err: [text] });
});

Deno.test("invocation: the bootstrap's import graph holds no npm package (it runs unconfined) and no node: module (its memory stays resident beside the Worker's)", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("../main.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    modules: { specifier: string }[];
  };
  const specifiers = info.modules.map((module) => module.specifier);
  assert.ok(specifiers.some((specifier) => specifier.endsWith("/src/invocation.ts")));
  assert.deepEqual(specifiers.filter((specifier) => !specifier.startsWith("file:")), []);
});

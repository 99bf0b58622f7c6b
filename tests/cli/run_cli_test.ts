/** The CLI's dispatch, in process: what reaches the module runner. */
import assert from "node:assert/strict";
import { type CliEnvironment, runCli } from "../../src/cli/run_cli.ts";

function cli(env: Record<string, string> = {}) {
  const started: { socketPath: string; logLevel: string }[] = [];
  const lines: string[] = [];
  const environment: CliEnvironment = {
    env: (name) => env[name],
    out: (line) => lines.push(line),
    err: (line) => lines.push(line),
    tty: false,
    runModule: (socketPath, options) => {
      started.push({ socketPath, logLevel: options.logLevel });
      return Promise.resolve(0);
    },
  };
  return { environment, started, lines };
}

Deno.test("module: VIAM_MODULE_ADDRESS wins over the argument, which is the fallback", async () => {
  const withEnv = cli({ VIAM_MODULE_ADDRESS: "/tmp/viam-module-x/from-env.sock" });
  assert.equal(
    await runCli(
      ["module", "/tmp/viam-module-x/from-arg.sock", "--log-level", "debug"],
      withEnv.environment,
    ),
    0,
  );
  assert.deepEqual(withEnv.started, [{
    socketPath: "/tmp/viam-module-x/from-env.sock",
    logLevel: "debug",
  }]);

  const withoutEnv = cli();
  assert.equal(
    await runCli(["module", "/tmp/viam-module-x/from-arg.sock"], withoutEnv.environment),
    0,
  );
  assert.deepEqual(withoutEnv.started, [{
    socketPath: "/tmp/viam-module-x/from-arg.sock",
    logLevel: "info",
  }]);
});

Deno.test("module: no socket anywhere is a usage error", async () => {
  const none = cli();
  assert.equal(await runCli(["module"], none.environment), 2);
  assert.equal(none.started.length, 0);
  assert.match(none.lines.join("\n"), /no socket path given/);
});

Deno.test("viam-server's form, --log-level=L after the socket, is accepted", async () => {
  const server = cli();
  assert.equal(
    await runCli(["module", "/tmp/viam-module-x/m.sock", "--log-level=warn"], server.environment),
    0,
  );
  assert.deepEqual(server.started, [{ socketPath: "/tmp/viam-module-x/m.sock", logLevel: "warn" }]);
});

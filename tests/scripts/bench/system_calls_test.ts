import assert from "node:assert/strict";
import {
  countSystemCalls,
  findStrace,
  systemCallsByName,
  totalSystemCalls,
} from "../../../scripts/bench/system_calls.ts";

async function _strace(): Promise<string> {
  const strace = await findStrace();
  assert.ok(strace !== undefined, "strace is not on PATH (apt-get install -y strace)");
  return strace;
}

Deno.test("countSystemCalls counts a real command's calls, its children's too, and keeps its output and code", async () => {
  const strace = await _strace();
  const once = await countSystemCalls(
    { command: "sh", args: ["-c", "echo one; exit 3"], timeoutMs: 30_000 },
    strace,
  );
  assert.equal(once.code, 3);
  assert.equal(once.stdout, "one\n");
  assert.ok(once.systemCalls > 10, `${once.systemCalls} calls`);
  assert.ok((once.byName.execve ?? 0) >= 1, JSON.stringify(once.byName));
  const named = Object.values(once.byName).reduce((sum, calls) => sum + calls, 0);
  assert.equal(named, once.systemCalls, "the rows add up to the total");
  // Ten children, each at least an execve and an exit of its own: counted with the shell's.
  const tenChildren = await countSystemCalls(
    {
      command: "sh",
      args: ["-c", "for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true; done; echo ten"],
      timeoutMs: 30_000,
    },
    strace,
  );
  assert.equal(tenChildren.code, 0);
  assert.ok(tenChildren.byName.execve >= 11, `${tenChildren.byName.execve} execve`);
  assert.ok(
    tenChildren.systemCalls > once.systemCalls + 10 * 20,
    `${tenChildren.systemCalls} calls against ${once.systemCalls}`,
  );
});

Deno.test("countSystemCalls kills the command at its timeout and still counts", async () => {
  const run = await countSystemCalls(
    { command: "sleep", args: ["30"], timeoutMs: 300 },
    await _strace(),
  );
  assert.equal(run.code, 137);
  assert.ok(run.systemCalls > 0);
});

Deno.test("totalSystemCalls and systemCallsByName read the total line and the rows, with or without their errors column", () => {
  const withErrors = [
    "% time     seconds  usecs/call     calls    errors syscall",
    "------ ----------- ----------- --------- --------- -------------------",
    " 81.75   31.455209        6246      5036       253 futex",
    "  2.43    0.933506           7    131079    131076 readlink",
    "------ ----------- ----------- --------- --------- -------------------",
    "100.00   38.475711         176    218026    131619 total",
  ].join("\n");
  assert.equal(totalSystemCalls(withErrors), 218026);
  assert.deepEqual(systemCallsByName(withErrors), { futex: 5036, readlink: 131079 });
  const withoutErrors = "100.00    0.000123          12        10           total\n";
  assert.equal(totalSystemCalls(withoutErrors), 10);
  assert.deepEqual(
    systemCallsByName("  0.00    0.000000           0         3           close\n" + withoutErrors),
    { close: 3 },
  );
  assert.throws(() => totalSystemCalls("strace: Process 12 detached\n"), /no total line/);
});

import assert from "node:assert/strict";
import {
  canDropPageCache,
  measureCommand,
  processCpuSeconds,
  settlePageCache,
} from "../../../scripts/bench/process_usage.ts";

Deno.test("measureCommand reports the peak RSS, the CPU and the output of the command", async () => {
  // Touches 200 MiB, then burns some CPU.
  const code = "const a = new Uint8Array(200 * 1024 * 1024).fill(1); let x = 0;" +
    "for (let i = 0; i < 3e8; i++) x += i; console.log(a[5] + (x > 0 ? 1 : 0));";
  const run = await measureCommand({
    command: Deno.execPath(),
    args: ["eval", code],
    env: { BENCH_TEST: "1" },
    timeoutMs: 60_000,
  });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.timedOut, false);
  assert.equal(run.stdout.trim(), "2");
  assert.ok(run.peakRssMiB >= 200, `peak ${run.peakRssMiB} MiB`);
  assert.ok(run.cpuSeconds > 0.05, `cpu ${run.cpuSeconds} s`);
  assert.ok(Math.abs(run.cpuSeconds - (run.userSeconds + run.systemSeconds)) < 1e-9);
  assert.ok(run.wallSeconds > 0);
});

Deno.test("measureCommand kills a command at its timeout and says so", async () => {
  const run = await measureCommand({ command: "sleep", args: ["30"], timeoutMs: 2_000 });
  assert.equal(run.timedOut, true);
  assert.notEqual(run.code, 0);
  assert.ok(run.wallSeconds < 20, `took ${run.wallSeconds} s`);
});

Deno.test("processCpuSeconds reads a running process's CPU from /proc", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      // Spins for 0.4 s of its own CPU (not of the clock: on a loaded machine it gets less), then waits.
      "while (process.cpuUsage().user < 400_000); await new Promise((r) => setTimeout(r, 60_000));",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    let cpu = 0;
    for (let i = 0; i < 600 && cpu < 0.2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      cpu = await processCpuSeconds(child.pid);
    }
    assert.ok(cpu >= 0.2, `cpu ${cpu} s`);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
});

Deno.test("settlePageCache finds a command's executable on PATH, and names one it cannot find", async () => {
  // As root the cache is dropped and the executable found on PATH is read back in; otherwise only
  // `sync` runs and the name is not looked up.
  await settlePageCache({ command: "sleep" });
  await settlePageCache({ command: Deno.execPath() });
  const missing = { command: "no-such-tool-3f9a" };
  if (await canDropPageCache()) {
    await assert.rejects(settlePageCache(missing), /no-such-tool-3f9a is not on PATH/);
  } else {
    await settlePageCache(missing);
  }
});

Deno.test("settlePageCache runs the warm-up with the command's environment, and names one that fails", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const mark = `${dir}/warmed`;
    await settlePageCache({
      command: Deno.execPath(),
      env: { WARM_UP_MARK: mark },
      warmUpArgs: ["eval", "Deno.writeTextFileSync(Deno.env.get('WARM_UP_MARK'), 'x')"],
    });
    assert.equal(await Deno.readTextFile(mark), "x");
    await assert.rejects(
      settlePageCache({ command: Deno.execPath(), warmUpArgs: ["eval", "Deno.exit(3)"] }),
      /the warm-up run \(.* eval Deno\.exit\(3\)\) exited with 3/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

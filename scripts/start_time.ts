/**
 * `deno run --allow-all scripts/start_time.ts [--runs N] [--binary PATH]`: how fast the program starts, the way it is run for real (`deno run` under
 * the production flags, through the narrowing bootstrap), or a compiled binary given with `--binary`.
 *
 * - module: from spawn until the unix socket exists (viam-server polls for it every 100 ms; the
 *   target is 500 ms), and until a first Ready call (made as viam-server makes it, at once) is
 *   answered; then SIGTERM;
 * - cli: `--version` and `validate --config` from spawn to exit.
 *
 * Prints the median and the slowest of `--runs` runs (default 7) for each, in wall time and, for the
 * module on Linux, in CPU time (user + system of the process when its socket appeared, from
 * `/proc/<pid>/stat`: steadier than wall time on a busy machine). A measurement, not a test: run it
 * on an idle machine.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ViamClient } from "../tests/module/_viam_client.ts";
import { productionRunArgs } from "./mirror.ts";
import { programBundle } from "./program_bundle.ts";

const _MAIN = await programBundle();

const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "7" }, binary: { type: "string" } },
});
const runs = Number(values.runs);
const dir = await Deno.makeTempDir({ prefix: "dm-start-" });

function _command(args: string[], env: Record<string, string>): Deno.Command {
  const [program, programArgs] = values.binary
    ? [values.binary, args]
    : [Deno.execPath(), productionRunArgs(_MAIN, args)];
  return new Deno.Command(program, {
    args: programArgs,
    env: { VIAM_HOME: join(dir, ".viam"), NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  });
}

/** CPU milliseconds (user + system, all threads) `pid` has used so far; NaN off Linux. */
async function _cpuMs(pid: number): Promise<number> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime (fields 14 and 15 of the line), in clock ticks of 10 ms.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

const _moduleCpu: number[] = [];
const _moduleReady: number[] = [];

async function _moduleStart(run: number): Promise<number> {
  const socketDir = join(dir, `viam-module-${run}`);
  await Deno.mkdir(socketDir);
  const socket = join(socketDir, "data-mirror-start.sock");
  const started = performance.now();
  const child = _command([socket], { VIAM_NO_MODULE_PARENT: "true" }).spawn();
  for (;;) {
    try {
      await Deno.lstat(socket);
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
  const elapsed = performance.now() - started;
  _moduleCpu.push(await _cpuMs(child.pid));
  const client = new ViamClient(socket);
  try {
    await client.ready();
  } finally {
    client.close();
  }
  _moduleReady.push(performance.now() - started);
  child.kill("SIGTERM");
  await child.status;
  return elapsed;
}

async function _cliRun(args: string[]): Promise<number> {
  const started = performance.now();
  await _command(args, {}).output();
  return performance.now() - started;
}

async function _measure(what: string, once: (run: number) => Promise<number>): Promise<void> {
  const times: number[] = [];
  for (let run = 0; run < runs; run++) times.push(await once(run));
  _print(what, times);
}

function _print(what: string, times: number[]): void {
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(
    `${what.padEnd(34)} median ${median.toFixed(0).padStart(5)} ms, slowest ${
      times.at(-1)!.toFixed(0).padStart(5)
    } ms (${runs} runs)`,
  );
}

try {
  const config = join(dir, "mirror.json");
  await Deno.writeTextFile(config, JSON.stringify({ app_api_key_id: "id", app_api_key: "key" }));
  await _measure("module: spawn to socket", _moduleStart);
  if (!_moduleCpu.some(Number.isNaN)) _print("module: CPU time to socket", _moduleCpu);
  _print("module: spawn to Ready answered", _moduleReady);
  await _measure("cli: --version", () => _cliRun(["--version"]));
  await _measure("cli: validate --config", () => _cliRun(["validate", "--config", config]));
} finally {
  await Deno.remove(dir, { recursive: true });
}

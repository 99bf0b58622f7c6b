/**
 * `deno task bench`: what a sync pass costs against the local data platform, measured on the real
 * program (spawned under the production permission flags, as `deno task mirror` runs it).
 *
 * For each scenario it reports wall time, the platform calls the pass made, and the program's peak
 * resident memory (VmHWM, read from /proc while it runs). Scenarios: a fresh pass and a no-op pass
 * over N small files, at 0 ms and at 50 ms of latency per call; and one large file streamed by uri.
 *
 * Usage: deno task bench [--items N] [--large-mib M] [--json FILE]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { productionRunArgs } from "./mirror.ts";
import type { Summary } from "../src/sync/summary.ts";
import {
  describeDataset,
  type Faults,
  type PlatformDataset,
  startPlatform,
} from "../tests/support/platform/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    items: { type: "string", default: "10000" },
    "large-mib": { type: "string", default: "256" },
    json: { type: "string" },
  },
});
const items = Number(values.items);
const largeMib = Number(values["large-mib"]);

interface Result {
  scenario: string;
  wallSeconds: number;
  peakRssMiB: number;
  calls: Record<string, number>;
  summary: Summary;
}

const results: Result[] = [];

const small = describeDataset([{
  count: items,
  folder: (i) => `batch-${Math.floor(i / 1000)}`,
  sizeBytes: (i) => 2048 + (i * 7919) % 14336,
  tags: ["bench"],
}]);
await scenarioPair(`${items} small files`, small, {});
await scenarioPair(`${items} small files, 50 ms per call`, small, { latencyMs: 50 });
const large = describeDataset([{
  count: 1,
  fileName: "model.bin",
  fileExt: ".bin",
  sizeBytes: largeMib * 1024 * 1024,
  tags: ["bench"],
}]);
await scenarioPair(`one ${largeMib} MiB file by uri`, large, {});

console.log("\n| scenario | wall s | peak RSS MiB | calls | downloaded | bytes |");
console.log("| --- | --- | --- | --- | --- | --- |");
for (const r of results) {
  const calls = Object.entries(r.calls).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
  console.log(
    `| ${r.scenario} | ${r.wallSeconds.toFixed(2)} | ${r.peakRssMiB.toFixed(0)} | ` +
      `${calls.join(", ")} | ${r.summary.downloaded} | ${r.summary.bytes} |`,
  );
}
if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(results, null, 2));

/** A fresh pass, then a no-op pass, into a new `.viam` home. */
async function scenarioPair(name: string, dataset: PlatformDataset, faults: Faults) {
  await using platform = await startPlatform({ dataset, faults });
  const home = await Deno.makeTempDir({ prefix: "data-mirror-bench-" });
  try {
    for (const run of ["fresh", "no-op"]) {
      platform.resetCalls();
      const started = performance.now();
      const { summary, peakRssMiB } = await runPass(platform.url, home, platform);
      results.push({
        scenario: `${name}: ${run}`,
        wallSeconds: (performance.now() - started) / 1000,
        peakRssMiB,
        calls: { ...platform.calls },
        summary,
      });
      console.error(`${name}: ${run} done`);
    }
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

async function runPass(
  url: string,
  home: string,
  key: { apiKeyId: string; apiKey: string },
): Promise<{ summary: Summary; peakRssMiB: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: productionRunArgs(new URL("../main.ts", import.meta.url), [
      "sync",
      "--app-url",
      url,
      "--tags",
      "bench",
      "--json",
      "--log-level",
      "warn",
    ]),
    env: { VIAM_HOME: home, VIAM_API_KEY_ID: key.apiKeyId, VIAM_API_KEY: key.apiKey },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let peakKiB = 0;
  const poll = setInterval(async () => {
    try {
      const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
      const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
      if (hwm) peakKiB = Math.max(peakKiB, Number(hwm[1]));
    } catch {
      // the process has exited
    }
  }, 50);
  const output = await child.output();
  clearInterval(poll);
  const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
  if (!output.success) {
    throw new Error(`the pass failed (exit ${output.code}): ${lines.join("\n")}`);
  }
  return { summary: JSON.parse(lines.at(-1)!), peakRssMiB: peakKiB / 1024 };
}

/**
 * What the manifest costs on 100,000 items: the real program (`main.ts sync` under the production
 * permissions) against the local data platform in its own process, each item with two tags, two
 * bounding boxes with a confidence and a dataset id. After one pass that downloads everything, it
 * runs list-only passes (every file already present: the pass where the manifest's share is
 * largest) in turn: with `--no-manifest`; with the manifest, unchanged (left in place); and with
 * the manifest rewritten (its digest file removed first, as when the data changed). It prints the
 * median wall time, CPU time and peak RSS of each, and the manifest's size.
 *
 * Usage: `deno run -A scripts/manifest_cost.ts [--items N] [--rounds R] [--latency MS]`
 * (defaults 100000, 3, 0). `--serve N MS` is the server side, spawned by the script itself.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { describeDataset, startPlatform } from "../tests/support/platform/mod.ts";
import { BENCH_TAG } from "./bench/bench_set.ts";
import { mirrorDirOf, type MirrorPass, runMirrorPass } from "./bench/mirror_pass.ts";

interface _Server {
  url: string;
  apiKeyId: string;
  apiKey: string;
}

const _TIMEOUT_MS = 1_800_000;

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      items: { type: "string", default: "100000" },
      rounds: { type: "string", default: "3" },
      latency: { type: "string", default: "0" },
      serve: { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  const items = Number(values.items);
  const latencyMs = Number(values.latency);
  if (values.serve) await _serve(items, latencyMs);
  else await _measure(items, Number(values.rounds), latencyMs);
}

/** The server side: the platform with `count` generated items until stdin closes. */
async function _serve(count: number, latencyMs: number): Promise<void> {
  const perFolder = Math.ceil(count / 100);
  const dataset = describeDataset([{
    name: "cam",
    count,
    folder: (i) => `d${String(Math.floor(i / perFolder)).padStart(3, "0")}`,
    sizeBytes: 1024,
    tags: [BENCH_TAG, "cam-front"],
    bboxLabels: ["person", "car"],
    bboxConfidence: 0.9,
    datasetIds: ["ds-bench-0001"],
  }]);
  await using platform = await startPlatform({ dataset, faults: { latencyMs } });
  console.log(JSON.stringify({
    url: platform.url,
    apiKeyId: platform.apiKeyId,
    apiKey: platform.apiKey,
  }));
  for await (const _ of Deno.stdin.readable) {
    // Runs until the measuring side closes stdin.
  }
}

async function _measure(items: number, rounds: number, latencyMs: number): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--serve",
      "--items",
      `${items}`,
      "--latency",
      `${latencyMs}`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  const home = await Deno.makeTempDir({ prefix: "manifest-cost-" });
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let first = "";
    while (!first.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the platform exited before it listened");
      first += value;
    }
    const server = JSON.parse(first.split("\n")[0]) as _Server;
    const stateDir = join(mirrorDirOf(home), ".data-mirror");
    const pass = async (noManifest: boolean): Promise<MirrorPass> => {
      const run = await runMirrorPass({
        home,
        server,
        extraArgs: noManifest ? ["--no-manifest"] : [],
        timeoutMs: _TIMEOUT_MS,
      });
      if (run.code !== 0) throw new Error(`pass exited ${run.code}: ${run.stderr}`);
      return run;
    };
    const download = await pass(false);
    console.log(`download pass (manifest on): ${_describe(download)}`);
    const off: MirrorPass[] = [];
    const kept: MirrorPass[] = [];
    const rewritten: MirrorPass[] = [];
    for (let round = 0; round < rounds; round++) {
      off.push(await pass(true));
      kept.push(await pass(false));
      await Deno.remove(join(stateDir, "manifest.digest"));
      rewritten.push(await pass(false));
      console.log(`round ${round + 1}: off ${_describe(off.at(-1)!)}`);
      console.log(`  unchanged ${_describe(kept.at(-1)!)}`);
      console.log(`  rewritten ${_describe(rewritten.at(-1)!)}`);
    }
    const manifest = await Deno.stat(join(stateDir, "manifest.jsonl"));
    console.log(`list-only pass, median of ${rounds}:`);
    console.log(`  --no-manifest:        ${_describe(_median(off))}`);
    console.log(`  manifest, unchanged:  ${_describe(_median(kept))}`);
    console.log(`  manifest, rewritten:  ${_describe(_median(rewritten))}`);
    console.log(`manifest: ${(manifest.size / 1024 / 1024).toFixed(1)} MiB, ${items} lines`);
  } finally {
    await writer.close().catch(() => {});
    await child.status;
    await Deno.remove(home, { recursive: true });
  }
}

/** The pass with the median wall time (the figures of one run, not a mix of runs). */
function _median(passes: MirrorPass[]): MirrorPass {
  const sorted = [...passes].sort((a, b) => a.wallSeconds - b.wallSeconds);
  return sorted[Math.floor(sorted.length / 2)];
}

function _describe(pass: MirrorPass): string {
  const s = pass.summary;
  return `${pass.wallSeconds.toFixed(2)} s wall, ${pass.cpuSeconds.toFixed(2)} s CPU, ` +
    `${pass.peakRssMiB.toFixed(0)} MiB peak RSS (listed ${s?.listed}, downloaded ${s?.downloaded})`;
}

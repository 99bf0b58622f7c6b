/**
 * Row 13 (beyond issue 7's table): the module stops cleanly the way viam-server stops it, stop after
 * stop. viam-server's client closes its connection (a gRPC client sends a GOAWAY as it closes), then
 * SIGTERM comes. Deno 2.9.6 can die inside nghttp2 while it sends a GOAWAY (denoland/deno#36788):
 * answering the client's with its own, the module died in 3 and 1 stops of two runs of 200 (exit
 * 134) before it ended its connections by their sockets instead.
 *
 * Each stop starts the module on the same Viam home, adds a mirror into a folder of its own, runs a
 * sync through DoCommand, and stops it; a stop holds when the sync mirrored every file and the
 * module exited 0.
 *
 * @module
 */
import { join } from "node:path";
import { describeDataset } from "../support/platform/mod.ts";
import { listTree } from "./mirror_tree.ts";
import type { FaultRig } from "./fault_rig.ts";
import { startModuleProcess } from "./module_process.ts";
import { count, type RowReport } from "./row_report.ts";
import { Sandbox } from "./sandbox.ts";

const _TAG = "stops";

/** Runs row 13 with `stops` module lives (default 200). */
export async function moduleStops(
  rig: FaultRig,
  options: { stops?: number } = {},
): Promise<RowReport> {
  const stops = options.stops ?? 200;
  const items = 5;
  rig.serve(describeDataset([{ name: "s", count: items, tags: [_TAG] }]));
  const problems: string[] = [];
  let clean = 0;
  await using sandbox = await Sandbox.create({ prefix: "data-mirror-stops-" });
  for (let stop = 1; stop <= stops; stop++) {
    const module = await startModuleProcess(rig, sandbox.home);
    let synced = false;
    try {
      await Promise.race([
        (async () => {
          // A mirror of its own each time: every life downloads the files.
          await module.addMirror("mirror1", {
            tags: [_TAG],
            mirror_path: `stops/${stop}`,
            sync_frequency: 3600,
          });
          const summary = await module.command("mirror1", "sync", 60_000);
          synced = summary.failed === 0 && summary.listed === items &&
            (await _files(join(sandbox.home, "stops", String(stop)))) === items;
          if (!synced) problems.push(`stop ${stop}: the sync reported ${JSON.stringify(summary)}`);
        })(),
        module.crashed,
      ]);
    } catch (error) {
      problems.push(`stop ${stop}: ${(error as Error).message ?? JSON.stringify(error)}`);
    }
    const exit = await module.stop();
    if (exit.code !== 0) {
      problems.push(`stop ${stop}: the module exited ${exit.code}: ${exit.stderr.slice(-500)}`);
    } else if (synced) {
      clean++;
    }
  }
  return {
    row: 13,
    fault: "the module stopped as viam-server stops it (client closes, then SIGTERM)",
    figure: `${count(clean)}/${count(stops)} stops exited 0 after a complete sync`,
    problems,
  };
}

async function _files(root: string): Promise<number> {
  return [...(await listTree(root)).values()].filter((info) => info.isFile).length;
}

/**
 * Row 1: SIGKILL at random instants of a pass (during the listing, mid small and large downloads,
 * at placement, during deletion, at state writes, or after a random delay), then a normal pass.
 * Holds when every recovery pass leaves the tree byte-identical to the platform's set, no poll
 * ever saw a file under a final name with a wrong size, and nothing outside the mirror changed.
 *
 * @module
 */
import { join } from "node:path";
import { describeDataset, type ItemRecord } from "../support/platform/mod.ts";
import { lastJsonLine, type RunningProgram } from "../_program.ts";
import type { FaultRig } from "./fault_rig.ts";
import { listTree, STATE_DIR, treeDifferences } from "./mirror_tree.ts";
import { outputTail } from "./pass_output.ts";
import { count, type RowReport } from "./row_report.ts";
import { Sandbox } from "./sandbox.ts";
import { defaultSeed, SeededRandom } from "./seeded_random.ts";
import { SizePoller } from "./size_poller.ts";
import { recordPlaced } from "../sync/_harness.ts";

/** Options of {@linkcode killPoints}. */
export interface KillPointsOptions {
  /** Kills that must land while a pass runs (default 10). */
  points?: number;
  /** Seed of the instants (default `FAULTS_SEED` or the clock). */
  seed?: number;
}

/** Where in a pass a kill is aimed. */
type _Phase = "listing" | "small" | "large" | "placement" | "delete" | "state" | "random";
const _PHASES: readonly _Phase[] = [
  "listing",
  "small",
  "large",
  "placement",
  "delete",
  "state",
  "random",
];

const _TAG = "kill";
const _LARGE_BYTES = 1_536 * 1024;
const _STALE = Array.from({ length: 8 }, (_, i) => `old/stale-${i}.bin`);

/** Runs row 1. */
export async function killPoints(
  rig: FaultRig,
  options: KillPointsOptions = {},
): Promise<RowReport> {
  const points = options.points ?? 10;
  const random = new SeededRandom(options.seed ?? defaultSeed());
  const dataset = describeDataset([
    { name: "small", count: 30, folder: (i) => `cams/${i % 3}`, tags: [_TAG] },
    {
      name: "large",
      count: 3,
      folder: "models",
      sizeBytes: (i) => _LARGE_BYTES + i,
      mimeType: "application/octet-stream",
      tags: [_TAG],
    },
  ]);
  // Pages of 10 items 5 ms apart, bodies at 4 MiB/s: a pass lasts long enough to be cut anywhere.
  rig.serve(dataset, { latencyMs: 5, maxPageItems: 10, bodyBytesPerSecond: 4 * 1024 * 1024 });
  const items = rig.platform.items();
  const expectedSizes = new Map<string, number>(
    items.map((item) => [item.fileName, item.sizeBytes]),
  );
  for (const path of _STALE) expectedSizes.set(path, _staleContent(path).length);

  const problems: string[] = [];
  const hits = new Map<_Phase, number>();
  let landed = 0;
  let identical = 0;
  let polls = 0;
  let wrongSize = 0;
  for (let attempt = 0; landed < points && attempt < points * 2; attempt++) {
    const phase = _PHASES[attempt % _PHASES.length];
    await using sandbox = await Sandbox.create({ prefix: "data-mirror-kill-" });
    const root = sandbox.mirror();
    sandbox.own("viam/data_mirror");
    for (const path of _STALE) await sandbox.writeFile(join(root, path), _staleContent(path));
    await recordPlaced(root, _STALE); // as a pass placed them: the mirror's to delete
    const before = await sandbox.snapshot();
    const poller = new SizePoller(root, expectedSizes);

    const args = ["sync", "--tags", _TAG, "--delete", "--json", "--log-level", "debug"];
    await using killed = rig.spawn(args, { home: sandbox.home });
    const fired = await _killWhen(killed, phase, { rig, root, items, random });
    const cut = await killed.done;
    const hit = fired && cut.signal === "SIGKILL";
    if (hit) {
      landed++;
      hits.set(phase, (hits.get(phase) ?? 0) + 1);
    }

    const recovery = await rig.run(["sync", "--tags", _TAG, "--delete", "--json"], {
      home: sandbox.home,
    });
    const seen = await poller.stop();
    polls += seen.polls;
    wrongSize += seen.wrongSize;
    const where = `kill ${attempt + 1} (${phase}, seed ${random.seed})`;
    for (const example of seen.examples) problems.push(`${where}: wrong size seen: ${example}`);
    if (recovery.code !== 0) {
      problems.push(`${where}: the recovery pass exited ${recovery.code}: ${outputTail(recovery)}`);
    }
    const differences = await treeDifferences(root, rig.platform, items);
    if (hit && differences.length === 0 && recovery.code === 0) identical++;
    for (const difference of differences) problems.push(`${where}: ${difference}`);
    if (recovery.code === 0 && lastJsonLine(recovery.stdout).failed !== 0) {
      problems.push(`${where}: the recovery pass counted failures: ${outputTail(recovery)}`);
    }
    for (const change of sandbox.changesOutsideMirror(before, await sandbox.snapshot())) {
      problems.push(`${where}: outside the mirror: ${change}`);
    }
  }
  if (landed < points) problems.push(`only ${landed} of ${points} kills landed during a pass`);
  const phases = _PHASES.map((phase) => `${phase} ${hits.get(phase) ?? 0}`).join(", ");
  return {
    row: 1,
    fault: "SIGKILL at random instants, then a normal pass",
    figure: `kill points ${identical}/${landed} identical, ${count(wrongSize)} wrong-size files ` +
      `seen in ${count(polls)} polls (${phases}; seed ${random.seed})`,
    problems,
  };
}

interface _KillContext {
  rig: FaultRig;
  root: string;
  items: readonly ItemRecord[];
  random: SeededRandom;
}

/**
 * Watches the pass and SIGKILLs it once `phase` is reached (plus a few random milliseconds).
 * Resolves to false when the program ended before that.
 */
async function _killWhen(
  program: RunningProgram,
  phase: _Phase,
  { rig, root, items, random }: _KillContext,
): Promise<boolean> {
  const large = items.filter((item) => item.sizeBytes >= _LARGE_BYTES);
  const smallTarget = random.int(1, 25);
  const largeFraction = 0.1 + random.next() * 0.8;
  const pageTarget = random.int(1, 3);
  const started = Date.now();
  const delayMs = random.int(0, 2500);
  const reached = async (): Promise<boolean> => {
    switch (phase) {
      case "listing":
        return rig.platform.calls.BinaryDataByFilter >= pageTarget;
      case "random":
        return Date.now() - started >= delayMs;
      case "small": {
        const tree = await listTree(root);
        return [...tree.keys()].filter((path) => path.startsWith("cams/")).length >= smallTarget;
      }
      case "placement": {
        const tree = await listTree(root);
        return large.some((item) => tree.has(item.fileName));
      }
      case "delete": {
        const tree = await listTree(root);
        return _STALE.some((path) => !tree.has(path));
      }
      case "large":
        return (await _stateFileSizes(root)).some((size) => size >= largeFraction * _LARGE_BYTES);
      case "state":
        return (await _stateFileSizes(root)).length > 0;
    }
  };
  while (!program.exited) {
    if (await reached()) {
      await new Promise((resolve) => setTimeout(resolve, random.int(0, 3)));
      if (program.exited) return false;
      program.kill("SIGKILL");
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return false;
}

/** Sizes of the regular files under the mirror's state folder (partials, sidecars, lock). */
async function _stateFileSizes(root: string): Promise<number[]> {
  const sizes: number[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch {
      return; // not there yet, or removed meanwhile
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile) {
        try {
          sizes.push((await Deno.lstat(path)).size);
        } catch {
          // removed meanwhile
        }
      }
    }
  };
  await walk(join(root, STATE_DIR));
  return sizes;
}

function _staleContent(path: string): Uint8Array {
  return new TextEncoder().encode(`stale file ${path}\n`.repeat(50));
}

/**
 * Row 8: two processes on one mirror, and a lock left by a SIGKILLed holder. Holds when a second
 * pass started while another runs (after a random delay) refuses at once, says the mirror is busy
 * and touches nothing, and a pass started right after the holder was SIGKILLed takes the lock
 * over and completes the mirror.
 *
 * @module
 */
import { describeDataset } from "../support/platform/mod.ts";
import type { FaultRig } from "./fault_rig.ts";
import { treeDifferences } from "./mirror_tree.ts";
import { countOf, outputTail } from "./pass_output.ts";
import type { RowReport } from "./row_report.ts";
import { Sandbox } from "./sandbox.ts";
import { defaultSeed, SeededRandom } from "./seeded_random.ts";

/** Options of {@linkcode lockContention}. */
export interface LockContentionOptions {
  /** Rounds of contention and takeover (default 3). */
  rounds?: number;
  /** Seed of the delays (default `FAULTS_SEED` or the clock). */
  seed?: number;
}

const _TAG = "lock";

/** Runs row 8. */
export async function lockContention(
  rig: FaultRig,
  options: LockContentionOptions = {},
): Promise<RowReport> {
  const rounds = options.rounds ?? 3;
  const random = new SeededRandom(options.seed ?? defaultSeed());
  const dataset = describeDataset([{
    name: "k",
    count: 6,
    folder: "k",
    sizeBytes: (i) => 600_000 + i,
    mimeType: "application/octet-stream",
    tags: [_TAG],
  }]);
  const problems: string[] = [];
  let refused = 0;
  let overlapped = 0;
  let takenOver = 0;
  const args = ["sync", "--tags", _TAG, "--json"];
  for (let round = 1; round <= rounds; round++) {
    // Bodies at 50 kB/s: the holder's pass lasts some 12 s, time for a second process to start
    // on a loaded machine. It costs nothing: the holder is killed once the second pass has ended.
    rig.serve(dataset, { bodyBytesPerSecond: 50_000 });
    await using sandbox = await Sandbox.create({ prefix: "data-mirror-lock-" });
    sandbox.own("viam/data_mirror");
    const before = await sandbox.snapshot();
    await using holder = rig.spawn(args, { home: sandbox.home });
    while (rig.platform.calls.download < 1 && !holder.exited) await _sleep(5);
    await _sleep(random.int(0, 400));
    const second = await rig.run(args, { home: sandbox.home });
    if (holder.exited) {
      problems.push(`round ${round}: the holder ended before the second pass did; no overlap`);
    } else {
      overlapped++;
      const busy = second.code !== 0 && /busy|lock/i.test(second.stdout + second.stderr) &&
        (countOf(second, "downloaded") || 0) === 0 && (countOf(second, "deleted") || 0) === 0;
      if (busy) refused++;
      else {problems.push(
          `round ${round}: a second pass ran beside the first: ${outputTail(second)}`,
        );}
    }
    // The holder dies by SIGKILL mid-pass: its lock must not outlive it.
    holder.kill("SIGKILL");
    await holder.done;
    rig.platform.setFaults({});
    const next = await rig.run(args, { home: sandbox.home });
    const differences = await treeDifferences(sandbox.mirror(), rig.platform, rig.platform.items());
    if (next.code === 0 && differences.length === 0) takenOver++;
    else problems.push(`round ${round}: the lock was not taken over: ${outputTail(next)}`);
    problems.push(...differences.map((difference) => `round ${round}: ${difference}`));
    for (const change of sandbox.changesOutsideMirror(before, await sandbox.snapshot())) {
      problems.push(`round ${round}: outside the mirror: ${change}`);
    }
  }
  return {
    row: 8,
    fault: "two processes on one mirror; a lock left by a SIGKILLed holder",
    figure: `${refused}/${overlapped} overlapping passes refused as busy; ` +
      `${takenOver}/${rounds} locks of SIGKILLed holders taken over (seed ${random.seed})`,
    problems,
  };
}

function _sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

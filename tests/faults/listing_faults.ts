/**
 * Row 2: the listing fails after page N, times out, or the key is refused mid-listing (the
 * platform restarts accepting another key), and a listing that ends early on an empty page.
 * Holds when the faulty pass with `--delete` deletes nothing and says it failed, and the next
 * pass (faults gone) completes and deletes what is stale.
 *
 * @module
 */
import { join } from "node:path";
import { describeDataset, type Faults } from "../support/platform/mod.ts";
import type { RunningProgram } from "../_program.ts";
import { pollUntil } from "../_poll.ts";
import type { FaultRig } from "./fault_rig.ts";
import { treeDifferences } from "./mirror_tree.ts";
import { countOf, outputTail, summaryOf } from "./pass_output.ts";
import type { RowReport } from "./row_report.ts";
import { Sandbox } from "./sandbox.ts";
import { recordPlaced } from "../sync/_harness.ts";

/** Options of {@linkcode listingFaults}. */
export interface ListingFaultsOptions {
  /**
   * Also a listing page that never answers (default false): the program's per-call timeout is
   * 60 s with 8 tries, so this case takes minutes and runs only in `deno task faults`.
   */
  timeout?: boolean;
}

const _TAG = "list";
const _STALE = ["stale/a.bin", "stale/b.bin", "c.bin"];

interface _Case {
  name: string;
  /** Breaks the listing; resolves once the faulty pass is under way or may start. */
  inject(rig: FaultRig, program: RunningProgram): Promise<void>;
  /** Whether the pass must exit non-zero (the listing visibly failed). */
  mustFail: boolean;
}

/** Runs row 2. */
export async function listingFaults(
  rig: FaultRig,
  options: ListingFaultsOptions = {},
): Promise<RowReport> {
  const dataset = describeDataset([{ name: "l", count: 24, folder: "cams", tags: [_TAG] }]);
  const pages: Faults = { maxPageItems: 5 };
  const afterFirstPage = async (rig: FaultRig, program: RunningProgram, faults: Faults) => {
    await _untilListed(rig, program, 1);
    rig.platform.setFaults({ ...pages, ...faults });
  };
  const cases: _Case[] = [
    {
      name: "listing fails after page 2",
      inject: (rig) =>
        Promise.resolve(rig.platform.setFaults({ ...pages, failListingAfterPage: 2 })),
      mustFail: true,
    },
    {
      name: "listing fails at once (INTERNAL)",
      inject: (rig) =>
        Promise.resolve(
          rig.platform.setFaults({
            ...pages,
            failListingAfterPage: 0,
            failListingCode: "internal",
          }),
        ),
      mustFail: true,
    },
    {
      name: "key refused mid-listing",
      inject: async (rig, program) => {
        rig.platform.setFaults({ ...pages, latencyMs: 150 });
        // 5 of the 9 or more calls a listing of 24 items in pages of 5 makes, each held 150 ms.
        await _untilListed(rig, program, 5);
        await rig.restartPlatform({ apiKeys: [{ id: rig.key.id, key: "another-key-entirely" }] });
      },
      mustFail: true,
    },
    {
      name: "listing ends early on an empty page",
      inject: (rig) =>
        Promise.resolve(rig.platform.setFaults({ ...pages, endListingAfterPage: 2 })),
      mustFail: false,
    },
  ];
  if (options.timeout) {
    cases.push({
      name: "a listing page never answers (timeout)",
      inject: (rig, program) => afterFirstPage(rig, program, { latencyMs: 3_600_000 }),
      mustFail: true,
    });
  }

  const problems: string[] = [];
  let held = 0;
  let recovered = 0;
  for (const c of cases) {
    rig.serve(dataset, pages);
    await using sandbox = await Sandbox.create({ prefix: "data-mirror-listing-" });
    sandbox.own("viam/data_mirror");
    const root = sandbox.mirror();
    const first = await rig.run(["sync", "--tags", _TAG, "--json"], { home: sandbox.home });
    if (first.code !== 0) problems.push(`${c.name}: the first pass failed: ${outputTail(first)}`);
    const stale = new Map(_STALE.map((path) => [path, new TextEncoder().encode(path)]));
    for (const [path, content] of stale) await sandbox.writeFile(join(root, path), content);
    await recordPlaced(root, [...stale.keys()]); // as a pass placed them: the mirror's to delete
    const before = await sandbox.snapshot();

    // The injections count the faulty pass's own listing calls (the first pass's made many).
    rig.platform.resetCalls();
    const program = rig.spawn(["sync", "--tags", _TAG, "--delete", "--json"], {
      home: sandbox.home,
    });
    await c.inject(rig, program);
    const faulty = await program.done;
    const deleted = countOf(faulty, "deleted");
    const reason = summaryOf(faulty).error ?? summaryOf(faulty).guard;
    const changes = sandbox.changesOutsideMirror(before, await sandbox.snapshot());
    const differences = await treeDifferences(root, rig.platform, rig.platform.items(), stale);
    let ok = true;
    if (deleted !== 0) problems.push(`${c.name}: deleted ${deleted}: ${outputTail(faulty)}`);
    if (c.mustFail && faulty.code === 0) {
      problems.push(`${c.name}: the pass did not fail: ${outputTail(faulty)}`);
    }
    if (typeof reason !== "string" || reason === "") {
      problems.push(`${c.name}: no error nor guard in the summary: ${outputTail(faulty)}`);
    }
    for (const difference of [...differences, ...changes]) {
      problems.push(`${c.name}: after the faulty pass: ${difference}`);
    }
    ok = deleted === 0 && (!c.mustFail || faulty.code !== 0) && differences.length === 0;
    if (ok) held++;

    // The faults gone (and the right key back), the next pass completes and deletes the stale.
    await rig.restartPlatform();
    rig.platform.setFaults(pages);
    const next = await rig.run(["sync", "--tags", _TAG, "--delete", "--json"], {
      home: sandbox.home,
    });
    const after = await treeDifferences(root, rig.platform, rig.platform.items());
    if (next.code !== 0 || countOf(next, "deleted") !== _STALE.length || after.length > 0) {
      problems.push(`${c.name}: the next pass did not recover: ${outputTail(next)} ${after}`);
    } else recovered++;
  }
  return {
    row: 2,
    fault: "listing fails after page N, times out, key refused mid-listing",
    figure: `${held}/${cases.length} faulty listings deleted 0 of ${_STALE.length} stale files ` +
      `(the failed ones failing their pass); ${recovered}/${cases.length} next passes recovered` +
      (options.timeout ? "" : " (timeout case: deno task faults only)"),
    problems,
  };
}

/**
 * Waits until the platform has had `calls` listing calls since the faulty pass started, or the
 * program has exited: one that ends early (killed, or failed before it listed) is then reported by
 * the row's checks, rather than waited for without end (a spin that hung the whole suite).
 */
function _untilListed(rig: FaultRig, program: RunningProgram, calls: number): Promise<void> {
  return pollUntil(
    `the platform had ${calls} listing calls or the program exited`,
    () => rig.platform.calls.BinaryDataByFilter >= calls || program.exited,
    { intervalMs: 2, limitMs: 60_000 },
  );
}

/**
 * Row 3: an empty listing, a narrowed filter, a deletion larger than `--max-delete`. Holds when
 * none of them deletes anything unless explicitly allowed (`--allow-delete-all`, a larger
 * `--max-delete`), the summary says why (`guard` or `error`), the limit is all-or-nothing (a
 * refused pass deletes none, and the next refused pass none either, though the one before it
 * downloaded the new set or a killed one placed part of it), and the allowed pass deletes exactly
 * what is stale. The module says the same in its DoCommand summary and its status.
 *
 * @module
 */
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { describeDataset } from "../support/platform/mod.ts";
import type { ProgramOutput } from "../_program.ts";
import type { FaultRig } from "./fault_rig.ts";
import { listTree } from "./mirror_tree.ts";
import { countOf, outputTail, summaryOf } from "./pass_output.ts";
import type { RowReport } from "./row_report.ts";
import { Sandbox } from "./sandbox.ts";
import { startModuleProcess } from "./module_process.ts";
import { recordPlaced } from "../sync/_harness.ts";

/** Options of {@linkcode deleteGuards}. */
export interface DeleteGuardsOptions {
  /** Files of each tag in the mirror (default 12). */
  files?: number;
}

/** Runs row 3. */
export async function deleteGuards(
  rig: FaultRig,
  options: DeleteGuardsOptions = {},
): Promise<RowReport> {
  const files = options.files ?? 12;
  const dataset = describeDataset([
    { name: "a", count: files, folder: "a", tags: ["a"] },
    { name: "b", count: files, folder: "b", tags: ["b"] },
  ]);
  rig.serve(dataset);
  const problems: string[] = [];
  let refusals = 0;
  let refusalsExpected = 0;
  let allowances = 0;
  let allowancesExpected = 0;
  const refused = async (what: string, output: ProgramOutput, home: string, held: number) => {
    refusalsExpected++;
    const reason = summaryOf(output).guard ?? summaryOf(output).error;
    const present = [...(await listTree(join(home, "data_mirror"))).values()]
      .filter((info) => info.isFile).length;
    const ok = countOf(output, "deleted") === 0 && typeof reason === "string" &&
      reason !== "" && present === held;
    if (ok) refusals++;
    else {
      problems.push(
        `${what}: expected no deletion and a reason (${present} of ${held} files left): ` +
          outputTail(output),
      );
    }
  };
  const allowed = async (what: string, output: ProgramOutput, home: string, left: number) => {
    allowancesExpected++;
    const present = [...(await listTree(join(home, "data_mirror"))).values()]
      .filter((info) => info.isFile).length;
    if (output.code === 0 && present === left) allowances++;
    else {
      problems.push(
        `${what}: expected ${left} files left, found ${present}: ${outputTail(output)}`,
      );
    }
  };
  const both = files * 2;

  // An empty listing (a mistyped tag, or a platform that lost its data).
  {
    await using sandbox = await Sandbox.create({ prefix: "data-mirror-guards-" });
    const home = sandbox.home;
    await rig.run(["sync", "--tags", "a,b"], { home });
    await refused(
      "a mistyped tag (empty listing)",
      await rig.run(["sync", "--tags", "typo", "--delete", "--json"], { home }),
      home,
      both,
    );
    rig.serve({ items: [], datasets: [] });
    await refused(
      "an empty platform",
      await rig.run(["sync", "--tags", "a,b", "--delete", "--json"], { home }),
      home,
      both,
    );
    await allowed(
      "--allow-delete-all on an empty platform",
      await rig.run([
        "sync",
        "--tags",
        "a,b",
        "--delete",
        "--allow-delete-all",
        "--max-delete",
        String(both),
        "--json",
      ], { home }),
      home,
      0,
    );
    rig.serve(dataset);
  }

  // A narrowed filter: `a,b` mirrored, then `a` alone asks to delete every `b` file.
  {
    await using sandbox = await Sandbox.create({ prefix: "data-mirror-guards-" });
    const home = sandbox.home;
    await rig.run(["sync", "--tags", "a,b"], { home });
    const narrowed = ["sync", "--tags", "a", "--delete", "--json"];
    const limit = String(Math.floor(files / 2));
    await refused(
      `a narrowed filter over --max-delete ${limit}`,
      await rig.run([...narrowed, "--max-delete", limit], { home }),
      home,
      both,
    );
    await refused(
      "the same, run again (all-or-nothing: not a few more each run)",
      await rig.run([...narrowed, "--max-delete", limit], { home }),
      home,
      both,
    );
    await allowed(
      `the narrowed filter with --max-delete ${files}`,
      await rig.run([...narrowed, "--max-delete", String(files)], { home }),
      home,
      files,
    );
  }

  // Stale files beyond the limit.
  {
    await using sandbox = await Sandbox.create({ prefix: "data-mirror-guards-" });
    const home = sandbox.home;
    await rig.run(["sync", "--tags", "a"], { home });
    const stale = Array.from({ length: files }, (_, i) => `stale/s-${i}.bin`);
    for (const path of stale) await sandbox.writeFile(join(home, "data_mirror", path), path);
    await recordPlaced(join(home, "data_mirror"), stale); // as a pass placed them
    const args = ["sync", "--tags", "a", "--delete", "--json"];
    await refused(
      `${files} stale files over --max-delete ${files - 1}`,
      await rig.run([...args, "--max-delete", String(files - 1)], { home }),
      home,
      both,
    );
    await allowed(
      `${files} stale files with --max-delete ${files}`,
      await rig.run([...args, "--max-delete", String(files)], { home }),
      home,
      files,
    );
  }
  // A replaced filter under the default share: `a` mirrored, then `b` alone. The held pass
  // downloads the `b` files; the next pass must not take its share of the mirror they grew.
  {
    await using sandbox = await Sandbox.create({ prefix: "data-mirror-guards-" });
    const home = sandbox.home;
    await rig.run(["sync", "--tags", "a"], { home });
    const replaced = ["sync", "--tags", "b", "--delete", "--json"];
    await refused("a replaced filter", await rig.run(replaced, { home }), home, both);
    await refused(
      "the replaced filter again, its files now in the mirror",
      await rig.run(replaced, { home }),
      home,
      both,
    );
    await allowed(
      `the replaced filter with --max-delete ${files}`,
      await rig.run([...replaced, "--max-delete", String(files)], { home }),
      home,
      files,
    );
  }

  // A first sync with delete into a folder of the user's own files, killed once it has placed more
  // files than the folder held and before its listing ended, then a whole pass: the user's files
  // are not the mirror's (it never placed them), so neither deletes any of them.
  {
    await using sandbox = await Sandbox.create({ prefix: "data-mirror-guards-" });
    const home = sandbox.home;
    for (let i = 0; i < files; i++) {
      await sandbox.writeFile(join(home, "data_mirror", `mine/p-${i}.jpg`), `own photo ${i}`);
    }
    const many = describeDataset([{ name: "c", count: files * 4, folder: "c", tags: ["c"] }]);
    rig.serve(many, { latencyMs: 15, maxPageItems: 2 });
    const placed = async () =>
      [...(await listTree(join(home, "data_mirror", "c")).catch(() => new Map())).values()]
        .filter((info) => info.isFile).length;
    const args = ["sync", "--tags", "c", "--delete", "--json"];
    {
      await using first = rig.spawn(args, { home });
      while (!first.exited && await placed() <= files) await delay(5);
      first.kill("SIGKILL");
      await first.done;
    }
    const killedAt = await placed();
    rig.serve(many);
    await allowed(
      `a first sync into ${files} own files after a kill (${killedAt} placed): none of them deleted`,
      await rig.run(args, { home }),
      home,
      files + many.items.length,
    );
    rig.serve(dataset);
  }

  // The module: the same refusal shows in the DoCommand summary and in the status.
  {
    await using sandbox = await Sandbox.create({ prefix: "data-mirror-guards-" });
    const home = sandbox.home;
    await rig.run(["sync", "--tags", "a,b"], { home });
    await using module = await startModuleProcess(rig, home);
    await module.addMirror("guarded", {
      tags: ["a"],
      delete: true,
      max_delete: 1,
      sync_frequency: 3600,
    }).catch((error) => problems.push(`module: AddResource failed: ${JSON.stringify(error)}`));
    const command = async (name: string) => {
      try {
        return await module.command("guarded", name, 60_000);
      } catch (error) {
        return { error: JSON.stringify(error) };
      }
    };
    const summary = await command("sync");
    const status = await command("status");
    const present = [...(await listTree(join(home, "data_mirror"))).values()]
      .filter((info) => info.isFile).length;
    refusalsExpected++;
    const guard = status.guard ??
      (status.lastSummary as Record<string, unknown> | undefined)?.guard;
    if (summary.deleted === 0 && present === both && typeof guard === "string" && guard !== "") {
      refusals++;
    } else {
      problems.push(
        `module with max_delete 1: summary ${JSON.stringify(summary)}, status ` +
          `${JSON.stringify(status).slice(0, 600)}, ${present} of ${both} files left`,
      );
    }
    await module.stop();
  }
  return {
    row: 3,
    fault: "empty listing, narrowed filter, delete larger than max_delete",
    figure: `${refusals}/${refusalsExpected} guarded passes deleted 0 files and said why; ` +
      `${allowances}/${allowancesExpected} explicitly allowed passes deleted exactly the stale files`,
    problems,
  };
}

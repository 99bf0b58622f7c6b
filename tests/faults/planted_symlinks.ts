/**
 * Row 6: symlinks planted where the program writes: its lock file and partial downloads, a folder
 * and a file inside the mirror, stale links with `--delete`, the mirror root itself (to the Viam
 * home, to viam-server's `packages`, to another folder of the home holding the user's files, to a
 * folder outside), and an intermediate folder of `mirror_path`. Holds when nothing outside the
 * mirror is written, truncated, created or deleted, and a pass that refuses something says so (its
 * output names the symlink). A symlink as the root or on the way to it must be refused, wherever
 * it leads: the pass would otherwise write into and delete from the folder it leads to.
 *
 * @module
 */
import { join } from "node:path";
import { describeDataset, type ItemRecord } from "../support/platform/mod.ts";
import type { ProgramOutput } from "../_program.ts";
import type { FaultRig } from "./fault_rig.ts";
import { STATE_DIR } from "./mirror_tree.ts";
import { outputTail } from "./pass_output.ts";
import type { RowReport } from "./row_report.ts";
import { Sandbox } from "./sandbox.ts";
import { sha256Hex } from "../../src/sha256_hex.ts";

const _TAG = "link";
/** What a pass that refused a symlink must say. */
const _NAMES_SYMLINK = /symlink|symbolic link|symbolic|real path|resolves/i;

interface _Case {
  name: string;
  /** Plants the links; returns what the program is run with. */
  plant(sandbox: Sandbox, items: readonly ItemRecord[]): Promise<string[]>;
  /** Whether the output must name the symlink (the pass refused something because of it). */
  mustSay: boolean;
  /** A path whose mention in the output also says what was refused (e.g. `"cams"`). */
  mentions?: string;
  /**
   * True for a symlink planted as the mirror root or on the way to it: the pass must refuse it.
   * Absent: the mirror is `viam/data_mirror` itself, the program's to write.
   */
  atRoot?: boolean;
}

/** Runs row 6. */
export async function plantedSymlinks(rig: FaultRig): Promise<RowReport> {
  rig.serve(describeDataset([
    { name: "cam", count: 4, folder: "cams", tags: [_TAG] },
    {
      name: "big",
      count: 1,
      folder: "models",
      sizeBytes: 1_200_000,
      mimeType: "application/octet-stream",
      tags: [_TAG],
    },
  ]));
  const items = rig.platform.items();
  const sync = ["sync", "--tags", _TAG, "--json"];
  const state = (sandbox: Sandbox, ...path: string[]) => join(sandbox.mirror(), STATE_DIR, ...path);
  const link = async (target: string, path: string) => {
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.symlink(target, path);
  };
  const partialOf = async (item: ItemRecord) => `${await sha256Hex(item.binaryDataId)}.part`;
  const cases: _Case[] = [
    {
      name: ".data-mirror/lock -> an outside file",
      plant: async (sandbox) => {
        await link(join(sandbox.dir, "outside/lock-victim.txt"), state(sandbox, "lock"));
        return sync;
      },
      mustSay: true,
    },
    {
      name: ".data-mirror/partial/<hash>.part -> an outside file (inline item)",
      plant: async (sandbox, items) => {
        const inline = items.find((item) => item.sizeBytes < 100_000)!;
        await link(
          join(sandbox.dir, "outside/part-victim.bin"),
          state(sandbox, "partial", await partialOf(inline)),
        );
        return sync;
      },
      mustSay: true,
    },
    {
      name: ".data-mirror/partial/<hash>.part -> an outside file (uri item)",
      plant: async (sandbox, items) => {
        const large = items.find((item) => item.sizeBytes >= 1_000_000)!;
        await link(
          join(sandbox.dir, "outside/victim.txt"),
          state(sandbox, "partial", await partialOf(large)),
        );
        return sync;
      },
      mustSay: true,
    },
    {
      name: "a folder of the mirror -> an outside folder",
      plant: async (sandbox) => {
        await link(join(sandbox.dir, "outside/dir"), join(sandbox.mirror(), "cams"));
        return sync;
      },
      mustSay: true,
      mentions: '"cams"',
    },
    {
      name: "an item's file -> an outside file",
      plant: async (sandbox, items) => {
        const large = items.find((item) => item.sizeBytes >= 1_000_000)!;
        await link(join(sandbox.dir, "outside/victim.txt"), join(sandbox.mirror(), large.fileName));
        return sync;
      },
      // Taking it for the item's file is allowed (a file at an item's path is kept), if nothing
      // is written through it.
      mustSay: false,
    },
    {
      name: "stale links to outside with --delete",
      plant: async (sandbox) => {
        await link(join(sandbox.dir, "outside/dir"), join(sandbox.mirror(), "old"));
        await link(join(sandbox.dir, "outside/victim.txt"), join(sandbox.mirror(), "gone.bin"));
        return [...sync, "--delete"];
      },
      mustSay: false,
    },
    {
      name: "data_mirror -> . (the Viam home) with --delete",
      plant: async (sandbox) => {
        await Deno.symlink(".", sandbox.mirror());
        return [...sync, "--delete"];
      },
      mustSay: true,
      atRoot: true,
    },
    {
      name: "data_mirror -> a folder of the Viam home holding the user's files, with --delete",
      plant: async (sandbox) => {
        await Deno.mkdir(join(sandbox.home, "my_notes/sub"), { recursive: true });
        await Deno.writeTextFile(join(sandbox.home, "my_notes/todo.txt"), "mine");
        await Deno.writeTextFile(join(sandbox.home, "my_notes/sub/plan.md"), "mine");
        await Deno.symlink("my_notes", sandbox.mirror());
        return [...sync, "--delete"];
      },
      mustSay: true,
      atRoot: true,
    },
    {
      name: "data_mirror -> packages with --delete",
      plant: async (sandbox) => {
        await Deno.symlink("packages", sandbox.mirror());
        return [...sync, "--delete"];
      },
      mustSay: true,
      atRoot: true,
    },
    {
      name: "data_mirror -> an outside folder",
      plant: async (sandbox) => {
        await Deno.symlink(join(sandbox.dir, "outside"), sandbox.mirror());
        return sync;
      },
      mustSay: true,
      atRoot: true,
    },
    {
      name: "data_mirror -> another disk's empty folder",
      plant: async (sandbox) => {
        await Deno.mkdir(join(sandbox.dir, "disk/mirror"));
        await Deno.symlink(join(sandbox.dir, "disk/mirror"), sandbox.mirror());
        return sync;
      },
      mustSay: true,
      atRoot: true,
    },
    {
      name: "mirror_path ext/newdir/mirror with ext -> an outside folder",
      plant: async (sandbox) => {
        await Deno.symlink(join(sandbox.dir, "outside"), join(sandbox.home, "ext"));
        return [...sync, "--mirror-path", "ext/newdir/mirror"];
      },
      mustSay: true,
      atRoot: true,
    },
  ];

  const problems: string[] = [];
  let held = 0;
  const outcomes: string[] = [];
  for (const c of cases) {
    await using sandbox = await Sandbox.create({ prefix: "data-mirror-links-" });
    if (!c.atRoot) sandbox.own("viam/data_mirror");
    const args = await c.plant(sandbox, items);
    const before = await sandbox.snapshot();
    const output = await rig.run(args, { home: sandbox.home });
    const changes = sandbox.changesOutsideMirror(before, await sandbox.snapshot());
    const found = c.atRoot ? _checkRoot(output, changes) : _checkInMirror(c, output, changes);
    problems.push(...found.problems.map((problem) => `${c.name}: ${problem}`));
    if (found.problems.length === 0) held++;
    if (found.outcome) outcomes.push(`${c.name}: ${found.outcome}`);
  }
  return {
    row: 6,
    fault: "symlinks planted in the mirror, its state folder, as root and on the way",
    figure: `${held}/${cases.length} planted symlinks held (no write, truncation, creation or ` +
      `deletion outside the mirror; each refusal said)` +
      (outcomes.length > 0 ? ` (${outcomes.join("; ")})` : ""),
    problems,
  };
}

interface _Found {
  problems: string[];
  outcome?: string;
}

function _checkInMirror(c: _Case, output: ProgramOutput, changes: string[]): _Found {
  const problems = changes.map((change) => `outside the mirror: ${change}`);
  const text = output.stdout + output.stderr;
  const said = _NAMES_SYMLINK.test(text) || (c.mentions !== undefined && text.includes(c.mentions));
  if (c.mustSay && !said) {
    problems.push(`the pass did not say what it refused: ${outputTail(output)}`);
  }
  return { problems };
}

function _checkRoot(output: ProgramOutput, changes: string[]): _Found {
  const problems = changes.map((change) =>
    `${output.code === 0 ? "accepted" : "refused"}, yet changed outside: ${change}`
  );
  if (output.code === 0) problems.push(`accepted (exit 0): ${outputTail(output)}`);
  else if (!_NAMES_SYMLINK.test(output.stdout + output.stderr)) {
    problems.push(`the refusal does not say why: ${outputTail(output)}`);
  }
  return { problems, outcome: output.code === 0 ? "accepted" : "refused" };
}

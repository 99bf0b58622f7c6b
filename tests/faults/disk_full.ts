/**
 * Row 7: a small real filesystem (a 20 MiB tmpfs mounted as the Viam home) fills up mid-pass at the
 * default concurrency: 10 files of 3 MiB, reserve 5%. Holds when the reserve holds (the minimum
 * free space polled never falls below it), no file under a final name has a wrong size, nothing
 * is deleted to make room, no download fails for lack of space (they are held back, and the pass
 * says so), deletes of items the platform dropped still run on a 100%-full disk, and the mirror
 * completes once space returns.
 *
 * Needs root (`mount -t tmpfs`); where mounting is refused the row reports that as its problem
 * instead of pretending.
 *
 * @module
 */
import { statfs } from "node:fs/promises";
import { join } from "node:path";
import { describeDataset } from "../support/platform/mod.ts";
import type { FaultRig } from "./fault_rig.ts";
import { listTree, treeDifferences } from "./mirror_tree.ts";
import { countOf, outputTail, summaryOf } from "./pass_output.ts";
import { count, type RowReport } from "./row_report.ts";
import { Sandbox, VIAM_SERVER_FILES } from "./sandbox.ts";
import { SizePoller } from "./size_poller.ts";

/** Options of {@linkcode diskFull}. */
export interface DiskFullOptions {
  /** Size of the tmpfs in MiB (default 20). */
  diskMiB?: number;
  /** Files of {@linkcode DiskFullOptions.fileMiB} (default 10). */
  files?: number;
  /** Size of each file in MiB (default 3). */
  fileMiB?: number;
  /** The reserve, in percent (default 5). */
  reservePercent?: number;
}

const _TAG = "disk";
const _MINE = "mine/notes.txt";
const _MiB = 1024 * 1024;

/** Runs row 7. */
export async function diskFull(rig: FaultRig, options: DiskFullOptions = {}): Promise<RowReport> {
  const diskMiB = options.diskMiB ?? 20;
  const files = options.files ?? 10;
  const fileBytes = (options.fileMiB ?? 3) * _MiB;
  const reservePercent = options.reservePercent ?? 5;
  const fault = "disk full / reserve reached mid-pass, default concurrency";
  const problems: string[] = [];
  await using sandbox = await Sandbox.create({ prefix: "data-mirror-disk-" });
  const mounted = await _mount(sandbox.home, diskMiB);
  if (mounted !== true) {
    return { row: 7, fault, figure: "not run: tmpfs could not be mounted", problems: [mounted] };
  }
  try {
    for (const [path, text] of Object.entries(VIAM_SERVER_FILES)) {
      await sandbox.writeFile(join(sandbox.home, path), text);
    }
    const root = sandbox.mirror();
    const mine = new TextEncoder().encode("the operator's own notes\n".repeat(2600));
    await sandbox.writeFile(join(root, _MINE), mine);
    sandbox.own("viam/data_mirror");
    rig.serve(describeDataset([{
      name: "d",
      count: files,
      folder: "big",
      sizeBytes: (i) => fileBytes - i,
      mimeType: "application/octet-stream",
      tags: [_TAG],
    }]));
    const items = rig.platform.items();
    const sizes = new Map(items.map((item) => [item.fileName, item.sizeBytes]));
    sizes.set(_MINE, mine.length);
    const fsBytes = diskMiB * _MiB;
    const reserveBytes = Math.ceil(fsBytes * reservePercent / 100);
    const args = ["sync", "--tags", _TAG, "--json", "--free-space-reserve", String(reservePercent)];
    const protect = ["--protected-dir", "mine"];

    // 1. More than fits: the reserve must hold, and the files that do not fit are held back.
    const space = new _FreeSpacePoller(root);
    const sizesSeen = new SizePoller(root, sizes);
    const first = await rig.run(args, { home: sandbox.home });
    const minFree = await space.stop();
    const seen = await sizesSeen.stop();
    const tree = await listTree(root);
    const present = items.filter((item) => tree.has(item.fileName));
    if (minFree < reserveBytes) {
      problems.push(
        `free space fell to ${count(minFree)} bytes, below the reserve ${reserveBytes}`,
      );
    }
    if (seen.wrongSize > 0) problems.push(`wrong sizes under final names: ${seen.examples}`);
    if (countOf(first, "failed") !== 0) {
      problems.push(`downloads failed instead of being held back: ${outputTail(first)}`);
    }
    const guard = summaryOf(first).guard;
    if (present.length < items.length && (typeof guard !== "string" || guard === "")) {
      problems.push(`files were held back but the summary has no guard: ${outputTail(first)}`);
    }
    if (present.length === 0) problems.push(`nothing was downloaded: ${outputTail(first)}`);
    problems.push(
      ...(await treeDifferences(root, rig.platform, present, new Map([[_MINE, mine]])))
        .map((difference) => `after the full pass: ${difference}`),
    );

    // 2. The platform drops items, one downloaded at least; the disk is 100% full: deletes must
    // still run. What it keeps (at most half) fits once space returns.
    const kept = items.filter((item) => item !== present[0]).slice(0, Math.floor(files / 2));
    const dropped = items.filter((item) => !kept.includes(item) && tree.has(item.fileName));
    rig.serve({ items: kept, datasets: [] });
    const filler = join(sandbox.home, "filler.bin");
    await _fill(filler);
    const freeWhenFull = await _freeBytes(root);
    const before = await sandbox.snapshot();
    const full = await rig.run([...args, "--delete", ...protect], { home: sandbox.home });
    const afterFull = await listTree(root);
    const stillThere = dropped.filter((item) => afterFull.has(item.fileName));
    if (stillThere.length > 0 || countOf(full, "deleted") !== dropped.length) {
      problems.push(
        `on a full disk (${freeWhenFull} bytes free), ${stillThere.length} of ${dropped.length} ` +
          `dropped files were not deleted: ${outputTail(full)}`,
      );
    }
    for (const change of sandbox.changesOutsideMirror(before, await sandbox.snapshot())) {
      problems.push(`on the full disk, outside the mirror: ${change}`);
    }
    if (!afterFull.has(_MINE)) problems.push(`the operator's protected file was deleted`);

    // 3. Space returns: the mirror completes.
    await Deno.remove(filler);
    const resumed = await rig.run([...args, "--delete", ...protect], { home: sandbox.home });
    if (resumed.code !== 0) problems.push(`once space returned: ${outputTail(resumed)}`);
    problems.push(
      ...(await treeDifferences(root, rig.platform, rig.platform.items(), new Map([[_MINE, mine]])))
        .map((difference) => `once space returned: ${difference}`),
    );
    return {
      row: 7,
      fault,
      figure: `min free ${count(minFree)} B vs reserve ${count(reserveBytes)} B on a ` +
        `${diskMiB} MiB tmpfs (${present.length}/${files} × ${options.fileMiB ?? 3} MiB fit, ` +
        `${count(seen.wrongSize)} wrong-size files in ${count(seen.polls)} polls); ` +
        `full disk: ${
          dropped.length - stillThere.length
        }/${dropped.length} dropped files deleted; ` +
        `resumed: ${countOf(resumed, "downloaded")} downloaded`,
      problems,
    };
  } finally {
    await _unmount(sandbox.home);
  }
}

/** Mounts a tmpfs of `mib` MiB at `dir`; true, or why not. */
async function _mount(dir: string, mib: number): Promise<true | string> {
  try {
    const output = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", `size=${mib}m`, "tmpfs", dir],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (output.success) return true;
    return `mount -t tmpfs failed (needs root): ${new TextDecoder().decode(output.stderr).trim()}`;
  } catch (error) {
    return `mount -t tmpfs could not run: ${(error as Error).message}`;
  }
}

async function _unmount(dir: string): Promise<void> {
  await new Deno.Command("umount", { args: [dir], stdout: "null", stderr: "null" }).output();
}

async function _freeBytes(path: string): Promise<number> {
  const stats = await statfs(path);
  return stats.bavail * stats.bsize;
}

/** Writes `path` until the filesystem is full. */
async function _fill(path: string): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  for (const chunk of [_MiB, 64 * 1024, 4096, 1]) {
    const bytes = new Uint8Array(chunk).fill(0x5a);
    try {
      for (;;) await file.write(bytes);
    } catch (error) {
      if (!(error instanceof Error) || !/space|ENOSPC/i.test(error.message)) throw error;
    }
  }
}

/** Polls statfs every 2 ms and keeps the least free space seen. */
class _FreeSpacePoller {
  #min = Infinity;
  #stopped = false;
  #running: Promise<void>;

  constructor(path: string) {
    this.#running = (async () => {
      while (!this.#stopped) {
        this.#min = Math.min(this.#min, await _freeBytes(path));
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
  }

  async stop(): Promise<number> {
    this.#stopped = true;
    await this.#running;
    return this.#min;
  }
}

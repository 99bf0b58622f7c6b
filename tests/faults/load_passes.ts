/**
 * Row 12: load. N items, then P passes of the module's loop (DoCommand `sync`, so the figure does
 * not depend on the minimum `sync_frequency`), each replacing a twentieth of the items. Holds when
 * every pass lists N, fetches and deletes the twentieth and fails none, and
 * the process's open file descriptors (`/proc/<pid>/fd`) and resident memory (`VmRSS`) stay flat
 * across the passes after the first: the last third of the passes against the first third, RSS at
 * most 15% or 24 MiB (whichever is larger) more at the median (memory breathes with the garbage
 * collector; a leak shows as a rise that stays); descriptors other than sockets at most 2 more at
 * their highest, each count the lowest of three looks (a file the pass's last steps still hold at
 * one look is closed at the next). Sockets are judged apart: the HTTP client keeps idle
 * connections, and its pool grows in one step when a pass happens to run more requests at once than
 * any before (seen: 55 → 62 in one pass, then flat). A leak rises pass after pass instead: they
 * fail when they rise in more than half of the steps between passes, or by more than
 * {@linkcode _POOL_STEP}.
 *
 * @module
 */
import { describeDataset } from "../support/platform/mod.ts";
import type { FaultRig } from "./fault_rig.ts";
import { startModuleProcess } from "./module_process.ts";
import { count, type RowReport } from "./row_report.ts";
import { Sandbox } from "./sandbox.ts";

/** Options of {@linkcode loadPasses}. */
export interface LoadPassesOptions {
  /** Items (default 2,000). */
  items?: number;
  /** Passes measured, after the first (default 5). */
  passes?: number;
  /**
   * Passes after the first that are run but not measured (default 0): the process's first passes
   * grow its allocator arenas and compiled code once, which is not a leak.
   */
  warmUp?: number;
}

const _TAG = "load";
/** The most connections one pass opens at once: 16 listing pages and 8 transfers in flight. */
const _POOL_STEP = 24;
const _MiB = 1024 * 1024;

/** Runs row 12. */
export async function loadPasses(
  rig: FaultRig,
  options: LoadPassesOptions = {},
): Promise<RowReport> {
  const items = options.items ?? 2000;
  const passes = options.passes ?? 5;
  const warmUp = options.warmUp ?? 0;
  // Each pass, a twentieth of the items replaced by new ones (downloaded; the old ones deleted): a
  // pass that changes nothing leaves out what only a changing pass does (the manifest rewritten
  // and its folder flushed; with a descriptor leaked each time before 2026-12-08).
  const churn = Math.floor(items / 20);
  const serve = (pass: number) =>
    rig.serve(describeDataset([{
      name: "n",
      count: items - churn,
      folder: (i) => `load/${i % 100}`,
      sizeBytes: (i) => 100 + (i % 50),
      tags: [_TAG],
    }, {
      name: `new${pass}`,
      count: churn,
      folder: (i) => `load/new/${i % 10}`,
      tags: [_TAG],
    }]));
  const problems: string[] = [];
  await using sandbox = await Sandbox.create({ prefix: "data-mirror-load-" });
  await using module = await startModuleProcess(rig, sandbox.home);
  await module.addMirror("load", { tags: [_TAG], sync_frequency: 3600, delete: true });
  const fds: _Fds[] = [];
  const rss: number[] = [];
  for (let pass = 0; pass <= passes + warmUp; pass++) {
    serve(pass);
    const summary = await module.command("load", "sync", 1_800_000);
    rig.checkNoSecret("a DoCommand sync result", JSON.stringify(summary));
    const churned = pass === 0 || (summary.downloaded === churn && summary.deleted === churn);
    if (summary.listed !== items || summary.failed !== 0 || !churned) {
      problems.push(`pass ${pass}: ${JSON.stringify(summary)}`);
    }
    // The fresh download and the warm-up passes: not part of the steady state.
    if (pass <= warmUp) continue;
    fds.push(await _settledFds(module.pid));
    rss.push(await _rssBytes(module.pid));
  }
  await module.stop();
  const third = Math.max(1, Math.floor(fds.length / 3));
  const others = fds.map((f) => f.others);
  const sockets = fds.map((f) => f.sockets);
  const otherGrowth = Math.max(...others.slice(-third)) - Math.max(...others.slice(0, third));
  const socketRises = sockets.filter((n, i) => i > 0 && n > sockets[i - 1]).length;
  const socketGrowth = sockets.at(-1)! - sockets[0];
  const rssBefore = _median(rss.slice(0, third));
  const rssGrowth = _median(rss.slice(-third)) - rssBefore;
  if (otherGrowth > 2) {
    problems.push(`open fds other than sockets grew by ${otherGrowth}: ${others.join(", ")}`);
  }
  if ((socketRises > (sockets.length - 1) / 2 && socketGrowth > 0) || socketGrowth > _POOL_STEP) {
    problems.push(`open sockets grew pass after pass: ${sockets.join(", ")}`);
  }
  if (rssGrowth > Math.max(0.15 * rssBefore, 24 * _MiB)) {
    problems.push(`RSS grew by ${(rssGrowth / _MiB).toFixed(1)} MiB: ${_mib(rss)}`);
  }
  return {
    row: 12,
    fault: `load: ${count(items)} items, then ${passes} passes`,
    figure: `fds ${others[0]}→${others.at(-1)} (max ${Math.max(...others)}) and sockets ` +
      `${sockets[0]}→${sockets.at(-1)} (max ${Math.max(...sockets)}), RSS ` +
      `${(rss[0] / _MiB).toFixed(0)}→${(rss.at(-1)! / _MiB).toFixed(0)} MiB ` +
      `(max ${(Math.max(...rss) / _MiB).toFixed(0)}) over ${passes} passes of ${
        count(items)
      } items`,
    problems,
  };
}

/** Open descriptors of a process: sockets, and all others. */
interface _Fds {
  sockets: number;
  others: number;
}

/** The lowest counts of three looks at `pid`'s descriptors, 50 ms apart. */
async function _settledFds(pid: number): Promise<_Fds> {
  let lowest = await _fdsOf(pid);
  for (let look = 1; look < 3; look++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = await _fdsOf(pid);
    lowest = {
      sockets: Math.min(lowest.sockets, now.sockets),
      others: Math.min(lowest.others, now.others),
    };
  }
  return lowest;
}

async function _fdsOf(pid: number): Promise<_Fds> {
  const fds: _Fds = { sockets: 0, others: 0 };
  for await (const entry of Deno.readDir(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = await Deno.readLink(`/proc/${pid}/fd/${entry.name}`);
    } catch {
      continue; // closed since the listing
    }
    if (target.startsWith("socket:")) fds.sockets++;
    else fds.others++;
  }
  return fds;
}

async function _rssBytes(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  return kib * 1024;
}

function _median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function _mib(values: number[]): string {
  return values.map((value) => (value / _MiB).toFixed(0)).join(", ");
}

/**
 * The benchmark's results as Markdown tables for stdout (and for the README and issue notes): times
 * and ratios, then memory, CPU, calls and what the servers cost.
 *
 * @module
 */

import {
  type BenchResults,
  type CaseRecord,
  medianRun,
  type PushCaseRecord,
  type ToolName,
  type ToolRecord,
} from "./bench_result.ts";

/** The tables and the notes under them, as lines: the sync side, then the push side. */
export function reportTable(results: BenchResults): string[] {
  const sync = results.cases.length > 0 ? _syncTables(results) : [];
  const push = results.pushCases?.length ? pushTables(results) : [];
  return [...sync, ...(sync.length > 0 && push.length > 0 ? [""] : []), ...push];
}

function _syncTables(results: BenchResults): string[] {
  const { options, machine } = results;
  const lines = [
    `data-mirror vs rclone ${results.startedAt}: ${options.latencyMs} ms per request, median of ` +
    `${options.runs}${options.quick ? " (--quick)" : ""}; ${machine.cores} cores, load ` +
    `${machine.loadAverage.map((l) => l.toFixed(1)).join(" ")} at the start; loopback ` +
    `${(machine.loopbackBytesPerSecond / 1e9).toFixed(2)} GB/s; concurrency ` +
    `${options.concurrency} for the limits; ${results.rclone}`,
    ...Object.entries(results.fileSystems ?? {}).map(([set, fs]) => `copies of "${set}": ${fs}`),
    "",
    "| case | data-mirror s | rclone 16/16 s | rclone defaults s | limit s (dm's calls / ideal) | " +
    "dm ÷ rclone 16/16 | dm ÷ limit (calls / ideal) |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const c of results.cases) {
    const dm = _tool(c, "data-mirror");
    const rc16 = _tool(c, "rclone 16/16");
    lines.push(
      `| ${c.name} | ${_time(dm)} | ${_time(rc16)} | ${_time(_tool(c, "rclone defaults"))} | ` +
        `${_seconds(c.callFloorSeconds)} / ${_seconds(c.idealFloorSeconds)} | ` +
        `${_ratio(dm?.wallSeconds, rc16?.wallSeconds)} | ` +
        `${_ratio(dm?.wallSeconds, c.callFloorSeconds)} / ` +
        `${_ratio(dm?.wallSeconds, c.idealFloorSeconds)} |`,
    );
  }
  lines.push(
    "",
    "| case | fetched files / MB | peak RSS MiB (dm / 16/16 / defaults) | CPU s (dm / 16/16 / defaults) | " +
      "dm CPU ms per fetched file | dm calls | rclone 16/16 requests | server CPU s (platform / dir-index) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const c of results.cases) {
    const dm = _tool(c, "data-mirror");
    const rc16 = _tool(c, "rclone 16/16");
    const rcDefaults = _tool(c, "rclone defaults");
    const dmRun = dm === undefined ? undefined : medianRun(dm);
    const rcRun = rc16 === undefined ? undefined : medianRun(rc16);
    const perFile = dm === undefined || c.filesToFetch === 0
      ? "—"
      : (dm.cpuSeconds * 1000 / c.filesToFetch).toFixed(2);
    lines.push(
      `| ${c.name} | ${c.filesToFetch} / ${(_fetchedBytes(dmRun) / 1e6).toFixed(0)} | ` +
        `${[dm, rc16, rcDefaults].map((t) => _fixed(t?.peakRssMiB, 0)).join(" / ")} | ` +
        `${[dm, rc16, rcDefaults].map((t) => _fixed(t?.cpuSeconds, 1)).join(" / ")} | ` +
        `${perFile} | ${_calls(dmRun)} | ${_calls(rcRun)} | ` +
        `${_fixed(dm?.serverCpuSeconds, 2)} / ${_fixed(rc16?.serverCpuSeconds, 2)} |`,
    );
  }
  const loads = results.cases.flatMap((c) => c.tools.flatMap((t) => t.runs))
    .map((r) => r.load1m).filter((l): l is number => l !== undefined);
  if (loads.length > 0) {
    lines.push(
      "",
      `Load average (1 min) as the runs ended: ${Math.min(...loads).toFixed(1)} to ` +
        `${Math.max(...loads).toFixed(1)} on ${results.machine.cores} cores.`,
    );
  }
  lines.push("", ...targetTable(results), "", ...serverCostNotes(results));
  const wrong = results.cases.flatMap((c) =>
    c.tools.filter((t) => !t.ok).map((t) => {
      const bad = t.runs.find((r) => !r.ok);
      return `- ✗ ${c.name}, ${t.tool}: ${bad?.error ?? "no run"}`;
    })
  );
  if (wrong.length > 0) lines.push("", "Runs that failed or left a wrong copy (✗):", ...wrong);
  return lines;
}

/**
 * The push side: data-mirror's `push` against the sequential uploader per case (wall time, files/s,
 * MB/s, CPU, peak RSS), then issue 11's targets.
 */
export function pushTables(results: BenchResults): string[] {
  const { options, machine } = results;
  const cases = results.pushCases ?? [];
  const lines = [
    `data-mirror push vs a sequential uploader (64 KiB chunks, one stream at a time) ` +
    `${results.startedAt}: ${options.latencyMs} ms per call, median of ${options.runs}` +
    `${options.quick ? " (--quick)" : ""}; ${machine.cores} cores, load ` +
    `${machine.loadAverage.map((l) => l.toFixed(1)).join(" ")} at the start`,
    "",
    "| case | data-mirror s | sequential s | dm ÷ sequential | files/s (dm / seq) | " +
    "MB/s (dm / seq) | CPU s (dm / seq) | peak RSS MB (dm / seq) | platform CPU s (dm / seq) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const c of cases) {
    const dm = _pushTool(c, "data-mirror");
    const seq = _pushTool(c, "sequential 64 KiB");
    const both = [dm, seq];
    const rate = (t: ToolRecord | undefined, amount: number) => {
      if (t === undefined || !(t.wallSeconds > 0)) return "—";
      const value = amount / t.wallSeconds;
      return value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2);
    };
    lines.push(
      `| ${c.name} | ${_time(dm)} | ${_time(seq)} | ${
        _ratio(dm?.wallSeconds, seq?.wallSeconds)
      } | ` +
        `${both.map((t) => rate(t, c.files)).join(" / ")} | ` +
        `${both.map((t) => rate(t, c.bytes / 1e6)).join(" / ")} | ` +
        `${both.map((t) => _fixed(t?.cpuSeconds, 2)).join(" / ")} | ` +
        `${both.map((t) => _fixed(_mb(t?.peakRssMiB), 0)).join(" / ")} | ` +
        `${both.map((t) => _fixed(t?.serverCpuSeconds, 2)).join(" / ")} |`,
    );
  }
  const loads = cases.flatMap((c) => c.tools.flatMap((t) => t.runs))
    .map((r) => r.load1m).filter((l): l is number => l !== undefined);
  if (loads.length > 0) {
    lines.push(
      "",
      `Load average (1 min) as the push runs ended: ${Math.min(...loads).toFixed(1)} to ` +
        `${Math.max(...loads).toFixed(1)} on ${machine.cores} cores.`,
    );
  }
  lines.push(
    "",
    "| case | dm ÷ sequential (target) | peak RSS MB (target) |",
    "| --- | --- | --- |",
  );
  for (const c of cases) {
    const target = _PUSH_TARGETS.find((t) => t.match.test(c.name));
    const dm = _pushTool(c, "data-mirror");
    const seq = _pushTool(c, "sequential 64 KiB");
    if (target === undefined || dm === undefined) continue;
    const ratio = seq === undefined ? NaN : dm.wallSeconds / seq.wallSeconds;
    lines.push(
      `| ${c.name} | ${_against(ratio, target.ratio, 2)} | ` +
        `${_against(_mb(dm.peakRssMiB)!, _PUSH_RSS_MB, 0)} |`,
    );
  }
  const wrong = cases.flatMap((c) =>
    c.tools.filter((t) => !t.ok).map((t) => {
      const bad = t.runs.find((r) => !r.ok);
      return `- ✗ ${c.name}, ${t.tool}: ${bad?.error ?? "no run"}`;
    })
  );
  if (wrong.length > 0) lines.push("", "Push runs that failed or uploaded wrong (✗):", ...wrong);
  return lines;
}

/** Issue 11's targets: the small files in a quarter of the sequential time, the large one no slower. */
const _PUSH_TARGETS: readonly { match: RegExp; ratio: number }[] = [
  { match: / × \d+ KiB$/, ratio: 0.25 },
  { match: / × \d+ MiB$/, ratio: 1 },
];
/** Issue 11's peak RSS target for data-mirror's push, MB, in both cases. */
const _PUSH_RSS_MB = 100;

function _pushTool(c: PushCaseRecord, name: ToolName): ToolRecord | undefined {
  return c.tools.find((t) => t.tool === name);
}

function _mb(mib: number | undefined): number | undefined {
  return mib === undefined ? undefined : mib * 1.048576;
}

/**
 * Issue 8's targets for data-mirror, per case: ratio to rclone 16/16, peak RSS, CPU and system
 * calls per file.
 */
const _TARGETS: readonly {
  match: RegExp;
  ratio?: number;
  rssMB?: number;
  cpuMsPerFile?: number;
  systemCallsPerFile?: number;
}[] = [
  { match: /^fresh copy/, ratio: 0.25, rssMB: 100, cpuMsPerFile: 0.3, systemCallsPerFile: 15 },
  { match: /^no-op pass/, ratio: 0.7 },
  { match: /^churn/, ratio: 0.7 },
  {
    match: / × 1 KiB, fresh/,
    ratio: 0.5,
    rssMB: 150,
    cpuMsPerFile: 0.3,
    systemCallsPerFile: 15,
  },
  { match: / × 1 KiB, no-op/, ratio: 0.7, rssMB: 150 },
  { match: /by uri/, rssMB: 100 },
];

/** data-mirror against issue 8's targets (✓ met, ✗ not yet). */
export function targetTable(results: BenchResults): string[] {
  const lines = [
    "| case | dm ÷ rclone 16/16 (target) | peak RSS MB (target) | CPU ms per fetched file (target) " +
    "| system calls per fetched file (target) |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const c of results.cases) {
    const target = _TARGETS.find((t) => t.match.test(c.name));
    const dm = _tool(c, "data-mirror");
    if (target === undefined || dm === undefined) continue;
    const rc16 = _tool(c, "rclone 16/16");
    const ratio = rc16 === undefined ? NaN : dm.wallSeconds / rc16.wallSeconds;
    const rssMB = dm.peakRssMiB * 1.048576;
    const perFile = c.filesToFetch === 0 ? NaN : dm.cpuSeconds * 1000 / c.filesToFetch;
    lines.push(
      `| ${c.name} | ${_against(ratio, target.ratio, 2)} | ${_against(rssMB, target.rssMB, 0)} | ` +
        `${_against(perFile, target.cpuMsPerFile, 2)} | ` +
        `${
          _against(_perFetchedFile(results, c, (x) => x.systemCalls), target.systemCallsPerFile, 1)
        } |`,
    );
  }
  const counted = results.cases.filter((c) => c.systemCalls !== undefined);
  if (counted.length > 0) {
    const readlinks = results.cases
      .map((c) => ({
        c,
        perFile: _perFetchedFile(results, c, (x) => x.systemCallsByName?.readlink),
      }))
      .filter(({ perFile }) => Number.isFinite(perFile));
    lines.push(
      "",
      "System calls per fetched file: the fresh copy's less the no-op pass's (start-up and listing), " +
        "over the files fetched; each counted in one more data-mirror run, untimed, under " +
        `\`strace -f -c\` (its threads and its \`sync\` children too): ${
          counted.map((c) => `${c.name} ${c.systemCalls!.toLocaleString("en")}`).join(", ")
        }.` +
        (readlinks.length === 0
          ? ""
          : ` Of a fetched file's calls, \`readlink\` (Deno's check of each new file's path, two a level of it): ${
            readlinks.map(({ c, perFile }) => `${perFile.toFixed(1)} (${c.name})`).join(", ")
          }.`),
    );
  }
  return lines;
}

/**
 * What a fresh copy's count (`count`: its system calls, or one kind of them) comes to per fetched
 * file: its count less its set's no-op pass's (what a pass makes whatever it fetches), over the
 * files fetched; NaN where either was not counted.
 */
function _perFetchedFile(
  results: BenchResults,
  fresh: CaseRecord,
  count: (c: CaseRecord) => number | undefined,
): number {
  const noOpName = fresh.name === "fresh copy"
    ? "no-op pass"
    : fresh.name.replace(/, fresh$/, ", no-op");
  const noOp = results.cases.find((c) => c.name === noOpName && c !== fresh);
  const freshCount = count(fresh);
  const noOpCount = noOp === undefined ? undefined : count(noOp);
  if (freshCount === undefined || noOpCount === undefined) return NaN;
  if (fresh.filesToFetch === 0) return NaN;
  return (freshCount - noOpCount) / fresh.filesToFetch;
}

function _against(value: number, target: number | undefined, digits: number): string {
  if (target === undefined) return "—";
  if (!Number.isFinite(value)) return `— (≤ ${target})`;
  return `${value.toFixed(digits)} (≤ ${target}) ${value <= target ? "✓" : "✗"}`;
}

/**
 * What the platform costs against the directory-index server on the same case: CPU per request
 * each, and the extra CPU seconds the data-mirror side's server burnt, which on 2 shared cores can
 * slow data-mirror by up to as much.
 */
export function serverCostNotes(results: BenchResults): string[] {
  const lines = ["Server CPU (it shares the cores with the tool measured):"];
  for (const c of results.cases) {
    const dm = _tool(c, "data-mirror");
    const rc16 = _tool(c, "rclone 16/16");
    if (dm === undefined || rc16 === undefined) continue;
    const dmRun = medianRun(dm)!;
    const rcRun = medianRun(rc16)!;
    const platformRequests = _sum(dmRun.calls);
    const dirRequests = _sum(rcRun.calls);
    const excess = dm.serverCpuSeconds - rc16.serverCpuSeconds;
    const share = excess > 0 && dm.wallSeconds > 0
      ? ` (${(100 * excess / dm.wallSeconds).toFixed(0)}% of data-mirror's wall time at most)`
      : "";
    lines.push(
      `- ${c.name}: platform ${
        dm.serverCpuSeconds.toFixed(2)
      } s for ${platformRequests} requests ` +
        `(${_perRequest(dm.serverCpuSeconds, platformRequests)} ms each), directory-index server ` +
        `${rc16.serverCpuSeconds.toFixed(2)} s for ${dirRequests} (${
          _perRequest(rc16.serverCpuSeconds, dirRequests)
        } ms each); ` +
        `the platform side costs ${Math.abs(excess).toFixed(2)} s of CPU ${
          excess >= 0 ? "more" : "less"
        }${share}.`,
    );
  }
  return lines;
}

function _tool(c: CaseRecord, name: ToolName): ToolRecord | undefined {
  return c.tools.find((t) => t.tool === name);
}

function _time(tool: ToolRecord | undefined): string {
  if (tool === undefined) return "—";
  return `${_seconds(tool.wallSeconds)}${tool.ok ? "" : " ✗"}`;
}

function _seconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "—";
  return seconds >= 10 ? seconds.toFixed(1) : seconds.toFixed(2);
}

function _ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !(b > 0) || !Number.isFinite(a)) return "—";
  return (a / b).toFixed(2);
}

function _fixed(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? "—" : value.toFixed(digits);
}

function _calls(run: { calls: Record<string, number> } | undefined): string {
  if (run === undefined) return "—";
  const kinds = Object.entries(run.calls).filter(([, n]) => n > 0);
  return kinds.map(([name, n]) => `${name} ${n}`).join(", ") || "none";
}

function _fetchedBytes(run: { bytes: number } | undefined): number {
  return run?.bytes ?? 0;
}

function _sum(calls: Record<string, number>): number {
  return Object.values(calls).reduce((a, b) => a + b, 0);
}

function _perRequest(seconds: number, requests: number): string {
  return requests === 0 ? "—" : (seconds * 1000 / requests).toFixed(3);
}

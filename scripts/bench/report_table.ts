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
  type ToolName,
  type ToolRecord,
} from "./bench_result.ts";

/** The tables and the notes under them, as lines. */
export function reportTable(results: BenchResults): string[] {
  const lines = [
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
  lines.push("", ...serverCostNotes(results));
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
        `the platform side costs ${excess >= 0 ? "+" : ""}${
          excess.toFixed(2)
        } s of CPU more${share}.`,
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

/**
 * The benchmark's chart: one group of horizontal bars per case (data-mirror, rclone 16/16, rclone
 * defaults, the limit of data-mirror's calls, the ideal limit), each group on its own scale since
 * the cases differ a hundredfold, with the seconds written on every bar. Plain SVG, no script, so
 * any browser or image viewer opens it.
 *
 * @module
 */

import type { BenchResults, ToolName } from "./bench_result.ts";

interface _Bar {
  label: string;
  color: string;
  seconds: number | undefined;
  failed: boolean;
}

const _WIDTH = 900;
const _LABEL_WIDTH = 170;
const _BAR_HEIGHT = 16;
const _GAP = 4;
const _GROUP_GAP = 34;
const _TOP = 76;

const _TOOL_COLORS: Readonly<Record<ToolName, string>> = {
  "data-mirror": "#1f77b4",
  "rclone 16/16": "#ff7f0e",
  "rclone defaults": "#f5b97a",
  "sequential 64 KiB": "#2ca02c",
};

/** The chart as an SVG document. */
export function svgChart(results: BenchResults): string {
  const parts: string[] = [];
  let y = _TOP;
  const group = (heading: string, detail: string, bars: readonly _Bar[]) => {
    y = _group(parts, y, heading, detail, bars);
  };
  for (const c of results.cases) {
    const bars: _Bar[] = [
      ...(["data-mirror", "rclone 16/16", "rclone defaults"] as const).map((tool) => {
        const record = c.tools.find((t) => t.tool === tool);
        return {
          label: tool,
          color: _TOOL_COLORS[tool],
          seconds: record?.wallSeconds,
          failed: record !== undefined && !record.ok,
        };
      }),
      {
        label: "limit (dm's calls)",
        color: "#7f7f7f",
        seconds: c.callFloorSeconds,
        failed: false,
      },
      { label: "limit (ideal)", color: "#bdbdbd", seconds: c.idealFloorSeconds, failed: false },
    ];
    group(
      c.name,
      `${c.files} files, ${(c.bytes / 1e6).toFixed(0)} MB; ${c.filesToFetch} to fetch`,
      bars,
    );
  }
  for (const c of results.pushCases ?? []) {
    const bars = (["data-mirror", "sequential 64 KiB"] as const).map((tool) => {
      const record = c.tools.find((t) => t.tool === tool);
      return {
        label: tool === "data-mirror" ? "data-mirror push" : "sequential, 64 KiB",
        color: _TOOL_COLORS[tool],
        seconds: record?.wallSeconds,
        failed: record !== undefined && !record.ok,
      };
    });
    group(c.name, `${c.files} files, ${(c.bytes / 1e6).toFixed(0)} MB uploaded`, bars);
  }
  const { options, machine } = results;
  const against = [
    ...(results.cases.length > 0 ? ["rclone"] : []),
    ...(results.pushCases?.length ? ["a sequential uploader (push)"] : []),
  ].join(" and ");
  const title = `data-mirror vs ${against}: wall time per case (median of ${options.runs}; ` +
    `${options.latencyMs} ms per request; loopback)`;
  const subtitle =
    `${results.startedAt} · ${machine.cores} cores, load ${
      machine.loadAverage.map((l) => l.toFixed(1)).join(" ")
    } at start · ` +
    `${_escape(results.rclone)} · each case on its own scale`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${_WIDTH}" height="${y}" ` +
    `viewBox="0 0 ${_WIDTH} ${y}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${_escape(title)}</text>`,
    `<text x="10" y="40" fill="#555">${subtitle}</text>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}

/** Draws one group of bars (on its own scale) from `y` on; returns the `y` after it. */
function _group(
  parts: string[],
  top: number,
  heading: string,
  detail: string,
  bars: readonly _Bar[],
): number {
  let y = top;
  const known = bars.map((b) => b.seconds).filter((s): s is number => Number.isFinite(s));
  const scale = Math.max(...known, 0.001);
  parts.push(
    `<text x="10" y="${y - 8}" font-weight="bold">${_escape(heading)} ` +
      `<tspan font-weight="normal" fill="#555">(${_escape(detail)})</tspan></text>`,
  );
  for (const bar of bars) {
    const width = bar.seconds === undefined || !Number.isFinite(bar.seconds)
      ? 0
      : Math.max(1, (bar.seconds / scale) * (_WIDTH - _LABEL_WIDTH - 110));
    const value = bar.seconds === undefined || !Number.isFinite(bar.seconds)
      ? "not measured"
      : `${bar.seconds >= 10 ? bar.seconds.toFixed(1) : bar.seconds.toFixed(2)} s${
        bar.failed ? " ✗ wrong/failed" : ""
      }`;
    parts.push(
      `<text x="${_LABEL_WIDTH - 8}" y="${y + 12}" text-anchor="end">${_escape(bar.label)}</text>`,
      `<rect x="${_LABEL_WIDTH}" y="${y}" width="${width.toFixed(1)}" height="${_BAR_HEIGHT}" ` +
        `fill="${bar.color}"${bar.failed ? ' stroke="#d62728" stroke-width="2"' : ""}/>`,
      `<text x="${(_LABEL_WIDTH + width + 6).toFixed(1)}" y="${y + 12}">${value}</text>`,
    );
    y += _BAR_HEIGHT + _GAP;
  }
  return y + _GROUP_GAP;
}

function _escape(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

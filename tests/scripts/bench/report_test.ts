import assert from "node:assert/strict";
import {
  type BenchResults,
  type RunRecord,
  toolRecord,
} from "../../../scripts/bench/bench_result.ts";
import { reportTable } from "../../../scripts/bench/report_table.ts";
import { svgChart } from "../../../scripts/bench/svg_chart.ts";

function _run(wallSeconds: number, overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    wallSeconds,
    cpuSeconds: wallSeconds / 2,
    peakRssMiB: 100,
    calls: { Authenticate: 1 },
    bytes: 1000,
    serverCpuSeconds: 0.5,
    check: { ok: true, files: 10, bytes: 1000, sampled: 10, problems: [] },
    ok: true,
    ...overrides,
  };
}

const results: BenchResults = {
  startedAt: "2026-12-01T10:00:00.000Z",
  options: { quick: true, latencyMs: 20, runs: 3, concurrency: 8, mirrorArgs: [] },
  machine: { cores: 2, loadAverage: [1, 1, 1], loopbackBytesPerSecond: 1e9 },
  rclone: "rclone v1.60.1-DEV",
  cases: [{
    name: "fresh copy",
    files: 10,
    bytes: 1000,
    filesToFetch: 10,
    tools: [
      toolRecord("data-mirror", [_run(3), _run(1), _run(2)]),
      toolRecord("rclone 16/16", [_run(4), _run(4), _run(5)]),
      toolRecord("rclone defaults", [
        _run(9, { ok: false, error: "wrong copy: missing a.jpeg" }),
      ]),
    ],
    callFloorSeconds: 0.5,
    idealFloorSeconds: 0.25,
  }],
};

Deno.test("the table carries medians, ratios to rclone 16/16 and to the limits, and failures", () => {
  const text = reportTable(results).join("\n");
  // Medians: data-mirror 2 s, rclone 16/16 4 s -> 0.50; 2 / 0.5 = 4.00; 2 / 0.25 = 8.00.
  assert.match(
    text,
    /\| fresh copy \| 2\.00 \| 4\.00 \| 9\.00 ✗ \| 0\.50 \/ 0\.25 \| 0\.50 \| 4\.00 \/ 8\.00 \|/,
  );
  assert.match(text, /✗ fresh copy, rclone defaults: wrong copy: missing a\.jpeg/);
  assert.match(text, /platform 0\.50 s for 1 requests/);
  // Issue 8's targets: 0.50 > 0.25; 100 MiB = 105 MB > 100; 1 s of CPU for 10 files = 100 ms each.
  assert.match(
    text,
    /\| fresh copy \| 0\.50 \(≤ 0\.25\) ✗ \| 105 \(≤ 100\) ✗ \| 100\.00 \(≤ 0\.3\) ✗ \|/,
  );
});

Deno.test("the targets table gives the fresh copy's system calls per fetched file, less the no-op's", () => {
  const noOp = {
    ...results.cases[0],
    name: "no-op pass",
    filesToFetch: 0,
    systemCalls: 1_000,
  };
  const counted: BenchResults = {
    ...results,
    cases: [{ ...results.cases[0], systemCalls: 1_200 }, noOp],
  };
  const text = reportTable(counted).join("\n");
  // (1,200 - 1,000) / 10 files = 20 a file, against 15.
  assert.match(text, /\| fresh copy \| .* \| 20\.0 \(≤ 15\) ✗ \|/);
  assert.match(text, /\| no-op pass \| .* \| — \|$/m);
  assert.match(text, /under `strace -f -c`.*: fresh copy 1,200, no-op pass 1,000\./);
  assert.doesNotMatch(text, /readlink/, "no split when the counts have none");
  const split = reportTable({
    ...counted,
    cases: [
      { ...counted.cases[0], systemCallsByName: { readlink: 150, openat: 30 } },
      { ...noOp, systemCallsByName: { readlink: 20, openat: 25 } },
    ],
  }).join("\n");
  // (150 - 20) / 10 files = 13 a file.
  assert.match(split, /Of a fetched file's calls, `readlink` \(.*\): 13\.0 \(fresh copy\)\./);
  const met = reportTable({
    ...counted,
    cases: [{ ...counted.cases[0], systemCalls: 1_100 }, noOp],
  });
  assert.match(met.join("\n"), /\| fresh copy \| .* \| 10\.0 \(≤ 15\) ✓ \|/);
  // Not counted (no strace, or a file from before): no figure, and no note.
  const uncounted = reportTable(results).join("\n");
  assert.match(uncounted, /\| fresh copy \| .* \| — \(≤ 15\) \|/);
  assert.doesNotMatch(uncounted, /strace/);
});

Deno.test("the chart is one SVG document with every bar's seconds", () => {
  const svg = svgChart(results);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  for (
    const label of ["2.00 s", "4.00 s", "9.00 s ✗ wrong/failed", "0.50 s", "0.25 s", "fresh copy"]
  ) {
    assert.ok(svg.includes(label), label);
  }
  assert.equal(svg.match(/<rect x=/g)?.length, 5);
});

const withPush: BenchResults = {
  ...results,
  cases: [],
  pushCases: [
    {
      name: "push 1,000 × 4 KiB",
      files: 1000,
      bytes: 4_096_000,
      tools: [
        toolRecord("data-mirror", [_run(2, { peakRssMiB: 90 }), _run(3, { peakRssMiB: 90 })]),
        toolRecord("sequential 64 KiB", [_run(10), _run(10)]),
      ],
    },
    {
      name: "push 1 × 256 MiB",
      files: 1,
      bytes: 268_435_456,
      tools: [
        toolRecord("data-mirror", [_run(4, { ok: false, error: "wrong uploads: missing x" })]),
        toolRecord("sequential 64 KiB", [_run(2)]),
      ],
    },
  ],
};

Deno.test("the push table carries medians, rates, the ratio to the sequential uploader and targets", () => {
  const text = reportTable(withPush).join("\n");
  // No sync case: no sync table.
  assert.doesNotMatch(text, /rclone 16\/16 s/);
  // Median 2.5 s against 10 s: 0.25; 1000 / 2.5 = 400 files/s; 4.096 MB / 2.5 = 1.64 MB/s.
  assert.match(
    text,
    /\| push 1,000 × 4 KiB \| 2\.50 \| 10\.0 \| 0\.25 \| 400 \/ 100 \| 1\.64 \/ 0\.41 \| 1\.25 \/ 5\.00 \| 94 \/ 105 \|/,
  );
  assert.match(text, /\| push 1 × 256 MiB \| 4\.00 ✗ \| 2\.00 \| 2\.00 \|/);
  assert.match(text, /\| push 1,000 × 4 KiB \| 0\.25 \(≤ 0\.25\) ✓ \| 94 \(≤ 100\) ✓ \|/);
  assert.match(text, /\| push 1 × 256 MiB \| 2\.00 \(≤ 1\) ✗ \| 105 \(≤ 100\) ✗ \|/);
  assert.match(text, /✗ push 1 × 256 MiB, data-mirror: wrong uploads: missing x/);
});

Deno.test("the chart draws the push cases, data-mirror beside the sequential uploader", () => {
  const svg = svgChart(withPush);
  assert.ok(svg.includes("push 1,000 × 4 KiB") && svg.includes("sequential, 64 KiB"));
  assert.ok(svg.includes("4.00 s ✗ wrong/failed"));
  assert.equal(svg.match(/<rect x=/g)?.length, 4);
});

Deno.test("the server note says whether the platform side cost more or less CPU, never a negative 'more'", () => {
  const withServers = (platform: number, dirIndex: number): string =>
    reportTable({
      ...results,
      cases: [{
        ...results.cases[0],
        tools: [
          toolRecord("data-mirror", [_run(2, { serverCpuSeconds: platform })]),
          toolRecord("rclone 16/16", [_run(4, { serverCpuSeconds: dirIndex })]),
        ],
      }],
    }).join("\n");
  assert.match(withServers(0.2, 0.5), /the platform side costs 0\.30 s of CPU less\./);
  assert.match(
    withServers(0.9, 0.5),
    /the platform side costs 0\.40 s of CPU more \(20% of data-mirror's wall time at most\)\./,
  );
});

import assert from "node:assert/strict";
import { runRecordOf } from "../../../scripts/bench/bench_result.ts";
import type { Measurement } from "../../../scripts/bench/process_usage.ts";

const _run: Measurement = {
  code: 0,
  timedOut: false,
  wallSeconds: 2,
  userSeconds: 1,
  systemSeconds: 0.5,
  cpuSeconds: 1.5,
  peakRssMiB: 90,
  stdout: "",
  stderr: "",
};
const _observed = {
  calls: { FileUpload: 3 },
  bytes: 12,
  serverCpuSeconds: 0.25,
  check: { ok: true, files: 3, bytes: 12, sampled: 3, problems: [] },
};

Deno.test("a run's record: a timeout, then the exit code, then the caller's problem make it fail", () => {
  const ok = runRecordOf(_run, _observed, { timeoutMs: 5_000 });
  assert.equal(ok.ok, true);
  assert.equal(ok.error, undefined);
  assert.equal("error" in ok, false);
  assert.deepEqual(
    [ok.wallSeconds, ok.cpuSeconds, ok.peakRssMiB, ok.bytes, ok.serverCpuSeconds],
    [2, 1.5, 90, 12, 0.25],
  );
  assert.deepEqual(ok.calls, { FileUpload: 3 });
  assert.equal(typeof ok.load1m, "number");

  const problem = runRecordOf(_run, _observed, { timeoutMs: 5_000, problem: "wrong copy: x" });
  assert.deepEqual([problem.ok, problem.error], [false, "wrong copy: x"]);

  const exited = runRecordOf(
    { ..._run, code: 3, stderr: "one\ntwo\nthree\n" },
    _observed,
    { timeoutMs: 5_000, problem: "not this one" },
  );
  assert.deepEqual([exited.ok, exited.error], [false, "exit 3: two / three"]);

  const timedOut = runRecordOf(
    { ..._run, code: 137, timedOut: true },
    _observed,
    { timeoutMs: 5_000, problem: "not this one" },
  );
  assert.deepEqual([timedOut.ok, timedOut.error], [false, "timed out after 5 s"]);
});

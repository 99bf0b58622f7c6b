/** Where the CLI's lines go, each error once, and no key on either stream. */
import assert from "node:assert/strict";
import { CliOutput, formatPath, formatPushSummary } from "../../src/cli/cli_output.ts";

function capture(json: boolean) {
  const out: string[] = [];
  const err: string[] = [];
  const output = new CliOutput({
    json,
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    logLevel: "info",
    secrets: ["ENV-SECRET-4f2a"],
  });
  return { output, out, err };
}

Deno.test("human lines go to stdout, or to stderr with --json where stdout is the document", () => {
  const human = capture(false);
  human.output.line("mirror: /m");
  human.output.document({ listed: 1 });
  assert.deepEqual(human.out, ["mirror: /m"]);

  const json = capture(true);
  json.output.line("mirror: /m");
  json.output.document({ listed: 1 });
  assert.deepEqual(json.out, ['{"listed":1}']);
  assert.deepEqual(json.err, ["mirror: /m"]);
});

Deno.test("an error the engine already logged is not printed again, until the next result", () => {
  const { output, err } = capture(false);
  output.logger.error("listing incomplete: listing page 3: UNAVAILABLE");
  output.error("listing page 3: UNAVAILABLE");
  output.error("another problem");
  output.document({});
  output.error("listing page 3: UNAVAILABLE");
  assert.deepEqual(err, [
    "ERROR listing incomplete: listing page 3: UNAVAILABLE",
    "data-mirror: another problem",
    "data-mirror: listing page 3: UNAVAILABLE",
  ]);
});

Deno.test("the API key is scrubbed from every line on both streams", () => {
  const { output, out, err } = capture(true);
  output.rememberSecret("CONFIG-SECRET-9c1d");
  output.logger.warn("odd value ENV-SECRET-4f2a");
  output.error("failed near CONFIG-SECRET-9c1d");
  output.document({ error: "CONFIG-SECRET-9c1d" });
  assert.deepEqual(err, [
    "WARN  odd value [redacted]",
    "data-mirror: failed near [redacted]",
  ]);
  assert.deepEqual(out, ['{"error":"[redacted]"}']);
});

Deno.test("formatPath quotes a path a terminal would not show as it is, and only such a path", () => {
  for (const plain of ["a/b.jpg", "ünïcödé/名前.png", "with space.jpg"]) {
    assert.equal(formatPath(plain), plain);
  }
  assert.equal(formatPath("evil\u202Egepj.exe"), '"evil\\u202egepj.exe"');
  assert.equal(formatPath("a\u2028b"), '"a\\u2028b"');
  assert.equal(formatPath("trailing "), '"trailing "');
  assert.equal(formatPath("\u0007bell"), '"\\u0007bell"');
});

Deno.test("a push summary says which uploads an earlier run cut off had sent (nothing went this time)", () => {
  const counts = { found: 6, uploaded: 5, skipped: 1, deleted: 5, failed: 0, bytes: 50 };
  assert.equal(
    formatPushSummary({ ...counts, recovered: 5, durationMs: 1200 }),
    "6 found, 5 uploaded (50 B; 5 of them stored by an earlier run cut off, not sent again), " +
      "1 skipped, 5 deleted, 0 failed in 1.2 s",
  );
  assert.equal(
    formatPushSummary({ ...counts, durationMs: 1200 }),
    "6 found, 5 uploaded (50 B), 1 skipped, 5 deleted, 0 failed in 1.2 s",
  );
});

import assert from "node:assert/strict";
import { createTerminalLogger } from "../../src/cli/terminal_logger.ts";

Deno.test("the terminal logger filters by level and formats fields", () => {
  const lines: string[] = [];
  const logger = createTerminalLogger({ level: "info", write: (line) => lines.push(line) });
  logger.debug("hidden");
  logger.info("wrote a.jpg", { bytes: 12, path: "a b.jpg", missing: undefined });
  logger.error("failed", { ok: false });
  assert.deepEqual(lines, [
    'INFO  wrote a.jpg bytes=12 path="a b.jpg"',
    "ERROR failed ok=false",
  ]);
});
